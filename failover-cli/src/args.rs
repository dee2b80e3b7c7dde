//! The command line, as clap derive structs: one [`Command`] enum, one struct per subcommand
//! with flags. Parsing only; validation and work happen in [`crate::commands`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::detect::DetectArgs;
use crate::error::exit;

/// Keeps a pool of Claude Code sessions working across several subscription accounts.
///
/// Talks to the `claude-failoverd` daemon over its control socket. Start with
/// `claude-failover demo` to watch a failover happen offline, then `claude-failover init`.
#[derive(Debug, Parser)]
#[command(name = "claude-failover", version, after_help = exit::HELP, max_term_width = 100)]
pub(crate) struct Cli {
    /// Options every subcommand accepts.
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every subcommand accepts (listed after a subcommand's own, under their own
/// heading).
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub(crate) struct GlobalArgs {
    /// The daemon's control socket [default: `[control] socket` of the config file, else
    /// $XDG_RUNTIME_DIR/claude-failover.sock, else <state_dir>/control.sock].
    #[arg(
        long,
        global = true,
        env = "CLAUDE_FAILOVER_SOCKET",
        value_name = "PATH"
    )]
    pub(crate) socket: Option<PathBuf>,

    /// Talk to the daemon over TCP (`[control] tcp` in its config) instead of the socket;
    /// needs --token-file.
    #[arg(
        long,
        global = true,
        env = "CLAUDE_FAILOVER_TCP",
        value_name = "HOST:PORT",
        value_parser = host_port
    )]
    pub(crate) tcp: Option<String>,

    /// The file holding the bearer token for --tcp.
    #[arg(
        long,
        global = true,
        env = "CLAUDE_FAILOVER_TOKEN_FILE",
        value_name = "FILE",
        requires = "tcp"
    )]
    pub(crate) token_file: Option<PathBuf>,

    /// The daemon's config file, for `doctor`, `tasks` and hints
    /// [default: $XDG_CONFIG_HOME/claude-failover/config.toml].
    #[arg(
        long,
        global = true,
        env = "CLAUDE_FAILOVER_CONFIG",
        value_name = "FILE"
    )]
    pub(crate) config: Option<PathBuf>,

    /// More logging on stderr (-v, -vv, -vvv); FAILOVER_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

/// `--tcp`: `host:port` with a port number (a name or an IP for the host; `[::1]:port` for
/// IPv6).
fn host_port(s: &str) -> Result<String, String> {
    let bad = || format!("{s:?} is not HOST:PORT (for example 127.0.0.1:7878)");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let host_ok = !host.is_empty()
        && (host.starts_with('[') && host.ends_with(']')
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'));
    match port.parse::<u16>() {
        Ok(p) if p > 0 && host_ok => Ok(s.to_owned()),
        _ => Err(bad()),
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Watch a failover happen, offline: private tmux, mock API, throwaway accounts.
    Demo(DemoArgs),
    /// Write a starter config from the Claude config dirs and tmux sessions found here.
    Init(InitArgs),
    /// Check tmux, Claude Code, each account dir, the control socket and the statusline hook.
    Doctor(JsonFlag),
    /// The active account, the accounts and the sessions, in one view.
    Status(JsonFlag),
    /// Each account's state, usage and reset time.
    Accounts(JsonFlag),
    /// Each session's account, conversation and state.
    Sessions(JsonFlag),
    /// Move every session to another account now, showing each session's progress.
    Swap(SwapArgs),
    /// Stop making decisions: no swaps, relaunches or task dispatch until `resume`.
    Pause(JsonFlag),
    /// Undo `pause`.
    Resume(JsonFlag),
    /// Follow the daemon's decisions as they happen, one line each.
    Events(EventsArgs),
    /// A live full-screen dashboard: accounts, sessions, the swap in flight, decisions.
    ///
    /// Keys: s swap to the best account, S choose the account, p pause / resume, ? help,
    /// q or Esc quit. Colours follow NO_COLOR. Logs are off while it owns the terminal.
    Top,
    /// Serve status, swap, pause and resume to AI agents: an MCP server on stdin/stdout.
    Mcp,
    /// The task queue: list, add and retry tasks (works without the daemon).
    Tasks(TasksArgs),
    /// Classify one capture: quota exhausted, near limit, transient, auth required or clear.
    #[command(after_help = crate::detect::EXIT_CODES_HELP)]
    Detect(DetectArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Print the man page (or write one page per subcommand with --out-dir).
    Man(ManArgs),
    /// The bundled Claude Code stand-in the demo runs when the real CLI is not installed.
    #[command(hide = true, name = "__standin")]
    Standin(StandinArgs),
}

/// `--json` alone.
#[derive(Debug, Args)]
pub(crate) struct JsonFlag {
    /// Print JSON (the daemon's documented shapes) instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `swap`.
#[derive(Debug, Args)]
pub(crate) struct SwapArgs {
    /// The account to move to [default: the best usable other account].
    #[arg(long, value_name = "NAME")]
    pub(crate) to: Option<String>,
    /// Return as soon as the daemon accepts the swap.
    #[arg(long)]
    pub(crate) no_wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 180)]
    pub(crate) timeout: u64,
    /// Print the final status as JSON instead of progress lines.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `events`.
#[derive(Debug, Args)]
pub(crate) struct EventsArgs {
    /// Print each event's JSON as the daemon sent it, one per line.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `init`.
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Where to write [default: $XDG_CONFIG_HOME/claude-failover/config.toml]; `-` for stdout.
    #[arg(long, short, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Replace an existing file.
    #[arg(long)]
    pub(crate) force: bool,
}

/// `tasks`.
#[derive(Debug, Args)]
pub(crate) struct TasksArgs {
    /// What to do with the queue [default: list].
    #[command(subcommand)]
    pub(crate) action: Option<TasksAction>,
}

/// `tasks list|add|retry`.
#[derive(Debug, Subcommand)]
pub(crate) enum TasksAction {
    /// Every task of the configured projects (or of --project), by state.
    List {
        /// Only this project directory.
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Queue a markdown task file in a project's inbox.
    Add {
        /// The task file (`*.md`, optional front matter).
        file: PathBuf,
        /// The project directory whose queue takes it.
        #[arg(long, value_name = "DIR")]
        project: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Send a failed task back to its inbox.
    Retry {
        /// The task id, as `tasks list` shows it.
        id: String,
        /// Only look in this project directory.
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `completions`.
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

/// `man`.
#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Write `claude-failover.1` and one page per subcommand into this directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) out_dir: Option<PathBuf>,
}

/// `demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Leave everything running afterwards and print how to look around.
    #[arg(long)]
    pub(crate) keep: bool,
    /// How many sessions to run.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub(crate) sessions: u8,
    /// How many throwaway accounts to create.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(2..=3))]
    pub(crate) accounts: u8,
    /// Fail if the failover has not completed within this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 90)]
    pub(crate) deadline: u64,
    /// Use the bundled stand-in even when the real Claude Code CLI is installed.
    #[arg(long)]
    pub(crate) stand_in: bool,
    /// Show the failover in the live dashboard (`top`) instead of as lines; q quits.
    #[arg(long)]
    pub(crate) top: bool,
}

/// The hidden stand-in: everything after it is passed through.
#[derive(Debug, Args)]
pub(crate) struct StandinArgs {
    /// Claude Code's own arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) args: Vec<std::ffi::OsString>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
