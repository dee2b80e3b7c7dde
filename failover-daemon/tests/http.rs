//! The control plane against a running daemon (real clock, real sockets): status, commands
//! and their errors, the event stream, metrics, socket permissions, the TCP token.

use crate::support as common;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::sync::Arc;
use std::time::Duration;

use common::http::{self as client};
use common::*;
use failover_core::{AccountId, SessionBackend};
use failover_daemon::http::dto::{EventDto, StatusDto};
use failover_daemon::{Daemon, DaemonError, DaemonHandle};
use tokio::sync::Notify;

const ACCOUNTS: [&str; 3] = ["primary", "backup", "spare"];
const SESSIONS: [&str; 2] = ["ccl-0", "ccl-1"];
const LIMIT: Duration = Duration::from_secs(20);

struct Running {
    tree: Tree,
    fakes: Fakes,
    handle: DaemonHandle,
    obs: tokio::sync::mpsc::Sender<failover_daemon::ObserverEvent>,
    task: tokio::task::JoinHandle<Result<(), DaemonError>>,
}

async fn start(extra: &str) -> Running {
    start_holding(extra, None).await.0
}

/// A running daemon whose launches on `held_on`, if any, wait forever; the `Notify`
/// fires at each launch held.
async fn start_holding(extra: &str, held_on: Option<&str>) -> (Running, Arc<Notify>) {
    let tree = Tree::new(&ACCOUNTS, &SESSIONS);
    let fakes = Fakes::new();
    let held = Arc::new(Notify::new());
    let (deps, obs) = match held_on {
        Some(account) => {
            let gated: Arc<dyn SessionBackend> = Arc::new(HeldLaunches {
                inner: fakes.backend.clone(),
                hold_on: AccountId::new(account),
                release: Arc::new(Notify::new()),
                held: held.clone(),
            });
            fakes.deps_with(&tree, gated)
        }
        None => fakes.deps(&tree),
    };
    let daemon = Daemon::start(tree.config(&ACCOUNTS, &SESSIONS, extra), deps)
        .await
        .unwrap();
    let handle = daemon.handle();
    let task = tokio::spawn(daemon.run(std::future::pending()));
    eventually(LIMIT, "sessions running", || {
        fakes.accounts_of(&SESSIONS) == vec![Some("primary".into()); 2]
    })
    .await;
    handle
        .wait_for(LIMIT, |p| {
            p.snapshot
                .sessions
                .iter()
                .all(|s| s.claude_session.is_some())
        })
        .await
        .unwrap();
    let running = Running {
        tree,
        fakes,
        handle,
        obs,
        task,
    };
    (running, held)
}

#[tokio::test]
async fn the_control_socket_is_owner_only() {
    let r = start("").await;
    let meta = std::fs::symlink_metadata(r.tree.socket()).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // No staging directory is left behind.
    let stray: Vec<_> = std::fs::read_dir(r.tree.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".cf-sock"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    r.task.abort();
}

#[tokio::test]
async fn status_shows_accounts_sessions_and_the_daemon() {
    let r = start("").await;
    let reply = client::unix(&r.tree.socket(), "GET", "/v1/status", "").await;
    assert_eq!(reply.status, 200);
    assert!(reply.content_type.starts_with("application/json"));
    let status: StatusDto = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(status.api_version, 1);
    assert_eq!(status.active_account.as_deref(), Some("primary"));
    assert_eq!(
        status
            .accounts
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>(),
        ACCOUNTS
    );
    assert!(status.accounts.iter().all(|a| a.usable));
    assert_eq!(status.sessions.len(), 2);
    for s in &status.sessions {
        assert_eq!(s.account.as_deref(), Some("primary"));
        assert_eq!(s.state, "running");
        let conv = r.fakes.conversation_of(&s.name).unwrap();
        assert_eq!(s.claude_session.as_deref(), Some(conv.as_str()));
    }
    assert!(!status.paused);
    assert!(status.swap.is_none());
    assert_eq!(status.daemon.pid, std::process::id());

    let missing = client::unix(&r.tree.socket(), "GET", "/v1/nope", "").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["code"], "not_found");
    r.task.abort();
}

