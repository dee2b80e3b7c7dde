//! [`FileCheckpointer`]: one JSON file per session, `CheckpointRecordV1`, written
//! crash-safely (temporary file, fsync, rename, fsync of the folder), so a crash leaves
//! either the old record or the new one, never half of one.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use failover_core::{
    Checkpoint, CheckpointError, CheckpointRecordV1, Checkpointer, SessionId, UnixMillis,
};
use serde_json::Value;

use crate::atomic::write_atomic;
use crate::error::FsError;

/// Extension of record files.
const EXT: &str = "json";

/// Checkpoints as files in one folder.
#[derive(Clone, Debug)]
pub struct FileCheckpointer {
    dir: PathBuf,
}

impl FileCheckpointer {
    /// Records live in `dir` (created on first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The record file of `session`. Session names are kept readable; any byte outside
    /// `[A-Za-z0-9_-]` is written as `%XX`, so no name can leave the folder.
    pub fn path_of(&self, session: &SessionId) -> PathBuf {
        let name = crate::paths::session_file_stem(session);
        self.dir.join(format!("{name}.{EXT}"))
    }
}

/// Reads one record, refusing versions other than 1.
pub fn read_record(path: &Path) -> Result<Checkpoint, CheckpointError> {
    let bytes = fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    })?;
    let corrupt = |reason: String| CheckpointError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    let version = value
        .get("schema_version")
        .and_then(Value::as_u64)
        .ok_or_else(|| corrupt("no schema_version".to_owned()))?;
    if version != u64::from(CheckpointRecordV1::SCHEMA_VERSION) {
        return Err(CheckpointError::UnsupportedVersion {
            path: path.to_owned(),
            version: u32::try_from(version).unwrap_or(u32::MAX),
        });
    }
    let record: CheckpointRecordV1 =
        serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))?;
    Ok(record.checkpoint)
}

fn record_paths(dir: &Path) -> Result<Vec<PathBuf>, CheckpointError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CheckpointError::Io {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut out = Vec::new();
    for e in entries {
        let e = e.map_err(|source| CheckpointError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let p = e.path();
        let hidden = e.file_name().to_string_lossy().starts_with('.');
        if !hidden && p.extension().is_some_and(|x| x == EXT) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CheckpointError> + Send + 'static,
) -> Result<T, CheckpointError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CheckpointError::Other(Box::new(FsError::Join(e.to_string()))))?
}

#[async_trait]
impl Checkpointer for FileCheckpointer {
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        let path = self.path_of(&checkpoint.session);
        let dir = self.dir.clone();
        let record = CheckpointRecordV1::new(checkpoint.clone());
        blocking(move || {
            // Owner-only: checkpoints hold prompts.
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|source| CheckpointError::Io {
                    path: dir.clone(),
                    source,
                })?;
            let mut bytes = serde_json::to_vec_pretty(&record)
                .map_err(|e| CheckpointError::Other(Box::new(e)))?;
            bytes.push(b'\n');
            write_atomic(&path, &bytes, 0o600)?;
            Ok(())
        })
        .await
    }

    async fn load(&self, session: &SessionId) -> Result<Option<Checkpoint>, CheckpointError> {
        let path = self.path_of(session);
        blocking(move || match read_record(&path) {
            Err(CheckpointError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                Ok(None)
            }
            other => other.map(Some),
        })
        .await
    }

    async fn list(&self) -> Result<Vec<Checkpoint>, CheckpointError> {
        let dir = self.dir.clone();
        blocking(move || {
            let mut out = Vec::new();
            for p in record_paths(&dir)? {
                match read_record(&p) {
                    Ok(c) => out.push(c),
                    // One unreadable record must not hide the others; `load` still reports it.
                    Err(e) => tracing::warn!(error = %e, "skipping checkpoint record"),
                }
            }
            Ok(out)
        })
        .await
    }

    async fn prune(&self, before: UnixMillis) -> Result<usize, CheckpointError> {
        let dir = self.dir.clone();
        blocking(move || {
            let mut removed = 0;
            for p in record_paths(&dir)? {
                let Ok(record) = read_record(&p) else {
                    continue; // never delete what cannot be read
                };
                if record.taken_at < before {
                    fs::remove_file(&p).map_err(|source| CheckpointError::Io {
                        path: p.clone(),
                        source,
                    })?;
                    removed += 1;
                }
            }
            Ok(removed)
        })
        .await
    }
}
