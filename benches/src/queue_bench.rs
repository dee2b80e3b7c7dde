//! `failover-e2e-bench queue`: what the task queue adds to each task beyond the model's turn,
//! on the real CLI against the mock API answering at once.
//!
//! One session serves one project; `BENCH_QUEUE_TASKS` tasks (20) are dropped into its inbox
//! at once and run one after the other. Per task, from the session's transcript and the
//! daemon's log:
//!
//! - `turn`: the CLI's turn, from the prompt's `user` line to the turn's `turn_duration` line;
//! - `queue`: from the previous task's turn end to the queue starting to type this one (the
//!   queue seeing the turn end, finishing the previous task's files, claiming this one and
//!   recording its delivery, each with its `fsync`s);
//!   (split at the previous task's "task done" log line: seeing the end and finishing its
//!   files, then claiming and recording the next);
//! - `typing`: from then to the prompt's `user` line (the paste into tmux, the CLI drawing it,
//!   Enter, the CLI taking it): the CLI's input handling, not the queue's files.

use std::path::Path;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::e2e_support::{World, WorldSpec, poll_until};

fn prompt(i: usize) -> String {
    format!("bench task {i:03}, answer briefly")
}

fn ms(d: jiff::SignedDuration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn stats(mut v: Vec<f64>) -> Value {
    v.sort_by(f64::total_cmp);
    json!({
        "n": v.len(),
        "min_ms": v.first().copied().unwrap_or(f64::NAN),
        "p50_ms": crate::percentile(&v, 50.0),
        "p90_ms": crate::percentile(&v, 90.0),
        "max_ms": v.last().copied().unwrap_or(f64::NAN),
        "mean_ms": v.iter().sum::<f64>() / v.len().max(1) as f64,
    })
}

fn done_count(dir: &Path) -> usize {
    std::fs::read_dir(dir.join(".agent-queue/done"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".md"))
                .count()
        })
        .unwrap_or(0)
}

/// Runs the benchmark.
pub async fn queue(claude: &Path, daemon: &Path, tasks: usize) -> Value {
    let mut spec = WorldSpec::new(daemon, claude, 1, 1);
    spec.serve_queues = true;
    let world = World::start(spec).await;
    let dir = world.project_dirs[0].clone();
    let inbox = dir.join(".agent-queue/inbox");
    std::fs::create_dir_all(&inbox).expect("inbox");
    let started = Instant::now();
    for i in 0..tasks {
        // Priorities keep the order fixed (ties would go by mtime, then name).
        let staged = dir.join(format!(".t{i:03}.tmp"));
        let body = format!("---\npriority: {}\n---\n{}\n", tasks - i, prompt(i));
        std::fs::write(&staged, body).expect("task");
        std::fs::rename(&staged, inbox.join(format!("t{i:03}.md"))).expect("task");
    }
    poll_until(
        Duration::from_secs(60 + 10 * tasks as u64),
        Duration::from_millis(20),
        async || (done_count(&dir) == tasks).then_some(()),
    )
    .await
    .unwrap_or_else(|| panic!("only {} of {tasks} tasks done", done_count(&dir)));
    let wall = started.elapsed();

    let status = world.status().await.expect("status");
    let conversation = status.sessions[0]
        .claude_session
        .clone()
        .expect("a conversation");
    // The CLI appends the turn's end a moment after the session idles.
    let transcript = world
        .wait_transcript(
            0,
            &conversation,
            "every turn ended",
            Duration::from_secs(10),
            |t| t.matches("\"turn_duration\"").count() >= tasks,
        )
        .await;

    // Prompt submitted and turn ended, per task, from the transcript.
    let mut submitted: Vec<Option<Timestamp>> = vec![None; tasks];
    let mut ended: Vec<Option<Timestamp>> = vec![None; tasks];
    let mut current: Option<usize> = None;
    for line in transcript.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let at = v["timestamp"]
            .as_str()
            .and_then(|t| t.parse::<Timestamp>().ok());
        match v["type"].as_str() {
            Some("user") => {
                let text = v["message"]["content"].as_str().unwrap_or_default();
                if let Some(i) = (0..tasks).find(|&i| text.contains(&prompt(i))) {
                    submitted[i] = at;
                    current = Some(i);
                }
            }
            Some("system") if v["subtype"] == "turn_duration" => {
                if let Some(i) = current.take() {
                    ended[i] = at;
                }
            }
            _ => {}
        }
    }
    // The queue starting to type each task, and finishing it, from the daemon's log.
    let mut delivering: Vec<Option<Timestamp>> = vec![None; tasks];
    let mut finished: Vec<Option<Timestamp>> = vec![None; tasks];
    for line in world.daemon_log().lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let slot = match v["message"].as_str() {
            Some("queue: delivering") => &mut delivering,
            Some("queue: task done") => &mut finished,
            _ => continue,
        };
        let task = v["task"].as_str().unwrap_or_default();
        let Some(i) = task
            .strip_prefix('t')
            .and_then(|t| t.strip_suffix(".md"))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        if i < tasks {
            slot[i] = v["timestamp"].as_str().and_then(|t| t.parse().ok());
        }
    }

    let (mut turn, mut queue_part, mut typing, mut between) = (vec![], vec![], vec![], vec![]);
    let (mut noticed, mut claimed) = (vec![], vec![]);
    for i in 0..tasks {
        let (Some(s), Some(e), Some(d)) = (submitted[i], ended[i], delivering[i]) else {
            panic!(
                "task {i}: submitted {:?} ended {:?} delivering {:?}",
                submitted[i], ended[i], delivering[i]
            );
        };
        turn.push(ms(e.duration_since(s)));
        typing.push(ms(s.duration_since(d)));
        if i > 0 {
            let prev_end = ended[i - 1].expect("previous turn end");
            queue_part.push(ms(d.duration_since(prev_end)));
            if let Some(f) = finished[i - 1] {
                noticed.push(ms(f.duration_since(prev_end)));
                claimed.push(ms(d.duration_since(f)));
            }
            between.push(ms(s.duration_since(prev_end)));
        }
    }
    let turns_total: f64 = turn.iter().sum();
    json!({
        "benchmark": "queue",
        "tasks": tasks,
        "sessions": 1,
        "wall_s": wall.as_secs_f64(),
        "wall_minus_turns_per_task_ms": (wall.as_secs_f64() * 1000.0 - turns_total) / tasks as f64,
        "turn": stats(turn),
        "queue_turn_end_to_typing": stats(queue_part),
        "of_which_turn_end_to_task_done": stats(noticed),
        "of_which_task_done_to_next_typing": stats(claimed),
        "typing_to_cli_submit": stats(typing),
        "turn_end_to_next_submit": stats(between),
        "machine": crate::machine(),
    })
}
