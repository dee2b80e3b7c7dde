//! The statusline feed: a per-account `statusLine` command that copies the JSON Claude Code
//! hands it (session id, cwd, `rate_limits` with used percentages and reset instants) into
//! a spool folder, then runs the user's own statusline command on the same input so its
//! output is unchanged. [`crate::observe::StatuslineWatcher`] reads the spool.
//!
//! [`install`] and [`uninstall`] change only the `statusLine` key of the live
//! `settings.json` (atomically, keeping its mode and the order of the other keys), so every
//! edit the person makes (model, env, hooks, permission rules) survives re-installs, which
//! happen at each daemon start. The person's own `statusLine` is kept in
//! `settings.json.failover-statusline` while the hook is installed; its command keeps
//! running behind the hook, and [`uninstall`] puts it back.
//!
//! The hook is a small POSIX `sh` script (no other dependency): `cat > tmp`, `mv tmp
//! <session>.json` (atomic: the watcher never sees half a document), then `exec sh -c
//! <user command>` with stdin re-opened on the saved copy. The spool file is named after
//! the `FAILOVER_SESSION` variable the backend sets in each pane (`_unattached` otherwise).
//! A program prepared ahead of a move (a standby, `FAILOVER_STANDBY_FOR` naming the
//! conversation it will resume) speaks for its session only about that conversation: until
//! it has loaded it, its documents (about the throwaway conversation Claude Code opens at
//! start) are filed as `_unattached`, evidence about the account alone.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::atomic::write_atomic;
use crate::backend::SESSION_ENV;
use crate::error::FsError;
use crate::homes::sync_dir;

/// Claude Code's settings file inside a `CLAUDE_CONFIG_DIR`.
pub const SETTINGS: &str = "settings.json";
/// The user's own `statusLine` (`{"statusLine": <value or null>}`), kept while the hook is
/// installed.
pub const ORIGINAL: &str = "settings.json.failover-statusline";
/// A whole-file backup written by earlier versions; only its `statusLine` is read (once,
/// then it is removed).
pub const BACKUP: &str = "settings.json.failover-backup";
/// Written by earlier versions when there was no `settings.json` before installation.
pub const ABSENT: &str = "settings.json.failover-absent";
/// The hook script, inside the `CLAUDE_CONFIG_DIR`.
pub const HOOK: &str = "failover-statusline.sh";
/// Spool name used when a statusline runs outside a session this crate launched.
pub const UNATTACHED: &str = "_unattached";

/// Quotes `s` for POSIX `sh` (single quotes; embedded `'` as `'\''`).
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The hook script writing into `spool`, then running `user_command` (if any).
pub fn hook_script(spool: &Path, user_command: Option<&str>) -> String {
    let tail = match user_command {
        Some(cmd) => format!(
            "user_cmd={}\nexec /bin/sh -c \"$user_cmd\"\n",
            sh_quote(cmd)
        ),
        // Read whatever is left, so the writer never sees a broken pipe.
        None => "exec cat >/dev/null\n".to_owned(),
    };
    format!(
        r#"#!/bin/sh
# Written by claude-failover; removed by its statusline uninstall.
# Copies the statusline JSON from stdin into the spool (temp file + rename), then runs
# the user's own statusline command on the same input, so its output is unchanged.
spool={spool}
name=${{{env}:-{unattached}}}
case $name in *[!A-Za-z0-9_-]*) name={unattached} ;; esac
tmp="$spool/.$name.$$.tmp"
if {{ cat > "$tmp"; }} 2>/dev/null; then
  exec 3< "$tmp"
  if [ -n "${{{standby}:-}}" ] && ! grep -qF "\"session_id\":\"${standby}\"" "$tmp"; then
    name={unattached}
  fi
  mv -f "$tmp" "$spool/$name.json" 2>/dev/null || rm -f "$tmp"
  exec 0<&3 3<&-
fi
{tail}"#,
        spool = sh_quote(&spool.to_string_lossy()),
        env = SESSION_ENV,
        standby = crate::standby::STANDBY_ENV,
        unattached = UNATTACHED,
    )
}

/// What [`install`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installed {
    /// The user's own statusline command, still run by the hook.
    pub user_command: Option<String>,
    /// The hook script.
    pub hook: PathBuf,
}

/// Whether a `statusLine` value is this crate's hook.
fn is_hook(line: &Value) -> bool {
    line.get("command")
        .and_then(Value::as_str)
        .is_some_and(|c| c.contains(HOOK))
}

/// A parsed `settings.json` and its mode.
type Settings = (Map<String, Value>, u32);

/// Reads `settings.json` (refusing a symbolic link); `None` when it does not exist.
fn read_settings(settings: &Path) -> Result<Option<Settings>, FsError> {
    match fs::symlink_metadata(settings) {
        Ok(m) if m.file_type().is_symlink() => Err(FsError::Invalid {
            path: settings.to_owned(),
            reason: "is a symbolic link; left unchanged".to_owned(),
        }),
        Ok(m) => {
            let bytes = fs::read(settings).map_err(FsError::io("read", settings))?;
            Ok(Some((
                parse_settings(Some(&bytes), settings)?,
                m.permissions().mode() & 0o7777,
            )))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FsError::io("inspect", settings)(e)),
    }
}