#[tokio::test]
async fn swap_pause_and_resume_answer_with_json() {
    let r = start("").await;
    let sock = r.tree.socket();

    let unknown = client::unix(&sock, "POST", "/v1/swap", r#"{"to":"nobody"}"#).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert_eq!(unknown.json()["error"]["code"], "unknown_account");

    let bad = client::unix(&sock, "POST", "/v1/swap", "{not json").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["code"], "bad_request");

    let ok = client::unix(&sock, "POST", "/v1/swap", r#"{"to":"spare"}"#).await;
    assert_eq!(ok.status, 202, "{}", ok.body);
    assert_eq!(ok.json()["command"], "swap_to");
    assert_eq!(ok.json()["to"], "spare");
    eventually(LIMIT, "sessions on spare", || {
        r.fakes.accounts_of(&SESSIONS) == vec![Some("spare".into()); 2]
    })
    .await;
    r.handle
        .wait_for(LIMIT, |p| {
            p.snapshot.swap.is_none() && p.snapshot.swaps_completed == 1
        })
        .await
        .unwrap();

    // The account that just ran out cannot be swapped to.
    let now = r.handle.clock().now();
    r.obs
        .send(quota_exhausted(
            "ccl-0",
            now + Duration::from_secs(3600),
            now,
        ))
        .await
        .unwrap();
    r.handle
        .wait_for(LIMIT, |p| {
            p.snapshot.swaps_completed == 2 && p.snapshot.swap.is_none()
        })
        .await
        .unwrap();
    let status: StatusDto =
        serde_json::from_str(&client::unix(&sock, "GET", "/v1/status", "").await.body).unwrap();
    let spare = status.accounts.iter().find(|a| a.name == "spare").unwrap();
    assert_eq!(spare.state, "exhausted");
    assert!(!spare.usable);
    assert!(spare.resets_at.is_some() && spare.resets_at_ms.is_some());
    let unusable = client::unix(&sock, "POST", "/v1/swap", r#"{"to":"spare"}"#).await;
    assert_eq!(unusable.status, 422, "{}", unusable.body);
    assert_eq!(unusable.json()["error"]["code"], "account_unusable");

    let paused = client::unix(&sock, "POST", "/v1/pause", "").await;
    assert_eq!(paused.status, 200, "{}", paused.body);
    let status: StatusDto =
        serde_json::from_str(&client::unix(&sock, "GET", "/v1/status", "").await.body).unwrap();
    assert!(status.paused);
    let refused = client::unix(&sock, "POST", "/v1/swap", "").await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert_eq!(refused.json()["error"]["code"], "not_running");
    let resumed = client::unix(&sock, "POST", "/v1/resume", "").await;
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    r.task.abort();
}

#[tokio::test]
async fn a_second_swap_while_one_runs_is_a_conflict() {
    // Hold the first swap mid-move: its launches on backup never finish.
    let (r, held) = start_holding("", Some("backup")).await;
    let sock = r.tree.socket();
    let first = client::unix(&sock, "POST", "/v1/swap", r#"{"to":"backup"}"#).await;
    assert_eq!(first.status, 202, "{}", first.body);
    held.notified().await;
    let second = client::unix(&sock, "POST", "/v1/swap", r#"{"to":"spare"}"#).await;
    assert_eq!(second.status, 409, "{}", second.body);
    assert_eq!(second.json()["error"]["code"], "swap_in_progress");
    r.task.abort();
}

#[tokio::test]
async fn events_stream_every_decision() {
    let r = start("").await;
    let mut stream = client::events(&r.tree.socket()).await;
    assert_eq!(stream.status(), 200);
    let now = r.handle.clock().now();
    r.obs
        .send(quota_exhausted(
            "ccl-1",
            now + Duration::from_secs(3600),
            now,
        ))
        .await
        .unwrap();
    let seen = client::read_events_until(&mut stream, |v| {
        v["kind"] == "effect" && v["effect"] == "launch" && v["account"] == "backup"
    })
    .await;
    let events: Vec<EventDto> = seen
        .iter()
        .map(|v| serde_json::from_value(v.clone()).unwrap())
        .collect();
    let detection = seen
        .iter()
        .find(|v| v["kind"] == "detection")
        .expect("the detection is streamed");
    assert_eq!(detection["verdict"], "quota_exhausted");
    assert_eq!(detection["source"], "transcript");
    assert_eq!(detection["subject"], "ccl-1");
    assert!(detection["latency_ms"].is_u64());
    assert!(
        seen.iter()
            .any(|v| v["kind"] == "effect" && v["effect"] == "checkpoint")
    );
    assert!(
        seen.iter()
            .any(|v| v["kind"] == "effect" && v["effect"] == "stop")
    );
    assert!(
        seen.iter()
            .any(|v| v["kind"] == "effect_finished" && v["outcome"] == "stopped")
    );
    // Numbered in order.
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    r.task.abort();
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let r = start("").await;
    let now = r.handle.clock().now();
    r.obs
        .send(quota_exhausted(
            "ccl-0",
            now + Duration::from_secs(3600),
            now,
        ))
        .await
        .unwrap();
    r.handle
        .wait_for(LIMIT, |p| p.snapshot.swaps_completed == 1)
        .await
        .unwrap();
    let reply = client::unix(&r.tree.socket(), "GET", "/metrics", "").await;
    assert_eq!(reply.status, 200);
    assert!(reply.content_type.starts_with("text/plain"));
    let m = reply.body;
    for needle in [
        "claude_failover_swaps_total 1",
        "claude_failover_detections_total{source=\"transcript\",verdict=\"quota_exhausted\"} 1",
        "claude_failover_detection_latency_seconds_count 1",
        "claude_failover_detection_latency_seconds_bucket{le=\"+Inf\"} 1",
        "claude_failover_sessions{state=\"running\"} 2",
        "claude_failover_account_state{account=\"primary\",state=\"exhausted\"} 1",
    ] {
        assert!(m.contains(needle), "missing {needle:?} in\n{m}");
    }
    r.task.abort();
}

#[tokio::test]
async fn a_second_daemon_on_the_same_socket_is_refused() {
    let r = start("").await;
    let fakes = Fakes::new();
    let (deps, _obs) = fakes.deps(&r.tree);
    let mut cfg = r.tree.config(&ACCOUNTS, &SESSIONS, "");
    cfg.state_dir = r.tree.path().join("state2");
    let err = Daemon::start(cfg, deps).await.unwrap_err();
    assert!(matches!(err, DaemonError::AlreadyRunning(_)), "{err}");
    assert!(err.to_string().contains("already listening"), "{err}");
    // The first one still answers.
    assert_eq!(
        client::unix(&r.tree.socket(), "GET", "/v1/status", "")
            .await
            .status,
        200
    );
    r.task.abort();
}

#[tokio::test]
async fn a_file_in_the_way_of_the_socket_is_never_removed() {
    let tree = Tree::new(&ACCOUNTS, &SESSIONS);
    std::fs::write(tree.socket(), b"precious").unwrap();
    let fakes = Fakes::new();
    let (deps, _obs) = fakes.deps(&tree);
    let err = Daemon::start(tree.config(&ACCOUNTS, &SESSIONS, ""), deps)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a socket"), "{err}");
    assert_eq!(std::fs::read(tree.socket()).unwrap(), b"precious");
}

#[tokio::test]
async fn tcp_without_a_usable_token_refuses_to_start() {
    let tree = Tree::new(&ACCOUNTS, &SESSIONS);
    let token = tree.path().join("token");
    std::fs::write(&token, "short\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let fakes = Fakes::new();
    let (deps, _obs) = fakes.deps(&tree);
    let extra = format!(
        "tcp = \"127.0.0.1:0\"\ntoken_file = \"{}\"",
        token.display()
    );
    let cfg = tree.config(&ACCOUNTS, &SESSIONS, "");
    // The [control] table is already open in the generated file; add the keys to it.
    let text = tree.toml(&ACCOUNTS, &SESSIONS, "").replacen(
        "[control]\n",
        &format!("[control]\n{extra}\n"),
        1,
    );
    let env = |_: &str| None;
    let cfg_tcp = failover_daemon::DaemonConfig::parse(
        &text,
        std::path::Path::new("config.toml"),
        tree.path(),
        &env,
    )
    .unwrap();
    assert_eq!(cfg.control.socket, cfg_tcp.control.socket);
    let err = Daemon::start(cfg_tcp.clone(), deps).await.unwrap_err();
    assert!(matches!(err, DaemonError::TcpWithoutToken { .. }), "{err}");
    assert!(err.to_string().contains("at least 16 characters"), "{err}");

    // A good token in a file others can read is refused, not only warned about.
    std::fs::write(&token, "0123456789abcdef-long-enough\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (deps, _obs) = fakes.deps(&tree);
    let err = Daemon::start(cfg_tcp.clone(), deps).await.unwrap_err();
    assert!(matches!(err, DaemonError::TcpWithoutToken { .. }), "{err}");
    assert!(err.to_string().contains("chmod 600"), "{err}");
    assert!(!err.to_string().contains("long-enough"), "{err}");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let tcp = cfg_tcp.control.tcp.clone().unwrap();
    assert_eq!(
        failover_daemon::http::read_token(&tcp).unwrap(),
        "0123456789abcdef-long-enough"
    );

    // An unreadable token file is refused the same way.
    std::fs::remove_file(&token).unwrap();
    let (deps, _obs) = fakes.deps(&tree);
    let err = Daemon::start(cfg_tcp, deps).await.unwrap_err();
    assert!(matches!(err, DaemonError::TcpWithoutToken { .. }), "{err}");
}

#[tokio::test]
async fn tcp_requires_the_bearer_token_on_every_request() {
    let tree = Tree::new(&ACCOUNTS, &SESSIONS);
    let secret = "0123456789abcdef-secret";
    let token = tree.path().join("token");
    std::fs::write(&token, format!("{secret}\n")).unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = tree.toml(&ACCOUNTS, &SESSIONS, "").replacen(
        "[control]\n",
        &format!(
            "[control]\ntcp = \"127.0.0.1:0\"\ntoken_file = \"{}\"\n",
            token.display()
        ),
        1,
    );
    let env = |_: &str| None;
    let cfg = failover_daemon::DaemonConfig::parse(
        &text,
        std::path::Path::new("config.toml"),
        tree.path(),
        &env,
    )
    .unwrap();
    let fakes = Fakes::new();
    let (deps, _obs) = fakes.deps(&tree);
    let daemon = Daemon::start(cfg, deps).await.unwrap();
    let addr = daemon.handle().tcp_addr().expect("tcp bound");
    let task = tokio::spawn(daemon.run(std::future::pending()));

    for (token, expected) in [
        (None, 401),
        (Some("wrong"), 401),
        (Some("0123456789abcdef-secreT"), 401),
        (Some(secret), 200),
    ] {
        for path in ["/v1/status", "/metrics", "/v1/events"] {
            if path == "/v1/events" && expected == 200 {
                continue;
            }
            let reply = client::tcp(addr, "GET", path, token).await;
            assert_eq!(
                reply.status, expected,
                "{path} with {token:?}: {}",
                reply.body
            );
            if expected == 401 {
                assert_eq!(reply.json()["error"]["code"], "unauthorized");
            }
        }
    }
    let swap = client::tcp(addr, "POST", "/v1/pause", None).await;
    assert_eq!(swap.status, 401);
    task.abort();
}

/// A running daemon with a TCP listener; `control` is added to its `[control]` table.
async fn tcp_daemon(
    control: &str,
) -> (
    Tree,
    std::net::SocketAddr,
    tokio::task::JoinHandle<Result<(), DaemonError>>,
) {
    let tree = Tree::new(&ACCOUNTS, &SESSIONS);
    let token = tree.path().join("token");
    std::fs::write(&token, format!("{TCP_SECRET}\n")).unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = tree.toml(&ACCOUNTS, &SESSIONS, "").replacen(
        "[control]\n",
        &format!(
            "[control]\ntcp = \"127.0.0.1:0\"\ntoken_file = \"{}\"\n{control}\n",
            token.display()
        ),
        1,
    );
    let env = |_: &str| None;
    let cfg = failover_daemon::DaemonConfig::parse(
        &text,
        std::path::Path::new("config.toml"),
        tree.path(),
        &env,
    )
    .unwrap();
    let fakes = Fakes::new();
    let (deps, _obs) = fakes.deps(&tree);
    let daemon = Daemon::start(cfg, deps).await.unwrap();
    let addr = daemon.handle().tcp_addr().expect("tcp bound");
    let task = tokio::spawn(daemon.run(std::future::pending()));
    (tree, addr, task)
}

const TCP_SECRET: &str = "0123456789abcdef-secret";

/// Sends a complete status request on `conn`; what came back before the answer's headers
/// ended or the connection closed (within 5 s).
async fn raw_status(conn: &mut tokio::net::TcpStream) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let req =
        format!("GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TCP_SECRET}\r\n\r\n");
    if conn.write_all(req.as_bytes()).await.is_err() {
        return String::new();
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn tcp_closes_a_connection_that_does_not_send_its_headers_in_time() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_tree, addr, task) = tcp_daemon("header_timeout_secs = 1").await;
    // Headers started and never finished.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // And a connection that says nothing at all.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    for conn in [&mut slow, &mut silent] {
        let mut buf = [0u8; 1024];
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the connection is still open after 10 s");
    }
    // A client that sends its request is served.
    let mut ok = tokio::net::TcpStream::connect(addr).await.unwrap();
    let reply = raw_status(&mut ok).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    task.abort();
}

#[tokio::test]
async fn tcp_closes_connections_beyond_the_cap_and_serves_again_when_one_ends() {
    let (_tree, addr, task) = tcp_daemon("max_connections = 2").await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        let reply = raw_status(&mut c).await;
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        held.push(c); // kept open (keep-alive)
    }
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    let reply = raw_status(&mut third).await;
    assert_eq!(reply, "", "a third connection is closed unanswered");

    drop(held.pop());
    let deadline = std::time::Instant::now() + LIMIT;
    loop {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        if raw_status(&mut c).await.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
}
