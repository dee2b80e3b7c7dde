//! The sans-IO heart of claude-failover: decides which account each Claude Code session runs
//! on, when to fail over, and when to come back; and detects quota exhaustion from what
//! Claude Code shows and writes.
//!
//! # What this crate is, and is not
//!
//! It is a library of plain data types and one deterministic state machine,
//! [`FailoverEngine`]. It is **not** a daemon: it does no I/O, never reads a clock, never
//! sleeps and has no async runtime. It does not talk to tmux, to Claude Code or to a
//! notification channel; it *asks* for that through [`Effect`]s and is told the results
//! through [`Input`]s. The ports an embedder implements to execute effects
//! ([`SessionBackend`], [`Checkpointer`], [`Notifier`]) and the pure [`QuotaDetector`]s live
//! here too, so every implementation builds against one set of types.
//!
//! # Theory of Operation
//!
//! An embedder (a daemon, a test) owns one engine and runs one loop:
//!
//! 1. Something happens: a detector classified a pane capture, a session went idle, an
//!    effect finished, an operator typed a command, or the deadline the engine asked for
//!    passed ([`Input::Tick`]). The embedder calls [`FailoverEngine::handle`] with the
//!    current wall-clock time and that [`Input`].
//! 2. `handle` updates the engine's view (account states, per-session
//!    [`SessionState`]s, the swap in flight) and returns the [`Effect`]s to execute, in
//!    order. It never fails: an input that does not apply is ignored and counted.
//! 3. The embedder executes each effect through its ports; [`execute`] does it for every
//!    port effect and returns the answer to feed back. Effects that expect an answer
//!    carry a [`RequestId`]; the answer comes back later as [`Input::EffectFinished`] with
//!    the same id. An answer that never comes is not a problem: after
//!    [`EngineConfig::effect_timeout`] the engine treats it as failed.
//! 4. The embedder reports what its sessions do: [`Input::SessionActivity`] when one shows
//!    its prompt (idle) or starts a turn, [`Input::SessionExited`] when its program ends,
//!    and the detectors' verdicts ([`ObserverEvent`]s convert into these inputs). A launched
//!    session must be reported idle once it shows its prompt: a prompt replayed after a
//!    failover is sent only then (the contract is on [`Effect::Launch`]).
//! 5. The embedder sleeps until [`FailoverEngine::next_deadline`] or the next input,
//!    whichever comes first, and stores every [`Effect::Persist`] durably.
//!
//! At startup the embedder reports the sessions already running ([`Input::SessionStarted`]),
//! then sends [`Input::AdoptionComplete`]; only then does the engine launch the configured
//! sessions that are not running, so a running session is never launched twice. After a
//! restart, [`FailoverEngine::restore`] picks up the last persisted state, including a swap
//! that was in flight.
//!
//! The policy, in short (details on [`EngineConfig`] and in the repository's
//! `ARCHITECTURE.md`):
//! - fail over only on a confirmed verdict: one structured signal (transcript, statusline,
//!   headers) or the same pane verdict on several consecutive captures; a transient error
//!   (5xx, 529, throttling, network) vetoes; evidence older than the session's last
//!   completed turn, or than its launch on its current account, never counts;
//! - fail over proactively once an account crosses [`EngineConfig::proactive_percent`];
//! - one swap in flight, at most [`EngineConfig::parallel_moves`] of its sessions moving
//!   at once, each by checkpoint, stop, launch with `--resume`, then replay of the
//!   interrupted prompt once the session is idle;
//! - never onto an exhausted account, one that needs a login, or one on extra usage (unless
//!   [`EngineConfig::allow_extra_usage`]); among the rest the best [`Tier`] (room left, then
//!   a session model's weekly window used up, then under
//!   [`EngineConfig::min_headroom_percent`], then past the proactive threshold), then the
//!   [`Strategy`] (drain-soonest by default); a model's weekly cap marks that window only;
//! - return to the preferred account after its reset, between turns, once it has
//!   [`EngineConfig::return_headroom_percent`] of room, at most once per
//!   [`EngineConfig::return_cooldown`];
//! - every account exhausted: park all sessions and resume them at the earliest reset.
//!
//! # Example
//!
//! One session, two accounts, and the transcript reporting the five-hour limit:
//!
//! ```
//! use std::path::PathBuf;
//! use std::time::Duration;
//! use failover_core::{
//!     Account, ClaudeSessionId, Detection, Effect, EffectOutcome, EngineConfig, FailoverEngine,
//!     Input, LimitWindow, SessionSpec, SignalSource, Subject, UnixMillis, Verdict,
//! };
//!
//! let account = |name: &str, preference| Account {
//!     id: name.into(),
//!     config_dir: PathBuf::from(format!("/home/me/.claude-{name}")),
//!     preference,
//! };
//! let session = SessionSpec { id: "ccl-0".into(), dir: "/src/app".into(), task: None };
//! let config = EngineConfig::new(vec![account("primary", 0), account("backup", 1)], vec![session]);
//! let mut engine = FailoverEngine::new(config)?;
//!
//! // Nothing was running at startup: the session is launched on the preferred account.
//! let t0 = UnixMillis::from_secs(1_795_000_000);
//! let effects = engine.handle(t0, Input::AdoptionComplete);
//! let Some(Effect::Launch { request, account, .. }) = effects.first() else { unreachable!() };
//! assert_eq!(account.as_str(), "primary");
//! let launched = EffectOutcome::Launched {
//!     claude_session: ClaudeSessionId::new("c0ffee"),
//!     unanswered_prompt: None,
//! };
//! engine.handle(t0, Input::EffectFinished { request: *request, outcome: launched });
//!
//! // A minute later its transcript records a rate-limit error: a structured signal.
//! let t1 = t0 + Duration::from_secs(60);
//! let exhausted = Verdict::QuotaExhausted {
//!     window: LimitWindow::FiveHour,
//!     resets_at: Some(t0 + Duration::from_secs(5 * 3600)),
//! };
//! let effects = engine.handle(t1, Input::Detection {
//!     subject: Subject::Session("ccl-0".into()),
//!     source: SignalSource::Transcript,
//!     detection: Detection { verdict: exhausted, evidence: None },
//!     observed_at: t1,
//! });
//! // The engine announces the failover and asks for a checkpoint first; the stop and the
//! // `--resume` launch on `backup` follow as each step's result comes back.
//! assert!(matches!(&effects[0], Effect::Notify(n) if n.next_reset.is_some()));
//! assert!(matches!(&effects[1], Effect::Checkpoint { account, .. } if account.as_str() == "primary"));
//! assert_eq!(engine.snapshot().active_account.unwrap().as_str(), "backup");
//! assert_eq!(engine.next_deadline(), Some(t1 + engine.config().effect_timeout));
//! # Ok::<(), failover_core::ConfigError>(())
//! ```
//!
//! # Which enums may grow
//!
//! Enums marked `#[non_exhaustive]` may gain variants in a minor release; match them with a
//! wildcard arm:
//! - [`Input`]: a new kind of news. An embedder that never sends it loses nothing.
//! - [`EffectOutcome`]: a new effect's result.
//! - [`SessionState`] (and [`SessionStateKind`]): a new step in a session's life.
//! - [`Verdict`]: a new thing a detector recognises.
//! - [`AccountState`]: a new thing known about an account's quota.
//! - [`FailureKind`]: a new class of failure the policy tells apart.
//! - the errors ([`BackendError`], [`CheckpointError`], [`NotifyError`], [`ConfigError`])
//!   and the reasons ([`CommandRefusal`], [`Standstill`], [`Unsupported`],
//!   [`NotificationKind`]).
//!
//! [`Effect`] is exhaustive on purpose. Every effect is something the engine counts on
//! being done: a checkpoint, stop or launch it waits for, a state it expects stored, a reply
//! an operator waits for. An embedder that skipped an effect it did not know would leave a
//! session stopped for good or a state unsaved, silently; a new effect must instead break
//! the embedder's build, so `Effect` gains variants only in a major release. The other
//! enums (an [`Activity`], a [`Command`], a [`Subject`], ...) are complete as they are.
//!
//! For tests, the `testkit` feature adds in-memory fakes of every port, proptest strategies
//! and a simulator that runs an engine against the fakes on a fake clock.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod account;
mod backend;
mod checkpoint;
mod config;
mod engine;
mod error;
mod error_kind;
mod execute;
mod ids;
mod ledger;
mod notify;
mod observe;
mod pool;
pub mod quota;
mod session;
mod state;
#[cfg(feature = "testkit")]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit;
mod time;

