//! The words Claude Code uses for quota, near-limit, transient and login failures.
//!
//! [`MessageClassifier`] classifies one message text: the content of one pane line (after
//! the `⎿`/`●` marker, wrapped rows joined) or the text of one transcript error line. It is
//! shared by the pane and transcript detectors so both read the same vocabulary.
//!
//! Families, checked in this order (the first that matches decides):
//!
//! 1. `Claude AI usage limit reached|<epoch>` (older versions): quota, reset from the epoch.
//! 2. Login failures: `Not logged in · Please run /login`, `OAuth token has expired`,
//!    `Invalid API key`, `API Error: 401 …`, revoked tokens.
//! 3. Transient failures: `API Error …` (500, 529, `Request rejected (429)`, connection),
//!    `500 Internal server error · retrying in 2s · attempt 4/10`, `529 Overloaded …`,
//!    `Connection error`, `ECONNREFUSED`, `fetch failed`, … These are checked before the
//!    quota wordings, so a throttle whose body says "rate limit" stays a throttle.
//! 4. Quota wordings: `You've hit your 5-hour limit · resets …` (and the `session`, `weekly`,
//!    `Opus`, `Sonnet` variants), `Claude usage limit reached. Your limit will reset at …`,
//!    `5-hour limit reached ∙ resets 3pm`, `Usage limit reached · continuing automatically
//!    at …`.
//!    Extra usage or usage credits used up (`You're out of extra usage`, `You're out of
//!    usage credits`, `Your organization is out of usage credits`): quota, window `other`.
//!    Extra usage or usage credits *in use* (the CLI's notice as the plan's window runs
//!    out and paid usage takes over: `You're now using extra usage`, `You're now using
//!    usage credits · Your 5-hour limit resets 3pm`, `Now using usage credits for Opus`,
//!    `You're now using your usage allocation`, `Now using credits`): `extra_usage`, with
//!    the window and reset the notice names.
//! 5. Near-limit wordings: `You've used 92% of your 5-hour limit · resets …`,
//!    `Over 90% of your weekly limit used`, and the notices that carry no figure:
//!    2.1.3xx's wrap-up notice `Approaching your 5-hour usage limit — Claude will wrap up the
//!    current step.` and older `Approaching Opus usage limit`, taken as
//!    [`WRAP_UP_PERCENT`] (the lowest threshold at which the CLI shows them).
//!
//! **Model-scoped windows** (`Opus`, `Sonnet`): a model's weekly cap used up leaves the
//! account usable with other models, so every wording of it (`You've hit your Opus limit ·
//! resets …`, `Opus weekly limit reached ∙ resets …`, `You've used 100% of your Sonnet
//! limit`) and the model-fallback notices (`Claude Opus 4 limit reached, now using Sonnet
//! 4`) are `near_limit` at 100 % for that model's window, never an exhausted account.
//!
//! **Other agents' wordings** never count: a text naming Gemini, Codex, OpenAI or ChatGPT,
//! or using their phrasing (`try again in 4 days`, `daily quota limit`, `Usage limit
//! reached for gemini-2.5-pro`), is not Claude Code's.
//!
//! Matching is case-insensitive and tolerant of missing spaces, because a hard wrap may
//! glue two words together when the rows are joined back.

use regex::{Regex, RegexSet};

use super::reset::ResetParser;
use super::{AuthReason, DetectContext, TransientKind, Verdict};
use crate::account::LimitWindow;
use crate::time::UnixMillis;

/// Where a message must start in the text handed to [`MessageClassifier::classify`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Anchor {
    /// The message must start the text: conversation lines, where anything else in front
    /// means the wording is being quoted.
    Start,
    /// The message may appear anywhere: the footer under the input box, where Claude Code
    /// puts its own notices on the same row as other hints. Transient wordings do not count
    /// there (Claude Code shows retries above the input box, and a user's statusline in the
    /// footer may mention errors).
    Anywhere,
}

