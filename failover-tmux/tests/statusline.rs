//! Statusline hook: install and uninstall change only the `statusLine` key of the live
//! settings (every edit made since survives re-installs and the uninstall), and the user's
//! own statusline command prints exactly what it printed before.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use failover_tmux::statusline::{self, ABSENT, BACKUP, HOOK, ORIGINAL, SETTINGS};

const USER_SETTINGS: &str = "{\n    \"model\": \"opus\",   \"statusLine\": {\"type\": \"command\", \"command\": \"printf '%s|%s' \\\"$(cat | wc -c)\\\" 'it'\\\\''s mine'\", \"padding\": 0},\n  \"env\": {\"A\": \"1\"}\n}\n";

fn run(command: &[&str], stdin: &str, env: &[(&str, &str)]) -> (String, bool) {
    let mut child = Command::new(command[0])
        .args(&command[1..])
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (String::from_utf8(out.stdout).unwrap(), out.status.success())
}

fn settings_value(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(dir.join(SETTINGS)).unwrap()).unwrap()
}

fn keys(v: &serde_json::Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn install_keeps_the_users_statusline_and_uninstall_restores_it() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let spool = tmp.path().join("spool");
    fs::create_dir_all(&config).unwrap();
    let settings = config.join(SETTINGS);
    fs::write(&settings, USER_SETTINGS).unwrap();
    fs::set_permissions(&settings, fs::Permissions::from_mode(0o640)).unwrap();
    let user_cmd = settings_value(&config)["statusLine"]["command"]
        .as_str()
        .unwrap()
        .to_owned();

    let installed = statusline::install(&config, &spool).unwrap();
    assert_eq!(installed.user_command.as_deref(), Some(user_cmd.as_str()));
    let v = settings_value(&config);
    assert_eq!(v["model"], "opus");
    assert_eq!(v["env"]["A"], "1");
    assert_eq!(v["statusLine"]["padding"], 0);
    assert!(v["statusLine"]["command"].as_str().unwrap().contains(HOOK));
    assert_eq!(keys(&v), ["model", "statusLine", "env"]);
    assert_eq!(
        fs::metadata(&settings).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let own: serde_json::Value = serde_json::from_str(USER_SETTINGS).unwrap();
    // Installing again (each daemon start) still runs the user's command.
    let again = statusline::install(&config, &spool).unwrap();
    assert_eq!(again.user_command.as_deref(), Some(user_cmd.as_str()));
    assert_eq!(settings_value(&config), v);

    // The hook, run the way Claude Code runs a statusline (through `sh -c`), prints exactly
    // what the user's command prints, and spools the input.
    let input = r#"{"session_id":"s-1","rate_limits":{"five_hour":{"used_percentage":81}}}"#;
    let (direct, ok1) = run(&["/bin/sh", "-c", &user_cmd], input, &[]);
    let hook_cmd = v["statusLine"]["command"].as_str().unwrap();
    let (hooked, ok2) = run(
        &["/bin/sh", "-c", hook_cmd],
        input,
        &[("FAILOVER_SESSION", "ccl-1")],
    );
    assert!(ok1 && ok2);
    assert_eq!(direct, format!("{}|it's mine", input.len()));
    assert_eq!(hooked, direct);
    assert_eq!(fs::read_to_string(spool.join("ccl-1.json")).unwrap(), input);
    // No temporary files are left in the spool.
    let names: Vec<_> = fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["ccl-1.json".to_owned()]);

    // Outside a launched session, or with a hostile name, the spool name is fixed.
    run(
        &["/bin/sh", "-c", hook_cmd],
        input,
        &[("FAILOVER_SESSION", "../../x")],
    );
    assert!(spool.join("_unattached.json").exists());

    assert!(statusline::uninstall(&config).unwrap());
    assert_eq!(settings_value(&config), own);
    assert_eq!(
        keys(&settings_value(&config)),
        ["model", "statusLine", "env"]
    );
    assert_eq!(
        fs::metadata(&settings).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert!(!config.join(ORIGINAL).exists() && !config.join(HOOK).exists());
    assert!(!statusline::uninstall(&config).unwrap());
}

/// The person's edits made while the hook is installed survive the next install (a daemon
/// restart) and the uninstall; the uninstall puts their own statusline back.
#[test]
fn edits_made_after_install_survive_reinstall_and_uninstall() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let spool = tmp.path().join("spool");
    fs::create_dir_all(&config).unwrap();
    let settings = config.join(SETTINGS);
    fs::write(&settings, USER_SETTINGS).unwrap();
    fs::set_permissions(&settings, fs::Permissions::from_mode(0o600)).unwrap();
    let own: serde_json::Value = serde_json::from_str(USER_SETTINGS).unwrap();
    statusline::install(&config, &spool).unwrap();

    // The person edits the live file: another model, a new permission rule, a hook.
    let mut v = settings_value(&config);
    v["model"] = "sonnet".into();
    v["permissions"] = serde_json::json!({"allow": ["Bash(ls:*)"]});
    v["env"]["B"] = "2".into();
    fs::write(&settings, serde_json::to_vec_pretty(&v).unwrap()).unwrap();

    // The daemon starts again: only the statusLine is rewritten (to the same hook).
    let again = statusline::install(&config, &spool).unwrap();
    assert_eq!(
        again.user_command.as_deref(),
        own["statusLine"]["command"].as_str()
    );
    assert_eq!(settings_value(&config), v);
    assert_eq!(
        keys(&settings_value(&config)),
        ["model", "statusLine", "env", "permissions"]
    );
    assert_eq!(
        fs::metadata(&settings).unwrap().permissions().mode() & 0o777,
        0o600
    );

    statusline::uninstall(&config).unwrap();
    let mut expected = v.clone();
    expected["statusLine"] = own["statusLine"].clone();
    assert_eq!(settings_value(&config), expected);
    assert_eq!(
        keys(&settings_value(&config)),
        ["model", "statusLine", "env", "permissions"]
    );
}

