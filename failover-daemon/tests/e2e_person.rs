//! End to end, with `claude-failoverd`, real tmux and the real Claude Code CLI against the
//! mock API: a session moved to a freshly logged-in account is still the person's. Their
//! user memory (`CLAUDE.md`) reaches the model in a new conversation there, their custom
//! slash command (`commands/foo.md`) runs, and `status` names the setting the two accounts
//! do not share.

use crate::support::e2e as e2e_support;

use std::time::Duration;

use e2e_support::{World, WorldSpec, five_hour_quota, is_idle, mins, real_claude};

const DAEMON: &str = env!("CARGO_BIN_EXE_claude-failoverd");

const MEMORY_MARK: &str = "MEMORY-MARK-41c7e";
const COMMAND_MARK: &str = "COMMAND-MARK-9d2e0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_moved_to_a_fresh_account_keeps_the_persons_memory_and_commands() {
    let Some(claude) =
        real_claude("a_session_moved_to_a_fresh_account_keeps_the_persons_memory_and_commands")
    else {
        return;
    };
    let mut spec = WorldSpec::new(DAEMON, &claude, 2, 1);
    // The person's main account holds their memory, a custom command and a setting; `b`
    // was just logged in and holds none of it.
    spec.account_files = vec![
        (
            "a".into(),
            "CLAUDE.md".into(),
            format!("# My memory\nAlways mention {MEMORY_MARK}.\n"),
        ),
        (
            "a".into(),
            "commands/foo.md".into(),
            format!("Reply with the word {COMMAND_MARK} and nothing else.\n"),
        ),
        (
            "a".into(),
            "settings.json".into(),
            "{\"env\":{\"PERSON_ENV_MARK\":\"1\"}}\n".into(),
        ),
    ];
    let world = World::start(spec).await;
    let moved = world.status().await.expect("status").sessions[0]
        .claude_session
        .clone()
        .expect("conversation id");
    world.api.watch_for(MEMORY_MARK);
    world.api.watch_for(COMMAND_MARK);

    // `status` names the setting only `a` has, without its value.
    let st = world.status().await.expect("status");
    let diff = st
        .setting_differences
        .iter()
        .find(|d| d.key == "env.PERSON_ENV_MARK")
        .unwrap_or_else(|| panic!("no difference reported: {:?}", st.setting_differences));
    assert_eq!(diff.groups, vec![vec!["a".to_owned()]]);
    assert_eq!(diff.missing, vec!["b".to_owned()]);

    world.converse("s0", "first turn on a").await;
    world
        .all_hit_together("a", five_hour_quota(3600), |s| {
            format!("second turn of {s}")
        })
        .await;
    world.wait_all_on("b", mins(3)).await;
    world
        .wait_screen(
            "s0",
            "the interrupted prompt answered on b",
            mins(1),
            |sc| sc.contains("ACK: second turn of s0"),
        )
        .await;

    // A new conversation on b: the memory is in what the model is sent.
    world
        .wait_screen("s0", "an idle prompt", Duration::from_secs(60), is_idle)
        .await;
    world.submit("s0", "/clear");
    world
        .wait_screen("s0", "the cleared screen", Duration::from_secs(60), |sc| {
            is_idle(sc) && !sc.contains("ACK: second turn of s0")
        })
        .await;
    let prompt = "a new conversation on b";
    world.converse("s0", prompt).await;
    let on_b = world
        .prompt_requests(prompt)
        .into_iter()
        .find(|r| r.account.as_deref() == Some("b") && r.status == 200)
        .expect("the new conversation's turn reached the mock on b");
    // A new conversation: another id, no history (the context message and the prompt).
    assert_ne!(on_b.session_id.as_deref(), Some(moved.as_str()), "{on_b:?}");
    assert!(
        on_b.message_count <= Some(2),
        "a new conversation: {on_b:?}"
    );
    assert!(
        on_b.seen.iter().any(|s| s == MEMORY_MARK),
        "the person's memory is sent on b: {on_b:?}"
    );

    // The custom slash command runs on b: the model is sent its expanded prompt.
    world.submit("s0", "/foo");
    let cmd = world
        .wait_request(
            "the expanded /foo prompt on b",
            Duration::from_secs(60),
            |r| {
                r.account.as_deref() == Some("b")
                    && r.status == 200
                    && r.last_user_text
                        .as_deref()
                        .is_some_and(|t| t.contains(COMMAND_MARK))
            },
        )
        .await;
    assert!(cmd.seen.iter().any(|s| s == COMMAND_MARK), "{cmd:?}");
    assert!(
        !world.screen("s0").contains("Unknown"),
        "{}",
        world.screen("s0")
    );
}
