//! End to end, with `claude-failoverd`, real tmux and the real Claude Code CLI against the
//! mock API answering at once: the task queue across a daemon `SIGKILL`. Claims delivered
//! before the kill are followed after the restart, never sent again, and turns shorter than
//! the observer's first look are seen done from the transcript, not after the 60 s fallback.

use crate::support::e2e as e2e_support;

use std::path::Path;
use std::time::{Duration, Instant};

use e2e_support::{World, WorldSpec, mins, poll_until, real_claude};

const DAEMON: &str = env!("CARGO_BIN_EXE_claude-failoverd");
const TASKS: usize = 20;

fn done_in(dir: &Path) -> usize {
    std::fs::read_dir(dir.join(".agent-queue/done"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".md"))
                .count()
        })
        .unwrap_or(0)
}

fn entries(dir: &Path, sub: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join(".agent-queue").join(sub))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn prompt(i: usize) -> String {
    format!("queued task number {i:02}, answer briefly")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_tasks_across_a_daemon_kill_run_once_each_and_finish_quickly() {
    let Some(claude) =
        real_claude("twenty_tasks_across_a_daemon_kill_run_once_each_and_finish_quickly")
    else {
        return;
    };
    let mut spec = WorldSpec::new(DAEMON, &claude, 1, 2);
    spec.serve_queues = true;
    let mut world = World::start(spec).await;
    let dirs = world.project_dirs.clone();

    // 20 tasks, 10 per session's project, dropped the way operators should (renamed in).
    for i in 0..TASKS {
        let dir = &dirs[i % dirs.len()];
        let inbox = dir.join(".agent-queue/inbox");
        std::fs::create_dir_all(&inbox).unwrap();
        let staged = dir.join(format!(".t{i:02}.tmp"));
        std::fs::write(&staged, format!("{}\n", prompt(i))).unwrap();
        std::fs::rename(&staged, inbox.join(format!("t{i:02}.md"))).unwrap();
    }
    let done = || dirs.iter().map(|d| done_in(d)).sum::<usize>();
    poll_until(mins(3), Duration::from_millis(20), async || {
        (done() >= 5).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("5 tasks never done; done: {}", done()));
    world.kill_daemon();
    let killed_with = done();

    let restarted = Instant::now();
    world.start_daemon();
    let all = poll_until(mins(3), Duration::from_millis(50), async || {
        (done() == TASKS).then(|| restarted.elapsed())
    })
    .await;
    let report = dirs
        .iter()
        .map(|d| {
            format!(
                "{}: inbox {:?} claimed {:?} done {} failed {:?}",
                d.display(),
                entries(d, "inbox"),
                entries(d, "claimed"),
                done_in(d),
                entries(d, "failed")
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    // What reached the API, in order: the turn requests' last user text, by conversation.
    let sent: String = world
        .api
        .requests()
        .iter()
        .filter_map(|r| {
            let t = r.last_user_text.as_deref()?;
            (!t.contains("Write the title") && t != "quota").then(|| {
                format!(
                    "  {} {}: {:?}\n",
                    r.status,
                    r.session_id
                        .as_deref()
                        .unwrap_or("-")
                        .get(..8)
                        .unwrap_or("-"),
                    t
                )
            })
        })
        .collect();
    let report = format!("{report}\nturn requests:\n{sent}");
    let took = all.unwrap_or_else(|| panic!("not all {TASKS} tasks done:\n{report}"));
    eprintln!(
        "{killed_with} done at the kill; all {TASKS} done {:.1} s after the restart",
        took.as_secs_f64()
    );
    // Every task's prompt reached the API exactly once as a turn request (the CLI's title
    // request carries it too, wrapped; it is not counted).
    for i in 0..TASKS {
        let p = prompt(i);
        let turns = world.prompt_requests(&p);
        assert_eq!(
            turns.len(),
            1,
            "{p:?} sent {} times:\n{report}",
            turns.len()
        );
    }
    for d in &dirs {
        assert!(entries(d, "failed").is_empty(), "{report}");
    }
    assert!(
        took <= Duration::from_secs(60),
        "all {TASKS} done only {took:?} after the restart:\n{report}"
    );
}
