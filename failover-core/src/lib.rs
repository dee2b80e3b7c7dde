//! The sans-IO heart of claude-failover: decides which account each Claude Code session runs
//! on, when to fail over, and when to come back; and detects quota exhaustion from what
//! Claude Code shows and writes.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod account;
pub mod accounts;
pub mod backend;
pub mod checkpoint;
pub mod config;
pub mod engine;
pub mod error;
mod error_kind;
pub mod ids;
pub mod notify;
pub mod quota;
pub mod session;
pub mod state;
#[cfg(feature = "testkit")]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit;
pub mod time;

pub use account::{Account, AccountState, LimitWindow};
pub use accounts::{AccountPool, Tier};
pub use backend::{LaunchRequest, Launched, Liveness, PaneCapture, SessionBackend};
pub use checkpoint::{Checkpoint, CheckpointRecordV1, Checkpointer};
pub use config::{ConfigError, EngineConfig, PolicyMode};
pub use engine::{
    AccountStatus, Command, CommandRefusal, CommandReply, Effect, EffectOutcome, FailoverEngine,
    Input, SessionStatus, StatusSnapshot, Subject, SwapStatus,
};
pub use error::{BackendError, CheckpointError, NotifyError};
pub use error_kind::FailureKind;
pub use ids::{AccountId, ClaudeSessionId, RequestId, SessionId};
pub use notify::{Notification, NotificationKind, Notifier, Severity};
pub use quota::{
    AuthReason, DetectContext, Detection, QuotaDetector, SignalSource, TransientKind, Verdict,
};
pub use session::{Activity, LaunchPurpose, SessionSpec, SessionState, StopPurpose};
pub use state::{PersistedSession, PersistedState, PersistedSwap};
pub use time::UnixMillis;
