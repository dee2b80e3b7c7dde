//! An account's global config file, and the one entry of it this crate ever writes.
//!
//! Besides `settings.json`, Claude Code keeps per-account state (onboarding done, the
//! logged-in account, which folders were trusted) in a global config file. Where that file
//! lives depends on how the CLI was started (observed with Claude Code 2.1.328):
//!
//! - with `CLAUDE_CONFIG_DIR=<dir>` set: `<dir>/.claude.json`;
//! - without it: `~/.claude.json`, beside (not inside) the default config dir `~/.claude`.
//!
//! So the default account (`~/.claude`) must be launched *without* `CLAUDE_CONFIG_DIR`:
//! set to `~/.claude` explicitly, the CLI reads `~/.claude/.claude.json` instead, finds no
//! login or onboarding there, shows its first-run screen (offline it exits 1) and leaves a
//! stray `~/.claude/.claude.json` behind. [`is_default_dir`] tells that account apart and
//! [`path`] is the one answer to "which file is this account's global config"; `~` is the
//! `HOME` the session sees.
//!
//! [`carry_trust`] copies a folder's trust (`projects.<dir>.hasTrustDialogAccepted`) from
//! another account's global config into the destination's, so a session moved there does
//! not stop at the "do you trust this folder?" dialog. It writes the way the CLI does: it
//! holds the CLI's own lock (`<file>.lock`, a directory, as `proper-lockfile` makes it),
//! adds only that entry (the CLI's defaults for a new project, `hasTrustDialogAccepted:
//! true`), keeps every other key and its order, writes 2-space indented JSON to a temporary
//! file with the same mode in the same folder, and renames it over the original, unless
//! the file changed meanwhile (size, mtime or inode differ from what was read: a CLI not
//! honouring the lock rewrote it), in which case it reads again and retries. A folder no
//! account trusts is never trusted on the person's behalf.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value, json};

use crate::atomic::write_temp;
use crate::error::FsError;
use crate::homes::sync_dir;

/// The global config file's name.
pub const FILE: &str = ".claude.json";
/// The default config dir's name, inside the home dir.
pub const DEFAULT_DIR: &str = ".claude";
/// The legacy global config inside a config dir, still read first by the CLI when present.
pub const LEGACY_FILE: &str = ".config.json";
/// Suffix of the lock the CLI holds while it rewrites the global config.
pub const LOCK_SUFFIX: &str = ".lock";

/// After this long without being refreshed, the CLI's lock counts as abandoned (the
/// `proper-lockfile` default the CLI uses; a live holder refreshes it twice as often).
const LOCK_STALE: Duration = Duration::from_secs(10);
/// How long [`carry_trust`] waits for a CLI holding the lock.
const LOCK_WAIT: Duration = Duration::from_secs(3);
/// How often a busy lock is looked at again.
const LOCK_RECHECK: Duration = Duration::from_millis(25);
/// How many times a write is tried again after the file changed under it.
const WRITE_ATTEMPTS: usize = 5;

/// The home dir of this process (`HOME`, when set to an absolute path).
pub fn home_from_env() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

