//! The hidden `__standin` subcommand: runs the bundled Claude Code stand-in
//! (`failover_sim::standin`), so the demo needs no second binary when the real CLI is
//! not installed. It takes Claude Code's own arguments and environment.

use std::process::ExitCode;

use failover_sim::standin::{self, StandinEnv};

use crate::args::StandinArgs;

/// Runs the stand-in in this terminal; returns its exit status.
pub(crate) fn run(args: StandinArgs) -> ExitCode {
    let args: Vec<String> = args
        .args
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let env = match StandinEnv::from_process() {
        Ok(env) => env,
        Err(e) => {
            errln!("error: cannot read the environment: {e}");
            return ExitCode::from(1);
        }
    };
    let mut out = std::io::stdout();
    ExitCode::from(standin::run(
        &args,
        env,
        Box::new(std::io::stdin()),
        &mut out,
    ))
}
