//! A private tmux server for driving Claude Code (real or stand-in) in tests and tools.
//!
//! Every [`PrivateTmux`] runs its own server on its own socket name
//! (`<prefix>-<pid>-<n>`, started with `-f /dev/null`) and kills it on drop, so tests never
//! touch the user's tmux and never leak servers. This is a blocking, test-and-tool helper;
//! the daemon's own tmux adapter lives in `failover-tmux`.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Variables that would log Claude Code in with something other than the account dir
/// (and make it ask to approve an API key); removed from every session's environment.
pub const FOREIGN_CREDENTIALS: &[&str] = &[
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
];

/// Errors driving tmux.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TmuxError {
    /// `tmux` could not be run at all.
    #[error("cannot run tmux: {0}")]
    Spawn(#[source] std::io::Error),
    /// A tmux command failed.
    #[error("tmux {args} failed: {stderr}")]
    Failed {
        /// The arguments.
        args: String,
        /// What tmux printed on stderr.
        stderr: String,
    },
    /// A wait ran out; carries the last capture for the failure message.
    #[error("waited {waited:?} for {what}; last screen:\n{last}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        waited: Duration,
        /// The last capture.
        last: String,
    },
}

/// A tmux server of our own, killed on drop.
#[derive(Debug)]
pub struct PrivateTmux {
    socket: String,
}