/// Whether `config_dir` is the default config dir `home/.claude`, which Claude Code uses
/// (with `home/.claude.json`) when `CLAUDE_CONFIG_DIR` is not set.
pub fn is_default_dir(config_dir: &Path, home: &Path) -> bool {
    let default = home.join(DEFAULT_DIR);
    if normalize(config_dir) == normalize(&default) {
        return true;
    }
    match (fs::canonicalize(config_dir), fs::canonicalize(&default)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `path` with `.` and repeated or trailing separators gone (no file-system access).
fn normalize(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// The global config file of the account whose config dir is `config_dir`, as the CLI
/// launched for it (see the module docs) reads it: `home/.claude.json` for the default
/// dir, `config_dir/.claude.json` for any other, and the legacy `config_dir/.config.json`
/// when that is a non-empty file and the usual one does not exist.
pub fn path(config_dir: &Path, home: Option<&Path>) -> PathBuf {
    let usual = match home {
        Some(h) if is_default_dir(config_dir, h) => h.join(FILE),
        _ => config_dir.join(FILE),
    };
    let legacy = config_dir.join(LEGACY_FILE);
    let legacy_used = fs::metadata(&legacy).is_ok_and(|m| m.is_file() && m.len() > 0)
        && fs::symlink_metadata(&usual).is_err();
    if legacy_used { legacy } else { usual }
}

/// The key the CLI files `dir` under in `projects` (its real path).
pub fn project_key(dir: &Path) -> String {
    fs::canonicalize(dir)
        .unwrap_or_else(|_| dir.to_owned())
        .to_string_lossy()
        .into_owned()
}

/// Whether the global config `global` records the trust dialog as accepted for `dir`
/// (exactly that folder). A missing file trusts nothing.
pub fn is_trusted(global: &Path, dir: &Path) -> Result<bool, FsError> {
    let Some((doc, _)) = read(global)? else {
        return Ok(false);
    };
    Ok(trusted_in(&doc, &project_key(dir)))
}

fn trusted_in(doc: &Map<String, Value>, key: &str) -> bool {
    doc.get("projects")
        .and_then(|p| p.get(key))
        .and_then(|e| e.get("hasTrustDialogAccepted"))
        .and_then(Value::as_bool)
        == Some(true)
}

/// What [`carry_trust`] found or did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
    /// The destination already trusts the folder; nothing was written.
    Already,
    /// The trust was copied from this global config file.
    CarriedFrom(PathBuf),
    /// No account trusts the folder; nothing was written. The CLI will ask.
    Nowhere,
}

/// Makes the global config `dest` trust `dir` when one of `sources` (other accounts'
/// global config files) does, writing only that entry (see the module docs).
pub fn carry_trust(dest: &Path, sources: &[PathBuf], dir: &Path) -> Result<Trust, FsError> {
    let key = project_key(dir);
    if read(dest)?.is_some_and(|(doc, _)| trusted_in(&doc, &key)) {
        return Ok(Trust::Already);
    }
    let mut from = None;
    for s in sources.iter().filter(|s| s.as_path() != dest) {
        // An unreadable other account is no reason to fail this one.
        if matches!(read(s), Ok(Some((doc, _))) if trusted_in(&doc, &key)) {
            from = Some(s.clone());
            break;
        }
    }
    let Some(from) = from else {
        return Ok(Trust::Nowhere);
    };
    let target = fs::canonicalize(dest).unwrap_or_else(|_| dest.to_owned());
    let lock = CliLock::acquire(&target)?;
    let result = write_trust(&target, &key);
    lock.release();
    result.map(|()| Trust::CarriedFrom(from))
}

/// The file's identity and size, to tell whether it was rewritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    len: u64,
    mtime: Option<SystemTime>,
}

impl Stamp {
    fn of(m: &fs::Metadata) -> Self {
        Self {
            ino: m.ino(),
            len: m.len(),
            mtime: m.modified().ok(),
        }
    }
}

/// A parsed global config and the metadata it was read with.
type Loaded = (Map<String, Value>, fs::Metadata);

/// Reads and parses a global config; `None` when it does not exist.
fn read(path: &Path) -> Result<Option<Loaded>, FsError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FsError::io("inspect", path)(e)),
    };
    let bytes = fs::read(path).map_err(FsError::io("read", path))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some((Map::new(), meta)));
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(Some((m, meta))),
        Ok(_) => Err(FsError::Invalid {
            path: path.to_owned(),
            reason: "is not a JSON object; left unchanged".to_owned(),
        }),
        Err(e) => Err(FsError::Invalid {
            path: path.to_owned(),
            reason: format!("{e}; left unchanged"),
        }),
    }
}

