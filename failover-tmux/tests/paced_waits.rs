//! The waits inside the backend's operations (a stop's interrupt, a standby's start, a
//! launch's `/resume`, `send_input`) look at their pane again when it printed something,
//! not every 20-25 ms, once the observers' control client runs (the daemon's observers start
//! it): each look is a `tmux` client process, CPU that the programs of a move need. A pane
//! that prints nothing is looked at every 250 ms, so these tests bound the clients a wait
//! at a quiet pane starts by its length over that, where a wait on the clock starts ten
//! times as many.

use crate::support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use failover_core::quota::PaneDetector;
use failover_core::{
    AccountId, Activity, BackendError, ClaudeSessionId, LaunchRequest, SessionBackend, SessionId,
};
use failover_tmux::observe::{ObserverEvent, PaneObserver, PaneObserverConfig};
use support::{TestServer, eventually};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(10);
/// How long a quiet, watched pane goes without a look.
const SAFETY_LOOK: Duration = Duration::from_millis(250);
/// The clients an operation starts besides its looks (its own commands, the watch of the
/// pane, the observers' bookkeeping of windows linked and unlinked), generously.
const BESIDES_LOOKS: u64 = 24;

fn request(srv: &TestServer, name: &str, dir: &std::path::Path) -> LaunchRequest {
    LaunchRequest {
        session: SessionId::new(name),
        dir: dir.to_owned(),
        account: AccountId::new("a"),
        config_dir: srv.dir("config-a"),
        resume: None,
    }
}

/// Observes `session` (which starts the server's shared control client, as the daemon's
/// observers do) until its idle prompt is reported; the observer keeps running.
async fn observe(srv: &TestServer, session: &SessionId) -> JoinHandle<()> {
    let (tx, mut rx) = mpsc::channel(64);
    let observer = PaneObserver::new(
        &srv.backend,
        session.clone(),
        Arc::new(PaneDetector::new()),
        tx,
        PaneObserverConfig::default(),
    );
    tokio::spawn(async move {
        let _ = observer.run().await;
    });
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(until, rx.recv()).await {
            Ok(Some(ObserverEvent::Activity {
                activity: Activity::Idle,
                ..
            })) => break,
            Ok(Some(_)) => {}
            other => panic!("no idle report: {other:?}"),
        }
    }
    // Drained from now on: a full channel would hold the observer up.
    tokio::spawn(async move { while rx.recv().await.is_some() {} })
}

/// Launches `name` fresh and waits for the stand-in's prompt.
async fn launch(srv: &TestServer, name: &str) -> LaunchRequest {
    let req = request(srv, name, &srv.dir("proj"));
    srv.backend.launch(&req).await.unwrap();
    eventually(WAIT, "the stand-in's prompt", || async {
        let c = srv.backend.capture(&req.session).await.ok()?;
        c.text.contains('❯').then_some(())
    })
    .await;
    req
}

/// The most clients a wait of `waited` at a quiet pane may start, `per_look` a look,
/// within an operation.
fn bound(waited: Duration, per_look: u64) -> u64 {
    let looks = (waited.as_millis() / SAFETY_LOOK.as_millis()) as u64 + 2;
    looks * per_look + BESIDES_LOOKS
}

