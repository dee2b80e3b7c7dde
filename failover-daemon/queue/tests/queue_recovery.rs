//! Crash-window recovery: each test builds on disk the exact state a SIGKILL leaves at one
//! point of the protocol (see QUEUE.md, "Crash windows"), starts a runner on it, and checks
//! that the task is neither lost nor delivered twice.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::queue_support::*;
use failover_core::{AccountId, SessionId};
use failover_queue::Probe;
use failover_queue::records::{ClaimRecordV1, OutcomeKind, PendingOutcome};
use jiff::Timestamp;

const T: Duration = Duration::from_secs(10);

fn q(p: &Path) -> std::path::PathBuf {
    p.join(".agent-queue")
}

/// A claimed task file, and its claim record when given.
fn claimed(p: &Path, session: &str, task: &str, record: Option<&ClaimRecordV1>) {
    let dir = q(p).join("claimed").join(session);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(task), format!("prompt of {task}\n")).unwrap();
    if let Some(r) = record {
        write_record(p, r);
    }
}

fn write_record(p: &Path, r: &ClaimRecordV1) {
    let dir = q(p).join("claimed").join(r.session.as_str());
    fs::create_dir_all(&dir).unwrap();
    let stem = r.task.strip_suffix(".md").unwrap();
    fs::write(
        dir.join(format!("{stem}.claim.json")),
        serde_json::to_vec(r).unwrap(),
    )
    .unwrap();
}

fn record(session: &str, task: &str, attempt: u32, delivered: bool) -> ClaimRecordV1 {
    let now = Timestamp::now();
    ClaimRecordV1 {
        version: 1,
        task: task.into(),
        session: SessionId::new(session),
        attempt,
        max_attempts: 3,
        claimed_at: now,
        delivered_at: delivered.then_some(now),
        account: Some(AccountId::new("a")),
        claude_session: None,
        outcome: None,
    }
}

fn outcome(kind: OutcomeKind, dest: &str) -> Option<PendingOutcome> {
    Some(PendingOutcome {
        kind,
        dest: dest.into(),
        reason: None,
        ended_at: Timestamp::now(),
        attempts_used: 1,
        account: None,
        claude_session: None,
    })
}

fn claims_left(p: &Path) -> usize {
    fs::read_dir(q(p).join("claimed"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|s| fs::read_dir(s.path()).map(|d| d.count()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

/// Killed between the claim rename and the claim record: never delivered, so it goes back
/// with no attempt used, and is then delivered once as attempt 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claimed_without_record_goes_back_and_runs_once() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    claimed(p, "s0", "t.md", None);
    let run = Running::start(
        config(vec![p.into()]),
        vec![view("s0", p)],
        Some(Duration::from_millis(10)),
    );
    within(
        20,
        wait_for("done, claim gone", T, || {
            tasks_in(p, "done") == ["t.md"] && claims_left(p) == 0
        }),
    )
    .await;
    let got = run.recorder.deliveries();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].attempt, 1);
    assert_eq!(got[0].prompt, "prompt of t.md");
    run.stop().await;
}

/// Killed after the claim record, before "delivered" was recorded: not delivered, so the
/// attempt is not used (attempt 2 stays attempt 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_but_undelivered_claim_keeps_its_attempt_number() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    claimed(p, "s0", "t.md", Some(&record("s0", "t.md", 2, false)));
    let run = Running::start(
        config(vec![p.into()]),
        vec![view("s0", p)],
        Some(Duration::from_millis(10)),
    );
    within(20, wait_for("done", T, || tasks_in(p, "done") == ["t.md"])).await;
    let got = run.recorder.deliveries();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].attempt, 2);
    assert_eq!(json(&q(p).join("done/t.result.json"))["attempts"], 2);
    run.stop().await;
}

/// Killed after "delivered" was recorded, while the session still works on it: it is
/// followed, not re-sent, and completes when the session goes idle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_claim_on_a_working_session_is_followed_to_done() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    claimed(p, "s0", "t.md", Some(&record("s0", "t.md", 1, true)));
    let mut working = view("s0", p);
    working.idle = false;
    let run = Running::start(config(vec![p.into()]), vec![working], None);
    // Its transcript shows the prompt (the recorder did not see the delivery: it was made
    // before the restart).
    *run.recorder.probe.lock().unwrap() = Some(Probe::Received);
    let status = q(p).join("status.json");
    within(
        20,
        wait_for("status shows it", T, || {
            status.exists() && json(&status)["sessions"][0]["task"] == "t.md"
        }),
    )
    .await;
    assert!(tasks_in(p, "done").is_empty());
    run.set("s0", |s| s.idle = true);
    within(20, wait_for("done", T, || tasks_in(p, "done") == ["t.md"])).await;
    assert!(run.recorder.deliveries().is_empty(), "never re-sent");
    let r = json(&q(p).join("done/t.result.json"));
    assert_eq!(r["session"], "s0");
    assert!(r["reason"].is_null());
    run.stop().await;
}

