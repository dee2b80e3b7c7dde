//! The session watcher: adopts the sessions already running at startup (a restarted daemon
//! never relaunches a live session), then reports each session's liveness and activity.
//!
//! At startup every configured session's liveness is asked of the backend: a live one is
//! reported with [`Input::SessionStarted`] carrying the account and conversation the state
//! file remembers; one that is not running is reported with [`Input::SessionExited`]. After
//! that the watcher polls liveness every [`LIVENESS_INTERVAL`] (missed ticks skipped, every
//! call under [`BACKEND_TIMEOUT`]) and reports a session that was alive and is no longer.
//! Observers' event-driven reports (activity, conversation id, exit) arrive from the quota
//! monitor and are passed on at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use failover_core::{Input, Liveness, PersistedState, SessionBackend, SessionId};
use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::config::DaemonConfig;
use crate::error::DaemonError;
use crate::observe::Observation;

/// How often liveness is polled (a safety net under the event-driven observers).
pub const LIVENESS_INTERVAL: Duration = Duration::from_secs(5);
/// Longest a backend liveness call may take.
pub const BACKEND_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Alive,
    Dead,
}

/// Runs until `cancel`.
pub async fn run(
    backend: Arc<dyn SessionBackend>,
    mut config: watch::Receiver<Arc<DaemonConfig>>,
    persisted: PersistedState,
    mut observations: mpsc::Receiver<Observation>,
    inbox: mpsc::Sender<Input>,
    cancel: CancellationToken,
) -> Result<(), DaemonError> {
    let mut seen: HashMap<SessionId, Seen> = HashMap::new();
    let sessions = configured(&config.borrow_and_update());
    adopt(&*backend, &sessions, &persisted, &mut seen, &inbox).await;

    let mut tick = tokio::time::interval(LIVENESS_INTERVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    tick.tick().await; // the first tick is immediate; adoption just ran
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(()),
            Some(obs) = observations.recv() => {
                if let Some(input) = session_input(obs, &mut seen) {
                    if inbox.send(input).await.is_err() {
                        return Ok(());
                    }
                }
            }
            Ok(()) = config.changed() => {
                // Sessions added by a reload are adopted like at startup.
                let now = configured(&config.borrow_and_update());
                let added: Vec<_> = now.iter().filter(|s| !seen.contains_key(*s)).cloned().collect();
                seen.retain(|s, _| now.contains(s));
                adopt(&*backend, &added, &PersistedState::default(), &mut seen, &inbox).await;
            }
            _ = tick.tick() => {
                let sessions = configured(&config.borrow());
                for session in sessions {
                    let live = match tokio::time::timeout(BACKEND_TIMEOUT, backend.liveness(&session)).await {
                        Ok(Ok(l)) => l,
                        Ok(Err(e)) => {
                            tracing::debug!(%session, error = %e, "liveness check failed");
                            continue;
                        }
                        Err(_) => {
                            tracing::warn!(%session, "liveness check timed out");
                            continue;
                        }
                    };
                    let now = if live == Liveness::Alive { Seen::Alive } else { Seen::Dead };
                    let before = seen.insert(session.clone(), now);
                    if before == Some(Seen::Alive) && now == Seen::Dead {
                        let status = match live {
                            Liveness::Exited { status } => status,
                            _ => None,
                        };
                        tracing::info!(%session, ?status, "session is gone");
                        if inbox.send(Input::SessionExited { session, status }).await.is_err() {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}

fn configured(cfg: &DaemonConfig) -> Vec<SessionId> {
    cfg.engine.sessions.iter().map(|s| s.id.clone()).collect()
}

async fn adopt(
    backend: &dyn SessionBackend,
    sessions: &[SessionId],
    persisted: &PersistedState,
    seen: &mut HashMap<SessionId, Seen>,
    inbox: &mpsc::Sender<Input>,
) {
    for session in sessions {
        let live = match tokio::time::timeout(BACKEND_TIMEOUT, backend.liveness(session)).await {
            Ok(Ok(l)) => l,
            Ok(Err(failover_core::BackendError::Unavailable { .. })) => {
                // No tmux server: nothing runs.
                Liveness::Missing
            }
            Ok(Err(e)) => {
                tracing::warn!(%session, error = %e, "cannot tell whether the session runs; it will be checked again");
                continue;
            }
            Err(_) => {
                tracing::warn!(%session, "liveness check timed out at startup; it will be checked again");
                continue;
            }
        };
        let input = if live == Liveness::Alive {
            seen.insert(session.clone(), Seen::Alive);
            let remembered = persisted.sessions.get(session);
            tracing::info!(%session, "adopting the running session");
            Input::SessionStarted {
                session: session.clone(),
                claude_session: remembered.and_then(|p| p.claude_session.clone()),
                account: remembered.and_then(|p| p.account.clone()),
            }
        } else {
            seen.insert(session.clone(), Seen::Dead);
            let status = match live {
                Liveness::Exited { status } => status,
                _ => None,
            };
            Input::SessionExited {
                session: session.clone(),
                status,
            }
        };
        if inbox.send(input).await.is_err() {
            return;
        }
    }
}

fn session_input(obs: Observation, seen: &mut HashMap<SessionId, Seen>) -> Option<Input> {
    match obs {
        Observation::Activity { session, activity } => {
            Some(Input::SessionActivity { session, activity })
        }
        Observation::ClaudeSession {
            session,
            claude_session,
        } => Some(Input::ClaudeSessionLearned {
            session,
            claude_session,
        }),
        Observation::Exited { session, status } => {
            seen.insert(session.clone(), Seen::Dead);
            Some(Input::SessionExited { session, status })
        }
        _ => None,
    }
}
