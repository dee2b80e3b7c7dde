//! `completions SHELL` and `man`: generated from the same clap definition as the parser, so
//! they never drift from it.

use std::io::Write as _;

use clap::CommandFactory;

use crate::args::{Cli, CompletionsArgs, ManArgs};
use crate::error::CliError;

/// Prints the completion script for a shell.
pub(crate) fn completions(args: &CompletionsArgs) -> Result<(), CliError> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "claude-failover", &mut buf);
    write_stdout(&buf)
}

/// Prints the main man page, or writes every page (one per subcommand) into `--out-dir`.
pub(crate) fn man(args: &ManArgs) -> Result<(), CliError> {
    let cmd = Cli::command();
    match &args.out_dir {
        None => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut buf)
                .map_err(|e| CliError::io("cannot render", "the man page", e))?;
            write_stdout(&buf)
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| CliError::io("cannot create", dir, e))?;
            clap_mangen::generate_to(cmd, dir)
                .map_err(|e| CliError::io("cannot write man pages into", dir, e))?;
            errln!("wrote man pages into {}", dir.display());
            Ok(())
        }
    }
}

fn write_stdout(buf: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(buf)
        .and_then(|()| out.flush())
        .map_err(|e| CliError::io("cannot write to", "stdout", e))
}