/// The used percentage a near-limit notice without a figure stands for: the CLI's default
/// wrap-up threshold (0.95 of the window; some plans use 0.99 or 0.9975), so at least this
/// much is used when the notice shows.
pub const WRAP_UP_PERCENT: f32 = 95.0;

/// Classifies single message texts. Build it once; it holds compiled regexes.
#[derive(Debug, Clone)]
pub(crate) struct MessageClassifier {
    /// Every pattern below in one set: a single pass tells whether any family starts here.
    heads: RegexSet,
    epoch_quota: Regex,
    auth: Regex,
    transient: Regex,
    quota_hit: Regex,
    quota_reached: Regex,
    window_reached: Regex,
    near_used: Regex,
    near_over: Regex,
    near_approaching: Regex,
    extra_usage: Regex,
    extra_usage_on: Regex,
    model_fallback: Regex,
    notice_bullet: Regex,
    wrap_up: Regex,
    resets: ResetParser,
}

/// Window words Claude Code has used, as a regex alternation.
const WINDOW_WORDS: &str = r"(?:5\s*-?\s*hours?|five\s*-?\s*hours?|session|weekly\s*opus|opus\s*weekly|weekly\s*sonnet|sonnet\s*weekly|opus|sonnet|weekly|7\s*-?\s*days?|seven\s*-?\s*days?)";

