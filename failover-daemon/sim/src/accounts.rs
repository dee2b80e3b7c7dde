//! Throwaway Claude Code config dirs with a fake subscription login.
//!
//! [`make_account_dir`] writes what the real CLI needs to start straight into its prompt,
//! with no login, onboarding or trust dialog, against the mock API:
//!
//! - `.credentials.json` (mode 0600): `{"claudeAiOauth":{"accessToken":<token>,…}}`: the
//!   CLI then sends `Authorization: Bearer <token>`, which is how the mock tells accounts
//!   apart;
//! - `.claude.json`: onboarding done, an `oauthAccount`, and the trust dialog accepted for
//!   every project dir given;
//! - `settings.json`: left alone unless [`install_statusline`] adds a `statusLine` command.
//!
//! Point the CLI at the dir with `CLAUDE_CONFIG_DIR=<dir>`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use failover_tmux::paths::project_folder_name;

use serde_json::{Value, json};

/// Errors writing an account dir.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountDirError {
    /// A file could not be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An existing JSON file is not valid JSON (it is left untouched).
    #[error("{path} is not valid JSON: {source}")]
    BadJson {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The credentials file exists already; it is never overwritten.
    #[error("{0} exists already; refusing to overwrite credentials")]
    CredentialsExist(PathBuf),
}

/// A config dir written by [`make_account_dir`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountDir {
    /// The dir (the value for `CLAUDE_CONFIG_DIR`).
    pub dir: PathBuf,
    /// The access token in its credentials.
    pub token: String,
}

impl AccountDir {
    /// `<dir>/projects`, where the CLI keeps transcripts.
    pub fn projects_dir(&self) -> PathBuf {
        self.dir.join("projects")
    }

    /// The transcript path of session `session_id` started in `cwd`.
    pub fn transcript_path(&self, cwd: &Path, session_id: &str) -> PathBuf {
        self.projects_dir()
            .join(project_folder_name(cwd))
            .join(format!("{session_id}.jsonl"))
    }
}

/// Writes a fake subscription login for `token` into `dir` (created if missing), trusting
/// every dir in `project_dirs`. See the module docs for the files.
///
/// Refuses to overwrite an existing `.credentials.json`.
pub fn make_account_dir(
    dir: &Path,
    token: &str,
    project_dirs: &[PathBuf],
) -> Result<AccountDir, AccountDirError> {
    fs::create_dir_all(dir).map_err(|source| AccountDirError::Io {
        op: "create dir",
        path: dir.to_owned(),
        source,
    })?;
    let creds_path = dir.join(".credentials.json");
    if creds_path.exists() {
        return Err(AccountDirError::CredentialsExist(creds_path));
    }
    let expires_at_ms = super::mock_api::now_ms() + 365 * 24 * 3600 * 1000;
    let creds = json!({"claudeAiOauth": {
        "accessToken": token,
        "refreshToken": format!("{token}-refresh"),
        "expiresAt": expires_at_ms,
        "scopes": ["user:inference", "user:profile", "user:sessions:claude_code"],
        "subscriptionType": "max",
    }});
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&creds_path)
        .map_err(|source| AccountDirError::Io {
            op: "create",
            path: creds_path.clone(),
            source,
        })?;
    file.write_all(creds.to_string().as_bytes())
        .map_err(|source| AccountDirError::Io {
            op: "write",
            path: creds_path.clone(),
            source,
        })?;

    let short: String = token.chars().filter(char::is_ascii_alphanumeric).collect();
    let mut projects = serde_json::Map::new();
    for p in project_dirs {
        projects.insert(
            p.to_string_lossy().into_owned(),
            json!({"allowedTools": [], "hasTrustDialogAccepted": true,
                   "hasCompletedProjectOnboarding": true, "projectOnboardingSeenCount": 1}),
        );
    }
    let claude_json = json!({
        "hasCompletedOnboarding": true,
        "lastOnboardingVersion": "2.1.328",
        "numStartups": 1,
        "theme": "dark",
        "autoUpdates": false,
        "bypassPermissionsModeAccepted": true,
        "oauthAccount": {
            "accountUuid": uuid_from(&short, 1),
            "emailAddress": format!("{short}@mock.invalid"),
            "organizationUuid": uuid_from(&short, 2),
            "displayName": short,
            "organizationName": format!("{short}'s Organization"),
            "organizationRole": "admin",
            "billingType": "stripe_subscription",
        },
        "projects": projects,
    });
    write_json(&dir.join(".claude.json"), &claude_json)?;
    fs::create_dir_all(dir.join("projects")).map_err(|source| AccountDirError::Io {
        op: "create dir",
        path: dir.join("projects"),
        source,
    })?;
    Ok(AccountDir {
        dir: dir.to_owned(),
        token: token.to_owned(),
    })
}

