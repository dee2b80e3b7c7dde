//! The observer supervisor: keeps one pane watcher per running session and the background
//! watchers, all in its own `JoinSet` (nothing is spawned and forgotten).
//!
//! The dispatcher tells it when a session starts running ([`ObserverCmd::Watch`]: adopted
//! at startup or launched) and when a conversation id becomes known
//! ([`ObserverCmd::Track`]). A new `Watch` for a session replaces its old watcher.

use std::collections::HashMap;
use std::sync::Arc;

use failover_core::{ClaudeSessionId, SessionId};
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::error::DaemonError;
use crate::observe::{ObserverEvent, Observers};

/// A request to the supervisor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ObserverCmd {
    /// The session runs (with this conversation, when known): watch it.
    Watch {
        /// The session.
        session: SessionId,
        /// Its conversation.
        claude_session: Option<ClaudeSessionId>,
    },
    /// The conversation runs in the session.
    Track {
        /// The session.
        session: SessionId,
        /// Its conversation.
        claude_session: ClaudeSessionId,
    },
}

/// Runs until `cancel`.
pub async fn run(
    observers: Arc<dyn Observers>,
    mut cmds: mpsc::Receiver<ObserverCmd>,
    tx: mpsc::Sender<ObserverEvent>,
    cancel: CancellationToken,
) -> Result<(), DaemonError> {
    let mut set = JoinSet::new();
    for (name, fut) in observers.background(tx.clone()) {
        tracing::debug!(observer = name, "starting");
        set.spawn(async move {
            fut.await;
            tracing::debug!(observer = name, "stopped");
        });
    }
    let mut panes: HashMap<SessionId, AbortHandle> = HashMap::new();
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => break,
            cmd = cmds.recv() => match cmd {
                None => break,
                Some(ObserverCmd::Track { session, claude_session }) => {
                    observers.track(claude_session, session);
                }
                Some(ObserverCmd::Watch { session, claude_session }) => {
                    if let Some(cs) = claude_session {
                        observers.track(cs, session.clone());
                    }
                    if let Some(old) = panes.remove(&session) {
                        old.abort();
                    }
                    if let Some(fut) = observers.session(session.clone(), tx.clone()) {
                        tracing::debug!(%session, "watching the session");
                        panes.insert(session, set.spawn(fut));
                    }
                }
            },
            Some(res) = set.join_next(), if !set.is_empty() => {
                if let Err(e) = res {
                    if e.is_panic() {
                        tracing::error!(error = %e, "an observer panicked");
                    }
                }
                panes.retain(|_, h| !h.is_finished());
            }
        }
    }
    set.abort_all();
    while set.join_next().await.is_some() {}
    Ok(())
}
