//! End to end, with `claude-failoverd`, real tmux and the real Claude Code CLI against the
//! mock API: a server-error storm never moves the pool; a pool with every account exhausted
//! parks and comes back by itself at the reset; a daemon SIGKILLed in the middle of a swap
//! finishes it after a restart with nothing lost or duplicated.

use crate::support::e2e as e2e_support;

use std::time::Duration;

use e2e_support::{
    World, WorldSpec, ack, five_hour_quota, is_effect, mins, poll_until, real_claude,
};
use failover_daemon::http::dto::EventKindDto;
use failover_sim::mock_api::Mode;

const DAEMON: &str = env!("CARGO_BIN_EXE_claude-failoverd");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_storm_never_swaps_and_the_session_recovers() {
    let Some(claude) = real_claude("a_server_error_storm_never_swaps_and_the_session_recovers")
    else {
        return;
    };
    let world = World::start(WorldSpec::new(DAEMON, &claude, 2, 1)).await;
    world.converse("s0", "turn before the storm").await;
    let events_before = world.events().len();

    let prompt = "turn sent into the storm";
    world.set_mode("a", Mode::ServerError);
    world.submit("s0", prompt);
    // Watch the status for the whole storm: A stays active, nothing moves.
    for (mode, status, n) in [(Mode::ServerError, 500, 2), (Mode::Overloaded, 529, 2)] {
        world.set_mode("a", mode);
        let retried = poll_until(mins(2), Duration::from_millis(200), async || {
            assert_still_on_a(&world).await;
            let seen = world
                .prompt_requests(prompt)
                .iter()
                .filter(|r| r.status == status)
                .count();
            (seen >= n).then_some(())
        })
        .await;
        assert!(retried.is_some(), "the CLI never retried into {status}");
    }
    world.set_mode("a", Mode::Normal);
    // The CLI's own retry gets through on A.
    world
        .wait_screen("s0", "the stormy turn answered", mins(2), |s| {
            s.contains(&ack(prompt))
        })
        .await;
    assert_still_on_a(&world).await;
    world.converse("s0", "turn after the storm").await;
    let reqs = world.prompt_requests("turn after the storm");
    assert!(
        reqs.iter()
            .all(|r| r.account.as_deref() == Some("a") && r.status == 200),
        "{reqs:#?}"
    );
    let moved: Vec<_> = world.events()[events_before..]
        .iter()
        .filter(|e| {
            ["checkpoint", "stop", "launch"]
                .iter()
                .any(|n| is_effect(&e.event, n))
        })
        .cloned()
        .collect();
    assert!(moved.is_empty(), "no session was moved: {moved:#?}");
    let status = world.status().await.unwrap();
    assert_eq!(status.swaps_completed, 0);
}

