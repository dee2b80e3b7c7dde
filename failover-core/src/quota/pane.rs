//! Quota detection from a captured terminal pane.
//!
//! # How Claude Code lays out its screen
//!
//! ```text
//! ❯ explain this function                       ← a user turn (a submitted prompt)
//!   ⎿  You've hit your 5-hour limit · resets 9:38am (UTC)   ← the API error for that turn
//! ● Usage limit reached · continuing automatically at 9:38am · esc to cancel
//!
//! ● Bash(cat notes.txt)                         ← a tool call …
//!   ⎿  You've hit your 5-hour limit …           ← … and its output: quoted, not news
//!
//! ● Sure, here is …                             ← an assistant reply
//! ─────────────────────────────────────────     ← the input box: what the user is typing
//! ❯ You've hit your 5-hour limit                ←   (never a verdict)
//! ─────────────────────────────────────────
//!   ? for shortcuts   You've used 92% of your 5-hour limit · resets 9:38am   ← the footer
//! ```
//!
//! # Rules
//!
//! - **Only Claude Code's own rows count, never conversation content.** Messages are read
//!   only where Claude Code draws them itself:
//!   - a `⎿` row right under a user turn (or under the error before it): the error of the
//!     refused turn. At the top of the capture, where the prompt may have scrolled away, a
//!     `⎿` row counts too. Any other `⎿` row is a tool's output (under a `● Tool(…)` call)
//!     or a quote inside a reply (after a blank row): content.
//!   - a `●` row at the left edge that is one of Claude Code's own notices
//!     (`MessageClassifier::is_notice_bullet`: `Usage limit reached · continuing
//!     automatically at …`, `Claude AI usage limit reached|<epoch>`, an API error or a login
//!     failure as the CLI draws it, the wrap-up notice) or a retry. Any other wording on a
//!     `●` row is the model's reply: it quotes the wording and makes what is above history.
//!     A reply whose first line is character for character one of those notices cannot be
//!     told apart on a plain-text screen; the transcript can.
//!   - a status row (spinner or notice glyph at the left edge: `✻`, `✶`, `✳`, `✢`, `✽`,
//!     `⚠`): Claude Code shows retries there (`✻ 500 Internal server error · retrying in 1s ·
//!     attempt 3/10`). The turn summary after a refused turn (`✻ Worked for 0s`) is such a
//!     row, not a reply: the message above it stays current.
//!   - the footer under the input box (see below).
//!
//!   Everything else is content: replies and their continuation rows, tool calls and their
//!   output, the person's prompts (`>`/`❯` and their indented continuation), the input box.
//! - **A message must start its row**, after the marker, or follow a short prefix naming who
//!   reports it (`researcher@team failed: You've hit your limit …`, `Goal paused · usage
//!   limit reached …`). Text that merely contains a wording is not a message.
//! - **Only the current state counts.** A later user turn or a later `●` reply/tool call
//!   makes every message above it stale, except the wrap-up notice (`Approaching your 5-hour
//!   usage limit — Claude will wrap up the current step.`), after which the model goes on
//!   working: only a later user turn makes that one history. A slash command or shell escape (`❯ /model`,
//!   `❯ ! ls`) does not: it asks nothing of the model (Claude Code itself opens
//!   `/rate-limit-options` right under a quota message). The footer under the input box is
//!   always current; there a message may start anywhere in a row (Claude Code puts its
//!   notices beside other hints), but transient wordings do not count (retries are shown
//!   above the box, and a user's own statusline down there may mention errors), and a word
//!   inside a notice already found is its tail, not a notice of its own.
//! - **A model's used-up weekly window** (`near_limit` at 100 %) beside a notice that names
//!   no window (`Usage limit reached · continuing automatically …`) is what that notice is
//!   about: the account is not exhausted.
//! - **The input box** is a prompt row right under a top border (`───` or `╭───╮`); what
//!   follows until the closing border is being typed, what follows that is the footer.
//! - **Several current messages:** the highest rank wins (quota, then login, then transient,
//!   then near-limit). Among quota messages one naming its window wins over one that does not
//!   (`Usage limit reached · continuing automatically …`), and a missing reset time is taken
//!   from the other message. Among near-limit warnings the highest percentage wins.
//! - **Wrapped rows are joined back.** A content row is followed by up to
//!   [`MAX_CONTINUATION_ROWS`] unmarked rows as long as each could be the continuation of a
//!   wrap: the previous row plus the next row's first word would not have fit in
//!   [`WRAP_MIN_COLUMNS`] columns. A continuation is joined with a space, except a column-0
//!   one after a row at least [`MIN_PANE_WIDTH`] wide: that is a terminal's mid-word wrap,
//!   joined with nothing. The regexes tolerate a missing space where a wrap glued words.
//! - **ANSI escapes are removed first**, so styling never changes a verdict.
//!
//! The evidence is the joined message text without its marker.
//!
//! # Speed
//!
//! One Aho–Corasick pass over the pane looks for the few keywords every family contains
//! (`limit`, `error`, `login`, …). A pane without any is clear at once; otherwise only rows
//! holding a keyword reach the regexes.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::message::{Anchor, MessageClassifier, rank};
use super::{DetectContext, Detection, QuotaDetector, SignalSource, Verdict, ansi};
use crate::account::LimitWindow;

