//! Feeds the task queue ([`failover_queue`]) what it needs to know about sessions: the
//! dispatcher's published status, turned into a [`SessionsView`] on a `watch` channel.

use std::sync::Arc;

use failover_core::SessionStateKind::{
    self, Checkpointing, Launching, Prompting, Running, Stopping, Unstarted,
};
use failover_queue::{SessionView, SessionsView};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::DaemonConfig;
use crate::error::DaemonError;
use crate::tasks::Published;

/// Engine states in which the session's process runs.
const ALIVE: [SessionStateKind; 3] = [Running, Prompting, Checkpointing];
/// Engine states of a session being moved or restarted, or not known yet: `unstarted` is
/// also where every session is after a daemon restart until it is adopted, and a session
/// adopted running is not idle or working until its observer has said which. The queue
/// keeps a claim through these (a delivered task is never sent again because the daemon
/// restarted), and does not count them as work.
const MOVING: [SessionStateKind; 4] = [Checkpointing, Stopping, Launching, Unstarted];

/// The queue's view of every configured session.
pub fn sessions_view(p: &Published, config: &DaemonConfig) -> SessionsView {
    let swap_pending = |id| {
        p.snapshot
            .swap
            .as_ref()
            .is_some_and(|s| s.pending.contains(id))
    };
    SessionsView {
        sessions: config
            .engine
            .sessions
            .iter()
            .filter_map(|spec| {
                let st = p.snapshot.sessions.iter().find(|s| s.id == spec.id)?;
                Some(SessionView {
                    name: spec.id.clone(),
                    dir: spec.dir.clone(),
                    account: st.account.clone(),
                    claude_session: st.claude_session.clone(),
                    idle: st.state == Running && st.activity == Some(failover_core::Activity::Idle),
                    mid_swap: MOVING.contains(&st.state)
                        || (st.state == Running && st.activity.is_none())
                        || swap_pending(&spec.id),
                    alive: ALIVE.contains(&st.state),
                    turns_started: p.facts.turns_started.get(&spec.id).copied().unwrap_or(0),
                })
            })
            .collect(),
    }
}

/// Republishes the view on every status or configuration change, until `cancel`.
pub async fn run(
    mut status: watch::Receiver<Arc<Published>>,
    mut config: watch::Receiver<Arc<DaemonConfig>>,
    out: watch::Sender<SessionsView>,
    cancel: CancellationToken,
) -> Result<(), DaemonError> {
    loop {
        let view = sessions_view(&status.borrow_and_update(), &config.borrow_and_update());
        out.send_if_modified(|v| {
            if *v == view {
                false
            } else {
                *v = view;
                true
            }
        });
        tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(()),
            r = status.changed() => if r.is_err() { return Ok(()) },
            r = config.changed() => if r.is_err() { return Ok(()) },
        }
    }
}
