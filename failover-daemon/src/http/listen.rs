//! Setting up listeners safely.
//!
//! The unix socket is bound inside a fresh owner-only directory next to its final path,
//! made 0600, then renamed into place: at no moment does a socket with looser permissions
//! exist at a path others can reach. A socket already at the path is probed: if a daemon
//! answers, starting is refused; if nothing answers, the stale socket is removed. A path that
//! exists and is not a socket is never removed.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::{TcpListener, UnixListener, UnixStream};

use crate::config::TcpSettings;
use crate::error::DaemonError;

/// A bound unix listener and the identity of its socket file (to remove only our own).
#[derive(Debug)]
pub struct BoundUnix {
    /// The listener.
    pub listener: UnixListener,
    /// The socket path.
    pub path: PathBuf,
    /// (device, inode) of the socket file.
    pub identity: (u64, u64),
}

fn listen_err(what: &'static str, path: &Path, source: std::io::Error) -> DaemonError {
    DaemonError::Listen {
        what,
        path: path.display().to_string(),
        source,
    }
}

/// Binds the control socket at `path`, mode 0600.
pub async fn bind_unix(path: &Path) -> Result<BoundUnix, DaemonError> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| listen_err("cannot create the socket directory", parent, e))?;
    }
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path).await {
            Ok(_) => return Err(DaemonError::AlreadyRunning(path.to_path_buf())),
            Err(_) => {
                tracing::info!(path = %path.display(), "removing a stale control socket");
                fs::remove_file(path)
                    .map_err(|e| listen_err("cannot remove the stale socket", path, e))?;
            }
        },
        Ok(_) => {
            return Err(listen_err(
                "refusing to replace a file that is not a socket at",
                path,
                std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(listen_err("cannot inspect", path, e)),
    }

    let staging = parent.join(format!(".cf-sock-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&staging)
        .map_err(|e| listen_err("cannot create a private staging directory", &staging, e))?;
    let staged = staging.join("s");
    let result = (|| {
        let listener = UnixListener::bind(&staged)
            .map_err(|e| listen_err("cannot bind the control socket", &staged, e))?;
        fs::set_permissions(&staged, fs::Permissions::from_mode(0o600))
            .map_err(|e| listen_err("cannot make the socket owner-only", &staged, e))?;
        fs::rename(&staged, path)
            .map_err(|e| listen_err("cannot move the socket into place", path, e))?;
        Ok::<_, DaemonError>(listener)
    })();
    let _ = fs::remove_dir_all(&staging);
    let listener = result?;
    let meta = fs::symlink_metadata(path).map_err(|e| listen_err("cannot verify", path, e))?;
    if !meta.file_type().is_socket() || meta.mode() & 0o777 != 0o600 {
        let _ = fs::remove_file(path);
        return Err(listen_err(
            "the control socket is not owner-only (0600)",
            path,
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        ));
    }
    Ok(BoundUnix {
        listener,
        path: path.to_path_buf(),
        identity: (meta.dev(), meta.ino()),
    })
}

/// Removes the socket file at `path` if it is still the one we bound.
pub fn remove_socket_if_ours(path: &Path, identity: (u64, u64)) {
    if let Ok(meta) = fs::symlink_metadata(path) {
        if (meta.dev(), meta.ino()) == identity {
            let _ = fs::remove_file(path);
        }
    }
}

/// Reads the bearer token from `file`: the first line, trimmed; refuses an empty or short
/// one, and a file others can read.
pub fn read_token(settings: &TcpSettings) -> Result<String, DaemonError> {
    let addr = settings.addr.to_string();
    let text = crate::secret_file::read_private(&settings.token_file).map_err(|reason| {
        DaemonError::TcpWithoutToken {
            addr: addr.clone(),
            reason: format!("token_file: {reason}"),
        }
    })?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.len() < 16 {
        return Err(DaemonError::TcpWithoutToken {
            addr,
            reason: format!(
                "token_file {} must hold a token of at least 16 characters",
                settings.token_file.display()
            ),
        });
    }
    Ok(token)
}

/// Binds the TCP listener; refuses without a usable token. A non-loopback address (the
/// configuration refuses one without `allow_remote`) is bound with a warning.
pub async fn bind_tcp(settings: &TcpSettings) -> Result<(TcpListener, String), DaemonError> {
    let token = read_token(settings)?;
    if !settings.addr.ip().is_loopback() {
        tracing::warn!(addr = %settings.addr, "the control plane listens beyond this machine (allow_remote = true): its bearer token crosses the network in clear on every request; prefer 127.0.0.1 and an SSH or TLS tunnel");
    }
    let listener = TcpListener::bind(settings.addr)
        .await
        .map_err(|e| DaemonError::Listen {
            what: "cannot listen on",
            path: settings.addr.to_string(),
            source: e,
        })?;
    Ok((listener, token))
}
