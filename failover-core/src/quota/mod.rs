//! Quota detection: pure functions from what Claude Code shows or writes to a [`Verdict`].
//!
//! Each source has its own detector; all of them produce the same [`Detection`]:
//!
//! | Source | Detector | Evidence |
//! |---|---|---|
//! | terminal pane | [`PaneDetector`] | a `tmux capture-pane` text, with or without ANSI |
//! | transcript | [`TranscriptDetector`] | one (or more) JSONL lines |
//! | statusline | [`StatuslineDetector`] | the JSON handed to a `statusLine` command |
//! | response headers | [`HeadersDetector`] | `name: value` lines |
//!
//! [`Detectors`] holds one of each and can recognise the source from the evidence's shape
//! ([`recognise`], [`detect_auto`]). Reset texts are resolved by [`reset::ResetParser`].
//!
//! [`activity`] reads the same pane captures for what the engine's
//! [`Input::SessionActivity`](crate::Input::SessionActivity) reports: a turn running, the
//! prompt waiting, a draft in the input box.
//!
//! Everything here is pure: no I/O, no clock (the observation time comes in the
//! [`DetectContext`]), and no panics whatever the input.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::account::LimitWindow;
use crate::time::UnixMillis;

pub mod activity;
pub(crate) mod ansi;
pub mod corroboration;
pub mod headers;
pub(crate) mod message;
pub mod pane;
pub mod reset;
pub mod statusline;
pub mod transcript;

pub use corroboration::{Corroboration, VetoReason};
pub use headers::HeadersDetector;
pub use message::WRAP_UP_PERCENT;
pub use pane::PaneDetector;
pub use statusline::{NEAR_LIMIT_FLOOR_PERCENT, StatuslineDetector};
pub use transcript::TranscriptDetector;

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

/// One detector per source, built once.
#[derive(Debug, Clone, Default)]
pub struct Detectors {
    /// The pane detector.
    pub pane: PaneDetector,
    /// The transcript detector.
    pub transcript: TranscriptDetector,
    /// The statusline detector.
    pub statusline: StatuslineDetector,
    /// The headers detector.
    pub headers: HeadersDetector,
}

impl Detectors {
    /// Builds every detector.
    pub fn new() -> Self {
        Self::default()
    }

    /// The detector for one source.
    pub fn get(&self, source: SignalSource) -> &dyn QuotaDetector {
        match source {
            SignalSource::Pane => &self.pane,
            SignalSource::Transcript => &self.transcript,
            SignalSource::Statusline => &self.statusline,
            SignalSource::Headers => &self.headers,
        }
    }

    /// Classifies `evidence` with the detector of `source`; `None` recognises the source
    /// from the evidence's shape ([`recognise`]).
    pub fn detect(
        &self,
        source: Option<SignalSource>,
        evidence: &str,
        ctx: &DetectContext,
    ) -> Detection {
        let source = source.unwrap_or_else(|| recognise(evidence));
        self.get(source).detect(evidence, ctx)
    }
}

/// A detection with what a report needs besides the verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The source that was read (the recognised one when none was given).
    pub source: SignalSource,
    /// The verdict and its evidence.
    pub detection: Detection,
    /// The used percentage of the verdict's window, when the evidence gives one: a
    /// near-limit verdict's own, or for an exhausted quota the statusline's
    /// `used_percentage` or the headers' utilization.
    pub used_percent: Option<f32>,
}

impl Detectors {
    /// Classifies `evidence` like [`Detectors::detect`] and adds what a report shows.
    pub fn report(
        &self,
        source: Option<SignalSource>,
        evidence: &str,
        ctx: &DetectContext,
    ) -> Report {
        let source = source.unwrap_or_else(|| recognise(evidence));
        let detection = self.get(source).detect(evidence, ctx);
        let used_percent = match (&detection.verdict, source) {
            (Verdict::NearLimit { used_percent, .. }, _) => Some(*used_percent),
            (Verdict::QuotaExhausted { .. }, SignalSource::Statusline) => self
                .statusline
                .highest_usage(evidence, ctx)
                .map(|u| u.used_percent),
            (Verdict::QuotaExhausted { window, .. }, SignalSource::Headers) => {
                self.headers.used_percent(evidence, *window)
            }
            _ => None,
        };
        Report {
            source,
            detection,
            used_percent,
        }
    }
}

/// Recognises which source produced `evidence` from its shape: statusline JSON (a document
/// with `rate_limits`, `transcript_path`, `workspace` or `hook_event_name`), transcript
/// JSONL (other JSON objects, one a line), headers (an `HTTP/` status line, or only
/// `name: value` lines among which an `anthropic-ratelimit-*` or `retry-after` header), and
/// pane text otherwise.
pub fn recognise(evidence: &str) -> SignalSource {
    let trimmed = evidence.trim_start();
    if trimmed.starts_with('{') {
        if let Ok(serde_json::Value::Object(doc)) = serde_json::from_str(trimmed) {
            let statusline = [
                "rate_limits",
                "transcript_path",
                "workspace",
                "hook_event_name",
            ]
            .iter()
            .any(|k| doc.contains_key(*k));
            return if statusline {
                SignalSource::Statusline
            } else {
                SignalSource::Transcript
            };
        }
        let first = trimmed.lines().next().unwrap_or_default();
        if matches!(
            serde_json::from_str(first),
            Ok(serde_json::Value::Object(_))
        ) {
            return SignalSource::Transcript;
        }
    }
    let mut lines = trimmed.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines
        .clone()
        .next()
        .is_some_and(|l| l.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("HTTP/")))
    {
        return SignalSource::Headers;
    }
    let header_shaped = |l: &str| {
        l.split_once(':').is_some_and(|(name, _)| {
            !name.is_empty()
                && name
                    .trim_start_matches(':')
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
    };
    let mut rate_limit_header = false;
    let all_headers = lines.all(|l| {
        let lower = l.to_ascii_lowercase();
        rate_limit_header |=
            lower.starts_with("anthropic-ratelimit-") || lower.starts_with("retry-after:");
        header_shaped(l)
    });
    if all_headers && rate_limit_header {
        SignalSource::Headers
    } else {
        SignalSource::Pane
    }
}

/// Classifies `evidence` after recognising its source, with detectors built once per
/// process; the [`Report`] says which source it recognised. Equivalent to
/// `Detectors::new().report(None, evidence, ctx)`.
pub fn detect_auto(evidence: &str, ctx: &DetectContext) -> Report {
    static DETECTORS: OnceLock<Detectors> = OnceLock::new();
    DETECTORS
        .get_or_init(Detectors::new)
        .report(None, evidence, ctx)
}
