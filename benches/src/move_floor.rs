//! What one move costs the Claude Code programs themselves, measured on one program at a
//! time with nothing else running: the floor under any failover of N sessions, whatever the
//! daemon does.
//!
//! A move ends when the session's interrupted prompt is answered on the next account, so it
//! holds, in the CLI's own processes:
//! - the conversation loaded on the next account: a standby's `/resume <id>` (the standby
//!   itself was started ahead of the move) or a cold `claude --resume <id>` start;
//! - the answered turn, to the program idle again with its CPU at rest (the turn's
//!   post-processing competes with the other moves just the same);
//! - the old program's exit once its terminal is hung up.
//!
//! The refused turn on the old account is not counted: it happens whether or not anything
//! moves.

use std::path::Path;
use std::time::{Duration, Instant};

use failover_sim::accounts::make_account_dir;
use failover_sim::mock_api::{MockAccount, MockApi, MockApiConfig};
use failover_sim::tmux::PrivateTmux;
use serde_json::{Value, json};

use crate::{cpu_secs, e2e_support, tree_cpu};

/// One sample of each part, CPU seconds (the program's process tree, reaped children
/// included) and wall seconds.
#[derive(Clone, Copy, Debug)]
struct Sample {
    standby_resume_cpu: f64,
    standby_resume_wall: f64,
    cold_resume_cpu: f64,
    cold_resume_wall: f64,
    turn_cpu: f64,
    turn_wall: f64,
    exit_cpu: f64,
    exit_wall: f64,
}