/// Sets `statusLine` in `<dir>/settings.json` to run `command`, keeping every other setting.
pub fn install_statusline(dir: &Path, command: &str) -> Result<(), AccountDirError> {
    let path = dir.join("settings.json");
    let mut settings = read_json_or_empty(&path)?;
    if let Value::Object(map) = &mut settings {
        map.insert(
            "statusLine".into(),
            json!({"type": "command", "command": command, "padding": 0}),
        );
    }
    write_json(&path, &settings)
}

/// Allows tool calls matching `patterns` (e.g. `Bash(printf:*)`) in `<dir>/settings.json`,
/// with the `default` permission mode, so the CLI runs them without asking (2.1.3xx would
/// otherwise check a tool call with the model first). Keeps every other setting. Also
/// records in `<dir>/.claude.json` that the question 2.1.3xx asks once with that mode
/// (`Make auto mode your default permission mode?`) was answered, so the CLI starts at its
/// prompt.
pub fn allow_tools(dir: &Path, patterns: &[&str]) -> Result<(), AccountDirError> {
    let global = dir.join(".claude.json");
    let text = fs::read_to_string(&global).map_err(|source| AccountDirError::Io {
        op: "read",
        path: global.clone(),
        source,
    })?;
    let mut doc: Value =
        serde_json::from_str(&text).map_err(|source| AccountDirError::BadJson {
            path: global.clone(),
            source,
        })?;
    if let Value::Object(map) = &mut doc {
        map.insert("hasResetAutoModeOptInForDefaultOffer".into(), json!(true));
        map.insert("hasSeenAutoDefaultNudge".into(), json!(true));
    }
    write_json(&global, &doc)?;
    let path = dir.join("settings.json");
    let mut settings = read_json_or_empty(&path)?;
    if let Value::Object(map) = &mut settings {
        map.insert(
            "permissions".into(),
            json!({"allow": patterns, "defaultMode": "default"}),
        );
    }
    write_json(&path, &settings)
}

/// The JSON document at `path`, or `{}` when there is no file.
fn read_json_or_empty(path: &Path) -> Result<Value, AccountDirError> {
    match fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|source| AccountDirError::BadJson {
            path: path.to_owned(),
            source,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(source) => Err(AccountDirError::Io {
            op: "read",
            path: path.to_owned(),
            source,
        }),
    }
}

/// A stable, valid-looking UUID derived from a name (not random, so runs are repeatable).
fn uuid_from(name: &str, salt: u8) -> String {
    let mut bytes = [0u8; 16];
    for (i, b) in name.bytes().enumerate() {
        bytes[i % 16] = bytes[i % 16].wrapping_mul(31).wrapping_add(b);
    }
    bytes[15] ^= salt;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes).to_string()
}

fn write_json(path: &Path, value: &Value) -> Result<(), AccountDirError> {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    fs::write(path, text).map_err(|source| AccountDirError::Io {
        op: "write",
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_login_and_refuses_to_clobber() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("acct");
        let acct = make_account_dir(&dir, "tok-a", &[PathBuf::from("/w")]).unwrap();
        let creds = dir.join(".credentials.json");
        let mode = fs::metadata(&creds).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let v: Value = serde_json::from_str(&fs::read_to_string(&creds).unwrap()).unwrap();
        assert_eq!(v["claudeAiOauth"]["accessToken"], "tok-a");
        let cj: Value =
            serde_json::from_str(&fs::read_to_string(dir.join(".claude.json")).unwrap()).unwrap();
        assert_eq!(cj["projects"]["/w"]["hasTrustDialogAccepted"], true);
        assert!(matches!(
            make_account_dir(&dir, "tok-b", &[]),
            Err(AccountDirError::CredentialsExist(_))
        ));
        assert_eq!(
            acct.transcript_path(Path::new("/w"), "id"),
            dir.join("projects/-w/id.jsonl")
        );
        install_statusline(&dir, "cat > /tmp/x").unwrap();
        install_statusline(&dir, "cat > /tmp/y").unwrap();
        let s: Value =
            serde_json::from_str(&fs::read_to_string(dir.join("settings.json")).unwrap()).unwrap();
        assert_eq!(s["statusLine"]["command"], "cat > /tmp/y");
    }
}
