//! A move launched from a standby (`SessionBackend::prepare`, then `launch`), over real tmux
//! against the mock API: a session refused by the quota on account a is stopped and
//! launched on b from the program prepared there. Same conversation id, history carried,
//! the replayed prompt answered exactly once, and the launch's wall time set against a
//! cold launch of the same conversation (printed). Run with the bundled stand-in always,
//! and with the real CLI when `CLAUDE_FAILOVER_REAL_CLAUDE` is set (skipped, loudly,
//! otherwise).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::{TwoAccounts, tmux_config};
use failover_core::quota::{activity_from_screen, input_box};
use failover_core::{AccountId, Activity, LaunchRequest, ResumedTurn, SessionBackend, SessionId};

use failover_sim::mock_api::{ClaimWindow, Mode, ack_text};
use failover_sim::tmux::PrivateTmux;
use failover_tmux::observe::{ObserverEvent, PaneObserver, PaneObserverConfig};
use failover_tmux::{Socket, TmuxBackend, statusline};

const WAIT: Duration = Duration::from_secs(60);
const STANDIN: &str = env!("CARGO_BIN_EXE_claude-standin");

fn real_claude() -> Option<PathBuf> {
    match std::env::var_os("CLAUDE_FAILOVER_REAL_CLAUDE") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            eprintln!(
                "\n*** SKIPPED: CLAUDE_FAILOVER_REAL_CLAUDE is not set; the real-CLI standby test did not run. \
                 Run scripts/test.sh (it installs the pinned CLI) to run it. ***\n"
            );
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_from_a_standby_with_the_standin() {
    move_from_a_standby(Path::new(STANDIN), false, 120).await;
}

/// In a pane narrower than the typed `/resume <id>`, the input box wraps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_from_a_standby_in_a_narrow_pane_with_the_standin() {
    move_from_a_standby(Path::new(STANDIN), false, 40).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_from_a_standby_with_the_real_cli() {
    let Some(claude) = real_claude() else {
        return;
    };
    move_from_a_standby(&claude, true, 120).await;
}

/// Waits until `f` gives `Some`, failing with `what` after [`WAIT`].
async fn until<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn idle_showing(backend: &TmuxBackend, session: &SessionId, text: &str) -> String {
    until(&format!("an idle screen showing {text:?}"), async || {
        let screen = backend.capture(session).await.ok()?.text;
        (activity_from_screen(&screen) == Some(Activity::Idle) && screen.contains(text))
            .then_some(screen)
    })
    .await
}

/// Types `text` into the session's input box without sending it, and waits until it shows.
async fn type_draft(tmux: &PrivateTmux, backend: &TmuxBackend, session: &SessionId, text: &str) {
    let target = format!("={}:", session.as_str());
    tmux.run(&["send-keys", "-t", &target, "-l", text]).unwrap();
    box_shows(backend, session, text).await;
}

/// Waits until the session's input box holds `text`.
async fn box_shows(backend: &TmuxBackend, session: &SessionId, text: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let screen = backend.capture_ansi(session).await.unwrap().text;
        if input_box(&screen).unwrap_or_default() == text {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for the input box holding {text:?}; it holds {:?} on\n{}",
            input_box(&screen),
            backend.capture(session).await.unwrap().text
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A pane observer of `session`, with the daemon's detector and settings, reporting to `tx`.
fn observe(
    backend: &TmuxBackend,
    session: &SessionId,
    tx: tokio::sync::mpsc::Sender<ObserverEvent>,
) -> tokio::task::JoinHandle<Result<(), failover_tmux::ObserveError>> {
    tokio::spawn(
        PaneObserver::new(
            backend,
            session.clone(),
            std::sync::Arc::new(failover_core::quota::PaneDetector::new()),
            tx,
            PaneObserverConfig::default(),
        )
        .run(),
    )
}

/// Asserts that no request to the API carried `text` as its user text.
fn never_sent(api: &failover_sim::mock_api::MockApi, text: &str) {
    assert!(
        api.requests()
            .iter()
            .all(|r| !r.last_user_text.as_deref().unwrap_or("").contains(text)),
        "{text:?} was sent: {:#?}",
        api.requests()
    );
}

fn transcript_shows(path: &Path, what: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(what) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "transcript never showed {what}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn move_from_a_standby(program: &Path, real: bool, width: u16) {
    let TwoAccounts {
        tmp: _tmp,
        root,
        project,
        api,
        accounts,
        ..
    } = TwoAccounts::start("standby").await;
    let spool_b = root.join("spool-b");
    std::fs::create_dir_all(&spool_b).unwrap();
    statusline::install(&accounts[1].dir, &spool_b).unwrap();
    let tmux = PrivateTmux::new("sim-standby");
    let mut config = tmux_config(
        Socket::Name(tmux.socket().to_owned()),
        program,
        &api,
        &accounts,
    );
    config.width = width;
    config.standby_timeout = WAIT;
    config.standby_resume_timeout = WAIT;
    let backend = TmuxBackend::new(config).unwrap();
    let session = SessionId::new("mv-0");

    // On a: one answered turn.
    let request = crate::support::new_conversation(&session, &project, "a", &accounts[0]);
    let id = backend.launch(&request).await.unwrap().claude_session;
    let transcript = accounts[0].transcript_path(&project, id.as_str());
    // Observed throughout, as the daemon observes its sessions (what it reports is checked
    // below, from the launch on b, by an observer of its own): the backend's waits then
    // look at a pane when it printed something, not on the clock.
    let (tx, mut ignored) = tokio::sync::mpsc::channel(256);
    let drained = tokio::spawn(async move { while ignored.recv().await.is_some() {} });
    let throughout = observe(&backend, &session, tx);
    idle_showing(&backend, &session, "").await;
    backend
        .send_input(&session, "the first turn")
        .await
        .unwrap();
    transcript_shows(&transcript, &ack_text("the first turn"));
    idle_showing(&backend, &session, &ack_text("the first turn")).await;

    // The account nears its limit: a program is prepared on b.
    let to_b = LaunchRequest {
        account: AccountId::new("b"),
        config_dir: accounts[1].dir.clone(),
        resume: Some(id.clone()),
        ..request.clone()
    };
    let clients = || backend.transport().clients_started();
    let started = Instant::now();
    let before = clients();
    backend.prepare(&to_b).await.unwrap();
    let prepare_ms = started.elapsed().as_millis();
    let prepare_clients = clients() - before;
    let standby = "failover standby mv-0";
    let standby_pid = tmux
        .run(&[
            "display-message",
            "-p",
            "-t",
            &format!("={standby}:"),
            "#{pane_pid}",
        ])
        .unwrap();
    if real {
        // Claude Code runs its statusline at start, about a throwaway conversation: filed
        // as unattached, never as the session's.
        until("the standby's statusline document", async || {
            spool_b.join("_unattached.json").exists().then_some(())
        })
        .await;
    }
    assert!(!spool_b.join("mv-0.json").exists());

    // The quota refuses the next prompt on a; the session is stopped for the move.
    api.set_mode(
        "a",
        Mode::QuotaExhausted {
            window: ClaimWindow::FiveHour,
            resets_at: jiff::Timestamp::now().as_second() as u64 + 3600,
        },
    );
    let refused = "the turn the limit refused";
    backend.send_input(&session, refused).await.unwrap();
    transcript_shows(&transcript, r#""apiErrorStatus":429"#);
    // A person types on, without sending, before the stop: the draft goes with the move.
    let draft = "a draft the person did not send";
    type_draft(&tmux, &backend, &session, draft).await;
    let before = clients();
    backend
        .stop(&session, Duration::from_secs(20))
        .await
        .unwrap();
    let stop_clients = clients() - before;

    // Launched on b from the standby.
    let started = Instant::now();
    let before = clients();
    let launched = backend.launch(&to_b).await.unwrap();
    let standby_launch_ms = started.elapsed().as_millis();
    let launch_clients = clients() - before;
    assert_eq!(launched.claude_session, id);
    assert_eq!(launched.unanswered_prompt.as_deref(), Some(refused));
    assert_eq!(
        launched.standby_fallback, None,
        "the prepared program loaded the conversation (no cold start beside it)"
    );
    assert_eq!(
        tmux.run(&["display-message", "-p", "-t", "=mv-0:", "#{pane_pid}"])
            .unwrap(),
        standby_pid,
        "the prepared program runs the session"
    );
    assert!(
        !tmux
            .run(&["list-sessions", "-F", "#{session_name}"])
            .unwrap()
            .contains("standby")
    );
    idle_showing(&backend, &session, "the first turn").await;
    let standby_loaded_ms = started.elapsed().as_millis();
    // Watched from now on, as the daemon does after a launch. The redrawn conversation
    // ends with a's limit message (the real CLI draws it): history, not news about b.
    let (tx, mut events) = tokio::sync::mpsc::channel(256);
    let observer = observe(&backend, &session, tx);
    // `/resume` does not take the refused turn up: the replay types it, at once.
    let asked = Instant::now();
    let before = clients();
    assert_eq!(
        backend.resumed_turn(&session, refused).await.unwrap(),
        ResumedTurn::NotTakenUp
    );
    assert!(asked.elapsed() < Duration::from_secs(1));
    backend.send_input(&session, refused).await.unwrap();
    // The observer started above looks at the pane meanwhile: its captures are counted too.
    let replay_clients = clients() - before;
    let turn = api
        .wait_for_request(WAIT, |r| {
            r.account.as_deref() == Some("b") && r.last_user_text.as_deref() == Some(refused)
        })
        .await
        .unwrap();
    let standby_request_ms = started.elapsed().as_millis();
    assert_eq!(turn.session_id.as_deref(), Some(id.as_str()));
    assert!(
        turn.message_count.unwrap_or(0) >= 3,
        "the history is carried: {turn:?}"
    );
    transcript_shows(&transcript, &ack_text(refused));
    idle_showing(&backend, &session, &ack_text(refused)).await;
    // After the replayed prompt, the person's draft is back in the box, unsent.
    box_shows(&backend, &session, draft).await;
    never_sent(&api, draft);
    // Every event from the first screen to an activity report made after the replayed turn
    // was answered (one comes at the latest once the pane has been still for a moment):
    // no pane verdict.
    let answered_at = failover_core::UnixMillis(jiff::Timestamp::now().as_millisecond());
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(ObserverEvent::Activity { observed_at, .. })) if observed_at >= answered_at => {
                break;
            }
            Ok(Some(e)) => seen.push(e),
            other => panic!("no activity report after the replayed turn: {other:?}"),
        }
    }
    observer.abort();
    assert!(
        !seen.iter().any(|e| matches!(
            e,
            ObserverEvent::Observation { detection, .. }
                if detection.verdict != failover_core::Verdict::Clear
        )),
        "{seen:#?}"
    );
    let answered_on_b = api
        .requests()
        .into_iter()
        .filter(|r| r.account.as_deref() == Some("b") && r.status == 200)
        .filter(|r| r.last_user_text.as_deref() == Some(refused))
        .count();
    assert_eq!(
        answered_on_b,
        1,
        "answered once on b: {:#?}",
        api.requests()
    );
    if real {
        // Now it runs the conversation, it speaks for the session.
        until(
            "the session's statusline document naming the conversation",
            async || {
                let doc = std::fs::read_to_string(spool_b.join("mv-0.json")).ok()?;
                doc.contains(id.as_str()).then_some(())
            },
        )
        .await;
    }

    // A move with nothing to replay (the last turn answered): the draft goes back as soon
    // as the conversation is loaded from the standby, unsent.
    backend.prepare(&to_b).await.unwrap();
    let pid_of = |target: &str| {
        tmux.run(&["display-message", "-p", "-t", target, "#{pane_pid}"])
            .unwrap()
    };
    let second_standby = pid_of(&format!("={standby}:"));
    backend
        .stop(&session, Duration::from_secs(20))
        .await
        .unwrap();
    let launched = backend.launch(&to_b).await.unwrap();
    assert_eq!(launched.unanswered_prompt, None);
    assert_eq!(
        pid_of("=mv-0:"),
        second_standby,
        "launched from the standby"
    );
    box_shows(&backend, &session, draft).await;
    never_sent(&api, draft);

    // The same conversation launched cold on b, for comparison (the person's draft cleared
    // first: it would go with that move too, and block the typing).
    let target = format!("={}:", session.as_str());
    let clear = if real { "C-c" } else { "C-u" };
    tmux.run(&["send-keys", "-t", &target, clear]).unwrap();
    box_shows(&backend, &session, "").await;
    backend
        .stop(&session, Duration::from_secs(20))
        .await
        .unwrap();
    let started = Instant::now();
    backend.launch(&to_b).await.unwrap();
    let cold_launch_ms = started.elapsed().as_millis();
    idle_showing(&backend, &session, "the first turn").await;
    let cold_loaded_ms = started.elapsed().as_millis();
    let next = "a prompt after the cold start";
    backend.send_input(&session, next).await.unwrap();
    api.wait_for_request(WAIT, |r| r.last_user_text.as_deref() == Some(next))
        .await
        .unwrap();
    let cold_request_ms = started.elapsed().as_millis();
    eprintln!(
        "standby timing ({}): prepare {prepare_ms} ms; launch from the standby: returned {standby_launch_ms} ms, \
         conversation idle {standby_loaded_ms} ms, replayed prompt's request {standby_request_ms} ms; \
         cold launch: returned {cold_launch_ms} ms, conversation idle {cold_loaded_ms} ms, \
         typed prompt's request {cold_request_ms} ms; \
         tmux clients started: prepare {prepare_clients}, stop {stop_clients}, launch from the standby \
         {launch_clients}, replay (resumed_turn and send_input) {replay_clients} (the observers' captures included)",
        if real { "real CLI" } else { "stand-in" }
    );
    backend
        .stop(&session, Duration::from_secs(20))
        .await
        .unwrap();
    throughout.abort();
    drained.abort();
    backend.release_server().await.unwrap();
    assert!(tmux.kill_and_wait(WAIT), "the programs did not exit");
}
