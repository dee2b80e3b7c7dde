//! The task queue wired into the running daemon: a task dropped into a session's inbox is
//! typed into that session once it is idle, and moves to `done/` when the session has worked
//! on it and is idle again.

mod common;

use std::time::Duration;

use common::*;
use failover_core::SessionId;
use failover_daemon::Daemon;

const LIMIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_task_is_delivered_to_the_idle_session_and_finished() {
    let accounts = ["primary", "backup"];
    let tree = Tree::new(&accounts, &["ccl-0"]);
    let fakes = Fakes::new();
    let (deps, obs) = fakes.deps(&tree);
    let daemon = Daemon::start(tree.config(&accounts, &["ccl-0"], ""), deps)
        .await
        .unwrap();
    let handle = daemon.handle();
    let task = tokio::spawn(daemon.run(std::future::pending()));
    let s = SessionId::new("ccl-0");
    eventually(LIMIT, "launched", || fakes.backend.account_of(&s).is_some()).await;

    let queue = tree.work("ccl-0").join(".agent-queue");
    let inbox = queue.join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let staged = tree.path().join("fix-parser.md");
    std::fs::write(&staged, "Fix the parser's handling of empty lines.\n").unwrap();
    std::fs::rename(&staged, inbox.join("fix-parser.md")).unwrap();

    // Not delivered while the session's state is unknown; delivered once it is idle.
    obs.send(activity("ccl-0", false, handle.clock().now()))
        .await
        .unwrap();
    eventually(LIMIT, "the task typed into the session", || {
        fakes
            .backend
            .last_input(&s)
            .is_some_and(|t| t.contains("Fix the parser's handling of empty lines."))
    })
    .await;
    assert!(!inbox.join("fix-parser.md").exists());

    // The session works on it, then is idle again: the task is done.
    obs.send(activity("ccl-0", true, handle.clock().now()))
        .await
        .unwrap();
    obs.send(activity("ccl-0", false, handle.clock().now()))
        .await
        .unwrap();
    eventually(LIMIT, "the task in done/", || {
        queue.join("done/fix-parser.md").exists()
    })
    .await;
    // Delivered exactly once.
    let inputs = fakes.backend.session(&s).unwrap().inputs;
    assert_eq!(
        inputs
            .iter()
            .filter(|t| t.contains("Fix the parser"))
            .count(),
        1,
        "{inputs:?}"
    );
    task.abort();
}