/// How many unmarked rows may continue one wrapped message.
pub(crate) const MAX_CONTINUATION_ROWS: usize = 6;
/// A row was wrapped into the next one only if the row, a space and the next row's first
/// word would not have fit in this many columns. Panes are at least 60 columns wide, and
/// Claude Code keeps a small margin inside them, so a word that would still have fit in 50
/// columns was not pushed to the next row by a wrap.
pub(crate) const WRAP_MIN_COLUMNS: usize = 50;
/// A terminal (not Claude Code) wraps mid-word at exactly the pane width, at least this.
pub(crate) const MIN_PANE_WIDTH: usize = 60;

/// Keywords at least one of which appears in every message family. Matched case-sensitively
/// (a few letters are left off where the case varies: `imit` for `Limit`/`limit`), which keeps
/// the automaton small enough for the vectorised search.
const KEYWORDS: &[&str] = &[
    "imit",
    "rror",
    "ERROR",
    "verload",
    "OVERLOAD",
    "ogged",
    "ogin",
    "oken",
    "API key",
    "api key",
    "ECONN",
    "ETIMEDOUT",
    "ENOTFOUND",
    "EAI_AGAIN",
    "EPIPE",
    "UNREACH",
    "etch failed",
    "imed out",
    "etrying",
    "ang up",
    "nauthori",
    "orbidden",
    "429",
    "ejected",
    "nable to connect",
    "oo many",
    "oo Many",
    "etwork",
    "xtra usage",
    "sage credits",
    "sage allocation",
    "sing credits",
];

/// Detects quota, login and transient failures in a captured pane (with or without ANSI).
#[derive(Debug, Clone)]
pub struct PaneDetector {
    prefilter: AhoCorasick,
    messages: MessageClassifier,
}

impl Default for PaneDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl PaneDetector {
    /// Builds the detector (compiles its keyword automaton and regexes once).
    pub fn new() -> Self {
        // Constant keywords: a failure to build is a bug caught by every test.
        #[allow(clippy::expect_used)]
        let prefilter = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostFirst)
            .build(KEYWORDS)
            .expect("keyword automaton builds");
        Self {
            prefilter,
            messages: MessageClassifier::new(),
        }
    }
}

/// What a row is, from its first visible character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Blank,
    /// A horizontal rule: the input box's border.
    Rule,
    /// `>` / `❯` at the left edge: a user turn, or the input box's prompt.
    Prompt,
    /// `●` / `⏺`: an assistant reply, a tool call, or a status message.
    Bullet,
    /// `⎿`: a result hanging under the block above.
    Result,
    /// A spinner or notice glyph at the left edge (`✻ Working…`,
    /// `✻ 500 Internal server error · retrying in 1s · attempt 3/10`).
    Status,
    /// Anything else: continuation, spinner, banner, footer text.
    Other,
}

/// Which block the rows being read belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    /// Nothing known (top of the capture, print-mode output, a fresh `⎿` block).
    Loose,
    /// A submitted user turn: quoted text.
    UserTurn,
    /// An assistant reply or tool call and its output: quoted text.
    Reply,
    /// A message (quota, error) and its continuation.
    Message,
    /// Inside the input box: what the user is typing.
    InputBox,
    /// Under the input box: Claude Code's footer and notices.
    Footer,
}

