//! Sessions: what the operator asked for, and where each one stands.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ids::SessionId;

/// A session the operator wants running: a name, a project directory, maybe a standing task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSpec {
    /// The session's name (also its tmux session name).
    pub id: SessionId,
    /// The working directory Claude Code runs in.
    pub dir: PathBuf,
    /// A standing task prompt, sent once when the session first starts.
    pub task: Option<String>,
}

/// Whether a live session is waiting at its prompt, in the middle of a turn, or stopped at
/// the folder-trust dialog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    /// The prompt is ready; no turn in progress.
    Idle,
    /// A turn is in progress.
    Working,
    /// Claude Code asks whether to trust the working directory (no account has trusted
    /// it): the session waits until someone answers its dialog. Never answered on the
    /// person's behalf.
    WaitingForTrust,
}

use crate::ids::{AccountId, RequestId};
use crate::time::UnixMillis;

/// Why a session is being checkpointed and stopped.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StopPurpose {
    /// Part of the swap in flight: it relaunches on `to` (or the best usable account, if
    /// `to` stopped being usable meanwhile) once stopped.
    Swap {
        /// The destination chosen when the move started.
        to: AccountId,
    },
    /// Every account is exhausted: it stays stopped until one resets.
    Park,
}

/// Why a session is being launched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LaunchPurpose {
    /// First start (at startup, or after a restart found it not running).
    Start,
    /// Relaunch after it died.
    Relaunch,
    /// Resume after every account was exhausted.
    Unpark,
    /// The last step of a swap.
    Swap,
}

/// Whether the prompt a move found must be looked up again once the session is stopped.
///
/// A checkpoint reads the last prompt from the transcript before the stop. Moves start
/// side by side on the first account-wide signal, often before a session's own evidence
/// of the quota is read, and its transcript may not hold yet the prompt that hit the limit
/// (typed an instant before): the checkpoint then found nothing to replay, or an older
/// prompt. When that evidence lands while the session stops, the transcript, final once
/// stopped, is read again and the prompt found then is the one replayed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Recheck {
    /// Nothing to look up again.
    #[default]
    No,
    /// The checkpoint came back before any evidence of the session's own quota failure:
    /// if such evidence arrives before the stop completes, a checkpoint is taken again
    /// once stopped.
    IfEvidence,
    /// Stopped, with a checkpoint taken again outstanding: its prompt is replayed, then
    /// the move goes on as after any stop.
    AfterStop,
}

/// Where one session stands. Each variant carries exactly the data valid in it: a request
/// id and its deadline exist only while an effect is outstanding, an account only while
/// the session is on one.
///
/// Data that survives every state (the conversation id, an interrupted prompt to replay)
/// lives beside the state, not in it.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionState {
    /// Configured, not seen running, not launched yet (startup, or after a restart).
    Unstarted {
        /// The account it last ran on, when known.
        last_account: Option<AccountId>,
    },
    /// A [`Launch`](crate::Effect::Launch) is outstanding.
    Launching {
        /// Where it is being launched.
        account: AccountId,
        /// The launch request.
        request: RequestId,
        /// When the engine stops waiting for the reply.
        deadline: UnixMillis,
        /// Why.
        purpose: LaunchPurpose,
    },
    /// Running on `account`.
    Running {
        /// The account.
        account: AccountId,
        /// Idle or working, once reported.
        activity: Option<Activity>,
    },
    /// Running; a [`SendPrompt`](crate::Effect::SendPrompt) replaying the interrupted prompt
    /// is outstanding.
    Prompting {
        /// The account.
        account: AccountId,
        /// The prompt request.
        request: RequestId,
        /// When the engine stops waiting for the reply.
        deadline: UnixMillis,
    },
    /// A [`Checkpoint`](crate::Effect::Checkpoint) is outstanding; a stop follows (or, for
    /// a checkpoint taken again once stopped, the rest of the move: see `Recheck`).
    Checkpointing {
        /// The account it is still on.
        account: AccountId,
        /// The checkpoint request.
        request: RequestId,
        /// When the engine stops waiting for the reply.
        deadline: UnixMillis,
        /// Why it is being stopped.
        purpose: StopPurpose,
        /// Whether its current turn is being cut short, so the prompt must be replayed.
        interrupted: bool,
    },
    /// A [`Stop`](crate::Effect::Stop) is outstanding.
    Stopping {
        /// The account it is still on.
        account: AccountId,
        /// The stop request.
        request: RequestId,
        /// When the engine stops waiting for the reply.
        deadline: UnixMillis,
        /// What happens once it is stopped.
        purpose: StopPurpose,
    },
    /// Stopped because every account is exhausted; resumes when one resets.
    Parked {
        /// The account it last ran on.
        last_account: Option<AccountId>,
    },
    /// Its process died; it is relaunched at `relaunch_at`.
    Dead {
        /// The account it ran on.
        account: AccountId,
        /// When it is relaunched.
        relaunch_at: UnixMillis,
    },
    /// It cannot be resumed (transcript or working directory missing). The engine does not
    /// start a blank conversation in its place; an operator
    /// [`Resume`](crate::Command::Resume) retries.
    Halted {
        /// The account it was on, when known.
        account: Option<AccountId>,
        /// What went wrong.
        reason: String,
    },
}