pub use account::{Account, AccountState, LimitWindow, ResetGrant, UsageReport, WindowUsage};
pub use backend::{LaunchRequest, Launched, Liveness, ResumedTurn, SessionBackend};
pub use checkpoint::{
    Checkpoint, CheckpointRecordV1, Checkpointer, PromptSource, TranscriptSummary,
};
pub use config::{
    ConfigError, EngineConfig, PolicyMode, Strategy, USAGE_READ_FRESH, USAGE_READ_WAIT,
};
pub use engine::{
    AccountStatus, Choice, Command, CommandRefusal, CommandReply, Effect, EffectOutcome,
    FailoverEngine, Input, SessionStatus, Standstill, StatusSnapshot, Subject, SwapStatus,
    Unsupported,
};
pub use error::{BackendError, BoxError, CheckpointError, NotifyError};
pub use error_kind::FailureKind;
pub use execute::{Ports, execute, replay_prompt};
pub use ids::{AccountId, ClaudeSessionId, CommandId, RequestId, SessionId};
pub use ledger::{AccountNews, ActiveNews, HostId, LeaseOutcome, LedgerSettings};
pub use notify::{Notification, NotificationKind, Notifier, Severity};
pub use observe::ObserverEvent;
pub use pool::{AccountEntry, AccountPool, Rules, Tier};
pub use quota::corroboration::{Corroboration, VetoReason};
pub use quota::verdict::{
    AuthReason, DetectContext, Detection, QuotaDetector, SignalSource, TransientKind,
    UnknownSource, Verdict,
};
pub use session::{
    Activity, LaunchPurpose, SessionSpec, SessionState, SessionStateKind, StopPurpose,
};
pub use state::{PersistedSession, PersistedState, PersistedSwap};
pub use time::UnixMillis;

