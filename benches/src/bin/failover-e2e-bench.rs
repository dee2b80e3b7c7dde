//! `failover-e2e-bench latency|failover|idle|all`: end-to-end benchmarks of the real
//! `claude-failoverd` over real tmux, against the mock Anthropic API. Run through
//! `scripts/bench.sh`, which builds everything in release first. Results are printed and
//! written to `target/bench-results/<name>.json`.
//!
//! - `latency`: from the mock serving a quota 429 (its request-log timestamp) to the daemon's
//!   swap decision (the timestamp of the first `checkpoint` effect on `/v1/events`), over 20
//!   quota events with the real CLI.
//! - `failover`: wall time from the decision to every session resumed on the other account,
//!   idle, its interrupted prompt answered, for 1, 5 and 20 real CLI sessions; beside the
//!   machine's bound measured in the same run (N cold starts' CPU time / cores). Each size
//!   has a `cold` row (the destination CLI cold-starts with `--resume`; standbys off) and a
//!   `standby` row (the account first reports 85 % used, past `standby_percent` 80 and under
//!   the proactive 90 %; once every session's standby is ready on the destination, as the
//!   status says, the quota is served as in the cold row), with what the standbys cost at
//!   rest (`standby_idle`).
//! - `idle`: the daemon's CPU and memory at rest with 20 and 200 stand-in sessions, beside a
//!   polling baseline (`tmux capture-pane` on every session every 2 s) over the same window.
//! - `queue`: what the task queue adds to each task beyond the model's turn, 20 tasks on one
//!   real CLI session (see `benches/src/queue_bench.rs`).

#![allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    clippy::print_stdout
)]

#[allow(dead_code)] // the benchmark uses a part of the tests' support
#[path = "../../../failover-daemon/tests/support/e2e/mod.rs"]
mod e2e_support;
#[path = "../move_floor.rs"]
mod move_floor;
#[path = "../program_cpu.rs"]
mod program_cpu;
#[path = "../queue_bench.rs"]
mod queue_bench;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e_support::{World, WorldSpec, five_hour_quota, is_effect, now_ms, now_secs};
use failover_daemon::http::dto::EventKindDto;
use failover_sim::accounts::make_account_dir;
use failover_sim::mock_api::{MockAccount, MockApi, MockApiConfig};
use failover_sim::tmux::PrivateTmux;
use serde_json::{Value, json};

fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .expect("current exe")
        .parent()
        .expect("bin dir")
        .to_path_buf()
}

fn daemon_bin() -> PathBuf {
    bin_dir().join("claude-failoverd")
}

fn results_dir() -> PathBuf {
    // target/<profile>/failover-e2e-bench → target/bench-results
    let d = bin_dir()
        .parent()
        .expect("target dir")
        .join("bench-results");
    std::fs::create_dir_all(&d).expect("results dir");
    d
}

fn write_result(name: &str, value: &Value) {
    let path = results_dir().join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).expect("write result");
    println!(
        "{}\n→ {}",
        serde_json::to_string_pretty(value).unwrap(),
        path.display()
    );
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned());
    json!({
        "loadavg_at_end": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        "nproc": cores(),
        "cpu_model": model,
        "claude_version": real_claude().and_then(|c| Command::new(c).arg("--version").output().ok())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()),
    })
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn real_claude() -> Option<PathBuf> {
    std::env::var_os(e2e_support::REAL_CLAUDE_ENV)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

fn need_claude() -> PathBuf {
    real_claude().unwrap_or_else(|| {
        eprintln!(
            "this benchmark needs the real Claude Code CLI in {} (scripts/bench.sh sets it)",
            e2e_support::REAL_CLAUDE_ENV
        );
        std::process::exit(2)
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

// ---------------------------------------------------------------- /proc sampling

fn clk_tck() -> f64 {
    // SAFETY-free: sysconf via libc is not available without unsafe; Linux uses 100.
    100.0
}

/// utime + stime (+ cutime + cstime) of `pid`, in seconds.
fn cpu_secs(pid: u32, with_children: bool) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // after ')': state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    let mut t = f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0);
    if with_children {
        t += f.get(13).copied().unwrap_or(0.0) + f.get(14).copied().unwrap_or(0.0);
    }
    t / clk_tck()
}

/// CPU seconds the whole machine has spent busy (every state but idle and iowait), from
/// the first line of `/proc/stat`.
fn machine_busy_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: f64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|i| f.get(*i)).sum();
    busy / clk_tck()
}

fn ppid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(1)?.parse().ok()
}

