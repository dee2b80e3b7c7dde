//! `claude-standin`: the bundled stand-in for the `claude` CLI (see
//! `failover_sim::standin`), used when the real Claude Code is not installed.

use std::process::ExitCode;

use failover_sim::standin::{StandinEnv, run};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = match StandinEnv::from_process() {
        Ok(env) => env,
        Err(e) => {
            eprintln!("error: cannot read the environment: {e}");
            return ExitCode::from(1);
        }
    };
    let mut out = std::io::stdout();
    ExitCode::from(run(&args, env, Box::new(std::io::stdin()), &mut out))
}
