//! `detect`: classifies one capture. The detection module provides the real implementation;
//! this file only fixes the interface the command line expects from it.

use std::path::PathBuf;

use crate::error::CliError;

/// `detect [--source auto|pane|transcript|statusline|headers] [--now RFC3339] [--json] [FILE|-]`.
#[derive(Debug, clap::Args)]
pub(crate) struct DetectArgs {
    /// Which kind of capture the input is.
    #[arg(long, default_value = "auto")]
    pub(crate) source: String,
    /// The observation time reset texts are relative to (RFC 3339) [default: now].
    #[arg(long)]
    pub(crate) now: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
    /// The capture to classify; `-` or nothing reads stdin.
    pub(crate) file: Option<PathBuf>,
}

/// Runs `detect`.
pub(crate) fn run(_args: &DetectArgs) -> Result<(), CliError> {
    Err(CliError::Other(
        "detect is not part of this build yet (it comes with the detection module)".into(),
    ))
}