/// A statusline the person sets while the hook is installed becomes the one the hook runs
/// at the next install, and the uninstall leaves one they set afterwards alone.
#[test]
fn a_statusline_set_since_is_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let spool = tmp.path().join("spool");
    fs::create_dir_all(&config).unwrap();
    statusline::install(&config, &spool).unwrap();
    let settings = config.join(SETTINGS);
    let mine = serde_json::json!({"type": "command", "command": "echo new"});
    let mut v = settings_value(&config);
    v["statusLine"] = mine.clone();
    fs::write(&settings, serde_json::to_vec(&v).unwrap()).unwrap();
    let again = statusline::install(&config, &spool).unwrap();
    assert_eq!(again.user_command.as_deref(), Some("echo new"));
    assert!(statusline::uninstall(&config).unwrap());
    assert_eq!(settings_value(&config)["statusLine"], mine);

    // Set after the hook went in and before the uninstall: kept as it is.
    statusline::install(&config, &spool).unwrap();
    let mut v = settings_value(&config);
    v["statusLine"] = serde_json::json!({"type": "command", "command": "echo later"});
    fs::write(&settings, serde_json::to_vec(&v).unwrap()).unwrap();
    assert!(statusline::uninstall(&config).unwrap());
    assert_eq!(settings_value(&config), v);
}

/// A whole-file backup left by an earlier version is never restored over the live file:
/// only its statusLine is taken.
#[test]
fn an_old_backup_gives_only_its_statusline() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let spool = tmp.path().join("spool");
    fs::create_dir_all(&config).unwrap();
    let hook = config.join(HOOK);
    let live = serde_json::json!({
        "model": "edited",
        "statusLine": {"type": "command", "command": format!("'{}'", hook.display())}
    });
    fs::write(config.join(SETTINGS), live.to_string()).unwrap();
    fs::write(config.join(BACKUP), USER_SETTINGS).unwrap();
    let own: serde_json::Value = serde_json::from_str(USER_SETTINGS).unwrap();
    let installed = statusline::install(&config, &spool).unwrap();
    assert_eq!(
        installed.user_command.as_deref(),
        own["statusLine"]["command"].as_str()
    );
    assert_eq!(settings_value(&config)["model"], "edited");
    assert!(!config.join(BACKUP).exists() && !config.join(ABSENT).exists());
    statusline::uninstall(&config).unwrap();
    assert_eq!(
        settings_value(&config),
        serde_json::json!({"model": "edited", "statusLine": own["statusLine"]})
    );
}

