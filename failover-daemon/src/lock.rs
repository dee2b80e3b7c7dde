//! One daemon per state directory: [`StateLock`] holds an exclusive `flock` on
//! `<state_dir>/daemon.lock` for the daemon's lifetime and writes the holder's pid into it.
//!
//! Two daemons on one state directory (one from systemd, one from a shell with another
//! `XDG_RUNTIME_DIR`, so another control socket) would both drive the same sessions. The lock
//! is taken before anything else is touched; a second daemon gets
//! [`LockError::AlreadyRunning`] at once and leaves everything alone. The kernel drops the
//! lock when the process exits, however it exits, so a crash never leaves a stale lock.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The lock file's name inside the state directory.
pub const LOCK_FILE: &str = "daemon.lock";

/// Why the state directory could not be locked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another daemon holds the lock.
    #[error("another daemon is already running (pid {pid}) on the state directory {dir}")]
    AlreadyRunning {
        /// The holder's pid as it wrote it (`unknown` while it has not yet).
        pid: String,
        /// The state directory.
        dir: PathBuf,
    },
    /// The lock file could not be created, locked or written.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct StateLock {
    _file: File,
    path: PathBuf,
}

impl StateLock {
    /// Creates `state_dir` (0700) if needed and takes the lock, writing our pid into it.
    pub fn acquire(state_dir: &Path) -> Result<Self, LockError> {
        let io = |op, path: &Path| {
            let path = path.to_path_buf();
            move |source| LockError::Io { op, path, source }
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir)
            .map_err(io("create the state directory", state_dir))?;
        let path = state_dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(io("open the lock file", &path))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(LockError::AlreadyRunning {
                    pid: holder(&mut file),
                    dir: state_dir.to_path_buf(),
                });
            }
            Err(e) => return Err(io("lock", &path)(e.into())),
        }
        let write = |file: &mut File| -> io::Result<()> {
            file.set_len(0)?;
            file.rewind()?;
            writeln!(file, "{}", std::process::id())?;
            file.sync_all()
        };
        write(&mut file).map_err(io("write our pid into", &path))?;
        Ok(Self { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The pid the holder wrote; it writes it right after locking, so an empty file is read
/// again for a moment before saying `unknown`.
fn holder(file: &mut File) -> String {
    for _ in 0..20 {
        let mut text = String::new();
        if file.rewind().is_ok() && file.read_to_string(&mut text).is_ok() {
            let pid = text.trim();
            if !pid.is_empty() {
                return pid.to_owned();
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    "unknown".to_owned()
}
