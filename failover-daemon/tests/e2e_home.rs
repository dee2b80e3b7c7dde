//! End to end on a home laid out as a real person's: the default account `~/.claude` (its
//! global config at `~/.claude.json`) and a second account `~/.claude-work` whose global
//! config trusts no project yet. Real `claude-failoverd`, real tmux, the real Claude Code
//! CLI against the mock API.

use crate::support::e2e as e2e_support;

use std::path::Path;
use std::time::Duration;

use e2e_support::{World, WorldSpec, ack, five_hour_quota, mins, real_claude};
use failover_sim::mock_api::Mode;

const DAEMON: &str = env!("CARGO_BIN_EXE_claude-failoverd");

fn trusts(global: &Path, dir: &Path) -> bool {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(global).expect("global config")).expect("JSON");
    v["projects"][dir.to_string_lossy().as_ref()]["hasTrustDialogAccepted"] == true
}

/// The default account starts (no first-run screen, no stray `~/.claude/.claude.json`); a
/// session that never had a turn moves to `~/.claude-work` as a fresh session under its
/// id; the folder's trust is carried there so it lands at its prompt, not at the trust
/// dialog; and the conversation goes back to the default account and over again on quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_account_starts_and_fails_over_to_a_second_one_and_back() {
    let Some(claude) =
        real_claude("the_default_account_starts_and_fails_over_to_a_second_one_and_back")
    else {
        return;
    };
    let mut spec = WorldSpec::new(DAEMON, &claude, 2, 1);
    spec.accounts = vec!["main".to_owned(), "work".to_owned()];
    spec.home_layout = true;
    spec.untrusting = vec!["work".to_owned()];
    let world = World::start(spec).await;
    let home = world.root().join("home");
    let proj = world.project_dirs[0].clone();
    let work_global = home.join(".claude-work/.claude.json");
    assert!(
        !trusts(&work_global, &proj),
        "work starts without the trust"
    );

    // Started on the default account, which the mock knows by its token.
    let first = world.wait_all_on("main", mins(2)).await;
    let id = first.sessions[0]
        .claude_session
        .clone()
        .expect("conversation id");
    assert!(
        !home.join(".claude/.claude.json").exists(),
        "no stray ~/.claude/.claude.json"
    );
    assert!(home.join(".claude.json").is_file());

    // Moved before any turn (no transcript anywhere yet): a fresh start under the same id.
    assert_eq!(world.command("/v1/swap", r#"{"to":"work"}"#).await, 202);
    let moved = world.wait_all_on("work", mins(2)).await;
    assert_eq!(
        moved.sessions[0].claude_session.as_deref(),
        Some(id.as_str())
    );
    assert!(trusts(&work_global, &proj), "the trust was carried to work");
    world.converse("s0", "first turn on work").await;
    let on_work = world.prompt_requests("first turn on work");
    assert!(
        on_work.iter().any(|r| r.account.as_deref() == Some("work")
            && r.session_id.as_deref() == Some(id.as_str())),
        "answered by work in the same conversation: {on_work:#?}"
    );

    // Back to the default account, resuming the conversation.
    assert_eq!(world.command("/v1/swap", r#"{"to":"main"}"#).await, 202);
    world.wait_all_on("main", mins(2)).await;
    world.converse("s0", "second turn on main").await;
    let on_main = world.prompt_requests("second turn on main");
    let answered = on_main
        .iter()
        .find(|r| r.account.as_deref() == Some("main") && r.status == 200)
        .unwrap_or_else(|| panic!("answered by main: {on_main:#?}"));
    assert_eq!(answered.session_id.as_deref(), Some(id.as_str()));

    // The default account runs out: over to work again, with the history.
    world
        .all_hit_together("main", five_hour_quota(3600), |_| {
            "third turn, quota".to_owned()
        })
        .await;
    world.wait_all_on("work", mins(3)).await;
    world
        .wait_screen("s0", "the answer on work", mins(1), |sc| {
            sc.contains(&ack("third turn, quota"))
        })
        .await;
    let on_work = world.prompt_requests("third turn, quota");
    let answered = on_work
        .iter()
        .find(|r| r.account.as_deref() == Some("work") && r.status == 200)
        .unwrap_or_else(|| panic!("answered by work: {on_work:#?}"));
    assert_eq!(answered.session_id.as_deref(), Some(id.as_str()));
    assert!(
        answered.message_count.unwrap_or(0) >= 5,
        "history sent: {answered:#?}"
    );
    world.set_mode("main", Mode::Normal);

    assert!(
        !home.join(".claude/.claude.json").exists(),
        "still no stray ~/.claude/.claude.json"
    );
    let log = world.daemon_log();
    assert!(!log.contains("failed 3 times"), "no relaunch loop");
}

/// A folder no account trusts: the session is reported as waiting for trust in the status,
/// and no account's global config is made to trust it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_trusted_by_no_account_is_reported_as_waiting_for_trust() {
    let Some(claude) =
        real_claude("a_folder_trusted_by_no_account_is_reported_as_waiting_for_trust")
    else {
        return;
    };
    let mut spec = WorldSpec::new(DAEMON, &claude, 2, 1);
    spec.accounts = vec!["main".to_owned(), "work".to_owned()];
    spec.home_layout = true;
    spec.untrusting = spec.accounts.clone();
    spec.wait_ready = false;
    let world = World::start(spec).await;
    let home = world.root().join("home");
    let proj = world.project_dirs[0].clone();
    world
        .wait_status("s0 waiting for trust", mins(2), |s| {
            s.sessions
                .iter()
                .any(|x| x.name == "s0" && x.activity.as_deref() == Some("waiting_for_trust"))
        })
        .await;
    assert!(!trusts(&home.join(".claude.json"), &proj));
    assert!(!trusts(&home.join(".claude-work/.claude.json"), &proj));
}

/// A standby on the default account `~/.claude` (which runs without `CLAUDE_CONFIG_DIR`,
/// its global config at `~/.claude.json`): once `work` reports 85 % of its window, a
/// program is made ready on the default account, and the quota on `work` moves the
/// session there by `/resume` into it: same conversation, the refused prompt answered once
/// on the default account, no stray `~/.claude/.claude.json`; the person's own statusline
/// and settings there keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_on_the_default_account_takes_the_conversation_back() {
    let Some(claude) = real_claude("a_standby_on_the_default_account_takes_the_conversation_back")
    else {
        return;
    };
    let mut spec = WorldSpec::new(DAEMON, &claude, 2, 1);
    spec.accounts = vec!["main".to_owned(), "work".to_owned()];
    spec.home_layout = true;
    spec.policy = "standby = true\nstandby_percent = 80\n".into();
    // The person's own settings on their default account: a key of theirs and a statusline
    // that notes each run in their home.
    spec.account_files = vec![(
        "main".into(),
        "settings.json".into(),
        r#"{"env":{"PERSON_KEY":"1"},"statusLine":{"type":"command","command":"cat >/dev/null; echo run >> \"$HOME/person-statusline.log\"; echo mine"}}"#
            .into(),
    )];
    let world = World::start(spec).await;
    let home = world.root().join("home");
    let person_runs = || {
        std::fs::read_to_string(home.join("person-statusline.log"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    world.wait_all_on("main", mins(2)).await;
    world.converse("s0", "a turn on main").await;
    assert_eq!(world.command("/v1/swap", r#"{"to":"work"}"#).await, 202);
    let on_work = world.wait_all_on("work", mins(2)).await;
    let id = on_work.sessions[0]
        .claude_session
        .clone()
        .expect("conversation id");

    // work at 85 %: a standby on the default account.
    world.set_mode(
        "work",
        Mode::Usage {
            window: failover_sim::mock_api::ClaimWindow::FiveHour,
            utilization: 0.85,
            resets_at: e2e_support::now_secs() + 3600,
        },
    );
    world.converse("s0", "a turn on work at 85 percent").await;
    world
        .wait_status("a standby ready on main", mins(1), |s| {
            s.sessions[0].standby.as_deref() == Some("main")
        })
        .await;

    // The quota on work: back to the default account through the standby.
    let runs_before = person_runs();
    let prompt = "the turn work refused";
    world
        .submit_all_after("work", five_hour_quota(3600), |_| prompt.to_owned())
        .await;
    let back = world.wait_all_on("main", mins(3)).await;
    assert_eq!(
        back.sessions[0].claude_session.as_deref(),
        Some(id.as_str())
    );
    world
        .wait_screen("s0", "the answer on main", mins(1), |sc| {
            sc.contains(&ack(prompt))
        })
        .await;
    let log = world.daemon_log();
    assert!(log.contains("launched from the prepared program"), "{log}");
    let answered: Vec<_> = world
        .prompt_requests(prompt)
        .into_iter()
        .filter(|r| r.status == 200)
        .collect();
    assert_eq!(answered.len(), 1, "{answered:#?}");
    assert_eq!(answered[0].account.as_deref(), Some("main"));
    assert_eq!(answered[0].session_id.as_deref(), Some(id.as_str()));
    assert!(
        !home.join(".claude/.claude.json").exists(),
        "no stray ~/.claude/.claude.json"
    );
    // The person's statusline (run by the daemon's hook, which took its place in
    // settings.json) ran for the session the standby now runs, and their key is kept.
    e2e_support::poll_until(mins(1), Duration::from_millis(100), async || {
        (person_runs() > runs_before).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("the person's statusline never ran after the move"));
    let settings = std::fs::read_to_string(home.join(".claude/settings.json")).unwrap();
    assert!(settings.contains("PERSON_KEY"), "{settings}");
}