/// `pid` and every live descendant.
fn tree(pid: u32) -> Vec<u32> {
    let all: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter_map(|p| Some((p, ppid(p)?)))
                .collect()
        })
        .unwrap_or_default();
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        out.extend(all.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    out
}

/// CPU seconds of a process tree (live processes, plus reaped children of each).
fn tree_cpu(pid: u32) -> f64 {
    tree(pid).into_iter().map(|p| cpu_secs(p, true)).sum()
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Proportional set size (shared pages split among the processes that map them), KiB.
fn pss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn tree_rss_kib(pid: u32) -> u64 {
    tree(pid).into_iter().map(rss_kib).sum()
}

fn tmux_server_pid(tmux: &PrivateTmux) -> u32 {
    tmux.run(&["display-message", "-p", "#{pid}"])
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .expect("tmux server pid")
}

// ---------------------------------------------------------------- latency

/// The shortened window of each latency run: long enough for the CLI's requests of the
/// turn to meet the quota, short enough to swap back in the next run.
const RESET_SECS: u64 = 12;

async fn latency(runs: usize) -> Value {
    let claude = need_claude();
    let mut spec = WorldSpec::new(daemon_bin(), &claude, 2, 1);
    spec.policy = "return_to_preferred = false\n".into();
    let world = World::start(spec).await;
    let mut samples = Vec::new();
    let mut turn_samples = Vec::new();
    let mut detections = Vec::new();
    let names = ["a", "b"];
    for i in 0..runs {
        let (from, to) = (names[i % 2], names[(i + 1) % 2]);
        let prompt = format!("latency probe {i}");
        // The destination's shortened window must be over in the daemon's eyes too (a
        // reset read from the screen has minute resolution), or the run parks instead.
        world
            .wait_status("the destination usable", Duration::from_secs(120), |s| {
                s.accounts.iter().any(|a| a.name == to && a.usable)
            })
            .await;
        let events_before = world.events().len();
        let flipped_at = now_ms();
        world
            .submit_all_after(from, five_hour_quota(RESET_SECS), |_| prompt.clone())
            .await;
        // The first quota answer of this run (the title request or the turn itself).
        let served = world
            .wait_request("the quota answer", Duration::from_secs(60), |r| {
                r.status == 429 && r.at_ms >= flipped_at
            })
            .await;
        let reset_at = now_secs() + RESET_SECS;
        let decision = world
            .wait_event("the swap decision", Duration::from_secs(60), |e| {
                is_effect(&e.event, "checkpoint")
                    && e.event.at_ms as u64 >= served.at_ms.saturating_sub(1)
            })
            .await;
        let detected = world.events()[events_before..]
            .iter()
            .find_map(|e| match &e.event.event {
                EventKindDto::Detection {
                    verdict, source, ..
                } if verdict == "quota_exhausted" => Some((e.event.at_ms, source.clone())),
                _ => None,
            });
        let ms = decision.event.at_ms as f64 - served.at_ms as f64;
        // The turn's own 429, the one whose error the transcript and the screen show. A
        // CLI's first prompt sends its title request first and the turn's request up to
        // 150 ms later (later prompts send both together): the title's refusal shows
        // nowhere, so from it the figure holds the CLI's own first-turn set-up.
        let turn_ms = world
            .api
            .requests()
            .iter()
            .find(|r| {
                r.status == 429
                    && r.at_ms >= flipped_at
                    && r.last_user_text.as_deref() == Some(prompt.as_str())
            })
            .map(|r| decision.event.at_ms as f64 - r.at_ms as f64);
        println!(
            "run {i}: {from}→{to}: 429 served → decision {ms:.0} ms, from the turn's own 429 {turn_ms:?} ms (first detection: {detected:?})"
        );
        samples.push(ms);
        if let Some(t) = turn_ms {
            turn_samples.push(t);
        }
        if let Some((at, source)) = detected {
            detections.push(json!({"ms": at as f64 - served.at_ms as f64, "source": source}));
        }
        world.wait_all_on(to, Duration::from_secs(180)).await;
        // The next run swaps back: wait for this account's shortened window to reset.
        while now_secs() <= reset_at {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    let mut turn_sorted = turn_samples.clone();
    turn_sorted.sort_by(f64::total_cmp);
    json!({
        "benchmark": "detection_latency",
        "session_program": "real Claude Code CLI",
        "what": "mock 429 served (request log) → first checkpoint effect (daemon event), ms",
        "runs": runs,
        "p50_ms": percentile(&sorted, 50.0),
        "p99_ms": percentile(&sorted, 99.0),
        "max_ms": sorted.last(),
        "samples_ms": samples,
        "from_the_turn_429": {
            "what": "the turn request's own 429 (not the title request's) → first checkpoint effect, ms",
            "p50_ms": percentile(&turn_sorted, 50.0),
            "p99_ms": percentile(&turn_sorted, 99.0),
            "samples_ms": turn_samples,
        },
        "first_detection": detections,
        "machine": machine(),
    })
}

// ---------------------------------------------------------------- failover

/// One cold start of the real CLI to its prompt: (CPU seconds, wall seconds).
async fn cold_start(claude: &Path) -> (f64, f64) {
    let tmp = tempfile::tempdir().expect("tmp");
    let api = MockApi::start(MockApiConfig::local(vec![MockAccount::new(
        "tok-cold", "cold",
    )]))
    .await
    .expect("mock");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let acct = make_account_dir(
        &tmp.path().join("acct"),
        "tok-cold",
        std::slice::from_ref(&work),
    )
    .unwrap();
    let tmux = PrivateTmux::new("cold");
    let start = Instant::now();
    tmux.new_session(
        "c",
        160,
        50,
        &work,
        &failover_sim::tmux::claude_env(&acct.dir, &api.base_url()),
        &[claude.to_string_lossy().into_owned()],
    )
    .expect("tmux");
    let pid: u32 = tmux
        .run(&["display-message", "-p", "-t", "c", "#{pane_pid}"])
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Ready: the prompt is drawn and the start-up probe request was answered.
    loop {
        let screen = tmux.capture("c", false).unwrap_or_default();
        let probed = api
            .requests()
            .iter()
            .any(|r| r.path.starts_with("/v1/messages"));
        if probed && e2e_support::is_idle(&screen) && screen.contains("Claude Code") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "cold start never got ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = tree_cpu(pid);
    (cpu, wall)
}

async fn failover(sizes: &[usize]) -> Value {
    let claude = need_claude();
    let mut colds = Vec::new();
    for _ in 0..3 {
        colds.push(cold_start(&claude).await);
    }
    let mut cpu: Vec<f64> = colds.iter().map(|c| c.0).collect();
    cpu.sort_by(f64::total_cmp);
    let mut wall: Vec<f64> = colds.iter().map(|c| c.1).collect();
    wall.sort_by(f64::total_cmp);
    let (cold_cpu, cold_wall) = (cpu[1], wall[1]);
    println!("one cold start: {cold_cpu:.2} CPU-s, {cold_wall:.2} s wall (median of 3)");
    let floor = move_floor::measure(&claude, 3).await;
    println!("the CLI's own work per move: {floor}");
    let starts = failover_starts();
    let mut rows = Vec::new();
    for &n in sizes {
        for &start in &starts {
            let per_move = floor["per_move_cpu_s"][start.name()]
                .as_f64()
                .unwrap_or(0.0);
            let row = failover_row(&claude, n, start, (cold_cpu, cold_wall), per_move).await;
            println!("{n} sessions, {}: {row}", start.name());
            rows.push(row);
        }
    }
    json!({
        "benchmark": "failover_wall_time",
        "session_program": "real Claude Code CLI",
        "cold_start_cpu_s": cold_cpu,
        "cold_start_wall_s": cold_wall,
        "cold_start_samples": colds,
        "bound": "sessions × cold-start CPU seconds / cores",
        "move_floor": floor,
        "floor": "sessions × the CLI's own CPU seconds per move (move_floor.per_move_cpu_s of the row's start) / cores",
        "rows": rows,
        "machine": machine(),
    })
}

/// How the destination program starts in a failover row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Start {
    /// A cold start of the CLI with `--resume` (`[policy] standby = false`).
    Cold,
    /// A standby got ready before the quota ran out (`[policy] standby_percent`): the
    /// account first reports window use between the standby percentage and the proactive
    /// threshold, the row waits until every session's standby is ready, then the quota is
    /// served as in the cold rows.
    Standby,
}

impl Start {
    const fn name(self) -> &'static str {
        match self {
            Self::Cold => "cold",
            Self::Standby => "standby",
        }
    }
}

/// The window use account `a` reports before its quota runs out in the standby rows:
/// between [`STANDBY_PERCENT`] and the proactive threshold (90 %).
const STANDBY_USAGE: f64 = 0.85;
/// The rows' `[policy] standby_percent`.
const STANDBY_PERCENT: u32 = 80;

/// `BENCH_FAILOVER_STARTS` (`cold,standby` by default): which rows each size gets.
fn failover_starts() -> Vec<Start> {
    let v = std::env::var("BENCH_FAILOVER_STARTS").unwrap_or_else(|_| "cold,standby".into());
    let starts: Vec<Start> = v
        .split(',')
        .filter_map(|x| match x.trim() {
            "cold" => Some(Start::Cold),
            "standby" => Some(Start::Standby),
            _ => None,
        })
        .collect();
    if starts.is_empty() {
        eprintln!("BENCH_FAILOVER_STARTS={v:?}: expected cold, standby or both");
        std::process::exit(2);
    }
    starts
}

/// The tmux server's whole tree (every session's program, and every standby) at rest: once
/// its CPU rate is steady ([`settle`]), its CPU rate (percent of one core) over `window`,
/// its PSS (KiB) and its process count.
async fn pane_programs_at_rest(server_pid: u32, window: Duration) -> Value {
    let cpu = move || {
        tree(server_pid)
            .into_iter()
            .map(|p| cpu_secs(p, false))
            .sum::<f64>()
    };
    let settled = settle(cpu).await;
    let c0 = cpu();
    tokio::time::sleep(window).await;
    let c1 = cpu();
    let procs = tree(server_pid);
    json!({
        "cpu_percent": 100.0 * (c1 - c0) / window.as_secs_f64(),
        "pss_kib": procs.iter().map(|p| pss_kib(*p)).sum::<u64>(),
        "processes": procs.len(),
        "settle": settled,
    })
}

/// Gets every session's standby ready on `b` (the standby rows' set-up) and measures what
/// the standbys cost at rest: the tmux server's tree at rest before and after (whatever
/// form the backend gives a standby, its programs run under that server).
async fn standbys_ready(world: &World, n: usize, server_pid: u32) -> Value {
    let window = Duration::from_secs(15);
    // A turn first, at low usage, so that what the usage report's turn adds to the first
    // session's own program is not counted as the standbys'.
    world
        .converse(&world.sessions[0], "standby bench: a turn before")
        .await;
    let before = pane_programs_at_rest(server_pid, window).await;
    world.set_mode(
        "a",
        failover_sim::mock_api::Mode::Usage {
            window: failover_sim::mock_api::ClaimWindow::FiveHour,
            utilization: STANDBY_USAGE,
            resets_at: now_secs() + 3600,
        },
    );
    // One turn reports the usage (the CLI's statusline; the response headers).
    let asked_at = Instant::now();
    world
        .converse(&world.sessions[0], "standby bench: usage report")
        .await;
    let ready = world
        .wait_status(
            "every session's standby ready on b",
            Duration::from_secs(120 + 10 * n as u64),
            |s| {
                s.sessions.len() == n
                    && s.sessions.iter().all(|x| x.standby.as_deref() == Some("b"))
            },
        )
        .await;
    let ready_s = asked_at.elapsed().as_secs_f64();
    let a = ready.accounts.iter().find(|x| x.name == "a");
    println!(
        "{n} standbys ready on b {ready_s:.1} s after the usage report (a: {:?})",
        a.map(|a| (&a.state, a.used_percent))
    );
    let after = pane_programs_at_rest(server_pid, window).await;
    let per = |key: &str| {
        (after[key].as_f64().unwrap_or(0.0) - before[key].as_f64().unwrap_or(0.0)) / n.max(1) as f64
    };
    json!({
        "what": "the tmux server's process tree (the sessions' programs, and the standbys after) at rest over 15 s, before the standbys and once all are ready",
        "standbys": n,
        "ready_after_usage_report_s": ready_s,
        "before": before,
        "after": after,
        "per_standby_pss_kib": per("pss_kib"),
        "per_standby_cpu_percent": per("cpu_percent"),
        "per_standby_processes": per("processes"),
    })
}

/// One row: `n` sessions fail over from `a` to `b`, the destination programs starting as
/// `start` says.
async fn failover_row(
    claude: &Path,
    n: usize,
    start: Start,
    cold: (f64, f64),
    per_move_cpu: f64,
) -> Value {
    let (cold_cpu, cold_wall) = cold;
    let mut spec = WorldSpec::new(daemon_bin(), claude, 2, n);
    spec.policy = match start {
        Start::Cold => "standby = false\n".to_owned(),
        // Every session gets one, whatever `standby_max`'s default.
        Start::Standby => format!(
            "standby = true\nstandby_percent = {STANDBY_PERCENT}\nstandby_max = {}\n",
            n.max(1)
        ),
    };
    if let Ok(k) = std::env::var("BENCH_PARALLEL_MOVES") {
        spec.policy.push_str(&format!("parallel_moves = {k}\n"));
    }
    let world = World::start(spec).await;
    let server_pid = tmux_server_pid(&world.tmux);
    let standby_idle = match start {
        Start::Cold => Value::Null,
        Start::Standby => standbys_ready(&world, n, server_pid).await,
    };
    let daemon_pid = world.daemon_pid().expect("daemon pid");
    let standby_pids: std::collections::HashSet<u32> = world
        .tmux
        .run(&["list-panes", "-a", "-F", "#{pane_pid} #{session_name}"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (pid, name) = l.split_once(' ')?;
            name.starts_with("failover standby")
                .then(|| pid.parse().ok())?
        })
        .collect();
    let sampler = program_cpu::Sampler::start(server_pid, standby_pids);
    let cpu_before = (
        machine_busy_secs(),
        tree_cpu(daemon_pid),
        cpu_secs(server_pid, false),
    );
    world
        .submit_all_after("a", five_hour_quota(3600), |s| {
            format!("failover bench {s}")
        })
        .await;
    let decision = world
        .wait_event("the swap decision", Duration::from_secs(120), |e| {
            is_effect(&e.event, "checkpoint")
        })
        .await;
    let resumed = world.wait_all_on("b", Duration::from_secs(60 * 20)).await;
    let resumed_at = now_ms();
    // Every interrupted prompt answered on B.
    for s in &world.sessions {
        let p = format!("failover bench {s}");
        world
            .wait_request("the prompt answered on b", Duration::from_secs(300), |r| {
                r.status == 200
                    && r.account.as_deref() == Some("b")
                    && r.last_user_text.as_deref() == Some(p.as_str())
            })
            .await;
    }
    let answered_at = world
        .api
        .requests()
        .iter()
        .filter(|r| {
            r.status == 200
                && r.last_user_text
                    .as_deref()
                    .is_some_and(|t| t.starts_with("failover bench "))
        })
        .map(|r| r.at_ms)
        .max()
        .unwrap_or(resumed_at);
    let t0 = decision.event.at_ms as u64;
    // Where the CPU went, from the prompts' submission to the end: the CLIs (stopping,
    // cold-starting, answering) are what the machine's total has beyond the daemon and
    // the tmux server.
    let by_program = sampler.finish();
    let machine = machine_busy_secs() - cpu_before.0;
    let daemon = tree_cpu(daemon_pid) - cpu_before.1;
    let server = cpu_secs(server_pid, false) - cpu_before.2;
    let cpu = json!({
        "machine_busy_s": machine,
        "daemon_tree_s": daemon,
        "tmux_server_s": server,
        "rest_s (the CLIs, the mock API, this harness)": machine - daemon - server,
        "tmux_server_programs": by_program,
    });
    if std::env::var_os("BENCH_TIMELINE").is_some() {
        for e in world.events() {
            let at = e.event.at_ms - t0 as i64;
            if at >= -2000 {
                println!(
                    "  {at:>7} ms  {}",
                    serde_json::to_string(&e.event.event).unwrap_or_default()
                );
            }
        }
        println!("{}", world.daemon_log());
    }
    let wall_s = (resumed_at.max(answered_at) - t0) as f64 / 1000.0;
    let phases = phases(&world, t0 as i64);
    println!("{n} sessions, phases (ms from the decision; median / max over sessions): {phases}");
    let bound_s = n as f64 * cold_cpu / cores() as f64;
    let floor_s = n as f64 * per_move_cpu / cores() as f64;
    let row = json!({
        "sessions": n,
        "decision_to_all_resumed_idle_s": (resumed_at - t0) as f64 / 1000.0,
        "decision_to_all_resumed_and_answered_s": wall_s,
        "machine_bound_s": bound_s,
        "ratio_to_bound": wall_s / bound_s,
        "cli_floor_s": floor_s,
        "ratio_to_cli_floor": wall_s / floor_s,
        "ratio_to_one_cold_start_wall": wall_s / cold_wall,
        "swaps_completed": resumed.swaps_completed,
        "cpu_during": cpu,
        "phases_ms": phases,
    });
    let mut row = row;
    row["start"] = json!(start.name());
    row["standby_idle"] = standby_idle;
    // For observation by hand (e.g. what the programs do after their turn):
    // `BENCH_HOLD_SECS` keeps the row's world running that long after its measurement.
    if let Some(hold) = std::env::var("BENCH_HOLD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        tokio::time::sleep(Duration::from_secs(hold)).await;
    }
    drop(world);
    row
}

/// Where each session's failover time went, from the daemon's events and the mock's request
/// log: for every session, the moments (ms after the decision `t0`) its stop finished, its
/// launch on the next account was asked and returned, the resumed CLI's first request to the
/// API (its start-up), the CLI shown idle after the launch, and its interrupted prompt
/// answered there; then, per step, the median and the maximum over the sessions of the time
/// the step took. Steps: `stop` (decision → stopped: the checkpoint, the polite exit, the
/// hang-up), `wait_to_launch` (stopped → launch asked: the engine's queue of moves),
/// `launch` (the tmux window made, the program started), `cli_start_to_first_request`,
/// `cli_start_to_idle` (the resumed CLI's cold start to its prompt), `idle_to_answer` (the
/// turn taken up or typed again, and answered).
fn phases(world: &World, t0: i64) -> Value {
    let events = world.events();
    let requests = world.api.requests();
    let finished = |request: u64| {
        events.iter().find_map(|e| match &e.event.event {
            EventKindDto::EffectFinished {
                request: r, detail, ..
            } if *r == request => Some((e.event.at_ms - t0, detail.clone())),
            _ => None,
        })
    };
    let mut steps: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
    for s in &world.sessions {
        let effect = |name: &str| {
            events.iter().find_map(|e| match &e.event.event {
                EventKindDto::Effect {
                    effect,
                    request: Some(r),
                    session: Some(session),
                    ..
                } if effect == name && session == s && e.event.at_ms >= t0 => {
                    Some((e.event.at_ms - t0, *r))
                }
                _ => None,
            })
        };
        let (Some((_, stop)), Some((launch_at, launch))) = (effect("stop"), effect("launch"))
        else {
            continue;
        };
        let (Some((stopped, _)), Some((launched, detail))) = (finished(stop), finished(launch))
        else {
            continue;
        };
        let conversation = detail
            .unwrap_or_default()
            .split(',')
            .next()
            .unwrap_or_default()
            .to_string();
        let idle = events.iter().find_map(|e| match &e.event.event {
            EventKindDto::Session {
                session, change, ..
            } if session == s && change == "idle" && e.event.at_ms - t0 > launched => {
                Some(e.event.at_ms - t0)
            }
            _ => None,
        });
        let on_b = |r: &&failover_sim::mock_api::RecordedRequest| {
            r.account.as_deref() == Some("b")
                && r.session_id.as_deref() == Some(conversation.as_str())
                && r.at_ms as i64 - t0 > launched
        };
        let first_request = requests
            .iter()
            .filter(on_b)
            .map(|r| r.at_ms as i64 - t0)
            .min();
        let prompt = format!("failover bench {s}");
        let answered = requests
            .iter()
            .filter(on_b)
            .filter(|r| r.status == 200 && r.last_user_text.as_deref() == Some(prompt.as_str()))
            .map(|r| r.at_ms as i64 - t0)
            .min();
        let mut put = |step, ms: i64| steps.entry(step).or_default().push(ms as f64);
        put("stop", stopped);
        put("wait_to_launch", launch_at - stopped);
        put("launch", launched - launch_at);
        if let Some(first) = first_request {
            put("cli_start_to_first_request", first - launched);
        }
        if let Some(idle) = idle {
            put("cli_start_to_idle", idle - launched);
            if let Some(answered) = answered {
                put("idle_to_answer", answered - idle);
            }
        }
    }
    let mut out = serde_json::Map::new();
    for (step, mut v) in steps {
        v.sort_by(f64::total_cmp);
        out.insert(
            step.to_string(),
            json!({"median": percentile(&v, 50.0), "max": v[v.len() - 1], "sessions": v.len()}),
        );
    }
    Value::Object(out)
}

// ---------------------------------------------------------------- idle

/// How often [`settle`] samples CPU time: tmux's `status-interval` (15 s by default), as the
/// server's work at rest comes in bursts of that period (each client's status timer).
const SETTLE_STEP: Duration = Duration::from_secs(15);
/// The longest [`settle`] waits before measuring anyway.
const SETTLE_MAX: Duration = Duration::from_secs(180);

/// Waits until the CPU time `cpu` reads (seconds, cumulative) grows at a steady rate: two
/// consecutive [`SETTLE_STEP`]s each within a fifth of their mean (or 0.02 s, the clock's
/// resolution being 0.01 s), so the window that follows measures rest and not start-up
/// (sessions still drawing, control clients still attaching, the server still answering the
/// last launches). Returns how long it took, whether it settled within [`SETTLE_MAX`], and
/// the rate of each step, for the record.
async fn settle(cpu: impl Fn() -> f64) -> Value {
    let start = Instant::now();
    let mut rates = Vec::new();
    let mut steps: Vec<f64> = Vec::new();
    let mut last = cpu();
    let settled = loop {
        tokio::time::sleep(SETTLE_STEP).await;
        let now = cpu();
        let step = now - last;
        last = now;
        steps.push(step);
        rates.push((1000.0 * step / SETTLE_STEP.as_secs_f64()).round() / 10.0);
        if let [.., a, b] = steps[..] {
            let mean = (a + b) / 2.0;
            if [a, b]
                .iter()
                .all(|x| (x - mean).abs() <= (0.2 * mean).max(0.02))
            {
                break true;
            }
        }
        if start.elapsed() >= SETTLE_MAX {
            break false;
        }
    };
    json!({
        "after_s": start.elapsed().as_secs(),
        "settled": settled,
        "cpu_percent_per_step": rates,
    })
}

async fn idle(sizes: &[usize], window: Duration) -> Value {
    let standin = bin_dir().join("claude-standin");
    let mut rows = Vec::new();
    for &n in sizes {
        let mut spec = WorldSpec::new(daemon_bin(), &standin, 2, n);
        spec.wait_ready = false;
        let mut world = World::start(spec).await;
        world
            .wait_status(
                &format!("{n} sessions running"),
                Duration::from_secs(600),
                |s| s.sessions.iter().filter(|x| x.state == "running").count() == n,
            )
            .await;
        // Wait until the daemon (with its tmux clients) and the tmux server are at rest, then
        // measure them.
        let daemon = world.daemon_pid().expect("daemon pid");
        let server = tmux_server_pid(&world.tmux);
        let daemon_settle = settle(|| tree_cpu(daemon) + cpu_secs(server, false)).await;
        let (d0, s0) = (tree_cpu(daemon), cpu_secs(server, false));
        tokio::time::sleep(window).await;
        let (d1, s1) = (tree_cpu(daemon), cpu_secs(server, false));
        let daemon_rss = rss_kib(daemon);
        let daemon_tree_rss = tree_rss_kib(daemon);
        let daemon_procs = tree(daemon).len();
        let daemon_tree_pss: u64 = tree(daemon).into_iter().map(pss_kib).sum();
        let (server_rss, server_pss) = (rss_kib(server), pss_kib(server));
        assert_eq!(world.stop_daemon(), Some(0), "the daemon stops cleanly");

        // The polling baseline over the same sessions, same window.
        let names = world.sessions.join(" ");
        let script = format!(
            "while :; do for s in {names}; do tmux -L {sock} capture-pane -p -t \"=$s:\" >/dev/null; done; sleep 2; done",
            sock = world.tmux.socket()
        );
        let mut poller = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("poller");
        let pid = poller.id();
        let poller_settle = settle(|| tree_cpu(pid) + cpu_secs(server, false)).await;
        let (p0, ps0) = (tree_cpu(pid), cpu_secs(server, false));
        tokio::time::sleep(window).await;
        let (p1, ps1) = (tree_cpu(pid), cpu_secs(server, false));
        let poller_rss = rss_kib(pid);
        let _ = poller.kill();
        let _ = poller.wait();
        let w = window.as_secs_f64();
        let row = json!({
            "sessions": n,
            "window_s": w,
            "daemon_cpu_s": d1 - d0,
            "daemon_tmux_server_cpu_s": s1 - s0,
            "daemon_total_cpu_percent": 100.0 * ((d1 - d0) + (s1 - s0)) / w,
            "daemon_rss_kib": daemon_rss,
            "daemon_with_control_clients_rss_kib": daemon_tree_rss,
            "daemon_with_control_clients_pss_kib": daemon_tree_pss,
            "tmux_server_rss_kib": server_rss,
            "tmux_server_pss_kib": server_pss,
            "in_all_pss_kib (daemon, its control client, the tmux server)": daemon_tree_pss + server_pss,
            "daemon_processes": daemon_procs,
            "daemon_settle": daemon_settle,
            "poller_settle": poller_settle,
            "poller_cpu_s": p1 - p0,
            "poller_tmux_server_cpu_s": ps1 - ps0,
            "poller_total_cpu_percent": 100.0 * ((p1 - p0) + (ps1 - ps0)) / w,
            "poller_rss_kib": poller_rss,
        });
        println!("{n} sessions: {row}");
        rows.push(row);
    }
    json!({
        "benchmark": "idle_cost",
        "session_program": "claude-standin (the daemon is what is measured)",
        "what": "CPU seconds over the window from /proc (process tree incl. tmux clients; the tmux server separately), RSS; each window starts once the CPU rate is steady (see *_settle)",
        "rows": rows,
        "machine": machine(),
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let window = Duration::from_secs(
        std::env::var("BENCH_IDLE_WINDOW_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(30),
    );
    let runs = std::env::var("BENCH_LATENCY_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let sizes: Vec<usize> = std::env::var("BENCH_FAILOVER_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 5, 20]);
    let idle_sizes: Vec<usize> = std::env::var("BENCH_IDLE_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![20, 200]);
    match what.as_str() {
        "latency" => write_result("latency", &latency(runs).await),
        "failover" => write_result("failover", &failover(&sizes).await),
        "idle" => write_result("idle", &idle(&idle_sizes, window).await),
        "queue" => {
            let tasks = std::env::var("BENCH_QUEUE_TASKS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(20);
            let result = queue_bench::queue(&need_claude(), &daemon_bin(), tasks).await;
            write_result("queue", &result);
        }
        "all" => {
            write_result("latency", &latency(runs).await);
            write_result("failover", &failover(&sizes).await);
            write_result("idle", &idle(&idle_sizes, window).await);
        }
        other => {
            eprintln!("unknown benchmark {other:?}: latency|failover|idle|queue|all");
            std::process::exit(2);
        }
    }
}
