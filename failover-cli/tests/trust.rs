//! What a person running a fleet trips over: times in their own zone, refusals that say what
//! to do, hints that keep the flags given, clear answers about what sits at `--socket`, exit
//! codes that hold when pipes close or the daemon goes away.

use crate::util;

use std::process::Stdio;
use std::time::Duration;

use util::daemon::{Spec, TestDaemon};
use util::{Sandbox, run60, wait_until};

const NEW_YORK: &str = "America/New_York";

fn two_accounts(sb: &Sandbox) -> TestDaemon {
    TestDaemon::start(
        sb,
        Spec {
            accounts: &["alpha", "beta"],
            tcp: false,
        },
    )
}

/// Waits until the daemon has adopted what runs (it refuses swaps as "starting up" before).
fn wait_started(sb: &Sandbox, d: &TestDaemon) {
    let mut r = run60(sb.cmd(d.args(&["status", "--json"])));
    assert!(
        wait_until(Duration::from_secs(30), || {
            r = run60(sb.cmd(d.args(&["swap", "--to", "alpha", "--no-wait"])));
            !r.stderr.contains("starting up")
        }),
        "the daemon never finished starting: {r}"
    );
}

fn wait_state(sb: &Sandbox, d: &TestDaemon, index: usize, state: &str) {
    let mut r = run60(sb.cmd(d.args(&["accounts", "--json"])));
    assert!(
        wait_until(Duration::from_secs(20), || {
            r = run60(sb.cmd(d.args(&["accounts", "--json"])));
            let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            v[index]["state"] == state
        }),
        "account {index} never showed {state}: {r}"
    );
}

#[test]
fn times_are_shown_in_the_zone_of_tz() {
    let sb = Sandbox::new();
    let d = two_accounts(&sb);
    let resets = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(4 * 3600 + 59 * 60 + 30);
    d.exhaust("beta", resets);
    wait_state(&sb, &d, 1, "exhausted");

    let ny = jiff::tz::TimeZone::get(NEW_YORK).unwrap();
    let local = resets.to_zoned(ny).strftime("%H:%M").to_string();
    let utc = resets
        .to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%H:%M")
        .to_string();
    assert_ne!(local, utc);
    for sub in ["accounts", "status"] {
        let mut c = sb.cmd(d.args(&[sub]));
        c.env("TZ", NEW_YORK);
        let r = run60(c);
        r.ok();
        let beta = r.stdout.lines().find(|l| l.starts_with("beta")).unwrap();
        assert!(beta.contains(&format!("{local} (in 4h 59m)")), "{sub}: {r}");
    }
    // JSON keeps RFC 3339 with its offset.
    let mut c = sb.cmd(d.args(&["accounts", "--json"]));
    c.env("TZ", NEW_YORK);
    let r = run60(c);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let at: jiff::Timestamp = v[1]["resets_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(at.as_second(), resets.as_second());
}

#[test]
fn refusals_say_what_to_do_and_hints_keep_the_flags() {
    let sb = Sandbox::new();
    let d = two_accounts(&sb);
    wait_started(&sb, &d);
    let sock = d.socket.display().to_string();
    let prefix = format!("claude-failover --socket {sock}");

    // An unknown name: the valid ones, and a hint that repeats --socket.
    let r = run60(sb.cmd(d.args(&["swap", "--to", "nosuch"])));
    r.code(5);
    assert!(r.stderr.contains("nosuch"), "{r}");
    assert!(r.stderr.contains("alpha, beta"), "{r}");
    assert!(r.stderr.contains(&format!("{prefix} accounts")), "{r}");

    // The active account: nothing to move, said so.
    let st: serde_json::Value =
        serde_json::from_str(&run60(sb.cmd(d.args(&["status", "--json"]))).stdout).unwrap();
    let active = st["active_account"].as_str().unwrap().to_owned();
    let r = run60(sb.cmd(d.args(&["swap", "--to", &active])));
    r.ok();
    assert!(r.stdout.contains("already the active account"), "{r}");
    assert!(!r.stdout.contains("swap complete"), "{r}");

    // Paused: the refusal says how to undo it; pausing twice says nothing changed.
    run60(sb.cmd(d.args(&["pause"]))).ok();
    assert!(wait_until(Duration::from_secs(10), || {
        let r = run60(sb.cmd(d.args(&["status", "--json"])));
        serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()["paused"] == true
    }));
    let r = run60(sb.cmd(d.args(&["pause"])));
    r.ok();
    assert!(r.stdout.contains("already paused"), "{r}");
    let other = if active == "alpha" { "beta" } else { "alpha" };
    let r = run60(sb.cmd(d.args(&["swap", "--to", other])));
    r.code(6);
    assert!(r.stderr.contains(&format!("`{prefix} resume`")), "{r}");
    run60(sb.cmd(d.args(&["resume"]))).ok();
    assert!(wait_until(Duration::from_secs(10), || {
        let r = run60(sb.cmd(d.args(&["status", "--json"])));
        serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()["paused"] == false
    }));

    // No usable account: each account's state and reset.
    let resets = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3 * 3600 + 60);
    d.exhaust("alpha", resets);
    d.exhaust("beta", resets);
    wait_state(&sb, &d, 0, "exhausted");
    wait_state(&sb, &d, 1, "exhausted");
    let r = run60(sb.cmd(d.args(&["swap"])));
    r.code(6);
    for name in ["alpha", "beta"] {
        let line = r
            .stderr
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no line for {name}: {r}"));
        assert!(line.contains("exhausted"), "{r}");
        assert!(line.contains("resets") && line.contains("(in 3h"), "{r}");
    }
}

