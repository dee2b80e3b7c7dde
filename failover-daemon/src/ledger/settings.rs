//! `[ledger]`: where the shared ledger lives, and how this daemon is named in it.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use failover_core::HostId;

/// The resolved `[ledger]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerConfig {
    /// `redis://HOST:PORT[/DB]` or `rediss://HOST:PORT[/DB]` (TLS). Never carries a
    /// password: that comes from `password_file`.
    pub url: String,
    /// A file holding the Redis password (readable by its owner only).
    pub password_file: Option<PathBuf>,
    /// Prefix of every key and of the channel (default `claude-failover`).
    pub key_prefix: String,
    /// This daemon's name in the ledger (default: the host name).
    pub host: HostId,
    /// How long the swap lease lasts unless given back (default 120 s): a host that dies
    /// holding it loses it then.
    pub lease_ttl: Duration,
}

/// Why a `[ledger]` value is refused.
pub fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("redis://")
        .or_else(|| url.strip_prefix("rediss://"))
        .ok_or_else(|| format!("{url:?} is not a redis:// or rediss:// URL"))?;
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        return Err("the URL must not carry credentials; put the password in password_file".into());
    }
    if authority.is_empty() {
        return Err(format!("{url:?} names no host"));
    }
    let db = rest.split_once('/').map_or("", |(_, db)| db);
    if !db.is_empty() && db.parse::<u32>().is_err() {
        return Err(format!("{url:?}: the database must be a number"));
    }
    Ok(())
}

/// Reads the Redis password from `path`, refusing a file its group or others can read.
pub fn read_password(path: &Path) -> Result<String, String> {
    let meta = fs::metadata(path).map_err(|e| describe(path, &e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{} can be read by other users (mode {:o}); chmod 600 it",
            path.display(),
            meta.permissions().mode() & 0o777
        ));
    }
    let text = fs::read_to_string(path).map_err(|e| describe(path, &e))?;
    let password = text.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(password)
}

fn describe(path: &Path, e: &io::Error) -> String {
    format!("cannot read {}: {e}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert_eq!(check_url("redis://127.0.0.1:6379"), Ok(()));
        assert_eq!(check_url("rediss://cache.example:6380/2"), Ok(()));
        assert!(check_url("http://x:1").unwrap_err().contains("redis://"));
        assert!(
            check_url("redis://:pw@x:1")
                .unwrap_err()
                .contains("password_file")
        );
        assert!(
            check_url("redis://x:1/zero")
                .unwrap_err()
                .contains("number")
        );
        assert!(check_url("redis:///0").unwrap_err().contains("no host"));
    }

    #[test]
    fn a_password_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        fs::write(&path, "s3cret\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_password(&path).unwrap_err();
        assert!(err.contains("chmod 600"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_password(&path).unwrap(), "s3cret");
    }
}
