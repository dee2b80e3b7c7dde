//! What the daemon does for the person at start, without tmux: every account links the
//! person's shared entries, and with `sync_settings` the preferred account's settings reach
//! the others, each keeping its statusline hook.

use std::path::Path;

use failover_daemon::config::DaemonConfig;
use failover_daemon::production;
use serde_json::{Value, json};

fn parse(dir: &Path, text: &str) -> DaemonConfig {
    let home = dir.to_path_buf();
    let env = move |k: &str| (k == "HOME").then(|| home.display().to_string());
    DaemonConfig::parse(text, Path::new("config.toml"), dir, &env).unwrap_or_else(|e| panic!("{e}"))
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn adoption_shares_the_persons_entries_and_sync_follows_preference() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for d in ["main", "work", "proj"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    // `work` is listed first but `main` is preferred.
    let text = r#"
state_dir = "state"
[claude]
shared_projects = "shared"
share = ["CLAUDE.md", "commands/"]
sync_settings = true
[[accounts]]
name = "work"
config_dir = "work"
preference = 5
[[accounts]]
name = "main"
config_dir = "main"
preference = 0
[[sessions]]
name = "s0"
dir = "proj"
"#;
    std::fs::write(root.join("main/CLAUDE.md"), "main memory\n").unwrap();
    std::fs::write(
        root.join("main/settings.json"),
        json!({"model":"opus","permissions":{"allow":["Bash(ls:*)"]},
               "statusLine":{"type":"command","command":"main-hook"}})
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        root.join("work/settings.json"),
        json!({"model":"sonnet","statusLine":{"type":"command","command":"work-hook"}}).to_string(),
    )
    .unwrap();
    let config = parse(root, text);
    for account in &config.engine.accounts {
        production::adopt_account(&config, account);
    }
    production::sync_settings(&config);

    assert_eq!(
        std::fs::read_to_string(root.join("work/CLAUDE.md")).unwrap(),
        "main memory\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("state/person/CLAUDE.md")).unwrap(),
        "main memory\n"
    );
    assert!(
        std::fs::symlink_metadata(root.join("work/commands"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // Only what `share` lists is linked.
    assert!(std::fs::symlink_metadata(root.join("work/agents")).is_err());
    // The preferred account's keys, and the account's own statusline: adoption put the
    // daemon's hook in front of it, and the hook still runs the person's `work-hook`.
    let mut work = read(&root.join("work/settings.json"));
    let status_line = work.as_object_mut().unwrap().remove("statusLine").unwrap();
    assert_eq!(
        work,
        json!({"model":"opus","permissions":{"allow":["Bash(ls:*)"]}})
    );
    assert!(
        status_line["command"]
            .as_str()
            .is_some_and(|c| c.contains("failover-statusline")),
        "{status_line}"
    );
    assert!(
        std::fs::read_to_string(root.join("work/settings.json.failover-statusline"))
            .unwrap()
            .contains("work-hook")
    );
    assert_eq!(read(&root.join("main/settings.json"))["model"], "opus");
    assert_eq!(
        read(&root.join("work/settings.json.pre-sync"))["model"],
        "sonnet"
    );
}
