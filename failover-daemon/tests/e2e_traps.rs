//! End to end, with `claude-failoverd`, real tmux and the real Claude Code CLI against the
//! mock API: limit wording inside the conversation is no limit. One session gets a model
//! reply that quotes Claude Code's limit messages, the other a `Bash` tool call whose output
//! prints them; nothing swaps, the account is never marked, and later prompts are still
//! answered on the same account.

use crate::support::e2e as e2e_support;

use std::time::Duration;

use e2e_support::{World, WorldSpec, ack, client, is_effect, mins, real_claude};
use failover_daemon::http::dto::EventKindDto;
use failover_sim::mock_api::{LIMIT_QUOTES, Mode};

const DAEMON: &str = env!("CARGO_BIN_EXE_claude-failoverd");

/// How long the daemon gets, after it has seen both turns end, to act on what the panes
/// show. The pane observer captures within its debounce (tens of milliseconds) and a second
/// sighting follows the next redraw; a swap starts with a checkpoint at once.
const SETTLE: Duration = Duration::from_secs(5);

/// How long the mock holds the answer after the tool, while its output is on screen.
const ANSWER_HOLD_SECS: u64 = 3;

/// Whether `e` is the daemon learning that `session`'s transcript ends in an ordinary reply.
fn ordinary_reply_of(e: &EventKindDto, session: &str) -> bool {
    matches!(e, EventKindDto::Session { session: s, change, detail }
        if s == session && change == "corroboration" && detail.as_deref() == Some("ordinary_reply"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_wording_in_a_reply_or_a_tool_output_never_swaps() {
    let Some(claude) = real_claude("limit_wording_in_a_reply_or_a_tool_output_never_swaps") else {
        return;
    };
    let mut spec = WorldSpec::new(DAEMON, &claude, 2, 2);
    spec.allow_tools = vec!["Bash(printf:*)".to_owned()];
    let world = World::start(spec).await;
    for s in &world.sessions {
        world.converse(s, &format!("first turn of {s}")).await;
    }
    let before = world.events().last().map_or(0, |e| e.event.seq);

    // s0: the model's reply quotes every limit message, one a paragraph.
    world.set_mode("a", Mode::QuoteLimits);
    let quoted = "what do the usage limit messages look like?";
    world.converse("s0", quoted).await;
    world
        .wait_screen("s0", "the quoted limit messages", mins(1), |sc| {
            sc.contains(LIMIT_QUOTES[0]) && sc.contains(LIMIT_QUOTES[1])
        })
        .await;

    // s1: the model runs `printf`, whose output prints them; then it answers (the answer
    // comes only once the tool's result went back: the CLI ran the allowed command).
    // Claude Code folds a finished shell call into `Ran 1 shell command` once the turn
    // ends; the answer after the tool comes a while later so the output stays drawn (and
    // observed) meanwhile.
    world.set_mode(
        "a",
        Mode::PrintLimits {
            hold_answer_secs: ANSWER_HOLD_SECS,
        },
    );
    let printed = "print the usage limit messages for the docs";
    world
        .wait_screen("s1", "an idle prompt", mins(1), e2e_support::is_idle)
        .await;
    world.submit("s1", printed);
    world
        .wait_screen("s1", "the printed limit messages", mins(1), |sc| {
            sc.contains("⎿") && sc.contains(LIMIT_QUOTES[1]) && sc.contains(LIMIT_QUOTES[4])
        })
        .await;
    world
        .wait_screen("s1", "the answer after the tool", mins(1), |sc| {
            sc.contains(&ack(printed))
        })
        .await;

    // The daemon has read both turns' replies, then had time to act on both screens.
    for s in ["s0", "s1"] {
        world
            .wait_event(&format!("{s}'s ordinary reply read"), mins(1), |e| {
                e.event.seq > before && ordinary_reply_of(&e.event.event, s)
            })
            .await;
    }
    tokio::time::sleep(SETTLE).await;

    let status = world.status().await.expect("status");
    assert_eq!(status.active_account.as_deref(), Some("a"), "{status:#?}");
    assert!(status.swap.is_none(), "{status:#?}");
    assert_eq!(status.swaps_completed, 0, "{status:#?}");
    let a = status.accounts.iter().find(|x| x.name == "a").unwrap();
    assert!(
        a.state != "exhausted" && a.state != "needs_login",
        "account a was marked: {status:#?}"
    );
    let after: Vec<_> = world
        .events()
        .into_iter()
        .filter(|e| e.event.seq > before)
        .collect();
    for name in ["checkpoint", "stop", "launch"] {
        assert!(
            !after.iter().any(|e| is_effect(&e.event, name)),
            "the daemon asked for a {name}: {after:#?}"
        );
    }
    // Pane verdicts about these screens, if the classifier gave any, were all vetoed.
    let pane_alarms = after
        .iter()
        .filter(|e| {
            matches!(&e.event.event, EventKindDto::Detection { source, verdict, .. }
                if source == "pane" && (verdict == "quota_exhausted" || verdict == "auth_required"))
        })
        .count();
    let vetoed = after
        .iter()
        .filter(|e| is_effect(&e.event, "detection_vetoed"))
        .count();
    eprintln!("pane limit verdicts: {pane_alarms}, vetoed: {vetoed}");
    if pane_alarms > vetoed {
        // The rest were set aside for another reason (a resumed screen is history until the
        // CLI reports a turn): counted as ignored inputs, and none was acted on.
        let (code, metrics) = client::request(&world.control, "GET", "/metrics", "")
            .await
            .expect("metrics");
        assert_eq!(code, 200);
        let ignored: usize = metrics
            .lines()
            .find_map(|l| l.strip_prefix("claude_failover_ignored_inputs_total "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        assert!(
            vetoed + ignored >= pane_alarms,
            "every pane limit verdict was vetoed or set aside ({pane_alarms} alarms, \
             {vetoed} vetoed, {ignored} ignored): {metrics}"
        );
    }
    if vetoed > 0 {
        let (_, metrics) = client::request(&world.control, "GET", "/metrics", "")
            .await
            .expect("metrics");
        assert!(
            metrics.contains(
                "claude_failover_detections_vetoed_total{reason=\"transcript_ordinary_reply\"}"
            ),
            "vetoes are counted: {metrics}"
        );
    }

    // Later prompts are still answered on the same account, in both sessions.
    world.set_mode("a", Mode::Normal);
    for s in ["s0", "s1"] {
        let later = format!("a later turn of {s}");
        world.converse(s, &later).await;
        let reqs = world.prompt_requests(&later);
        assert!(
            !reqs.is_empty()
                && reqs
                    .iter()
                    .all(|r| r.account.as_deref() == Some("a") && r.status == 200),
            "{s}: answered on a: {reqs:#?}"
        );
        world
            .wait_screen(s, "the later answer", mins(1), |sc| {
                sc.contains(&ack(&later))
            })
            .await;
    }
    let last = world.status().await.expect("status");
    assert!(
        last.sessions
            .iter()
            .all(|s| s.account.as_deref() == Some("a")),
        "{last:#?}"
    );
    assert_eq!(last.swaps_completed, 0);
    assert!(
        !world
            .api
            .requests()
            .iter()
            .any(|r| r.account.as_deref() == Some("b") && r.path.starts_with("/v1/messages")),
        "nothing ran on b"
    );
}
