//! The engine's bookkeeping for one configured session: its [`SessionState`] plus what
//! the engine remembers about it across states.

use crate::account::WindowUsage;
use crate::engine::PaneStreak;
use crate::ids::ClaudeSessionId;
use crate::session::{SessionSpec, SessionState};
use crate::time::UnixMillis;

/// The engine's record of one configured session: its state plus the data that survives
/// every state.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SessionMachine {
    /// What the operator configured.
    pub(crate) spec: SessionSpec,
    /// Where it stands.
    pub(crate) state: SessionState,
    /// Its conversation, once known; every relaunch resumes it.
    pub(crate) claude_session: Option<ClaudeSessionId>,
    /// `claude_session` was chosen by a fresh launch and no turn has completed in it since:
    /// the CLI writes no transcript until the first prompt, so a resume of it that finds
    /// none lost nothing, and the session starts a new conversation instead of halting.
    pub(crate) conversation_unproven: bool,
    /// A prompt cut short by a swap or a park, replayed once the session is idle again.
    pub(crate) pending_prompt: Option<String>,
    /// Evidence about this session observed before this instant is stale: it is the start
    /// of its last completed turn (what came before was followed by a turn that went
    /// through), or its launch on the account it is on now (what came before is about a
    /// previous placement, possibly another account).
    pub(crate) stale_before: Option<UnixMillis>,
    /// When the turn in progress started (the first working report after idle, or the
    /// typing of a prompt the engine replays).
    pub(crate) turn_started_at: Option<UnixMillis>,
    /// Launched by the engine (or adopted where the previous run launched it) and no turn
    /// reported working since: a resumed screen shows the old conversation, error messages
    /// included, so until the CLI reports a turn on this launch what the pane shows is
    /// history, not news (structured sources still count).
    pub(crate) pane_shows_history: bool,
    /// When its own evidence last confirmed a quota or login failure, until a turn that
    /// started later completes: the turn it hit failed, so its prompt is replayed after a
    /// move.
    pub(crate) quota_hit_at: Option<UnixMillis>,
    /// Consecutive identical pane verdicts.
    pub(crate) streak: Option<PaneStreak>,
    /// The transcript's latest assistant message on this placement is an ordinary reply
    /// (no prompt and no API error written since): pane limits are vetoed.
    pub(crate) replied: bool,
    /// The exit status of its last exit, until it works again (a session that keeps dying
    /// says why).
    pub(crate) last_exit: Option<i32>,
    /// The windows' use from the session's latest statusline on this placement.
    pub(crate) usage: Vec<WindowUsage>,
    /// When the engine last launched it: structured facts read before are about the
    /// previous placement.
    pub(crate) launched_at: Option<UnixMillis>,
    /// Deaths (exits, failed launches) since its last completed turn.
    pub(crate) deaths: u32,
    /// The model it asked for, when known (statusline `model.id`, transcript
    /// `message.model`). A report of another family once that model's weekly window is used
    /// up on its account is Claude Code's own fallback, and does not replace it.
    pub(crate) model: Option<String>,
}

impl SessionMachine {
    /// A configured session not started yet.
    pub(crate) fn new(spec: SessionSpec) -> Self {
        Self {
            spec,
            state: SessionState::Unstarted { last_account: None },
            claude_session: None,
            conversation_unproven: false,
            pending_prompt: None,
            stale_before: None,
            turn_started_at: None,
            pane_shows_history: false,
            quota_hit_at: None,
            streak: None,
            replied: false,
            last_exit: None,
            usage: Vec::new(),
            launched_at: None,
            deaths: 0,
            model: None,
        }
    }

    /// Whether a stop may be started now.
    pub(crate) fn stoppable(&self) -> bool {
        matches!(
            self.state,
            SessionState::Running {
                stop_held_until: None,
                ..
            }
        )
    }
}
