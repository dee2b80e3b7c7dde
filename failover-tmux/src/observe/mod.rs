//! Event-driven observation of sessions. Each observer is a future the caller spawns (into
//! its own `JoinSet`) and sends typed [`ObserverEvent`]s into a bounded channel the caller
//! owns:
//!
//! - [`PaneObserver`]: a tmux control-mode client per session; `%output` marks the screen
//!   dirty, a capture follows within the debounce window, and the pane detector and
//!   [`activity`] classifier run only when the screen changed;
//! - [`TranscriptWatcher`]: `notify` on the shared projects tree; tails appended JSONL
//!   lines and runs the transcript detector on each; also reports, once per change, that
//!   a session's latest assistant message is an ordinary reply or that a new prompt was
//!   written ([`ObserverEvent::Corroboration`]);
//! - [`StatuslineWatcher`]: `notify` on the statusline spool folders; runs the statusline
//!   detector on each document, reports the windows' use of a session's document
//!   ([`ObserverEvent::Corroboration`]) and learns conversation ids.
//!
//! No observer polls. `notify` callbacks only `try_send` into a bounded queue, and only
//! events that can change content (not opens and read-closes, which our own reads cause);
//! a full queue triggers one rescan, whose reads cause no further events. Detectors are `Arc<dyn QuotaDetector>`, one per
//! source. To keep the channel quiet, a detection is sent when its verdict is not `Clear`,
//! or when it is `Clear` right after one that was not (the all-clear); the statusline
//! watcher also sends nothing for a document that is byte for byte the one it last read
//! from the same file.

/// The pure pane activity classifier, kept in `failover-core` beside the quota detectors.
pub use failover_core::quota::activity;
mod fs_events;
mod gate;
mod pane;
mod spool;
mod transcripts;

use failover_core::{
    Activity, ClaudeSessionId, Corroboration, Detection, Input, SessionId, SignalSource, Subject,
    UnixMillis,
};

pub use pane::{PaneObserver, PaneObserverConfig};
pub use spool::StatuslineWatcher;
pub use transcripts::{Tracker, TranscriptWatcher};

/// Something an observer saw.
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
    /// A session's program exited (status when tmux recorded one) or its session vanished.
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