impl Default for MessageClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl MessageClassifier {
    /// Compiles the patterns.
    pub(crate) fn new() -> Self {
        // Constant patterns: a failure to compile is a bug caught by every test.
        #[allow(clippy::expect_used)]
        let compile = |p: &str| Regex::new(p).expect("message pattern compiles");
        let apos = r"['’`]?";
        let mut this = Self {
            heads: RegexSet::empty(),
            epoch_quota: compile(
                r"(?i)^(?:api\s*error\s*:?\s*)?(?:claude\s*(?:ai\s*)?)?usage\s*limit\s*reached\s*\|\s*\d{9,13}",
            ),
            auth: compile(&format!(
                r"(?ix)^(?:
                    not\s*logged\s*in
                  | please\s*run\s*/login
                  | invalid\s*api\s*key
                  | oauth\s*token\s*(?:has\s*)?(?:expired|been\s*revoked|was\s*revoked|revoked|is\s*invalid|invalid)
                  | (?:your\s*)?(?:access\s*|auth(?:entication)?\s*)?token\s*(?:has\s*)?(?:expired|been\s*revoked|was\s*revoked|revoked)
                  | authentication\s*(?:failed|error)
                  | invalid\s*bearer
                  | api\s*error\s*[:(]?\s*(?:401|403)\b
                  | api\s*error\b[^\n]*?(?:authentication_error|invalid\s*api\s*key|oauth\s*token|token\s*(?:has\s*)?(?:expired|been\s*revoked|revoked)|please\s*run\s*/login|not\s*logged\s*in|permission_error)
                  | (?:401|403)\b[^\n]*?(?:unauthori[sz]ed|forbidden|authentication|/login)
                  | you{apos}?ve\s*been\s*logged\s*out
                  | not\s*signed\s*in\s*to\s*claude\b
                  | login\s*(?:has\s*)?expired
                  | login\s*reached\s*its\s*time\s*limit
                  | session\s*expired\b[^\n]*?/login
                  | failed\s*to\s*authenticate
                  | oauth\s*(?:refresh\s*)?token\s*(?:is\s*)?(?:no\s*longer\s*valid|refresh\s*failed|expired)
                  | oauth\s*refresh\s*token\b[^\n]*?/login
                )"
            )),
            transient: compile(
                r"(?ix)^(?:
                    api\s*error\b
                  | (?:5\d\d|429)\b[^\n]*?(?:error|overloaded|unavailable|gateway|retrying|too\s*many|rate|timeout|timed\s*out)
                  | internal\s*server\s*error
                  | overloaded
                  | request\s*rejected
                  | rate\s*limited
                  | too\s*many\s*requests
                  | retrying\b
                  | unable\s*to\s*connect
                  | connection\s*(?:error|refused|reset|closed|timed\s*out)
                  | e(?:connrefused|connreset|connaborted|timedout|notfound|ai_again|pipe|hostunreach|netunreach)\b
                  | fetch\s*failed
                  | request\s*timed\s*out
                  | socket\s*hang\s*up
                  | network\s*error
                )",
            ),
            quota_hit: compile(&format!(
                r"(?i)^you{apos}\s*(?:ha)?ve\s*(?:hit|reached)\s*(?:your|the)\s*(?P<w>[^·∙•|.:\n]{{0,40}}?)\s*limit"
            )),
            quota_reached: compile(
                r"(?i)^(?:claude\s*(?:(?:ai|max|pro|team)\s*)?)?usage\s*limit\s*reached",
            ),
            window_reached: compile(&format!(
                r"(?i)^(?P<w>{WINDOW_WORDS})\s*(?:usage\s*)?limit\s*reached"
            )),
            near_used: compile(&format!(
                r"(?i)^you{apos}\s*(?:ha)?ve\s*used\s*(?P<p>\d{{1,3}}(?:\.\d+)?)\s*%\s*of\s*(?:your|the)\s*(?P<w>[^·∙•|.:\n%]{{0,40}}?)\s*limit"
            )),
            near_over: compile(
                r"(?i)^over\s*(?P<p>\d{1,3}(?:\.\d+)?)\s*%\s*of\s*(?:your|the)\s*(?P<w>[^·∙•|.:\n%]{0,40}?)\s*limit\s*used",
            ),
            near_approaching: compile(
                r"(?i)^approaching\s*(?:your\s*|the\s*)?(?P<w>[^·∙•|.:\n%—–]{0,40}?)\s*(?:usage\s*)?limit\b",
            ),
            extra_usage: compile(&format!(
                r"(?i)^(?:you{apos}\s*re|you\s*are|your\s*(?:organization|org|team|account)\s*is)\s*out\s*of\s*(?:extra\s*usage|usage\s*credits)"
            )),
            extra_usage_on: compile(&format!(
                r"(?i)^(?:you{apos}\s*re\s*|you\s*are\s*)?now\s*using\s*(?:extra\s*usage|usage\s*credits|your\s*usage\s*allocation|credits)\b"
            )),
            model_fallback: compile(
                r"(?i)^(?:claude\s*)?(?P<w>opus|sonnet)\b[^·∙•|:\n]{0,24}?\blimit\s*reached\s*[,·∙•—–-]?\s*(?:now\s*using|switching\s*to|falling\s*back\s*to|using)\b",
            ),
            notice_bullet: compile(
                r"(?ix)^(?:
                    usage\s*limit\s*reached(?:\s*again)?\s*[·∙•]\s*(?:continuing\s*automatically|set\s*to\s*continue\s*automatically|wrapping\s*up|brief\s*included\s*wrap-?up)
                  | (?:claude\s*(?:ai\s*)?)?usage\s*limit\s*reached\s*\|\s*\d{9,13}
                  | approaching\s*your\s*[^·∙•|.:\n—–]{0,40}?limit\s*[—–-]+\s*claude\s*will\s*wrap\s*up
                  | (?:please\s*run\s*/login\s*[·∙•]\s*)?api\s*error\b
                  | (?:not\s*logged\s*in|invalid\s*api\s*key|oauth\s*token\s*(?:has\s*)?(?:expired|been\s*revoked|revoked)|login\s*(?:has\s*)?expired|login\s*reached\s*its\s*time\s*limit)\s*[·∙•]\s*(?:please\s*)?run\s*/login\s*$
                  | failed\s*to\s*authenticate\s*:
                )",
            ),
            wrap_up: compile(
                r"(?i)^approaching\s*your\s*[^·∙•|.:\n—–]{0,40}?limit\s*[—–-]+\s*claude\s*will\s*wrap\s*up",
            ),
            resets: ResetParser::new(),
        };
        let patterns = [
            &this.epoch_quota,
            &this.auth,
            &this.transient,
            &this.quota_hit,
            &this.quota_reached,
            &this.window_reached,
            &this.near_used,
            &this.near_over,
            &this.near_approaching,
            &this.extra_usage,
            &this.extra_usage_on,
            &this.model_fallback,
        ]
        .map(Regex::as_str);
        #[allow(clippy::expect_used)]
        {
            this.heads = RegexSet::new(patterns).expect("message patterns compile as a set");
        }
        this
    }

    /// Classifies one message text. `None` means the text is not one of the families above;
    /// otherwise the verdict and the byte offset in `text` where the message starts.
    pub(crate) fn classify(
        &self,
        text: &str,
        anchor: Anchor,
        ctx: &DetectContext,
    ) -> Option<(Verdict, usize)> {
        match anchor {
            Anchor::Start => self.classify_start(text, ctx).map(|v| (v, 0)),
            Anchor::Anywhere => {
                // Try the text from the start, then from every word start: footer rows put
                // several notices side by side.
                let starts = std::iter::once(0).chain(
                    text.char_indices()
                        .zip(text.chars().skip(1))
                        .filter(|((_, c), next)| !c.is_alphanumeric() && next.is_alphanumeric())
                        .map(|((i, c), _)| i + c.len_utf8()),
                );
                let mut best: Option<(Verdict, usize)> = None;
                // The end of the notice found last: a later word start inside it is the tail
                // of that notice (`Opus weekly limit reached` holds `weekly limit reached`).
                let mut inside_until = 0;
                for start in starts {
                    if start < inside_until {
                        continue;
                    }
                    // Retries are never shown in the footer; a user's own statusline there
                    // may well say "error" or "429", so transient wordings count only at the
                    // start of a conversation row.
                    let found = self
                        .classify_at(&text[start..], ctx)
                        .filter(|v| !matches!(v, Verdict::Transient { .. }));
                    if let Some(v) = found {
                        inside_until = notice_end(text, start);
                        if best.as_ref().is_none_or(|(b, _)| rank(&v) > rank(b)) {
                            best = Some((v, start));
                        }
                    }
                }
                best
            }
        }
    }

    /// Whether `text` starts with one of the notices Claude Code draws as a `●` row of its
    /// own (`Usage limit reached · continuing automatically at …`, `Claude AI usage limit
    /// reached|<epoch>`, the wrap-up notice). Any other wording on a `●` row is the model's
    /// reply quoting it.
    pub(crate) fn is_notice_bullet(&self, text: &str) -> bool {
        self.notice_bullet.is_match(text.trim_start())
    }

    /// Whether `text` starts with the wrap-up notice (`Approaching your 5-hour usage limit —
    /// Claude will wrap up the current step.`). The model keeps working after it, so a reply
    /// below it does not make it history.
    pub(crate) fn is_wrap_up(&self, text: &str) -> bool {
        self.wrap_up.is_match(text.trim_start())
    }

    /// Classifies `text` from its start, or else after a short prefix naming who reports it
    /// (`researcher failed: You've hit your limit …`, `Background task 3 · usage limit
    /// reached`, `Goal paused · usage limit reached · …`).
    fn classify_start(&self, text: &str, ctx: &DetectContext) -> Option<Verdict> {
        if let Some(v) = self.classify_at(text, ctx) {
            return Some(v);
        }
        let (rest, _) = after_reporter_prefix(text)?;
        self.classify_at(rest, ctx)
    }

    fn classify_at(&self, text: &str, ctx: &DetectContext) -> Option<Verdict> {
        let text = text.trim_start();
        // One lazy-DFA pass rejects almost every row; only a row that starts a message runs
        // the individual (anchored, so cheap) patterns.
        if !self.heads.is_match(text) {
            return None;
        }
        if self.epoch_quota.is_match(text) {
            return Some(used_up(
                window_in(text).unwrap_or(LimitWindow::Other),
                self.resets.find(text, ctx),
            ));
        }
        if self.auth.is_match(text) {
            return Some(Verdict::AuthRequired {
                reason: auth_reason(text),
            });
        }
        if self.transient.is_match(text) {
            // An unrecognised `API Error: 400 …` is neither transient nor a quota.
            return transient_kind(text).map(|kind| Verdict::Transient { kind });
        }
        if foreign_agent(text) {
            return None;
        }
        if self.extra_usage.is_match(text) {
            return Some(Verdict::QuotaExhausted {
                window: LimitWindow::Other,
                resets_at: self.resets.find(text, ctx),
            });
        }
        if self.extra_usage_on.is_match(text) {
            // `You're now using extra usage · Your 5-hour limit resets 3pm`, `Now using
            // usage credits for Opus · Your Opus limit resets …`, `Now using credits`.
            return Some(Verdict::ExtraUsage {
                window: window_in(text).unwrap_or(LimitWindow::Other),
                resets_at: self.resets.find(text, ctx),
            });
        }
        if let Some(c) = self.model_fallback.captures(text) {
            let words = c.name("w").map_or("", |m| m.as_str());
            return window_from_words(words).map(|w| used_up(w, self.resets.find(text, ctx)));
        }
        for pattern in [&self.quota_hit, &self.window_reached] {
            if let Some(c) = pattern.captures(text) {
                let words = c.name("w").map_or("", |m| m.as_str());
                return window_from_words(words).map(|w| used_up(w, self.resets.find(text, ctx)));
            }
        }
        if self.quota_reached.is_match(text) {
            return Some(used_up(
                window_in(text).unwrap_or(LimitWindow::Other),
                self.resets.find(text, ctx),
            ));
        }
        if let Some(near) = self
            .near_used
            .captures(text)
            .or_else(|| self.near_over.captures(text))
        {
            let used_percent: f32 = near.name("p")?.as_str().parse().ok()?;
            let window = window_from_words(near.name("w").map_or("", |m| m.as_str()))?;
            let resets_at = self.resets.find(text, ctx);
            return Some(if used_percent >= 100.0 {
                used_up(window, resets_at)
            } else {
                Verdict::NearLimit {
                    window,
                    used_percent,
                    resets_at,
                }
            });
        }
        let near = self.near_approaching.captures(text)?;
        let window = window_from_words(near.name("w").map_or("", |m| m.as_str()))?;
        Some(Verdict::NearLimit {
            window,
            used_percent: WRAP_UP_PERCENT,
            resets_at: self.resets.find(text, ctx),
        })
    }
}

