//! The runner against simulated sessions: priority, targeting, failover, session death,
//! refused delivery, status publishing, and files still being written.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use crate::queue_support::*;
use failover_core::AccountId;
use failover_queue::{Clock, Probe, Queue};
use jiff::Timestamp;

const T: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_first_and_targeted_tasks_wait_for_their_session() {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    drop_task(p, "a-low.md", b"low\n");
    drop_task(p, "b-high.md", b"---\npriority: 9\n---\nhigh\n");
    drop_task(p, "c-mid.md", b"---\npriority: 3\n---\nmid\n");
    drop_task(
        p,
        "d-pinned.md",
        b"---\nsession: s9\npriority: 100\n---\npinned\n",
    );
    let run = Running::start(
        config(vec![p.to_path_buf()]),
        vec![view("s0", p)],
        Some(Duration::from_millis(15)),
    );
    within(
        20,
        wait_for("three done", T, || tasks_in(p, "done").len() == 3),
    )
    .await;
    assert_eq!(
        run.recorder.tasks_delivered(),
        ["b-high.md", "c-mid.md", "a-low.md"]
    );
    assert_eq!(tasks_in(p, "inbox"), ["d-pinned.md"]);
    let r = json(&p.join(".agent-queue/done/b-high.result.json"));
    assert_eq!(r["session"], "s0");
    assert_eq!(r["account"], "a");
    assert_eq!(r["claude_session"], "s0-conv");
    assert_eq!(r["attempts"], 1);
    assert!(r["started_at"].as_str().unwrap() <= r["ended_at"].as_str().unwrap());

    // The targeted session appears: it gets its task; s0 does not.
    run.views.send_modify(|v| v.sessions.push(view("s9", p)));
    within(
        20,
        wait_for("pinned done", T, || tasks_in(p, "done").len() == 4),
    )
    .await;
    let last = run.recorder.deliveries().pop().unwrap();
    assert_eq!(
        (last.task.as_str(), last.session.as_str()),
        ("d-pinned.md", "s9")
    );
    assert_eq!(last.prompt, "pinned");
    run.stop().await;
}

