//! Statusline hook: install and uninstall restore the user's settings byte for byte, and
//! the user's own statusline command prints exactly what it printed before.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use failover_tmux::statusline::{self, BACKUP, HOOK, SETTINGS};

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

#[test]
fn install_keeps_the_users_statusline_and_uninstall_restores_every_byte() {
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
    assert_eq!(
        fs::read(config.join(BACKUP)).unwrap(),
        USER_SETTINGS.as_bytes()
    );
    // Installing again does not replace the backup with our own settings.
    statusline::install(&config, &spool).unwrap();
    assert_eq!(
        fs::read(config.join(BACKUP)).unwrap(),
        USER_SETTINGS.as_bytes()
    );

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
    assert_eq!(fs::read(&settings).unwrap(), USER_SETTINGS.as_bytes());
    assert_eq!(
        fs::metadata(&settings).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert!(!config.join(BACKUP).exists() && !config.join(HOOK).exists());
    assert!(!statusline::uninstall(&config).unwrap());
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
    let left: Vec<_> = fs::read_dir(&config).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
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
    assert!(!config.join(BACKUP).exists());
}

#[test]
fn a_lost_backup_never_makes_the_hook_call_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    fs::create_dir_all(&config).unwrap();
    let spool = tmp.path().join("spool");
    statusline::install(&config, &spool).unwrap();
    fs::remove_file(config.join(statusline::ABSENT)).unwrap();
    let again = statusline::install(&config, &spool).unwrap();
    assert_eq!(again.user_command, None);
    let (out, ok) = run(&["/bin/sh", again.hook.to_str().unwrap()], "{}", &[]);
    assert!(ok && out.is_empty());
}
