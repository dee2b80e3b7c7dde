//! Where the CPU of a failover row went, program by program: a thread reads `/proc` every
//! [`STEP`] and keeps, for every program the tmux server runs (a pane's process and all its
//! descendants, reaped ones included through the kernel's child accounting), the CPU it has
//! used since the thread started (or since it appeared). At the end the programs are put in
//! three groups: the sessions' programs that ran before the move (the old account's), the
//! standbys that were ready, and the programs started during the move (cold starts).
//! A program that exits is counted up to its last reading (at most one step short). A tree's
//! reading can drop: a descendant whose parent exited first is adopted outside the tree,
//! taking the CPU it had shown; so only the increases between readings are added up (what
//! such a process spent was counted while it was in the tree, and is not taken back).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

/// How often `/proc` is read.
const STEP: Duration = Duration::from_millis(100);

/// A process: its parent, and its CPU seconds with its reaped children's.
struct Proc {
    ppid: u32,
    start: u64,
    cpu: f64,
}

fn processes() -> HashMap<u32, Proc> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, after)) = stat.rsplit_once(')') else {
            continue;
        };
        let f: Vec<&str> = after.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
        out.insert(
            pid,
            Proc {
                ppid: num(1) as u32,
                start: num(19) as u64,
                cpu: (num(11) + num(12) + num(13) + num(14)) / 100.0,
            },
        );
    }
    out
}

/// Each program of `server` (a child of it, keyed by pid and start time) and the CPU of
/// its whole tree now.
fn programs(server: u32) -> HashMap<(u32, u64), f64> {
    let all = processes();
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (pid, p) in &all {
        children.entry(p.ppid).or_default().push(*pid);
    }
    let mut out = HashMap::new();
    for root in children.get(&server).cloned().unwrap_or_default() {
        let mut sum = 0.0;
        let mut stack = vec![root];
        while let Some(pid) = stack.pop() {
            if let Some(p) = all.get(&pid) {
                sum += p.cpu;
            }
            stack.extend(children.get(&pid).into_iter().flatten());
        }
        out.insert((root, all[&root].start), sum);
    }
    out
}

/// Per program (pid, start time): whether it ran when the tally started, the CPU it used
/// since (the sum of the increases between readings), and its last reading.
type Tally = HashMap<(u32, u64), (bool, f64, f64)>;

/// A running tally; [`Sampler::finish`] stops it and returns the groups.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Tally>,
    standbys: HashSet<u32>,
}

impl Sampler {
    /// Starts following the programs of tmux server `server`; `standbys` are the pane pids
    /// of the standbys ready now.
    pub fn start(server: u32, standbys: HashSet<u32>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut tally: Tally = programs(server)
                .into_iter()
                .map(|(k, cpu)| (k, (true, 0.0, cpu)))
                .collect();
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(STEP);
                for (k, cpu) in programs(server) {
                    let t = tally.entry(k).or_insert((false, 0.0, 0.0));
                    t.1 += (cpu - t.2).max(0.0);
                    t.2 = cpu;
                }
            }
            tally
        });
        Self {
            stop,
            thread,
            standbys,
        }
    }

    /// Stops the thread; the CPU seconds of each group and how many programs it had.
    pub fn finish(self) -> Value {
        self.stop.store(true, Ordering::Relaxed);
        let tally = self.thread.join().unwrap_or_default();
        let mut groups: [(f64, usize); 3] = [(0.0, 0); 3];
        for ((pid, _), (at_start, used, _)) in tally {
            let g = if !at_start {
                2
            } else if self.standbys.contains(&pid) {
                1
            } else {
                0
            };
            groups[g].0 += used;
            groups[g].1 += 1;
        }
        json!({
            "sessions_programs_before_the_move": {"cpu_s": groups[0].0, "programs": groups[0].1},
            "standbys_ready_before_the_move": {"cpu_s": groups[1].0, "programs": groups[1].1},
            "programs_started_during_the_move": {"cpu_s": groups[2].0, "programs": groups[2].1},
        })
    }
}