/// A failover in the middle of a task: the queue keeps the claim, does not send the prompt
/// again (the engine replays it), and completes it once the session worked on the new
/// account and came back to its prompt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_mid_task_keeps_the_claim_and_completes_on_the_new_account() {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    drop_task(p, "t.md", b"work\n");
    let mut cfg = config(vec![p.to_path_buf()]);
    cfg.unconfirmed_after = Duration::from_secs(30); // never probe here
    let run = Running::start(cfg, vec![view("s0", p)], None);
    let rec = run.recorder.clone();
    within(20, wait_for("delivered", T, || rec.deliveries().len() == 1)).await;
    run.set("s0", |s| {
        s.idle = false;
        s.turns_started += 1;
    });
    // Quota hit: the session is stopped (dead, mid-swap), then resumed idle on account b.
    run.set("s0", |s| {
        s.mid_swap = true;
        s.alive = false;
        s.idle = false;
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    run.set("s0", |s| {
        s.alive = true;
        s.idle = true;
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    run.set("s0", |s| {
        s.mid_swap = false;
        s.account = Some(AccountId::new("b"));
    });
    // Idle after the swap, not yet worked on the new account: still claimed.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(tasks_in(p, "claimed/s0"), ["t.md"]);
    assert!(tasks_in(p, "done").is_empty());
    // The engine replays the prompt; the session works, then idles.
    run.set("s0", |s| {
        s.idle = false;
        s.turns_started += 1;
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    run.set("s0", |s| s.idle = true);
    within(20, wait_for("done", T, || tasks_in(p, "done") == ["t.md"])).await;
    assert_eq!(rec.deliveries().len(), 1, "never re-sent by the queue");
    let r = json(&p.join(".agent-queue/done/t.result.json"));
    assert_eq!(r["account"], "b");
    run.stop().await;
}

/// A session that dies mid-task sends it back (attempts + 1); when the task runs out of
/// attempts it fails for good and the hook hears of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_session_requeues_until_out_of_attempts() {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    drop_task(p, "fragile.md", b"---\nmax_attempts: 2\n---\nfragile\n");
    let run = Running::start(config(vec![p.to_path_buf()]), vec![view("s0", p)], None);
    let rec = run.recorder.clone();
    for attempt in 1..=2u32 {
        within(
            20,
            wait_for("delivered", T, || {
                rec.deliveries().len() == attempt as usize
            }),
        )
        .await;
        assert_eq!(rec.deliveries()[attempt as usize - 1].attempt, attempt);
        run.set("s0", |s| {
            s.idle = false;
            s.turns_started += 1;
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        run.set("s0", |s| s.alive = false);
        if attempt == 1 {
            within(
                20,
                wait_for("back in inbox", T, || {
                    tasks_in(p, "inbox") == ["fragile.md"]
                }),
            )
            .await;
            let a = json(&p.join(".agent-queue/attempts/fragile.attempts.json"));
            assert_eq!(a["attempts_used"], 1);
            // The session is relaunched.
            run.set("s0", |s| {
                s.alive = true;
                s.idle = true;
            });
        }
    }
    let hook = run.failed.clone();
    within(
        20,
        wait_for("failure reported", T, || hook.lock().unwrap().len() == 1),
    )
    .await;
    assert_eq!(tasks_in(p, "failed"), ["fragile.md"]);
    let r = json(&p.join(".agent-queue/failed/fragile.result.json"));
    assert_eq!(r["attempts"], 2);
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("died during attempt 2 of 2")
    );
    let failed = run.failed.lock().unwrap().clone();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].task, "fragile.md");
    assert_eq!(failed[0].session.as_ref().unwrap().as_str(), "s0");
    assert!(
        !p.join(".agent-queue/attempts/fragile.attempts.json")
            .exists()
    );
    run.stop().await;
}

/// A session that refuses input: the task goes back (one attempt used) and runs elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_delivery_goes_back_to_the_inbox() {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    drop_task(p, "t.md", b"x\n");
    let (views, rx) = tokio::sync::watch::channel(failover_queue::SessionsView {
        sessions: vec![view("s0", p)],
    });
    let recorder = Recorder::default();
    *recorder.reject_next.lock().unwrap() = Some("pane is in copy mode".into());
    let run = Running::start_with(config(vec![p.to_path_buf()]), views, rx, recorder.clone());
    // After the refusal it is back in the inbox and s0 (still idle) takes it again.
    within(
        20,
        wait_for("second delivery", T, || recorder.deliveries().len() == 1),
    )
    .await;
    assert_eq!(recorder.deliveries()[0].attempt, 2);
    run.stop().await;
}

/// A session whose input box holds someone's draft refuses the prompt without typing it: the
/// task stays claimed (no attempt used, not sent back), the turn the person runs meanwhile
/// is not taken for the task, and the prompt is typed once the session takes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_in_the_way_keeps_the_claim_until_the_prompt_can_be_typed() {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let mut cfg = config(vec![p.to_path_buf()]);
    cfg.unconfirmed_after = Duration::from_secs(60);
    let (views, rx) = tokio::sync::watch::channel(failover_queue::SessionsView {
        sessions: vec![view("s0", p)],
    });
    let mut recorder = Recorder::default();
    *recorder.not_now.lock().unwrap() = 2;
    let (tx, feed) = tokio::sync::mpsc::unbounded_channel();
    recorder.feed = Some(tx);
    // Until the prompt is typed, the probe would call it finished: it must not be asked.
    *recorder.probe.lock().unwrap() = Some(Probe::Finished);
    let run = Running::start_with(cfg, views.clone(), rx, recorder.clone());
    drop_task(p, "t.md", b"the task\n");
    within(
        10,
        wait_for("refused once", T, || {
            recorder.refused.lock().unwrap().len() == 1
        }),
    )
    .await;
    assert_eq!(tasks_in(p, "claimed/s0"), ["t.md"]);
    // The person sends their draft: a turn of theirs, then idle again.
    run.set("s0", |s| {
        s.idle = false;
        s.turns_started += 1;
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    run.set("s0", |s| s.idle = true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        tasks_in(p, "claimed/s0"),
        ["t.md"],
        "their turn is not the task"
    );
    assert!(tasks_in(p, "done").is_empty());
    // Offered again while idle; the second refusal too, then typed.
    within(
        20,
        wait_for("typed", T, || recorder.deliveries().len() == 1),
    )
    .await;
    assert_eq!(recorder.refused.lock().unwrap().len(), 2);
    let sent = &recorder.deliveries()[0];
    assert_eq!(sent.attempt, 1, "no attempt used by the refusals");
    assert!(sent.recorded_at > recorder.refused.lock().unwrap()[0].recorded_at);
    let record = json(&p.join(".agent-queue/claimed/s0/t.claim.json"));
    assert_eq!(
        record["delivered_at"]
            .as_str()
            .unwrap()
            .parse::<Timestamp>()
            .unwrap(),
        sent.recorded_at,
        "recorded afresh before typing"
    );
    simulate_sessions(views, feed, Duration::from_millis(50));
    within(10, wait_for("done", T, || tasks_in(p, "done") == ["t.md"])).await;
    assert!(run.failed.lock().unwrap().is_empty());
    run.stop().await;
}

/// Appends one line to a transcript, as Claude Code does.
fn append_line(path: &std::path::Path, line: &serde_json::Value) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    writeln!(f, "{line}").unwrap();
}

/// A turn as Claude Code 2.1.3xx writes it: the prompt, the reply, and (with `end`) the
/// turn's end (which the CLI writes up to 100 ms after drawing its idle prompt).
fn write_turn(path: &std::path::Path, prompt: &str, end: bool) {
    let now = || Timestamp::now().to_string();
    append_line(
        path,
        &serde_json::json!({"type": "user", "isSidechain": false, "timestamp": now(),
            "message": {"role": "user", "content": prompt}}),
    );
    append_line(
        path,
        &serde_json::json!({"type": "assistant", "isSidechain": false, "timestamp": now(),
            "message": {"role": "assistant", "stop_reason": "end_turn", "content": []}}),
    );
    if end {
        append_line(
            path,
            &serde_json::json!({"type": "system", "subtype": "turn_duration",
                "isSidechain": false, "durationMs": 5, "timestamp": now()}),
        );
    }
}

/// The transcript's turn end finishes the task as soon as it is written, while the view still
/// says working (the pane observer has not caught up); the screen showing an idle prompt lets
/// the next task go at once. The view's late `working → idle` of the first turn is then not
/// taken for the second task's. A reply that ended, with the screen idle, finishes the task
/// before the CLI writes the turn's end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_end_in_the_transcript_finishes_the_task_before_the_view_says_idle() {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let conv = tempfile::tempdir().unwrap();
    let transcript = conv.path().join("s0-conv.jsonl");
    std::fs::write(&transcript, "").unwrap();
    let mut cfg = config(vec![p.to_path_buf()]);
    cfg.unconfirmed_after = Duration::from_secs(60);
    let (views, rx) = tokio::sync::watch::channel(failover_queue::SessionsView {
        sessions: vec![view("s0", p)],
    });
    let recorder = Recorder::default();
    *recorder.transcript.lock().unwrap() = Some(transcript.clone());
    recorder
        .idle_now
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let run = Running::start_with(cfg, views, rx, recorder.clone());
    drop_task(p, "a.md", b"---\npriority: 2\n---\nfirst task\n");
    drop_task(p, "b.md", b"---\npriority: 1\n---\nsecond task\n");
    within(
        10,
        wait_for("a delivered", T, || recorder.tasks_delivered() == ["a.md"]),
    )
    .await;
    // The observer saw the turn start, and has not seen it end.
    run.set("s0", |s| {
        s.idle = false;
        s.turns_started += 1;
    });
    // Past the first look at the transcript: from here only the watcher is quick.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ended = std::time::Instant::now();
    write_turn(&transcript, "first task", true);
    within(
        10,
        wait_for("a done, b delivered", T, || {
            tasks_in(p, "done") == ["a.md"] && recorder.tasks_delivered().len() == 2
        }),
    )
    .await;
    eprintln!("turn end written → next task typed: {:?}", ended.elapsed());
    assert!(
        !run.views.borrow().sessions[0].idle,
        "the view never said idle"
    );
    // The observer catches up with the first turn's end: not the second task's.
    run.set("s0", |s| s.idle = true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(tasks_in(p, "claimed/s0"), ["b.md"]);
    // The second turn: its reply ends, its end is not written yet, and the screen shows an
    // idle prompt: done, the view still saying working.
    recorder
        .idle_now
        .store(false, std::sync::atomic::Ordering::SeqCst);
    run.set("s0", |s| {
        s.idle = false;
        s.turns_started += 1;
    });
    write_turn(&transcript, "second task", false);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        tasks_in(p, "claimed/s0"),
        ["b.md"],
        "the reply ended, the screen not idle yet"
    );
    recorder
        .idle_now
        .store(true, std::sync::atomic::Ordering::SeqCst);
    within(
        10,
        wait_for("b done", T, || tasks_in(p, "done") == ["a.md", "b.md"]),
    )
    .await;
    assert!(!run.views.borrow().sessions[0].idle);
    assert_eq!(recorder.tasks_delivered(), ["a.md", "b.md"]);
    run.stop().await;
}

/// Working then idle in the view is not enough when the transcript, read to the end, does
/// not hold the prompt (another turn's end drawn late, or the prompt still on its way): the
/// task is done once the transcript shows its turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seen_working_and_idle_waits_for_the_prompt_in_the_transcript() {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let conv = tempfile::tempdir().unwrap();
    let transcript = conv.path().join("s0-conv.jsonl");
    std::fs::write(&transcript, "").unwrap();
    let mut cfg = config(vec![p.to_path_buf()]);
    cfg.unconfirmed_after = Duration::from_secs(60);
    let (views, rx) = tokio::sync::watch::channel(failover_queue::SessionsView {
        sessions: vec![view("s0", p)],
    });
    let recorder = Recorder::default();
    *recorder.transcript.lock().unwrap() = Some(transcript.clone());
    let run = Running::start_with(cfg, views, rx, recorder.clone());
    drop_task(p, "a.md", b"first task\n");
    within(
        10,
        wait_for("a delivered", T, || recorder.tasks_delivered() == ["a.md"]),
    )
    .await;
    run.set("s0", |s| {
        s.idle = false;
        s.turns_started += 1;
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    run.set("s0", |s| s.idle = true);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        tasks_in(p, "claimed/s0"),
        ["a.md"],
        "not in the transcript yet"
    );
    write_turn(&transcript, "first task", true);
    within(
        10,
        wait_for("a done", T, || tasks_in(p, "done") == ["a.md"]),
    )
    .await;
    assert_eq!(recorder.tasks_delivered(), ["a.md"], "never sent again");
    run.stop().await;
}

/// `status.json` follows the sessions: working with its task, then idle with none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_json_tracks_sessions_and_tasks() {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let other = tempfile::tempdir().unwrap();
    let run = Running::start(
        config(vec![p.to_path_buf()]),
        vec![view("s0", p), view("s1", p), view("x", other.path())],
        None,
    );
    let status = p.join(".agent-queue/status.json");
    within(20, wait_for("status written", T, || status.exists())).await;
    let s = json(&status);
    assert_eq!(s["version"], 1);
    assert_eq!(s["sessions"].as_array().unwrap().len(), 2, "{s}");
    assert_eq!(s["sessions"][0]["state"], "idle");
    drop_task(p, "job.md", b"job\n");
    run.set("s1", |s| s.idle = false);
    let rec = run.recorder.clone();
    within(20, wait_for("delivered", T, || rec.deliveries().len() == 1)).await;
    run.set("s0", |s| {
        s.idle = false;
        s.turns_started += 1;
    });
    within(
        20,
        wait_for("status shows the task", T, || {
            let s = json(&status);
            s["sessions"][0]["task"] == "job.md"
                && s["sessions"][0]["state"] == "working"
                && s["sessions"][1]["state"] == "working"
        }),
    )
    .await;
    run.set("s0", |s| s.idle = true);
    within(
        20,
        wait_for("status idle again", T, || {
            let s = json(&status);
            s["sessions"][0]["task"].is_null() && s["sessions"][0]["state"] == "idle"
        }),
    )
    .await;
    run.stop().await;
}

