//! [`Effect`]: the closed set of everything the engine can ask the outside world to do.

use std::path::PathBuf;
use std::time::Duration;

use crate::account::AccountState;
use crate::ids::{AccountId, ClaudeSessionId, CommandId, RequestId, SessionId};
use crate::ledger::{AccountNews, ActiveNews};
use crate::notify::Notification;
use crate::quota::VetoReason;
use crate::state::PersistedState;

/// The engine's answer to an operator [`Command`](crate::Command).
#[derive(Clone, Debug, PartialEq)]
pub enum CommandReply {
    /// Accepted; the work it starts shows in later effects and snapshots.
    Accepted,
    /// Refused, with the reason.
    Refused(CommandRefusal),
}

/// Why a command was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandRefusal {
    /// No account of that name.
    #[error("unknown account {0}")]
    UnknownAccount(AccountId),
    /// The account cannot take sessions now (exhausted, needs login).
    #[error("account {account} is not usable: {}", state.name())]
    AccountUnusable {
        /// The account.
        account: AccountId,
        /// Its state.
        state: AccountState,
    },
    /// No other account can take the sessions.
    #[error("no usable account to swap to")]
    NoUsableAccount,
    /// A swap is already running.
    #[error("a swap is already in progress")]
    SwapInProgress,
    /// The engine is starting up, paused or draining.
    #[error("the engine is {0}")]
    NotRunning(Standstill),
    /// The command does not apply under the configured policy.
    #[error("{0}")]
    Unsupported(Unsupported),
}

/// Why the engine takes no swap command now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Standstill {
    /// Waiting for [`Input::AdoptionComplete`](crate::Input::AdoptionComplete).
    #[error("starting up")]
    StartingUp,
    /// Paused by an operator.
    #[error("paused")]
    Paused,
    /// Draining: finishing what is in flight, starting nothing new.
    #[error("draining")]
    Draining,
}

/// A command that does not apply under the configured policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Unsupported {
    /// `swap-now` and `swap-to` under the `spread` policy, where every session has its own
    /// account.
    #[error(
        "swap-now and swap-to need the single-active policy; under spread every session has \
         its own account"
    )]
    SwapUnderSpread,
}

