//! Configuration reload while running (real clock, real file watching): a broken edit keeps
//! the configuration in force and says why, everywhere; a good edit is applied.

mod common;

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
