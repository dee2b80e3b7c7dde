//! [`ObserverEvent`]: what an observer of running sessions reports (a detector's verdict, a
//! corroborating fact, a change of activity, an exit, a learned conversation or model), as
//! plain data that converts into the engine's [`Input`].
//!
//! Observers themselves do I/O (a terminal, files) and live outside this crate
//! (`failover-tmux` has one per source); their events are defined here so an embedder's own
//! observers and the loop that feeds the engine share one type.

use crate::engine::{Input, Subject};
use crate::ids::{ClaudeSessionId, SessionId};
use crate::quota::{Corroboration, Detection, SignalSource};
use crate::session::Activity;
use crate::time::UnixMillis;

/// Something an observer of running sessions saw (a detector's verdict, a corroborating
/// fact, a change of activity, an exit, a learned conversation or model), as plain data
/// that converts into the engine's [`Input`].
///
/// Observers themselves do I/O (a terminal, files) and live outside this crate
/// (`failover-tmux` has one per source); their events are defined here so an embedder's own
/// observers and the loop that feeds the engine share one type.
#[derive(Clone, Debug, PartialEq)]
pub enum ObserverEvent {
    /// A detector's verdict on a piece of evidence.
    Observation {
        /// Who it is about: a session (pane, transcript) or an account (statusline).
        subject: Subject,
        /// Which source.
        source: SignalSource,
        /// The verdict and its evidence.
        detection: Detection,
        /// When the evidence was read.
        observed_at: UnixMillis,
    },
    /// A structured source says something is fine with a session (an ordinary reply or a
    /// new prompt in its transcript, the windows' use on its statusline): the engine vetoes
    /// pane evidence it contradicts.
    Corroboration {
        /// The session.
        session: SessionId,
        /// What the source says.
        fact: Corroboration,
        /// When it was read.
        observed_at: UnixMillis,
    },
    /// A session went idle (prompt ready) or started a turn.
    Activity {
        /// The session.
        session: SessionId,
        /// Its new activity.
        activity: Activity,
        /// When the screen showed it.
        observed_at: UnixMillis,
    },
    /// A session's program exited (status when the terminal recorded one) or its session vanished.
    Exited {
        /// The session.
        session: SessionId,
        /// Exit status.
        status: Option<i32>,
    },
    /// A session's conversation id was learned (from its statusline).
    ClaudeSessionLearned {
        /// The session.
        session: SessionId,
        /// The conversation.
        claude_session: ClaudeSessionId,
    },
    /// The model a session uses was learned (its statusline's `model.id`, its transcript's
    /// `message.model`).
    ModelLearned {
        /// The session.
        session: SessionId,
        /// The model id, e.g. `claude-opus-4-1-20250805`.
        model: String,
    },
}

impl From<ObserverEvent> for Input {
    fn from(e: ObserverEvent) -> Self {
        match e {
            ObserverEvent::Observation {
                subject,
                source,
                detection,
                observed_at,
            } => Input::Detection {
                subject,
                source,
                detection,
                observed_at,
            },
            ObserverEvent::Corroboration {
                session,
                fact,
                observed_at,
            } => Input::Corroboration {
                session,
                fact,
                observed_at,
            },
            ObserverEvent::Activity {
                session, activity, ..
            } => Input::SessionActivity { session, activity },
            ObserverEvent::Exited { session, status } => Input::SessionExited { session, status },
            ObserverEvent::ModelLearned { session, model } => {
                Input::SessionModel { session, model }
            }
            ObserverEvent::ClaudeSessionLearned {
                session,
                claude_session,
            } => Input::ClaudeSessionLearned {
                session,
                claude_session,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_engine_inputs() {
        let s = SessionId::new("ccl-0");
        assert_eq!(
            Input::from(ObserverEvent::Exited {
                session: s.clone(),
                status: Some(3)
            }),
            Input::SessionExited {
                session: s.clone(),
                status: Some(3)
            }
        );
        assert_eq!(
            Input::from(ObserverEvent::Activity {
                session: s.clone(),
                activity: Activity::Idle,
                observed_at: UnixMillis(5)
            }),
            Input::SessionActivity {
                session: s.clone(),
                activity: Activity::Idle
            }
        );
        let id = ClaudeSessionId::new("abc");
        assert_eq!(
            Input::from(ObserverEvent::ClaudeSessionLearned {
                session: s.clone(),
                claude_session: id.clone()
            }),
            Input::ClaudeSessionLearned {
                session: s.clone(),
                claude_session: id
            }
        );
        let detection = Detection::clear();
        assert_eq!(
            Input::from(ObserverEvent::Observation {
                subject: Subject::Session(s.clone()),
                source: SignalSource::Pane,
                detection: detection.clone(),
                observed_at: UnixMillis(9)
            }),
            Input::Detection {
                subject: Subject::Session(s),
                source: SignalSource::Pane,
                detection,
                observed_at: UnixMillis(9)
            }
        );
    }
}