/// A file written in place, slowly, is not taken (or rejected as empty) until it has been
/// left alone for `write_settle`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_written_in_place_wait_until_settled() {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let mut cfg = config(vec![p.to_path_buf()]);
    cfg.write_settle = Duration::from_millis(300);
    let run = Running::start(cfg, vec![view("s0", p)], Some(Duration::from_millis(10)));
    let inbox = p.join(".agent-queue/inbox");
    within(20, wait_for("inbox created", T, || inbox.exists())).await;
    let mut f = std::fs::File::create(inbox.join("slow.md")).unwrap();
    for part in ["Line one\n", "line two\n", "line three\n"] {
        tokio::time::sleep(Duration::from_millis(100)).await;
        f.write_all(part.as_bytes()).unwrap();
    }
    drop(f);
    within(
        20,
        wait_for("done", T, || tasks_in(p, "done") == ["slow.md"]),
    )
    .await;
    let d = run.recorder.deliveries();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].prompt, "Line one\nline two\nline three");
    assert!(tasks_in(p, "failed").is_empty());
    run.stop().await;
}

/// A swap the queue never saw in progress (it came and went between two views): the change of
/// account alone tells it, so earlier work does not count as completion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unseen_swap_is_noticed_by_the_account_change() {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    drop_task(p, "t.md", b"work\n");
    let mut cfg = config(vec![p.to_path_buf()]);
    cfg.unconfirmed_after = Duration::from_secs(30);
    let run = Running::start(cfg, vec![view("s0", p)], None);
    let rec = run.recorder.clone();
    within(20, wait_for("delivered", T, || rec.deliveries().len() == 1)).await;
    let status = p.join(".agent-queue/status.json");
    run.set("s0", |s| {
        s.idle = false;
        s.turns_started += 1;
    });
    within(
        20,
        wait_for("seen working", T, || {
            status.exists() && json(&status)["sessions"][0]["state"] == "working"
        }),
    )
    .await;
    // Next view: idle, on account b, same conversation (resumed), no mid-swap ever seen.
    run.set("s0", |s| {
        s.idle = true;
        s.account = Some(AccountId::new("b"));
    });
    within(
        20,
        wait_for("seen idle on b", T, || {
            json(&status)["sessions"][0]["account"] == "b"
        }),
    )
    .await;
    assert_eq!(
        tasks_in(p, "claimed/s0"),
        ["t.md"],
        "not done by pre-swap work"
    );
    run.set("s0", |s| {
        s.idle = false;
        s.turns_started += 1;
    });
    within(
        20,
        wait_for("working on b", T, || {
            json(&status)["sessions"][0]["state"] == "working"
        }),
    )
    .await;
    run.set("s0", |s| s.idle = true);
    within(20, wait_for("done", T, || tasks_in(p, "done") == ["t.md"])).await;
    assert_eq!(
        json(&p.join(".agent-queue/done/t.result.json"))["account"],
        "b"
    );
    assert_eq!(rec.deliveries().len(), 1);
    run.stop().await;
}

