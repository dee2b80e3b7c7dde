//! Quota detection from transcript JSONL lines.
//!
//! Claude Code appends one JSON object a line to
//! `$CLAUDE_CONFIG_DIR/projects/<project>/<session>.jsonl`. A failed API call is written as a
//! synthetic assistant line:
//!
//! ```json
//! {"type":"assistant","isApiErrorMessage":true,"apiErrorStatus":429,
//!  "apiErrorType":"rate_limit_error","error":"rate_limit",
//!  "message":{"model":"<synthetic>","role":"assistant",
//!             "content":[{"type":"text","text":"You've hit your 5-hour limit · resets 9:38am (UTC)"}]}}
//! ```
//!
//! # Rules
//!
//! - Only error lines count: `isApiErrorMessage: true`, or a `<synthetic>` model. Every
//!   other line (user turns, real assistant replies even when they quote a limit message,
//!   `last-prompt`, `cost-state`, …) is [`Verdict::Clear`]. Malformed JSON is clear too.
//! - The error's text (every `text` item of `message.content`, or a string `content`) is
//!   read line by line with the same vocabulary as the pane
//!   (`MessageClassifier`, anchored at the line start).
//! - Newer versions also write structured quota fields (`quotaLimits` /
//!   `apiErrorParams.rate_limit_info` with `status: "rejected"`, `rateLimitType`,
//!   `resetsAt`; `apiError: "usage_limit_reached"`): they make the line a quota whatever the
//!   text says, and their window and exact reset instant win over the ones read from the text.
//! - When the text names no known family, the other fields decide: 401/403 or an
//!   authentication error → login required; 529 or `overloaded` → overloaded; 429 or
//!   `rate_limit` → **throttle** (a quota always comes with one of the quota wordings, so a
//!   bare 429 is never taken for one); other 5xx or `api_error` → server error; connection
//!   or timeout errors → network.
//! - Given several lines (a transcript file), the detector classifies each in order and
//!   reports the current state: the **last** verdict that is not clear, unless a later
//!   assistant reply from a real model (not `<synthetic>`) shows the API answered again, in
//!   which case the failure is history and the result is clear. Transcripts are appended
//!   to, so the last error is the current one until the model speaks again.

use serde_json::Value;

use super::message::{Anchor, MessageClassifier, rank, used_up};
use super::statusline::{instant_from_json, window_from_claim};
use super::{
    AuthReason, Corroboration, DetectContext, Detection, QuotaDetector, SignalSource,
    TransientKind, Verdict,
};
use crate::account::LimitWindow;
use crate::time::UnixMillis;

/// Detects quota, login and transient failures in transcript JSONL lines.
#[derive(Debug, Clone, Default)]
pub struct TranscriptDetector {
    messages: MessageClassifier,
}

impl TranscriptDetector {
    /// Builds the detector (compiles its regexes once).
    pub fn new() -> Self {
        Self {
            messages: MessageClassifier::new(),
        }
    }

    /// Classifies one JSONL line.
    pub fn detect_line(&self, line: &str, ctx: &DetectContext) -> Detection {
        let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line.trim()) else {
            return Detection::clear();
        };
        let message = obj.get("message");
        let model = obj
            .get("model")
            .or_else(|| message.and_then(|m| m.get("model")))
            .and_then(Value::as_str);
        let is_error = obj.get("isApiErrorMessage").and_then(Value::as_bool) == Some(true);
        if !is_error && model != Some("<synthetic>") {
            return Detection::clear();
        }