/// Where the notice that starts at `start` in a footer row ends: at the next separator
/// (`·`, `∙`, `•`, `|`) or a gap of two spaces, whichever comes first.
fn notice_end(text: &str, start: usize) -> usize {
    let rest = &text[start..];
    let sep = rest.find(['·', '∙', '•', '|']).unwrap_or(rest.len());
    let gap = rest.find("  ").unwrap_or(rest.len());
    start + sep.min(gap)
}

/// The verdict for a window used up: an exhausted account, except for a model's own weekly
/// window, which leaves the account usable with other models (`near_limit` at 100 %).
pub(crate) fn used_up(window: LimitWindow, resets_at: Option<UnixMillis>) -> Verdict {
    match window {
        LimitWindow::WeeklyOpus | LimitWindow::WeeklySonnet => Verdict::NearLimit {
            window,
            used_percent: 100.0,
            resets_at,
        },
        _ => Verdict::QuotaExhausted { window, resets_at },
    }
}

/// Words of a prefix that names who reports a failure on Claude Code's own rows: an agent
/// team's teammate, a subagent, a background task, a paused goal.
const REPORTERS: &[&str] = &[
    "agent", "teammate", "task", "worker", "goal", "job", "failed", "error", "@",
];

/// The text after a reporter's prefix (`researcher@team failed: …`, `Goal paused · …`): at
/// most 80 bytes ending in `:`, `·`, `∙` or `—`, and naming a reporter. `None` when the
/// text has no such prefix.
fn after_reporter_prefix(text: &str) -> Option<(&str, &str)> {
    let mut search = 0;
    while let Some(found) = text[search..].find([':', '·', '∙', '—']) {
        let at = search + found;
        if at > 80 {
            return None;
        }
        let sep_len = text[at..].chars().next().map_or(1, char::len_utf8);
        let (prefix, rest) = (&text[..at], &text[at + sep_len..]);
        let lower = prefix.to_lowercase();
        if REPORTERS.iter().any(|w| lower.contains(w)) && rest.starts_with(' ') {
            return Some((rest.trim_start(), prefix));
        }
        search = at + sep_len;
    }
    None
}

