//! Observers against real sources: a quota message in a real pane, a line appended to a
//! real transcript, a statusline document spooled by the real hook script. Each must reach
//! the event channel as a verdict within 250 ms of being written, without polling.

use crate::support;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use failover_core::quota::{PaneDetector, StatuslineDetector, TranscriptDetector};
use failover_core::{
    AccountId, Activity, ClaudeSessionId, LaunchRequest, Liveness, SessionBackend, SessionId,
    SignalSource, Subject, Verdict,
};
use failover_core::{LimitWindow, UnixMillis};
use failover_tmux::observe::{
    ObserverEvent, PaneObserver, PaneObserverConfig, StatuslineWatcher, Tracker, TranscriptWatcher,
};
use support::TestServer;
use tokio::sync::mpsc;

const BUDGET: Duration = Duration::from_millis(250);

/// Receives until `pick` accepts an event, failing after `deadline`.
async fn next_matching<T>(
    rx: &mut mpsc::Receiver<ObserverEvent>,
    deadline: Duration,
    mut pick: impl FnMut(&ObserverEvent) -> Option<T>,
) -> T {
    let until = tokio::time::Instant::now() + deadline;
    loop {
        let e = tokio::time::timeout_at(until, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no matching event within {deadline:?}"))
            .expect("channel closed");
        if let Some(v) = pick(&e) {
            return v;
        }
    }
}

/// A five-hour exhaustion verdict from `want`: (subject, evidence, reset instant).
fn quota_of(
    e: &ObserverEvent,
    want: SignalSource,
) -> Option<(Subject, String, Option<UnixMillis>)> {
    match e {
        ObserverEvent::Observation {
            subject,
            source,
            detection,
            ..
        } if *source == want => match detection.verdict {
            Verdict::QuotaExhausted {
                window: LimitWindow::FiveHour,
                resets_at,
            } => Some((
                subject.clone(),
                detection.evidence.clone().unwrap_or_default(),
                resets_at,
            )),
            _ => None,
        },
        _ => None,
    }
}

#[tokio::test]
async fn a_quota_message_in_a_real_pane_is_a_verdict_within_250ms() {
    let srv = TestServer::new();
    // The stand-in's idle prompt is reported first.
    let (session, mut rx, task) = observed(&srv, "watched").await;

    // Write the message straight onto the pane's terminal, as Claude Code would print it.
    let tty = srv.tmux(&["display-message", "-p", "-t", "=watched:", "#{pane_tty}"]);
    let mut term = std::fs::OpenOptions::new().write(true).open(&tty).unwrap();
    let written = Instant::now();
    term.write_all("  ⎿  You've hit your 5-hour limit · resets 9:38am (UTC)\r\n".as_bytes())
        .unwrap();
    let (subject, evidence, resets_at) =
        next_matching(&mut rx, BUDGET, |e| quota_of(e, SignalSource::Pane)).await;
    let latency = written.elapsed();
    eprintln!("pane verdict after {latency:?}");
    assert!(latency <= BUDGET, "{latency:?}");
    assert_eq!(subject, Subject::Session(session.clone()));
    assert!(evidence.contains("5-hour limit"), "{evidence}");
    // "resets 9:38am (UTC)" resolves to the next 9:38 UTC after the observation.
    let reset = resets_at.expect("a reset instant").to_timestamp().unwrap();
    assert_eq!(reset.strftime("%H:%M").to_string(), "09:38");

    // The message stays on screen: a second sighting follows without new output.
    next_matching(&mut rx, Duration::from_secs(3), |e| {
        quota_of(e, SignalSource::Pane)
    })
    .await;

    // Working footer → Working; the program exiting → Exited with its status.
    srv.backend.send_input(&session, "WORK").await.unwrap();
    next_matching(&mut rx, Duration::from_secs(3), |e| {
        matches!(
            e,
            ObserverEvent::Activity {
                activity: Activity::Working,
                ..
            }
        )
        .then_some(())
    })
    .await;
    srv.tmux(&["send-keys", "-t", "=watched:", "C-c"]);
    let status = next_matching(&mut rx, Duration::from_secs(5), |e| match e {
        ObserverEvent::Exited { session: s, status } if *s == session => Some(*status),
        _ => None,
    })
    .await;
    assert!(matches!(
        srv.backend.liveness(&session).await.unwrap(),
        Liveness::Exited { .. }
    ));
    // Killed by SIGINT: the shell reports 130.
    assert_eq!(status, Some(130));
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_killed_session_ends_its_observer_with_exited() {
    let srv = TestServer::new();
    let session = SessionId::new("doomed");
    let req = LaunchRequest {
        session: session.clone(),
        dir: srv.dir("work"),
        account: AccountId::new("primary"),
        config_dir: srv.dir("config"),
        resume: None,
    };
    srv.backend.launch(&req).await.unwrap();
    // Keep one other session so the server stays up.
    let mut other = req.clone();
    other.session = SessionId::new("other");
    srv.backend.launch(&other).await.unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let detector = Arc::new(PaneDetector::new());
    let task = tokio::spawn(
        PaneObserver::new(
            &srv.backend,
            session.clone(),
            detector,
            tx,
            PaneObserverConfig::default(),
        )
        .run(),
    );
    next_matching(&mut rx, Duration::from_secs(5), |e| {
        matches!(e, ObserverEvent::Activity { .. }).then_some(())
    })
    .await;
    srv.tmux(&["kill-session", "-t", "=doomed"]);
    let status = next_matching(&mut rx, Duration::from_secs(3), |e| match e {
        ObserverEvent::Exited { status, .. } => Some(*status),
        _ => None,
    })
    .await;
    assert_eq!(status, None);
    tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

fn rate_limit_line(session: &str) -> String {
    format!(
        "{{\"type\":\"assistant\",\"sessionId\":\"{session}\",\"isApiErrorMessage\":true,\"apiErrorStatus\":429,\"error\":\"rate_limit\",\"message\":{{\"model\":\"<synthetic>\",\"content\":[{{\"type\":\"text\",\"text\":\"You've hit your 5-hour limit\"}}]}}}}\n"
    )
}

#[tokio::test]
async fn transcript_lines_are_verdicts_within_250ms_across_new_files_and_truncation() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("projects");
    let folder = root.join("-work-proj");
    std::fs::create_dir_all(&folder).unwrap();
    let conv = "6a4b2c1d-0000-4000-8000-000000000001";
    let path = folder.join(format!("{conv}.jsonl"));
    // History present at start is not news.
    std::fs::write(&path, rate_limit_line(conv)).unwrap();

    let tracker = Tracker::default();
    tracker.track(ClaudeSessionId::new(conv), SessionId::new("ccl-0"));
    let (tx, mut rx) = mpsc::channel(64);
    let detector = Arc::new(TranscriptDetector::new());
    let task = tokio::spawn(TranscriptWatcher::new(&root, detector, tx, tracker.clone()).run());
    // Let the watch be installed before writing (it is set up first thing in `run`).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(rx.try_recv().is_err(), "history must not be reported");

    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    // A partial line waits for its newline.
    let line = rate_limit_line(conv);
    let (head, tail) = line.split_at(40);
    f.write_all(head.as_bytes()).unwrap();
    f.flush().unwrap();
    let written = Instant::now();
    f.write_all(tail.as_bytes()).unwrap();
    f.flush().unwrap();
    let (subject, _, _) =
        next_matching(&mut rx, BUDGET, |e| quota_of(e, SignalSource::Transcript)).await;
    let latency = written.elapsed();
    eprintln!("transcript verdict after {latency:?}");
    assert!(latency <= BUDGET, "{latency:?}");
    assert_eq!(subject, Subject::Session(SessionId::new("ccl-0")));

    // Truncation: the file is read again from its start.
    std::fs::write(&path, "").unwrap();
    let written = Instant::now();
    std::fs::write(&path, rate_limit_line(conv)).unwrap();
    next_matching(&mut rx, BUDGET, |e| quota_of(e, SignalSource::Transcript)).await;
    assert!(written.elapsed() <= BUDGET);

    // Rotation: a new file renamed over the old one is read from its start.
    let rotated = folder.join(".rotating");
    std::fs::write(&rotated, rate_limit_line(conv)).unwrap();
    let written = Instant::now();
    std::fs::rename(&rotated, &path).unwrap();
    next_matching(&mut rx, BUDGET, |e| quota_of(e, SignalSource::Transcript)).await;
    assert!(written.elapsed() <= BUDGET);

    // A new conversation in a new project folder, tracked before it is written.
    let conv2 = "6a4b2c1d-0000-4000-8000-000000000002";
    tracker.track(ClaudeSessionId::new(conv2), SessionId::new("ccl-1"));
    let folder2 = root.join("-work-other");
    std::fs::create_dir_all(&folder2).unwrap();
    let written = Instant::now();
    std::fs::write(
        folder2.join(format!("{conv2}.jsonl")),
        rate_limit_line(conv2),
    )
    .unwrap();
    let (subject, _, _) =
        next_matching(&mut rx, BUDGET, |e| quota_of(e, SignalSource::Transcript)).await;
    assert!(written.elapsed() <= BUDGET, "{:?}", written.elapsed());
    assert_eq!(subject, Subject::Session(SessionId::new("ccl-1")));

    // A normal line after the alarm is the all-clear.
    let mut f2 = std::fs::OpenOptions::new()
        .append(true)
        .open(folder2.join(format!("{conv2}.jsonl")))
        .unwrap();
    f2.write_all(b"{\"type\":\"assistant\",\"message\":{\"content\":[]}}\n")
        .unwrap();
    next_matching(&mut rx, Duration::from_secs(1), |e| match e {
        ObserverEvent::Observation { detection, .. } if detection.verdict == Verdict::Clear => {
            Some(())
        }
        _ => None,
    })
    .await;

    drop(rx);
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_spooled_statusline_is_a_verdict_within_250ms() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config-b");
    let spool = tmp.path().join("spool").join("b");
    std::fs::create_dir_all(&config).unwrap();
    let installed = failover_tmux::statusline::install(&config, &spool).unwrap();

    let (tx, mut rx) = mpsc::channel(64);
    let detector = Arc::new(StatuslineDetector::new());
    let account = AccountId::new("b");
    let task = tokio::spawn(
        StatuslineWatcher::new(vec![(account.clone(), spool.clone())], detector, tx).run(),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;

    // A reset an hour from now: a reset already past is no longer a quota.
    let reset = future_reset_secs();
    let doc = format!(
        r#"{{"session_id":"9f1e2d3c-0000-4000-8000-00000000000a","cwd":"/work","rate_limits":{{"five_hour":{{"used_percentage":100,"resets_at":{reset}}}}}}}"#
    );
    let mut child = std::process::Command::new("/bin/sh")
        .arg(&installed.hook)
        .env("FAILOVER_SESSION", "ccl-3")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(doc.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    let (subject, _, resets_at) = next_matching(&mut rx, Duration::from_secs(5), |e| {
        quota_of(e, SignalSource::Statusline)
    })
    .await;
    let received = std::time::SystemTime::now();
    // Measured from the moment the hook finished writing the document (its mtime; the
    // rename that publishes it comes after), so a slow process start does not count.
    let written = std::fs::metadata(spool.join("ccl-3.json"))
        .unwrap()
        .modified()
        .unwrap();
    let latency = received.duration_since(written).unwrap();
    eprintln!("statusline verdict {latency:?} after the document was written");
    assert!(latency <= BUDGET, "{latency:?}");
    assert_eq!(resets_at, Some(UnixMillis::from_secs(reset)));
    assert_eq!(subject, Subject::Account(account));
    // The conversation id was learned too (sent just before the verdict).
    assert_eq!(
        std::fs::read_to_string(spool.join("ccl-3.json")).unwrap(),
        doc
    );
    drop(rx);
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn statusline_teaches_the_conversation_id() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = tmp.path().join("spool");
    let (tx, mut rx) = mpsc::channel(64);
    let detector = Arc::new(StatuslineDetector::new());
    let task = tokio::spawn(
        StatuslineWatcher::new(vec![(AccountId::new("a"), spool.clone())], detector, tx).run(),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    std::fs::write(spool.join(".ccl-2.1.tmp"), r#"{"session_id":"abc"}"#).unwrap();
    std::fs::rename(spool.join(".ccl-2.1.tmp"), spool.join("ccl-2.json")).unwrap();
    let learned = next_matching(&mut rx, Duration::from_secs(1), |e| match e {
        ObserverEvent::ClaudeSessionLearned {
            session,
            claude_session,
        } => Some((session.clone(), claude_session.clone())),
        _ => None,
    })
    .await;
    assert_eq!(
        learned,
        (SessionId::new("ccl-2"), ClaudeSessionId::new("abc"))
    );
    drop(rx);
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn statusline_teaches_the_model_once_per_change() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = tmp.path().join("spool");
    let (tx, mut rx) = mpsc::channel(64);
    let detector = Arc::new(StatuslineDetector::new());
    let task = tokio::spawn(
        StatuslineWatcher::new(vec![(AccountId::new("a"), spool.clone())], detector, tx).run(),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let publish = |n: u32, model: &str| {
        let doc = format!(
            r#"{{"session_id":"abc","model":{{"id":"{model}","display_name":"x"}},"turn":{n}}}"#
        );
        std::fs::write(spool.join(format!(".ccl-4.{n}.tmp")), doc).unwrap();
        std::fs::rename(
            spool.join(format!(".ccl-4.{n}.tmp")),
            spool.join("ccl-4.json"),
        )
        .unwrap();
    };
    let model_of = |e: &ObserverEvent| match e {
        ObserverEvent::ModelLearned { session, model } => Some((session.clone(), model.clone())),
        _ => None,
    };
    publish(1, "claude-opus-4-1-20250805");
    let learned = next_matching(&mut rx, Duration::from_secs(1), model_of).await;
    assert_eq!(
        learned,
        (
            SessionId::new("ccl-4"),
            "claude-opus-4-1-20250805".to_owned()
        )
    );
    // The same model again is no news; another one is.
    publish(2, "claude-opus-4-1-20250805");
    publish(3, "claude-sonnet-4-5-20250929");
    let learned = next_matching(&mut rx, Duration::from_secs(1), model_of).await;
    assert_eq!(learned.1, "claude-sonnet-4-5-20250929");
    drop(rx);
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn transcript_assistant_lines_teach_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("projects");
    let folder = root.join("-work-proj");
    std::fs::create_dir_all(&folder).unwrap();
    let conv = "6a4b2c1d-0000-4000-8000-000000000009";
    let path = folder.join(format!("{conv}.jsonl"));
    std::fs::write(&path, "").unwrap();
    let tracker = Tracker::default();
    tracker.track(ClaudeSessionId::new(conv), SessionId::new("ccl-5"));
    let (tx, mut rx) = mpsc::channel(64);
    let detector = Arc::new(TranscriptDetector::new());
    let task = tokio::spawn(TranscriptWatcher::new(&root, detector, tx, tracker).run());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let assistant = |model: &str| {
        format!(
            "{}\n",
            serde_json::json!({"type": "assistant", "sessionId": conv,
                "message": {"role": "assistant", "model": model, "content": [{"type": "text", "text": "ok"}]}})
        )
    };
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    // The CLI's own notices name no model; the first real answer does.
    f.write_all(assistant("<synthetic>").as_bytes()).unwrap();
    f.write_all(assistant("claude-opus-4-1-20250805").as_bytes())
        .unwrap();
    f.flush().unwrap();
    let model_of = |e: &ObserverEvent| match e {
        ObserverEvent::ModelLearned { session, model } => Some((session.clone(), model.clone())),
        _ => None,
    };
    let learned = next_matching(&mut rx, Duration::from_secs(2), model_of).await;
    assert_eq!(
        learned,
        (
            SessionId::new("ccl-5"),
            "claude-opus-4-1-20250805".to_owned()
        )
    );
    drop(rx);
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_pane_observer_ends_when_its_listener_goes() {
    let srv = TestServer::new();
    let session = SessionId::new("listened");
    let req = LaunchRequest {
        session: session.clone(),
        dir: srv.dir("work"),
        account: AccountId::new("primary"),
        config_dir: srv.dir("config"),
        resume: None,
    };
    srv.backend.launch(&req).await.unwrap();
    let (tx, mut rx) = mpsc::channel(4);
    let detector = Arc::new(PaneDetector::new());
    let task = tokio::spawn(
        PaneObserver::new(
            &srv.backend,
            session,
            detector,
            tx,
            PaneObserverConfig::default(),
        )
        .run(),
    );
    next_matching(&mut rx, Duration::from_secs(5), |e| {
        matches!(e, ObserverEvent::Activity { .. }).then_some(())
    })
    .await;
    drop(rx);
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// Publishes `doc` as `<session>.json` in `spool` the way the hook does (temp + rename).
fn spool_doc(spool: &std::path::Path, session: &str, n: u32, doc: &str) {
    let tmp = spool.join(format!(".{session}.{n}.tmp"));
    std::fs::write(&tmp, doc).unwrap();
    std::fs::rename(&tmp, spool.join(format!("{session}.json"))).unwrap();
}

/// The flood seen with the real CLI: the watcher's own reads of a document (inotify reports
/// opens) came back as events, so one quota document was reported again and again. Now a
/// document is reported once; republishing the same bytes or reading the file says nothing;
/// a different document is reported. Everything received before the marker is counted.
#[tokio::test]
async fn a_statusline_document_is_reported_once_however_often_it_is_read_or_republished() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = tmp.path().join("spool");
    let (tx, mut rx) = mpsc::channel(1024);
    let detector = Arc::new(StatuslineDetector::new());
    let account = AccountId::new("a");
    let task = tokio::spawn(
        StatuslineWatcher::new(vec![(account.clone(), spool.clone())], detector, tx).run(),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reset = future_reset_secs();
    let exhausted = format!(
        r#"{{"session_id":"c1","rate_limits":{{"five_hour":{{"used_percentage":100,"resets_at":{reset}}}}}}}"#
    );
    spool_doc(&spool, "ccl-0", 1, &exhausted);
    next_matching(&mut rx, Duration::from_secs(2), |e| {
        quota_of(e, SignalSource::Statusline)
    })
    .await;
    // Same bytes republished, and read by someone else, many times.
    for n in 2..50 {
        spool_doc(&spool, "ccl-0", n, &exhausted);
        let _ = std::fs::read_to_string(spool.join("ccl-0.json")).unwrap();
    }
    // A different document (a later reset) is the marker.
    let marker = format!(
        r#"{{"session_id":"c1","rate_limits":{{"five_hour":{{"used_percentage":100,"resets_at":{}}}}}}}"#,
        reset + 600
    );
    spool_doc(&spool, "ccl-0", 50, &marker);
    let mut repeats = 0;
    next_matching(&mut rx, Duration::from_secs(2), |e| {
        let (_, _, resets_at) = quota_of(e, SignalSource::Statusline)?;
        if resets_at == Some(UnixMillis::from_secs(reset)) {
            repeats += 1;
            None
        } else {
            Some(())
        }
    })
    .await;
    assert_eq!(repeats, 0, "the unchanged document was reported again");
    // Nothing follows the marker: the watcher's read of it did not come back as news. The
    // channel is drained once the next document (clear) is seen.
    spool_doc(&spool, "ccl-0", 51, r#"{"session_id":"c1"}"#);
    let mut before_clear = 0;
    next_matching(&mut rx, Duration::from_secs(2), |e| match e {
        ObserverEvent::Observation { detection, .. } if detection.verdict == Verdict::Clear => {
            Some(())
        }
        ObserverEvent::Observation { .. } => {
            before_clear += 1;
            None
        }
        _ => None,
    })
    .await;
    assert_eq!(
        before_clear, 0,
        "the marker document was reported more than once"
    );
    drop(rx);
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// One session's life as the daemon drives it: launched, observed, stopped, and its
/// observer's end awaited.
async fn observed_cycle(backend: &failover_tmux::TmuxBackend, req: LaunchRequest) {
    backend.launch(&req).await.unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let observer = support::spawn_observer(backend, req.session.clone(), tx);
    backend
        .stop(&req.session, Duration::from_millis(200))
        .await
        .unwrap();
    // The observer reports the end, whatever it had seen by then.
    next_matching(&mut rx, Duration::from_secs(10), |e| {
        matches!(e, ObserverEvent::Exited { .. }).then_some(())
    })
    .await;
    drop(rx);
    let _ = tokio::time::timeout(Duration::from_secs(5), observer).await;
}

/// tmux 3.3a's server segfaults when a session is created or killed while a control client
/// is attaching. The daemon does exactly that: sessions launched and stopped while
/// observers of other sessions attach. Rounds of three sessions, each launched, observed
/// and stopped concurrently with the others, must leave the server alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launching_and_stopping_observed_sessions_never_crashes_the_server() {
    let srv = TestServer::new();
    let base = LaunchRequest {
        session: SessionId::new("keeper"),
        dir: srv.dir("work"),
        account: AccountId::new("primary"),
        config_dir: srv.dir("config"),
        resume: None,
    };
    srv.backend.launch(&base).await.unwrap();
    let started = Instant::now();
    let mut rounds = 0;
    while rounds < 40 && started.elapsed() < Duration::from_secs(20) {
        rounds += 1;
        let req = |k: u32| {
            let mut r = base.clone();
            r.session = SessionId::new(format!("s{rounds}-{k}"));
            r
        };
        tokio::join!(
            observed_cycle(&srv.backend, req(0)),
            observed_cycle(&srv.backend, req(1)),
            observed_cycle(&srv.backend, req(2)),
        );
        assert_eq!(
            srv.backend.liveness(&base.session).await.unwrap(),
            Liveness::Alive,
            "the tmux server died in round {rounds}"
        );
    }
    eprintln!(
        "{rounds} rounds of 3 observed sessions in {:?}",
        started.elapsed()
    );
    assert!(rounds >= 10, "only {rounds} rounds ran");
}

/// An hour from now, in Unix seconds: statusline documents in these tests must describe a
/// window that has not reset yet.
fn future_reset_secs() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(now).unwrap() + 3600
}

/// A launched session `name` on `srv` and its observer, once the observer has seen the
/// stand-in's prompt.
async fn observed(
    srv: &TestServer,
    name: &str,
) -> (
    SessionId,
    mpsc::Receiver<ObserverEvent>,
    tokio::task::JoinHandle<Result<(), failover_tmux::ObserveError>>,
) {
    let session = SessionId::new(name);
    let req = LaunchRequest {
        session: session.clone(),
        dir: srv.dir("work"),
        account: AccountId::new("primary"),
        config_dir: srv.dir("config"),
        resume: None,
    };
    srv.backend.launch(&req).await.unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let task = support::spawn_observer(&srv.backend, session.clone(), tx);
    next_idle(&mut rx).await;
    (session, rx, task)
}

async fn next_idle(rx: &mut mpsc::Receiver<ObserverEvent>) {
    next_matching(rx, Duration::from_secs(5), |e| {
        matches!(
            e,
            ObserverEvent::Activity {
                activity: Activity::Idle,
                ..
            }
        )
        .then_some(())
    })
    .await;
}

/// Activity is reported on changes; a turn that came and went between two captures leaves
/// the screen idle as before. Once the pane has been still for a while, the observer
/// reports the idle screen again: that is how the daemon learns that a prompt it typed was
/// already answered.
#[tokio::test]
async fn a_still_pane_has_its_activity_reported_again() {
    let srv = TestServer::new();
    let (session, mut rx, _task) = observed(&srv, "settled").await;
    // The screen changes, the activity does not; once it is still, idle is said again.
    srv.backend
        .send_input(&session, "answered at once")
        .await
        .unwrap();
    next_idle(&mut rx).await;
}

/// The exit reaches the observer (as the wrapper's notice in the pane's output, or through
/// its `pane_dead` subscription) while the session, and so the control client, stays.
#[tokio::test]
async fn an_exit_is_reported_from_the_wrappers_notice_with_its_status() {
    let srv = TestServer::with(|c| c.env.push(("STANDIN_EXIT".into(), "7".into())));
    let (session, mut rx, task) = observed(&srv, "leaving").await;
    srv.backend.send_input(&session, "/exit").await.unwrap();
    let asked = Instant::now();
    let status = next_matching(&mut rx, Duration::from_secs(5), |e| match e {
        ObserverEvent::Exited { session: s, status } if *s == session => Some(*status),
        _ => None,
    })
    .await;
    // `send_input` returns when the screen changed or the program exited (the stand-in
    // exits 200 ms after `/exit`, its screen unchanged): a few milliseconds here.
    eprintln!(
        "exit reported {:?} after send_input returned",
        asked.elapsed()
    );
    assert_eq!(status, Some(7));
    // The wrapper recorded the status on the session's own pane: with the observers'
    // session linking the window, a `set-option -p` without a target lands on the
    // observers' pane instead, and the status then depends on tmux having reaped the
    // program in time (not always so on a loaded machine).
    assert_eq!(
        srv.tmux(&[
            "display-message",
            "-p",
            "-t",
            "=leaving:",
            &format!("#{{{}}}", failover_tmux::wire::EXIT_OPTION)
        ]),
        "7"
    );
    // The pane is dead, not gone: the report came from the pane, not from a detach.
    assert_eq!(
        srv.backend.liveness(&session).await.unwrap(),
        Liveness::Exited { status: Some(7) }
    );
    tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn an_exit_notice_printed_by_a_running_program_is_not_an_exit() {
    let srv = TestServer::with(|c| c.env.push(("STANDIN_EXIT".into(), "4".into())));
    let (session, mut rx, task) = observed(&srv, "mimic").await;
    // The program prints the notice's bytes itself and goes on running.
    let tty = srv.tmux(&["display-message", "-p", "-t", "=mimic:", "#{pane_tty}"]);
    let mut term = std::fs::OpenOptions::new().write(true).open(&tty).unwrap();
    let notice = failover_tmux::wire::EXIT_NOTICE
        .replace(r"\033", "\x1b")
        .replace(r"\007", "\x07");
    term.write_all(notice.as_bytes()).unwrap();
    term.write_all("  ⎿  You've hit your 5-hour limit · resets 9:38am (UTC)\r\n".as_bytes())
        .unwrap();
    // The observer carries on: the quota line that follows is still evaluated, and no exit
    // is reported before it.
    next_matching(&mut rx, Duration::from_secs(8), |e| match e {
        ObserverEvent::Exited { .. } => panic!("a running program reported as exited"),
        e => quota_of(e, SignalSource::Pane),
    })
    .await;
    assert_eq!(
        srv.backend.liveness(&session).await.unwrap(),
        Liveness::Alive
    );
    // Its real exit is still reported.
    srv.backend.send_input(&session, "/exit").await.unwrap();
    let status = next_matching(&mut rx, Duration::from_secs(5), |e| match e {
        ObserverEvent::Exited { status, .. } => Some(*status),
        _ => None,
    })
    .await;
    assert_eq!(status, Some(4));
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_program_that_exited_before_its_observer_attached_is_reported() {
    let srv = TestServer::with(|c| c.env.push(("STANDIN_EXIT".into(), "3".into())));
    let session = SessionId::new("early");
    let req = LaunchRequest {
        session: session.clone(),
        dir: srv.dir("work"),
        account: AccountId::new("primary"),
        config_dir: srv.dir("config"),
        resume: None,
    };
    srv.backend.launch(&req).await.unwrap();
    support::eventually(Duration::from_secs(5), "the prompt", || async {
        let c = srv.backend.capture(&session).await.ok()?;
        c.text.contains('❯').then_some(())
    })
    .await;
    srv.backend.send_input(&session, "/exit").await.unwrap();
    support::eventually(Duration::from_secs(5), "the pane's death", || async {
        matches!(
            srv.backend.liveness(&session).await.unwrap(),
            Liveness::Exited { .. }
        )
        .then_some(())
    })
    .await;
    let (tx, mut rx) = mpsc::channel(64);
    let task = support::spawn_observer(&srv.backend, session.clone(), tx);
    let status = next_matching(&mut rx, Duration::from_secs(5), |e| match e {
        ObserverEvent::Exited { status, .. } => Some(*status),
        _ => None,
    })
    .await;
    assert_eq!(status, Some(3));
    task.await.unwrap().unwrap();
}

/// The corroboration facts of one session, in order, until `until` is seen.
async fn facts_until(
    rx: &mut mpsc::Receiver<ObserverEvent>,
    until: &failover_core::Corroboration,
    seen: &mut Vec<failover_core::Corroboration>,
) {
    next_matching(rx, Duration::from_secs(2), |e| match e {
        ObserverEvent::Corroboration { session, fact, .. } => {
            assert_eq!(session, &SessionId::new("ccl-0"));
            seen.push(fact.clone());
            (fact == until).then_some(())
        }
        _ => None,
    })
    .await;
}

#[tokio::test]
async fn transcript_and_statusline_report_what_is_fine_once_per_change() {
    use failover_core::{Corroboration, WindowUsage};
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("projects");
    let folder = root.join("-work-proj");
    std::fs::create_dir_all(&folder).unwrap();
    let conv = "6a4b2c1d-0000-4000-8000-0000000000c0";
    let path = folder.join(format!("{conv}.jsonl"));
    std::fs::write(&path, "").unwrap();
    let tracker = Tracker::default();
    tracker.track(ClaudeSessionId::new(conv), SessionId::new("ccl-0"));
    let (tx, mut rx) = mpsc::channel(64);
    let task = tokio::spawn(
        TranscriptWatcher::new(&root, Arc::new(TranscriptDetector::new()), tx, tracker).run(),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let prompt = "{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":\"what does the weekly limit look like?\"}}\n";
    // A reply that quotes the limit word for word is an ordinary reply.
    let reply = "{\"type\":\"assistant\",\"message\":{\"model\":\"claude-opus-5-5\",\"content\":[{\"type\":\"text\",\"text\":\"You've hit your weekly limit · resets Dec 9, 5am (UTC)\"}]}}\n";
    let append = |text: &str| {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    let mut seen = Vec::new();
    append(&format!("{prompt}{reply}{reply}"));
    facts_until(&mut rx, &Corroboration::OrdinaryReply, &mut seen).await;
    // An API error line ends the reply's word: the next reply is reported again, and a
    // repeated reply of the same turn is not.
    append(&format!("{}{reply}{reply}{prompt}", rate_limit_line(conv)));
    facts_until(&mut rx, &Corroboration::PromptWritten, &mut seen).await;
    assert_eq!(
        seen,
        [
            Corroboration::PromptWritten,
            Corroboration::OrdinaryReply,
            Corroboration::OrdinaryReply,
            Corroboration::PromptWritten,
        ]
    );
    drop(rx);
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    // The statusline's use per window, for the session whose document it is.
    let spool = tmp.path().join("spool");
    let (tx, mut rx) = mpsc::channel(64);
    let task = tokio::spawn(
        StatuslineWatcher::new(
            vec![(AccountId::new("a"), spool.clone())],
            Arc::new(StatuslineDetector::new()),
            tx,
        )
        .run(),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reset = future_reset_secs();
    spool_doc(
        &spool,
        "ccl-0",
        1,
        &format!(
            r#"{{"session_id":"c1","rate_limits":{{"five_hour":{{"used_percentage":40,"resets_at":{reset}}}}}}}"#
        ),
    );
    let mut seen = Vec::new();
    let want = Corroboration::Usage(vec![WindowUsage {
        window: LimitWindow::FiveHour,
        used_percent: 40.0,
        resets_at: Some(UnixMillis(reset * 1000)),
    }]);
    facts_until(&mut rx, &want, &mut seen).await;
    assert_eq!(seen, [want]);
    drop(rx);
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// The control-mode clients attached to the server (`tmux list-clients`).
fn control_clients(srv: &TestServer) -> usize {
    srv.tmux(&["list-clients", "-F", "#{client_control_mode}"])
        .lines()
        .filter(|l| l.trim() == "1")
        .count()
}

/// Waits until `check` holds, failing after `deadline` with `what`.
async fn until(deadline: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !check() {
        assert!(Instant::now() < end, "{what} within {deadline:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every pane observer of a server listens through one control-mode client (a client per
/// session cost about 3.6 MiB each: 720 MiB at 200 sessions), and each still hears its own
/// pane, and only its own, as it happens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_observers_of_a_server_share_one_control_client() {
    let srv = TestServer::new();
    let mut watched = Vec::new();
    for i in 0..6 {
        watched.push(observed(&srv, &format!("shared-{i}")).await);
    }
    assert_eq!(
        control_clients(&srv),
        1,
        "one control client for 6 observers"
    );
    // A quota message printed on one pane is a verdict about that session alone.
    let tty = srv.tmux(&["display-message", "-p", "-t", "=shared-4:", "#{pane_tty}"]);
    let mut term = std::fs::OpenOptions::new().write(true).open(&tty).unwrap();
    let written = Instant::now();
    term.write_all("  ⎿  You've hit your 5-hour limit · resets 9:38am (UTC)\r\n".as_bytes())
        .unwrap();
    let (subject, _, _) = next_matching(&mut watched[4].1, BUDGET, |e| {
        quota_of(e, SignalSource::Pane)
    })
    .await;
    eprintln!("pane verdict after {:?}", written.elapsed());
    assert_eq!(subject, Subject::Session(SessionId::new("shared-4")));
    for (i, (_, rx, _)) in watched.iter_mut().enumerate().filter(|(i, _)| *i != 4) {
        while let Ok(e) = rx.try_recv() {
            assert!(
                quota_of(&e, SignalSource::Pane).is_none(),
                "shared-{i} got another pane's verdict: {e:?}"
            );
        }
    }
    // An exit is still heard from its notice, with its status.
    srv.tmux(&["send-keys", "-t", "=shared-2:", "C-c"]);
    let status = next_matching(&mut watched[2].1, Duration::from_secs(5), |e| match e {
        ObserverEvent::Exited { status, .. } => Some(*status),
        _ => None,
    })
    .await;
    assert_eq!(status, Some(130));
    // A person attached to an observed session sees its own window only: the links are
    // in the observers' session.
    for i in 0..6 {
        let own = srv.tmux(&[
            "list-windows",
            "-t",
            &format!("=shared-{i}"),
            "-F",
            "#{window_id}",
        ]);
        assert_eq!(own.lines().count(), 1, "shared-{i}: {own}");
    }
    // The observer session stays out of the backend's view of the server.
    let listed = srv.backend.list().await.unwrap();
    assert_eq!(listed.len(), 6, "{listed:?}");
    assert!(srv.backend.liveness_all().await.unwrap().len() == 6);
    // An observer that goes takes its window out of the observers' session.
    watched[0].2.abort();
    let in_observers = || {
        srv.tmux(&["list-windows", "-a", "-F", "#{session_name}"])
            .lines()
            .filter(|l| l.contains("observer"))
            .count()
    };
    // Its own window and the 5 observed (shared-2's dead pane still observed until it
    // ended, then unlinked: 4 then).
    until(Duration::from_secs(5), "the windows unlinked", || {
        in_observers() == 1 + 4
    })
    .await;
    // Another backend on the server (another daemon) has its own client; dropping it ends
    // that client and its observers' session.
    let second = failover_tmux::TmuxBackend::new(srv.backend.config().clone()).unwrap();
    let (tx, _rx) = mpsc::channel(64);
    let other = support::spawn_observer(&second, SessionId::new("shared-5"), tx);
    until(Duration::from_secs(5), "a second client", || {
        control_clients(&srv) == 2
    })
    .await;
    other.abort();
    let _ = other.await;
    drop(second);
    until(Duration::from_secs(5), "the second client gone", || {
        control_clients(&srv) == 1
    })
    .await;
}

/// An observed session's window is also linked into the observers' own session; the end of
/// its session must still end its program (tmux hangs up the terminal of a window no
/// session holds), and end its observer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_observed_session_leaves_no_program_running() {
    let srv = TestServer::new();
    let (_, mut rx, task) = observed(&srv, "hung-up").await;
    let (_, _rx_other, _other) = observed(&srv, "stays").await;
    let pid: i32 = srv
        .tmux(&["display-message", "-p", "-t", "=hung-up:", "#{pane_pid}"])
        .parse()
        .unwrap();
    let alive = move || std::path::Path::new(&format!("/proc/{pid}")).exists();
    assert!(alive());
    srv.tmux(&["kill-session", "-t", "=hung-up"]);
    next_matching(&mut rx, Duration::from_secs(5), |e| match e {
        ObserverEvent::Exited { status, .. } => Some(*status),
        _ => None,
    })
    .await;
    until(Duration::from_secs(5), "the program hung up", || !alive()).await;
    tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // Its window is gone from the observers' session too: nothing but the other session's
    // window and the observers' own is left there.
    let windows = srv.tmux(&["list-windows", "-a", "-F", "#{session_name}"]);
    assert_eq!(
        windows.lines().filter(|l| *l == "stays").count(),
        1,
        "{windows}"
    );
    assert_eq!(windows.lines().count(), 3, "{windows}");
}