/// Adds `projects.<key>.hasTrustDialogAccepted: true` to `path` (lock held by the caller).
fn write_trust(path: &Path, key: &str) -> Result<(), FsError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    for _ in 0..WRITE_ATTEMPTS {
        let (mut doc, meta) = match read(path)? {
            Some((doc, meta)) => (doc, Some(meta)),
            None => (Map::new(), None),
        };
        if trusted_in(&doc, key) {
            return Ok(());
        }
        let projects = doc
            .entry("projects")
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(projects) = projects else {
            return Err(FsError::Invalid {
                path: path.to_owned(),
                reason: "its \"projects\" is not an object; left unchanged".to_owned(),
            });
        };
        let entry = projects.entry(key).or_insert_with(new_project);
        let Value::Object(entry) = entry else {
            return Err(FsError::Invalid {
                path: path.to_owned(),
                reason: format!("its entry for {key} is not an object; left unchanged"),
            });
        };
        entry.insert("hasTrustDialogAccepted".into(), Value::Bool(true));
        let bytes =
            serde_json::to_vec_pretty(&Value::Object(doc)).map_err(|e| FsError::Invalid {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        // The CLI creates it owner-only; an existing file keeps its mode.
        let mode = meta
            .as_ref()
            .map_or(0o600, |m| m.permissions().mode() & 0o7777);
        let tmp = write_temp(path, &bytes, mode)?;
        let now = match fs::metadata(path) {
            Ok(m) => Some(Stamp::of(&m)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(FsError::io("inspect", path)(e));
            }
        };
        if now != meta.as_ref().map(Stamp::of) {
            // Rewritten while we worked: start again from what is there now.
            let _ = fs::remove_file(&tmp);
            continue;
        }
        if let Err(e) = fs::rename(&tmp, path) {
            let _ = fs::remove_file(&tmp);
            return Err(FsError::io("rename", path)(e));
        }
        return sync_dir(parent);
    }
    Err(FsError::Invalid {
        path: path.to_owned(),
        reason: format!("kept changing while trust was being added ({WRITE_ATTEMPTS} attempts)"),
    })
}

/// What the CLI writes for a project it has not seen, before setting its trust.
fn new_project() -> Value {
    json!({
        "allowedTools": [],
        "mcpContextUris": [],
        "mcpServers": {},
        "enabledMcpjsonServers": [],
        "disabledMcpjsonServers": [],
        "hasTrustDialogAccepted": false,
        "hasClaudeMdExternalIncludesApproved": false,
        "hasClaudeMdExternalIncludesWarningShown": false,
    })
}

/// The CLI's own lock on its global config: the directory `<file>.lock`.
#[derive(Debug)]
struct CliLock(PathBuf);

impl CliLock {
    fn acquire(file: &Path) -> Result<Self, FsError> {
        let mut name = file.as_os_str().to_owned();
        name.push(LOCK_SUFFIX);
        let lock = PathBuf::from(name);
        let until = Instant::now() + LOCK_WAIT;
        loop {
            match fs::create_dir(&lock) {
                Ok(()) => return Ok(Self(lock)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(FsError::io("lock", &lock)(e)),
            }
            let stale = fs::metadata(&lock)
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > LOCK_STALE);
            if stale {
                // Abandoned by a CLI that died; the CLI itself takes such a lock over.
                let _ = fs::remove_dir(&lock);
                continue;
            }
            if Instant::now() >= until {
                return Err(FsError::Invalid {
                    path: file.to_owned(),
                    reason: format!(
                        "a Claude Code process of this account holds {} (rewriting it); not written",
                        lock.display()
                    ),
                });
            }
            std::thread::sleep(LOCK_RECHECK);
        }
    }

    fn release(self) {
        if let Err(e) = fs::remove_dir(&self.0) {
            tracing::warn!(lock = %self.0.display(), error = %e, "cannot remove the config lock");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_dir_keeps_its_config_beside_it() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        fs::create_dir_all(h.join(".claude")).unwrap();
        fs::create_dir_all(h.join(".claude-work")).unwrap();
        assert!(is_default_dir(&h.join(".claude"), h));
        assert!(is_default_dir(&h.join(".claude/"), h));
        assert!(is_default_dir(&h.join("./.claude"), h));
        assert!(!is_default_dir(&h.join(".claude-work"), h));
        assert_eq!(path(&h.join(".claude"), Some(h)), h.join(".claude.json"));
        assert_eq!(
            path(&h.join(".claude-work"), Some(h)),
            h.join(".claude-work/.claude.json")
        );
        // Without a known home, every dir is one given explicitly.
        assert_eq!(
            path(&h.join(".claude"), None),
            h.join(".claude/.claude.json")
        );
        // Through a symbolic link to the default dir, too.
        std::os::unix::fs::symlink(h.join(".claude"), h.join("link")).unwrap();
        assert!(is_default_dir(&h.join("link"), h));
    }

    #[test]
    fn a_legacy_config_is_used_only_without_the_usual_one() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join(LEGACY_FILE), "{}").unwrap();
        assert_eq!(path(d, None), d.join(LEGACY_FILE));
        fs::write(d.join(FILE), "{}").unwrap();
        assert_eq!(path(d, None), d.join(FILE));
    }

    fn trusting(dirs: &[&Path]) -> String {
        let projects: Map<String, Value> = dirs
            .iter()
            .map(|d| {
                (
                    project_key(d),
                    json!({"allowedTools": ["Bash"], "hasTrustDialogAccepted": true}),
                )
            })
            .collect();
        serde_json::to_string_pretty(
            &json!({"zeta": 1, "projects": projects, "alpha": {"b": 2, "a": 1}}),
        )
        .unwrap()
    }

    #[test]
    fn trust_is_carried_as_one_entry_and_the_rest_is_kept() {
        let t = tempfile::tempdir().unwrap();
        let proj = t.path().join("proj");
        let other = t.path().join("other");
        fs::create_dir_all(&proj).unwrap();
        fs::create_dir_all(&other).unwrap();
        let src = t.path().join("src.json");
        fs::write(&src, trusting(&[&proj])).unwrap();
        let dest = t.path().join("dest.json");
        let before = serde_json::to_string_pretty(&json!({
            "zeta": true, "numStartups": 3,
            "projects": {project_key(&other): {"hasTrustDialogAccepted": true, "x": [1, 2]}},
            "alpha": "kept"
        }))
        .unwrap();
        fs::write(&dest, &before).unwrap();
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o640)).unwrap();

        assert!(!is_trusted(&dest, &proj).unwrap());
        let got = carry_trust(&dest, &[dest.clone(), src.clone()], &proj).unwrap();
        assert_eq!(got, Trust::CarriedFrom(src.clone()));
        assert!(is_trusted(&dest, &proj).unwrap());

        let after = fs::read_to_string(&dest).unwrap();
        let mut expected: Value = serde_json::from_str(&before).unwrap();
        expected["projects"][project_key(&proj)] = new_project();
        expected["projects"][project_key(&proj)]["hasTrustDialogAccepted"] = json!(true);
        // Same keys in the same order, the same 2-space layout, one entry added.
        assert_eq!(after, serde_json::to_string_pretty(&expected).unwrap());
        assert!(after.find("\"zeta\"").unwrap() < after.find("\"alpha\"").unwrap());
        assert_eq!(
            fs::metadata(&dest).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert!(!t.path().join("dest.json.lock").exists());
        // The source is untouched; a second call writes nothing.
        assert_eq!(fs::read_to_string(&src).unwrap(), trusting(&[&proj]));
        assert_eq!(carry_trust(&dest, &[src], &proj).unwrap(), Trust::Already);
        assert_eq!(fs::read_to_string(&dest).unwrap(), after);
    }

    #[test]
    fn a_folder_trusted_nowhere_stays_untrusted() {
        let t = tempfile::tempdir().unwrap();
        let proj = t.path().join("proj");
        fs::create_dir_all(&proj).unwrap();
        let src = t.path().join("src.json");
        fs::write(&src, trusting(&[])).unwrap();
        let dest = t.path().join("dest.json");
        fs::write(&dest, "{\"projects\": {}}").unwrap();
        assert_eq!(carry_trust(&dest, &[src], &proj).unwrap(), Trust::Nowhere);
        assert_eq!(fs::read_to_string(&dest).unwrap(), "{\"projects\": {}}");
    }

    #[test]
    fn a_held_lock_is_waited_for_and_a_fresh_one_is_never_broken() {
        let t = tempfile::tempdir().unwrap();
        let proj = t.path().join("proj");
        fs::create_dir_all(&proj).unwrap();
        let src = t.path().join("src.json");
        fs::write(&src, trusting(&[&proj])).unwrap();
        let dest = t.path().join("dest.json");
        fs::write(&dest, "{}").unwrap();
        let lock = t.path().join("dest.json.lock");
        fs::create_dir(&lock).unwrap();
        // Held for good by a live CLI: refused, the file untouched.
        let err = carry_trust(&dest, std::slice::from_ref(&src), &proj).unwrap_err();
        assert!(err.to_string().contains("holds"), "{err}");
        assert_eq!(fs::read_to_string(&dest).unwrap(), "{}");
        // Released while we wait: written.
        let l = lock.clone();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            fs::remove_dir(l).unwrap();
        });
        assert_eq!(
            carry_trust(&dest, &[src], &proj).unwrap(),
            Trust::CarriedFrom(t.path().join("src.json"))
        );
        releaser.join().unwrap();
        assert!(is_trusted(&dest, &proj).unwrap());
    }

    #[test]
    fn unreadable_json_is_left_alone() {
        let t = tempfile::tempdir().unwrap();
        let proj = t.path().join("proj");
        fs::create_dir_all(&proj).unwrap();
        let src = t.path().join("src.json");
        fs::write(&src, trusting(&[&proj])).unwrap();
        let dest = t.path().join("dest.json");
        fs::write(&dest, "{not json").unwrap();
        assert!(carry_trust(&dest, &[src], &proj).is_err());
        assert_eq!(fs::read_to_string(&dest).unwrap(), "{not json");
    }
}
