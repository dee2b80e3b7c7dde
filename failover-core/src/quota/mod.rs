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
//! ([`recognise`], [`detect_auto`]). Reset texts are resolved by [`ResetParser`]
//! (time zone names by [`lookup_zone`]).
//!
//! The activity classifier reads the same pane captures for what the engine's
//! [`Input::SessionActivity`](crate::Input::SessionActivity) reports:
//! [`activity_from_screen`] (a turn running, the prompt waiting), [`input_box`] and
//! [`has_draft`] (a draft in the input box), [`box_holds`] (whether the box holds a given
//! prompt) and [`waits_to_continue`] (Claude Code about to continue by itself after a
//! usage limit).
//!
//! The verdict types the detectors produce ([`Verdict`], [`Detection`], [`SignalSource`],
//! [`DetectContext`], [`QuotaDetector`], ...) are at the crate root.
//!
//! Everything here is pure: no I/O, no clock (the observation time comes in the
//! [`DetectContext`]), and no panics whatever the input.

use std::sync::OnceLock;

mod activity;
mod ansi;
pub(crate) mod corroboration;
mod headers;
mod message;
mod pane;
mod reset;
mod statusline;
mod transcript;
pub(crate) mod verdict;

pub use activity::{activity_from_screen, box_holds, has_draft, input_box, waits_to_continue};
pub(crate) use corroboration::{Corroboration, VetoReason};
pub use headers::HeadersDetector;
pub use message::WRAP_UP_PERCENT;
pub use pane::PaneDetector;
pub use reset::{ResetParser, lookup_zone};
pub use statusline::{NEAR_LIMIT_FLOOR_PERCENT, StatuslineDetector};
pub use transcript::TranscriptDetector;
pub(crate) use verdict::{
    AuthReason, DetectContext, Detection, QuotaDetector, SignalSource, TransientKind, Verdict,
};

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
