//! Quota detection from API response headers, for embedders that sit in front of the API.
//!
//! Headers are passed as `name: value` lines (names in any case). An HTTP status line
//! (`HTTP/1.1 429 Too Many Requests`, `HTTP/2 429`) or a `:status: 429` pseudo-header may
//! come first.
//!
//! # Rules
//!
//! - `anthropic-ratelimit-unified-status: rejected` (or a per-window `…-5h-status` /
//!   `…-7d-status: rejected`) → quota exhausted. The window is the
//!   `…-representative-claim` (`five_hour`, `seven_day`, `seven_day_opus`,
//!   `seven_day_sonnet`; others → other), else the rejected per-window status, else the
//!   window whose utilization reached 1. The reset is `…-reset` (epoch seconds), else the
//!   window's own `…-5h-reset`/`…-7d-reset`, else `retry-after` seconds from the observation.
//!   Except when extra usage carries on: a rejected unified status with
//!   `…-overage-status: allowed` (or `allowed_warning`) → extra usage in use, with that
//!   window and reset (Claude Code's own `isUsingOverage` test); so is
//!   `…-overage-in-use: true` on any answer that is not refused.
//! - Otherwise an error status decides: 401/403 → login required; 429 → **throttle**
//!   (a 429 without a rejected unified status is never a quota); 529 → overloaded; other
//!   5xx → server error. A `retry-after` without any status is a throttle.
//! - Otherwise `allowed_warning` → near limit, with the claimed window (or the most used one)
//!   and its utilization (`…-5h-utilization`, `…-7d-utilization`, fractions of 1) as a
//!   percentage. `allowed` → near limit when a utilization is at least
//!   [`NEAR_LIMIT_FLOOR_PERCENT`], else clear,
//!   the same floor as the statusline.

use super::statusline::{NEAR_LIMIT_FLOOR_PERCENT, window_from_claim};
use super::{
    AuthReason, DetectContext, Detection, QuotaDetector, SignalSource, TransientKind, Verdict,
};
use crate::account::LimitWindow;
use crate::time::UnixMillis;

const PREFIX: &str = "anthropic-ratelimit-unified-";

/// Detects quota state in `anthropic-ratelimit-unified-*` response headers.
#[derive(Debug, Clone, Default)]
pub struct HeadersDetector;

impl HeadersDetector {
    /// Builds the detector.
    pub fn new() -> Self {
        Self
    }
}

/// Parsed headers: lower-case names, trimmed values, the original line for evidence.
struct Headers<'a> {
    status: Option<(u16, &'a str)>,
    fields: Vec<(String, &'a str, &'a str)>,
}

impl<'a> Headers<'a> {
    fn parse(text: &'a str) -> Self {
        let mut status = None;
        let mut fields = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if line
                .get(..5)
                .is_some_and(|p| p.eq_ignore_ascii_case("HTTP/"))
            {
                status = line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                    .map(|c| (c, line));
                continue;
            }
            // `:status: 429` (HTTP/2 pseudo-header) keeps its leading colon.
            let (name, value) = match line.strip_prefix(':') {
                Some(rest) => match rest.split_once(':') {
                    Some((n, v)) => (format!(":{}", n.trim()), v),
                    None => continue,
                },
                None => match line.split_once(':') {
                    Some((n, v)) => (n.trim().to_string(), v),
                    None => continue,
                },
            };
            let name = name.to_ascii_lowercase();
            let value = value.trim();
            if name == ":status" || name == "status" {
                if let Some(code) = value.split_whitespace().next().and_then(|c| c.parse().ok()) {
                    status = Some((code, line));
                }
                continue;
            }
            fields.push((name, value, line));
        }
        Self { status, fields }
    }

    fn get(&self, name: &str) -> Option<(&'a str, &'a str)> {
        self.fields
            .iter()
            .rev()
            .find(|(n, _, _)| n == name)
            .map(|(_, v, l)| (*v, *l))
    }

    fn unified(&self, suffix: &str) -> Option<(&'a str, &'a str)> {
        self.get(&format!("{PREFIX}{suffix}"))
    }

    fn number(&self, suffix: &str) -> Option<f64> {
        self.unified(suffix)
            .and_then(|(v, _)| v.parse::<f64>().ok())
            .filter(|n| n.is_finite())
    }

    fn epoch(&self, suffix: &str) -> Option<UnixMillis> {
        let secs = self.number(suffix)?;
        #[allow(clippy::cast_possible_truncation)]
        (secs > 0.0).then(|| UnixMillis((secs * 1000.0).round() as i64))
    }
}

/// The per-window header infixes and their windows.
const WINDOWS: [(&str, LimitWindow); 2] =
    [("5h", LimitWindow::FiveHour), ("7d", LimitWindow::Weekly)];

impl HeadersDetector {
    /// The utilization header of `window` (`…-5h-utilization`, `…-7d-utilization`) as a
    /// percentage, when present.
    pub fn used_percent(&self, evidence: &str, window: LimitWindow) -> Option<f32> {
        let h = Headers::parse(evidence);
        let (infix, _) = WINDOWS.iter().find(|(_, w)| *w == window)?;
        #[allow(clippy::cast_possible_truncation)]
        h.number(&format!("{infix}-utilization"))
            .map(|u| (u * 100.0) as f32)
    }
}

