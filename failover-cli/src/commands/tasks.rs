//! `tasks list|add|retry`: a thin layer over the daemon library's file-based queue.

use crate::args::TasksArgs;
use crate::commands::Ctx;
use crate::error::CliError;

/// Runs `tasks`.
pub(crate) fn run(_ctx: &Ctx, _args: &TasksArgs) -> Result<(), CliError> {
    Err(CliError::Other(
        "tasks is not part of this build yet".into(),
    ))
}