/// A session relaunched into a new conversation lost the task: it goes back to the inbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_conversation_sends_the_task_back() {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    drop_task(p, "t.md", b"work\n");
    let mut cfg = config(vec![p.to_path_buf()]);
    cfg.unconfirmed_after = Duration::from_secs(30);
    let run = Running::start(cfg, vec![view("s0", p)], None);
    let rec = run.recorder.clone();
    within(20, wait_for("delivered", T, || rec.deliveries().len() == 1)).await;
    run.set("s0", |s| {
        s.claude_session = Some(failover_core::ClaudeSessionId::new("fresh"));
    });
    within(
        20,
        wait_for("delivered again", T, || rec.deliveries().len() == 2),
    )
    .await;
    assert_eq!(rec.deliveries()[1].attempt, 2);
    run.stop().await;
}

/// The runner also runs on a current-thread runtime (file work then runs in line).
#[tokio::test]
async fn runs_on_a_current_thread_runtime() {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    drop_task(p, "t.md", b"x\n");
    let run = Running::start(
        config(vec![p.to_path_buf()]),
        vec![view("s0", p)],
        Some(Duration::from_millis(5)),
    );
    within(20, wait_for("done", T, || tasks_in(p, "done") == ["t.md"])).await;
    assert_eq!(run.recorder.deliveries().len(), 1);
    run.stop().await;
}