/// A connected pair whose first end the caller drops: writing to the second then fails with
/// EPIPE, as writing into a pipe whose reader has gone does.
fn closed_reader() -> (std::os::unix::net::UnixStream, std::os::fd::OwnedFd) {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    (a, b.into())
}

#[test]
fn a_closed_stderr_does_not_panic() {
    let sb = Sandbox::new();
    // `doctor` fails checks here (no config) and reports that on stderr, which is a pipe
    // whose reader is gone: the write fails with EPIPE.
    let (reader, writer) = closed_reader();
    drop(reader);
    let mut c = sb.cmd(["doctor"]);
    c.stdout(Stdio::null()).stderr(writer);
    let status = c.status().unwrap();
    assert_eq!(status.code(), Some(7), "{status:?}");

    // And with stdout gone too (`doctor 2>&1 | head -0`): a closed pipe counts as success.
    let (reader, writer) = closed_reader();
    drop(reader);
    let mut c = sb.cmd(["doctor"]);
    c.stdout(Stdio::from(writer.try_clone().unwrap()))
        .stderr(writer);
    let status = c.status().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn events_exits_3_when_the_daemon_goes_away() {
    use std::io::BufRead;
    let sb = Sandbox::new();
    let d = two_accounts(&sb);
    let mut c = sb.cmd(d.args(&["events"]));
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    // Once it shows a command, it is subscribed. Pause and resume in turn, so that every
    // round reaches the engine (a second pause is answered "already paused" without one).
    let mut seen = Vec::new();
    assert!(
        wait_until(Duration::from_secs(20), || {
            run60(sb.cmd(d.args(&["pause"]))).ok();
            run60(sb.cmd(d.args(&["resume"]))).ok();
            while let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
                seen.push(l);
            }
            seen.iter().any(|l| l.contains("command     pause"))
        }),
        "no pause event among {seen:#?}"
    );
    drop(d);
    let mut status = None;
    assert!(
        wait_until(Duration::from_secs(20), || {
            status = child.try_wait().unwrap();
            status.is_some()
        }),
        "events kept running after the daemon stopped"
    );
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.unwrap().code(), Some(3), "{err}");
    assert!(err.contains("went away"), "{err}");
}

