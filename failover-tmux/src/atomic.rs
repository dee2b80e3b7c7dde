//! Writing a file so that readers see the old content or the new, never a part: a synced
//! temporary file beside it, renamed over it, and the folder synced.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::FsError;
use crate::homes::sync_dir;

/// Writes `bytes` with `mode` into a synced temporary file beside `path` and returns its
/// name; the caller renames it over `path` (or removes it).
pub(crate) fn write_temp(path: &Path, bytes: &[u8], mode: u32) -> Result<PathBuf, FsError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    let tmp = parent.join(format!(
        ".{}.tmp-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let mode = mode & 0o7777;
    let write = || -> io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    match write() {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(FsError::io("write", &tmp)(e))
        }
    }
}

/// Writes `bytes` to `path` with `mode` atomically: [`write_temp`], rename, sync the folder.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FsError> {
    let tmp = write_temp(path, bytes, mode)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(FsError::io("rename", path)(e));
    }
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}
