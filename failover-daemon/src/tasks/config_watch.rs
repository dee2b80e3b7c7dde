//! Reloads the configuration when its file changes.
//!
//! A `notify` watcher on the file's directory (editors replace files by renaming) calls back
//! on its own thread, where the callback only does `try_send` of a wake-up. This task then
//! waits [`DEBOUNCE`] for the write to settle, reads and checks the file, and hands the
//! dispatcher the new configuration, or the error that says why it was refused (the
//! dispatcher keeps the old one and tells people).
//!
//! An account the new configuration adds is adopted first, as at start
//! ([`adopt_account`](crate::production::adopt_account): its `projects/` linked to the shared
//! tree, the statusline hook installed), so a session can move to it as soon as the
//! dispatcher takes the configuration. Only the statusline feed of such an account waits for
//! the next restart (the watcher of the spools is built at start); until then its usage
//! comes from panes and transcripts, and the log says so.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use failover_core::AccountId;

use super::ControlMsg;
use crate::config::{DaemonConfig, Env};
use crate::error::DaemonError;

/// How long to wait after a change before reading the file.
pub const DEBOUNCE: Duration = Duration::from_millis(250);

/// Runs until `cancel`; `initial` is the configuration the daemon started with.
pub async fn run(
    file: PathBuf,
    env: Arc<dyn Env + Send + Sync>,
    initial: Arc<DaemonConfig>,
    control: mpsc::Sender<ControlMsg>,
    cancel: CancellationToken,
) -> Result<(), DaemonError> {
    let mut known: Vec<AccountId> = initial
        .engine
        .accounts
        .iter()
        .map(|a| a.id.clone())
        .collect();
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
                if let Ok(cfg) = &loaded {
                    adopt_new_accounts(cfg, &mut known).await;
                }
                let msg = ControlMsg::Reload(loaded.map(Box::new));
                if control.send(msg).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
}

/// Adopts the accounts of `cfg` not in `known`, then remembers them.
async fn adopt_new_accounts(cfg: &DaemonConfig, known: &mut Vec<AccountId>) {
    let new: Vec<_> = cfg
        .engine
        .accounts
        .iter()
        .filter(|a| !known.contains(&a.id))
        .cloned()
        .collect();
    for account in new {
        let (config, a) = (cfg.clone(), account.clone());
        let spool =
            tokio::task::spawn_blocking(move || crate::production::adopt_account(&config, &a))
                .await
                .ok()
                .flatten();
        if spool.is_some() {
            tracing::warn!(account = %account.id, "account added by a reload: its statusline feed is read from the next restart; until then its usage comes from panes and transcripts");
        }
        known.push(account.id);
    }
}
