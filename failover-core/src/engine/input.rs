//! [`Input`]: the closed set of everything that can happen to the engine.

use crate::account::UsageReport;
use crate::config::{ConfigError, EngineConfig};
use crate::error_kind::FailureKind;
use crate::ids::{AccountId, ClaudeSessionId, CommandId, RequestId, SessionId};
use crate::ledger::{AccountNews, ActiveNews, LeaseOutcome};
use crate::quota::{Corroboration, Detection, SignalSource};
use crate::session::Activity;
use crate::time::UnixMillis;

/// Who a piece of evidence is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A session (pane, transcript): the engine maps it to the session's current account.
    Session(SessionId),
    /// An account directly (statusline spool, headers, a login check).
    Account(AccountId),
}

/// An operator command (control plane, CLI, MCP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Fail over now to the best other account.
    SwapNow,
    /// Fail over now to this account.
    SwapTo(AccountId),
    /// Stop making decisions: no swaps, no relaunches, no dispatch.
    Pause,
    /// Undo [`Command::Pause`].
    Resume,
    /// Finish what is in flight, start nothing new (before a shutdown or upgrade).
    Drain,
}

/// The result of an effect that expected a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EffectOutcome {
    /// A checkpoint was written; carries the last prompt the session was sent, to replay.
    Checkpointed {
        /// The last prompt found (transcript or checkpoint), if any.
        last_prompt: Option<String>,
        /// Whether the record shows that prompt without an answer after it (refused by
        /// the API, or still in progress). The engine then replays it on the next account
        /// even when the session looked idle: the prompt may have been typed just as the
        /// move began, before any activity was seen.
        unanswered: bool,
    },
    /// The session stopped.
    Stopped,
    /// The session runs, in this conversation.
    Launched {
        /// The conversation.
        claude_session: ClaudeSessionId,
        /// On a resume: the conversation's last typed prompt when its transcript shows
        /// nothing answered it (refused by the API, or cut short when the program stopped).
        /// The engine replays it, in place of any prompt recalled earlier. This closes
        /// the gaps the checkpoint cannot see: a prompt typed as the move began, written to
        /// the transcript only after the checkpoint read it, or a move whose checkpoint was
        /// lost with an embedder killed mid-swap.
        unanswered_prompt: Option<String>,
    },
    /// The prompt was accepted.
    PromptSent,
    /// The prompt was not typed: the program, resumed, took its interrupted turn up by
    /// itself and has already finished it ([`ResumedTurn::Over`](crate::ResumedTurn::Over)).
    /// The prompt is answered and the session idle.
    ResumedTurnOver,
    /// The answer to [`Effect::AcquireLease`](crate::Effect::AcquireLease).
    Lease(LeaseOutcome),
    /// The effect failed.
    Failed {
        /// How it failed, for policy.
        kind: FailureKind,
        /// What happened, for people.
        detail: String,
    },
}

