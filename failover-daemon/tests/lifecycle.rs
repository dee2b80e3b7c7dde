//! The daemon end to end over the testkit fakes, on a paused tokio clock: startup, a quota
//! failover with prompt replay, transient errors, adoption after a restart, a restart after
//! a kill mid-swap, shutdown.

use crate::support as common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use failover_core::{
    AccountId, ClaudeSessionId, Detection, NotificationKind, PersistedState, SessionBackend,
    SessionId, SignalSource, Subject, TransientKind, Verdict,
};
use failover_daemon::{Daemon, ObserverEvent};
use tokio::sync::{Notify, oneshot};

const SESSIONS: [&str; 3] = ["ccl-0", "ccl-1", "ccl-2"];
const ACCOUNTS: [&str; 2] = ["primary", "backup"];
const LIMIT: Duration = Duration::from_secs(120);

fn read_state(tree: &Tree) -> PersistedState {
    let text = std::fs::read_to_string(tree.state_dir().join("state.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(start_paused = true)]
async fn quota_on_the_active_account_moves_every_session_and_replays_its_prompt() {
    let tree = Tree::new(&ACCOUNTS, &SESSIONS);
    let fakes = Fakes::new();
    let (deps, obs) = fakes.deps(&tree);
    let daemon = Daemon::start(tree.config(&ACCOUNTS, &SESSIONS, ""), deps)
        .await
        .unwrap();
    let handle = daemon.handle();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let running = tokio::spawn(daemon.run(async {
        let _ = stop_rx.await;
    }));

    // Fresh start: every session is launched on the preferred account.
    eventually(LIMIT, "all sessions on primary", || {
        fakes.accounts_of(&SESSIONS) == vec![Some("primary".into()); 3]
    })
    .await;
    let conversations: Vec<ClaudeSessionId> = SESSIONS
        .iter()
        .map(|s| fakes.conversation_of(s).unwrap())
        .collect();

    // Each session is mid-turn on a prompt its transcript records.
    let now = handle.clock().now();
    for (s, conv) in SESSIONS.iter().zip(&conversations) {
        tree.write_transcript(s, conv.as_str(), &format!("prompt of {s}"));
        obs.send(activity(s, true, now)).await.unwrap();
    }
    // Activity reaches the engine by way of the session watcher, a detection directly: wait
    // until the engine knows the turns are under way, as it would long before a quota hit.
    handle
        .wait_for(LIMIT, |p| {
            p.snapshot
                .sessions
                .iter()
                .all(|s| s.activity == Some(failover_core::Activity::Working))
        })
        .await
        .expect("every session seen working");
    // The transcript of one session says the five-hour window ran out.
    let reset = now + Duration::from_secs(3 * 3600);
    obs.send(quota_exhausted("ccl-0", reset, now))
        .await
        .unwrap();

    eventually(LIMIT, "all sessions on backup", || {
        fakes.accounts_of(&SESSIONS) == vec![Some("backup".into()); 3]
    })
    .await;
    // Same conversations, resumed (each checkpointed first).
    for (s, conv) in SESSIONS.iter().zip(&conversations) {
        assert_eq!(fakes.conversation_of(s).as_ref(), Some(conv), "{s}");
    }
    assert!(fakes.checkpoints.saves() >= 3);

    // Once each resumed session shows its prompt, the interrupted prompt is sent again.
    let now = handle.clock().now();
    for s in SESSIONS {
        obs.send(activity(s, false, now)).await.unwrap();
    }
    eventually(LIMIT, "every interrupted prompt replayed", || {
        SESSIONS.iter().all(|s| {
            fakes.backend.last_input(&SessionId::new(*s)) == Some(format!("prompt of {s}"))
        })
    })
    .await;

    let p = handle
        .wait_for(LIMIT, |p| p.snapshot.swaps_completed == 1)
        .await
        .expect("one swap completed");
    assert_eq!(
        p.snapshot.active_account.as_ref().map(AccountId::as_str),
        Some("backup")
    );
    assert_eq!(
        handle
            .metrics()
            .detections(SignalSource::Transcript, "quota_exhausted"),
        1
    );
    assert_eq!(handle.metrics().latency_count(), 1);

    // The operator heard of it, with the reset time.
    eventually(LIMIT, "failover notification", || {
        fakes.notifier.received().iter().any(|n| {
            matches!(n.kind, NotificationKind::Failover { .. }) && n.next_reset == Some(reset)
        })
    })
    .await;

    // The state file says where everything is.
    let state = read_state(&tree);
    assert_eq!(
        state.active_account.as_ref().map(AccountId::as_str),
        Some("backup")
    );
    for (s, conv) in SESSIONS.iter().zip(&conversations) {
        let p = &state.sessions[&SessionId::new(*s)];
        assert_eq!(p.account.as_ref().map(AccountId::as_str), Some("backup"));
        assert_eq!(p.claude_session.as_ref(), Some(conv));
    }

    // Graceful shutdown leaves the sessions running and removes the socket.
    stop_tx.send(()).unwrap();
    running.await.unwrap().unwrap();
    assert_eq!(fakes.accounts_of(&SESSIONS), vec![Some("backup".into()); 3]);
    assert!(!tree.socket().exists());
}

#[tokio::test(start_paused = true)]
async fn transient_errors_never_swap() {
    let tree = Tree::new(&ACCOUNTS, &SESSIONS);
    let fakes = Fakes::new();
    let (deps, obs) = fakes.deps(&tree);
    let daemon = Daemon::start(tree.config(&ACCOUNTS, &SESSIONS, ""), deps)
        .await
        .unwrap();
    let handle = daemon.handle();
    let running = tokio::spawn(daemon.run(std::future::pending()));
    eventually(LIMIT, "all sessions on primary", || {
        fakes.accounts_of(&SESSIONS) == vec![Some("primary".into()); 3]
    })
    .await;

    let kinds = [
        TransientKind::ServerError,
        TransientKind::Overloaded,
        TransientKind::Throttled,
        TransientKind::Network,
    ];
    let mut sent = 0;
    for round in 0..5 {
        for (i, kind) in kinds.iter().enumerate() {
            let s = SESSIONS[(round + i) % SESSIONS.len()];
            let source = [SignalSource::Pane, SignalSource::Transcript][i % 2];
            obs.send(ObserverEvent::Observation {
                subject: Subject::Session(SessionId::new(s)),
                source,
                detection: Detection {
                    verdict: Verdict::Transient { kind: *kind },
                    evidence: Some("529 Overloaded · retrying in 2s · attempt 4/10".into()),
                },
                observed_at: handle.clock().now(),
            })
            .await
            .unwrap();
            sent += 1;
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    // Every detection reached the engine…
    eventually(LIMIT, "all detections handled", || {
        handle.metrics().latency_count() == sent
    })
    .await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    // …and nothing moved.
    let p = handle.published();
    assert_eq!(p.snapshot.swaps_completed, 0);
    assert!(p.snapshot.swap.is_none());
    assert_eq!(
        fakes.accounts_of(&SESSIONS),
        vec![Some("primary".into()); 3]
    );
    for s in SESSIONS {
        assert_eq!(
            fakes
                .backend
                .calls(failover_core::testkit::FakeOp::Stop, &SessionId::new(s)),
            0
        );
    }
    running.abort();
}

/// A verdict repeated by an observer reaches the engine and the metrics each time, but the
/// event stream carries it once: a repeated statusline verdict once broadcast thousands of
/// events and SSE readers fell behind. A different verdict, or another source, is news.
#[tokio::test(start_paused = true)]
async fn identical_consecutive_detections_are_broadcast_once() {
    let tree = Tree::new(&ACCOUNTS, &SESSIONS);
    let fakes = Fakes::new();
    let (deps, obs) = fakes.deps(&tree);
    let daemon = Daemon::start(tree.config(&ACCOUNTS, &SESSIONS, ""), deps)
        .await
        .unwrap();
    let handle = daemon.handle();
    let mut events = handle.subscribe();
    let running = tokio::spawn(daemon.run(std::future::pending()));
    eventually(LIMIT, "all sessions on primary", || {
        fakes.accounts_of(&SESSIONS) == vec![Some("primary".into()); 3]
    })
    .await;
    let transient = |kind| Detection {
        verdict: Verdict::Transient { kind },
        evidence: Some("529 Overloaded".into()),
    };
    let session = Subject::Session(SessionId::new("ccl-0"));
    let mut sent = Vec::new();
    for _ in 0..40 {
        sent.push((SignalSource::Pane, transient(TransientKind::Overloaded)));
    }
    sent.push((
        SignalSource::Transcript,
        transient(TransientKind::Overloaded),
    ));
    sent.push((SignalSource::Pane, transient(TransientKind::ServerError)));
    sent.push((SignalSource::Pane, transient(TransientKind::Overloaded)));
    for (source, detection) in &sent {
        obs.send(ObserverEvent::Observation {
            subject: session.clone(),
            source: *source,
            detection: detection.clone(),
            observed_at: handle.clock().now(),
        })
        .await
        .unwrap();
    }
    eventually(LIMIT, "all detections handled", || {
        handle.metrics().latency_count() == u64::try_from(sent.len()).unwrap()
    })
    .await;
    let mut broadcast = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let failover_daemon::events::DaemonEventKind::Input {
            input:
                failover_core::Input::Detection {
                    source, detection, ..
                },
            ..
        } = &e.kind
        {
            broadcast.push((*source, detection.clone()));
        }
    }
    assert_eq!(
        broadcast,
        vec![
            (SignalSource::Pane, transient(TransientKind::Overloaded)),
            (
                SignalSource::Transcript,
                transient(TransientKind::Overloaded)
            ),
            (SignalSource::Pane, transient(TransientKind::ServerError)),
            (SignalSource::Pane, transient(TransientKind::Overloaded)),
        ]
    );
    running.abort();
}

#[tokio::test(start_paused = true)]
async fn a_restarted_daemon_adopts_running_sessions_instead_of_relaunching() {
    let tree = Tree::new(&ACCOUNTS, &SESSIONS);
    let fakes = Fakes::new();
    // First life: sessions launched and recorded.
    {
        let (deps, _obs) = fakes.deps(&tree);
        let daemon = Daemon::start(tree.config(&ACCOUNTS, &SESSIONS, ""), deps)
            .await
            .unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let running = tokio::spawn(daemon.run(async {
            let _ = rx.await;
        }));
        eventually(LIMIT, "all sessions on primary", || {
            fakes.accounts_of(&SESSIONS) == vec![Some("primary".into()); 3]
        })
        .await;
        eventually(LIMIT, "state file records the sessions", || {
            tree.state_dir().join("state.json").exists()
                && read_state(&tree)
                    .sessions
                    .values()
                    .filter(|s| s.claude_session.is_some())
                    .count()
                    == 3
        })
        .await;
        tx.send(()).unwrap();
        running.await.unwrap().unwrap();
    }
    let conversations: Vec<_> = SESSIONS.iter().map(|s| fakes.conversation_of(s)).collect();

    // Second life: nothing is launched again; the sessions are adopted with their
    // conversations.
    let (deps, _obs) = fakes.deps(&tree);
    let daemon = Daemon::start(tree.config(&ACCOUNTS, &SESSIONS, ""), deps)
        .await
        .unwrap();
    let handle = daemon.handle();
    let running = tokio::spawn(daemon.run(std::future::pending()));
    let p = handle
        .wait_for(LIMIT, |p| {
            p.snapshot.sessions.len() == 3
                && p.snapshot
                    .sessions
                    .iter()
                    .all(|s| s.state == failover_core::SessionStateKind::Running)
        })
        .await
        .expect("all sessions adopted as running");
    for (s, conv) in SESSIONS.iter().zip(&conversations) {
        let st = p
            .snapshot
            .sessions
            .iter()
            .find(|x| x.id.as_str() == *s)
            .unwrap();
        assert_eq!(st.claude_session.as_ref(), conv.as_ref());
        assert_eq!(st.account.as_ref().map(AccountId::as_str), Some("primary"));
    }
    tokio::time::sleep(Duration::from_secs(60)).await;
    for s in SESSIONS {
        let sess = fakes.backend.session(&SessionId::new(s)).unwrap();
        assert_eq!(sess.launches, 1, "{s} was launched again");
    }
    running.abort();
}

#[tokio::test(start_paused = true)]
async fn a_daemon_killed_mid_swap_finishes_the_swap_on_restart() {
    let tree = Tree::new(&ACCOUNTS, &SESSIONS);
    let fakes = Fakes::new();
    let held = Arc::new(Notify::new());
    let gated: Arc<dyn SessionBackend> = Arc::new(HeldLaunches {
        inner: fakes.backend.clone(),
        hold_on: AccountId::new("backup"),
        release: Arc::new(Notify::new()),
        held: held.clone(),
    });
    let (deps, obs) = fakes.deps_with(&tree, gated);
    // Every session of the swap moves at once, so all of them are caught mid-move.
    let policy = "[policy]\nparallel_moves = 3\n";
    let daemon = Daemon::start(tree.config(&ACCOUNTS, &SESSIONS, policy), deps)
        .await
        .unwrap();
    let handle = daemon.handle();
    let first = tokio::spawn(daemon.run(std::future::pending()));
    eventually(LIMIT, "all sessions on primary", || {
        fakes.accounts_of(&SESSIONS) == vec![Some("primary".into()); 3]
    })
    .await;
    let conversations: Vec<_> = SESSIONS
        .iter()
        .map(|s| fakes.conversation_of(s).unwrap())
        .collect();
    let now = handle.clock().now();
    obs.send(quota_exhausted(
        "ccl-1",
        now + Duration::from_secs(3600),
        now,
    ))
    .await
    .unwrap();
    // Every session is stopped and a launch on the backup account is in flight…
    held.notified().await;
    eventually(LIMIT, "every session stopped", || {
        fakes.accounts_of(&SESSIONS).iter().all(Option::is_none)
    })
    .await;
    eventually(LIMIT, "the swap is persisted", || {
        read_state(&tree).swap.is_some()
    })
    .await;
    // …when the daemon dies without any chance to clean up.
    first.abort();
    let _ = first.await;
    let stopped: Vec<_> = fakes
        .accounts_of(&SESSIONS)
        .into_iter()
        .filter(Option::is_none)
        .collect();
    assert_eq!(stopped.len(), 3, "every session was caught stopped");
    assert!(read_state(&tree).swap.is_some());
    // The stale socket of the dead daemon does not stop the next one.
    assert!(tree.socket().exists());

    let (deps, _obs) = fakes.deps(&tree);
    let daemon = Daemon::start(tree.config(&ACCOUNTS, &SESSIONS, policy), deps)
        .await
        .unwrap();
    let handle = daemon.handle();
    let second = tokio::spawn(daemon.run(std::future::pending()));
    eventually(LIMIT, "all sessions on backup after the restart", || {
        fakes.accounts_of(&SESSIONS) == vec![Some("backup".into()); 3]
    })
    .await;
    handle
        .wait_for(LIMIT, |p| p.snapshot.swap.is_none())
        .await
        .expect("the swap is finished");
    for (s, conv) in SESSIONS.iter().zip(&conversations) {
        let sess = fakes.backend.session(&SessionId::new(*s)).unwrap();
        assert_eq!(&sess.claude_session, conv, "{s} kept its conversation");
        // One launch on primary, one on backup: never two copies.
        assert_eq!(sess.launches, 2, "{s}");
    }
    eventually(LIMIT, "state file shows the swap done", || {
        let st = read_state(&tree);
        st.swap.is_none() && st.active_account.as_ref().map(AccountId::as_str) == Some("backup")
    })
    .await;
    second.abort();
}

#[tokio::test(start_paused = true)]
async fn a_session_that_dies_is_relaunched_with_its_conversation() {
    let tree = Tree::new(&ACCOUNTS, &["ccl-0"]);
    let fakes = Fakes::new();
    let (deps, _obs) = fakes.deps(&tree);
    let daemon = Daemon::start(tree.config(&ACCOUNTS, &["ccl-0"], ""), deps)
        .await
        .unwrap();
    let running = tokio::spawn(daemon.run(std::future::pending()));
    let s = SessionId::new("ccl-0");
    eventually(LIMIT, "launched", || fakes.backend.account_of(&s).is_some()).await;
    let conv = fakes.conversation_of("ccl-0").unwrap();
    // The process dies; no observer tells (NoObservers): the liveness poll notices.
    fakes.backend.kill(&s);
    eventually(LIMIT, "relaunched", || {
        fakes
            .backend
            .session(&s)
            .is_some_and(|x| x.alive && x.launches == 2)
    })
    .await;
    assert_eq!(fakes.conversation_of("ccl-0"), Some(conv));
    running.abort();
}
