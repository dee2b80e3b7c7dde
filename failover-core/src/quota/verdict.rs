//! The vocabulary every detector speaks: where evidence came from, what it says, and the
//! context a detector reads it in. Re-exported at the crate root.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::account::LimitWindow;
use crate::time::UnixMillis;

/// Where a piece of evidence came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalSource {
    /// Text captured from the session's terminal pane.
    Pane,
    /// A line of the session's transcript JSONL.
    Transcript,
    /// The JSON Claude Code hands to its statusline command.
    Statusline,
    /// `anthropic-ratelimit-unified-*` response headers.
    Headers,
}

impl SignalSource {
    /// Every source, in a fixed order.
    pub const ALL: [Self; 4] = [
        Self::Pane,
        Self::Transcript,
        Self::Statusline,
        Self::Headers,
    ];

    /// The snake_case name used in JSON, metrics and flags.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pane => "pane",
            Self::Transcript => "transcript",
            Self::Statusline => "statusline",
            Self::Headers => "headers",
        }
    }

    /// Structured sources are trusted on a single observation; pane text needs confirmation.
    pub const fn is_structured(self) -> bool {
        !matches!(self, Self::Pane)
    }
}

impl fmt::Display for SignalSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The family of a transient failure: never a quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransientKind {
    /// A 5xx from the API.
    ServerError,
    /// 529 overloaded.
    Overloaded,
    /// A 429 that is a short-term throttle, not a subscription quota.
    Throttled,
    /// Connection refused, reset, timed out, DNS.
    Network,
}

/// Why an account needs a login.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthReason {
    /// No credentials at all.
    NotLoggedIn,
    /// The token expired and could not be refreshed.
    Expired,
    /// The token was revoked or rejected (401/403).
    Rejected,
}

/// What one piece of evidence says about the account's quota.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// Nothing wrong (or nothing relevant).
    Clear,
    /// A window is close to its cap.
    NearLimit {
        /// The window.
        window: LimitWindow,
        /// How much is used, 0–100.
        used_percent: f32,
        /// When it resets, when known.
        resets_at: Option<UnixMillis>,
    },
    /// A window is used up.
    QuotaExhausted {
        /// The window.
        window: LimitWindow,
        /// When it resets, when known.
        resets_at: Option<UnixMillis>,
    },
    /// The plan's window is used up and the account goes on at a cost: Claude Code is
    /// spending extra usage (usage credits). Evidence for the account's choice, not a
    /// failure: the session keeps working.
    ///
    /// Added for choosing the next account.
    ExtraUsage {
        /// The plan window that ran out (`other` when the evidence names none).
        window: LimitWindow,
        /// When that window resets (and the plan pays again), when known.
        resets_at: Option<UnixMillis>,
    },
    /// A transient failure (5xx, 529, throttle, network): never a reason to fail over.
    Transient {
        /// Which family.
        kind: TransientKind,
    },
    /// The account must log in again.
    AuthRequired {
        /// Why.
        reason: AuthReason,
    },
}

impl Verdict {
    /// The snake_case name used in JSON and metrics (`quota_exhausted`, ...).
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Clear => "clear",
            Self::NearLimit { .. } => "near_limit",
            Self::QuotaExhausted { .. } => "quota_exhausted",
            Self::ExtraUsage { .. } => "extra_usage",
            Self::Transient { .. } => "transient",
            Self::AuthRequired { .. } => "auth_required",
        }
    }

    /// The window the verdict is about, if any.
    pub const fn window(&self) -> Option<LimitWindow> {
        match self {
            Self::NearLimit { window, .. }
            | Self::QuotaExhausted { window, .. }
            | Self::ExtraUsage { window, .. } => Some(*window),
            _ => None,
        }
    }

    /// The reset instant the verdict carries, if any.
    pub const fn resets_at(&self) -> Option<UnixMillis> {
        match self {
            Self::NearLimit { resets_at, .. }
            | Self::QuotaExhausted { resets_at, .. }
            | Self::ExtraUsage { resets_at, .. } => *resets_at,
            _ => None,
        }
    }
}

/// A verdict with the evidence it rests on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// The verdict.
    pub verdict: Verdict,
    /// The line (or field) the verdict relied on, for logs and operators.
    pub evidence: Option<String>,
}

impl Detection {
    /// A clear verdict with no evidence.
    pub const fn clear() -> Self {
        Self {
            verdict: Verdict::Clear,
            evidence: None,
        }
    }
}

/// What a detector knows besides the evidence itself.
#[derive(Clone, Debug)]
pub struct DetectContext {
    /// When the evidence was observed; reset texts such as `resets 9:38am` are resolved
    /// to the first such instant after it.
    pub observed_at: UnixMillis,
    /// The zone for reset texts that name none (`resets 3pm`).
    pub local_zone: jiff::tz::TimeZone,
}

impl DetectContext {
    /// A context in UTC.
    pub fn utc(observed_at: UnixMillis) -> Self {
        Self {
            observed_at,
            local_zone: jiff::tz::TimeZone::UTC,
        }
    }
}

/// A pure detector: evidence in, verdict out. Implementations must not do I/O, must not read
/// the clock and must never panic, whatever the input.
pub trait QuotaDetector: Send + Sync {
    /// Which source this detector reads.
    fn source(&self) -> SignalSource;

    /// Classifies one piece of evidence: a pane capture, one transcript line, one statusline
    /// JSON document, or headers as `name: value` lines.
    fn detect(&self, evidence: &str, ctx: &DetectContext) -> Detection;
}

/// A source name that is not one of `pane`, `transcript`, `statusline`, `headers`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown source `{0}` (expected pane, transcript, statusline or headers)")]
pub struct UnknownSource(pub String);

impl FromStr for SignalSource {
    type Err = UnknownSource;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "pane" => Ok(Self::Pane),
            "transcript" => Ok(Self::Transcript),
            "statusline" => Ok(Self::Statusline),
            "headers" => Ok(Self::Headers),
            _ => Err(UnknownSource(s.to_owned())),
        }
    }
}
