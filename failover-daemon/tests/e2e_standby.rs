//! End to end, with `claude-failoverd`, real tmux and the real Claude Code CLI against the
//! mock API: the window use the CLI reports (its statusline, the response headers) decides
//! whether a session has a standby on the next account, the status shows it, and the quota
//! still moves the session there, its standby then gone from the status.

use crate::support::e2e as e2e_support;

use e2e_support::{World, WorldSpec, five_hour_quota, mins, real_claude};
use failover_daemon::http::dto::StatusDto;
use failover_sim::mock_api::{ClaimWindow, Mode};

const DAEMON: &str = env!("CARGO_BIN_EXE_claude-failoverd");

fn usage(utilization: f64) -> Mode {
    Mode::Usage {
        window: ClaimWindow::FiveHour,
        utilization,
        resets_at: e2e_support::now_secs() + 3600,
    }
}

fn used_on_a(s: &StatusDto) -> Option<f32> {
    s.accounts
        .iter()
        .find(|a| a.name == "a")
        .and_then(|a| a.used_percent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_usage_the_cli_reports_decides_the_standby_and_the_quota_still_moves_the_session() {
    let Some(claude) = real_claude(
        "the_usage_the_cli_reports_decides_the_standby_and_the_quota_still_moves_the_session",
    ) else {
        return;
    };
    let mut spec = WorldSpec::new(DAEMON, &claude, 2, 1);
    spec.policy = "standby = true\nstandby_percent = 80\n".into();
    let world = World::start(spec).await;

    // 70 % of the window: under the standby percentage, no standby.
    world.set_mode("a", usage(0.70));
    world.converse("s0", "a turn at seventy percent").await;
    let st = world
        .wait_status("a seen at 70 %", mins(1), |s| {
            used_on_a(s).is_some_and(|p| (p - 70.0).abs() < 0.5)
        })
        .await;
    assert_eq!(st.sessions[0].standby, None, "{st:#?}");

    // 85 %: past it, under the proactive 90 %: a standby on b, and the session stays.
    world.set_mode("a", usage(0.85));
    world.converse("s0", "a turn at eighty-five percent").await;
    let st = world
        .wait_status("a standby ready on b", mins(1), |s| {
            s.sessions[0].standby.as_deref() == Some("b")
        })
        .await;
    assert_eq!(st.sessions[0].account.as_deref(), Some("a"), "{st:#?}");
    assert!(st.swap.is_none(), "no move before the quota: {st:#?}");
    // The one standby made is this one: none at 70 %.
    let log = world.daemon_log();
    assert_eq!(log.matches("standby ready").count(), 1, "{log}");
    // The ready standby is a real program: its own tmux session, beside the session's.
    let standby = "failover standby s0".to_owned();
    let sessions = world.tmux_sessions();
    assert!(sessions.contains(&standby), "{sessions:?}");

    // The quota: the session moves to b, where its standby was; the status forgets it.
    let id = st.sessions[0].claude_session.clone().expect("conversation");
    world
        .submit_all_after("a", five_hour_quota(3600), |_| {
            "the turn that meets the quota".into()
        })
        .await;
    let after = world.wait_all_on("b", mins(3)).await;
    assert_eq!(
        after.sessions[0].claude_session.as_deref(),
        Some(id.as_str())
    );
    let moved = world
        .wait_status("no standby once moved", mins(1), |s| {
            s.sessions[0].standby.is_none()
        })
        .await;
    // Were this CLI to draw `/resume` differently, the move would have gone cold: counted.
    assert_eq!(moved.daemon.standby_fallbacks, 0, "{moved:#?}");
    // The move took the standby over (no cold start): its session is gone into s0, and
    // the refused prompt was answered on b exactly once.
    let log = world.daemon_log();
    assert!(log.contains("launched from the prepared program"), "{log}");
    assert!(!world.tmux_sessions().contains(&standby));
    let prompt = "the turn that meets the quota";
    world
        .wait_screen("s0", "the replayed prompt answered", mins(1), |s| {
            s.contains(&e2e_support::ack(prompt))
        })
        .await;
    let on_b = |w: &World| {
        w.prompt_requests(prompt)
            .into_iter()
            .filter(|r| r.account.as_deref() == Some("b") && r.status == 200)
            .count()
    };
    assert_eq!(on_b(&world), 1, "{:#?}", world.prompt_requests(prompt));
}
