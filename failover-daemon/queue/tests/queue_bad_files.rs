//! Bad task files get a reason in `failed/`, never a crash; odd but valid names still run.

use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use crate::queue_support::*;

/// Every bad kind of inbox entry, each with the reason it must be rejected with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_are_moved_to_failed_with_a_reason() {
    let project = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let p = project.path();
    let inbox = p.join(".agent-queue/inbox");
    std::fs::create_dir_all(&inbox).unwrap();

    drop_task(p, "empty.md", b"");
    drop_task(p, "blank-body.md", b"---\npriority: 1\n---\n\n   \n");
    drop_task(p, "latin1.md", b"caf\xe9 au lait\n");
    drop_task(p, "notes.txt", b"a fine prompt, wrong name\n");
    drop_task(p, "bad-front.md", b"---\npriority: soon\n---\nDo it\n");
    // 10 GiB, sparse: only metadata may be consulted, reading it would take minutes.
    let huge = std::fs::File::create(inbox.join("huge.md")).unwrap();
    huge.set_len(10 << 30).unwrap();
    drop(huge);
    std::fs::write(outside.path().join("secret.md"), "outside the project\n").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.md"), inbox.join("escape.md")).unwrap();
    std::os::unix::fs::symlink(p.join("nowhere.md"), inbox.join("dangling.md")).unwrap();
    std::fs::create_dir(inbox.join("folder.md")).unwrap();
    let latin1_name = std::ffi::OsStr::from_bytes(b"caf\xe9.md");
    std::fs::write(inbox.join(latin1_name), "fine content, bad name\n").unwrap();

    let run = Running::start(config(vec![p.to_path_buf()]), vec![], None);
    let expected = [
        ("empty.md", "rejected: empty task"),
        ("blank-body.md", "rejected: empty task"),
        (
            "latin1.md",
            "rejected: content is not valid UTF-8 (first bad byte at offset 3)",
        ),
        ("notes.txt", "rejected: name does not end in .md"),
        (
            "bad-front.md",
            "rejected: front matter line 2: priority must be an integer, found `soon`",
        ),
        (
            "huge.md",
            "rejected: 10737418240 bytes is over the 1048576-byte limit",
        ),
        ("escape.md", "rejected: symlink points outside the project"),
        (
            "dangling.md",
            "rejected: symlink points outside the project",
        ),
        ("folder.md", "rejected: not a regular file"),
        // Kept under a readable name in failed/.
        ("caf\u{fffd}.md", "rejected: file name is not valid UTF-8"),
    ];
    within(20, async {
        // The file moves first, its record follows: wait for both.
        wait_for(
            "every bad file and reason in failed/",
            Duration::from_secs(10),
            || {
                tasks_in(p, "failed").len() == expected.len()
                    && expected.iter().all(|(name, _)| {
                        let stem = name.strip_suffix(".md").unwrap_or(name);
                        p.join(format!(".agent-queue/failed/{stem}.result.json"))
                            .exists()
                    })
            },
        )
        .await;
    })
    .await;
    assert!(tasks_in(p, "inbox").is_empty());
    for (name, reason) in expected {
        let stem = name.strip_suffix(".md").unwrap_or(name);
        let record = json(&p.join(format!(".agent-queue/failed/{stem}.result.json")));
        let got = record["reason"].as_str().unwrap();
        assert!(got.starts_with(reason), "{name}: {got}");
        assert_eq!(record["outcome"], "failed");
        assert_eq!(record["task"], name);
    }
    // The symlink moved, its target did not.
    assert!(outside.path().join("secret.md").exists());
    assert!(run.recorder.deliveries().is_empty());
    run.stop().await;
}

/// A symlink to a file inside the project is a fine task; so are spaces, unicode and a name
/// near the file system's limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_names_and_inner_symlinks_run() {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    std::fs::create_dir_all(p.join("docs")).unwrap();
    std::fs::write(p.join("docs/plan.md"), "Follow the plan\n").unwrap();
    let long = format!("{}.md", "ü".repeat(125)); // 250 bytes + ".md" = 253
    drop_task(p, "with spaces ✓.md", b"Task with spaces\n");
    drop_task(p, &long, b"Long name\n");
    std::fs::create_dir_all(p.join(".agent-queue/inbox")).unwrap();
    std::os::unix::fs::symlink(
        p.join("docs/plan.md"),
        p.join(".agent-queue/inbox/linked.md"),
    )
    .unwrap();

    let run = Running::start(
        config(vec![p.to_path_buf()]),
        vec![view("s0", p)],
        Some(Duration::from_millis(20)),
    );
    within(20, async {
        wait_for("three tasks done", Duration::from_secs(10), || {
            tasks_in(p, "done").len() == 3
        })
        .await;
    })
    .await;
    let mut prompts: Vec<String> = run
        .recorder
        .deliveries()
        .into_iter()
        .map(|d| d.prompt)
        .collect();
    prompts.sort();
    assert_eq!(
        prompts,
        ["Follow the plan", "Long name", "Task with spaces"]
    );
    let mut done = tasks_in(p, "done");
    done.sort();
    let mut want = vec![
        "linked.md".to_owned(),
        long.clone(),
        "with spaces ✓.md".into(),
    ];
    want.sort();
    assert_eq!(done, want);
    assert!(tasks_in(p, "failed").is_empty());
    run.stop().await;
}

/// A task whose mtime lies in the future (a clock set back, an mtime copied from elsewhere)
/// is still taken once it has been unchanged for the settle time, instead of waiting forever
/// for its mtime to age.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_with_a_future_mtime_is_not_stalled() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let path = drop_task(p, "from-the-future.md", b"Run me\n");
    let future = std::time::SystemTime::now() + Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(future)
        .unwrap();
    let mut cfg = config(vec![p.to_path_buf()]);
    cfg.write_settle = Duration::from_millis(200);
    let run = Running::start(cfg, vec![view("s0", p)], Some(Duration::from_millis(20)));
    within(20, async {
        wait_for("the task done", Duration::from_secs(10), || {
            tasks_in(p, "done") == ["from-the-future.md"]
        })
        .await;
    })
    .await;
    assert_eq!(run.recorder.tasks_delivered(), ["from-the-future.md"]);
    run.stop().await;
}

/// A task that Claude Code would run as a command (`/logout` removes the account's login,
/// `!cmd` runs a shell command) goes to `failed/` with the reason, never to a session; the
/// same with `allow_commands: true` is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_task_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    drop_task(p, "logout.md", b"\n/logout\n");
    drop_task(p, "shell.md", b"---\npriority: 3\n---\n!rm -rf build\n");
    drop_task(
        p,
        "compact.md",
        b"---\nallow_commands: true\n---\n/compact\n",
    );
    let run = Running::start(
        config(vec![p.to_path_buf()]),
        vec![view("s0", p)],
        Some(Duration::from_millis(20)),
    );
    within(20, async {
        wait_for("two refused, one done", Duration::from_secs(10), || {
            tasks_in(p, "failed").len() == 2 && tasks_in(p, "done").len() == 1
        })
        .await;
    })
    .await;
    assert_eq!(tasks_in(p, "failed"), ["logout.md", "shell.md"]);
    for name in ["logout", "shell"] {
        let r = json(&p.join(format!(".agent-queue/failed/{name}.result.json")));
        let reason = r["reason"].as_str().unwrap();
        assert!(reason.contains("allow_commands: true"), "{reason}");
    }
    let prompts: Vec<String> = run
        .recorder
        .deliveries()
        .into_iter()
        .map(|d| d.prompt)
        .collect();
    assert_eq!(prompts, ["/compact"]);
    run.stop().await;
}