/// Everything that can happen. [`FailoverEngine::handle`](crate::FailoverEngine::handle)
/// accepts any input in any state; an input that does not apply is ignored and counted.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Input {
    /// A detector classified a piece of evidence.
    Detection {
        /// Who it is about.
        subject: Subject,
        /// Which source.
        source: SignalSource,
        /// The verdict and its evidence.
        detection: Detection,
        /// When the evidence was produced (written, shown). Evidence about a session from
        /// before its last completed turn, or from before its launch on its current
        /// account, is stale and never counts.
        observed_at: UnixMillis,
    },
    /// A structured source says something is fine with a session (its transcript shows an
    /// ordinary reply, a new prompt, its statusline the windows' use). The engine keeps the
    /// latest facts per session and vetoes pane evidence they contradict (see
    /// [`Corroboration`] and [`Effect::DetectionVetoed`](crate::Effect::DetectionVetoed)).
    ///
    /// Added for the corroboration of pane evidence.
    Corroboration {
        /// The session.
        session: SessionId,
        /// What the source says.
        fact: Corroboration,
        /// When it was read. A fact from before the session's launch on its current
        /// account is about the previous placement and is ignored.
        observed_at: UnixMillis,
    },
    /// A session was found running (adopted at startup, or started outside the engine).
    SessionStarted {
        /// The session.
        session: SessionId,
        /// Its conversation, when known.
        claude_session: Option<ClaudeSessionId>,
        /// The account it runs on, when known.
        account: Option<AccountId>,
    },
    /// A session's process exited or its tmux session vanished.
    SessionExited {
        /// The session.
        session: SessionId,
        /// Exit status when known.
        status: Option<i32>,
    },
    /// A session went idle (prompt ready) or started working. Idle after working is a
    /// completed turn.
    SessionActivity {
        /// The session.
        session: SessionId,
        /// Its new activity.
        activity: Activity,
    },
    /// The conversation id of a session was learned (transcript, statusline).
    ClaudeSessionLearned {
        /// The session.
        session: SessionId,
        /// Its conversation.
        claude_session: ClaudeSessionId,
    },
    /// An account's usage was read (Anthropic's OAuth usage endpoint, for an account no
    /// session feeds the statusline of). Windows at 100 % or more make it exhausted until
    /// their reset; a model-scoped window only marks that window; an account running on
    /// extra usage counts as exhausted unless `allow_extra_usage`.
    ///
    /// Added for choosing the next account.
    UsageObserved {
        /// The account.
        account: AccountId,
        /// What was read.
        report: UsageReport,
    },
    /// The model a session uses was learned (statusline `model.id`, transcript
    /// `message.model`): it is placed on accounts with room for that model.
    ///
    /// Added for choosing the next account.
    SessionModel {
        /// The session.
        session: SessionId,
        /// The model id, e.g. `claude-opus-4-1-20250805`.
        model: String,
    },
    /// Another host's evidence about an account, from the shared ledger (see
    /// [`LedgerSettings`](crate::LedgerSettings)): applied when it is newer than what the engine knows, and acted
    /// on as the engine's own evidence. Ignored without [`EngineConfig::ledger`].
    AccountNews(AccountNews),
    /// The account another host's pool moved to under `single-active`: followed when it is
    /// newer than the last choice the engine knows of and the account is usable here.
    /// Ignored without [`EngineConfig::ledger`].
    ActiveAccountNews(ActiveNews),
    /// An effect finished.
    EffectFinished {
        /// The request the effect carried.
        request: RequestId,
        /// How it went.
        outcome: EffectOutcome,
    },
    /// Time passed (the embedder wakes the engine at
    /// [`next_deadline`](crate::FailoverEngine::next_deadline)).
    Tick,
    /// An operator command; the engine answers with [`Effect::Reply`](crate::Effect::Reply).
    Command {
        /// Tags the reply; issued by the embedder.
        id: CommandId,
        /// The command.
        command: Command,
    },
    /// The embedder has reported, with [`Input::SessionStarted`], every session already
    /// running at startup. Until this arrives the engine launches nothing, so a session that
    /// is already running is never launched a second time; after it, configured sessions not
    /// seen running are launched (resuming their conversation when one is known).
    ///
    /// Added for the startup handshake; send it exactly once, after adoption.
    AdoptionComplete,
    /// The configuration was reloaded. `Err` (an invalid file) keeps the configuration in
    /// force and raises a notification. `Ok` applies the new policy values; accounts and
    /// sessions added are taken into the pool, while removing a configured account or
    /// session needs a restart (the reload is refused with a notification).
    ///
    /// Added for configuration reload.
    ConfigChanged(Result<EngineConfig, ConfigError>),
}

impl Input {
    /// A short snake_case name for logs and spans.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Detection { .. } => "detection",
            Self::Corroboration { .. } => "corroboration",
            Self::SessionStarted { .. } => "session_started",
            Self::SessionExited { .. } => "session_exited",
            Self::SessionActivity { .. } => "session_activity",
            Self::ClaudeSessionLearned { .. } => "claude_session_learned",
            Self::UsageObserved { .. } => "usage_observed",
            Self::SessionModel { .. } => "session_model",
            Self::AccountNews(_) => "account_news",
            Self::ActiveAccountNews(_) => "active_account_news",
            Self::EffectFinished { .. } => "effect_finished",
            Self::Tick => "tick",
            Self::Command { .. } => "command",
            Self::AdoptionComplete => "adoption_complete",
            Self::ConfigChanged(_) => "config_changed",
        }
    }
}
