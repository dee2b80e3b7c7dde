//! Running the built `claude-failover` binary in an isolated environment: its own `HOME`, XDG
//! dirs and tmux socket dir under a temp dir, so nothing on the machine is read or touched.

pub(crate) mod daemon;
// The daemon tests' private redis-server, of which the CLI's tests use a part.
#[allow(dead_code)]
#[path = "../../../failover-daemon/tests/support/redis.rs"]
pub(crate) mod redis;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_claude-failover");

/// A temp home with XDG dirs inside it.
pub(crate) struct Sandbox {
    pub(crate) dir: tempfile::TempDir,
}

impl Sandbox {
    pub(crate) fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("cf-cli-")
            .tempdir()
            .expect("tempdir");
        let s = Self { dir };
        for d in ["home", "config", "state", "data", "cache", "run", "tmux"] {
            std::fs::create_dir_all(s.path(d)).unwrap();
        }
        s
    }

    pub(crate) fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub(crate) fn home(&self) -> PathBuf {
        self.path("home")
    }

    /// The sandbox environment as the daemon's config loader reads it.
    pub(crate) fn env_fn(&self) -> impl Fn(&str) -> Option<String> + use<> {
        let vars: Vec<(String, String)> = [
            ("HOME", self.home()),
            ("XDG_CONFIG_HOME", self.path("config")),
            ("XDG_STATE_HOME", self.path("state")),
            ("XDG_DATA_HOME", self.path("data")),
            ("XDG_CACHE_HOME", self.path("cache")),
            ("XDG_RUNTIME_DIR", self.path("run")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.display().to_string()))
        .collect();
        move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    /// A command for the binary with this sandbox's environment.
    pub(crate) fn cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = Command::new(BIN);
        self.env(&mut c);
        c.args(args);
        c
    }

    /// Applies the sandbox environment to any command.
    pub(crate) fn env(&self, c: &mut Command) {
        for var in [
            "CLAUDE_CONFIG_DIR",
            "CLAUDE_FAILOVER_SOCKET",
            "CLAUDE_FAILOVER_TCP",
            "CLAUDE_FAILOVER_TOKEN_FILE",
            "CLAUDE_FAILOVER_CONFIG",
            "CLAUDE_FAILOVER_CACHE",
            "TMUX",
            "FAILOVER_LOG",
        ] {
            c.env_remove(var);
        }
        c.env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_STATE_HOME", self.path("state"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("XDG_RUNTIME_DIR", self.path("run"))
            .env("TMUX_TMPDIR", self.path("tmux"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
    }
}

/// What a run produced.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "expected success:\n{self}");
        self
    }
    pub(crate) fn code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "expected exit code {code}:\n{self}");
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit: {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `c` to completion, killing it after `timeout`.
pub(crate) fn run(mut c: Command, timeout: Duration) -> Run {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = c.spawn().expect("spawn the binary");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out: Output = match rx.recv_timeout(timeout) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("{c:?} did not finish within {timeout:?}");
        }
    };
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs with a 60 s deadline.
pub(crate) fn run60(c: Command) -> Run {
    run(c, Duration::from_secs(60))
}

/// Waits until `f` is true or the deadline passes.
pub(crate) fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// Whether this process runs as root (permission checks do not apply to root).
pub(crate) fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// A fingerprint of a file that must never change: its bytes, mode and modification time.
pub(crate) fn fingerprint(p: &Path) -> (Vec<u8>, u32, i64, i64) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).unwrap();
    (
        std::fs::read(p).unwrap(),
        m.mode(),
        m.mtime(),
        m.mtime_nsec(),
    )
}
