//! The `claude-failoverd` binary: configuration errors and exit codes, and a real run over a
//! private tmux server: start, serve, stop on SIGTERM leaving the session running, restart
//! and adopt it (same process, not relaunched).

use crate::support as common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::http as client;
use failover_daemon::http::dto::StatusDto;

const BIN: &str = env!("CARGO_BIN_EXE_claude-failoverd");

#[test]
fn a_config_typo_exits_2_naming_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("acc")).unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        "[[accounts]]\nname = \"a\"\nconfig_dir = \"acc\"\n\n[polcy]\nmode = \"spread\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:5:", cfg.display())) && err.contains("unknown key 'polcy'"),
        "{err}"
    );

    std::fs::write(
        &cfg,
        "[[accounts]]\nname = \"a\"\nconfig_dir = \"missing\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(":3:14: accounts[0].config_dir: directory"),
        "{err}"
    );
}

#[test]
fn the_config_file_comes_from_the_same_variable_as_the_clis() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("from-env.toml");
    std::fs::write(&cfg, "[polcy]\n").unwrap();
    let out = Command::new(BIN)
        .env("CLAUDE_FAILOVER_CONFIG", &cfg)
        .env_remove("FAILOVER_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:1:", cfg.display())), "{err}");
}

#[test]
fn a_claude_command_that_is_not_found_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("acc")).unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        "[claude]\ncommand = [\"no-such-claude-4c1f\"]\n[[accounts]]\nname = \"a\"\nconfig_dir = \"acc\"\n[[sessions]]\nname = \"s0\"\ndir = \".\"\n",
    )
    .unwrap();
    // It must refuse at once; a daemon that starts anyway is stopped and the test fails.
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`no-such-claude-4c1f` is not found on PATH"),
        "{err}"
    );
    assert!(err.contains("exit 127"), "{err}");
}

/// A session whose program disappears says why it keeps dying (`exit 127: … not found`) and
/// keeps its conversation id across the retries.
#[tokio::test]
async fn a_dead_session_says_why_and_keeps_its_conversation() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new().prefix("cfd").tempdir().unwrap();
    let root = dir.path();
    for d in ["acc/a", "work/s0", "bin"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let program = root.join("bin/claude");
    std::fs::write(&program, "#!/bin/sh\necho ready\nexec sleep 600\n").unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let tmux = Tmux(root.join("tmux.sock"));
    let socket = root.join("ctl.sock");
    let cfg = root.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"state_dir = "state"
[tmux]
path = "{tmux}"
[claude]
command = ["{program}"]
shared_projects = "shared"
[policy]
relaunch_backoff_secs = 1
relaunch_backoff_max_secs = 1
[control]
socket = "{socket}"
[[accounts]]
name = "a"
config_dir = "acc/a"
[[sessions]]
name = "s0"
dir = "work/s0"
"#,
            tmux = tmux.0.display(),
            program = program.display(),
            socket = socket.display()
        ),
    )
    .unwrap();
    let _daemon = Daemon::start(&cfg);
    let s = wait_running(&socket, "s0").await;
    let conv = s.sessions[0]
        .claude_session
        .clone()
        .expect("a conversation id");
    assert_eq!(s.sessions[0].last_exit, None);

    // The program goes away, and the running one ends: every relaunch now fails.
    std::fs::remove_file(&program).unwrap();
    let pid = tmux.pane_pid("s0").expect("the session runs in tmux");
    Command::new("kill").args(["-KILL", &pid]).status().unwrap();
    let s = wait_status(&socket, "s0 dead with exit 127", |s| {
        s.sessions.iter().any(|x| {
            x.name == "s0"
                && x.last_exit
                    .as_deref()
                    .is_some_and(|e| e.starts_with("exit 127"))
        })
    })
    .await;
    let s0 = &s.sessions[0];
    assert_eq!(
        s0.last_exit.as_deref(),
        Some(format!("exit 127: {} not found", program.display()).as_str())
    );
    assert_eq!(
        s0.claude_session.as_deref(),
        Some(conv.as_str()),
        "the same conversation across retries"
    );
}