#[test]
fn without_prior_settings_uninstall_removes_what_install_made() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    fs::create_dir_all(&config).unwrap();
    let installed = statusline::install(&config, &tmp.path().join("spool")).unwrap();
    assert_eq!(installed.user_command, None);
    // The hook still spools when the spool folder has gone, and prints nothing.
    fs::remove_dir_all(tmp.path().join("spool")).unwrap();
    let (out, ok) = run(&["/bin/sh", installed.hook.to_str().unwrap()], "{}", &[]);
    assert!(ok && out.is_empty());
    assert!(statusline::uninstall(&config).unwrap());
    assert_eq!(settings_value(&config), serde_json::json!({}));
    let left: Vec<_> = fs::read_dir(&config)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, [SETTINGS]);
}

#[test]
fn a_user_command_still_gets_its_input_when_the_spool_is_unwritable() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    fs::create_dir_all(&config).unwrap();
    fs::write(
        config.join(SETTINGS),
        r#"{"statusLine":{"type":"command","command":"cat"}}"#,
    )
    .unwrap();
    let spool = tmp.path().join("spool");
    let installed = statusline::install(&config, &spool).unwrap();
    fs::remove_dir_all(&spool).unwrap();
    let (out, ok) = run(
        &["/bin/sh", installed.hook.to_str().unwrap()],
        "{\"x\":1}",
        &[],
    );
    assert!(ok);
    assert_eq!(out, "{\"x\":1}");
}

#[test]
fn settings_that_are_not_a_json_object_are_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    fs::create_dir_all(&config).unwrap();
    fs::write(config.join(SETTINGS), "[1,2]").unwrap();
    assert!(statusline::install(&config, &tmp.path().join("spool")).is_err());
    assert_eq!(fs::read_to_string(config.join(SETTINGS)).unwrap(), "[1,2]");
    assert!(!config.join(ORIGINAL).exists());
}

#[test]
fn a_lost_backup_never_makes_the_hook_call_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    fs::create_dir_all(&config).unwrap();
    let spool = tmp.path().join("spool");
    statusline::install(&config, &spool).unwrap();
    fs::remove_file(config.join(ORIGINAL)).unwrap();
    let again = statusline::install(&config, &spool).unwrap();
    assert_eq!(again.user_command, None);
    let (out, ok) = run(&["/bin/sh", again.hook.to_str().unwrap()], "{}", &[]);
    assert!(ok && out.is_empty());
}

/// A program prepared ahead of a move (a standby) runs its statusline at start, about the
/// throwaway conversation Claude Code opens: filed as unattached (evidence about the
/// account only), never as the session's, whose conversation it would otherwise replace.
/// Once it runs the conversation it was prepared for, it speaks for the session.
#[test]
fn a_standby_speaks_for_its_session_only_about_its_conversation() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    let spool = tmp.path().join("spool");
    fs::create_dir_all(&config).unwrap();
    fs::create_dir_all(&spool).unwrap();
    statusline::install(&config, &spool).unwrap();
    let v = settings_value(&config);
    let hook_cmd = v["statusLine"]["command"].as_str().unwrap();
    let env = [
        ("FAILOVER_SESSION", "ccl-1"),
        (
            failover_tmux::STANDBY_ENV,
            "c0ffee00-1111-4222-8333-444444444444",
        ),
    ];
    let throwaway = r#"{"session_id":"f447a343-0768-4dff-bfda-f93fd7acb549","cwd":"/p"}"#;
    let (_, ok) = run(&["/bin/sh", "-c", hook_cmd], throwaway, &env);
    assert!(ok);
    assert!(!spool.join("ccl-1.json").exists());
    assert_eq!(
        fs::read_to_string(spool.join("_unattached.json")).unwrap(),
        throwaway
    );
    let resumed = r#"{"session_id":"c0ffee00-1111-4222-8333-444444444444","cwd":"/p"}"#;
    let (_, ok) = run(&["/bin/sh", "-c", hook_cmd], resumed, &env);
    assert!(ok);
    assert_eq!(
        fs::read_to_string(spool.join("ccl-1.json")).unwrap(),
        resumed
    );
}
