//! The hidden `__standin` subcommand: runs the bundled Claude Code stand-in, so the demo needs
//! no second binary when the real CLI is not installed.

use crate::args::StandinArgs;
use crate::error::CliError;

/// Runs the stand-in with Claude Code's own arguments.
pub(crate) fn run(_args: StandinArgs) -> Result<(), CliError> {
    Err(CliError::Other(
        "the stand-in is not part of this build yet".into(),
    ))
}