impl QuotaDetector for HeadersDetector {
    fn source(&self) -> SignalSource {
        SignalSource::Headers
    }

    fn detect(&self, evidence: &str, ctx: &DetectContext) -> Detection {
        let h = Headers::parse(evidence);
        let status = h.unified("status");
        let claim = h
            .unified("representative-claim")
            .map(|(v, _)| window_from_claim(v));
        let retry_after = h
            .get("retry-after")
            .and_then(|(v, _)| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0);

        // Per-window utilization, as percentages.
        #[allow(clippy::cast_possible_truncation)]
        let usage: Vec<(LimitWindow, f32, &str)> = WINDOWS
            .iter()
            .filter_map(|(infix, w)| {
                let u = h.number(&format!("{infix}-utilization"))?;
                Some((*w, (u * 100.0) as f32, *infix))
            })
            .collect();

        // 1. Rejected: the quota is used up.
        let rejected_window = WINDOWS
            .iter()
            .find(|(infix, _)| {
                h.unified(&format!("{infix}-status"))
                    .is_some_and(|(v, _)| v.eq_ignore_ascii_case("rejected"))
            })
            .copied();
        let is_rejected = status.is_some_and(|(v, _)| v.eq_ignore_ascii_case("rejected"));
        if is_rejected || rejected_window.is_some() {
            let window = claim
                .or(rejected_window.map(|(_, w)| w))
                .or_else(|| {
                    usage
                        .iter()
                        .find(|(_, u, _)| *u >= 100.0)
                        .map(|(w, _, _)| *w)
                })
                .unwrap_or(LimitWindow::Other);
            let own_reset = WINDOWS
                .iter()
                .find(|(_, w)| *w == window)
                .and_then(|(infix, _)| h.epoch(&format!("{infix}-reset")));
            #[allow(clippy::cast_possible_truncation)]
            let resets_at = h.epoch("reset").or(own_reset).or_else(|| {
                retry_after
                    .map(|s| UnixMillis(ctx.observed_at.0.saturating_add((s * 1000.0) as i64)))
            });
            let line = status
                .map(|(_, l)| l)
                .or_else(|| {
                    rejected_window.and_then(|(infix, _)| {
                        h.unified(&format!("{infix}-status")).map(|(_, l)| l)
                    })
                })
                .unwrap_or_default();
            // The plan's window is out, but extra usage carries on: Claude Code's own test
            // (`isUsingOverage`) is a rejected unified status with the overage allowed.
            let overage = h.unified("overage-status").filter(|(v, _)| {
                v.eq_ignore_ascii_case("allowed") || v.eq_ignore_ascii_case("allowed_warning")
            });
            if let (true, Some((_, overage_line))) = (is_rejected, overage) {
                return Detection {
                    verdict: Verdict::ExtraUsage { window, resets_at },
                    evidence: Some(overage_line.to_owned()),
                };
            }
            return Detection {
                verdict: Verdict::QuotaExhausted { window, resets_at },
                evidence: Some(line.to_owned()),
            };
        }

        // 2. An error status.
        if let Some((code, line)) = h.status {
            let verdict = match code {
                401 | 403 => Some(Verdict::AuthRequired {
                    reason: AuthReason::Rejected,
                }),
                429 => Some(Verdict::Transient {
                    kind: TransientKind::Throttled,
                }),
                529 => Some(Verdict::Transient {
                    kind: TransientKind::Overloaded,
                }),
                500..=599 => Some(Verdict::Transient {
                    kind: TransientKind::ServerError,
                }),
                _ => None,
            };
            if let Some(verdict) = verdict {
                return Detection {
                    verdict,
                    evidence: Some(line.to_owned()),
                };
            }
        } else if status.is_none() {
            if let Some((_, line)) = h.get("retry-after") {
                return Detection {
                    verdict: Verdict::Transient {
                        kind: TransientKind::Throttled,
                    },
                    evidence: Some(line.to_owned()),
                };
            }
        }

        // Extra usage in use, said outright on an answer that went through.
        if let Some((v, line)) = h.unified("overage-in-use") {
            if v.eq_ignore_ascii_case("true") {
                return Detection {
                    verdict: Verdict::ExtraUsage {
                        window: claim.unwrap_or(LimitWindow::Other),
                        resets_at: h.epoch("reset"),
                    },
                    evidence: Some(line.to_owned()),
                };
            }
        }

        // 3. Allowed, maybe with a warning.
        let Some((value, status_line)) = status else {
            return Detection::clear();
        };
        let warning = value.eq_ignore_ascii_case("allowed_warning");
        let chosen = claim
            .and_then(|c| usage.iter().find(|(w, _, _)| *w == c))
            .or_else(|| usage.iter().max_by(|a, b| a.1.total_cmp(&b.1)));
        let Some(&(window, used_percent, infix)) = chosen else {
            return Detection::clear();
        };
        if !warning && used_percent < NEAR_LIMIT_FLOOR_PERCENT {
            return Detection::clear();
        }
        let resets_at = h
            .epoch(&format!("{infix}-reset"))
            .or_else(|| h.epoch("reset"));
        let evidence = h
            .unified(&format!("{infix}-utilization"))
            .map_or(status_line, |(_, l)| l);
        Detection {
            verdict: Verdict::NearLimit {
                window,
                used_percent,
                resets_at,
            },
            evidence: Some(evidence.to_owned()),
        }
    }
}
