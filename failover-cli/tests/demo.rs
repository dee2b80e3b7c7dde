//! `claude-failover demo`, end to end: the README's first command. Runs the built binary; the
//! demo starts its own tmux server, mock API and daemon, so these tests check what a person
//! sees (a failover, a summary, exit 0) and that nothing is left behind.

use crate::util;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use util::{Run, Sandbox, run};

/// The temp dir and tmux socket name the demo announced.
fn announced(stdout: &str) -> (PathBuf, String) {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("world "))
        .unwrap_or_else(|| panic!("no world line in:\n{stdout}"));
    let root = line
        .trim_start()
        .trim_start_matches("world")
        .trim_start()
        .split(" (")
        .next()
        .unwrap()
        .to_owned();
    let tmux = line
        .split("tmux -L ")
        .nth(1)
        .unwrap()
        .trim_end_matches(')')
        .to_owned();
    (PathBuf::from(root), tmux)
}

/// Whether the demo's tmux server still answers (in the sandbox's `$TMUX_TMPDIR`).
fn tmux_server_alive(sb: &Sandbox, name: &str) -> bool {
    let mut c = std::process::Command::new("tmux");
    sb.env(&mut c);
    c.args(["-L", name, "list-sessions"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Nothing of the demo is left: temp dir, tmux server, tmux socket file.
fn assert_cleaned_up(sb: &Sandbox, root: &std::path::Path, tmux: &str) {
    assert!(!root.exists(), "the temp dir {} is removed", root.display());
    assert!(
        !tmux_server_alive(sb, tmux),
        "the tmux server {tmux} is gone"
    );
    let tmux_dir = std::fs::read_dir(sb.path("tmux"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect::<Vec<_>>();
    for d in tmux_dir {
        assert!(!d.join(tmux).exists(), "the tmux socket {tmux} is removed");
    }
}

fn assert_failed_over(sb: &Sandbox, r: &Run, sessions: usize) {
    r.ok();
    let out = &r.stdout;
    assert!(out.contains("failover complete"), "{r}");
    assert!(out.contains("moved from demo-a to demo-b"), "{r}");
    assert!(out.contains("detection latency"), "{r}");
    assert!(out.contains("failover wall time"), "{r}");
    // The live trace shows each step of the failover.
    for step in ["detection", "checkpoint", "stop", "launch", "send_prompt"] {
        assert!(out.contains(step), "no {step} in the live trace:\n{r}");
    }
    let same = out
        .lines()
        .filter(|l| {
            // A prompt typed as its session was being stopped never reached Claude Code; the
            // demo types it again and says so.
            l.contains("(same id), interrupted prompt answered")
                || l.contains("(same id), second prompt typed again and answered")
        })
        .count();
    assert_eq!(
        same, sessions,
        "every session resumed its own conversation:\n{r}"
    );
    // A narrative that fits 100 columns, with no log lines inside it.
    for l in out.lines() {
        assert!(
            l.chars().count() <= 100,
            "a line wider than 100 columns: {l:?}\n{r}"
        );
    }
    for level in [" WARN ", " INFO ", " ERROR ", "\x1b["] {
        assert!(
            !r.stderr.contains(level),
            "log output {level:?} in the demo:\n{r}"
        );
    }
    let (root, tmux) = announced(out);
    assert_cleaned_up(sb, &root, &tmux);
}

#[test]
fn demo_fails_over_with_the_stand_in_and_cleans_up() {
    let sb = Sandbox::new();
    let r = run(
        sb.cmd(["demo", "--stand-in", "--deadline", "90"]),
        Duration::from_secs(240),
    );
    assert!(r.stdout.contains("bundled Claude Code stand-in"), "{r}");
    assert_failed_over(&sb, &r, 3);
}

#[test]
fn demo_fails_over_with_the_real_claude_code() {
    let Some(real) = std::env::var_os("CLAUDE_FAILOVER_REAL_CLAUDE") else {
        eprintln!(
            "SKIPPED demo_fails_over_with_the_real_claude_code: CLAUDE_FAILOVER_REAL_CLAUDE is not set \
             (scripts/test.sh sets it)"
        );
        return;
    };
    let sb = Sandbox::new();
    let mut cmd = sb.cmd(["demo", "--deadline", "90"]);
    cmd.env("CLAUDE_FAILOVER_REAL_CLAUDE", &real);
    let r = run(cmd, Duration::from_secs(400));
    assert!(r.stdout.contains("the real Claude Code"), "{r}");
    assert_failed_over(&sb, &r, 3);
}

#[test]
fn demo_cleans_up_on_ctrl_c() {
    let sb = Sandbox::new();
    let mut cmd = sb.cmd(["demo", "--stand-in", "--sessions", "1"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    // Interrupt once the sessions are starting: the world exists by then.
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !seen.contains("starting ") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                seen.push_str(&l);
                seen.push('\n');
            }
            Err(_) => {
                let _ = child.kill();
                panic!("the demo never started its sessions:\n{seen}");
            }
        }
    }
    let (root, tmux) = announced(&seen);
    assert!(root.exists());
    assert!(tmux_server_alive(&sb, &tmux), "the demo's tmux server runs");
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait_with_output());
    });
    let out = done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the demo stops within a minute of Ctrl-C")
        .unwrap();
    while let Ok(l) = rx.try_recv() {
        seen.push_str(&l);
        seen.push('\n');
    }
    assert_eq!(
        out.status.code(),
        Some(130),
        "{seen}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(seen.contains("cleaning up"), "{seen}");
    assert_cleaned_up(&sb, &root, &tmux);
}