        // The on-screen text, line by line.
        let mut best: Option<(Verdict, String)> = None;
        for text in texts(message) {
            for text_line in text.lines() {
                let Some((verdict, at)) = self.messages.classify(text_line, Anchor::Start, ctx)
                else {
                    continue;
                };
                if best.as_ref().is_none_or(|(b, _)| rank(&verdict) > rank(b)) {
                    best = Some((verdict, text_line[at..].trim().to_owned()));
                }
            }
        }
        if let Some(limits) = structured_limits(&obj) {
            // The text's own reading of a used-up window (a model's weekly window reads as
            // `near_limit` at 100 %, see `message`).
            let (window, resets_at, from_text) = match &best {
                Some((Verdict::QuotaExhausted { window, resets_at }, _)) => {
                    (*window, *resets_at, true)
                }
                Some((
                    Verdict::NearLimit {
                        window,
                        used_percent,
                        resets_at,
                    },
                    _,
                )) if *used_percent >= 100.0 => (*window, *resets_at, true),
                _ => (LimitWindow::Other, None, false),
            };
            let evidence = match best {
                Some((_, text)) if from_text => text,
                _ => limits.evidence,
            };
            return Detection {
                verdict: used_up(
                    limits.window.unwrap_or(window),
                    limits.resets_at.or(resets_at),
                ),
                evidence: Some(evidence),
            };
        }
        if let Some((verdict, evidence)) = best {
            return Detection {
                verdict,
                evidence: Some(evidence),
            };
        }
        if !is_error {
            // A synthetic line that is not an error (e.g. "No response requested.").
            return Detection::clear();
        }
        from_fields(&obj)
    }
}

impl TranscriptDetector {
    /// What one line says is fine, for the engine's veto of pane text
    /// ([`Corroboration`]): an assistant message from a real model (not an API error) is
    /// [`Corroboration::OrdinaryReply`]; a prompt the person (or the embedder, replaying one) typed is
    /// [`Corroboration::PromptWritten`]. Tool results, the CLI's own lines (slash commands
    /// and their output, meta lines, the interruption marker) and every other line say
    /// nothing (`None`).
    pub fn corroboration(&self, line: &str) -> Option<Corroboration> {
        let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line.trim()) else {
            return None;
        };
        match obj.get("type").and_then(Value::as_str) {
            Some("assistant") => is_model_reply(line).then_some(Corroboration::OrdinaryReply),
            Some("user") if is_typed_prompt(&obj) => Some(Corroboration::PromptWritten),
            _ => None,
        }
    }
}

/// Whether a `user` line is a prompt that starts a turn: text typed by a person, not a
/// tool result, a meta line or the CLI's own bookkeeping.
fn is_typed_prompt(obj: &serde_json::Map<String, Value>) -> bool {
    if obj.get("isMeta").and_then(Value::as_bool) == Some(true)
        || obj.get("isCompactSummary").and_then(Value::as_bool) == Some(true)
        || obj.get("toolUseResult").is_some()
    {
        return false;
    }
    let message = obj.get("message");
    if let Some(Value::Array(items)) = message.and_then(|m| m.get("content")) {
        if items
            .iter()
            .any(|i| i.get("type").and_then(Value::as_str) == Some("tool_result"))
        {
            return false;
        }
    }
    let texts = texts(message);
    let own = |t: &str| {
        let t = t.trim_start();
        t.starts_with("<command-name>")
            || t.starts_with("<command-message>")
            || t.starts_with("<local-command-")
            || t.starts_with("<bash-")
            || t.starts_with("[Request interrupted")
            || t.starts_with("Caveat:")
    };
    !texts.is_empty() && !texts.iter().any(|t| own(t))
}

/// What the structured quota fields of an error line say (`quotaLimits`,
/// `apiErrorParams.rate_limit_info`, `apiError: "usage_limit_reached"`).
struct StructuredLimits {
    window: Option<LimitWindow>,
    resets_at: Option<UnixMillis>,
    evidence: String,
}

/// The structured quota fields, when they say the quota was rejected.
fn structured_limits(obj: &serde_json::Map<String, Value>) -> Option<StructuredLimits> {
    let info = [
        obj.get("quotaLimits"),
        obj.get("apiErrorParams")
            .and_then(|p| p.get("rate_limit_info")),
    ]
    .into_iter()
    .flatten()
    .find(|info| info.get("status").and_then(Value::as_str) == Some("rejected"));
    match info {
        Some(info) => {
            let kind = info.get("rateLimitType").and_then(Value::as_str);
            Some(StructuredLimits {
                window: kind.map(window_from_claim),
                resets_at: info.get("resetsAt").and_then(instant_from_json),
                evidence: format!(
                    "quotaLimits.status=rejected rateLimitType={}",
                    kind.unwrap_or("?")
                ),
            })
        }
        None if obj.get("apiError").and_then(Value::as_str) == Some("usage_limit_reached") => {
            Some(StructuredLimits {
                window: None,
                resets_at: None,
                evidence: "apiError=usage_limit_reached".to_owned(),
            })
        }
        None => None,
    }
}

