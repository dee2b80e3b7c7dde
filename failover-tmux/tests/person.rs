//! The person's settings across accounts: differences that change a session's behaviour are
//! found (the default account's MCP servers read from `~/.claude.json`), values are never
//! shown, and syncing keeps each account's statusline hook.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use failover_tmux::person::{self, SyncOutcome};
use serde_json::{Value, json};

fn write_json(path: &Path, v: &Value) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

#[test]
fn the_default_account_keeps_its_global_config_beside_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    fs::create_dir_all(home.join(".claude")).unwrap();
    fs::create_dir_all(home.join(".claude-work")).unwrap();
    assert_eq!(
        failover_tmux::global_config::path(&home.join(".claude"), Some(home)),
        home.join(".claude.json")
    );
    assert_eq!(
        failover_tmux::global_config::path(&home.join(".claude-work"), Some(home)),
        home.join(".claude-work/.claude.json")
    );
    assert_eq!(
        failover_tmux::global_config::path(&home.join(".claude"), None),
        home.join(".claude/.claude.json")
    );
}

#[test]
fn differences_name_what_changes_behaviour_and_never_show_values() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let main = home.join(".claude");
    let work = home.join(".claude-work");
    // The default account: MCP servers in ~/.claude.json; a stray file inside the folder
    // must not be read instead.
    write_json(
        &home.join(".claude.json"),
        &json!({"oauthAccount":{"emailAddress":"me@example.com"},
                "mcpServers":{"github":{"command":"gh-mcp","env":{"GITHUB_TOKEN":"ghp_SECRET"}}}}),
    );
    write_json(
        &main.join(".claude.json"),
        &json!({"mcpServers":{"stray":{}}}),
    );
    write_json(
        &main.join("settings.json"),
        &json!({"model":"opus","env":{"API_KEY":"sk-VALUE"},
                "permissions":{"allow":["Bash(ls:*)"]},
                "statusLine":{"type":"command","command":"a"}}),
    );
    write_json(&work.join(".claude.json"), &json!({"mcpServers":{}}));
    write_json(
        &work.join("settings.json"),
        &json!({"model":"sonnet","permissions":{"allow":["Bash(ls:*)"]},
                "statusLine":{"type":"command","command":"b"}}),
    );
    let accounts = [
        person::read_account("main", &main, Some(home)).unwrap(),
        person::read_account("work", &work, Some(home)).unwrap(),
    ];
    let diffs = person::differences(&accounts);
    let keys: Vec<&str> = diffs.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["env.API_KEY", "mcpServers.github", "model"]);
    let text: Vec<String> = diffs.iter().map(ToString::to_string).collect();
    assert!(
        text.contains(&"MCP server 'github' only on main (missing on work)".to_owned()),
        "{text:?}"
    );
    assert!(
        text.contains(&"setting 'model' differs: main | work".to_owned()),
        "{text:?}"
    );
    let all = text.join("\n");
    for secret in ["ghp_SECRET", "sk-VALUE", "opus", "me@example.com"] {
        assert!(!all.contains(secret), "{secret} shown: {all}");
    }
}

#[test]
fn sync_carries_the_persons_keys_and_keeps_each_statusline() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    write_json(
        &a.join("settings.json"),
        &json!({"model":"opus","hooks":{"Stop":[{"hooks":[{"type":"command","command":"notify"}]}]},
                "statusLine":{"type":"command","command":"hook-a"}}),
    );
    let before_b = json!({"model":"sonnet","onlyOnB":true,
                          "statusLine":{"type":"command","command":"hook-b"}});
    write_json(&b.join("settings.json"), &before_b);
    fs::set_permissions(b.join("settings.json"), fs::Permissions::from_mode(0o640)).unwrap();

    let out = person::sync_settings(&a, &b).unwrap();
    let SyncOutcome::Written {
        backup: Some(backup),
    } = out
    else {
        panic!("{out:?}")
    };
    let after: Value = serde_json::from_slice(&fs::read(b.join("settings.json")).unwrap()).unwrap();
    assert_eq!(
        after,
        json!({"model":"opus","hooks":{"Stop":[{"hooks":[{"type":"command","command":"notify"}]}]},
               "statusLine":{"type":"command","command":"hook-b"}})
    );
    assert_eq!(
        fs::metadata(b.join("settings.json"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640
    );
    let kept: Value = serde_json::from_slice(&fs::read(&backup).unwrap()).unwrap();
    assert_eq!(kept, before_b, "the replaced file is kept");
    assert_eq!(
        person::sync_settings(&a, &b).unwrap(),
        SyncOutcome::Unchanged
    );

    // While b's CLI holds the lock, nothing is written.
    write_json(&a.join("settings.json"), &json!({"model":"haiku"}));
    fs::create_dir(b.join("settings.json.lock")).unwrap();
    assert_eq!(person::sync_settings(&a, &b).unwrap(), SyncOutcome::Busy);
    assert_eq!(
        serde_json::from_slice::<Value>(&fs::read(b.join("settings.json")).unwrap()).unwrap(),
        after
    );
    fs::remove_dir(b.join("settings.json.lock")).unwrap();
    person::sync_settings(&a, &b).unwrap();
    let now: Value = serde_json::from_slice(&fs::read(b.join("settings.json")).unwrap()).unwrap();
    assert_eq!(now["model"], "haiku");
    assert_eq!(now["statusLine"]["command"], "hook-b");
}
