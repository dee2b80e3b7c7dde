//! The person's settings across accounts: what in each account's `settings.json` and user
//! scope MCP servers would make a session behave differently after a move, and carrying the
//! preferred account's settings to the others.
//!
//! `settings.json` cannot simply be linked like `CLAUDE.md` (see [`homes`](crate::homes)):
//! each account's holds its own statusline hook. So differences are reported instead
//! ([`differences`]), and [`sync_settings`] copies one account's keys over another's on
//! request, keeping the destination's `statusLine`.
//!
//! Values are never reported, only where they differ: `env` and MCP server definitions often
//! carry API keys. Credentials files are never read; of the account's global config
//! (`.claude.json`, see [`crate::global_config::path`]) only `mcpServers` is kept after parsing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::atomic::write_atomic;
use crate::error::FsError;

/// Name of an account's settings file inside its config dir.
pub const SETTINGS_FILE: &str = "settings.json";
/// The settings key that stays each account's own.
pub const STATUS_LINE_KEY: &str = "statusLine";

/// What of one account's configuration can change a session's behaviour.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccountSettings {
    /// The account's name.
    pub account: String,
    /// Flattened keys: `permissions.allow`, `hooks.PreToolUse`, `model`, `env.NAME`,
    /// `mcpServers.NAME`, ... (the `statusLine` key is left out).
    pub keys: BTreeMap<String, Value>,
}

fn read_json(path: &Path) -> Result<Option<Map<String, Value>>, FsError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FsError::io("read", path)(e)),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(Some(m)),
        Ok(_) => Err(FsError::Invalid {
            path: path.to_owned(),
            reason: "is not a JSON object".to_owned(),
        }),
        Err(e) => Err(FsError::Invalid {
            path: path.to_owned(),
            reason: format!("is not valid JSON ({e})"),
        }),
    }
}

/// Reads account `account`'s `settings.json` and the user-scope MCP servers of its global
/// config (missing files count as empty).
pub fn read_account(
    account: &str,
    config_dir: &Path,
    home: Option<&Path>,
) -> Result<AccountSettings, FsError> {
    let mut keys = BTreeMap::new();
    if let Some(settings) = read_json(&config_dir.join(SETTINGS_FILE))? {
        for (k, v) in settings {
            match (k.as_str(), v) {
                (STATUS_LINE_KEY | "$schema", _) => {}
                ("env" | "permissions" | "hooks" | "mcpServers", Value::Object(inner)) => {
                    for (ik, iv) in inner {
                        keys.insert(format!("{k}.{ik}"), iv);
                    }
                }
                (_, v) => {
                    keys.insert(k, v);
                }
            }
        }
    }
    if let Some(global) = read_json(&crate::global_config::path(config_dir, home))? {
        if let Some(Value::Object(servers)) = global.get("mcpServers") {
            for (name, def) in servers {
                keys.insert(format!("mcpServers.{name}"), def.clone());
            }
        }
    }
    Ok(AccountSettings {
        account: account.to_owned(),
        keys,
    })
}

/// One setting that is not the same on every account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingDifference {
    /// The flattened key (`mcpServers.github`, `permissions.allow`, `env.FOO`, `model`).
    pub key: String,
    /// Accounts that set it, grouped by equal value (one group: set the same way where set).
    pub groups: Vec<Vec<String>>,
    /// Accounts that do not set it.
    pub missing: Vec<String>,
}

impl std::fmt::Display for SettingDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.key.strip_prefix("mcpServers.") {
            Some(name) => format!("MCP server '{name}'"),
            None => format!("setting '{}'", self.key),
        };
        let groups: Vec<String> = self.groups.iter().map(|g| g.join(", ")).collect();
        if self.groups.len() == 1 {
            write!(
                f,
                "{what} only on {} (missing on {})",
                groups[0],
                self.missing.join(", ")
            )
        } else {
            write!(f, "{what} differs: {}", groups.join(" | "))?;
            if !self.missing.is_empty() {
                write!(f, " (missing on {})", self.missing.join(", "))?;
            }
            Ok(())
        }
    }
}