#[test]
fn what_sits_at_the_socket_gets_its_own_message() {
    let sb = Sandbox::new();
    let status =
        |sock: &std::path::Path| run60(sb.cmd(["--socket", sock.to_str().unwrap(), "status"]));

    let file = sb.path("run/file.sock");
    std::fs::write(&file, "").unwrap();
    let r = status(&file);
    r.code(2);
    assert!(
        r.stderr.contains("is a regular file, not a control socket"),
        "{r}"
    );

    let dir = sb.path("run/dir.sock");
    std::fs::create_dir(&dir).unwrap();
    let r = status(&dir);
    r.code(2);
    assert!(
        r.stderr.contains("is a directory, not a control socket"),
        "{r}"
    );

    let stale = sb.path("run/stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let r = status(&stale);
    r.code(3);
    assert!(r.stderr.contains("stale socket"), "{r}");

    let missing = sb.path("run/missing.sock");
    let r = status(&missing);
    r.code(3);
    assert!(r.stderr.contains("no control socket at"), "{r}");

    // Something else listens there and answers in its own protocol.
    let other = sb.path("run/other.sock");
    let listener = std::os::unix::net::UnixListener::bind(&other).unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            let _ = std::io::Write::write_all(&mut conn, b"SSH-2.0-OpenSSH_9.6\r\n");
            // Like an SSH server, it then waits for the client's side.
            let _ = std::io::copy(&mut conn, &mut std::io::sink());
        }
    });
    let r = status(&other);
    r.code(1);
    assert!(r.stderr.contains("not a claude-failover daemon"), "{r}");
}

#[test]
fn a_tcp_address_without_a_port_is_bad_usage() {
    let sb = Sandbox::new();
    for addr in ["notanaddr", "127.0.0.1", "host:port", ":80"] {
        let r = run60(sb.cmd(["--tcp", addr, "status"]));
        r.code(2);
        assert!(r.stderr.contains("HOST:PORT"), "{addr}: {r}");
    }
}

#[test]
fn subcommand_help_lists_its_own_flags_first() {
    let sb = Sandbox::new();
    for (sub, own) in [("swap", "--to"), ("tasks", "--help"), ("events", "--json")] {
        let r = run60(sb.cmd([sub, "--help"]));
        r.ok();
        let own_at = r.stdout.find(own).unwrap();
        let global_at = r
            .stdout
            .find("Global options")
            .unwrap_or_else(|| panic!("{r}"));
        let socket_at = r.stdout.find("--socket").unwrap();
        assert!(own_at < global_at && global_at < socket_at, "{sub}: {r}");
    }
}

