//! The session watcher: adopts the sessions already running at startup (a restarted daemon
//! never relaunches a live session), then reports each session's liveness and activity.
//!
//! At startup every configured session's liveness is asked of the backend. A live one is
//! reported with [`Input::SessionStarted`] carrying the account and conversation the backend
//! recorded when it launched it (else what the state file remembers). Once every session's liveness is known, [`Input::AdoptionComplete`] tells
//! the engine it may launch the others. A session whose liveness cannot be told (a hung
//! backend) is asked again every [`ADOPTION_RETRY`]: launching it blind could make two copies.
//!
//! After that the watcher polls, every [`LIVENESS_INTERVAL`] (missed ticks skipped, every
//! call under [`BACKEND_TIMEOUT`]), the liveness of each session the engine believes has a
//! live process (its published state is `running`, `prompting` or `checkpointing`), as a
//! safety net under the event-driven observers, and reports one that is gone, once. When
//! [`SessionBackend::liveness_all`] answers, one call covers every session and only those
//! it does not show alive are asked on their own: with tmux, 200 sessions asked one by one
//! every 5 s cost the server more than a `capture-pane` poller. Observers' activity, exit and
//! conversation-id events arrive from the quota monitor and are passed on at once, except
//! an exit report about a session the backend says is running: that is the old pane's
//! watcher reporting a program the engine itself stopped and has already launched again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use failover_core::{
    BackendError, Input, Liveness, PersistedState, SessionBackend, SessionId, SessionStateKind,
};
use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::config::DaemonConfig;
use crate::deps::SessionRecords;
use crate::error::DaemonError;
use crate::observe::ObserverEvent;
use crate::tasks::Published;

/// Engine states in which the session's process should be alive.
const LIVE_STATES: [SessionStateKind; 3] = [
    SessionStateKind::Running,
    SessionStateKind::Prompting,
    SessionStateKind::Checkpointing,
];

/// How often liveness is polled (a safety net under the event-driven observers).
pub const LIVENESS_INTERVAL: Duration = Duration::from_secs(5);
/// Longest a backend liveness call may take.
pub const BACKEND_TIMEOUT: Duration = Duration::from_secs(5);
/// How soon a session whose liveness could not be told at startup is asked again.
pub const ADOPTION_RETRY: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Alive,
    Dead,
}

