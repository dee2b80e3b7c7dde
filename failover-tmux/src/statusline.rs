//! The statusline feed: a per-account `statusLine` command that copies the JSON Claude Code
//! hands it (session id, cwd, `rate_limits` with used percentages and reset instants) into
//! a spool folder, then runs the user's own statusline command on the same input so its
//! output is unchanged. [`crate::observe::StatuslineWatcher`] reads the spool.
//!
//! [`install`] keeps the user's `settings.json` byte for byte in
//! `settings.json.failover-backup` (or notes with `settings.json.failover-absent` that there
//! was none) before rewriting it; [`uninstall`] puts that exact file back. Re-installing is
//! safe: the backup is written only once.
//!
//! The hook is a small POSIX `sh` script (no other dependency): `cat > tmp`, `mv tmp
//! <session>.json` (atomic: the watcher never sees half a document), then `exec sh -c
//! <user command>` with stdin re-opened on the saved copy. The spool file is named after
//! the `FAILOVER_SESSION` variable the backend sets in each pane (`_unattached` otherwise).

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::backend::SESSION_ENV;
use crate::error::FsError;
use crate::homes::sync_dir;

/// Claude Code's settings file inside a `CLAUDE_CONFIG_DIR`.
pub const SETTINGS: &str = "settings.json";
/// The user's original settings, kept while the hook is installed.
pub const BACKUP: &str = "settings.json.failover-backup";
/// Marks that there was no `settings.json` before installation.
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
  mv -f "$tmp" "$spool/$name.json" 2>/dev/null || rm -f "$tmp"
  exec 0<&3 3<&-
fi
{tail}"#,
        spool = sh_quote(&spool.to_string_lossy()),
        env = SESSION_ENV,
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

/// Installs the hook in `config_dir/settings.json`, spooling into `spool`.
pub fn install(config_dir: &Path, spool: &Path) -> Result<Installed, FsError> {
    let settings = config_dir.join(SETTINGS);
    let backup = config_dir.join(BACKUP);
    let absent = config_dir.join(ABSENT);
    if fs::symlink_metadata(&settings).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(FsError::Invalid {
            path: settings,
            reason: "is a symbolic link; left unchanged".to_owned(),
        });
    }
    fs::create_dir_all(spool).map_err(FsError::io("create", spool))?;
    // The user's original: the backup when already installed, else the live file.
    let already = backup.exists() || absent.exists();
    let original = if backup.exists() {
        Some(fs::read(&backup).map_err(FsError::io("read", &backup))?)
    } else if absent.exists() {
        None
    } else {
        match fs::read(&settings) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(FsError::io("read", &settings)(e)),
        }
    };
    let origin = if backup.exists() { &backup } else { &settings };
    let mut doc = parse_settings(original.as_deref(), origin)?;
    let user_command = doc
        .get("statusLine")
        .filter(|s| s.get("type").and_then(Value::as_str) == Some("command"))
        .and_then(|s| s.get("command"))
        .and_then(Value::as_str)
        // Our own hook (its backup lost) must not end up calling itself.
        .filter(|c| !c.contains(HOOK))
        .map(str::to_owned);
    if !already {
        match &original {
            Some(_) => {
                let mode = fs::metadata(&settings)
                    .map_err(FsError::io("inspect", &settings))?
                    .permissions()
                    .mode();
                // A byte-for-byte copy, synced, before anything else changes.
                write_atomic(&backup, original.as_deref().unwrap_or_default(), mode)?;
            }
            None => write_atomic(&absent, b"", 0o600)?,
        }
    }
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
    if let Some(p) = doc.get("statusLine").and_then(|s| s.get("padding")) {
        line.insert("padding".into(), p.clone());
    }
    doc.insert("statusLine".into(), Value::Object(line));
    let mut bytes =
        serde_json::to_vec_pretty(&Value::Object(doc)).map_err(|e| FsError::Invalid {
            path: settings.clone(),
            reason: e.to_string(),
        })?;
    bytes.push(b'\n');
    let mode = fs::metadata(&settings).map_or(0o644, |m| m.permissions().mode());
    write_atomic(&settings, &bytes, mode)?;
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

/// Restores the user's `settings.json` exactly as it was and removes the hook. Returns
/// whether anything was installed.
pub fn uninstall(config_dir: &Path) -> Result<bool, FsError> {
    let settings = config_dir.join(SETTINGS);
    let backup = config_dir.join(BACKUP);
    let absent = config_dir.join(ABSENT);
    let hook = config_dir.join(HOOK);
    let was = if backup.exists() {
        fs::rename(&backup, &settings).map_err(FsError::io("restore", &settings))?;
        true
    } else if absent.exists() {
        match fs::remove_file(&settings) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(FsError::io("remove", &settings)(e)),
        }
        fs::remove_file(&absent).map_err(FsError::io("remove", &absent))?;
        true
    } else {
        false
    };
    match fs::remove_file(&hook) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(FsError::io("remove", &hook)(e)),
    }
    sync_dir(config_dir)?;
    Ok(was)
}

/// Writes `bytes` to a temporary file beside `path` with `mode`, syncs it, renames it over
/// `path` and syncs the folder.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FsError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    let tmp = parent.join(format!(
        ".{}.tmp-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let write = || -> io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode & 0o7777)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(mode & 0o7777))?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(FsError::io("write", &tmp)(e));
    }
    fs::rename(&tmp, path).map_err(FsError::io("rename", path))?;
    sync_dir(parent)
}
