//! Reloads the configuration when its file changes.
//!
//! A `notify` watcher on the file's directory (editors replace files by renaming) calls back
//! on its own thread, where the callback only does `try_send` of a wake-up. This task then
//! waits [`DEBOUNCE`] for the write to settle, reads and checks the file, and hands the
//! dispatcher the new configuration, or the error that says why it was refused (the
//! dispatcher keeps the old one and tells people).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::ControlMsg;
use crate::config::{DaemonConfig, Env};
use crate::error::DaemonError;

/// How long to wait after a change before reading the file.
pub const DEBOUNCE: Duration = Duration::from_millis(250);

/// Runs until `cancel`.
pub async fn run(
    file: PathBuf,
    env: Arc<dyn Env + Send + Sync>,
    control: mpsc::Sender<ControlMsg>,
    cancel: CancellationToken,
) -> Result<(), DaemonError> {
    let (wake_tx, mut wake) = mpsc::channel::<()>(1);
    let name = file.file_name().map(ToOwned::to_owned);
    let dir = file
        .parent()
        .map_or_else(|| PathBuf::from("."), ToOwned::to_owned);
    let watched_name = name.clone();
    let mut watcher =
        match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res {
                let ours = ev
                    .paths
                    .iter()
                    .any(|p| p.file_name().map(ToOwned::to_owned) == watched_name);
                if ours && (ev.kind.is_modify() || ev.kind.is_create() || ev.kind.is_remove()) {
                    let _ = wake_tx.try_send(());
                }
            }
        }) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the configuration file; reloads are off");
                cancel.cancelled().await;
                return Ok(());
            }
        };
    if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the configuration directory; reloads are off");
        cancel.cancelled().await;
        return Ok(());
    }
    tracing::debug!(file = %file.display(), "watching the configuration file");
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(()),
            Some(()) = wake.recv() => {
                tokio::time::sleep(DEBOUNCE).await;
                while wake.try_recv().is_ok() {}
                let (file, env) = (file.clone(), env.clone());
                let loaded = tokio::task::spawn_blocking(move || DaemonConfig::load(&file, &*env))
                    .await
                    .unwrap_or_else(|e| Err(crate::config::ConfigFileError {
                        file: PathBuf::new(),
                        line: None,
                        column: None,
                        key: None,
                        message: format!("reading the configuration panicked: {e}"),
                    }));
                let msg = ControlMsg::Reload(loaded.map(Box::new));
                if control.send(msg).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
}
