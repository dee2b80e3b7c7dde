//! `completions SHELL` and `man`: generated from the same clap definition as the parser, so
//! they never drift from it.

use std::io::Write as _;
use std::path::Path;

use clap::CommandFactory;

use crate::args::{Cli, CompletionsArgs, ManArgs};
use crate::error::CliError;

/// Prints the completion script for a shell. The account names of `config` (when it can be
/// read) are offered after `swap --to`; they are written into the script, so it is
/// regenerated after accounts change.
pub(crate) fn completions(args: &CompletionsArgs, config: &Path) -> Result<(), CliError> {
    let names = account_names(config);
    let mut cmd = Cli::command();
    if !names.is_empty() {
        // clap keeps `&'static str` names (without its `string` feature); the process prints
        // one script and exits, so leaking these few strings costs nothing.
        let names: Vec<&'static str> = names.into_iter().map(String::leak).map(|s| &*s).collect();
        cmd = cmd.mut_subcommand("swap", |s| {
            s.mut_arg("to", |a| {
                a.value_parser(clap::builder::PossibleValuesParser::new(names))
            })
        });
    }
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "claude-failover", &mut buf);
    if args.shell == clap_complete::Shell::Bash {
        // clap_complete 4.6 spells the hyphenated name two ways in the bash script: the
        // loop that finds the subcommand yields `claude__failover__subcmd__swap`, the cases
        // that complete a subcommand's flags test `claude__subcmd__failover__subcmd__swap`,
        // so no subcommand's flags or values would complete. One spelling fixes them all.
        let text =
            String::from_utf8_lossy(&buf).replace("claude__subcmd__failover", "claude__failover");
        buf = text.into_bytes();
    }
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

/// The `[[accounts]] name`s of a config file, read by the daemon's rules
/// ([`failover_daemon::config::read_raw`]); none when it cannot be read or is refused.
fn account_names(config: &Path) -> Vec<String> {
    failover_daemon::config::read_raw(config)
        .map(|raw| {
            raw.accounts
                .iter()
                .map(|a| a.name.get_ref().clone())
                .collect()
        })
        .unwrap_or_default()
}

fn write_stdout(buf: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(buf)
        .and_then(|()| out.flush())
        .map_err(|e| CliError::io("cannot write to", "stdout", e))
}