/// Something the engine asks for. Effects that expect a reply carry a [`RequestId`]; the
/// reply comes back as [`Input::EffectFinished`](crate::Input::EffectFinished).
///
/// Deliberately not `#[non_exhaustive]`: an embedder must execute every effect, so a new
/// one breaks its build instead of being skipped (see the crate docs, "Which enums may
/// grow").
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Write a checkpoint of the session (conversation, account, dir, task, last prompt,
    /// last tool call). Reply: `Checkpointed` or `Failed`. Asked before a stop, and again
    /// after it when evidence read meanwhile shows the turn was cut short (the session is
    /// then no longer running: the checkpoint reads only its transcript).
    Checkpoint {
        /// Tags the reply.
        request: RequestId,
        /// The session.
        session: SessionId,
        /// The account it is on (or was on, when asked after the stop).
        account: AccountId,
        /// Its conversation, when known.
        claude_session: Option<ClaudeSessionId>,
        /// Its working directory.
        dir: PathBuf,
        /// Its current task, if any.
        task: Option<String>,
    },
    /// Stop the session at a turn boundary. Reply: `Stopped` or `Failed`.
    Stop {
        /// Tags the reply.
        request: RequestId,
        /// The session.
        session: SessionId,
        /// How long its program gets to exit by itself before it is killed
        /// ([`EngineConfig::stop_grace`](crate::EngineConfig::stop_grace)); pass it to
        /// [`SessionBackend::stop`](crate::SessionBackend::stop).
        grace: Duration,
    },
    /// Start the session on an account, resuming a conversation when `resume` is set.
    /// Reply: `Launched` or `Failed`.
    ///
    /// **Activity contract.** The reply says the program started, not that it is ready: once
    /// the launched session shows its prompt, report
    /// [`Input::SessionActivity`](crate::Input::SessionActivity) with
    /// [`Activity::Idle`](crate::Activity::Idle) (and, as it runs turns, `Working` then
    /// `Idle` again). A prompt to replay after a move (the turn the failover interrupted) is
    /// sent, as [`Effect::SendPrompt`], only after that report: without it the engine keeps
    /// the prompt and the session never gets it. `failover-tmux`'s pane observer reports
    /// activity from the screen ([`quota::activity_from_screen`](crate::quota::activity_from_screen)
    /// classifies it).
    Launch {
        /// Tags the reply.
        request: RequestId,
        /// The session.
        session: SessionId,
        /// The account.
        account: AccountId,
        /// That account's `CLAUDE_CONFIG_DIR`.
        config_dir: PathBuf,
        /// The session's working directory.
        dir: PathBuf,
        /// The conversation to resume.
        resume: Option<ClaudeSessionId>,
    },
    /// Type a prompt into the session and submit it. Reply: `PromptSent`, `ResumedTurnOver`
    /// (not typed: the resumed program took its turn up and finished it) or `Failed`.
    /// Asked for a replayed prompt once the session reported itself idle (see
    /// [`Effect::Launch`]); the turn it starts ends with the next
    /// [`Activity::Idle`](crate::Activity::Idle) report (or ended already, with
    /// `ResumedTurnOver`).
    SendPrompt {
        /// Tags the reply.
        request: RequestId,
        /// The session.
        session: SessionId,
        /// The prompt.
        text: String,
    },
    /// Tell people. No reply.
    Notify(Notification),
    /// Store this state durably (crash-safe). No reply. The latest one wins.
    Persist(PersistedState),
    /// Tell the other hosts what this engine's own evidence made of an account (shared
    /// ledger only). No reply.
    PublishAccount(AccountNews),
    /// Tell the other hosts the pool moved to this account by this engine's own decision
    /// (shared ledger, `single-active` only). No reply.
    PublishActive(ActiveNews),
    /// Take the swap lease shared by every host before starting a swap (shared ledger
    /// only). Reply: [`EffectOutcome::Lease`](crate::EffectOutcome::Lease); no reply
    /// within the effect timeout counts as an unreachable ledger.
    AcquireLease {
        /// Tags the reply.
        request: RequestId,
    },
    /// Give the swap lease back: the swap it was taken for is over. No reply.
    ReleaseLease,
    /// Read the usage of these accounts now (Anthropic's OAuth usage endpoint) and report
    /// each as [`Input::UsageObserved`](crate::Input::UsageObserved): the engine is about
    /// to choose a destination and its knowledge of them is over a minute old. It waits
    /// for the reports at most [`USAGE_READ_WAIT`](crate::config::USAGE_READ_WAIT), then
    /// chooses with what it has; a read that fails needs no report. No reply. Emitted only
    /// with [`EngineConfig::read_usage_before_choosing`](crate::EngineConfig).
    ///
    /// Added for choosing the next account.
    ReadUsage {
        /// The accounts to read (none of them has a session feeding its statusline).
        accounts: Vec<AccountId>,
    },
    /// Answer an operator command. No reply.
    Reply {
        /// The command's id.
        id: CommandId,
        /// The answer.
        reply: CommandReply,
    },
    /// For the record (metrics, event stream): pane evidence about a session was not acted
    /// on because a structured source contradicts it. No reply.
    ///
    /// Added for the corroboration of pane evidence.
    DetectionVetoed {
        /// The session the pane belongs to.
        session: SessionId,
        /// The account it is on.
        account: AccountId,
        /// The vetoed verdict's name (`quota_exhausted`, `auth_required`, `near_limit`).
        verdict: &'static str,
        /// The pane text the verdict rested on.
        evidence: Option<String>,
        /// Which structured fact contradicts it.
        reason: VetoReason,
    },
}

impl Effect {
    /// The request id the reply will carry, for effects that expect one.
    pub fn request(&self) -> Option<RequestId> {
        match self {
            Self::Checkpoint { request, .. }
            | Self::Stop { request, .. }
            | Self::Launch { request, .. }
            | Self::SendPrompt { request, .. }
            | Self::AcquireLease { request } => Some(*request),
            Self::Notify(_)
            | Self::Persist(_)
            | Self::Reply { .. }
            | Self::DetectionVetoed { .. }
            | Self::PublishAccount(_)
            | Self::PublishActive(_)
            | Self::ReadUsage { .. }
            | Self::ReleaseLease => None,
        }
    }
}