#[derive(Clone, Copy, Debug)]
struct Row<'a> {
    /// Byte offset of the row in the pane text.
    start: usize,
    /// The row without trailing blanks and without a `│` box border.
    text: &'a str,
    /// Leading spaces.
    indent: usize,
    kind: Kind,
    /// The text after the marker (or after the indentation when there is none).
    content: &'a str,
}

/// Whether `next` can be the continuation of a wrapped `prev` (see [`WRAP_MIN_COLUMNS`]).
fn wraps_into(prev: &Row<'_>, next: &Row<'_>) -> bool {
    let prev_len = prev.text.chars().count();
    let first_word = next
        .content
        .split(' ')
        .next()
        .unwrap_or_default()
        .chars()
        .count();
    prev_len + 1 + first_word >= WRAP_MIN_COLUMNS
}

fn is_rule_char(c: char) -> bool {
    matches!(
        c,
        '─' | '━'
            | '═'
            | '╌'
            | '┄'
            | '╭'
            | '╮'
            | '╰'
            | '╯'
            | '┌'
            | '┐'
            | '└'
            | '┘'
            | '▔'
            | '▁'
    )
}

fn parse_row(start: usize, line: &str) -> Row<'_> {
    let mut text = line.trim_end();
    // The input box of older versions has side borders: `│ > typed │`.
    if let Some(inner) = text.trim_start().strip_prefix('│') {
        text = inner.strip_suffix('│').unwrap_or(inner).trim_end();
    }
    let body = text.trim_start();
    let indent = text.len() - body.len();
    let mut chars = body.chars();
    let first = chars.next();
    let after_first = chars.as_str();
    let (kind, content) = match first {
        None => (Kind::Blank, ""),
        Some('>' | '❯')
            if indent <= 1
                && (after_first.is_empty() || after_first.starts_with([' ', '\u{a0}'])) =>
        {
            (Kind::Prompt, after_first.trim_start())
        }
        Some('●' | '⏺') if indent <= 2 => (Kind::Bullet, after_first.trim_start()),
        Some('⎿') => (Kind::Result, after_first.trim_start()),
        // Spinner frames and the notice sign. The spinner's `·` frame is left out: `·` is
        // also the separator inside messages, and a terminal wrap can put one at the start
        // of a row.
        Some('✢' | '✳' | '✶' | '✻' | '✽' | '⚠') if indent == 0 && after_first.starts_with(' ') => {
            (Kind::Status, after_first.trim_start())
        }
        Some(c) if is_rule_char(c) && body.chars().filter(|c| is_rule_char(*c)).count() >= 8 => {
            (Kind::Rule, "")
        }
        Some(_) => (Kind::Other, body),
    };
    Row {
        start,
        text,
        indent,
        kind,
        content,
    }
}

/// A message found on screen.
#[derive(Debug)]
struct Candidate {
    verdict: Verdict,
    evidence: String,
    /// Survives later replies of the same turn (the wrap-up notice).
    sticky: bool,
}