/// Runs until `cancel`.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    backend: Arc<dyn SessionBackend>,
    records: Arc<dyn SessionRecords>,
    config: watch::Receiver<Arc<DaemonConfig>>,
    status: watch::Receiver<Arc<Published>>,
    persisted: PersistedState,
    mut events: mpsc::Receiver<ObserverEvent>,
    inbox: mpsc::Sender<Input>,
    cancel: CancellationToken,
) -> Result<(), DaemonError> {
    let mut seen: HashMap<SessionId, Seen> = HashMap::new();
    let mut reported: HashSet<SessionId> = HashSet::new();
    let sessions = configured(&config.borrow());
    tokio::select! {
        biased;
        () = cancel.cancelled() => return Ok(()),
        () = adopt(&*backend, &*records, &sessions, &persisted, &mut seen, &inbox) => {}
    }
    tracing::info!(
        running = seen.values().filter(|s| **s == Seen::Alive).count(),
        "adoption complete"
    );
    if inbox.send(Input::AdoptionComplete).await.is_err() {
        return Ok(());
    }

    let mut tick = tokio::time::interval(LIVENESS_INTERVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    tick.tick().await; // the first tick is immediate; adoption just ran
    loop {
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(()),
            Some(event) = events.recv() => {
                if let ObserverEvent::Exited { session, .. } = &event {
                    // A watcher of a session that was stopped and launched again can report
                    // the old program's exit after the new one started: the name runs again,
                    // so that exit is history, not news.
                    if matches!(liveness(&*backend, session).await, Some(Liveness::Alive)) {
                        tracing::debug!(%session, "exit of an earlier instance; the session runs");
                        continue;
                    }
                    reported.insert(session.clone());
                }
                if let Some(input) = session_input(event, &mut seen) {
                    if inbox.send(input).await.is_err() {
                        return Ok(());
                    }
                }
            }
            _ = tick.tick() => {
                let believed_live: Vec<SessionId> = status
                    .borrow()
                    .snapshot
                    .sessions
                    .iter()
                    .filter(|s| LIVE_STATES.contains(&s.state))
                    .map(|s| s.id.clone())
                    .collect();
                reported.retain(|s| believed_live.contains(s));
                // One look at every session; a session it does not show alive (or every
                // session, when the look fails) is then asked on its own.
                let all = if believed_live.is_empty() {
                    None
                } else {
                    match tokio::time::timeout(BACKEND_TIMEOUT, backend.liveness_all()).await {
                        Ok(Ok(all)) => Some(all),
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "cannot survey every session; asking each");
                            None
                        }
                        Err(_) => None,
                    }
                };
                for session in believed_live {
                    let alive_in_all = all
                        .as_ref()
                        .is_some_and(|all| all.get(&session) == Some(&Liveness::Alive));
                    let live = if alive_in_all {
                        Liveness::Alive
                    } else {
                        let Some(live) = liveness(&*backend, &session).await else { continue };
                        live
                    };
                    let status = match live {
                        Liveness::Alive => {
                            reported.remove(&session);
                            continue;
                        }
                        Liveness::Exited { status } => status,
                        Liveness::Missing => None,
                    };
                    if reported.contains(&session) {
                        continue;
                    }
                    tracing::info!(%session, exit_status = status, "session is gone");
                    reported.insert(session.clone());
                    if inbox.send(Input::SessionExited { session, status }).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

fn configured(cfg: &DaemonConfig) -> Vec<SessionId> {
    cfg.engine.sessions.iter().map(|s| s.id.clone()).collect()
}

/// The session's liveness, `None` when it cannot be told now. A backend that is not running
/// at all (no tmux server) holds no session.
async fn liveness(backend: &dyn SessionBackend, session: &SessionId) -> Option<Liveness> {
    match tokio::time::timeout(BACKEND_TIMEOUT, backend.liveness(session)).await {
        Ok(Ok(l)) => Some(l),
        Ok(Err(BackendError::Unavailable { .. } | BackendError::SessionNotFound(_))) => {
            Some(Liveness::Missing)
        }
        Ok(Err(e)) => {
            tracing::warn!(%session, error = %e, "cannot tell whether the session runs");
            None
        }
        Err(_) => {
            tracing::warn!(%session, after_ms = BACKEND_TIMEOUT.as_millis() as u64, "liveness check timed out");
            None
        }
    }
}

async fn adopt(
    backend: &dyn SessionBackend,
    records: &dyn SessionRecords,
    sessions: &[SessionId],
    persisted: &PersistedState,
    seen: &mut HashMap<SessionId, Seen>,
    inbox: &mpsc::Sender<Input>,
) {
    let mut unknown: Vec<SessionId> = sessions.to_vec();
    loop {
        let mut still = Vec::new();
        for session in unknown {
            match liveness(backend, &session).await {
                None => still.push(session),
                Some(Liveness::Alive) => {
                    seen.insert(session.clone(), Seen::Alive);
                    let remembered = persisted.sessions.get(&session);
                    let recorded =
                        tokio::time::timeout(BACKEND_TIMEOUT, records.recorded(&session))
                            .await
                            .ok()
                            .flatten()
                            .unwrap_or_default();
                    let account = recorded
                        .account
                        .or_else(|| remembered.and_then(|p| p.account.clone()));
                    let claude_session = recorded
                        .claude_session
                        .or_else(|| remembered.and_then(|p| p.claude_session.clone()));
                    tracing::info!(%session, account = account.as_ref().map(ToString::to_string).as_deref(), conversation = claude_session.as_ref().map(ToString::to_string).as_deref(), "adopting the running session");
                    let input = Input::SessionStarted {
                        session,
                        claude_session,
                        account,
                    };
                    if inbox.send(input).await.is_err() {
                        return;
                    }
                }
                Some(_) => {
                    seen.insert(session, Seen::Dead);
                }
            }
        }
        if still.is_empty() {
            return;
        }
        tracing::warn!(sessions = %still.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "), "waiting to learn whether these sessions run before launching anything");
        tokio::time::sleep(ADOPTION_RETRY).await;
        unknown = still;
    }
}

fn session_input(event: ObserverEvent, seen: &mut HashMap<SessionId, Seen>) -> Option<Input> {
    match event {
        ObserverEvent::Exited { ref session, .. } => {
            seen.insert(session.clone(), Seen::Dead);
            Some(Input::from(event))
        }
        ObserverEvent::Activity { .. }
        | ObserverEvent::ClaudeSessionLearned { .. }
        | ObserverEvent::ModelLearned { .. } => Some(Input::from(event)),
        ObserverEvent::Observation { .. } | ObserverEvent::Corroboration { .. } => None,
    }
}
