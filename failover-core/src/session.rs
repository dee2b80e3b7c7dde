//! Sessions: what the operator asked for, and where each one stands.

use std::fmt;
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

/// Where one session stands. Each variant carries exactly the data valid in it: a request
/// id and its deadline exist only while an effect is outstanding, an account only while
/// the session is on one.
///
/// Data that survives every state (the conversation id, an interrupted prompt to replay)
/// lives beside the state, not in it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
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
        /// After a failed stop (it may still run here), no new stop is tried before this
        /// instant.
        stop_held_until: Option<UnixMillis>,
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
        /// The last activity reported while the prompt was being typed, applied once the
        /// typing is confirmed: a fast turn can be reported working and idle before then,
        /// and activity is reported on change only. An idle report with no working one
        /// before it is not kept (it can be the screen before the typing).
        reported: Option<Activity>,
        /// Carried over from [`Running`](Self::Running): no stop before this instant.
        stop_held_until: Option<UnixMillis>,
    },
    /// A [`Checkpoint`](crate::Effect::Checkpoint) is outstanding; a stop follows (or, for
    /// a checkpoint taken again once stopped, the rest of the move).
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
        /// The session is already stopped: this checkpoint reads its transcript again, final
        /// now, for the prompt to replay (see [`Stopping`](Self::Stopping)'s
        /// `recheck_on_evidence`); the move goes on once it comes back.
        after_stop: bool,
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
        /// The checkpoint came back before any evidence of the session's own quota
        /// failure: if such evidence arrives before the stop completes, it is checkpointed
        /// again once stopped.
        ///
        /// A checkpoint reads the last prompt from the transcript before the stop. Moves
        /// start side by side on the first account-wide signal, often before a session's
        /// own evidence of the quota is read, and its transcript may not hold yet the
        /// prompt that hit the limit (typed an instant before): the checkpoint then found
        /// nothing to replay, or an older prompt. When that evidence lands while the
        /// session stops, the transcript, final once stopped, is read again and the prompt
        /// found then is the one replayed.
        recheck_on_evidence: bool,
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

/// Which [`SessionState`] a session is in, without its data: for status tables, metrics and
/// JSON. Its [`Display`](fmt::Display) and serde names are the snake_case names below.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SessionStateKind {
    /// [`SessionState::Unstarted`]: `unstarted`.
    Unstarted,
    /// [`SessionState::Launching`]: `launching`.
    Launching,
    /// [`SessionState::Running`]: `running`.
    Running,
    /// [`SessionState::Prompting`]: `prompting`.
    Prompting,
    /// [`SessionState::Checkpointing`]: `checkpointing`.
    Checkpointing,
    /// [`SessionState::Stopping`]: `stopping`.
    Stopping,
    /// [`SessionState::Parked`]: `parked`.
    Parked,
    /// [`SessionState::Dead`]: `dead`.
    Dead,
    /// [`SessionState::Halted`]: `halted`.
    Halted,
}

impl SessionStateKind {
    /// The snake_case name (`running`, `stopping`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unstarted => "unstarted",
            Self::Launching => "launching",
            Self::Running => "running",
            Self::Prompting => "prompting",
            Self::Checkpointing => "checkpointing",
            Self::Stopping => "stopping",
            Self::Parked => "parked",
            Self::Dead => "dead",
            Self::Halted => "halted",
        }
    }
}

impl fmt::Display for SessionStateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl SessionState {
    /// Which state it is, without its data.
    pub const fn kind(&self) -> SessionStateKind {
        match self {
            Self::Unstarted { .. } => SessionStateKind::Unstarted,
            Self::Launching { .. } => SessionStateKind::Launching,
            Self::Running { .. } => SessionStateKind::Running,
            Self::Prompting { .. } => SessionStateKind::Prompting,
            Self::Checkpointing { .. } => SessionStateKind::Checkpointing,
            Self::Stopping { .. } => SessionStateKind::Stopping,
            Self::Parked { .. } => SessionStateKind::Parked,
            Self::Dead { .. } => SessionStateKind::Dead,
            Self::Halted { .. } => SessionStateKind::Halted,
        }
    }

    /// A short snake_case name for status tables (the name of its [`kind`](Self::kind)).
    pub const fn name(&self) -> &'static str {
        self.kind().as_str()
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

    /// While [`Running`](Self::Running) (or typing a prompt) after a failed stop: the
    /// instant before which no new stop is tried.
    pub fn stop_held_until(&self) -> Option<UnixMillis> {
        match self {
            Self::Running {
                stop_held_until, ..
            }
            | Self::Prompting {
                stop_held_until, ..
            } => *stop_held_until,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_expose_only_what_they_carry() {
        let a = AccountId::new("a");
        let running = SessionState::Running {
            account: a.clone(),
            activity: None,
            stop_held_until: Some(UnixMillis(5)),
        };
        assert_eq!(running.stop_held_until(), Some(UnixMillis(5)));
        assert_eq!(running.account(), Some(&a));
        assert_eq!(running.pending_request(), None);
        assert!(!running.is_swap_step());

        let stopping = SessionState::Stopping {
            account: a.clone(),
            request: RequestId::new(7),
            deadline: UnixMillis(10),
            purpose: StopPurpose::Swap {
                to: AccountId::new("b"),
            },
            recheck_on_evidence: false,
        };
        assert_eq!(
            stopping.pending_request(),
            Some((RequestId::new(7), UnixMillis(10)))
        );
        assert!(stopping.is_swap_step());

        let parking = SessionState::Stopping {
            account: a.clone(),
            request: RequestId::new(8),
            deadline: UnixMillis(10),
            purpose: StopPurpose::Park,
            recheck_on_evidence: false,
        };
        assert!(!parking.is_swap_step());

        let parked = SessionState::Parked {
            last_account: Some(a.clone()),
        };
        assert_eq!(parked.account(), None);
        assert_eq!(parked.home(), Some(&a));
        assert_eq!(parked.name(), "parked");
        assert_eq!(parked.kind(), SessionStateKind::Parked);
    }

    #[test]
    fn state_kinds_are_named_in_snake_case_everywhere() {
        for (kind, name) in [
            (SessionStateKind::Unstarted, "unstarted"),
            (SessionStateKind::Launching, "launching"),
            (SessionStateKind::Running, "running"),
            (SessionStateKind::Prompting, "prompting"),
            (SessionStateKind::Checkpointing, "checkpointing"),
            (SessionStateKind::Stopping, "stopping"),
            (SessionStateKind::Parked, "parked"),
            (SessionStateKind::Dead, "dead"),
            (SessionStateKind::Halted, "halted"),
        ] {
            assert_eq!(kind.to_string(), name);
            assert_eq!(serde_json::to_value(kind).unwrap(), name);
            let back: SessionStateKind = serde_json::from_value(name.into()).unwrap();
            assert_eq!(back, kind);
        }
    }
}
