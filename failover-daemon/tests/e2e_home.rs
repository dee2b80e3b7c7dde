//! End to end on a home laid out as a real person's: the default account `~/.claude` (its
//! global config at `~/.claude.json`) and a second account `~/.claude-work` whose global
//! config trusts no project yet. Real `claude-failoverd`, real tmux, the real Claude Code
//! CLI against the mock API.

use crate::support::e2e as e2e_support;

use std::path::Path;

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