impl SessionState {
    /// A short snake_case name for status tables.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Unstarted { .. } => "unstarted",
            Self::Launching { .. } => "launching",
            Self::Running { .. } => "running",
            Self::Prompting { .. } => "prompting",
            Self::Checkpointing { .. } => "checkpointing",
            Self::Stopping { .. } => "stopping",
            Self::Parked { .. } => "parked",
            Self::Dead { .. } => "dead",
            Self::Halted { .. } => "halted",
        }
    }

    /// The account the session is on (running, or being launched, stopped or
    /// checkpointed there).
    pub fn account(&self) -> Option<&AccountId> {
        match self {
            Self::Launching { account, .. }
            | Self::Running { account, .. }
            | Self::Prompting { account, .. }
            | Self::Checkpointing { account, .. }
            | Self::Stopping { account, .. }
            | Self::Dead { account, .. } => Some(account),
            Self::Unstarted { .. } | Self::Parked { .. } | Self::Halted { .. } => None,
        }
    }

    /// The account it runs on or last ran on, for the persisted record.
    pub fn home(&self) -> Option<&AccountId> {
        match self {
            Self::Unstarted { last_account } | Self::Parked { last_account } => {
                last_account.as_ref()
            }
            Self::Halted { account, .. } => account.as_ref(),
            _ => self.account(),
        }
    }

    /// The outstanding request and its deadline, if any.
    pub fn pending_request(&self) -> Option<(RequestId, UnixMillis)> {
        match self {
            Self::Launching {
                request, deadline, ..
            }
            | Self::Prompting {
                request, deadline, ..
            }
            | Self::Checkpointing {
                request, deadline, ..
            }
            | Self::Stopping {
                request, deadline, ..
            } => Some((*request, *deadline)),
            _ => None,
        }
    }

    /// Whether the session is in one of the steps of a swap (checkpoint, stop, launch).
    pub fn is_swap_step(&self) -> bool {
        matches!(
            self,
            Self::Checkpointing {
                purpose: StopPurpose::Swap { .. },
                ..
            } | Self::Stopping {
                purpose: StopPurpose::Swap { .. },
                ..
            } | Self::Launching {
                purpose: LaunchPurpose::Swap,
                ..
            }
        )
    }
}

/// The engine's record of one configured session: its state plus the data that survives
/// every state.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SessionMachine {
    /// What the operator configured.
    pub(crate) spec: SessionSpec,
    /// Where it stands.
    pub(crate) state: SessionState,
    /// Its conversation, once known; every relaunch resumes it.
    pub(crate) claude_session: Option<crate::ids::ClaudeSessionId>,
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
    /// The last activity report that came while a prompt was being typed (state
    /// `Prompting`), applied once the typing is confirmed: a fast turn can be reported
    /// working and idle before then, and the observer reports changes only.
    pub(crate) activity_while_prompting: Option<Activity>,
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
    pub(crate) streak: Option<crate::engine::PaneStreak>,
    /// The transcript's latest assistant message on this placement is an ordinary reply
    /// (no prompt and no API error written since): pane limits are vetoed.
    pub(crate) replied: bool,
    /// The exit status of its last exit, until it works again (a session that keeps dying
    /// says why).
    pub(crate) last_exit: Option<i32>,
    /// The windows' use from the session's latest statusline on this placement.
    pub(crate) usage: Vec<crate::account::WindowUsage>,
    /// When the engine last launched it: structured facts read before are about the
    /// previous placement.
    pub(crate) launched_at: Option<UnixMillis>,
    /// Deaths (exits, failed launches) since its last completed turn.
    pub(crate) deaths: u32,
    /// After a failed stop, no new stop is tried before this instant.
    pub(crate) hold_until: Option<UnixMillis>,
    /// Whether its prompt is looked up again once it is stopped (while being moved).
    pub(crate) recheck: Recheck,
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
            activity_while_prompting: None,
            pane_shows_history: false,
            quota_hit_at: None,
            streak: None,
            replied: false,
            last_exit: None,
            usage: Vec::new(),
            launched_at: None,
            deaths: 0,
            hold_until: None,
            recheck: Recheck::No,
            model: None,
        }
    }

    /// Whether a stop may be started now.
    pub(crate) fn stoppable(&self) -> bool {
        self.hold_until.is_none() && matches!(self.state, SessionState::Running { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_expose_only_what_they_carry() {
        let a = AccountId::new("a");
        let running = SessionState::Running {
            account: a.clone(),
            activity: None,
        };
        assert_eq!(running.account(), Some(&a));
        assert_eq!(running.pending_request(), None);
        assert!(!running.is_swap_step());

        let stopping = SessionState::Stopping {
            account: a.clone(),
            request: RequestId(7),
            deadline: UnixMillis(10),
            purpose: StopPurpose::Swap {
                to: AccountId::new("b"),
            },
        };
        assert_eq!(
            stopping.pending_request(),
            Some((RequestId(7), UnixMillis(10)))
        );
        assert!(stopping.is_swap_step());

        let parking = SessionState::Stopping {
            account: a.clone(),
            request: RequestId(8),
            deadline: UnixMillis(10),
            purpose: StopPurpose::Park,
        };
        assert!(!parking.is_swap_step());

        let parked = SessionState::Parked {
            last_account: Some(a.clone()),
        };
        assert_eq!(parked.account(), None);
        assert_eq!(parked.home(), Some(&a));
        assert_eq!(parked.name(), "parked");
    }
}
