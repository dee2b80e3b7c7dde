//! Crash-safe file primitives: every write of a record is temp file + `fsync` + `rename` +
//! directory `fsync`, and moves that must never overwrite a task use `link` + `unlink`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Flushes a directory's entries (a rename or link into it) to disk.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `dest` so that a crash leaves either the old file or the new one, never
/// a torn one: write a temp file in `tmp_dir` (same file system), `fsync` it, rename it over
/// `dest`, `fsync` the destination directory.
pub(crate) fn write_atomic(tmp_dir: &Path, dest: &Path, bytes: &[u8]) -> io::Result<()> {
    let seq = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = tmp_dir.join(format!("w-{}-{seq}.tmp", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, dest)?;
        sync_dir(dest.parent().unwrap_or(Path::new(".")))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// `rename(2)` then `fsync` of both directories.
pub(crate) fn rename_synced(from: &Path, to: &Path) -> io::Result<()> {
    fs::rename(from, to)?;
    if let Some(dir) = to.parent() {
        sync_dir(dir)?;
    }
    match (from.parent(), to.parent()) {
        (Some(a), Some(b)) if a != b => sync_dir(a),
        _ => Ok(()),
    }
}

/// What [`link_noclobber`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LinkOutcome {
    /// `to` now names the same file as `from`.
    Created,
    /// `to` already named the same file (an earlier, interrupted run linked it).
    Existed,
    /// `to` names a different file; nothing was done.
    Occupied,
}

/// `link(2)` `from` to `to` without ever replacing `to` (unlike `rename`, `link` fails when
/// the name exists), then `fsync`s `to`'s directory.
pub(crate) fn link_noclobber(from: &Path, to: &Path) -> io::Result<LinkOutcome> {
    match fs::hard_link(from, to) {
        Ok(()) => {
            if let Some(dir) = to.parent() {
                sync_dir(dir)?;
            }
            Ok(LinkOutcome::Created)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            if same_file(from, to)? {
                Ok(LinkOutcome::Existed)
            } else {
                Ok(LinkOutcome::Occupied)
            }
        }
        Err(e) => Err(e),
    }
}

/// Whether two paths name the same inode (without following symlinks).
pub(crate) fn same_file(a: &Path, b: &Path) -> io::Result<bool> {
    let (ma, mb) = (fs::symlink_metadata(a)?, fs::symlink_metadata(b)?);
    Ok(ma.dev() == mb.dev() && ma.ino() == mb.ino())
}

/// Removes a file and `fsync`s its directory; a file already gone is fine.
pub(crate) fn remove_synced(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(path.parent().unwrap_or(Path::new("."))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether anything (a file, a dangling symlink, a directory) has this name.
pub(crate) fn exists_nofollow(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_noclobber_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("c"),
        );
        fs::write(&a, "a").unwrap();
        fs::write(&b, "b").unwrap();
        assert_eq!(link_noclobber(&a, &b).unwrap(), LinkOutcome::Occupied);
        assert_eq!(fs::read_to_string(&b).unwrap(), "b");
        assert_eq!(link_noclobber(&a, &c).unwrap(), LinkOutcome::Created);
        assert_eq!(link_noclobber(&a, &c).unwrap(), LinkOutcome::Existed);
    }

    #[test]
    fn write_atomic_replaces_whole() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("r.json");
        write_atomic(dir.path(), &dest, b"one").unwrap();
        write_atomic(dir.path(), &dest, b"two").unwrap();
        assert_eq!(fs::read_to_string(&dest).unwrap(), "two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