impl PrivateTmux {
    /// A handle on a fresh socket name `<prefix>-<pid>-<n>`; the server starts with the
    /// first session.
    pub fn new(prefix: &str) -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Self {
            socket: format!("{prefix}-{}-{n}", std::process::id()),
        }
    }

    /// The socket name (`tmux -L <name>`).
    pub fn socket(&self) -> &str {
        &self.socket
    }

    /// Runs `tmux -L <socket> -f /dev/null <args>` and returns its stdout.
    pub fn run(&self, args: &[&str]) -> Result<String, TmuxError> {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .map_err(TmuxError::Spawn)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(TmuxError::Failed {
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            })
        }
    }

    /// Starts detached session `name` of `width`×`height` in `cwd`, running `command`
    /// (program and arguments, no shell) with `env` added and the caller's own API
    /// credentials ([`FOREIGN_CREDENTIALS`]) removed, so that only the account dir given
    /// in `env` logs the CLI in. The pane stays after the program exits
    /// (`remain-on-exit`), so its last screen can still be captured.
    pub fn new_session(
        &self,
        name: &str,
        width: u16,
        height: u16,
        cwd: &Path,
        env: &[(&str, String)],
        command: &[String],
    ) -> Result<(), TmuxError> {
        let (w, h) = (width.to_string(), height.to_string());
        let cwd = cwd.to_string_lossy();
        let mut args: Vec<String> = [
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            &w,
            "-y",
            &h,
            "-c",
            &cwd,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.push("env".into());
        for var in FOREIGN_CREDENTIALS {
            args.extend(["-u".to_owned(), (*var).to_owned()]);
        }
        args.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
        args.extend(command.iter().cloned());
        args.extend([";", "set-option", "-g", "remain-on-exit", "on"].map(String::from));
        args.extend([";", "set-option", "-g", "history-limit", "5000"].map(String::from));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&refs).map(drop)
    }

    /// Types `text` literally (no key names), without Enter.
    pub fn send_text(&self, target: &str, text: &str) -> Result<(), TmuxError> {
        self.run(&["send-keys", "-t", target, "-l", text]).map(drop)
    }

    /// Sends key names (`Enter`, `Escape`, `C-d`, …).
    pub fn send_keys(&self, target: &str, keys: &[&str]) -> Result<(), TmuxError> {
        let mut args = vec!["send-keys", "-t", target];
        args.extend_from_slice(keys);
        self.run(&args).map(drop)
    }

    /// Types `text`, then sends Enter as a separate command (Claude Code can drop an Enter
    /// glued to text it is still drawing).
    pub fn submit(&self, target: &str, text: &str) -> Result<(), TmuxError> {
        self.send_text(target, text)?;
        std::thread::sleep(Duration::from_millis(150));
        self.send_keys(target, &["Enter"])
    }

    /// The visible screen, wrapped lines joined (`capture-pane -p -J`), with ANSI escapes
    /// when `ansi` is set (`-e`).
    pub fn capture(&self, target: &str, ansi: bool) -> Result<String, TmuxError> {
        let mut args = vec!["capture-pane", "-p", "-J", "-t", target];
        if ansi {
            args.push("-e");
        }
        self.run(&args)
    }

    /// Resizes the window of `target`.
    pub fn resize(&self, target: &str, width: u16, height: u16) -> Result<(), TmuxError> {
        self.run(&[
            "resize-window",
            "-t",
            target,
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
        ])
        .map(drop)
    }

    /// Polls the screen every 100 ms until `pred` holds on it and returns that capture, or
    /// fails after `timeout` with the last screen.
    pub fn wait_for(
        &self,
        target: &str,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Result<String, TmuxError> {
        let start = Instant::now();
        loop {
            let screen = self.capture(target, false)?;
            if pred(&screen) {
                return Ok(screen);
            }
            if start.elapsed() >= timeout {
                return Err(TmuxError::Timeout {
                    what: what.to_owned(),
                    waited: timeout,
                    last: screen,
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the pane's program has exited (`#{pane_dead}`).
    pub fn pane_dead(&self, target: &str) -> Result<bool, TmuxError> {
        Ok(self
            .run(&["display-message", "-p", "-t", target, "#{pane_dead}"])?
            .trim()
            == "1")
    }
}

impl PrivateTmux {
    /// The pid of the process of `target`'s pane.
    pub fn pane_pid(&self, target: &str) -> Option<u32> {
        self.run(&["display-message", "-p", "-t", target, "#{pane_pid}"])
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Ends session `target` (its terminal hung up).
    pub fn kill_session(&self, target: &str) -> Result<(), TmuxError> {
        self.run(&["kill-session", "-t", target]).map(drop)
    }

    /// The pids of the programs running in every pane.
    pub fn pane_pids(&self) -> Vec<u32> {
        self.run(&["list-panes", "-a", "-F", "#{pane_pid}"])
            .map(|out| out.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Kills the server, then waits up to `timeout` for the programs that ran in its panes
    /// to exit (Claude Code still writes into its config dir while it exits, so wait before
    /// removing that dir). Returns whether they all exited.
    pub fn kill_and_wait(self, timeout: Duration) -> bool {
        let pids = self.pane_pids();
        drop(self);
        let start = Instant::now();
        loop {
            let alive = pids
                .iter()
                .any(|p| Path::new(&format!("/proc/{p}")).exists());
            if !alive {
                return true;
            }
            if start.elapsed() >= timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PrivateTmux {
    /// Kills the server and removes its socket file (tmux 3.3 leaves it behind).
    fn drop(&mut self) {
        let socket_path = self
            .run(&["display-message", "-p", "#{socket_path}"])
            .ok()
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty());
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
        if let Some(path) = socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// What the real Claude Code CLI needs to run offline without doing network work in the
/// background: no self-update, telemetry or error reports, and no attempt to clone the
/// official plugin marketplace. Without the last one, every start of an offline CLI tries
/// the clone, fails, and cleans up on its own threads, which costs CPU and holds up its exit
/// by half a second or more (a user with a network pays it once). The start-up request the
/// CLI makes to learn its limits stays: the statusline's `rate_limits` come from it.
pub const OFFLINE_CLAUDE_ENV: [(&str, &str); 4] = [
    ("DISABLE_AUTOUPDATER", "1"),
    ("DISABLE_TELEMETRY", "1"),
    ("DISABLE_ERROR_REPORTING", "1"),
    ("CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL", "1"),
];

/// [`OFFLINE_CLAUDE_ENV`] as the inside of a TOML inline table (`K = "v", ...`), for a
/// daemon configuration's `[claude] env`.
pub fn offline_env_toml() -> String {
    OFFLINE_CLAUDE_ENV
        .iter()
        .map(|(k, v)| format!("{k} = {v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The environment a Claude Code process (real or stand-in) needs to run offline on the
/// account in `config_dir` against the API at `base_url`.
pub fn claude_env(config_dir: &Path, base_url: &str) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("CLAUDE_CONFIG_DIR", config_dir.display().to_string()),
        ("ANTHROPIC_BASE_URL", base_url.to_owned()),
    ];
    env.extend(
        OFFLINE_CLAUDE_ENV
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned())),
    );
    env
}

/// `text` with runs of whitespace (newlines included) collapsed to one space, for finding
/// a phrase the CLI may have hard-wrapped.
pub fn squash_ws(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
