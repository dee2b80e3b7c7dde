//! Configuration reload while running (real clock, real file watching): a broken edit keeps
//! the configuration in force and says why, everywhere; a good edit is applied.

use crate::support as common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use failover_core::SessionId;
use failover_daemon::Daemon;
use failover_daemon::config::{DaemonConfig, Env};
use failover_daemon::events::DaemonEventKind;

const LIMIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_broken_edit_is_refused_and_a_good_one_applied() {
    let accounts = ["primary", "backup"];
    let tree = Tree::new(&accounts, &["ccl-0", "ccl-1"]);
    let file = tree.path().join("config.toml");
    std::fs::write(&file, tree.toml(&accounts, &["ccl-0"], "")).unwrap();
    let home = tree.path().display().to_string();
    let env: Arc<dyn Env + Send + Sync> =
        Arc::new(move |k: &str| (k == "HOME").then(|| home.clone()));
    let config = DaemonConfig::load(&file, &*env).unwrap();
    let fakes = Fakes::new();
    let (deps, _obs) = fakes.deps(&tree);
    let daemon = Daemon::start_with_env(config, deps, env).await.unwrap();
    let handle = daemon.handle();
    let mut events = handle.subscribe();
    let task = tokio::spawn(daemon.run(std::future::pending()));
    eventually(LIMIT, "ccl-0 running", || {
        fakes.backend.account_of(&SessionId::new("ccl-0")).is_some()
    })
    .await;

    // A typo: refused, with file, line and key, in the status, the events and a notification.
    let broken = tree
        .toml(&accounts, &["ccl-0"], "")
        .replace("[[sessions]]", "[[sesions]]");
    let line = broken.lines().position(|l| l == "[[sesions]]").unwrap() + 1;
    std::fs::write(&file, &broken).unwrap();
    let p = handle
        .wait_for(LIMIT, |p| p.facts.config_error.is_some())
        .await
        .expect("the refusal shows in the status");
    let why = p.facts.config_error.clone().unwrap();
    assert!(
        why.starts_with(&format!("{}:{line}:", file.display()))
            && why.contains("unknown key 'sesions'"),
        "{why}"
    );
    let reload_event = tokio::time::timeout(LIMIT, async {
        loop {
            let e = events.recv().await.unwrap();
            if let DaemonEventKind::ConfigReload { error } = &e.kind {
                return error.clone();
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(reload_event.as_deref(), Some(why.as_str()));
    eventually(LIMIT, "operator notified of the refusal", || {
        fakes
            .notifier
            .received()
            .iter()
            .any(|n| n.summary.contains("reload refused") && n.summary.contains("sesions"))
    })
    .await;
    // The old configuration is still in force: still one session, still working.
    assert_eq!(handle.published().snapshot.sessions.len(), 1);

    // A good edit adds a session: it is launched, and the error is cleared.
    std::fs::write(
        &file,
        tree.toml(
            &accounts,
            &["ccl-0", "ccl-1"],
            "[policy]\nproactive_percent = 90\n",
        ),
    )
    .unwrap();
    handle
        .wait_for(LIMIT, |p| {
            p.facts.config_error.is_none() && p.snapshot.sessions.len() == 2
        })
        .await
        .expect("the new configuration is in force");
    eventually(LIMIT, "ccl-1 launched", || {
        fakes.backend.account_of(&SessionId::new("ccl-1")).is_some()
    })
    .await;
    task.abort();
}

/// A daemon over `tree` reading its configuration from `<tree>/config.toml`, holding `text`.
async fn daemon_on_file(
    tree: &Tree,
    text: &str,
) -> (
    std::path::PathBuf,
    Fakes,
    failover_daemon::DaemonHandle,
    tokio::task::JoinHandle<Result<(), failover_daemon::DaemonError>>,
) {
    let file = tree.path().join("config.toml");
    std::fs::write(&file, text).unwrap();
    let home = tree.path().display().to_string();
    let env: Arc<dyn Env + Send + Sync> =
        Arc::new(move |k: &str| (k == "HOME").then(|| home.clone()));
    let config = DaemonConfig::load(&file, &*env).unwrap();
    let fakes = Fakes::new();
    let (deps, _obs) = fakes.deps(tree);
    let daemon = Daemon::start_with_env(config, deps, env).await.unwrap();
    let handle = daemon.handle();
    let task = tokio::spawn(daemon.run(std::future::pending()));
    // Running, so the configuration watcher is too.
    eventually(LIMIT, "ccl-0 running", || {
        fakes.backend.account_of(&SessionId::new("ccl-0")).is_some()
    })
    .await;
    (file, fakes, handle, task)
}

#[tokio::test]
async fn the_janitor_follows_a_reload() {
    use failover_core::{AccountId, Checkpoint, Checkpointer, UnixMillis};
    let accounts = ["primary", "backup"];
    let tree = Tree::new(&accounts, &["ccl-0"]);
    // Hourly passes, a week of retention: the first pass (at start) keeps this one.
    let (file, fakes, handle, task) =
        daemon_on_file(&tree, &tree.toml(&accounts, &["ccl-0"], "")).await;
    let old = Checkpoint {
        session: SessionId::new("gone"),
        claude_session: None,
        account: AccountId::new("primary"),
        dir: tree.path().to_path_buf(),
        task: None,
        last_prompt: None,
        last_tool_call: None,
        taken_at: UnixMillis(T0.0 - 3_600_000),
    };
    fakes.checkpoints.save(&old).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await; // past the first pass
    assert!(
        fakes
            .checkpoints
            .load(&old.session)
            .await
            .unwrap()
            .is_some()
    );

    // A pass every second, nothing kept: the janitor prunes it without a restart.
    std::fs::write(
        &file,
        tree.toml(
            &accounts,
            &["ccl-0"],
            "[janitor]\ninterval_secs = 1\ncheckpoint_retention_hours = 0\n",
        ),
    )
    .unwrap();
    handle
        .wait_for(LIMIT, |p| p.facts.config_error.is_none())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + LIMIT;
    while fakes
        .checkpoints
        .load(&old.session)
        .await
        .unwrap()
        .is_some()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the janitor kept the old interval and retention"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
}

#[tokio::test]
async fn an_account_added_by_a_reload_is_adopted_before_it_is_used() {
    let accounts = ["primary", "backup"];
    let tree = Tree::new(&["primary", "backup", "spare"], &["ccl-0"]);
    let spare = tree.path().join("accounts/spare");
    // The spare account has a conversation of its own and a setting of the person's.
    let own = spare.join("projects/-home-u-src-x");
    std::fs::create_dir_all(&own).unwrap();
    std::fs::write(own.join("c-1.jsonl"), "{\"type\":\"user\"}\n").unwrap();
    std::fs::write(spare.join("settings.json"), "{\"model\":\"opus\"}\n").unwrap();
    let (file, _fakes, handle, task) =
        daemon_on_file(&tree, &tree.toml(&accounts, &["ccl-0"], "")).await;

    std::fs::write(
        &file,
        tree.toml(&["primary", "backup", "spare"], &["ccl-0"], ""),
    )
    .unwrap();
    handle
        .wait_for(LIMIT, |p| p.snapshot.accounts.len() == 3)
        .await
        .expect("the new account is in force");
    // By the time the engine has it, its projects/ is the shared tree and the hook is in.
    let link = spare.join("projects");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "projects/ is not linked"
    );
    assert!(
        tree.shared().join("-home-u-src-x/c-1.jsonl").exists(),
        "its conversation is in the shared tree"
    );
    let settings = std::fs::read_to_string(spare.join("settings.json")).unwrap();
    assert!(settings.contains("statusLine"), "{settings}");
    assert!(settings.contains("opus"), "{settings}");
    task.abort();
}
