//! The CLI's operations (`tasks list|add|retry`) and the sweep, straight on the files with
//! no daemon running.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::queue_support::*;
use failover_core::SessionId;
use failover_queue::ops::{self, TaskState};
use failover_queue::records::ClaimRecordV1;
use failover_queue::sweep::{self, SweepConfig};
use failover_queue::{BadTask, DEFAULT_MAX_TASK_BYTES, QueueError};
use jiff::{SignedDuration, Timestamp};

fn src(dir: &Path, name: &str, body: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    fs::write(&path, body).unwrap();
    path
}

#[test]
fn add_checks_the_file_and_never_overwrites() {
    let project = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let (p, f) = (project.path(), files.path());
    let good = src(
        f,
        "fix bug.md",
        b"---\npriority: 2\nsession: s1\n---\nFix it\n",
    );
    let a = ops::add(p, &good, DEFAULT_MAX_TASK_BYTES).unwrap();
    assert_eq!(a.name, "fix bug.md");
    let b = ops::add(p, &good, DEFAULT_MAX_TASK_BYTES).unwrap();
    assert_eq!(b.name, "fix bug~2.md");
    assert_eq!(fs::read(&b.path).unwrap(), fs::read(&good).unwrap());
    assert_eq!(tasks_in(p, "inbox"), ["fix bug.md", "fix bug~2.md"]);
    assert!(
        fs::read_dir(p.join(".agent-queue/tmp"))
            .unwrap()
            .next()
            .is_none()
    );

    let cases: [(&str, &[u8], BadTask); 4] = [
        ("empty.md", b"", BadTask::Empty),
        ("notes.txt", b"hello", BadTask::NotMarkdown),
        ("bin.md", b"\xff\xfe", BadTask::NotUtf8 { offset: 0 }),
        (
            "fm.md",
            b"---\ncolour: red\n---\nx",
            BadTask::FrontMatter {
                line: 2,
                message:
                    "unknown key `colour` (known: priority, session, max_attempts, allow_commands)"
                        .into(),
            },
        ),
    ];
    for (name, body, want) in cases {
        match ops::add(p, &src(f, name, body), DEFAULT_MAX_TASK_BYTES) {
            Err(QueueError::BadTask { reason, .. }) => assert_eq!(reason, want, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    let big = src(f, "big.md", &[b'a'; 2048]);
    assert!(matches!(
        ops::add(p, &big, 1024),
        Err(QueueError::BadTask {
            reason: BadTask::TooLarge {
                size: 2048,
                limit: 1024
            },
            ..
        })
    ));
    assert_eq!(tasks_in(p, "inbox").len(), 2, "nothing bad was added");
}

#[test]
fn list_shows_every_state_and_serializes() {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    drop_task(p, "waiting.md", b"---\npriority: 7\nsession: s2\n---\nx\n");
    drop_task(p, "broken.md", b"");
    let q = p.join(".agent-queue");
    fs::create_dir_all(q.join("claimed/s0")).unwrap();
    fs::write(q.join("claimed/s0/busy.md"), "x").unwrap();
    let rec = ClaimRecordV1 {
        version: 1,
        task: "busy.md".into(),
        session: SessionId::new("s0"),
        attempt: 2,
        max_attempts: 3,
        claimed_at: Timestamp::now(),
        delivered_at: Some(Timestamp::now()),
        account: None,
        claude_session: None,
        outcome: None,
    };
    fs::write(
        q.join("claimed/s0/busy.claim.json"),
        serde_json::to_vec(&rec).unwrap(),
    )
    .unwrap();
    fs::create_dir_all(q.join("done")).unwrap();
    fs::write(q.join("done/old.md"), "x").unwrap();

    let list = ops::list(&[p.to_path_buf()]).unwrap();
    let by = |n: &str| list.iter().find(|e| e.name == n).unwrap();
    assert_eq!(list.len(), 4);
    assert_eq!(by("waiting.md").state, TaskState::Inbox);
    assert_eq!(by("waiting.md").priority, Some(7));
    assert_eq!(by("waiting.md").target_session.as_deref(), Some("s2"));
    assert_eq!(by("broken.md").problem.as_deref(), Some("empty task"));
    assert_eq!(by("busy.md").state, TaskState::Claimed);
    assert_eq!(by("busy.md").session.as_deref(), Some("s0"));
    assert_eq!(
        (by("busy.md").attempt, by("busy.md").delivered),
        (Some(2), Some(true))
    );
    assert_eq!(by("old.md").state, TaskState::Done);
    let json = serde_json::to_value(&list).unwrap();
    assert_eq!(json[0]["state"], "inbox");
}

#[test]
fn retry_moves_a_failed_task_back_and_resets_attempts() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    let projects = [one.path().to_path_buf(), two.path().to_path_buf()];
    for p in &projects {
        let failed = p.join(".agent-queue/failed");
        fs::create_dir_all(&failed).unwrap();
        fs::write(failed.join("same.md"), "x\n").unwrap();
    }
    let failed = one.path().join(".agent-queue/failed");
    fs::write(failed.join("t.md"), "again\n").unwrap();
    fs::write(failed.join("t.result.json"), "{}").unwrap();
    drop_task(one.path(), "t.md", b"a different task already waiting\n");

    let r = ops::retry(&projects, "t").unwrap();
    assert_eq!((r.from.as_str(), r.name.as_str()), ("t.md", "t~2.md"));
    assert_eq!(fs::read_to_string(&r.path).unwrap(), "again\n");
    assert!(!failed.join("t.md").exists() && !failed.join("t.result.json").exists());
    assert_eq!(tasks_in(one.path(), "inbox"), ["t.md", "t~2.md"]);

    assert!(matches!(
        ops::retry(&projects, "nope.md"),
        Err(QueueError::NotFound(_))
    ));
    match ops::retry(&projects, "same.md") {
        Err(QueueError::Ambiguous { candidates, .. }) => assert_eq!(candidates.len(), 2),
        other => panic!("{other:?}"),
    }
    let only_two = ops::retry(&projects[1..], "same").unwrap();
    assert_eq!(only_two.name, "same.md");
}

/// `tasks retry ID` takes a name in `failed/`, never a path: `../done/x.md` must not pull a
/// finished task out of `done/` (it would run a second time), nor `..` touch the queue dir.
#[test]
fn retry_refuses_ids_that_are_paths() {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let done = p.join(".agent-queue/done");
    fs::create_dir_all(&done).unwrap();
    fs::create_dir_all(p.join(".agent-queue/failed")).unwrap();
    fs::write(done.join("x.md"), "ran once\n").unwrap();
    let projects = [p.to_path_buf()];
    for id in ["../done/x.md", "../done/x", "..", ".", "", "a/b.md"] {
        match ops::retry(&projects, id) {
            Err(e @ QueueError::InvalidId { .. }) => {
                assert!(e.to_string().contains("not a task name"), "{e}");
            }
            other => panic!("retry {id:?}: {other:?}"),
        }
    }
    assert_eq!(tasks_in(p, "done"), ["x.md"]);
    assert!(tasks_in(p, "inbox").is_empty());
}

fn write_claim(p: &Path, session: &str, task: &str, attempt: u32, max: u32, delivered: bool) {
    let dir = p.join(".agent-queue/claimed").join(session);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(task), format!("{task}\n")).unwrap();
    let rec = ClaimRecordV1 {
        version: 1,
        task: task.into(),
        session: SessionId::new(session),
        attempt,
        max_attempts: max,
        claimed_at: Timestamp::now(),
        delivered_at: delivered.then(Timestamp::now),
        account: None,
        claude_session: None,
        outcome: None,
    };
    let stem = task.strip_suffix(".md").unwrap();
    fs::write(
        dir.join(format!("{stem}.claim.json")),
        serde_json::to_vec(&rec).unwrap(),
    )
    .unwrap();
}

#[test]
fn sweep_releases_gone_sessions_and_archives_old_done() {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let q = p.join(".agent-queue");
    write_claim(p, "live", "mine.md", 1, 3, true);
    write_claim(p, "gone", "undelivered.md", 2, 3, false);
    write_claim(p, "gone", "delivered.md", 1, 3, true);
    write_claim(p, "gone", "last-try.md", 3, 3, true);
    drop_task(p, "waiting.md", b"x\n");
    fs::create_dir_all(q.join("done")).unwrap();
    for (name, age_h) in [("old", 200), ("new", 1)] {
        fs::write(q.join(format!("done/{name}.md")), "x").unwrap();
        let ended = Timestamp::now() - SignedDuration::from_hours(age_h);
        let rec = serde_json::json!({"version":1,"task":format!("{name}.md"),"outcome":"done",
            "session":"live","account":null,"claude_session":null,"started_at":null,
            "ended_at":ended,"attempts":1,"reason":null});
        fs::write(q.join(format!("done/{name}.result.json")), rec.to_string()).unwrap();
    }
    fs::create_dir_all(q.join("tmp")).unwrap();
    fs::write(q.join("tmp/w-1-1.tmp"), "half").unwrap();

    let mut cfg = SweepConfig::new(Duration::from_secs(24 * 3600));
    cfg.scratch_max_age = Duration::ZERO;
    let sessions = [(SessionId::new("live"), p.to_path_buf())];
    let report = sweep::run_once(Timestamp::now(), &[p.to_path_buf()], &sessions, &cfg).unwrap();

    let mut requeued: Vec<_> = report.requeued.iter().map(|(_, t)| t.as_str()).collect();
    requeued.sort();
    assert_eq!(requeued, ["delivered.md", "undelivered.md"]);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(
        tasks_in(p, "claimed/live"),
        ["mine.md"],
        "a live claim is untouched"
    );
    assert!(tasks_in(p, "claimed/gone").is_empty());
    assert_eq!(
        tasks_in(p, "inbox"),
        ["delivered.md", "undelivered.md", "waiting.md"]
    );
    // Attempts used: the delivered one spent one; the undelivered one spent none of its 2nd.
    let used =
        |t: &str| json(&q.join(format!("attempts/{t}.attempts.json")))["attempts_used"].clone();
    assert_eq!(used("delivered"), 1);
    assert_eq!(used("undelivered"), 1);
    assert_eq!(tasks_in(p, "failed"), ["last-try.md"]);
    assert_eq!(tasks_in(p, "done"), ["new.md"]);
    assert_eq!(tasks_in(p, "archive"), ["old.md"]);
    assert!(q.join("archive/old.result.json").exists());
    assert_eq!(report.scratch_removed, 1);
    assert!(!q.join("tmp/w-1-1.tmp").exists());

    // A second run changes nothing more.
    let again = sweep::run_once(Timestamp::now(), &[p.to_path_buf()], &sessions, &cfg).unwrap();
    assert!(again.requeued.is_empty() && again.archived.is_empty() && again.failed.is_empty());
}