/// A stays the active account, nothing is moving and A is not considered exhausted.
async fn assert_still_on_a(world: &World) {
    let s = world.status().await.expect("status");
    assert_eq!(s.active_account.as_deref(), Some("a"), "{s:#?}");
    assert!(s.swap.is_none(), "no swap during a storm: {s:#?}");
    assert_eq!(s.sessions[0].account.as_deref(), Some("a"));
    assert_ne!(s.accounts[0].state, "exhausted", "{s:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_account_exhausted_parks_then_resumes_at_the_reset() {
    let Some(claude) = real_claude("every_account_exhausted_parks_then_resumes_at_the_reset")
    else {
        return;
    };
    let world = World::start(WorldSpec::new(DAEMON, &claude, 2, 1)).await;
    let id = world.status().await.unwrap().sessions[0]
        .claude_session
        .clone()
        .unwrap();
    world.converse("s0", "turn before exhaustion").await;
    // Both windows run out, resetting shortly.
    // The mock resets at a whole second (`resets_at`), so the reset instant is that second,
    // not "now + 50 s" in milliseconds (up to a second later).
    let quota = five_hour_quota(50);
    let Mode::QuotaExhausted { resets_at, .. } = quota else {
        unreachable!("five_hour_quota is a quota mode")
    };
    let reset_ms = resets_at * 1000;
    world.set_mode("b", quota);
    let prompt = "turn that waits for the reset";
    world
        .submit_all_after("a", five_hour_quota(50), |_| prompt.to_owned())
        .await;
    let parked = world
        .wait_status("the session parked", mins(2), |s| {
            s.sessions[0].state == "parked"
        })
        .await;
    assert!(parked.accounts.iter().all(|a| !a.usable), "{parked:#?}");
    assert!(
        world.tmux_sessions().is_empty() || !world.screen("s0").contains(&ack(prompt)),
        "nothing answers while parked"
    );
    // The reset passes: the pool comes back by itself, same conversation, prompt answered.
    let back = world
        .wait_status("the session running again", mins(3), |s| {
            s.sessions[0].state == "running"
                && s.sessions[0].activity.as_deref() == Some("idle")
                && s.swap.is_none()
        })
        .await;
    assert_eq!(
        back.sessions[0].claude_session.as_deref(),
        Some(id.as_str())
    );
    let answered = world
        .wait_request("the waiting prompt answered", mins(1), |r| {
            r.status == 200 && r.last_user_text.as_deref() == Some(prompt)
        })
        .await;
    assert!(answered.at_ms >= reset_ms, "answered only after the reset");
    assert_eq!(answered.session_id.as_deref(), Some(id.as_str()));
    world
        .wait_screen("s0", "the answer", mins(1), |s| s.contains(&ack(prompt)))
        .await;
    assert!(
        world.events().iter().any(|e| matches!(&e.event.event,
            EventKindDto::Notification { summary, .. } if summary.contains("exhausted"))),
        "the operator was told every account is exhausted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_mid_swap_finishes_it_after_a_restart() {
    let Some(claude) = real_claude("a_daemon_killed_mid_swap_finishes_it_after_a_restart") else {
        return;
    };
    let mut world = World::start(WorldSpec::new(DAEMON, &claude, 2, 2)).await;
    let ids: Vec<String> = world
        .status()
        .await
        .unwrap()
        .sessions
        .iter()
        .map(|s| s.claude_session.clone().unwrap())
        .collect();
    for s in world.sessions.clone() {
        world.converse(&s, &format!("warm-up turn of {s}")).await;
    }
    world
        .all_hit_together("a", five_hour_quota(3600), |s| {
            format!("interrupted turn of {s}")
        })
        .await;
    // SIGKILL as soon as the first session is being launched on B.
    world
        .wait_event("a launch on b", mins(2), |e| {
            e.run == 0
                && matches!(&e.event.event,
                    EventKindDto::Effect { effect, account: Some(a), .. } if effect == "launch" && a == "b")
        })
        .await;
    world.kill_daemon();
    world.start_daemon();
    let after = world.wait_all_on("b", mins(4)).await;
    // Each session exists exactly once, on B, in its own conversation.
    let mut tmux = world.tmux_sessions();
    tmux.sort();
    assert_eq!(tmux, world.sessions);
    for (i, s) in world.sessions.iter().enumerate() {
        let dto = after.sessions.iter().find(|x| &x.name == s).unwrap();
        assert_eq!(dto.claude_session.as_deref(), Some(ids[i].as_str()));
        let prompt = format!("interrupted turn of {s}");
        world
            .wait_screen(s, "the interrupted turn answered", mins(1), |sc| {
                sc.contains(&ack(&prompt))
            })
            .await;
        let answered: Vec<_> = world
            .prompt_requests(&prompt)
            .into_iter()
            .filter(|r| r.status == 200)
            .collect();
        assert_eq!(
            answered.len(),
            1,
            "{s}: answered exactly once: {answered:#?}"
        );
        assert_eq!(answered[0].account.as_deref(), Some("b"));
        assert_eq!(answered[0].session_id.as_deref(), Some(ids[i].as_str()));
        let screen = world.screen(s);
        assert_eq!(
            screen.matches(&ack(&prompt)).count(),
            1,
            "{s}: one answer on screen:\n{screen}"
        );
    }
    assert!(
        world.events().iter().any(|e| e.run == 1),
        "the restarted daemon streamed events"
    );
}
