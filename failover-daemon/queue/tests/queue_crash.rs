//! THE exactly-once test: 200 tasks dropped across 3 projects while 5 sessions work them;
//! the runner process is SIGKILLed at random moments 20 times and restarted each time.
//! At the end every task is in `done/` exactly once and no task was delivered or run twice.
//!
//! The fake sessions live in this (the test) process, so they and their ledgers survive the
//! runner's deaths, as tmux sessions survive the daemon's. The runner runs in a child
//! process: this same test binary, re-executed with `QUEUE_CRASH_WORKER` set.
//!
//! Per session, three files are the truth:
//! - `spool.jsonl`: every prompt the runner delivered (one `O_APPEND` write + `fsync` per
//!   delivery). A task on two spool lines was *delivered* twice.
//! - `ledger`: every task the session started working on (append + `fsync` before working).
//!   A task on two ledger lines, in any ledgers, *ran* twice.
//! - `state.json`: idle or working, and how many turns it started (what tmux would show).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use failover_core::{AccountId, ClaudeSessionId, SessionId};
use failover_queue::{
    Deliver, DeliverError, Delivery, Probe, Queue, QueueConfig, SessionView, SessionsView, runner,
};
use serde::{Deserialize, Serialize};

const WORKER_ENV: &str = "QUEUE_CRASH_WORKER";
const TASKS: usize = 200;
const KILLS: usize = 20;
/// Session name → project index.
const SESSIONS: [(&str, usize); 5] = [("s0", 0), ("s1", 0), ("s2", 1), ("s3", 1), ("s4", 2)];

