//! The state file: [`PersistedState`] as JSON at `<state_dir>/state.json`, replaced
//! crash-safely on every [`Effect::Persist`](failover_core::Effect::Persist).
//!
//! A write goes to a temporary file in the same directory, is flushed with `fsync`, renamed
//! over the old file, and the directory is `fsync`ed so the rename itself is durable. A crash
//! at any point leaves either the old file or the new one, never a mix. A failed write (a full
//! disk, say) leaves the old file untouched and removes the temporary file.
//!
//! A state file that cannot be understood is not deleted: it is moved aside to
//! `state.json.corrupt-<unix seconds>` and the daemon starts from an empty state. A file that
//! cannot be *read* (EACCES, EIO, a directory in its place) is a [`StateError::Io`]: the daemon
//! stops with it, and the file, which may be perfectly good, stays where it is.
//!
//! The file is written mode 0600 and its directory created 0700: it holds prompts.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use failover_core::{PersistedState, UnixMillis};

/// Why the state file could not be written (the previous one is intact) or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// An I/O step failed.
    #[error("state file {path}: cannot {op}: {source}")]
    Io {
        /// What was being done (`create the temporary file`, `fsync`, `rename`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The state could not be encoded.
    #[error("state cannot be encoded: {0}")]
    Encode(#[source] serde_json::Error),
    /// The file was written by a newer version; it is left alone.
    #[error(
        "state file {path} has schema version {found}, newer than this daemon's {supported}; refusing to overwrite it"
    )]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
        /// Ours.
        supported: u32,
    },
}

impl StateError {
    /// Whether the disk is full (or over quota).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Self::Io { source, .. }
            if matches!(source.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT)))
    }
}

/// What was found at startup.
#[derive(Debug)]
pub enum Loaded {
    /// No state file: a first start.
    Fresh,
    /// The state as last written.
    State(PersistedState),
    /// The file is not a valid state file; it was moved aside.
    Corrupt {
        /// Where it now is.
        kept_at: PathBuf,
        /// Why it was refused.
        reason: String,
    },
}

/// The state file of one daemon.
#[derive(Clone, Debug)]
pub struct StateStore {
    path: PathBuf,
}

impl StateStore {
    /// The store at `<state_dir>/state.json`.
    pub fn new(state_dir: &Path) -> Self {
        Self {
            path: state_dir.join("state.json"),
        }
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the state. A file that is not a valid state is moved aside (stamped with `now`);
    /// a file that cannot be read, or is from a newer version, is an error and is left in place.
    pub fn load(&self, now: UnixMillis) -> Result<Loaded, StateError> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Loaded::Fresh),
            Err(source) => {
                return Err(StateError::Io {
                    op: "read it (it is left as it is)",
                    path: self.path.clone(),
                    source,
                });
            }
        };
        #[derive(serde::Deserialize)]
        struct Version {
            schema_version: u32,
        }
        match serde_json::from_slice::<Version>(&bytes) {
            Ok(v) if v.schema_version > PersistedState::SCHEMA_VERSION => {
                return Err(StateError::NewerSchema {
                    path: self.path.clone(),
                    found: v.schema_version,
                    supported: PersistedState::SCHEMA_VERSION,
                });
            }
            _ => {}
        }
        match serde_json::from_slice::<PersistedState>(&bytes) {
            Ok(state) => Ok(Loaded::State(state)),
            Err(e) => self.set_aside(now, format!("is not a valid state file: {e}")),
        }
    }

    fn set_aside(&self, now: UnixMillis, reason: String) -> Result<Loaded, StateError> {
        let mut kept_at = self.path.with_file_name(format!(
            "{}.corrupt-{}",
            file_name(&self.path),
            now.as_secs()
        ));
        let mut n = 1;
        while kept_at.exists() {
            kept_at = self.path.with_file_name(format!(
                "{}.corrupt-{}-{n}",
                file_name(&self.path),
                now.as_secs()
            ));
            n += 1;
        }
        fs::rename(&self.path, &kept_at).map_err(|source| StateError::Io {
            op: "move the unreadable state file aside",
            path: self.path.clone(),
            source,
        })?;
        Ok(Loaded::Corrupt { kept_at, reason })
    }

    /// Replaces the state file crash-safely. On error the previous file is intact.
    pub fn save(&self, state: &PersistedState) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(state).map_err(StateError::Encode)?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir)?;
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            file_name(&self.path),
            std::process::id()
        ));
        let result = write_synced(&tmp, &bytes).and_then(|()| {
            fs::rename(&tmp, &self.path).map_err(|source| StateError::Io {
                op: "rename the new state file into place",
                path: self.path.clone(),
                source,
            })
        });
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
            return result;
        }
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| StateError::Io {
                op: "fsync the state directory",
                path: dir.to_path_buf(),
                source,
            })
    }
}

fn write_synced(tmp: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let io = |op| {
        move |source| StateError::Io {
            op,
            path: tmp.to_path_buf(),
            source,
        }
    };
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(tmp)
        .map_err(io("create the temporary file"))?;
    f.write_all(bytes).map_err(io("write the temporary file"))?;
    f.sync_all().map_err(io("fsync the temporary file"))?;
    Ok(())
}

/// Creates `dir` and its missing parents mode 0700 (an existing directory is left as it is).
pub fn create_private_dir(dir: &Path) -> Result<(), StateError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StateError::Io {
            op: "create the state directory",
            path: dir.to_path_buf(),
            source,
        })
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(|| "state.json".into(), |n| n.to_string_lossy().into_owned())
}