/// A task dropped while the runner idles is seen through the inbox watcher: nothing else
/// (no session change, no timer) happens to wake it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_dropped_later_is_seen_through_the_watcher() {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let run = Running::start(config(vec![p.to_path_buf()]), vec![view("s0", p)], None);
    let status = p.join(".agent-queue/status.json");
    within(20, wait_for("started", T, || status.exists())).await;
    drop_task(p, "late.md", b"late\n");
    let rec = run.recorder.clone();
    within(20, wait_for("delivered", T, || rec.deliveries().len() == 1)).await;
    assert_eq!(rec.deliveries()[0].task, "late.md");
    run.stop().await;
}

/// A turn too short for the session's observer: the view never shows the session working.
/// The queue asks the probe (the transcript, in the daemon) whether the task's turn ended and
/// finishes it at once, instead of waiting `unconfirmed_after` for the fallback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_never_seen_working_is_done_when_the_probe_shows_it_ended() {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let mut cfg = config(vec![p.to_path_buf()]);
    cfg.unconfirmed_after = Duration::from_secs(60); // the fallback must not be what ends it
    let run = Running::start(cfg, vec![view("s0", p)], None);
    *run.recorder.probe.lock().unwrap() = Some(Probe::Finished);
    drop_task(p, "a.md", b"first\n");
    drop_task(p, "b.md", b"second\n");
    within(
        10,
        wait_for("both done", T, || tasks_in(p, "done") == ["a.md", "b.md"]),
    )
    .await;
    assert_eq!(run.recorder.tasks_delivered().len(), 2);
    let r = json(&p.join(".agent-queue/done/a.result.json"));
    assert_eq!(r["reason"], serde_json::Value::Null);
    run.stop().await;
}