/// The time library of the public signatures that take or give time zones and timestamps
/// ([`quota::DetectContext::local_zone`], [`UnixMillis::to_timestamp`]), so an embedder
/// builds them without pinning a second copy.
pub use jiff;

/// The attribute the port traits are declared with: an embedder implements them with
/// `#[failover_core::async_trait]` and needs no `async-trait` dependency of its own.
pub use async_trait::async_trait;

/// The `#[non_exhaustive]` policy, checked: outside this crate, a match over an enum that
/// may grow needs a wildcard arm, and a match over every [`Effect`] compiles without one.
///
/// ```
/// use failover_core::Effect;
/// fn every_effect_is_handled(effect: Effect) -> &'static str {
///     match effect {
///         Effect::Checkpoint { .. } => "checkpoint",
///         Effect::Stop { .. } => "stop",
///         Effect::Launch { .. } => "launch",
///         Effect::SendPrompt { .. } => "send_prompt",
///         Effect::Notify(_) => "notify",
///         Effect::Persist(_) => "persist",
///         Effect::PublishAccount(_) => "publish_account",
///         Effect::PublishActive(_) => "publish_active",
///         Effect::AcquireLease { .. } => "acquire_lease",
///         Effect::ReleaseLease => "release_lease",
///         Effect::ReadUsage { .. } => "read_usage",
///         Effect::Reply { .. } => "reply",
///         Effect::DetectionVetoed { .. } => "detection_vetoed",
///     }
/// }
/// ```
///
/// ```compile_fail,E0004
/// use failover_core::EffectOutcome;
/// fn name(outcome: EffectOutcome) -> &'static str {
///     match outcome {
///         EffectOutcome::Checkpointed { .. } => "checkpointed",
///         EffectOutcome::Stopped => "stopped",
///         EffectOutcome::Launched { .. } => "launched",
///         EffectOutcome::PromptSent => "prompt_sent",
///         EffectOutcome::Lease(_) => "lease",
///         EffectOutcome::Failed { .. } => "failed",
///     }
/// }
/// ```
///
/// ```compile_fail,E0004
/// use failover_core::FailureKind;
/// fn name(kind: FailureKind) -> &'static str {
///     match kind {
///         FailureKind::Transient => "transient",
///         FailureKind::ResumeImpossible => "resume_impossible",
///         FailureKind::Permanent => "permanent",
///     }
/// }
/// ```
///
/// ```compile_fail,E0004
/// use failover_core::AccountState;
/// fn name(state: AccountState) -> &'static str {
///     match state {
///         AccountState::Unknown => "unknown",
///         AccountState::Available => "available",
///         AccountState::NearLimit { .. } => "near_limit",
///         AccountState::Exhausted { .. } => "exhausted",
///         AccountState::NeedsLogin => "needs_login",
///     }
/// }
/// ```
///
/// ```compile_fail,E0004
/// use failover_core::Verdict;
/// fn name(verdict: Verdict) -> &'static str {
///     match verdict {
///         Verdict::Clear => "clear",
///         Verdict::NearLimit { .. } => "near_limit",
///         Verdict::QuotaExhausted { .. } => "quota_exhausted",
///         Verdict::Transient { .. } => "transient",
///         Verdict::AuthRequired { .. } => "auth_required",
///     }
/// }
/// ```
///
/// ```compile_fail,E0004
/// use failover_core::SessionState;
/// fn name(state: &SessionState) -> &'static str {
///     match state {
///         SessionState::Unstarted { .. } => "unstarted",
///         SessionState::Launching { .. } => "launching",
///         SessionState::Running { .. } => "running",
///         SessionState::Prompting { .. } => "prompting",
///         SessionState::Checkpointing { .. } => "checkpointing",
///         SessionState::Stopping { .. } => "stopping",
///         SessionState::Parked { .. } => "parked",
///         SessionState::Dead { .. } => "dead",
///         SessionState::Halted { .. } => "halted",
///     }
/// }
/// ```
///
/// ```compile_fail,E0004
/// use failover_core::Input;
/// fn is_tick(input: Input) -> bool {
///     match input {
///         Input::Detection { .. } | Input::Corroboration { .. } => false,
///         Input::SessionStarted { .. } | Input::SessionExited { .. } => false,
///         Input::SessionActivity { .. } | Input::ClaudeSessionLearned { .. } => false,
///         Input::UsageObserved { .. } | Input::SessionModel { .. } => false,
///         Input::AccountNews(_) => false,
///         Input::ActiveAccountNews(_) | Input::EffectFinished { .. } => false,
///         Input::Command { .. } | Input::AdoptionComplete => false,
///         Input::ConfigChanged(_) => false,
///         Input::Tick => true,
///     }
/// }
/// ```
#[cfg(doctest)]
pub struct NonExhaustivePolicy;

// The README's examples are compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