#[test]
fn tasks_say_why_and_refuse_what_would_never_run() {
    use failover_queue::layout::{claim_record_name, result_record_name};
    let sb = Sandbox::new();
    let project = sb.path("src/proj");
    std::fs::create_dir_all(&project).unwrap();
    let p = project.to_str().unwrap();
    let cfg = sb.path("c.toml");
    std::fs::write(
        &cfg,
        format!("[[sessions]]\nname = \"ccl-0\"\ndir = {p:?}\n[[projects]]\ndir = {p:?}\n"),
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    let q = project.join(".agent-queue");

    // A task rejected as malformed, as the dispatcher leaves it: the file and its record.
    let failed = q.join("failed");
    std::fs::create_dir_all(&failed).unwrap();
    std::fs::write(failed.join("blank.md"), "").unwrap();
    let record = serde_json::json!({
        "version": 1, "task": "blank.md", "outcome": "failed", "session": null,
        "account": null, "claude_session": null, "started_at": null,
        "ended_at": "2026-11-26T10:00:00Z", "attempts": 0, "reason": "rejected: empty task",
    });
    std::fs::write(
        failed.join(result_record_name("blank.md")),
        record.to_string(),
    )
    .unwrap();
    // A task whose prompt was sent, waiting for the session to come back.
    let claimed = q.join("claimed/ccl-0");
    std::fs::create_dir_all(&claimed).unwrap();
    std::fs::write(claimed.join("work.md"), "Do the work.\n").unwrap();
    let claim = serde_json::json!({
        "version": 1, "task": "work.md", "session": "ccl-0", "attempt": 1, "max_attempts": 3,
        "claimed_at": "2026-11-26T10:00:00Z", "delivered_at": "2026-11-26T10:00:01Z",
        "account": null, "claude_session": null, "outcome": null,
    });
    std::fs::write(
        claimed.join(claim_record_name("work.md")),
        claim.to_string(),
    )
    .unwrap();

    let r = run60(sb.cmd(["--config", c, "tasks", "list"]));
    r.ok();
    // A task's row and any continuation lines of its note, as one text.
    let line = |name: &str| {
        let mut rows = r.stdout.lines().skip_while(|l| !l.contains(name));
        let mut text = rows
            .next()
            .unwrap_or_else(|| panic!("no {name}: {r}"))
            .to_owned();
        for more in rows.take_while(|l| l.starts_with(' ')) {
            text.push(' ');
            text.push_str(more.trim());
        }
        text
    };
    assert!(r.stdout.lines().all(|l| l.chars().count() <= 100), "{r}");
    assert!(line("blank.md").contains("rejected: empty task"), "{r}");
    assert!(line("work.md").contains("waiting for completion"), "{r}");

    // Retrying the malformed task says why instead of re-rejecting it as blank~2.md.
    let r = run60(sb.cmd(["--config", c, "tasks", "retry", "blank"]));
    r.code(1);
    assert!(r.stderr.starts_with("error: cannot retry blank.md"), "{r}");
    assert!(r.stderr.contains("empty task"), "{r}");
    assert!(failed.join("blank.md").is_file());
    let inbox: Vec<_> = std::fs::read_dir(q.join("inbox"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(inbox.is_empty(), "{inbox:?}");

    // A project no session serves: refused, naming the served ones; nothing created there.
    let task = sb.path("x.md");
    std::fs::write(&task, "Hello.\n").unwrap();
    let stray = sb.path("not-served");
    std::fs::create_dir_all(&stray).unwrap();
    let r = run60(sb.cmd([
        "--config",
        c,
        "tasks",
        "add",
        task.to_str().unwrap(),
        "--project",
        stray.to_str().unwrap(),
    ]));
    r.code(2);
    assert!(r.stderr.contains("no session serves it"), "{r}");
    assert!(r.stderr.contains(p), "{r}");
    assert!(!stray.join(".agent-queue").exists());

    // Errors start with what failed.
    let missing = sb.path("missing.md");
    let r = run60(sb.cmd([
        "--config",
        c,
        "tasks",
        "add",
        missing.to_str().unwrap(),
        "--project",
        p,
    ]));
    r.code(1);
    assert!(
        r.stderr
            .starts_with(&format!("error: cannot queue {}", missing.display())),
        "{r}"
    );
}

#[test]
fn tasks_read_the_running_daemons_config_when_only_the_socket_is_given() {
    let sb = Sandbox::new();
    let d = two_accounts(&sb);
    let project = sb.path("src/served");
    std::fs::create_dir_all(&project).unwrap();
    // The daemon's config file, which is not the default one, gains a project.
    let mut text = std::fs::read_to_string(&d.config).unwrap();
    text.push_str(&format!(
        "[[projects]]\ndir = {:?}\n",
        project.display().to_string()
    ));
    std::fs::write(&d.config, text).unwrap();
    let r = run60(sb.cmd(d.args(&["tasks", "list"])));
    r.ok();
    assert!(r.stdout.contains("no tasks in"), "{r}");
    assert!(r.stdout.contains("src/served"), "{r}");
}

#[test]
fn doctor_right_after_init_is_calm() {
    let sb = Sandbox::new();
    // Two logged-in accounts as a person has them: one without projects/, one with a plain
    // projects/ directory holding a transcript.
    let a = sb.home().join(".claude-a");
    let b = sb.home().join(".claude-b");
    for (dir, token) in [(&a, "tok-a"), (&b, "tok-b")] {
        failover_sim::accounts::make_account_dir(dir, token, &[]).unwrap();
        let _ = std::fs::remove_dir_all(dir.join("projects"));
    }
    std::fs::create_dir_all(b.join("projects/-src-x")).unwrap();
    std::fs::write(b.join("projects/-src-x/s.jsonl"), "{}\n").unwrap();

    let r = run60(sb.cmd(["init"]));
    r.ok();
    assert!(r.stderr.contains("no tmux sessions"), "{r}");
    assert!(r.stderr.contains("[[sessions]]"), "{r}");

    let r = run60(sb.cmd(["doctor", "--json"]));
    let v: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r}"));
    let checks = v["checks"].as_array().unwrap();
    for account in ["a", "b"] {
        for what in ["transcripts", "statusline hook"] {
            let name = format!("account {account}: {what}");
            let c = checks
                .iter()
                .find(|c| c["check"] == name.as_str())
                .unwrap_or_else(|| panic!("no {name}: {v}"));
            assert_eq!(c["status"], "info", "{name}: {c}");
        }
    }
    // Every fix works when pasted: no copy out of a folder that does not exist.
    let a_fix = checks
        .iter()
        .find(|c| c["check"] == "account a: transcripts")
        .unwrap()["fix"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!a_fix.contains("cp -a"), "{a_fix}");
    let b_fix = checks
        .iter()
        .find(|c| c["check"] == "account b: transcripts")
        .unwrap()["fix"]
        .as_str()
        .unwrap()
        .to_owned();
    let shared = sb.path("shared");
    let cmd = b_fix
        .trim_start_matches("or by hand: ")
        .replace(
            "~/.local/share/claude-failover/projects",
            shared.to_str().unwrap(),
        )
        .replace("~/", &format!("{}/", sb.home().display()));
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(&cmd)
        .status()
        .unwrap();
    assert!(status.success(), "{cmd}");
    assert!(shared.join("-src-x/s.jsonl").is_file(), "{cmd}");
    let a_cmd = a_fix
        .trim_start_matches("or by hand: ")
        .replace(
            "~/.local/share/claude-failover/projects",
            shared.to_str().unwrap(),
        )
        .replace("~/", &format!("{}/", sb.home().display()));
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(&a_cmd)
        .status()
        .unwrap();
    assert!(status.success(), "{a_cmd}");
    assert!(a.join("projects/-src-x/s.jsonl").is_file(), "{a_cmd}");
}

#[test]
fn mcp_answers_pending_requests_before_exiting_when_stdin_closes() {
    use std::io::{Read, Write};
    let sb = Sandbox::new();
    let d = two_accounts(&sb);
    wait_started(&sb, &d);
    let mut c = sb.cmd(d.args(&["mcp"]));
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let init = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"}}});
    let swap = serde_json::json!({"jsonrpc": "2.0", "id": "swap", "method": "tools/call",
        "params": {"name": "failover_swap", "arguments": {"to": "beta"}}});
    writeln!(stdin, "{init}").unwrap();
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .unwrap();
    writeln!(stdin, "{swap}").unwrap();
    drop(stdin);
    let mut out = String::new();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        stdout.read_to_string(&mut out).unwrap();
        out
    });
    let mut status = None;
    assert!(
        wait_until(Duration::from_secs(60), || {
            status = child.try_wait().unwrap();
            status.is_some()
        }),
        "mcp kept running after stdin closed"
    );
    let out = reader.join().unwrap();
    assert!(status.unwrap().success(), "{out}");
    let answers: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let swap = answers
        .iter()
        .find(|a| a["id"] == "swap")
        .unwrap_or_else(|| panic!("the swap was never answered: {out}"));
    assert!(swap.get("result").is_some(), "{swap}");
}

