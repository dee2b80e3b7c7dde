//! What differs between the accounts' settings and user-scope MCP servers, for `status`:
//! re-read only when one of the files changed (size, inode or modification time), so
//! polling the status stays cheap.

use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use failover_tmux::person;
use tokio::sync::watch;

use crate::config::DaemonConfig;
use crate::http::dto::SettingDifferenceDto;

type Stamp = Option<(u64, u64, SystemTime)>;
/// The stamps of the files last read, and what they gave.
type Cached = Option<(Vec<Stamp>, Vec<SettingDifferenceDto>)>;

/// The settings differences of the configured accounts, cached by file stamps.
#[derive(Clone, Debug)]
pub struct SettingsCheck {
    config: watch::Receiver<Arc<DaemonConfig>>,
    cache: Arc<Mutex<Cached>>,
}

fn stamp(path: &PathBuf) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).ok().map(|m| {
        (
            m.len(),
            m.ino(),
            m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        )
    })
}

impl SettingsCheck {
    /// Follows the daemon's configuration (accounts added on reload are included).
    pub fn new(config: watch::Receiver<Arc<DaemonConfig>>) -> Self {
        Self {
            config,
            cache: Arc::default(),
        }
    }

    /// Every setting or MCP server that is not the same on all accounts (reads files:
    /// call from a blocking context). An unreadable file leaves its account out, logged.
    pub fn differences(&self) -> Vec<SettingDifferenceDto> {
        let config = self.config.borrow().clone();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let paths: Vec<PathBuf> = config
            .engine
            .accounts
            .iter()
            .flat_map(|a| {
                [
                    a.config_dir.join(person::SETTINGS_FILE),
                    failover_tmux::global_config::path(&a.config_dir, home.as_deref()),
                ]
            })
            .collect();
        let stamps: Vec<Stamp> = paths.iter().map(stamp).collect();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, diffs)) = cache.as_ref() {
            if *seen == stamps {
                return diffs.clone();
            }
        }
        let mut read = Vec::new();
        for a in &config.engine.accounts {
            match person::read_account(a.id.as_str(), &a.config_dir, home.as_deref()) {
                Ok(s) => read.push(s),
                Err(e) => {
                    tracing::warn!(account = %a.id, error = %e, "cannot read the account's settings to compare them")
                }
            }
        }
        let diffs: Vec<SettingDifferenceDto> = person::differences(&read)
            .into_iter()
            .map(|d| SettingDifferenceDto {
                summary: d.to_string(),
                key: d.key,
                groups: d.groups,
                missing: d.missing,
            })
            .collect();
        *cache = Some((stamps, diffs.clone()));
        diffs
    }
}
