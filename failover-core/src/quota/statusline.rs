//! Quota detection from the JSON Claude Code hands to a statusline command.
//!
//! After each turn, Claude Code runs the `statusLine` command with a JSON document on stdin;
//! for subscription accounts it holds one entry per metered window:
//!
//! ```json
//! {"session_id":"…","rate_limits":{"five_hour":{"used_percentage":81,"resets_at":1764149880},
//!                                  "seven_day":{"used_percentage":40,"resets_at":1764600000}}}
//! ```
//!
//! # Rules
//!
//! - Windows: `five_hour` → five-hour, `seven_day` → weekly, `seven_day_opus` → weekly Opus,
//!   `seven_day_sonnet` → weekly Sonnet, any other name → other.
//! - A window whose `resets_at` (epoch seconds) is not after the observation has already
//!   reset and is ignored.
//! - The window with the highest `used_percentage` decides: at 100 % or more the quota is
//!   exhausted; at [`NEAR_LIMIT_FLOOR_PERCENT`] or more it is near its limit (with the used
//!   percentage and reset); below, the document is clear.
//!
//! Extra usage: the document carries no field for it on subscription accounts (2.1.328
//! builds `rate_limits` from `five_hour` and `seven_day` only; its `spend_limit` entry is a
//! gateway's spend cap), so the statusline says nothing about paid usage. The notice on
//! screen and the response headers do (see the pane and headers detectors).
//!
//! The floor is deliberately low. Whether 81 % is "too close" is the engine's decision (it
//! compares `used_percent` with its own proactive threshold); the detector only drops
//! readings that cannot matter to any sensible threshold.

use serde_json::Value;

use super::{Corroboration, DetectContext, Detection, QuotaDetector, SignalSource, Verdict};
use crate::account::{LimitWindow, WindowUsage};
use crate::time::UnixMillis;

/// Used percentages below this are reported as clear.
pub const NEAR_LIMIT_FLOOR_PERCENT: f32 = 50.0;

/// Maps a rate-limit window name (`five_hour`, `seven_day_opus`, …) to a [`LimitWindow`].
pub(crate) fn window_from_claim(name: &str) -> LimitWindow {
    match name.trim().to_ascii_lowercase().as_str() {
        "five_hour" | "5h" => LimitWindow::FiveHour,
        "seven_day" | "7d" => LimitWindow::Weekly,
        "seven_day_opus" | "7d_opus" => LimitWindow::WeeklyOpus,
        "seven_day_sonnet" | "7d_sonnet" => LimitWindow::WeeklySonnet,
        _ => LimitWindow::Other,
    }
}

/// Turns a window's used percentage into a verdict (see the module docs).
pub(crate) fn verdict_for_usage(
    window: LimitWindow,
    used_percent: f32,
    resets_at: Option<UnixMillis>,
) -> Verdict {
    if used_percent >= 100.0 {
        Verdict::QuotaExhausted { window, resets_at }
    } else if used_percent >= NEAR_LIMIT_FLOOR_PERCENT {
        Verdict::NearLimit {
            window,
            used_percent,
            resets_at,
        }
    } else {
        Verdict::Clear
    }
}

/// Detects exhausted and nearly exhausted windows in statusline JSON.
#[derive(Debug, Clone, Default)]
pub struct StatuslineDetector;

impl StatuslineDetector {
    /// Builds the detector.
    pub fn new() -> Self {
        Self
    }
}

/// An epoch-seconds value (number or numeric string) or an RFC 3339 string, as millis.
pub(crate) fn instant_from_json(v: &Value) -> Option<UnixMillis> {
    let secs = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(secs) => secs,
            Err(_) => {
                let ts: jiff::Timestamp = s.trim().parse().ok()?;
                return Some(UnixMillis(ts.as_millisecond()));
            }
        },
        _ => return None,
    };
    // `as` saturates on out-of-range floats and maps NaN to 0.
    (secs.is_finite() && secs > 0.0).then(|| UnixMillis((secs * 1000.0).round() as i64))
}

/// One window's reading in a statusline document.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Usage {
    /// The window's name as written (`five_hour`, …).
    pub name: String,
    /// Its `used_percentage`.
    pub used_percent: f32,
    /// Its `resets_at`, when given.
    pub resets_at: Option<UnixMillis>,
}

impl StatuslineDetector {
    /// Every window's reading not yet reset at `ctx.observed_at`, in document order;
    /// empty when the document is not JSON or has no usable window.
    pub(crate) fn usages(&self, evidence: &str, ctx: &DetectContext) -> Vec<Usage> {
        let Ok(doc) = serde_json::from_str::<Value>(evidence.trim()) else {
            return Vec::new();
        };
        let Some(limits) = doc.get("rate_limits").and_then(Value::as_object) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, entry) in limits {
            let Some(used) = entry.get("used_percentage").and_then(Value::as_f64) else {
                continue;
            };
            if !used.is_finite() {
                continue;
            }
            let resets_at = entry.get("resets_at").and_then(instant_from_json);
            if resets_at.is_some_and(|r| r <= ctx.observed_at) {
                continue;
            }
            #[allow(clippy::cast_possible_truncation)]
            let used = used as f32;
            out.push(Usage {
                name: name.clone(),
                used_percent: used,
                resets_at,
            });
        }
        out
    }

    /// The window with the highest used percentage among those not yet reset at
    /// `ctx.observed_at`; `None` when the document is not JSON or has no usable window.
    pub(crate) fn highest_usage(&self, evidence: &str, ctx: &DetectContext) -> Option<Usage> {
        let mut best: Option<Usage> = None;
        for usage in self.usages(evidence, ctx) {
            if best
                .as_ref()
                .is_none_or(|b| usage.used_percent > b.used_percent)
            {
                best = Some(usage);
            }
        }
        best
    }

    /// The document's readings as a [`Corroboration::Usage`], for the engine's veto of
    /// pane text; `None` when it reports no usable window.
    pub fn corroboration(&self, evidence: &str, ctx: &DetectContext) -> Option<Corroboration> {
        let usages: Vec<WindowUsage> = self
            .usages(evidence, ctx)
            .into_iter()
            .map(|u| WindowUsage {
                window: window_from_claim(&u.name),
                used_percent: u.used_percent,
                resets_at: u.resets_at,
            })
            .collect();
        (!usages.is_empty()).then_some(Corroboration::Usage(usages))
    }
}

impl QuotaDetector for StatuslineDetector {
    fn source(&self) -> SignalSource {
        SignalSource::Statusline
    }

    fn detect(&self, evidence: &str, ctx: &DetectContext) -> Detection {
        let Some(Usage {
            name,
            used_percent: used,
            resets_at,
        }) = self.highest_usage(evidence, ctx)
        else {
            return Detection::clear();
        };
        let verdict = verdict_for_usage(window_from_claim(&name), used, resets_at);
        if verdict == Verdict::Clear {
            return Detection::clear();
        }
        Detection {
            verdict,
            evidence: Some(format!("rate_limits.{name}.used_percentage={used}")),
        }
    }
}