#[derive(Serialize, Deserialize)]
struct SpoolLine {
    task: String,
    attempt: u32,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
struct FakeState {
    idle: bool,
    turns_started: u64,
}

fn project_dir(root: &Path, i: usize) -> PathBuf {
    root.join(format!("projects/p{i}"))
}
fn session_dir(root: &Path, s: &str) -> PathBuf {
    root.join(format!("sessions/{s}"))
}

fn append_synced(path: &Path, line: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(line.as_bytes()).unwrap();
    f.sync_all().unwrap();
}

fn write_state(dir: &Path, state: FakeState) {
    let tmp = dir.join("state.tmp");
    fs::write(&tmp, serde_json::to_vec(&state).unwrap()).unwrap();
    fs::rename(&tmp, dir.join("state.json")).unwrap();
}

fn read_lines(path: &Path) -> Vec<String> {
    match fs::File::open(path) {
        Ok(f) => std::io::BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// A fake session: takes each complete spool line, records it in its ledger, works a few
/// milliseconds, goes idle.
fn fake_session(dir: PathBuf, stop: Arc<AtomicBool>, seed: u64) {
    let mut rng = seed | 1;
    let mut seen = 0usize;
    let mut state = FakeState {
        idle: true,
        turns_started: 0,
    };
    write_state(&dir, state);
    while !stop.load(Ordering::SeqCst) {
        let text = fs::read_to_string(dir.join("spool.jsonl")).unwrap_or_default();
        let complete: Vec<&str> = text
            .split_inclusive('\n')
            .filter(|l| l.ends_with('\n'))
            .collect();
        if complete.len() <= seen {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        for line in &complete[seen..] {
            let d: SpoolLine = serde_json::from_str(line.trim_end()).unwrap();
            state.idle = false;
            state.turns_started += 1;
            write_state(&dir, state);
            append_synced(&dir.join("ledger"), &format!("{}\n", d.task));
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            std::thread::sleep(Duration::from_millis(2 + rng % 6));
            state.idle = true;
            write_state(&dir, state);
        }
        seen = complete.len();
    }
}

/// The runner side of the fakes: delivery appends to the session's spool.
struct SpoolDeliver {
    root: PathBuf,
}

#[async_trait]
impl Deliver for SpoolDeliver {
    async fn deliver(&self, d: &Delivery) -> Result<(), DeliverError> {
        let line = serde_json::to_string(&SpoolLine {
            task: d.task.clone(),
            attempt: d.attempt,
        })
        .unwrap();
        // One write of one line: SIGKILL cannot split it.
        append_synced(
            &session_dir(&self.root, d.session.as_str()).join("spool.jsonl"),
            &format!("{line}\n"),
        );
        Ok(())
    }

    async fn probe(&self, d: &Delivery) -> Probe {
        let spool = session_dir(&self.root, d.session.as_str()).join("spool.jsonl");
        let got = read_lines(&spool)
            .iter()
            .any(|l| serde_json::from_str::<SpoolLine>(l).is_ok_and(|s| s.task == d.task));
        if got {
            Probe::Received
        } else {
            Probe::NotReceived
        }
    }
}

/// The child process: polls the fake sessions' state files into a `watch` channel and runs
/// the runner until killed.
fn worker(root: PathBuf) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let read_view = |root: &Path| SessionsView {
            sessions: SESSIONS
                .iter()
                .map(|(name, p)| {
                    let s: FakeState = fs::read(session_dir(root, name).join("state.json"))
                        .ok()
                        .and_then(|b| serde_json::from_slice(&b).ok())
                        .unwrap_or(FakeState {
                            idle: false,
                            turns_started: 0,
                        });
                    SessionView {
                        name: SessionId::new(*name),
                        dir: project_dir(root, *p),
                        account: Some(AccountId::new("acct")),
                        claude_session: Some(ClaudeSessionId::new(format!("{name}-c"))),
                        idle: s.idle,
                        mid_swap: false,
                        alive: true,
                        turns_started: s.turns_started,
                    }
                })
                .collect(),
        };
        let (tx, rx) = tokio::sync::watch::channel(read_view(&root));
        let poll_root = root.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(2)).await;
                let v = read_view(&poll_root);
                tx.send_if_modified(|cur| {
                    let changed = *cur != v;
                    *cur = v;
                    changed
                });
            }
        });
        let mut config = QueueConfig::new((0..3).map(|i| project_dir(&root, i)).collect());
        config.write_settle = Duration::from_millis(20);
        config.unconfirmed_after = Duration::from_millis(200);
        let deliver: Arc<dyn Deliver> = Arc::new(SpoolDeliver { root: root.clone() });
        runner::run(Queue::new(config), rx, deliver, std::future::pending())
            .await
            .unwrap();
    });
}

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_worker(root: &Path) -> KillOnDrop {
    let exe = std::env::current_exe().unwrap();
    let child = Command::new(exe)
        .args([
            "--exact",
            "queue_crash::two_hundred_tasks_survive_twenty_sigkills",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WORKER_ENV, root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    KillOnDrop(child)
}

fn task_name(i: usize) -> (usize, String) {
    (i % 3, format!("p{}-task {:03}.md", i % 3, i))
}

#[test]
fn two_hundred_tasks_survive_twenty_sigkills() {
    if let Some(root) = std::env::var_os(WORKER_ENV) {
        worker(PathBuf::from(root));
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    for i in 0..3 {
        fs::create_dir_all(project_dir(&root, i)).unwrap();
    }
    let seed: u64 = std::env::var("QUEUE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("queue_crash seed: {seed} (set QUEUE_CRASH_SEED to replay the kill timing)");
    let mut rng = seed | 1;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };

    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for (k, (name, _)) in SESSIONS.iter().enumerate() {
        let dir = session_dir(&root, name);
        fs::create_dir_all(&dir).unwrap();
        write_state(
            &dir,
            FakeState {
                idle: true,
                turns_started: 0,
            },
        );
        let stop = Arc::clone(&stop);
        let s = seed.wrapping_add(k as u64 * 7919);
        threads.push(std::thread::spawn(move || fake_session(dir, stop, s)));
    }
    // Operators drop tasks throughout the kills: written aside, renamed in.
    let dropper = {
        let root = root.clone();
        std::thread::spawn(move || {
            for i in 0..TASKS {
                let (p, name) = task_name(i);
                let dir = project_dir(&root, p).join(".agent-queue/inbox");
                fs::create_dir_all(&dir).unwrap();
                let body = format!("---\npriority: {}\n---\nDo task number {i}.\n", i % 4);
                let tmp = project_dir(&root, p).join(".drop.tmp");
                fs::write(&tmp, body).unwrap();
                fs::rename(&tmp, dir.join(&name)).unwrap();
                std::thread::sleep(Duration::from_millis(12));
            }
        })
    };

    let claims_left = || {
        (0..3).any(|p| {
            let claimed = project_dir(&root, p).join(".agent-queue/claimed");
            fs::read_dir(claimed).into_iter().flatten().any(|s| {
                s.is_ok_and(|s| fs::read_dir(s.path()).is_ok_and(|mut d| d.next().is_some()))
            })
        })
    };
    // How many kills left a claim in flight (claimed, not yet done): those restarts had to
    // recover, so the test really exercises recovery.
    let mut kills_mid_claim = 0;
    for _ in 0..KILLS {
        let mut worker = spawn_worker(&root);
        std::thread::sleep(Duration::from_millis(40 + next(260)));
        worker.0.kill().unwrap(); // SIGKILL
        worker.0.wait().unwrap();
        kills_mid_claim += usize::from(claims_left());
    }
    dropper.join().unwrap();
    let kills_done = started.elapsed();

    let _final_worker = spawn_worker(&root);
    let deadline = Instant::now() + Duration::from_secs(40);
    let done_count = || {
        (0..3)
            .map(|p| {
                fs::read_dir(project_dir(&root, p).join(".agent-queue/done"))
                    .map(|rd| {
                        rd.filter_map(Result::ok)
                            .filter(|e| e.file_name().to_string_lossy().ends_with(".md"))
                            .count()
                    })
                    .unwrap_or(0)
            })
            .sum::<usize>()
    };
    // All done, and the last claim record removed (the step after the move to done/).
    while done_count() < TASKS || claims_left() {
        assert!(
            Instant::now() < deadline,
            "only {} of {TASKS} tasks done after the kills (seed {seed})",
            done_count()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(_final_worker);
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }

    // Every task ran exactly once, in exactly one session, and was delivered exactly once.
    let mut ran: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut delivered: BTreeMap<String, usize> = BTreeMap::new();
    for (name, _) in SESSIONS {
        let dir = session_dir(&root, name);
        for task in read_lines(&dir.join("ledger")) {
            ran.entry(task).or_default().push(name.to_owned());
        }
        for line in read_lines(&dir.join("spool.jsonl")) {
            let l: SpoolLine = serde_json::from_str(&line).unwrap();
            *delivered.entry(l.task).or_default() += 1;
        }
    }
    let twice: Vec<_> = ran.iter().filter(|(_, s)| s.len() != 1).collect();
    assert!(
        twice.is_empty(),
        "ran more than once: {twice:?} (seed {seed})"
    );
    let twice: Vec<_> = delivered.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "delivered more than once: {twice:?} (seed {seed})"
    );
    assert_eq!(ran.len(), TASKS, "tasks run (seed {seed})");

    // Every task is in done/ of its project, once, under its own name, with a record naming
    // the session whose ledger has it; nothing is left anywhere else.
    for i in 0..TASKS {
        let (p, name) = task_name(i);
        let q = project_dir(&root, p).join(".agent-queue");
        assert!(q.join("done").join(&name).is_file(), "{name} not in done/");
        let stem = name.strip_suffix(".md").unwrap();
        let record: serde_json::Value =
            serde_json::from_slice(&fs::read(q.join(format!("done/{stem}.result.json"))).unwrap())
                .unwrap();
        assert_eq!(record["outcome"], "done");
        assert_eq!(record["session"].as_str().unwrap(), ran[&name][0], "{name}");
        let (owner, _) = SESSIONS.iter().find(|(s, _)| *s == ran[&name][0]).unwrap();
        assert_eq!(SESSIONS.iter().find(|(s, _)| s == owner).unwrap().1, p);
    }
    for p in 0..3 {
        let q = project_dir(&root, p).join(".agent-queue");
        let count = |d: &str| fs::read_dir(q.join(d)).map(|r| r.count()).unwrap_or(0);
        assert_eq!(count("inbox"), 0, "inbox of p{p} not empty");
        assert_eq!(count("failed"), 0, "failed/ of p{p} not empty");
        for s in fs::read_dir(q.join("claimed")).unwrap() {
            let s = s.unwrap().path();
            assert_eq!(fs::read_dir(&s).unwrap().count(), 0, "{s:?} not empty");
        }
        let done_md = fs::read_dir(q.join("done"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".md")
            })
            .count();
        assert_eq!(done_md, (0..TASKS).filter(|i| i % 3 == p).count());
    }
    eprintln!(
        "queue_crash: {KILLS} kills ({kills_mid_claim} with a claim in flight) in \
         {kills_done:?}, all {TASKS} done after {:?}",
        started.elapsed()
    );
    assert!(
        kills_mid_claim >= 3,
        "only {kills_mid_claim} kills landed mid-claim: the test did not exercise recovery"
    );
}
