//! `claude-failover top` in a real terminal: the built binary runs in a tmux pane (a private
//! server in the sandbox), the test reads the screen with `capture-pane` and types keys with
//! `send-keys`, as a person would.

use crate::util;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use util::daemon::{Spec, TestDaemon};
use util::{BIN, Sandbox, run60, wait_until};

/// The dashboard running in a tmux pane of its own.
struct Pane<'a> {
    sb: &'a Sandbox,
    server: String,
    status_file: PathBuf,
}

impl<'a> Pane<'a> {
    /// Starts `claude-failover <args>` in a 100×30 pane; its exit status goes to a file.
    fn start(sb: &'a Sandbox, args: &[String], extra_env: &[(&str, &std::ffi::OsStr)]) -> Self {
        let server = format!("cf-top-{}", std::process::id());
        let status_file = sb.path("top.status");
        let mut line = format!("'{BIN}'");
        for a in args {
            line.push_str(&format!(" '{a}'"));
        }
        let script = format!("{line}; echo $? > '{}'", status_file.display());
        let mut c = Command::new("tmux");
        sb.env(&mut c);
        for (k, v) in extra_env {
            c.env(k, v);
        }
        // The server this starts inherits the sandbox environment, and so does the pane.
        c.args(["-L", &server, "new-session", "-d", "-x", "100", "-y", "30"])
            .args(["-s", "top", "sh", "-c", &script]);
        assert!(c.status().unwrap().success(), "tmux starts");
        Self {
            sb,
            server,
            status_file,
        }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let mut c = Command::new("tmux");
        self.sb.env(&mut c);
        let out = c
            .args(["-L", &self.server])
            .args(args)
            .stderr(Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "top"])
    }

    /// Waits until the screen shows every one of `texts`.
    fn wait_for(&self, texts: &[&str], timeout: Duration) {
        let ok = wait_until(timeout, || {
            let s = self.screen();
            texts.iter().all(|t| s.contains(t))
        });
        assert!(
            ok,
            "the dashboard never showed {texts:?} within {timeout:?}; the screen:\n{}",
            self.screen()
        );
    }

    fn keys(&self, keys: &str) {
        self.tmux(&["send-keys", "-t", "top", keys]);
    }

    /// Waits for the program to end and returns its exit status.
    fn exit_status(&self, timeout: Duration) -> i32 {
        let ok = wait_until(timeout, || {
            std::fs::read_to_string(&self.status_file).is_ok_and(|s| !s.trim().is_empty())
        });
        assert!(ok, "top did not exit; the screen:\n{}", self.screen());
        std::fs::read_to_string(&self.status_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for Pane<'_> {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

#[test]
fn top_shows_a_daemon_says_when_it_goes_away_and_leaves_on_q() {
    let sb = Sandbox::new();
    let daemon = TestDaemon::start(
        &sb,
        Spec {
            accounts: &["primary", "backup"],
            ..Spec::default()
        },
    );
    let pane = Pane::start(&sb, &daemon.args(&["top"]), &[]);
    pane.wait_for(
        &[
            "active primary",
            "Accounts",
            "backup",
            "Decisions",
            "q  quit",
        ],
        Duration::from_secs(30),
    );
    // An account running out shows up without restarting the dashboard.
    daemon.exhaust(
        "primary",
        jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2),
    );
    pane.wait_for(&["exhausted", "active backup"], Duration::from_secs(30));
    // Help opens and closes.
    pane.keys("?");
    pane.wait_for(&["Any key closes this help"], Duration::from_secs(10));
    pane.keys("x");
    let closed = wait_until(Duration::from_secs(10), || {
        !pane.screen().contains("Any key closes this help")
    });
    assert!(closed, "help closes:\n{}", pane.screen());
    // The daemon goes away: the dashboard says so and keeps going.
    drop(daemon);
    pane.wait_for(&["daemon unreachable since"], Duration::from_secs(30));
    pane.keys("q");
    assert_eq!(pane.exit_status(Duration::from_secs(10)), 0);
}

#[test]
fn top_comes_back_by_itself_when_the_daemon_returns() {
    let sb = Sandbox::new();
    let daemon = TestDaemon::start(
        &sb,
        Spec {
            accounts: &["primary", "backup"],
            ..Spec::default()
        },
    );
    let args = daemon.args(&["top"]);
    let pane = Pane::start(&sb, &args, &[]);
    pane.wait_for(&["active primary"], Duration::from_secs(30));
    let socket = daemon.socket.clone();
    drop(daemon);
    pane.wait_for(&["daemon unreachable since"], Duration::from_secs(30));
    // A new daemon on the same socket.
    let again = TestDaemon::start(
        &sb,
        Spec {
            accounts: &["primary", "backup"],
            ..Spec::default()
        },
    );
    // The test daemons get a socket each; point a link from the old path to the new one.
    let _ = std::fs::remove_file(&socket);
    std::os::unix::fs::symlink(&again.socket, &socket).unwrap();
    let back = wait_until(Duration::from_secs(30), || {
        let s = pane.screen();
        s.contains("active primary") && !s.contains("daemon unreachable")
    });
    assert!(back, "the dashboard came back:\n{}", pane.screen());
    // Ctrl-C leaves as cleanly as q.
    pane.keys("C-c");
    assert_eq!(pane.exit_status(Duration::from_secs(10)), 0);
}

#[test]
fn top_without_a_terminal_or_a_daemon_says_why() {
    let sb = Sandbox::new();
    // No daemon: the usual hint, at once.
    let r = run60(sb.cmd([
        "--socket",
        sb.path("run/none.sock").to_str().unwrap(),
        "top",
    ]));
    assert_ne!(r.code, Some(0), "{r}");
    assert!(r.stderr.contains("not running"), "{r}");
    // A daemon, but stdout is a pipe.
    let daemon = TestDaemon::start(
        &sb,
        Spec {
            accounts: &["primary"],
            ..Spec::default()
        },
    );
    let r = run60(sb.cmd(daemon.args(&["top"])));
    r.code(2);
    assert!(r.stderr.contains("needs a terminal"), "{r}");
}

/// `demo --top`: the demo's failover, with the real Claude Code CLI, followed live in the
/// dashboard until `q`.
#[test]
fn demo_top_follows_a_real_failover_in_the_dashboard() {
    let Some(real) = std::env::var_os("CLAUDE_FAILOVER_REAL_CLAUDE") else {
        eprintln!(
            "SKIPPED demo_top_follows_a_real_failover_in_the_dashboard: \
             CLAUDE_FAILOVER_REAL_CLAUDE is not set (scripts/test.sh sets it)"
        );
        return;
    };
    let sb = Sandbox::new();
    let args: Vec<String> = ["demo", "--top", "--sessions", "2", "--accounts", "2"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let pane = Pane::start(
        &sb,
        &args,
        &[
            ("CLAUDE_FAILOVER_REAL_CLAUDE", real.as_os_str()),
            ("DISABLE_AUTOUPDATER", std::ffi::OsStr::new("1")),
        ],
    );
    pane.wait_for(&["active demo-a", "Sessions (2)"], Duration::from_secs(120));
    // The failover, followed without restarting: the swap panel, then the end of the story.
    pane.wait_for(&["Swap demo-a → demo-b"], Duration::from_secs(180));
    pane.wait_for(
        &["active demo-b", "prompt re-sent", "failover complete"],
        Duration::from_secs(180),
    );
    let screen = pane.screen();
    assert!(screen.contains("exhausted"), "{screen}");
    pane.keys("q");
    assert_eq!(pane.exit_status(Duration::from_secs(60)), 0, "{screen}");
}
