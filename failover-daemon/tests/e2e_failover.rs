//! End to end, with `claude-failoverd`, real tmux and the real Claude Code CLI against the
//! mock API: quota on the active account moves every session, conversation and interrupted
//! prompt included; an account that needs a login is skipped and reported; a statusline near
//! the limit moves the pool before any error.

use crate::support::e2e as e2e_support;

use std::time::Duration;

use e2e_support::webhook::Webhook;
use e2e_support::{
    World, WorldSpec, ack, five_hour_quota, is_effect, mins, poll_until, real_claude,
};
use failover_daemon::http::dto::EventKindDto;
use failover_sim::mock_api::{ClaimWindow, Mode};

const DAEMON: &str = env!("CARGO_BIN_EXE_claude-failoverd");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_on_a_moves_three_sessions_to_b_with_history_and_prompts() {
    let Some(claude) = real_claude("quota_on_a_moves_three_sessions_to_b_with_history_and_prompts")
    else {
        return;
    };
    let world = World::start(WorldSpec::new(DAEMON, &claude, 2, 3)).await;
    let before = world.status().await.expect("status");
    let ids: Vec<String> = before
        .sessions
        .iter()
        .map(|s| s.claude_session.clone().expect("conversation id"))
        .collect();

    // Mid-conversation: one answered turn each on A.
    for s in &world.sessions {
        world.converse(s, &format!("first turn of {s}")).await;
    }
    // A's five-hour window runs out; the next prompt of each session hits it.
    world
        .all_hit_together("a", five_hour_quota(3600), |s| {
            format!("second turn of {s}")
        })
        .await;
    let after = world.wait_all_on("b", mins(3)).await;
    assert_eq!(after.active_account.as_deref(), Some("b"));
    for (i, s) in world.sessions.iter().enumerate() {
        let dto = after.sessions.iter().find(|x| &x.name == s).unwrap();
        assert_eq!(
            dto.claude_session.as_deref(),
            Some(ids[i].as_str()),
            "{s} keeps its conversation"
        );
        let prompt = format!("second turn of {s}");
        // The interrupted prompt was refused on A, then answered on B in the same
        // conversation, with the earlier turns sent along.
        let reqs = world.prompt_requests(&prompt);
        assert!(
            reqs.iter()
                .any(|r| r.account.as_deref() == Some("a") && r.status == 429),
            "{s}: the prompt hit the quota on A: {reqs:#?}"
        );
        let on_b: Vec<_> = reqs
            .iter()
            .filter(|r| r.account.as_deref() == Some("b") && r.status == 200)
            .collect();
        assert_eq!(on_b.len(), 1, "{s}: answered once on B: {reqs:#?}");
        assert_eq!(on_b[0].session_id.as_deref(), Some(ids[i].as_str()));
        let first_on_a = world
            .prompt_requests(&format!("first turn of {s}"))
            .into_iter()
            .find(|r| r.status == 200)
            .expect("first turn answered");
        assert!(
            on_b[0].message_count.unwrap_or(0) > first_on_a.message_count.unwrap_or(0),
            "{s}: B's request carries the history ({:?} messages vs {:?})",
            on_b[0].message_count,
            first_on_a.message_count
        );
        world
            .wait_screen(s, "the answer on B", mins(1), |sc| {
                sc.contains(&ack(&prompt))
            })
            .await;
        let transcript = world
            .wait_transcript(i, &ids[i], "the answer on B", mins(1), |t| {
                t.contains(&ack(&prompt))
            })
            .await;
        assert!(
            transcript.contains(&format!("first turn of {s}")),
            "{s}: history kept"
        );
        // Resumed with CLAUDE_CODE_RESUME_INTERRUPTED_TURN=1, Claude Code takes the refused
        // turn up by itself: the prompt typed once (on A) and never again. The stop types
        // no `/exit` after a refusal (its lines after the refused turn made the resumed CLI
        // leave the turn alone, and the replay typed the prompt again).
        let typed = user_lines(&transcript, &prompt);
        let taken_up = user_lines(&transcript, "Continue from where you left off.");
        assert_eq!(
            (typed, taken_up),
            (1, 1),
            "{s}: the turn went on once, taken up by the CLI:\n{transcript}"
        );
    }
    // Exactly one tmux session per configured session.
    let mut tmux = world.tmux_sessions();
    tmux.sort();
    assert_eq!(tmux, world.sessions);
    assert!(
        world.events().iter().any(|e| matches!(&e.event.event,
            EventKindDto::Detection { verdict, .. } if verdict == "quota_exhausted")),
        "the quota was detected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_that_needs_a_login_is_skipped_and_reported() {
    let Some(claude) = real_claude("an_account_that_needs_a_login_is_skipped_and_reported") else {
        return;
    };
    let hook = Webhook::start().await;
    let mut spec = WorldSpec::new(DAEMON, &claude, 3, 1);
    spec.extra = format!(
        "[notify]\nlog = true\n[notify.webhook]\nurl = {:?}\n",
        hook.url()
    );
    let world = World::start(spec).await;
    let id = world.status().await.unwrap().sessions[0]
        .claude_session
        .clone()
        .unwrap();
    world.converse("s0", "hello before the login trouble").await;
    // B's token is revoked (401), then A runs out.
    world.set_mode("b", Mode::Unauthorized);
    let prompt = "prompt that must land on c";
    world
        .submit_all_after("a", five_hour_quota(3600), |_| prompt.to_owned())
        .await;
    let after = world.wait_all_on("c", mins(4)).await;
    assert_eq!(
        after.sessions[0].claude_session.as_deref(),
        Some(id.as_str())
    );
    let b = after.accounts.iter().find(|a| a.name == "b").unwrap();
    assert_eq!(b.state, "needs_login", "{after:#?}");
    assert!(!b.usable);
    // The prompt is answered on C, in the same conversation.
    let on_c = world
        .wait_request("the prompt answered on c", mins(1), |r| {
            r.account.as_deref() == Some("c")
                && r.status == 200
                && r.last_user_text.as_deref() == Some(prompt)
        })
        .await;
    assert_eq!(on_c.session_id.as_deref(), Some(id.as_str()));
    world
        .wait_screen("s0", "the answer on c", mins(1), |sc| {
            sc.contains(&ack(prompt))
        })
        .await;
    // The operator heard about B through the webhook.
    let heard = poll_until(mins(1), Duration::from_millis(100), || {
        let got = hook
            .received()
            .into_iter()
            .any(|n| n["kind"] == "needs_login" && n["details"].to_string().contains("\"b\""));
        async move { got.then_some(()) }
    })
    .await;
    assert!(
        heard.is_some(),
        "no needs_login notification for b reached the webhook: {:#?}",
        hook.received()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_past_the_threshold_moves_the_pool_before_any_error() {
    let Some(claude) = real_claude("usage_past_the_threshold_moves_the_pool_before_any_error")
    else {
        return;
    };
    let world = World::start(WorldSpec::new(DAEMON, &claude, 2, 1)).await;
    let id = world.status().await.unwrap().sessions[0]
        .claude_session
        .clone()
        .unwrap();
    // A answers, but reports 96 % of its five-hour window used (threshold 95 %).
    world.set_mode(
        "a",
        Mode::NearLimit {
            window: ClaimWindow::FiveHour,
            utilization: 0.96,
            resets_at: e2e_support::now_secs() + 3600,
        },
    );
    world.converse("s0", "a turn at ninety-six percent").await;
    let after = world.wait_all_on("b", mins(3)).await;
    assert_eq!(
        after.sessions[0].claude_session.as_deref(),
        Some(id.as_str())
    );
    let a = after.accounts.iter().find(|x| x.name == "a").unwrap();
    assert_eq!(a.state, "near_limit", "{after:#?}");
    assert!(
        world.events().iter().any(|e| matches!(&e.event.event,
            EventKindDto::Detection { verdict, used_percent: Some(p), .. }
                if verdict == "near_limit" && *p >= 95.0)),
        "the near-limit usage was detected"
    );
    // The conversation goes on, on B.
    world
        .converse("s0", "a turn after the proactive move")
        .await;
    let reqs = world.prompt_requests("a turn after the proactive move");
    assert!(
        reqs.iter()
            .any(|r| r.account.as_deref() == Some("b")
                && r.session_id.as_deref() == Some(id.as_str())),
        "{reqs:#?}"
    );
    // Before any error: the mock never refused a request.
    let refused: Vec<_> = world
        .api
        .requests()
        .into_iter()
        .filter(|r| r.status >= 400)
        .collect();
    assert!(refused.is_empty(), "no request may fail: {refused:#?}");
    assert!(
        !world
            .events()
            .iter()
            .any(|e| is_effect(&e.event, "send_prompt")),
        "nothing was interrupted, so nothing replayed"
    );
}

/// How many `user` lines of `transcript` hold `text` as their typed text.
fn user_lines(transcript: &str, text: &str) -> usize {
    transcript
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "user")
        .filter(|v| match &v["message"]["content"] {
            serde_json::Value::String(s) => s == text,
            serde_json::Value::Array(parts) => parts.iter().any(|p| p["text"] == text),
            _ => false,
        })
        .count()
}

/// Text a person typed and did not send is not lost at a move: the daemon's stop keeps it
/// (`<state_dir>/drafts/`), and the CLI resumed on the next account shows it unsent in its
/// input box; the API never sees it, and the kept file goes once it is handed on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_unsent_draft_comes_back_unsent_after_a_move() {
    let Some(claude) = real_claude("a_persons_unsent_draft_comes_back_unsent_after_a_move") else {
        return;
    };
    let world = World::start(WorldSpec::new(DAEMON, &claude, 2, 1)).await;
    world.converse("s0", "first turn of s0").await;
    let draft = "a half thought, typed and not sent";
    world.api.watch_for(draft);
    world.type_text("s0", draft);
    let in_box = |sc: &str| failover_core::quota::input_box(sc).as_deref() == Some(draft);
    world
        .wait_screen("s0", "the draft in the box", mins(1), in_box)
        .await;
    assert_eq!(world.command("/v1/swap", r#"{"to":"b"}"#).await, 202);
    world.wait_all_on("b", mins(2)).await;
    world
        .wait_screen("s0", "the draft back, unsent, on b", mins(1), |sc| {
            in_box(sc) && sc.contains(&ack("first turn of s0"))
        })
        .await;
    let requests = world.api.requests();
    assert!(
        requests.iter().all(|r| r.seen.is_empty()),
        "the draft reached the API: {requests:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.account.as_deref() == Some("b")
                && r.last_user_text.as_deref() == Some("quota")),
        "the CLI started on b"
    );
    let drafts = world.root().join("state").join("drafts");
    let left: Vec<_> = std::fs::read_dir(&drafts)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "kept drafts left behind: {left:?}");
}