/// A private tmux server, killed on drop.
struct Tmux(PathBuf);

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.0).arg("-f").arg("/dev/null");
        c
    }

    fn pane_pid(&self, session: &str) -> Option<String> {
        let out = self
            .cmd()
            .args(["display-message", "-p", "-t", session, "#{pane_pid}"])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

struct Daemon(Child);

impl Daemon {
    fn start(config: &Path) -> Self {
        Self::start_with(config, &[])
    }

    fn start_with(config: &Path, env: &[(&str, &Path)]) -> Self {
        let child = Command::new(BIN)
            .arg("--config")
            .arg(config)
            .env("FAILOVER_LOG", "info")
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Self(child)
    }

    fn terminate(mut self) -> (Option<i32>, String) {
        let pid = self.0.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let out = std::mem::replace(&mut self.0, Command::new("true").spawn().unwrap())
            .wait_with_output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A temp root for the daemon over `sh` stand-ins: `acc/<name>` per account, `work/<name>`
/// per session, a private tmux socket and `config.toml`; with `control`, the control socket
/// at `ctl.sock` (else the daemon's default one).
struct StandIns {
    dir: tempfile::TempDir,
    tmux: Tmux,
    socket: PathBuf,
    cfg: PathBuf,
}

fn stand_ins(prefix: &str, accounts: &[&str], sessions: &[&str], control: bool) -> StandIns {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    let root = dir.path();
    let tmux = Tmux(root.join("tmux.sock"));
    let socket = root.join("ctl.sock");
    let cfg = root.join("config.toml");
    let mut text = format!(
        r#"state_dir = "state"
[tmux]
path = "{}"
[claude]
command = ["sh", "-c", "echo ready; exec sleep 600", "stand-in"]
shared_projects = "shared"
"#,
        tmux.0.display()
    );
    if control {
        text.push_str(&format!("[control]\nsocket = \"{}\"\n", socket.display()));
    }
    for a in accounts {
        std::fs::create_dir_all(root.join("acc").join(a)).unwrap();
        text.push_str(&format!(
            "[[accounts]]\nname = \"{a}\"\nconfig_dir = \"acc/{a}\"\n"
        ));
    }
    for s in sessions {
        std::fs::create_dir_all(root.join("work").join(s)).unwrap();
        text.push_str(&format!(
            "[[sessions]]\nname = \"{s}\"\ndir = \"work/{s}\"\n"
        ));
    }
    std::fs::write(&cfg, text).unwrap();
    StandIns {
        dir,
        tmux,
        socket,
        cfg,
    }
}

async fn status(socket: &Path) -> Option<StatusDto> {
    if !socket.exists() {
        return None;
    }
    let io = tokio::net::UnixStream::connect(socket).await.ok()?;
    drop(io);
    let reply = client::unix(socket, "GET", "/v1/status", "").await;
    serde_json::from_str(&reply.body).ok()
}

async fn wait_status(socket: &Path, what: &str, pred: impl Fn(&StatusDto) -> bool) -> StatusDto {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(s) = status(socket).await {
            if pred(&s) {
                return s;
            }
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the daemon at `socket` reports `session` running.
async fn wait_running(socket: &Path, session: &str) -> StatusDto {
    wait_status(socket, &format!("{session} running"), |s| {
        s.sessions
            .iter()
            .any(|x| x.name == session && x.state == "running")
    })
    .await
}

#[tokio::test]
async fn runs_over_real_tmux_stops_on_sigterm_and_adopts_on_restart() {
    let StandIns {
        dir,
        tmux,
        socket,
        cfg,
    } = stand_ins("cfb", &["a", "b"], &["s0"], true);
    let root = dir.path();

    let daemon = Daemon::start(&cfg);
    let s = wait_running(&socket, "s0").await;
    assert_eq!(s.active_account.as_deref(), Some("a"));
    let conv = s.sessions[0]
        .claude_session
        .clone()
        .expect("conversation id");
    let pid = tmux.pane_pid("s0").expect("the session runs in tmux");
    // The account's projects/ now links to the shared tree.
    assert!(
        std::fs::symlink_metadata(root.join("acc/a/projects"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::metadata(&socket)
            .map(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.permissions().mode() & 0o777
            })
            .unwrap(),
        0o600
    );

    let (code, log) = daemon.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("daemon stopped"), "{log}");
    // Off a terminal the log is JSON whose fields are values, not Rust Debug text.
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for (key, value) in v.as_object().unwrap() {
            let text = value.to_string();
            for debug in ["Some(", "None", "AdoptReport", "[\\\"", "{ "] {
                assert!(!text.contains(debug), "{key} = {text} in {line}");
            }
        }
    }
    let linked = log
        .lines()
        .find(|l| l.contains("account linked to the shared transcript tree"))
        .unwrap_or_else(|| panic!("{log}"));
    let v: serde_json::Value = serde_json::from_str(linked).unwrap();
    assert_eq!(v["linked"], true, "{linked}");
    assert!(!socket.exists(), "the socket is removed on exit");
    assert_eq!(
        tmux.pane_pid("s0").as_deref(),
        Some(pid.as_str()),
        "the session outlives the daemon"
    );

    // Restart, even without the state file: the running session is adopted, not launched
    // again, with the account and conversation tmux recorded at launch.
    std::fs::remove_file(root.join("state/state.json")).unwrap();
    let daemon = Daemon::start(&cfg);
    let s = wait_status(&socket, "s0 adopted", |s| {
        s.sessions
            .iter()
            .any(|x| x.name == "s0" && x.state == "running")
    })
    .await;
    assert_eq!(s.sessions[0].claude_session.as_deref(), Some(conv.as_str()));
    assert_eq!(s.sessions[0].account.as_deref(), Some("a"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        tmux.pane_pid("s0").as_deref(),
        Some(pid.as_str()),
        "not relaunched"
    );
    let (code, log) = daemon.terminate();
    assert_eq!(code, Some(0), "{log}");
}

#[tokio::test]
async fn sigterm_leaves_no_empty_tmux_server_behind() {
    let dir = tempfile::Builder::new().prefix("cfe").tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("acc/a")).unwrap();
    let tmux = Tmux(root.join("tmux.sock"));
    let socket = root.join("ctl.sock");
    let cfg = root.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"state\"\n[tmux]\npath = \"{}\"\n[claude]\ncommand = [\"sh\"]\nshared_projects = \"shared\"\n[control]\nsocket = \"{}\"\n[[accounts]]\nname = \"a\"\nconfig_dir = \"acc/a\"\n",
            tmux.0.display(),
            socket.display()
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&cfg);
    wait_status(&socket, "started", |_| true).await;
    let alive = |t: &Tmux| {
        t.cmd()
            .arg("list-sessions")
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(alive(&tmux), "the daemon's tmux server runs, empty");
    let (code, log) = daemon.terminate();
    assert_eq!(code, Some(0), "{log}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(&tmux) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!alive(&tmux), "an empty tmux server was left behind: {log}");
}

#[tokio::test]
async fn systemd_is_told_ready_watchdog_and_stopping() {
    let dir = tempfile::Builder::new().prefix("cfn").tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("acc/a")).unwrap();
    let tmux = Tmux(root.join("tmux.sock"));
    let socket = root.join("ctl.sock");
    let notify = root.join("notify.sock");
    let listener = std::os::unix::net::UnixDatagram::bind(&notify).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let cfg = root.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"state\"\n[tmux]\npath = \"{}\"\n[claude]\nshared_projects = \"shared\"\n[control]\nsocket = \"{}\"\n[[accounts]]\nname = \"a\"\nconfig_dir = \"acc/a\"\n",
            tmux.0.display(),
            socket.display()
        ),
    )
    .unwrap();
    // systemd names the watched process in WATCHDOG_PID: `exec` keeps the shell's pid.
    let child = Command::new("sh")
        .arg("-c")
        .arg("WATCHDOG_PID=$$ exec \"$0\" --config \"$1\"")
        .arg(BIN)
        .arg(&cfg)
        .env("NOTIFY_SOCKET", &notify)
        .env("WATCHDOG_USEC", "400000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let daemon = Daemon(child);
    let recv = || {
        let mut buf = [0u8; 256];
        let n = listener
            .recv(&mut buf)
            .expect("a notification before the timeout");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let mut got = Vec::new();
    while got
        .iter()
        .filter(|m: &&String| m.contains("WATCHDOG=1"))
        .count()
        < 3
    {
        got.push(recv());
    }
    assert!(got[0].contains("READY=1"), "{got:?}");
    // Ready means serving.
    assert!(status(&socket).await.is_some());
    let (code, _) = daemon.terminate();
    assert_eq!(code, Some(0));
    loop {
        let m = recv();
        if m.contains("STOPPING=1") {
            break;
        }
        assert!(m.contains("WATCHDOG=1"), "unexpected {m}");
    }
}

/// Two daemons on one state directory, started with different `XDG_RUNTIME_DIR`s (so each
/// would get its own control socket): the second exits at once naming the first's pid, and
/// the first keeps serving and keeps its session.
#[tokio::test]
async fn a_second_daemon_on_the_same_state_dir_exits_at_once_naming_the_first() {
    let StandIns { dir, tmux, cfg, .. } = stand_ins("cfl", &["a"], &["s0"], false);
    let root = dir.path();
    std::fs::create_dir_all(root.join("run1")).unwrap();
    std::fs::create_dir_all(root.join("run2")).unwrap();
    let (run1, run2) = (root.join("run1"), root.join("run2"));
    let socket1 = run1.join("claude-failover.sock");

    let first = Daemon::start_with(&cfg, &[("XDG_RUNTIME_DIR", &run1)]);
    wait_status(&socket1, "s0 running", |s| {
        s.sessions
            .iter()
            .any(|x| x.name == "s0" && x.state == "running")
    })
    .await;
    let pane = tmux.pane_pid("s0").expect("the session runs in tmux");
    let lock = std::fs::read_to_string(root.join("state/daemon.lock")).unwrap();
    assert_eq!(lock.trim(), first.0.id().to_string());

    let mut second = Daemon::start_with(&cfg, &[("XDG_RUNTIME_DIR", &run2)]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Some(status) = second.0.try_wait().unwrap() {
            break status.code();
        }
        assert!(
            Instant::now() < deadline,
            "the second daemon is still running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.0.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("already running (pid {})", first.0.id())),
        "{err}"
    );
    assert!(
        !run2.join("claude-failover.sock").exists(),
        "the second daemon bound nothing"
    );

    // The first is undisturbed: it serves, its session is the same process.
    let s = status(&socket1)
        .await
        .expect("the first daemon still answers");
    assert!(
        s.sessions
            .iter()
            .any(|x| x.name == "s0" && x.state == "running")
    );
    assert_eq!(tmux.pane_pid("s0").as_deref(), Some(pane.as_str()));
    let (code, log) = first.terminate();
    assert_eq!(code, Some(0), "{log}");
}

/// `[control] allow_remote = true` lets TCP listen beyond loopback, and the daemon says at
/// start that the token crosses the network in clear.
#[tokio::test]
async fn a_remote_tcp_listener_is_allowed_only_when_asked_and_warned_about() {
    let dir = tempfile::Builder::new().prefix("cfr").tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("acc/a")).unwrap();
    let tmux = Tmux(root.join("tmux.sock"));
    let socket = root.join("ctl.sock");
    let token = root.join("token");
    std::fs::write(&token, "0123456789abcdef-remote\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let cfg = root.join("config.toml");
    let write = |extra: &str| {
        std::fs::write(
            &cfg,
            format!(
                "state_dir = \"state\"\n[tmux]\npath = \"{}\"\n[claude]\nshared_projects = \"shared\"\n[control]\nsocket = \"{}\"\ntcp = \"0.0.0.0:0\"\ntoken_file = \"{}\"\n{extra}\n[[accounts]]\nname = \"a\"\nconfig_dir = \"acc/a\"\n",
                tmux.0.display(),
                socket.display(),
                token.display()
            ),
        )
        .unwrap();
    };
    write("");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("allow_remote = true"), "{err}");

    write("allow_remote = true");
    let daemon = Daemon::start(&cfg);
    wait_status(&socket, "serving", |_| true).await;
    let (code, log) = daemon.terminate();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("crosses the network in clear"),
        "no warning in: {log}"
    );
}

/// The pane observers share one tmux control client, attached to a session of their own
/// into which every observed window is linked. A person's own view does not change (a
/// session shows its own window only), and a daemon killed with SIGKILL leaves nothing of
/// that behind: its client ends with it, the observers' session with the client, and a
/// session the person kills then ends its program, as without the daemon.
#[tokio::test]
async fn a_daemon_killed_with_sigkill_leaves_no_window_the_sessions_no_longer_hold() {
    let StandIns {
        dir: _dir,
        tmux,
        socket,
        cfg,
    } = stand_ins("cfk", &["a"], &["s0", "s1"], true);
    let daemon = Daemon::start(&cfg);
    wait_running(&socket, "s0").await;
    wait_running(&socket, "s1").await;
    let list = |args: &[&str]| {
        let out = tmux.cmd().args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let observers_windows = || {
        list(&["list-windows", "-a", "-F", "#{session_name}"])
            .lines()
            .filter(|l| l.starts_with("failover observer "))
            .count()
    };
    // Both sessions' windows linked into the observers' session (beside its own).
    let deadline = Instant::now() + Duration::from_secs(30);
    while observers_windows() != 3 {
        assert!(
            Instant::now() < deadline,
            "the observers' session never held both windows: {}",
            list(&["list-windows", "-a"])
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for s in ["s0", "s1"] {
        let own = list(&["list-windows", "-t", &format!("={s}"), "-F", "#{window_id}"]);
        assert_eq!(
            own.lines().count(),
            1,
            "{s} shows its own window only: {own}"
        );
    }
    let pid = |s: &str| tmux.pane_pid(&format!("={s}:")).expect("the session runs");
    let (p0, p1) = (pid("s0"), pid("s1"));
    let running = |p: &str| Path::new(&format!("/proc/{p}")).exists();
    drop(daemon); // SIGKILL
    // The person ends one of the sessions.
    assert!(
        tmux.cmd()
            .args(["kill-session", "-t", "=s0"])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sessions = list(&["list-sessions", "-F", "#{session_name}"]);
        let windows = list(&["list-windows", "-a", "-F", "#{session_name} #{window_id}"]);
        let done = !running(&p0)
            && sessions.lines().collect::<Vec<_>>() == ["s1"]
            && windows.lines().count() == 1;
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left behind after the daemon's SIGKILL (s0's program running: {}):\n\
             sessions:\n{sessions}\nwindows:\n{windows}",
            running(&p0)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(running(&p1), "the session the person kept still runs");
}