/// Delivered, and the session finished it while the runner was down: idle, never seen
/// working. The probe says it arrived: done, not re-sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_claim_finished_while_down_is_done_after_the_probe() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    claimed(p, "s0", "t.md", Some(&record("s0", "t.md", 1, true)));
    let recorder = Recorder::default();
    *recorder.probe.lock().unwrap() = Some(Probe::Received);
    let (views, rx) = tokio::sync::watch::channel(failover_queue::SessionsView {
        sessions: vec![view("s0", p)],
    });
    let run = Running::start_with(config(vec![p.into()]), views, rx, recorder.clone());
    within(20, wait_for("done", T, || tasks_in(p, "done") == ["t.md"])).await;
    assert!(recorder.deliveries().is_empty());
    let r = json(&q(p).join("done/t.result.json"));
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("received the prompt")
    );
    run.stop().await;
}

/// Killed between recording "delivered" and sending: the probe says it never arrived, so
/// sending it now is its first delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_but_never_sent_is_sent_once() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    claimed(p, "s0", "t.md", Some(&record("s0", "t.md", 1, true)));
    let run = Running::start(
        config(vec![p.into()]),
        vec![view("s0", p)],
        Some(Duration::from_millis(10)),
    );
    within(20, wait_for("done", T, || tasks_in(p, "done") == ["t.md"])).await;
    let got = run.recorder.deliveries();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].attempt, 1);
    run.stop().await;
}

/// Same, with the default `unconfirmed_after` (60 s): a transcript read to the end without
/// the prompt settles it within seconds, not after a minute of a stalled queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_but_never_sent_is_sent_within_seconds_not_a_minute() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    claimed(p, "s0", "t.md", Some(&record("s0", "t.md", 1, true)));
    let mut c = config(vec![p.into()]);
    c.unconfirmed_after = Duration::from_secs(60);
    let run = Running::start(c, vec![view("s0", p)], Some(Duration::from_millis(10)));
    within(
        20,
        wait_for("sent again", Duration::from_secs(10), || {
            !run.recorder.deliveries().is_empty()
        }),
    )
    .await;
    within(20, wait_for("done", T, || tasks_in(p, "done") == ["t.md"])).await;
    assert_eq!(run.recorder.deliveries().len(), 1);
    run.stop().await;
}

/// Same, but nothing can tell whether it arrived: it is not re-sent; it fails with a reason
/// and the hook hears of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_outcome_fails_rather_than_resending() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    claimed(p, "s0", "t.md", Some(&record("s0", "t.md", 1, true)));
    let recorder = Recorder::default();
    *recorder.probe.lock().unwrap() = Some(Probe::Unknown);
    let (views, rx) = tokio::sync::watch::channel(failover_queue::SessionsView {
        sessions: vec![view("s0", p)],
    });
    let run = Running::start_with(config(vec![p.into()]), views, rx, recorder.clone());
    let hook = run.failed.clone();
    within(
        20,
        wait_for("reported", T, || hook.lock().unwrap().len() == 1),
    )
    .await;
    assert_eq!(tasks_in(p, "failed"), ["t.md"]);
    assert!(recorder.deliveries().is_empty());
    let r = json(&q(p).join("failed/t.result.json"));
    assert!(r["reason"].as_str().unwrap().starts_with("outcome unknown"));
    run.stop().await;
}

/// Delivered, and the session died while the runner was down: back to the inbox with
/// one attempt used, then run as attempt 2 by a live session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_claim_on_a_dead_session_is_retried() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    claimed(p, "s0", "t.md", Some(&record("s0", "t.md", 1, true)));
    let mut dead = view("s0", p);
    dead.alive = false;
    let run = Running::start(
        config(vec![p.into()]),
        vec![dead, view("s1", p)],
        Some(Duration::from_millis(10)),
    );
    within(20, wait_for("done", T, || tasks_in(p, "done") == ["t.md"])).await;
    let got = run.recorder.deliveries();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].session.as_str(), got[0].attempt), ("s1", 2));
    assert_eq!(json(&q(p).join("done/t.result.json"))["attempts"], 2);
    run.stop().await;
}