/// Runs `claude-failover <args>` on a pseudo-terminal (Python's `pty`), types `input` and
/// Ctrl-D, and returns everything the terminal showed.
fn on_a_terminal(sb: &Sandbox, args: &[&str], input: &str, env: &[(&str, &str)]) -> String {
    let script = r#"
import os, pty, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
os.write(fd, sys.stdin.buffer.read())
time.sleep(0.2)
os.write(fd, b"\x04")
out = b""
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
"#;
    let mut c = std::process::Command::new("python3");
    sb.env(&mut c);
    for (k, v) in env {
        c.env(k, v);
    }
    c.arg("-c").arg(script).arg(util::BIN).args(args);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn detect_on_a_terminal_says_it_reads_stdin() {
    let sb = Sandbox::new();
    let shown = on_a_terminal(
        &sb,
        &["detect"],
        "You've hit your 5-hour limit · resets 9:38am (UTC)\n",
        &[],
    );
    assert!(
        shown.contains("reading a capture from standard input"),
        "{shown}"
    );
    assert!(shown.contains("Ctrl-D"), "{shown}");
    // Piped input stays quiet.
    let mut c = sb.cmd(["detect"]);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"hello\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("standard input"),
        "{out:?}"
    );
}

#[test]
fn states_are_coloured_on_a_terminal_unless_no_color() {
    let sb = Sandbox::new();
    let d = two_accounts(&sb);
    let resets = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3600);
    d.exhaust("beta", resets);
    wait_state(&sb, &d, 1, "exhausted");
    let args = d.args(&["accounts"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let shown = on_a_terminal(&sb, &args, "", &[("NO_COLOR", "")]);
    assert!(shown.contains("\x1b[31mexhausted\x1b[0m"), "{shown:?}");
    // Columns stay aligned: the colour codes take no width.
    let header = shown.lines().find(|l| l.starts_with("ACCOUNT")).unwrap();
    let beta = shown.lines().find(|l| l.starts_with("beta")).unwrap();
    assert_eq!(
        header.find("USABLE"),
        beta.replace("\x1b[31m", "")
            .replace("\x1b[0m", "")
            .find("no"),
        "{shown:?}"
    );
    let plain = on_a_terminal(&sb, &args, "", &[("NO_COLOR", "1")]);
    assert!(!plain.contains('\x1b'), "{plain:?}");
    assert!(plain.contains("exhausted"), "{plain:?}");
    // Off a terminal: no colour either.
    let r = run60(sb.cmd(d.args(&["accounts"])));
    assert!(!r.stdout.contains('\x1b'), "{r}");
}

#[test]
fn completions_offer_the_configured_account_names() {
    let sb = Sandbox::new();
    let cfg = sb.path("c.toml");
    std::fs::write(
        &cfg,
        "[[accounts]]\nname = \"primary-7f3\"\nconfig_dir = \"~/.claude\"\n\n\
         [[accounts]]\nname = \"backup-9k2\"\nconfig_dir = \"~/.claude-b\"\n",
    )
    .unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let r = run60(sb.cmd(["--config", cfg.to_str().unwrap(), "completions", shell]));
        r.ok();
        for name in ["primary-7f3", "backup-9k2"] {
            assert!(r.stdout.contains(name), "{shell} lacks {name}");
        }
    }
    // In bash, they are what `swap --to <TAB>` offers.
    let r = run60(sb.cmd(["--config", cfg.to_str().unwrap(), "completions", "bash"]));
    let script = sb.path("complete.bash");
    std::fs::write(&script, &r.stdout).unwrap();
    let probe = format!(
        "source {}; COMP_WORDS=(claude-failover swap --to ''); COMP_CWORD=3; \
         _claude__failover claude-failover '' --to; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display()
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&probe)
        .output()
        .unwrap();
    let offered = String::from_utf8_lossy(&out.stdout);
    assert!(
        offered.lines().any(|l| l == "primary-7f3"),
        "{offered}\n{out:?}"
    );
    assert!(offered.lines().any(|l| l == "backup-9k2"), "{offered}");
}