/// The probe saying the prompt arrived but its turn has not ended keeps the task claimed
/// (the session idles between the prompt's arrival and the turn's first sign of work).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_received_prompt_whose_turn_has_not_ended_stays_claimed() {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let mut cfg = config(vec![p.to_path_buf()]);
    cfg.unconfirmed_after = Duration::from_secs(60);
    let run = Running::start(cfg, vec![view("s0", p)], None);
    *run.recorder.probe.lock().unwrap() = Some(Probe::Received);
    drop_task(p, "a.md", b"first\n");
    within(
        10,
        wait_for("delivered", T, || run.recorder.deliveries().len() == 1),
    )
    .await;
    // Several checks' worth of time (they run every 100 ms at first).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(tasks_in(p, "claimed/s0"), ["a.md"]);
    *run.recorder.probe.lock().unwrap() = Some(Probe::Finished);
    within(10, wait_for("done", T, || tasks_in(p, "done") == ["a.md"])).await;
    assert_eq!(run.recorder.deliveries().len(), 1);
    run.stop().await;
}

/// Every time the queue records (a claim, a delivery, an ending, a rejection) is read from the
/// clock it is given, not from the system's: the daemon passes its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_times_come_from_the_given_clock() {
    #[derive(Debug)]
    struct Fixed(Timestamp);
    impl Clock for Fixed {
        fn now(&self) -> Timestamp {
            self.0
        }
    }
    let at: Timestamp = "2031-04-05T06:07:08Z".parse().unwrap();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    drop_task(p, "t.md", b"Do the thing.\n");
    drop_task(p, "empty.md", b"");
    let queue = Queue::new(config(vec![p.to_path_buf()])).with_clock(Arc::new(Fixed(at)));
    let run = Running::start_queue(queue, vec![view("s0", p)], Some(Duration::from_millis(50)));
    let q = p.join(".agent-queue");
    within(
        20,
        wait_for("both files settled", T, || {
            q.join("done/t.result.json").exists() && q.join("failed/empty.result.json").exists()
        }),
    )
    .await;
    assert_eq!(run.recorder.deliveries()[0].recorded_at, at);
    let done = json(&q.join("done/t.result.json"));
    assert_eq!(done["started_at"], at.to_string(), "{done}");
    assert_eq!(done["ended_at"], at.to_string(), "{done}");
    let rejected = json(&q.join("failed/empty.result.json"));
    assert_eq!(rejected["ended_at"], at.to_string(), "{rejected}");
    run.stop().await;
}
