//! [`Corroboration`]: what a structured source says is *fine*, so that the engine can veto
//! pane text it contradicts.
//!
//! Detectors answer "what is wrong"; a verdict of [`Verdict::Clear`](super::Verdict::Clear)
//! says nothing either way. Two structured facts do contradict a limit read off the screen,
//! and the observers report them besides the detections:
//!
//! - the transcript shows the session's latest assistant message is an ordinary one from a
//!   real model (no `isApiErrorMessage`, not `<synthetic>`): the API answered the turn, so
//!   limit wording on the screen is conversation content (a reply or a tool's output quoting
//!   it), not Claude Code reporting a refusal. A new prompt line starts a turn that has no
//!   answer yet, and an error line is an answer that failed: both end the fact;
//! - the statusline shows a window's use under 100 %.
//!
//! The rule that uses them is in the engine (`engine/evidence.rs`): see
//! [`VetoReason`].

use crate::account::WindowUsage;

/// A structured "all is well" fact about one session.
#[derive(Clone, Debug, PartialEq)]
pub enum Corroboration {
    /// Transcript: the latest assistant message is an ordinary one from the model.
    OrdinaryReply,
    /// Transcript: a prompt was written; the turn it starts has no answer yet.
    PromptWritten,
    /// Statusline: the use of every window the document reports (windows already reset
    /// left out). Replaces the previous reading.
    Usage(Vec<WindowUsage>),
}

impl Corroboration {
    /// A short snake_case name for logs and events.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::OrdinaryReply => "ordinary_reply",
            Self::PromptWritten => "prompt_written",
            Self::Usage(_) => "usage",
        }
    }
}

/// Why pane evidence was vetoed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VetoReason {
    /// The transcript shows the session's latest assistant message is an ordinary reply:
    /// vetoes a pane `quota_exhausted` or `auth_required`.
    OrdinaryReply,
    /// The statusline shows the verdict's window under 100 % (under the near-limit floor
    /// for a pane `near_limit`).
    StatuslineBelowLimit,
}

impl VetoReason {
    /// The snake_case name used in metrics (`reason` label) and events.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OrdinaryReply => "transcript_ordinary_reply",
            Self::StatuslineBelowLimit => "statusline_below_limit",
        }
    }
}

impl std::fmt::Display for VetoReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
