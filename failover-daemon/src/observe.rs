//! What the session observers report, and the seam through which the daemon starts them.
//!
//! Observers (in `failover-tmux`: a control-mode pane watcher per session, a transcript
//! tailer and a statusline spool watcher) run the detectors themselves and send typed
//! [`ObserverEvent`]s into one bounded channel the daemon owns. The daemon starts the
//! background watchers once, and a pane watcher each time a session is adopted or launched
//! (a pane watcher ends when its session's program exits), through [`Observers`].

use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

pub use failover_core::ObserverEvent;
use failover_core::{ClaudeSessionId, SessionId};

/// Starts observers. Implemented over tmux in production ([`crate::production`]); tests
/// use [`NoObservers`] and send [`ObserverEvent`]s themselves.
pub trait Observers: Send + Sync {
    /// Watchers not tied to one session (transcripts, statusline spools), each with a name.
    fn background(
        &self,
        tx: mpsc::Sender<ObserverEvent>,
    ) -> Vec<(&'static str, BoxFuture<'static, ()>)>;

    /// A watcher of one running session; it ends when the session's program exits.
    fn session(
        &self,
        session: SessionId,
        tx: mpsc::Sender<ObserverEvent>,
    ) -> Option<BoxFuture<'static, ()>>;

    /// `claude_session` now runs in `session` (its transcript lines are about it).
    fn track(&self, claude_session: ClaudeSessionId, session: SessionId);
}

/// No observers at all: every observation comes from whoever holds the sender.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoObservers;

impl Observers for NoObservers {
    fn background(
        &self,
        _tx: mpsc::Sender<ObserverEvent>,
    ) -> Vec<(&'static str, BoxFuture<'static, ()>)> {
        Vec::new()
    }

    fn session(
        &self,
        _session: SessionId,
        _tx: mpsc::Sender<ObserverEvent>,
    ) -> Option<BoxFuture<'static, ()>> {
        None
    }

    fn track(&self, _claude_session: ClaudeSessionId, _session: SessionId) {}
}
