//! `claude-failover`: the command people type. Parses the command line, runs one subcommand,
//! prints its error chain on failure and exits with the code [`error::exit`] documents.

/// `eprintln!` that ignores a closed stderr instead of panicking.
macro_rules! errln {
    ($($t:tt)*) => {
        $crate::render::err_line(&format!($($t)*))
    };
}

mod args;
mod client;
mod commands;
mod detect;
mod discover;
mod error;
mod mcp;
mod paths;
mod render;

use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;
use crate::error::{CliError, display_chain, exit};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `detect` keeps its own exit statuses (documented in its --help); the stand-in is
    // Claude Code's, and needs nothing else set up.
    let cli = match cli.command {
        args::Command::Detect(a) => return detect::run(&a),
        args::Command::Standin(a) => return commands::standin::run(a),
        command => Cli { command, ..cli },
    };
    let g = &cli.global;
    let flags: Vec<(&str, &std::ffi::OsStr)> = [
        ("--socket", g.socket.as_ref().map(|p| p.as_os_str())),
        ("--config", g.config.as_ref().map(|p| p.as_os_str())),
        ("--tcp", g.tcp.as_ref().map(std::ffi::OsStr::new)),
        ("--token-file", g.token_file.as_ref().map(|p| p.as_os_str())),
    ]
    .into_iter()
    .filter_map(|(flag, v)| Some((flag, v?)))
    .collect();
    render::set_hint_flags(&flags);
    // The demo tells its own story on stdout; the in-process daemon's log lines would only
    // interleave with it, so it logs errors alone unless -v asks for more.
    let quiet = matches!(cli.command, args::Command::Demo(_));
    // The dashboard owns the terminal: a log line would tear its frame.
    let full_screen = matches!(&cli.command, args::Command::Top)
        || matches!(&cli.command, args::Command::Demo(d) if d.top);
    if !full_screen {
        init_logging(cli.global.verbose, quiet);
    }
    let result = commands::run(cli);
    match result {
        Ok(()) => ExitCode::from(exit::SUCCESS),
        Err(e) if e.is_broken_pipe() => ExitCode::from(exit::SUCCESS),
        Err(CliError::ChecksFailed(n)) => {
            // `doctor` already printed each problem with its fix.
            render::err_line(&format!("{n} check(s) failed"));
            ExitCode::from(exit::CHECKS_FAILED)
        }
        Err(e) => {
            render::err_line(&display_chain(&e));
            ExitCode::from(e.exit_code())
        }
    }
}

/// Logs go to stderr: `FAILOVER_LOG` (an env filter) wins, else warnings (errors only for
/// `quiet` commands), more with `-v`.
/// Colour only on a terminal, and not with `NO_COLOR`.
fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 if quiet => "error",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter =
        EnvFilter::try_from_env("FAILOVER_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(render::stderr_colour())
        .try_init();
}