/// Whether a limit text is another coding agent's (Gemini CLI, Codex), not Claude Code's.
fn foreign_agent(text: &str) -> bool {
    let lower = text.to_lowercase();
    [
        "gemini",
        "codex",
        "openai",
        "chatgpt",
        "gpt-",
        "try again in ",
        "try again at ",
        "quota limit",
        "upgrade to pro",
        "upgrade to plus",
        "upgrade your plan to continue",
        "pro models",
        "access resets",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

/// How much a verdict matters when several are current at once: a quota outranks a login
/// failure, which outranks a transient failure, which outranks extra usage in use, which
/// outranks a near-limit warning.
pub(crate) fn rank(v: &Verdict) -> u8 {
    match v {
        Verdict::Clear => 0,
        Verdict::NearLimit { .. } => 1,
        Verdict::ExtraUsage { .. } => 2,
        Verdict::Transient { .. } => 3,
        Verdict::AuthRequired { .. } => 4,
        Verdict::QuotaExhausted { .. } => 5,
    }
}

/// Maps the words in front of "limit" to a window. `None` when they name a limit that is
/// not a subscription quota (`fast`, `context`, `rate`, `budget`, …).
pub(crate) fn window_from_words(words: &str) -> Option<LimitWindow> {
    let w: String = words
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    let has = |s: &str| w.contains(s);
    if has("fast") || has("context") || has("rate") || has("budget") || has("nesting") {
        return None;
    }
    Some(if has("opus") {
        LimitWindow::WeeklyOpus
    } else if has("sonnet") {
        LimitWindow::WeeklySonnet
    } else if has("5hour") || has("fivehour") || has("session") {
        LimitWindow::FiveHour
    } else if has("weekly") || has("7day") || has("sevenday") {
        LimitWindow::Weekly
    } else {
        LimitWindow::Other
    })
}

/// The window a free-form quota text mentions, if any (`Usage limit reached for your
/// weekly limit`).
fn window_in(text: &str) -> Option<LimitWindow> {
    let lower = text.to_ascii_lowercase();
    let known = |w| {
        if w == LimitWindow::Other {
            None
        } else {
            Some(w)
        }
    };
    [
        "opus",
        "sonnet",
        "5-hour",
        "five-hour",
        "session limit",
        "weekly",
        "7-day",
    ]
    .iter()
    .find(|word| lower.contains(*word))
    .and_then(|word| window_from_words(word))
    .and_then(known)
}

fn auth_reason(text: &str) -> AuthReason {
    let lower = text.to_ascii_lowercase();
    if lower.contains("expired") {
        AuthReason::Expired
    } else if [
        "revoked",
        "invalid",
        "401",
        "403",
        "authentication",
        "forbidden",
        "bearer",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        AuthReason::Rejected
    } else {
        AuthReason::NotLoggedIn
    }
}

/// The transient family of a failure text; `None` for API errors that are none of them.
fn transient_kind(text: &str) -> Option<TransientKind> {
    let lower = text.to_ascii_lowercase();
    let has = |w: &str| lower.contains(w);
    let code = |c: &str| {
        lower.match_indices(c).any(|(i, _)| {
            let before = lower[..i].chars().next_back();
            let after = lower[i + c.len()..].chars().next();
            !before.is_some_and(|b| b.is_ascii_alphanumeric())
                && !after.is_some_and(|a| a.is_ascii_alphanumeric())
        })
    };
    if code("529") || has("overloaded") {
        Some(TransientKind::Overloaded)
    } else if code("429")
        || has("rate limit")
        || has("rate_limit")
        || has("ratelimit")
        || has("rate-limit")
        || has("too many requests")
        || has("request rejected")
    {
        Some(TransientKind::Throttled)
    } else if ["500", "502", "503", "504", "520", "522", "524"]
        .iter()
        .any(|c| code(c))
        || has("internal server error")
        || has("server error")
        || has("api_error")
        || has("bad gateway")
        || has("service unavailable")
        || has("gateway")
    {
        Some(TransientKind::ServerError)
    } else if [
        "connection",
        "econn",
        "etimedout",
        "enotfound",
        "eai_again",
        "epipe",
        "ehostunreach",
        "enetunreach",
        "fetch failed",
        "timed out",
        "timeout",
        "socket hang up",
        "network",
        "unable to connect",
        "dns",
    ]
    .iter()
    .any(|w| has(w))
    {
        Some(TransientKind::Network)
    } else if has("retrying") {
        Some(TransientKind::ServerError)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::UnixMillis;

    fn v(text: &str) -> Option<Verdict> {
        MessageClassifier::new()
            .classify(text, Anchor::Start, &DetectContext::utc(UnixMillis(0)))
            .map(|(v, _)| v)
    }

    #[test]
    fn families() {
        // A model's weekly window used up leaves the account usable with other models.
        assert!(matches!(
            v("You've hit your weekly Opus limit · resets 3pm"),
            Some(Verdict::NearLimit {
                window: LimitWindow::WeeklyOpus,
                used_percent: 100.0,
                ..
            })
        ));
        assert!(matches!(
            v("You've hit your session limit"),
            Some(Verdict::QuotaExhausted {
                window: LimitWindow::FiveHour,
                ..
            })
        ));
        assert_eq!(v("You've hit your fast limit · resets in 5m"), None);
        assert_eq!(
            v("Context limit reached · /compact or /clear to continue"),
            None
        );
        assert!(matches!(
            v("API Error: Request rejected (429) · you have hit your rate limit"),
            Some(Verdict::Transient {
                kind: TransientKind::Throttled
            })
        ));
        assert!(matches!(
            v("Not logged in · Please run /login"),
            Some(Verdict::AuthRequired {
                reason: AuthReason::NotLoggedIn
            })
        ));
        assert!(matches!(
            v("OAuth token has expired. Please run /login"),
            Some(Verdict::AuthRequired {
                reason: AuthReason::Expired
            })
        ));
        assert_eq!(v("API Error: 400 prompt is too long"), None);
        assert_eq!(v("OAuth token refreshed"), None);
        // Model fallback: that model's window, not an account quota.
        assert!(matches!(
            v("Claude Opus 4 limit reached, now using Sonnet 4"),
            Some(Verdict::NearLimit {
                window: LimitWindow::WeeklyOpus,
                used_percent: 100.0,
                ..
            })
        ));
        assert!(matches!(
            v("Claude Max usage limit reached · resets 3pm"),
            Some(Verdict::QuotaExhausted {
                window: LimitWindow::Other,
                ..
            })
        ));
        assert_eq!(v("Here: You've hit your 5-hour limit"), None);
    }
}