/// The user's own `statusLine` as [`ORIGINAL`] (or a backup left by an earlier version)
/// recorded it: `Some(None)` when they had none, `None` when nothing was recorded.
fn recorded_original(config_dir: &Path) -> Result<Option<Option<Value>>, FsError> {
    let original = config_dir.join(ORIGINAL);
    match fs::read(&original) {
        Ok(bytes) => {
            let doc = parse_settings(Some(&bytes), &original)?;
            return Ok(Some(
                doc.get("statusLine").filter(|v| !v.is_null()).cloned(),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(FsError::io("read", &original)(e)),
    }
    let backup = config_dir.join(BACKUP);
    match fs::read(&backup) {
        Ok(bytes) => {
            let doc = parse_settings(Some(&bytes), &backup)?;
            Ok(Some(doc.get("statusLine").cloned()))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Ok(config_dir.join(ABSENT).exists().then_some(None))
        }
        Err(e) => Err(FsError::io("read", &backup)(e)),
    }
}

/// Writes `doc` as `settings.json` (2-space indented, keys in their order) with `mode`.
fn write_settings(settings: &Path, doc: Map<String, Value>, mode: u32) -> Result<(), FsError> {
    let mut bytes =
        serde_json::to_vec_pretty(&Value::Object(doc)).map_err(|e| FsError::Invalid {
            path: settings.to_owned(),
            reason: e.to_string(),
        })?;
    bytes.push(b'\n');
    write_atomic(settings, &bytes, mode)
}

/// Installs the hook in `config_dir/settings.json`, spooling into `spool`. Only the
/// `statusLine` key of the live file changes (written to a temporary file with the file's
/// mode and renamed over it); every other key and its order stay as the user left them.
/// The user's own `statusLine` is recorded in [`ORIGINAL`] for [`uninstall`], and its
/// command keeps running behind the hook. Installing again (each daemon start) keeps every
/// edit made since.
pub fn install(config_dir: &Path, spool: &Path) -> Result<Installed, FsError> {
    let settings = config_dir.join(SETTINGS);
    let live = read_settings(&settings)?;
    fs::create_dir_all(spool).map_err(FsError::io("create", spool))?;
    let (mut doc, mode) = live.unwrap_or_else(|| (Map::new(), 0o644));
    let current = doc.get("statusLine").cloned();
    // The user's own line: the live one unless it is our hook (then the one recorded when
    // the hook went in). A line the user set since replaces the record.
    let own = match current {
        Some(line) if !is_hook(&line) => Some(line),
        Some(_) => recorded_original(config_dir)?.flatten(),
        None => None,
    };
    let user_command = own
        .as_ref()
        .filter(|s| s.get("type").and_then(Value::as_str) == Some("command"))
        .and_then(|s| s.get("command"))
        .and_then(Value::as_str)
        // Our own hook (its record lost) must not end up calling itself.
        .filter(|c| !c.contains(HOOK))
        .map(str::to_owned);
    let mut record = Map::new();
    record.insert("statusLine".into(), own.clone().unwrap_or(Value::Null));
    write_settings(&config_dir.join(ORIGINAL), record, 0o600)?;
    let hook = config_dir.join(HOOK);
    write_atomic(
        &hook,
        hook_script(spool, user_command.as_deref()).as_bytes(),
        0o755,
    )?;
    let mut line = Map::new();
    line.insert("type".into(), Value::from("command"));
    line.insert(
        "command".into(),
        Value::from(sh_quote(&hook.to_string_lossy())),
    );
    if let Some(p) = own.as_ref().and_then(|s| s.get("padding")) {
        line.insert("padding".into(), p.clone());
    }
    doc.insert("statusLine".into(), Value::Object(line));
    write_settings(&settings, doc, mode)?;
    // Backups of whole files from earlier versions are not used any more: their
    // statusLine is in the record now.
    for old in [BACKUP, ABSENT] {
        let _ = fs::remove_file(config_dir.join(old));
    }
    Ok(Installed { user_command, hook })
}

fn parse_settings(bytes: Option<&[u8]>, path: &Path) -> Result<Map<String, Value>, FsError> {
    let Some(bytes) = bytes.filter(|b| !b.iter().all(u8::is_ascii_whitespace)) else {
        return Ok(Map::new());
    };
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(FsError::Invalid {
            path: path.to_owned(),
            reason: "is not a JSON object".to_owned(),
        }),
        Err(e) => Err(FsError::Invalid {
            path: path.to_owned(),
            reason: e.to_string(),
        }),
    }
}

/// Removes the hook: when the live `settings.json` still runs it, its `statusLine` goes
/// back to the user's own (or away, if they had none); every other key, edits made since
/// the install included, stays. A statusline the user set since is left alone. Returns
/// whether anything was installed.
pub fn uninstall(config_dir: &Path) -> Result<bool, FsError> {
    let settings = config_dir.join(SETTINGS);
    let hook = config_dir.join(HOOK);
    let original = recorded_original(config_dir)?;
    let live = read_settings(&settings)?;
    let hooked = live
        .as_ref()
        .is_some_and(|(doc, _)| doc.get("statusLine").is_some_and(is_hook));
    let was = original.is_some() || hooked || hook.exists();
    if let Some((mut doc, mode)) = live.filter(|_| hooked) {
        match original.flatten() {
            Some(line) => {
                doc.insert("statusLine".into(), line);
            }
            None => {
                doc.shift_remove("statusLine");
            }
        }
        write_settings(&settings, doc, mode)?;
    }
    for f in [
        config_dir.join(ORIGINAL),
        hook,
        config_dir.join(BACKUP),
        config_dir.join(ABSENT),
    ] {
        match fs::remove_file(&f) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(FsError::io("remove", &f)(e)),
        }
    }
    sync_dir(config_dir)?;
    Ok(was)
}
