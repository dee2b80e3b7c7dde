//! `demo`: a failover, offline, from scratch.

use crate::args::DemoArgs;
use crate::error::CliError;

/// Runs the demo.
pub(crate) async fn run(_args: &DemoArgs) -> Result<(), CliError> {
    Err(CliError::Other("demo is not part of this build yet".into()))
}
