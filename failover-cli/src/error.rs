//! [`CliError`]: every way a command can fail, each with a message a person can act on and a
//! documented process exit code ([`exit`]).

use std::io;
use std::path::PathBuf;

/// The process exit codes of `claude-failover`. They are part of the command's interface:
/// scripts may rely on them, so a code never changes meaning.
pub(crate) mod exit {
    /// Everything worked (or every `doctor` check passed).
    pub(crate) const SUCCESS: u8 = 0;
    /// Something failed that has no more specific code (I/O, an unexpected daemon answer).
    pub(crate) const FAILURE: u8 = 1;
    /// The command line was not understood (clap's own code), or `--socket` names something
    /// that is not a socket.
    pub(crate) const USAGE: u8 = 2;
    /// The daemon is not running: its control socket is missing or stale, or it went away
    /// while `events` followed it.
    pub(crate) const DAEMON_NOT_RUNNING: u8 = 3;
    /// The control socket (or its directory) is not accessible to this user.
    pub(crate) const PERMISSION_DENIED: u8 = 4;
    /// The daemon knows no account of the given name.
    pub(crate) const UNKNOWN_ACCOUNT: u8 = 5;
    /// The daemon refused the command (a swap already running, no usable account, paused).
    pub(crate) const REFUSED: u8 = 6;
    /// `doctor` found at least one problem.
    pub(crate) const CHECKS_FAILED: u8 = 7;
    /// Waited too long: a swap did not finish, or the demo did not fail over, in time.
    pub(crate) const TIMED_OUT: u8 = 8;
    /// Interrupted by Ctrl-C (SIGINT) after cleaning up (the shell convention, 128 + 2).
    pub(crate) const INTERRUPTED: u8 = 130;

    /// The table printed at the end of `--help`, and copied into the crate README.
    pub(crate) const HELP: &str = "\
Exit codes:
    0  success
    1  failure without a more specific code
    2  bad usage (also: --socket names a file or directory, not a socket)
    3  the daemon is not running (socket missing or stale), or went away during `events`
    4  permission denied on the control socket
    5  unknown account name
    6  the daemon refused the command (swap in progress, no usable account, paused)
    7  doctor found problems
    8  timed out (swap did not finish, demo did not fail over)
  130  interrupted by Ctrl-C (after cleaning up)";
}