#[tokio::test]
async fn a_stop_waiting_for_a_turn_to_end_looks_when_the_pane_prints() {
    let srv = TestServer::with(|c| c.interrupt_settle = Duration::from_secs(3));
    let req = launch(&srv, "busy").await;
    let _observer = observe(&srv, &req.session).await;
    // A turn that ignores the interrupt: the stop waits its whole interrupt wait.
    srv.backend.send_input(&req.session, "WORK").await.unwrap();
    eventually(WAIT, "the turn under way", || async {
        let c = srv.backend.capture(&req.session).await.ok()?;
        c.text.contains("esc to interrupt").then_some(())
    })
    .await;

    let transport = srv.backend.transport();
    let before = transport.clients_started();
    let started = Instant::now();
    srv.backend
        .stop(&req.session, Duration::from_secs(20))
        .await
        .unwrap();
    let waited = started.elapsed();
    let clients = transport.clients_started() - before;
    eprintln!("a stop of {waited:?}: {clients} tmux clients");
    assert!(
        waited >= Duration::from_secs(3),
        "the stop waited for the interrupted turn to end: {waited:?}"
    );
    // On the clock: a capture every 25 ms, 120 in the interrupt wait alone.
    assert!(
        clients <= bound(waited, 1),
        "{clients} tmux clients in a stop of {waited:?} (at most {})",
        bound(waited, 1)
    );
    assert!(srv.backend.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_standby_that_starts_slowly_is_looked_at_when_its_pane_prints() {
    // The standby (it alone has FAILOVER_STANDBY_FOR set) prints a line and then nothing,
    // never reaching its prompt; sessions run the stand-in.
    let srv = TestServer::with(|c| {
        c.standby_timeout = Duration::from_secs(3);
        let standin = c.claude_command[1].clone();
        c.claude_command = vec![
            "/bin/sh".into(),
            "-c".into(),
            "if [ -n \"$FAILOVER_STANDBY_FOR\" ]; then printf 'starting\\n'; exec sleep 600; fi; exec /bin/sh \"$0\"".into(),
            standin,
        ];
    });
    let anchor = launch(&srv, "anchor").await;
    let _observer = observe(&srv, &anchor.session).await;
    let mut req = request(&srv, "slow", &srv.dir("proj"));
    req.account = AccountId::new("b");
    req.config_dir = srv.dir("config-b");
    req.resume = Some(ClaudeSessionId::new("0b8f3c1e-3f7a-4a52-9a55-3a1c1d2e3f40"));

    let transport = srv.backend.transport();
    let before = transport.clients_started();
    let started = Instant::now();
    let err = srv.backend.prepare(&req).await.unwrap_err();
    let waited = started.elapsed();
    let clients = transport.clients_started() - before;
    eprintln!("a prepare of {waited:?}: {clients} tmux clients");
    assert!(
        matches!(&err, BackendError::Command { op: "prepare", detail } if detail.contains("did not show its idle prompt")),
        "{err}"
    );
    // On the clock: a look every 20 ms, 150 in the wait alone.
    assert!(
        clients <= bound(waited, 1),
        "{clients} tmux clients in a prepare of {waited:?} (at most {})",
        bound(waited, 1)
    );
    assert_eq!(
        srv.backend.list().await.unwrap(),
        vec![anchor.session.clone()]
    );
    let all = srv.tmux(&["list-sessions", "-F", "#{session_name}"]);
    assert!(!all.contains("standby"), "{all}");
}

/// With the observers' client running, a whole move over a standby (the stop asking the
/// program to exit, the standby put in the session's place and `/resume` typed, a prompt
/// sent) works as on the clock, leaves no window linked into the observers' session but
/// those observed, and the session's observer started after the launch (as the daemon
/// starts one) hears it: the waits' watches of the window ended without unlinking it from
/// under that observer.
#[tokio::test]
async fn a_move_over_a_standby_with_the_observers_running() {
    let srv = TestServer::new();
    let on_a = launch(&srv, "mv").await;
    let first = observe(&srv, &on_a.session).await;
    let mut to_b = on_a.clone();
    to_b.account = AccountId::new("b");
    to_b.config_dir = srv.dir("config-b");
    to_b.resume = Some(ClaudeSessionId::new("0b8f3c1e-3f7a-4a52-9a55-3a1c1d2e3f40"));
    crate::standby::write_transcript(&to_b);
    srv.backend.prepare(&to_b).await.unwrap();
    srv.backend
        .stop(&on_a.session, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(
        crate::standby::logged(&srv, "exit-requested").len(),
        1,
        "asked to exit: {}",
        srv.log()
    );
    first.abort();
    let launched = srv.backend.launch(&to_b).await.unwrap();
    assert_eq!(
        launched.unanswered_prompt.as_deref(),
        Some("port the parser")
    );
    assert_eq!(
        crate::standby::logged(&srv, "resumed:").len(),
        1,
        "resumed in the standby: {}",
        srv.log()
    );
    assert_eq!(
        crate::standby::logged(&srv, "args:").len(),
        2,
        "no cold start"
    );

    // Observed again, at once, as the daemon does after a launch.
    let (tx, mut rx) = mpsc::channel(64);
    let observer = support::spawn_observer(&srv.backend, to_b.session.clone(), tx);
    srv.backend
        .send_input(&to_b.session, "port the parser")
        .await
        .unwrap();
    eventually(WAIT, "the replayed prompt in the log", || async {
        crate::standby::logged(&srv, "line:")
            .contains(&"port the parser".to_owned())
            .then_some(())
    })
    .await;
    srv.backend.send_input(&to_b.session, "WORK").await.unwrap();
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(until, rx.recv()).await {
            Ok(Some(ObserverEvent::Activity {
                activity: Activity::Working,
                ..
            })) => break,
            Ok(Some(_)) => {}
            other => panic!("the observer did not hear the turn: {other:?}"),
        }
    }
    // Linked into the observers' session: its own window and the observed session's.
    eventually(WAIT, "the waits' windows unlinked", || async {
        let windows = srv.tmux(&["list-windows", "-a", "-F", "#{session_name}"]);
        let linked = windows
            .lines()
            .filter(|s| s.starts_with("failover observer"))
            .count();
        (linked == 2).then_some(())
    })
    .await;
    observer.abort();
}