impl PaneDetector {
    /// The index of the last row that continues the wrapped content row `i`.
    fn continuation_end(rows: &[Row<'_>], i: usize) -> usize {
        let mut last = i;
        while last + 1 < rows.len()
            && last - i < MAX_CONTINUATION_ROWS
            && rows[last + 1].kind == Kind::Other
            && wraps_into(&rows[last], &rows[last + 1])
        {
            last += 1;
        }
        last
    }

    /// Joins a content row with its continuation rows `i+1..=last`: with a space after a
    /// word wrap, with nothing after a terminal's mid-word wrap.
    fn joined(rows: &[Row<'_>], i: usize, last: usize, content: &str) -> String {
        let mut text = content.to_owned();
        for pair in rows[i..=last].windows(2) {
            let (prev, next) = (&pair[0], &pair[1]);
            if next.indent > 0 || prev.text.chars().count() < MIN_PANE_WIDTH {
                text.push(' ');
            }
            text.push_str(next.content);
        }
        text
    }

    fn span_has_hit(
        rows: &[Row<'_>],
        first: usize,
        last: usize,
        end: usize,
        hits: &[usize],
    ) -> bool {
        let from = rows[first].start;
        let to = rows.get(last + 1).map_or(end, |r| r.start);
        let idx = hits.partition_point(|&h| h < from);
        hits.get(idx).is_some_and(|&h| h < to)
    }

    fn classify_rows(&self, text: &str, hits: &[usize], ctx: &DetectContext) -> Detection {
        let mut rows = Vec::with_capacity(256);
        let mut offset = 0;
        for line in text.split('\n') {
            rows.push(parse_row(offset, line));
            offset += line.len() + 1;
        }

        let mut block = Block::Loose;
        let mut after_blank = false;
        let mut after_rule = false;
        let mut seen_content = false;
        let mut candidates: Vec<Candidate> = Vec::new();
        let mut i = 0;
        while i < rows.len() {
            let row = rows[i];
            let mut next = i + 1;
            // Which anchor to classify this row's content with, if it may hold a message.
            let mut check: Option<Anchor> = None;
            match (block, row.kind) {
                (_, Kind::Blank) => {
                    after_blank = true;
                    after_rule = false;
                    i += 1;
                    continue;
                }
                (Block::Footer, _) => check = Some(Anchor::Anywhere),
                (Block::InputBox, Kind::Rule) => block = Block::Footer,
                (Block::InputBox, _) => {}
                (_, Kind::Rule) => {
                    // Only a top border at the left edge can open the input box: `───` or
                    // `╭───╮` (a rule inside a reply is indented, a closing border is not a
                    // top one).
                    after_rule = row.indent == 0 && !row.text.starts_with(['╰', '└']);
                    i += 1;
                    after_blank = false;
                    continue;
                }
                (_, Kind::Prompt) if after_rule => block = Block::InputBox,
                // A slash command or shell escape asks nothing of the model: it leaves the
                // state as it was (Claude Code itself runs `/rate-limit-options` after a
                // quota), and its output is quoted text.
                (_, Kind::Prompt) if row.content.starts_with(['/', '!']) => block = Block::Reply,
                (_, Kind::Prompt) => {
                    block = Block::UserTurn;
                    candidates.clear();
                }
                (_, Kind::Status) => {
                    block = Block::Loose;
                    check = Some(Anchor::Start);
                }
                (_, Kind::Bullet) => check = Some(Anchor::Start),
                // The error of a refused turn hangs right under the prompt (or under the
                // error before it); at the top of the capture the prompt may have scrolled
                // away. Any other `⎿` is a tool's output or a quote inside a reply.
                (Block::UserTurn | Block::Message, Kind::Result) if !after_blank => {
                    check = Some(Anchor::Start);
                }
                (Block::Loose, Kind::Result) if !seen_content => check = Some(Anchor::Start),
                (_, Kind::Result) => block = Block::Reply,
                (Block::UserTurn | Block::Reply, Kind::Other) => {}
                (Block::Loose | Block::Message, Kind::Other) => check = Some(Anchor::Start),
            }
            after_blank = false;
            after_rule = false;
            seen_content = true;

            if let Some(anchor) = check {
                let last = Self::continuation_end(&rows, i);
                let found = Self::span_has_hit(&rows, i, last, text.len(), hits)
                    .then(|| Self::joined(&rows, i, last, row.content))
                    .and_then(|joined| {
                        let (verdict, at) = self.messages.classify(&joined, anchor, ctx)?;
                        // On a `●` row only Claude Code's own notices (and retries) count:
                        // any other wording there is the model's reply quoting it.
                        let own_notice = matches!(verdict, Verdict::Transient { .. })
                            || (row.indent == 0 && self.messages.is_notice_bullet(&joined));
                        if row.kind == Kind::Bullet && block != Block::Footer && !own_notice {
                            return None;
                        }
                        Some((verdict, joined[at..].trim().to_owned()))
                    });
                match found {
                    Some((verdict, evidence)) => {
                        let sticky = self.messages.is_wrap_up(&evidence);
                        // A transient error on a `●` row not drawn in the CLI's own forms
                        // (`API Error: …`, a retry) may be the model talking ("429
                        // error: …"): it counts (a transient never moves anything), but
                        // what follows it is the reply, not more of the CLI's messages.
                        let reply_like = row.kind == Kind::Bullet
                            && matches!(verdict, Verdict::Transient { .. })
                            && !is_cli_transient(&evidence);
                        if reply_like {
                            // The model talking: as after any reply, everything above is
                            // history, except the wrap-up notice, after which the model goes
                            // on working (a reply of that turn naming an error leaves the
                            // notice current).
                            let wrap_up = candidates.iter().any(|c| c.sticky);
                            candidates.retain(|c| c.sticky);
                            if wrap_up {
                                block = Block::Reply;
                                i = last + 1;
                                continue;
                            }
                        }
                        candidates.push(Candidate {
                            verdict,
                            evidence,
                            sticky,
                        });
                        if block != Block::Footer {
                            block = if reply_like {
                                Block::Reply
                            } else {
                                Block::Message
                            };
                        }
                        next = last + 1;
                    }
                    None if row.kind == Kind::Bullet && block != Block::Footer => {
                        // A reply or tool call: everything above is history, except the
                        // wrap-up notice, after which the model goes on working.
                        block = Block::Reply;
                        candidates.retain(|c| c.sticky);
                    }
                    None => {}
                }
            }
            i = next;
        }
        choose(candidates)
    }
}

/// Whether a `●` row's transient error is drawn the way Claude Code draws its own: an
/// `API Error: …` line, or a retry (`… · retrying in 2s · attempt 4/10`).
fn is_cli_transient(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with("API Error") || t.contains("retrying in") || t.contains("Retrying in")
}

/// Picks the verdict that describes the current state from the current messages.
fn choose(candidates: Vec<Candidate>) -> Detection {
    let Some(top) = candidates.iter().map(|c| rank(&c.verdict)).max() else {
        return Detection::clear();
    };
    let mut best: Option<&Candidate> = None;
    for c in candidates.iter().filter(|c| rank(&c.verdict) == top) {
        let better = match (best.map(|b| &b.verdict), &c.verdict) {
            (None, _) => true,
            (
                Some(Verdict::QuotaExhausted {
                    window: bw,
                    resets_at: br,
                }),
                Verdict::QuotaExhausted { window, resets_at },
            ) => {
                let score = |w: &LimitWindow, r: &Option<_>| {
                    (u8::from(*w != LimitWindow::Other), u8::from(r.is_some()))
                };
                score(window, resets_at) >= score(bw, br)
            }
            (
                Some(Verdict::NearLimit {
                    used_percent: bu, ..
                }),
                Verdict::NearLimit { used_percent, .. },
            ) => used_percent >= bu,
            // Same rank otherwise: the later message is the current one.
            _ => true,
        };
        if better {
            best = Some(c);
        }
    }
    let Some(mut best) = best else {
        return Detection::clear();
    };
    // A quota that names no window (`Usage limit reached · continuing automatically …`)
    // beside a model's used-up weekly window is that window's companion notice.
    if matches!(
        best.verdict,
        Verdict::QuotaExhausted {
            window: LimitWindow::Other,
            ..
        }
    ) {
        if let Some(model) = candidates.iter().rev().find(|c| {
            matches!(c.verdict, Verdict::NearLimit { used_percent, .. } if used_percent >= 100.0)
        }) {
            best = model;
        }
    }
    let mut verdict = best.verdict.clone();
    if let Verdict::QuotaExhausted { resets_at, .. } = &mut verdict {
        if resets_at.is_none() {
            *resets_at = candidates.iter().rev().find_map(|c| match c.verdict {
                Verdict::QuotaExhausted { resets_at, .. } => resets_at,
                _ => None,
            });
        }
    }
    Detection {
        verdict,
        evidence: Some(best.evidence.clone()),
    }
}

impl QuotaDetector for PaneDetector {
    fn source(&self) -> SignalSource {
        SignalSource::Pane
    }

    fn detect(&self, evidence: &str, ctx: &DetectContext) -> Detection {
        let text = ansi::strip_ansi(evidence);
        let hits: Vec<usize> = self
            .prefilter
            .find_iter(text.as_ref())
            .map(|m| m.start())
            .collect();
        if hits.is_empty() {
            return Detection::clear();
        }
        self.classify_rows(&text, &hits, ctx)
    }
}
