//! [`Observation`]: what the session observers (pane watcher, transcript tailer, statusline
//! spool, activity detection) report. The quota monitor turns evidence into
//! [`Input::Detection`](failover_core::Input::Detection) through the detectors; the other
//! observations become session inputs directly.

use failover_core::{Activity, ClaudeSessionId, SessionId, Subject, UnixMillis};

/// One thing an observer saw.
#[derive(Clone, Debug, PartialEq)]
pub enum Observation {
    /// The visible text of a session's pane changed.
    Pane {
        /// The session.
        session: SessionId,
        /// The screen (wrapped lines joined).
        text: String,
        /// When it was captured.
        observed_at: UnixMillis,
    },
    /// A line was appended to a session's transcript.
    TranscriptLine {
        /// The session.
        session: SessionId,
        /// The JSONL line.
        line: String,
        /// When it was written (the line's own timestamp, or when it was read).
        observed_at: UnixMillis,
    },
    /// Claude Code handed its statusline command a JSON document.
    Statusline {
        /// The account (spool per config dir) or session it is about.
        subject: Subject,
        /// The JSON document.
        json: String,
        /// When it was written.
        observed_at: UnixMillis,
    },
    /// Rate-limit response headers (as `name: value` lines) seen for an account.
    Headers {
        /// The account.
        subject: Subject,
        /// The headers.
        text: String,
        /// When the response was served.
        observed_at: UnixMillis,
    },
    /// A session went idle or started working.
    Activity {
        /// The session.
        session: SessionId,
        /// Its new activity.
        activity: Activity,
    },
    /// A session's conversation id was learned.
    ClaudeSession {
        /// The session.
        session: SessionId,
        /// Its conversation.
        claude_session: ClaudeSessionId,
    },
    /// A session's process exited or its tmux session vanished.
    Exited {
        /// The session.
        session: SessionId,
        /// The exit status, when known.
        status: Option<i32>,
    },
}