/// Every failure a command can report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CliError {
    /// Nothing listens on the control socket.
    #[error(
        "the claude-failover daemon is not running (no control socket at {})\n\
         hint: start it with `claude-failoverd --config {}` or `systemctl --user start claude-failoverd`",
        .socket.display(), .config.display()
    )]
    DaemonNotRunning {
        /// The socket tried.
        socket: PathBuf,
        /// The config file to suggest.
        config: PathBuf,
        /// The connection error.
        #[source]
        source: io::Error,
    },
    /// A socket file exists but nothing listens on it: the daemon stopped without removing it.
    #[error(
        "the claude-failover daemon is not running: {} is a stale socket nobody listens on\n\
         hint: start the daemon (`claude-failoverd --config {}`); it replaces the stale socket",
        .socket.display(), .config.display()
    )]
    StaleSocket {
        /// The socket tried.
        socket: PathBuf,
        /// The config file to suggest.
        config: PathBuf,
        /// The connection error.
        #[source]
        source: io::Error,
    },
    /// The control socket path names something that is not a socket.
    #[error(
        "{} is {what}, not a control socket\n\
         hint: point --socket at the daemon's socket (`[control] socket` in its config)",
        .socket.display()
    )]
    NotASocket {
        /// The path tried.
        socket: PathBuf,
        /// What it is: "a regular file", "a directory", ….
        what: &'static str,
    },
    /// Something listens on the socket, but it is not a claude-failover daemon.
    #[error(
        "something listens on {endpoint}, but it is not a claude-failover daemon ({detail})\n\
         hint: point --socket (or --tcp) at the daemon's control endpoint"
    )]
    NotADaemon {
        /// The socket or address tried.
        endpoint: String,
        /// What came back.
        detail: String,
    },
    /// The daemon went away while a command was following it (`events`).
    #[error("the claude-failover daemon went away: {0}")]
    DaemonGone(String),
    /// A TCP control endpoint refused the connection.
    #[error(
        "the claude-failover daemon is not reachable at {addr}\n\
         hint: check that `[control] tcp` is set in its config and that it is running"
    )]
    TcpUnreachable {
        /// The address tried.
        addr: String,
        /// The connection error.
        #[source]
        source: io::Error,
    },
    /// The socket exists but this user may not connect.
    #[error(
        "permission denied on the control socket {}\n\
         hint: run as the user the daemon runs as (the socket is owner-only, 0600)",
        .socket.display()
    )]
    PermissionDenied {
        /// The socket tried.
        socket: PathBuf,
        /// The connection error.
        #[source]
        source: io::Error,
    },
    /// The daemon answered 401: the bearer token is missing or wrong (TCP only).
    #[error(
        "the daemon rejected the token: {message}\nhint: pass the token file named in the daemon's `[control] token_file` with --token-file"
    )]
    Unauthorized {
        /// The daemon's message.
        message: String,
    },
    /// The daemon does not know the account.
    #[error(
        "{message}\nhint: `{}` lists the account names",
        crate::render::cmd("accounts")
    )]
    UnknownAccount {
        /// The daemon's message.
        message: String,
    },
    /// The daemon refused the command.
    #[error("the daemon refused: {message}")]
    Refused {
        /// The daemon's message.
        message: String,
    },
    /// The daemon answered something this version does not understand.
    #[error("unexpected answer from the daemon ({status}): {message}")]
    Protocol {
        /// The HTTP status.
        status: u16,
        /// What was wrong.
        message: String,
    },
    /// Talking to the daemon failed midway.
    #[error("lost the connection to the daemon")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Waited longer than allowed.
    #[error("{0}")]
    TimedOut(String),
    /// Ctrl-C arrived; cleanup ran.
    #[error("interrupted")]
    Interrupted,
    /// `doctor` found problems (already printed).
    #[error("{0} check(s) failed")]
    ChecksFailed(usize),
    /// A file operation failed.
    #[error("{action} {}", .path.display())]
    Io {
        /// What was being done, e.g. "cannot write".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A request the user made cannot be carried out as asked.
    #[error("{0}")]
    Usage(String),
    /// A failure in a library this command drives (the daemon, the task queue, tmux).
    #[error("{context}")]
    Library {
        /// What was being done.
        context: String,
        /// The library's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Something else, already explained in the message.
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// The process exit code for this error (see [`exit`]).
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::DaemonNotRunning { .. }
            | Self::StaleSocket { .. }
            | Self::DaemonGone(_)
            | Self::TcpUnreachable { .. } => exit::DAEMON_NOT_RUNNING,
            Self::NotASocket { .. } => exit::USAGE,
            Self::PermissionDenied { .. } | Self::Unauthorized { .. } => exit::PERMISSION_DENIED,
            Self::UnknownAccount { .. } => exit::UNKNOWN_ACCOUNT,
            Self::Refused { .. } => exit::REFUSED,
            Self::ChecksFailed(_) => exit::CHECKS_FAILED,
            Self::TimedOut(_) => exit::TIMED_OUT,
            Self::Interrupted => exit::INTERRUPTED,
            Self::Usage(_) => exit::USAGE,
            Self::Protocol { .. }
            | Self::NotADaemon { .. }
            | Self::Transport(_)
            | Self::Io { .. }
            | Self::Library { .. }
            | Self::Other(_) => exit::FAILURE,
        }
    }

    /// Wraps an I/O error with what was being done to which file.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Wraps a library error with context.
    pub(crate) fn library(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Library {
            context: context.into(),
            source: Box::new(source),
        }
    }

    /// Whether this error is, at its root, a closed pipe on stdout (`claude-failover events |
    /// head`): such a run counts as a success.
    pub(crate) fn is_broken_pipe(&self) -> bool {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = cur {
            if let Some(io) = e.downcast_ref::<io::Error>() {
                if io.kind() == io::ErrorKind::BrokenPipe {
                    return true;
                }
            }
            cur = e.source();
        }
        false
    }
}

impl From<io::Error> for CliError {
    fn from(e: io::Error) -> Self {
        Self::Transport(Box::new(e))
    }
}

/// Renders an error and its chain of causes, one per line:
/// `error: <message>` then `  caused by: <source>` for each source whose text adds something.
pub(crate) fn display_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = format!("error: {err}");
    let mut last = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let text = e.to_string();
        if !last.contains(&text) {
            out.push_str("\n  caused by: ");
            out.push_str(&text);
        }
        last = text;
        cur = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_maps_to_its_documented_code() {
        let io = || io::Error::from(io::ErrorKind::NotFound);
        let cases: Vec<(CliError, u8)> = vec![
            (
                CliError::DaemonNotRunning {
                    socket: "/s".into(),
                    config: "/c".into(),
                    source: io(),
                },
                3,
            ),
            (
                CliError::PermissionDenied {
                    socket: "/s".into(),
                    source: io::Error::from(io::ErrorKind::PermissionDenied),
                },
                4,
            ),
            (
                CliError::UnknownAccount {
                    message: "x".into(),
                },
                5,
            ),
            (
                CliError::Refused {
                    message: "x".into(),
                },
                6,
            ),
            (CliError::ChecksFailed(2), 7),
            (CliError::TimedOut("x".into()), 8),
            (CliError::Interrupted, 130),
            (CliError::Usage("x".into()), 2),
            (CliError::Other("x".into()), 1),
        ];
        for (err, code) in cases {
            assert_eq!(err.exit_code(), code, "{err}");
            assert!(
                exit::HELP.contains(&format!("  {code}  ")),
                "code {code} is documented"
            );
        }
    }

    #[test]
    fn broken_pipe_is_found_through_the_chain() {
        let e = CliError::io(
            "cannot write to",
            "stdout",
            io::Error::from(io::ErrorKind::BrokenPipe),
        );
        assert!(e.is_broken_pipe());
        assert!(!CliError::Other("x".into()).is_broken_pipe());
    }

    #[test]
    fn chain_skips_causes_already_in_the_message() {
        let e = CliError::io("cannot read", "/x", io::Error::other("disk on fire"));
        let text = display_chain(&e);
        assert_eq!(text, "error: cannot read /x\n  caused by: disk on fire");
    }
}