/// Whether a line is an assistant reply the model really produced (not a synthetic error):
/// the API answered, so an earlier failure is history.
fn is_model_reply(line: &str) -> bool {
    let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line.trim()) else {
        return false;
    };
    let model = obj
        .get("message")
        .and_then(|m| m.get("model"))
        .or_else(|| obj.get("model"))
        .and_then(Value::as_str);
    obj.get("type").and_then(Value::as_str) == Some("assistant")
        && obj.get("isApiErrorMessage").and_then(Value::as_bool) != Some(true)
        && model.is_some_and(|m| m != "<synthetic>")
}

/// The text items of a message: `content` as a string, or every `{"type":"text"}` item.
fn texts(message: Option<&Value>) -> Vec<&str> {
    match message.and_then(|m| m.get("content")) {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| item.get("text").and_then(Value::as_str))
            .collect(),
        _ => Vec::new(),
    }
}

/// The verdict of an error line whose text names no known family.
fn from_fields(obj: &serde_json::Map<String, Value>) -> Detection {
    let status = obj.get("apiErrorStatus").and_then(Value::as_i64);
    let mut words = String::new();
    for key in ["apiErrorType", "error"] {
        match obj.get(key) {
            Some(Value::String(s)) => words.push_str(s),
            Some(Value::Object(o)) => {
                for inner in ["type", "message"] {
                    if let Some(s) = o.get(inner).and_then(Value::as_str) {
                        words.push_str(s);
                        words.push(' ');
                    }
                }
            }
            _ => {}
        }
        words.push(' ');
    }
    let words = words.to_ascii_lowercase();
    let has = |w: &str| words.contains(w);
    let verdict = if matches!(status, Some(401 | 403))
        || has("authentication")
        || has("permission")
        || has("oauth")
    {
        Verdict::AuthRequired {
            reason: if has("expired") {
                AuthReason::Expired
            } else {
                AuthReason::Rejected
            },
        }
    } else if status == Some(529) || has("overloaded") {
        Verdict::Transient {
            kind: TransientKind::Overloaded,
        }
    } else if status == Some(429) || has("rate_limit") {
        Verdict::Transient {
            kind: TransientKind::Throttled,
        }
    } else if status.is_some_and(|s| (500..600).contains(&s)) || has("api_error") || has("server") {
        Verdict::Transient {
            kind: TransientKind::ServerError,
        }
    } else if has("connection") || has("timeout") || has("network") || has("econn") {
        Verdict::Transient {
            kind: TransientKind::Network,
        }
    } else {
        return Detection::clear();
    };
    let mut evidence = Vec::new();
    if let Some(s) = status {
        evidence.push(format!("apiErrorStatus={s}"));
    }
    for key in ["apiErrorType", "error"] {
        if let Some(Value::String(s)) = obj.get(key) {
            evidence.push(format!("{key}={s}"));
        }
    }
    Detection {
        verdict,
        evidence: Some(evidence.join(" ")),
    }
}

impl QuotaDetector for TranscriptDetector {
    fn source(&self) -> SignalSource {
        SignalSource::Transcript
    }

    /// Classifies every line of `evidence` in order and returns the current state: the last
    /// verdict that is not clear, unless a later real assistant reply superseded it.
    fn detect(&self, evidence: &str, ctx: &DetectContext) -> Detection {
        let mut state = Detection::clear();
        for line in evidence.lines().filter(|l| !l.trim().is_empty()) {
            let found = self.detect_line(line, ctx);
            if found.verdict != Verdict::Clear {
                state = found;
            } else if is_model_reply(line) {
                state = Detection::clear();
            }
        }
        state
    }
}
