//! The only place that builds `tmux` command lines.
//!
//! Every invocation names the server explicitly (`-L name` or `-S path`), forces UTF-8
//! (`-u`), optionally ignores the user's configuration (`-f /dev/null`), drops `$TMUX`
//! so a daemon started inside tmux never talks to the wrong server, runs under a deadline and
//! is killed if the caller gives up (`kill_on_drop`). Arguments go to tmux as an argv
//! vector; nothing here passes through a shell.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

use crate::error::TmuxError;

/// Which tmux server to talk to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Socket {
    /// `-L name`: a socket of that name in tmux's per-user socket directory.
    Name(String),
    /// `-S path`: a socket at an explicit path.
    Path(PathBuf),
}

impl Socket {
    /// The socket as the flag tmux takes, for messages: `-L name` or `-S path`.
    pub fn label(&self) -> String {
        match self {
            Self::Name(n) => format!("-L {n}"),
            Self::Path(p) => format!("-S {}", p.display()),
        }
    }
}

/// One tmux command and its arguments, e.g. `capture-pane -p -t =name:`.
#[derive(Clone, Debug)]
pub(crate) struct Cmd {
    args: Vec<OsString>,
}

impl Cmd {
    /// A command by name.
    pub(crate) fn new(name: &'static str) -> Self {
        Self {
            args: vec![OsString::from(name)],
        }
    }

    /// Adds one argument.
    pub(crate) fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds a flag and its value.
    pub(crate) fn opt(self, flag: &'static str, value: impl AsRef<OsStr>) -> Self {
        self.arg(flag).arg(value)
    }
}

/// What a finished tmux client printed.
#[derive(Clone, Debug)]
pub(crate) struct RawOutput {
    /// Standard output, lossily decoded.
    pub(crate) stdout: String,
    /// Standard error, lossily decoded and trimmed.
    pub(crate) stderr: String,
    /// Exit status; `None` when killed by a signal.
    pub(crate) status: Option<i32>,
}

impl RawOutput {
    pub(crate) fn success(&self) -> bool {
        self.status == Some(0)
    }
}