/// The medians of `samples` samples, as JSON, with the floor of one move for each start
/// (`standby_s`, `cold_s`: CPU seconds).
pub async fn measure(claude: &Path, samples: usize) -> Value {
    let mut all = Vec::new();
    for i in 0..samples {
        all.push(sample(claude, i).await);
    }
    let median = |f: fn(&Sample) -> f64| {
        let mut v: Vec<f64> = all.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let standby_resume = median(|s| s.standby_resume_cpu);
    let cold_resume = median(|s| s.cold_resume_cpu);
    let turn = median(|s| s.turn_cpu);
    let exit = median(|s| s.exit_cpu);
    json!({
        "what": "CPU seconds of the CLI's own processes per move, one program at a time, machine otherwise idle (median of the samples)",
        "standby_resume_cpu_s": standby_resume,
        "standby_resume_wall_s": median(|s| s.standby_resume_wall),
        "cold_resume_cpu_s": cold_resume,
        "cold_resume_wall_s": median(|s| s.cold_resume_wall),
        "answered_turn_cpu_s": turn,
        "answered_turn_wall_s": median(|s| s.turn_wall),
        "old_program_exit_cpu_s": exit,
        "old_program_exit_wall_s": median(|s| s.exit_wall),
        "per_move_cpu_s": {
            "standby": standby_resume + turn + exit,
            "cold": cold_resume + turn + exit,
        },
        "samples": all.iter().map(|s| json!([
            s.standby_resume_cpu, s.cold_resume_cpu, s.turn_cpu, s.exit_cpu,
        ])).collect::<Vec<_>>(),
        "sample_columns": ["standby_resume_cpu_s", "cold_resume_cpu_s", "answered_turn_cpu_s", "old_program_exit_cpu_s"],
    })
}

fn pane_pid(tmux: &PrivateTmux, session: &str) -> u32 {
    tmux.pane_pid(session).expect("pane pid")
}

/// Waits until `pred` holds on two looks in a row (a screen caught between two writes of
/// one redraw is not taken), or panics after `limit`.
async fn wait_screen(tmux: &PrivateTmux, session: &str, what: &str, pred: impl Fn(&str) -> bool) {
    let limit = Duration::from_secs(60);
    let start = Instant::now();
    let mut before = false;
    loop {
        let now = pred(&tmux.capture(session, false).unwrap_or_default());
        if now && before {
            return;
        }
        before = now;
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the CPU `pid`'s tree uses grows by at most 0.02 s over 0.5 s (the program
/// at rest: its start-up or its turn's follow-up work done), for at most 15 s.
async fn at_rest(pid: u32) {
    let start = Instant::now();
    let mut last = tree_cpu(pid);
    while start.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = tree_cpu(pid);
        if now - last <= 0.02 {
            return;
        }
        last = now;
    }
}

/// Hangs up `session`'s terminal and follows its program until it has exited (gone, or a
/// zombie not yet reaped): the CPU it spent after the hang-up (its last reading) and the
/// wall time.
async fn hang_up(tmux: &PrivateTmux, session: &str, pid: u32) -> (f64, f64) {
    let before = cpu_secs(pid, true);
    let start = Instant::now();
    let _ = tmux.kill_session(session);
    let mut last = before;
    while let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        last = cpu_secs(pid, true).max(last);
        if stat
            .rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the program outlived its hang-up by 30 s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    (last - before, start.elapsed().as_secs_f64())
}

async fn sample(claude: &Path, i: usize) -> Sample {
    let tmp = tempfile::tempdir().expect("tmp");
    let api = MockApi::start(MockApiConfig::local(vec![MockAccount::new(
        "tok-floor",
        "floor",
    )]))
    .await
    .expect("mock");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).expect("work dir");
    let acct = make_account_dir(
        &tmp.path().join("acct"),
        "tok-floor",
        std::slice::from_ref(&work),
    )
    .expect("account dir");
    let env = failover_sim::tmux::claude_env(&acct.dir, &api.base_url());
    let tmux = PrivateTmux::new("floor");
    let program = claude.to_string_lossy().into_owned();
    let ready = |s: &str| e2e_support::is_idle(s) && s.contains("Claude Code");
    let answered = |prompt: &str| {
        api.requests()
            .iter()
            .any(|r| r.status == 200 && r.last_user_text.as_deref() == Some(prompt))
    };

    // A conversation with one answered turn, its program ended.
    tmux.new_session("seed", 160, 50, &work, &env, std::slice::from_ref(&program))
        .expect("tmux");
    let seed_pid = pane_pid(&tmux, "seed");
    wait_screen(&tmux, "seed", "the first program ready", ready).await;
    let history = format!("floor bench {i}: the history");
    tmux.submit("seed", &history).expect("type");
    let conversation = loop {
        if let Some(r) = api
            .requests()
            .into_iter()
            .find(|r| r.status == 200 && r.last_user_text.as_deref() == Some(history.as_str()))
        {
            break r.session_id.expect("session id header");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    wait_screen(&tmux, "seed", "the first turn over", e2e_support::is_idle).await;
    at_rest(seed_pid).await;
    hang_up(&tmux, "seed", seed_pid).await;

    // A standby: started and at rest first (that is done ahead of a move), then `/resume`.
    tmux.new_session("sb", 160, 50, &work, &env, std::slice::from_ref(&program))
        .expect("tmux");
    let sb_pid = pane_pid(&tmux, "sb");
    wait_screen(&tmux, "sb", "the standby ready", ready).await;
    at_rest(sb_pid).await;
    let c0 = tree_cpu(sb_pid);
    let t0 = Instant::now();
    tmux.send_text("sb", &format!("/resume {conversation}"))
        .expect("type");
    wait_screen(&tmux, "sb", "the typed /resume shown", |s| {
        s.contains(&format!("/resume {conversation}"))
    })
    .await;
    tmux.send_keys("sb", &["Enter"]).expect("enter");
    wait_screen(&tmux, "sb", "the conversation loaded", |s| {
        !s.contains("/resume") && s.contains(&history) && e2e_support::is_idle(s)
    })
    .await;
    let standby_resume_wall = t0.elapsed().as_secs_f64();
    at_rest(sb_pid).await;
    let standby_resume_cpu = tree_cpu(sb_pid) - c0;

    // The answered turn.
    let prompt = format!("floor bench {i}: the turn");
    let c1 = tree_cpu(sb_pid);
    tmux.submit("sb", &prompt).expect("type");
    // From the Enter (`submit` waits between the text and the key).
    let t1 = Instant::now();
    while !answered(&prompt) {
        assert!(
            t1.elapsed() < Duration::from_secs(60),
            "the turn never answered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wait_screen(&tmux, "sb", "the turn over", |s| {
        e2e_support::is_idle(s) && s.contains(&e2e_support::ack(&prompt))
    })
    .await;
    let turn_wall = t1.elapsed().as_secs_f64();
    at_rest(sb_pid).await;
    let turn_cpu = tree_cpu(sb_pid) - c1;

    // The old program's exit.
    let (exit_cpu, exit_wall) = hang_up(&tmux, "sb", sb_pid).await;

    // A cold `--resume` start of the same conversation, to its loaded, idle screen.
    let t2 = Instant::now();
    let command = [program, "--resume".to_owned(), conversation];
    tmux.new_session("cold", 160, 50, &work, &env, &command)
        .expect("tmux");
    let cold_pid = pane_pid(&tmux, "cold");
    wait_screen(&tmux, "cold", "the cold resume loaded", |s| {
        s.contains(&prompt) && e2e_support::is_idle(s)
    })
    .await;
    let cold_resume_wall = t2.elapsed().as_secs_f64();
    at_rest(cold_pid).await;
    let cold_resume_cpu = tree_cpu(cold_pid);
    hang_up(&tmux, "cold", cold_pid).await;
    drop(tmux);
    println!(
        "move floor sample {i}: standby /resume {standby_resume_cpu:.2} CPU-s ({standby_resume_wall:.2} s), cold --resume {cold_resume_cpu:.2} CPU-s ({cold_resume_wall:.2} s), answered turn {turn_cpu:.2} CPU-s ({turn_wall:.2} s), exit {exit_cpu:.2} CPU-s ({exit_wall:.2} s)"
    );
    Sample {
        standby_resume_cpu,
        standby_resume_wall,
        cold_resume_cpu,
        cold_resume_wall,
        turn_cpu,
        turn_wall,
        exit_cpu,
        exit_wall,
    }
}