/// Every key that is not set the same way on all `accounts`, sorted by key.
pub fn differences(accounts: &[AccountSettings]) -> Vec<SettingDifference> {
    let all: BTreeSet<&String> = accounts.iter().flat_map(|a| a.keys.keys()).collect();
    let mut out = Vec::new();
    for key in all {
        let mut groups: Vec<(&Value, Vec<String>)> = Vec::new();
        let mut missing = Vec::new();
        for a in accounts {
            match a.keys.get(key) {
                None => missing.push(a.account.clone()),
                Some(v) => match groups.iter_mut().find(|(g, _)| *g == v) {
                    Some((_, names)) => names.push(a.account.clone()),
                    None => groups.push((v, vec![a.account.clone()])),
                },
            }
        }
        if groups.len() > 1 || !missing.is_empty() {
            out.push(SettingDifference {
                key: key.clone(),
                groups: groups.into_iter().map(|(_, n)| n).collect(),
                missing,
            });
        }
    }
    out
}

/// What [`sync_settings`] did to one account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncOutcome {
    /// Its settings already matched.
    Unchanged,
    /// Written; the previous file was kept at `backup` (none when there was no file).
    Written {
        /// The copy of the replaced file.
        backup: Option<PathBuf>,
    },
    /// Its CLI held the settings lock (`settings.json.lock`): left alone this time.
    Busy,
}

/// Makes `to`'s `settings.json` carry every key of `from`'s except `statusLine`, which stays
/// `to`'s own (or absent). Written atomically with the file's mode (0600 for a new file),
/// the replaced file copied to `settings.json.pre-sync[-N]` first, under the lock Claude Code
/// takes on its config files (a `<file>.lock` folder): when that is held, nothing is written.
pub fn sync_settings(from: &Path, to: &Path) -> Result<SyncOutcome, FsError> {
    let src = from.join(SETTINGS_FILE);
    let dst = to.join(SETTINGS_FILE);
    if fs::symlink_metadata(&dst).is_ok_and(|m| !m.is_file()) {
        return Err(FsError::Invalid {
            path: dst,
            reason: "is not a plain file (a link?): left alone".to_owned(),
        });
    }
    let mut wanted = read_json(&src)?.unwrap_or_default();
    wanted.remove(STATUS_LINE_KEY);
    let current = read_json(&dst)?;
    if let Some(own) = current.as_ref().and_then(|c| c.get(STATUS_LINE_KEY)) {
        wanted.insert(STATUS_LINE_KEY.to_owned(), own.clone());
    }
    if current.as_ref() == Some(&wanted) || (current.is_none() && wanted.is_empty()) {
        return Ok(SyncOutcome::Unchanged);
    }
    let lock = to.join(format!("{SETTINGS_FILE}.lock"));
    match fs::create_dir(&lock) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(SyncOutcome::Busy),
        Err(e) => return Err(FsError::io("lock", &lock)(e)),
    }
    let result = (|| {
        let meta = fs::metadata(&dst).ok();
        let mode = meta.as_ref().map_or(0o600, |m| m.mode() & 0o7777);
        let backup = match meta {
            Some(_) => {
                let backup = free_name(to, &format!("{SETTINGS_FILE}.pre-sync"));
                fs::copy(&dst, &backup).map_err(FsError::io("back up", &dst))?;
                fs::set_permissions(&backup, fs::Permissions::from_mode(mode))
                    .map_err(FsError::io("back up", &backup))?;
                Some(backup)
            }
            None => None,
        };
        let mut bytes =
            serde_json::to_vec_pretty(&Value::Object(wanted)).map_err(|e| FsError::Invalid {
                path: dst.clone(),
                reason: e.to_string(),
            })?;
        bytes.push(b'\n');
        write_atomic(&dst, &bytes, mode)?;
        Ok(SyncOutcome::Written { backup })
    })();
    let _ = fs::remove_dir(&lock);
    result
}

fn free_name(dir: &Path, prefix: &str) -> PathBuf {
    let first = dir.join(prefix);
    if fs::symlink_metadata(&first).is_err() {
        return first;
    }
    (2..)
        .map(|n| dir.join(format!("{prefix}-{n}")))
        .find(|p| fs::symlink_metadata(p).is_err())
        .unwrap_or(first)
}