/// How to reach one tmux server.
#[derive(Clone, Debug)]
pub struct Transport {
    program: PathBuf,
    socket: Socket,
    config_file: Option<PathBuf>,
    timeout: Duration,
    /// Held while a session is created or killed and while a control client attaches:
    /// tmux 3.3a's server crashes (a NULL dereference) when `new-session` or
    /// `kill-session` runs while a control client is in the middle of attaching, so they
    /// never overlap. Shared by clones. (tmux 3.3a sends control notifications to a
    /// control client that has not finished introducing itself; fixed in tmux 3.7. The gate
    /// covers this process only: another process changing sessions in that moment, or an
    /// attached client leaving, can still crash a 3.3a server.)
    attach_gate: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// The pane observers' shared control client, from the first observer on for as long as
    /// the transport (any clone of it) lives. Shared by clones.
    observer_hub:
        std::sync::Arc<tokio::sync::Mutex<Option<std::sync::Arc<crate::observe::hub::Hub>>>>,
    /// How many tmux clients were started through this transport (see
    /// [`Transport::clients_started`]). Shared by clones.
    clients: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Transport {
    /// A transport to `socket`, running `program` (usually `tmux`), reading `config_file`
    /// when the server starts (`Some("/dev/null")` ignores the user's `~/.tmux.conf`;
    /// `None` lets tmux read its usual files), each call bounded by `timeout`.
    pub fn new(
        program: PathBuf,
        socket: Socket,
        config_file: Option<PathBuf>,
        timeout: Duration,
    ) -> Self {
        Self {
            program,
            socket,
            config_file,
            timeout,
            attach_gate: std::sync::Arc::default(),
            observer_hub: std::sync::Arc::default(),
            clients: std::sync::Arc::default(),
        }
    }

    /// How many `tmux` client processes this transport (and every clone of it) has started
    /// so far, control-mode clients included. Each costs about 2 ms of CPU: a figure for
    /// tests and debug logs, not a contract.
    #[doc(hidden)]
    pub fn clients_started(&self) -> u64 {
        self.clients.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until no session is being created and no control client is attaching, and
    /// holds that until the guard is dropped (see the `attach_gate` field).
    pub(crate) async fn attach_gate(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.attach_gate.clone().lock_owned().await
    }

    /// Where the pane observers' shared control client is kept (see `observe::hub`).
    pub(crate) fn observer_hub(
        &self,
    ) -> &tokio::sync::Mutex<Option<std::sync::Arc<crate::observe::hub::Hub>>> {
        &self.observer_hub
    }

    /// A clone that shares everything but the observers' hub slot: what the hub itself
    /// keeps (holding the slot would keep the hub alive for ever).
    pub(crate) fn without_hub(&self) -> Self {
        Self {
            observer_hub: std::sync::Arc::default(),
            ..self.clone()
        }
    }

    /// The server's socket.
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// The tmux program.
    pub fn program(&self) -> &std::path::Path {
        &self.program
    }

    /// The per-call deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn command(&self, control: bool, cmds: &[Cmd]) -> Command {
        self.clients
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut c = Command::new(&self.program);
        c.env_remove("TMUX")
            .env_remove("TMUX_PANE")
            .kill_on_drop(true);
        c.arg("-u");
        if control {
            c.arg("-C");
        }
        if let Some(f) = &self.config_file {
            c.arg("-f").arg(f);
        }
        match &self.socket {
            Socket::Name(n) => c.arg("-L").arg(n),
            Socket::Path(p) => c.arg("-S").arg(p),
        };
        for (i, cmd) in cmds.iter().enumerate() {
            if i > 0 {
                c.arg(";");
            }
            for (j, a) in cmd.args.iter().enumerate() {
                if j == 0 {
                    c.arg(a);
                } else {
                    c.arg(escape_trailing_semicolon(a));
                }
            }
        }
        c
    }

    /// Runs `cmds` (joined with `;` into one client invocation), feeding `stdin` when given,
    /// and returns what tmux printed. Fails only when tmux could not be run or missed the
    /// deadline; a non-zero exit is returned as data for the caller to classify.
    pub(crate) async fn run(
        &self,
        op: &'static str,
        cmds: &[Cmd],
        stdin: Option<&[u8]>,
    ) -> Result<RawOutput, TmuxError> {
        let mut command = self.command(false, cmds);
        command
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let fut = async {
            let mut child = command
                .spawn()
                .map_err(|source| TmuxError::Spawn { op, source })?;
            if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
                match pipe.write_all(data).await {
                    // tmux quit without reading (e.g. no server): its stderr says why.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                    Err(source) => return Err(TmuxError::Spawn { op, source }),
                    Ok(()) => {}
                }
                drop(pipe);
            }
            child
                .wait_with_output()
                .await
                .map_err(|source| TmuxError::Spawn { op, source })
        };
        let out = tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| TmuxError::Timeout {
                op,
                after: self.timeout,
            })??;
        Ok(RawOutput {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            status: out.status.code(),
        })
    }

    /// Starts a control-mode client (`tmux -C …`) running `cmds`, with piped stdin and
    /// stdout. The client lives until its stdin closes or it is dropped.
    pub(crate) fn spawn_control(&self, op: &'static str, cmds: &[Cmd]) -> Result<Child, TmuxError> {
        let mut command = self.command(true, cmds);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        command
            .spawn()
            .map_err(|source| TmuxError::Spawn { op, source })
    }
}

/// tmux reads an argument that ends in `;` as the end of a command (and `\;` as a literal
/// `;`). Rewrites a trailing `;` as `\;` so every argument arrives exactly as given.
fn escape_trailing_semicolon(arg: &OsStr) -> OsString {
    let bytes = arg.as_bytes();
    match bytes.split_last() {
        Some((b';', rest)) => {
            let mut v = rest.to_vec();
            v.extend_from_slice(b"\\;");
            OsString::from_vec(v)
        }
        _ => arg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_semicolons_are_escaped_once() {
        assert_eq!(escape_trailing_semicolon(OsStr::new("a;")), "a\\;");
        assert_eq!(escape_trailing_semicolon(OsStr::new("a\\;")), "a\\\\;");
        assert_eq!(escape_trailing_semicolon(OsStr::new(";")), "\\;");
        assert_eq!(escape_trailing_semicolon(OsStr::new("a;b")), "a;b");
        assert_eq!(escape_trailing_semicolon(OsStr::new("")), "");
    }
}
