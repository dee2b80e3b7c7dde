//! `claude-failover`: the command-line interface.
//!
//! For now it has one subcommand, `detect`, which classifies one capture with the quota
//! detectors of `failover-core` (see [`detect`]).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod detect;

/// Keeps a pool of Claude Code sessions working across several subscription accounts.
#[derive(Debug, Parser)]
#[command(name = "claude-failover", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Classify one capture: quota exhausted, near limit, transient, auth required or clear.
    #[command(after_help = detect::EXIT_CODES_HELP)]
    Detect(detect::DetectArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Detect(args) => detect::run(&args),
    }
}