/// Killed after deciding "done", before the move: the move is finished, nothing is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decided_done_before_the_move_is_finished() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let mut r = record("s0", "t.md", 1, true);
    r.outcome = outcome(OutcomeKind::Done, "t.md");
    claimed(p, "s0", "t.md", Some(&r));
    // A second project, killed after the move but before the claim record was removed.
    let d2 = tempfile::tempdir().unwrap();
    let p2 = d2.path();
    write_record(p2, &r);
    fs::create_dir_all(q(p2).join("done")).unwrap();
    fs::write(q(p2).join("done/t.md"), "x").unwrap();

    let run = Running::start(config(vec![p.into(), p2.into()]), vec![view("s0", p)], None);
    within(
        20,
        wait_for("finished", T, || {
            tasks_in(p, "done") == ["t.md"]
                && q(p).join("done/t.result.json").exists()
                && claims_left(p) == 0
                && claims_left(p2) == 0
        }),
    )
    .await;
    assert_eq!(json(&q(p).join("done/t.result.json"))["outcome"], "done");
    assert_eq!(json(&q(p2).join("done/t.result.json"))["outcome"], "done");
    assert!(run.recorder.deliveries().is_empty());
    run.stop().await;
}

/// Killed half-way through sending a claim back: the task has two names (claimed and
/// inbox). It ends with one, in the inbox, and runs once with the attempt count kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requeue_interrupted_between_link_and_unlink() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let mut r = record("s0", "t.md", 1, true);
    r.outcome = outcome(OutcomeKind::Requeue, "t.md");
    claimed(p, "s0", "t.md", Some(&r));
    fs::create_dir_all(q(p).join("inbox")).unwrap();
    fs::hard_link(q(p).join("claimed/s0/t.md"), q(p).join("inbox/t.md")).unwrap();
    let run = Running::start(
        config(vec![p.into()]),
        vec![view("s1", p)],
        Some(Duration::from_millis(10)),
    );
    within(
        20,
        wait_for("done, claim gone", T, || {
            tasks_in(p, "done") == ["t.md"] && claims_left(p) == 0
        }),
    )
    .await;
    let got = run.recorder.deliveries();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].attempt, 2);
    run.stop().await;
}

/// Sending a claim back must never overwrite a new task of the same name in the inbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requeue_never_overwrites_a_new_task_of_the_same_name() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    claimed(p, "s0", "t.md", Some(&record("s0", "t.md", 1, false)));
    drop_task(p, "t.md", b"a newer task\n");
    let run = Running::start(
        config(vec![p.into()]),
        vec![view("s1", p)],
        Some(Duration::from_millis(10)),
    );
    within(
        20,
        wait_for("both done", T, || tasks_in(p, "done").len() == 2),
    )
    .await;
    let mut prompts: Vec<String> = run
        .recorder
        .deliveries()
        .into_iter()
        .map(|d| d.prompt)
        .collect();
    prompts.sort();
    assert_eq!(prompts, ["a newer task", "prompt of t.md"]);
    assert_eq!(tasks_in(p, "done"), ["t.md", "t~2.md"]);
    run.stop().await;
}

/// A bad file moved to failed/ by a run killed before it wrote the reason gets a record;
/// a retry killed after linking the task into the inbox loses its failed/ name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_reject_and_retry_are_completed() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let failed = q(p).join("failed");
    fs::create_dir_all(&failed).unwrap();
    fs::write(failed.join("empty.md"), "").unwrap();
    fs::write(failed.join("again.md"), "retry me\n").unwrap();
    fs::write(failed.join("again.result.json"), "{}").unwrap();
    fs::create_dir_all(q(p).join("inbox")).unwrap();
    fs::hard_link(failed.join("again.md"), q(p).join("inbox/again.md")).unwrap();
    let run = Running::start(
        config(vec![p.into()]),
        vec![view("s0", p)],
        Some(Duration::from_millis(10)),
    );
    within(
        20,
        wait_for("retried task done", T, || {
            tasks_in(p, "done") == ["again.md"]
        }),
    )
    .await;
    assert_eq!(tasks_in(p, "failed"), ["empty.md"]);
    assert!(!failed.join("again.result.json").exists());
    let r = json(&failed.join("empty.result.json"));
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("stopped before writing the reason")
    );
    assert_eq!(run.recorder.deliveries().len(), 1);
    run.stop().await;
}
