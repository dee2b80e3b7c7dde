//! Properties of the quota detectors over generated screens.
//!
//! Screens are built the way Claude Code lays them out: blocks of conversation (user turns
//! `❯`, replies `●`, tool calls with `⎿` output, spinner rows `✻`), then the input box between
//! two rules and a footer. They are then wrapped at a random width ≥ 60, either the way
//! Claude Code wraps (at a word, continuation indented under the text) or the way a terminal
//! does (mid-word at exactly the width, continuation at column 0), and optionally styled with
//! ANSI escapes inserted at random places.
//!
//! "A message embedded anywhere" means: after any amount of random conversation, as the
//! result of the latest user turn (`⎿`) or as a status bullet (`●`), possibly followed by
//! Claude Code's own `● Usage limit reached · continuing automatically …` line, blank rows,
//! a slash command, the input box and the footer (what can follow a message without making
//! it history). One property also embeds messages into the recorded screens of the real CLI
//! (every width, plain and ANSI).

// Tests read fixture files; the purity fence (clippy.toml) is for the library.
#![allow(clippy::disallowed_methods)]

use failover_core::LimitWindow;
use failover_core::quota::{Detectors, ResetParser, detect_auto, recognise};
use failover_core::{DetectContext, QuotaDetector, Verdict};
use failover_core::{SignalSource, UnixMillis};
use proptest::prelude::*;
use proptest::sample::select;

/// Words of ordinary conversation. Some are near-misses for the detectors' keywords so that
/// the prefilter fires and the full rules are exercised.
const WORDS: &[&str] = &[
    "the",
    "parser",
    "module",
    "tests",
    "pass",
    "limit",
    "error",
    "rate",
    "weekly",
    "resets",
    "5-hour",
    "usage",
    "token",
    "login",
    "session",
    "Opus",
    "Sonnet",
    "build",
    "log",
    "refactor",
    "fn",
    "main()",
    "src/lib.rs",
    "cargo",
    "check",
    "·",
    "-",
    "42%",
    "9:38am",
    "(UTC)",
    "done",
    "retry",
    "server",
    "quota",
    "reset",
    "window",
    "overload",
    "API",
    "key",
    "429",
    "500",
];

fn sentence(min: usize, max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(select(WORDS), min..max).prop_map(|w| w.join(" "))
}

/// One block of ordinary conversation, as rows.
fn block() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        sentence(1, 25).prop_map(|s| vec![format!("❯ {s}"), String::new()]),
        sentence(1, 40).prop_map(|s| vec![format!("● {s}"), String::new()]),
        (sentence(1, 5), prop::collection::vec(sentence(1, 12), 1..5)).prop_map(|(cmd, out)| {
            let mut rows = vec![format!("● Bash({cmd})")];
            for (i, line) in out.iter().enumerate() {
                rows.push(if i == 0 {
                    format!("  ⎿  {line}")
                } else {
                    format!("     {line}")
                });
            }
            rows.push(String::new());
            rows
        }),
        sentence(1, 6).prop_map(|s| vec![format!("✻ {s}"), String::new()]),
    ]
}

fn conversation() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(block(), 0..12).prop_map(|b| b.concat())
}

fn time_text() -> impl Strategy<Value = String> {
    (1u8..=12, prop::option::of(0u8..60), any::<bool>()).prop_map(|(h, m, pm)| match m {
        Some(m) => format!("{h}:{m:02}{}", if pm { "pm" } else { "am" }),
        None => format!("{h}{}", if pm { "pm" } else { "am" }),
    })
}

fn reset_text() -> impl Strategy<Value = String> {
    let zone = select(
        &[
            "UTC",
            "Europe/Moscow",
            "Europe/Warsaw",
            "America/Los_Angeles",
            "Asia/Kolkata",
            "Australia/Lord_Howe",
        ][..],
    );
    let month = select(&["Jan", "Feb", "Mar", "Jun", "Jul", "Oct", "Nov", "Dec"][..]);
    prop_oneof![
        time_text(),
        (time_text(), zone.clone()).prop_map(|(t, z)| format!("{t} ({z})")),
        (month, 1u8..=28, time_text(), zone).prop_map(|(m, d, t, z)| format!("{m} {d}, {t} ({z})")),
    ]
}

/// A real quota message (several versions' wordings) and the window it names.
fn quota_message() -> impl Strategy<Value = (String, LimitWindow)> {
    let sep = select(&["·", "∙", "-"][..]);
    let hit = select(
        &[
            ("5-hour limit", LimitWindow::FiveHour),
            ("session limit", LimitWindow::FiveHour),
            ("weekly limit", LimitWindow::Weekly),
            ("Opus limit", LimitWindow::WeeklyOpus),
            ("weekly Opus limit", LimitWindow::WeeklyOpus),
            ("Sonnet limit", LimitWindow::WeeklySonnet),
        ][..],
    );
    let reached = select(
        &[
            ("5-hour limit reached", LimitWindow::FiveHour),
            ("Weekly limit reached", LimitWindow::Weekly),
            ("Opus weekly limit reached", LimitWindow::WeeklyOpus),
            ("Sonnet weekly limit reached", LimitWindow::WeeklySonnet),
        ][..],
    );
    prop_oneof![
        (hit, sep.clone(), reset_text())
            .prop_map(|((w, win), s, r)| (format!("You've hit your {w} {s} resets {r}"), win)),
        (reached, sep, reset_text())
            .prop_map(|((w, win), s, r)| (format!("{w} {s} resets {r}"), win)),
        reset_text().prop_map(|r| (
            format!("Claude usage limit reached. Your limit will reset at {r}."),
            LimitWindow::Other
        )),
        (1_785_000_001u32..2_000_000_000).prop_map(|e| (
            format!("Claude AI usage limit reached|{e}"),
            LimitWindow::Other
        )),
    ]
}

/// A transient failure whose body may well say "rate limit".
fn transient_message() -> impl Strategy<Value = String> {
    let body = select(
        &[
            "rate limit exceeded",
            "You've hit your rate limit",
            "This request would exceed the rate limit for your organization",
            "Number of request tokens has exceeded your per-minute rate limit",
            "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"rate limited\"}}",
            "usage limit reached, slow down",
        ][..],
    );
    prop_oneof![
        body.clone().prop_map(|b| format!("API Error: Request rejected (429) · {b}")),
        body.clone().prop_map(|b| format!("API Error: 429 {b}")),
        (body.clone(), 1u8..10, 1u8..10)
            .prop_map(|(b, s, a)| format!("500 Internal server error · retrying in {s}s · attempt {a}/10 · {b}")),
        (1u8..10, 1u8..10).prop_map(|(s, a)| format!("529 Overloaded · retrying in {s}s · attempt {a}/10")),
        body.clone().prop_map(|b| format!("API Error: 529 {{\"type\":\"error\",\"error\":{{\"type\":\"overloaded_error\",\"message\":\"Overloaded: {b}\"}}}}")),
        body.prop_map(|b| format!("API Error: 500 {{\"type\":\"error\",\"error\":{{\"type\":\"api_error\",\"message\":\"{b}\"}}}}")),
        Just("API Error (Connection error.) · Retrying in 8 seconds… (attempt 4/10)".to_owned()),
        Just("Unable to connect to API (ECONNREFUSED)".to_owned()),
        Just("API Error: fetch failed".to_owned()),
        Just("API Error: Request timed out.".to_owned()),
    ]
}

/// How a message sits on screen: under the latest user turn (0), as a `●` row (1: only
/// Claude Code's own notices and retries count there) or as a status row (2).
fn placed(message: String, marker: u8) -> Vec<String> {
    match marker {
        0 => vec!["❯ please continue".to_owned(), format!("  ⎿  {message}")],
        1 => vec![
            "❯ please continue".to_owned(),
            String::new(),
            format!("● {message}"),
        ],
        _ => vec!["❯ please continue".to_owned(), format!("✻ {message}")],
    }
}

/// What may follow a message without making it history.
fn trailer(width: usize, follow_up: bool, slash: bool) -> Vec<String> {
    let mut rows = Vec::new();
    if follow_up {
        rows.push(
            "● Usage limit reached · continuing automatically at 9:38am · esc to cancel".into(),
        );
    }
    rows.push(String::new());
    if slash {
        rows.push("❯ /rate-limit-options".into());
    }
    rows.push("─".repeat(width));
    rows.push("❯ ".into());
    rows.push("─".repeat(width));
    rows.push("  ⏵⏵ auto mode on (shift+tab to cycle) · ← for agents".into());
    rows
}

/// Wraps rows at `width`: like Claude Code (`ink`: at a word, continuation indented under the
/// text) or like a terminal (mid-word at exactly `width`, continuation at column 0).
fn wrap(rows: &[String], width: usize, terminal: bool) -> String {
    let mut out = Vec::new();
    for row in rows {
        let chars: Vec<char> = row.chars().collect();
        if chars.len() <= width {
            out.push(row.clone());
            continue;
        }
        if terminal {
            for chunk in chars.chunks(width) {
                out.push(chunk.iter().collect());
            }
            continue;
        }
        // The text column: after the marker and its padding.
        let indent = row
            .char_indices()
            .find(|(_, c)| !matches!(c, ' ' | '⎿' | '●' | '❯' | '✻'))
            .map_or(0, |(i, _)| row[..i].chars().count());
        // The row's own lead (indentation, marker, padding) stays on its first line.
        let lead_end = row.char_indices().nth(indent).map_or(row.len(), |(i, _)| i);
        let mut line = row[..lead_end].to_owned();
        let mut len = indent;
        for word in row[lead_end..].split(' ').filter(|w| !w.is_empty()) {
            let wlen = word.chars().count();
            if len > indent && len + 1 + wlen > width {
                out.push(std::mem::take(&mut line));
                line = " ".repeat(indent);
                len = indent;
            }
            if len > indent {
                line.push(' ');
                len += 1;
            }
            line.push_str(word);
            len += wlen;
        }
        out.push(line);
    }
    out.join("\n")
}

/// Inserts SGR escapes before the chosen char positions.
fn style(text: &str, at: &[usize]) -> String {
    let codes = [
        "\x1b[1m",
        "\x1b[38;5;174m",
        "\x1b[39m",
        "\x1b[0m",
        "\x1b[48;5;237m",
        "\x1b]8;;x\x1b\\",
    ];
    let mut out = String::with_capacity(text.len() * 2);
    for (i, c) in text.chars().enumerate() {
        if at.contains(&i) {
            out.push_str(codes[i % codes.len()]);
        }
        out.push(c);
    }
    out
}

/// Whether `v` says `window` is used up: an exhausted account, or for a model's own weekly
/// window `near_limit` at 100 % (the account still serves other models).
fn used_up(v: &Verdict, window: LimitWindow) -> bool {
    match window {
        LimitWindow::WeeklyOpus | LimitWindow::WeeklySonnet => matches!(
            v,
            Verdict::NearLimit { window: w, used_percent, .. } if *w == window && *used_percent >= 100.0
        ),
        _ => matches!(v, Verdict::QuotaExhausted { window: w, .. } if *w == window),
    }
}

fn ctx() -> DetectContext {
    DetectContext::utc(UnixMillis(1_785_000_000_000))
}

fn resets() -> &'static ResetParser {
    static R: std::sync::OnceLock<ResetParser> = std::sync::OnceLock::new();
    R.get_or_init(ResetParser::new)
}

fn detectors() -> &'static Detectors {
    static D: std::sync::OnceLock<Detectors> = std::sync::OnceLock::new();
    D.get_or_init(Detectors::new)
}

prop_compose! {
    fn layout()(width in 60usize..=200, terminal in any::<bool>(),
                at in prop::collection::vec(0usize..4000, 0..40)) -> (usize, bool, Vec<usize>) {
        (width, terminal, at)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_quota_message_anywhere_is_exhausted_with_its_window(
        before in conversation(),
        (message, window) in quota_message(),
        marker in select(&[0u8, 2][..]),
        follow_up in any::<bool>(),
        slash in any::<bool>(),
        (width, terminal, at) in layout(),
        styled in any::<bool>(),
    ) {
        let rows = [before, placed(message, marker), trailer(width, follow_up, slash)].concat();
        let mut screen = wrap(&rows, width, terminal);
        if styled {
            screen = style(&screen, &at);
        }
        let got = detectors().pane.detect(&screen, &ctx());
        prop_assert!(
            used_up(&got.verdict, window),
            "expected {window:?}, got {got:?} on\n{screen}"
        );
        // Every generated message names its reset, and wrapping never loses it.
        prop_assert!(got.verdict.resets_at().is_some(), "no reset in {got:?} on\n{screen}");
        prop_assert_eq!(detect_auto(&screen, &ctx()).detection.verdict, got.verdict);
    }

    #[test]
    fn surrounding_text_alone_is_never_a_quota(
        before in conversation(),
        quoted in prop::option::of(quota_message()),
        (width, terminal, at) in layout(),
    ) {
        let mut rows = before;
        if let Some((message, _)) = quoted {
            // The same message quoted: in tool output, a user turn, then a reply.
            rows.push("● Read(notes.txt)".into());
            rows.push(format!("  ⎿  {message}"));
            rows.push(String::new());
            rows.push(format!("❯ {message}"));
            rows.push(String::new());
            rows.push("● That is the message Claude Code shows.".into());
        }
        rows.extend(trailer(width, false, false));
        let screen = style(&wrap(&rows, width, terminal), &at);
        let got = detectors().pane.detect(&screen, &ctx());
        prop_assert!(
            !matches!(got.verdict, Verdict::QuotaExhausted { .. } | Verdict::NearLimit { .. }),
            "got {got:?} on\n{screen}"
        );
    }

    #[test]
    fn a_message_typed_in_the_input_box_is_never_a_quota(
        before in conversation(),
        (message, _) in quota_message(),
        (width, terminal, _at) in layout(),
    ) {
        let mut rows = before;
        rows.push("● Done.".into());
        rows.push(String::new());
        rows.push("─".repeat(width));
        rows.push(format!("❯ {message}"));
        rows.push("─".repeat(width));
        rows.push("  ⏵⏵ auto mode on (shift+tab to cycle)".into());
        let screen = wrap(&rows, width, terminal);
        let got = detectors().pane.detect(&screen, &ctx());
        prop_assert_eq!(got.verdict, Verdict::Clear, "on\n{}", screen);
    }

    #[test]
    fn every_transient_family_is_transient_never_quota(
        before in conversation(),
        message in transient_message(),
        marker in 0u8..3,
        (width, terminal, at) in layout(),
        styled in any::<bool>(),
    ) {
        let rows = [before, placed(message.clone(), marker), trailer(width, false, false)].concat();
        let mut screen = wrap(&rows, width, terminal);
        if styled {
            screen = style(&screen, &at);
        }
        let got = detectors().pane.detect(&screen, &ctx());
        prop_assert!(matches!(got.verdict, Verdict::Transient { .. }), "got {got:?} on\n{screen}");
        // The same text as a transcript error line.
        let line = serde_json::json!({
            "type": "assistant", "isApiErrorMessage": true, "apiErrorStatus": 429,
            "message": {"model": "<synthetic>", "content": [{"type": "text", "text": message}]}
        }).to_string();
        let got = detectors().transcript.detect(&line, &ctx());
        prop_assert!(matches!(got.verdict, Verdict::Transient { .. }), "transcript: {got:?}");
    }

    #[test]
    fn ansi_escapes_never_change_the_verdict(
        before in conversation(),
        message in prop_oneof![quota_message().prop_map(|(m, _)| m), transient_message()],
        marker in 0u8..3,
        (width, terminal, at) in layout(),
    ) {
        let rows = [before, placed(message, marker), trailer(width, true, false)].concat();
        let plain = wrap(&rows, width, terminal);
        let styled = style(&plain, &at);
        prop_assert_eq!(
            detectors().pane.detect(&plain, &ctx()),
            detectors().pane.detect(&styled, &ctx())
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..3000)) {
        let text = String::from_utf8_lossy(&bytes);
        for source in std::iter::once(None).chain(SignalSource::ALL.map(Some)) {
            let _ = detectors().detect(source, &text, &ctx());
            let _ = detectors().report(source, &text, &ctx());
        }
        let _ = recognise(&text);
    }

    #[test]
    fn screen_like_noise_never_panics(
        text in "[\\x1b\\[\\]0-9;m⎿●⏺❯>│─╭╰✻⚠·∙|:{}\",a-zA-Z%() \n\t\r-]{0,2000}"
    ) {
        for source in std::iter::once(None).chain(SignalSource::ALL.map(Some)) {
            let _ = detectors().detect(source, &text, &ctx());
        }
    }

    #[test]
    fn json_shaped_noise_never_panics(
        used in any::<f64>(), resets in any::<i64>(), status in any::<i64>(),
        window in "[a-z_]{0,12}", text in ".{0,80}",
    ) {
        let statusline = format!(r#"{{"rate_limits":{{"{window}":{{"used_percentage":{used},"resets_at":{resets}}}}}}}"#);
        let _ = detectors().detect(None, &statusline, &ctx());
        let line = serde_json::json!({"isApiErrorMessage": true, "apiErrorStatus": status,
            "quotaLimits": {"status": "rejected", "resetsAt": resets, "rateLimitType": window},
            "message": {"content": [{"text": text}]}}).to_string();
        let _ = detectors().detect(None, &line, &ctx());
        let headers = format!("anthropic-ratelimit-unified-status: rejected\nanthropic-ratelimit-unified-reset: {resets}\nanthropic-ratelimit-unified-5h-utilization: {used}\nretry-after: {used}\n");
        prop_assert_eq!(recognise(&headers), SignalSource::Headers);
        let _ = detectors().detect(None, &headers, &ctx());
    }

    #[test]
    fn reset_parsing_gives_an_instant_after_the_observation(
        observed in 0i64..4_102_444_800_000,
        reset in reset_text(),
        zone in select(&["UTC", "Europe/Warsaw", "America/New_York", "Pacific/Chatham", "Asia/Kathmandu"][..]),
        shape in 0u8..3,
    ) {
        let ctx = DetectContext {
            observed_at: UnixMillis(observed),
            local_zone: failover_core::quota::lookup_zone(zone).unwrap(),
        };
        let text = match shape {
            0 => format!("resets {reset}"),
            1 => format!("Your limit will reset at {reset}."),
            _ => format!("continuing automatically at {reset} · esc to cancel"),
        };
        let at = resets().find(&text, &ctx);
        // Every generated reset names a valid time, so it always resolves …
        let at = at.unwrap_or_else(|| panic!("no instant for {text:?}"));
        // … to an instant after the observation, and no further than a date can be.
        prop_assert!(at > ctx.observed_at, "{text:?} → {at} not after {}", ctx.observed_at);
        let limit = if reset.contains(',') { 367 } else { 3 } * 86_400_000;
        prop_assert!(at.0 - observed <= limit, "{text:?} → {at} too far after {}", ctx.observed_at);
    }

    #[test]
    fn reset_parsing_of_noise_never_panics(
        observed in any::<i64>(),
        text in "(resets?|reset at|continuing automatically at|usage limit reached\\|)?[ 0-9a-zA-Z:,()/_+.|-]{0,60}",
    ) {
        let ctx = DetectContext::utc(UnixMillis(observed));
        if let Some(at) = resets().find(&text, &ctx) {
            prop_assert!(at > ctx.observed_at);
        }
    }
}

/// The recorded screens of the real CLI with no message on them (every width, plain and
/// ANSI), read once.
fn recorded_clear_screens() -> &'static [(usize, String)] {
    static SCREENS: std::sync::OnceLock<Vec<(usize, String)>> = std::sync::OnceLock::new();
    SCREENS.get_or_init(|| {
        let dir = failover_core::testkit::quota_fixture_dir().join("recorded");
        let mut screens = Vec::new();
        for fixture in failover_core::testkit::load_quota_fixtures(&dir).unwrap() {
            // Top-level files only: the folders below hold other versions' screens.
            let Some(rest) = fixture.name.strip_prefix("clear-w") else {
                continue;
            };
            if !fixture.name.ends_with(".txt") {
                continue;
            }
            let width: usize = rest.split('.').next().unwrap().parse().unwrap();
            screens.push((width, fixture.text));
        }
        assert!(screens.len() >= 4, "recorded clear screens missing");
        screens.sort();
        screens
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_quota_message_on_a_real_screen_is_exhausted_with_its_window(
        pick in any::<prop::sample::Index>(),
        (message, window) in quota_message(),
        terminal in any::<bool>(),
    ) {
        let (width, screen) = &recorded_clear_screens()[pick.index(recorded_clear_screens().len())];
        // Claude Code draws the failed turn right above the input box's top border.
        let rows: Vec<&str> = screen.split('\n').collect();
        let border = rows
            .iter()
            .position(|r| r.matches('─').count() >= 20)
            .expect("the input box border");
        let turn = wrap(
            &["❯ Refactor the parser module".to_owned(), format!("  ⎿  {message}"), String::new()],
            *width,
            terminal,
        );
        let with_message = [rows[..border].join("\n"), turn, rows[border..].join("\n")].join("\n");
        let got = detectors().pane.detect(&with_message, &ctx());
        prop_assert!(
            used_up(&got.verdict, window),
            "expected {window:?}, got {got:?} on\n{with_message}"
        );
        prop_assert_eq!(detectors().pane.detect(screen, &ctx()).verdict, Verdict::Clear);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_message_followed_by_a_reply_or_a_new_turn_is_history(
        before in conversation(),
        message in prop_oneof![quota_message().prop_map(|(m, _)| m), transient_message()],
        marker in 0u8..3,
        later in prop_oneof![
            // Fixed first words: a random one could start a message of its own ("● 500 error").
            sentence(1, 20).prop_map(|s| vec![format!("● Done: {s}")]),
            sentence(1, 20).prop_map(|s| vec![format!("❯ Please {s}"), "✻ Thinking… (esc to interrupt)".to_owned()]),
            sentence(1, 4).prop_map(|s| vec![format!("● Bash({s})"), "  ⎿  ok".to_owned()]),
        ],
        (width, terminal, at) in layout(),
    ) {
        let rows = [
            before,
            placed(message, marker),
            vec![String::new()],
            later.clone(),
            trailer(width, false, false),
        ]
        .concat();
        let screen = style(&wrap(&rows, width, terminal), &at);
        let got = detectors().pane.detect(&screen, &ctx());
        // The message is history. A reply that itself names an error ("● Done: error · 429
        // error") may be read as a transient of its own, which never moves anything.
        let from_the_reply = matches!(got.verdict, Verdict::Transient { .. })
            && got.evidence.as_deref().is_some_and(|e| later.iter().any(|l| l.contains(e)));
        prop_assert!(
            got.verdict == Verdict::Clear || from_the_reply,
            "got {:?} on\n{}", got, screen
        );
    }
}

/// What a limit wording says when Claude Code itself draws it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Meaning {
    /// The window is used up (`near_limit` at 100 % for a model's own window).
    UsedUp(LimitWindow),
    /// A window is close to its cap.
    Near(LimitWindow),
    /// The account must log in again.
    Auth,
    /// Extra usage (usage credits) took over from a used-up window.
    Extra(LimitWindow),
}

impl Meaning {
    fn holds(self, v: &Verdict) -> bool {
        match self {
            Self::UsedUp(w) => used_up(v, w),
            Self::Near(w) => matches!(v, Verdict::NearLimit { window, .. } if *window == w),
            Self::Auth => matches!(v, Verdict::AuthRequired { .. }),
            Self::Extra(w) => matches!(v, Verdict::ExtraUsage { window, .. } if *window == w),
        }
    }
}

/// Every family of limit, near-limit and login wording (real strings of Claude Code 1.0.x to
/// 2.1.3xx), with what it means and whether Claude Code draws it as a `●` row of its own.
fn limit_wording() -> impl Strategy<Value = (String, Meaning, bool)> {
    let sep = select(&["·", "∙"][..]);
    let near_window = select(
        &[
            ("5-hour limit", LimitWindow::FiveHour),
            ("session limit", LimitWindow::FiveHour),
            ("weekly limit", LimitWindow::Weekly),
            ("Opus limit", LimitWindow::WeeklyOpus),
            ("Sonnet limit", LimitWindow::WeeklySonnet),
        ][..],
    );
    let auth = select(
        &[
            ("Not logged in · Please run /login", true),
            ("Login expired · Please run /login", true),
            ("Login reached its time limit · Please run /login", true),
            ("OAuth token revoked · Please run /login", true),
            ("Invalid API key · Please run /login", true),
            (
                "Please run /login · API Error: 401 OAuth token has expired. Please obtain a new token or refresh your existing token.",
                true,
            ),
            (
                "API Error: 401 {\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"Invalid bearer token\"}} · Please run /login",
                true,
            ),
            (
                "Failed to authenticate: OAuth token revoked. Please log in again or contact your administrator.",
                true,
            ),
            (
                "Session expired. Please run /login to sign in again.",
                false,
            ),
            (
                "OAuth token refresh failed — run /login to re-authenticate",
                false,
            ),
            (
                "OAuth refresh token is no longer valid; run /login to re-authenticate",
                false,
            ),
        ][..],
    );
    let reporter = select(
        &[
            "researcher@refactor-team failed:",
            "Teammate tester:",
            "Background task 3 failed:",
            "Subagent Explore ·",
            "Agent \"docs-writer\" failed:",
        ][..],
    );
    prop_oneof![
        quota_message().prop_map(|(m, w)| {
            let epoch = m.contains('|');
            (m, Meaning::UsedUp(w), epoch)
        }),
        (near_window.clone(), 50u8..100, sep.clone(), reset_text()).prop_map(
            |((w, win), p, s, r)| (
                format!("You've used {p}% of your {w} {s} resets {r}"),
                Meaning::Near(win),
                false
            )
        ),
        (near_window, sep.clone(), prop::option::of(reset_text())).prop_map(|((w, win), s, r)| (
            match r {
                Some(r) => format!("You've hit your {w} {s} resets {r}"),
                None => format!("You've hit your {w}"),
            },
            Meaning::UsedUp(win),
            false
        )),
        select(&["Opus", "Sonnet"][..]).prop_map(|m| {
            let (w, other) = if m == "Opus" {
                (LimitWindow::WeeklyOpus, "Sonnet 4.5")
            } else {
                (LimitWindow::WeeklySonnet, "Opus 4.1")
            };
            (
                format!("Claude {m} 4 limit reached, now using {other}"),
                Meaning::UsedUp(w),
                false,
            )
        }),
        Just((
            "Approaching your 5-hour usage limit — Claude will wrap up the current step."
                .to_owned(),
            Meaning::Near(LimitWindow::FiveHour),
            true,
        )),
        Just((
            "Approaching Opus usage limit · /model to use best available model".to_owned(),
            Meaning::Near(LimitWindow::WeeklyOpus),
            false,
        )),
        (
            select(
                &[
                    "You're out of extra usage",
                    "You're out of usage credits",
                    "Your organization is out of usage credits."
                ][..]
            ),
            sep.clone(),
            reset_text(),
        )
            .prop_map(|(m, s, r)| (
                format!("{m} {s} resets {r}"),
                Meaning::UsedUp(LimitWindow::Other),
                false
            )),
        // The notices of extra usage (usage credits) taking over, as the 2.1.328 binary
        // words them (`rPa`, and the `limit-reached` notification's text).
        (
            select(
                &[
                    ("You're now using extra usage", LimitWindow::Other),
                    ("Now using extra usage", LimitWindow::Other),
                    ("You're now using usage credits", LimitWindow::Other),
                    ("Now using usage credits", LimitWindow::Other),
                    ("Now using credits", LimitWindow::Other),
                    ("You're now using your usage allocation", LimitWindow::Other),
                    ("Now using your usage allocation", LimitWindow::Other),
                    (
                        "You're now using usage credits · Your 5-hour limit resets",
                        LimitWindow::FiveHour
                    ),
                    (
                        "You're now using extra usage · Your weekly limit resets",
                        LimitWindow::Weekly
                    ),
                    (
                        "Now using usage credits for Opus · Your Opus limit resets",
                        LimitWindow::WeeklyOpus
                    ),
                ][..]
            ),
            reset_text(),
        )
            .prop_map(|((m, w), r)| (
                if m.ends_with("resets") {
                    format!("{m} {r}")
                } else {
                    m.to_owned()
                },
                Meaning::Extra(w),
                false
            )),
        (sep, time_text()).prop_map(|(s, t)| (
            format!("Usage limit reached {s} continuing automatically at {t} {s} esc to cancel"),
            Meaning::UsedUp(LimitWindow::Other),
            true
        )),
        auth.prop_map(|(m, bullet)| (m.to_owned(), Meaning::Auth, bullet)),
        (reporter, quota_message()).prop_map(|(p, (m, w))| (
            format!("{p} {m}"),
            Meaning::UsedUp(w),
            false
        )),
        Just((
            "Goal paused · usage limit reached · continues automatically when it resets".to_owned(),
            Meaning::UsedUp(LimitWindow::Other),
            false
        )),
    ]
}

/// One block of conversation content that holds `wording`, laid out as Claude Code lays out
/// content: the model's reply (first line or a later paragraph, quoting a screen line with its
/// glyph), a tool call's output (shown or collapsed), or the person's prompt.
fn content_with(wording: &str, bullet_notice: bool, layout: u8, words: &str) -> Vec<String> {
    match layout {
        // A reply that starts with the wording. Wordings Claude Code draws as a `●` row of its
        // own are, as the first words of a reply, indistinguishable on a plain screen; they
        // are quoted after some words instead (the transcript tells those two apart).
        0 if !bullet_notice => vec![format!("● {wording}"), String::new()],
        // Not after words that are themselves the head of a notice (`API error: …` is how
        // Claude Code draws one): that first line is a notice on a plain screen too.
        0 | 1 if words.to_lowercase().starts_with("api error") => {
            vec![format!("● So {words}: {wording} {words}"), String::new()]
        }
        0 | 1 => vec![format!("● {words}: {wording} {words}"), String::new()],
        2 => vec![
            format!("● {words}:"),
            String::new(),
            format!("  {wording}"),
            String::new(),
            format!("  {words}"),
            String::new(),
        ],
        // A reply quoting the screen, glyphs included.
        3 => vec![
            "● It looks like this on screen:".to_owned(),
            String::new(),
            "  ❯ Refactor the parser".to_owned(),
            format!("  ⎿  {wording}"),
            String::new(),
            format!("  ● {wording}"),
            format!("  ✻ {wording}"),
            format!("  ⚠ {wording}"),
            String::new(),
        ],
        4 => vec![
            format!("● Bash(printf '%s\\n' \"{}\")", wording.replace('"', "'")),
            format!("  ⎿  {wording}"),
            format!("     {wording}"),
            format!("     {words}"),
            String::new(),
        ],
        5 => vec![
            "● Read 1 file (ctrl+o to expand)".to_owned(),
            String::new(),
            format!("● Update(notes/limits.md)"),
            "  ⎿  Updated notes/limits.md with 2 additions".to_owned(),
            format!("       12 + {wording}"),
            format!("       13 + {words}"),
            String::new(),
        ],
        _ => vec![format!("❯ {wording} <- {words}"), String::new()],
    }
}

/// Lays rows out the three ways a capture can hold them: wrapped by Claude Code, wrapped by
/// the terminal, or joined (`capture-pane -J`, long rows whole).
fn laid_out(rows: &[String], width: usize, how: u8) -> String {
    match how {
        0 => wrap(rows, width, false),
        1 => wrap(rows, width, true),
        _ => rows.join("\n"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    /// Limit wording inside conversation content never yields a verdict.
    #[test]
    fn limit_wording_inside_conversation_content_never_yields_a_verdict(
        before in conversation(),
        quoted in prop::collection::vec((limit_wording(), 0u8..7), 1..4),
        words in sentence(1, 8),
        summary in any::<bool>(),
        width in 60usize..=200,
        how in 0u8..3,
        at in prop::collection::vec(0usize..4000, 0..40),
        styled in any::<bool>(),
    ) {
        let mut rows = before;
        for ((wording, _, bullet_notice), layout) in &quoted {
            rows.extend(content_with(wording, *bullet_notice, *layout, &words));
        }
        if summary {
            rows.push("✻ Worked for 3s · done 10:39 PM".into());
        }
        rows.extend(trailer(width, false, false));
        let mut screen = laid_out(&rows, width, how);
        if styled {
            screen = style(&screen, &at);
        }
        let got = detectors().pane.detect(&screen, &ctx());
        prop_assert!(
            !matches!(
                got.verdict,
                Verdict::QuotaExhausted { .. } | Verdict::NearLimit { .. } | Verdict::AuthRequired { .. }
            ),
            "got {got:?} on\n{screen}"
        );
    }

    /// The converse: the same wordings drawn by Claude Code itself (the error under the
    /// refused prompt, a status row, the footer, its own `●` notices) yield their verdict,
    /// also with the turn summary `✻ <verb> for 0s` under the refused turn.
    #[test]
    fn the_same_wording_as_chrome_yields_its_verdict(
        before in conversation(),
        (wording, meaning, bullet_notice) in limit_wording(),
        place in 0u8..4,
        summary in select(&["Worked", "Baked", "Churned", "Sautéed", "Cogitated"][..]),
        with_summary in any::<bool>(),
        width in 60usize..=200,
        how in 0u8..3,
        at in prop::collection::vec(0usize..4000, 0..40),
        styled in any::<bool>(),
    ) {
        let mut rows = before;
        rows.push("❯ Refactor the parser module and run the tests again".into());
        let footer = match place {
            0 => {
                rows.push(format!("  ⎿  {wording}"));
                None
            }
            1 => {
                rows.push(format!("✻ {wording}"));
                None
            }
            2 if bullet_notice => {
                rows.push(String::new());
                rows.push(format!("● {wording}"));
                None
            }
            _ => Some(format!("  ⚠ {wording}")),
        };
        if with_summary {
            rows.push(String::new());
            rows.push(format!("✻ {summary} for 0s · done 10:39 PM"));
        }
        rows.push(String::new());
        rows.push("─".repeat(width));
        rows.push("❯ ".into());
        rows.push("─".repeat(width));
        rows.extend(footer);
        rows.push("  ⏵⏵ auto mode on (shift+tab to cycle)".into());
        let mut screen = laid_out(&rows, width, how);
        if styled {
            screen = style(&screen, &at);
        }
        let got = detectors().pane.detect(&screen, &ctx());
        prop_assert!(meaning.holds(&got.verdict), "expected {meaning:?}, got {got:?} on\n{screen}");
    }

    /// Other agents' limit wordings (Gemini CLI, Codex) never count as Claude's, wherever they
    /// are drawn.
    #[test]
    fn other_agents_limit_wording_never_counts(
        wording in select(&[
            "You've hit your usage limit. Upgrade to Pro (https://openai.com/chatgpt/pricing) or try again in 5 days 22 hours 11 minutes.",
            "You've hit your usage limit. Try again in 4 days 20 hours 9 minutes.",
            "You've hit your usage limit. Upgrade your plan to continue, or try again at Jul 10th, 2026 11:52 AM.",
            "You have reached your daily gemini-2.5-pro quota limit.",
            "You have reached your daily quota limit.",
            "Usage limit reached for gemini-3-flash-preview.",
            "Usage limit reached for all Pro models. Access resets at 3:54 PM PST.",
        ][..]),
        marker in select(&["", "■ ", "✕ ", "⚡ "][..]),
        place in 0u8..3,
        width in 60usize..=200,
        how in 0u8..3,
    ) {
        let row = format!("{marker}{wording}");
        let mut rows = vec!["❯ Refactor the parser".to_owned()];
        let mut footer = None;
        match place {
            0 => rows.push(format!("  ⎿  {row}")),
            1 => rows.push(row),
            _ => footer = Some(format!("  {row}")),
        }
        rows.push(String::new());
        rows.push("─".repeat(width));
        rows.push("❯ ".into());
        rows.push("─".repeat(width));
        rows.extend(footer);
        let screen = laid_out(&rows, width, how);
        let got = detectors().pane.detect(&screen, &ctx());
        prop_assert!(
            !matches!(got.verdict, Verdict::QuotaExhausted { .. } | Verdict::NearLimit { .. }),
            "got {got:?} on\n{screen}"
        );
    }

    /// The wrap-up notice stays current while the model goes on working in the same turn; a
    /// later prompt makes it history.
    #[test]
    fn the_wrap_up_notice_outlives_the_replies_of_its_turn(
        before in conversation(),
        replies in prop::collection::vec(sentence(1, 20), 1..4),
        later_prompt in any::<bool>(),
        width in 60usize..=200,
        how in 0u8..3,
    ) {
        let mut rows = before;
        rows.push("❯ Refactor the parser module".into());
        rows.push(String::new());
        rows.push("● Bash(cargo test)".into());
        rows.push("  ⎿  test result: ok. 40 passed".into());
        rows.push(String::new());
        rows.push("● Approaching your 5-hour usage limit — Claude will wrap up the current step.".into());
        rows.push(String::new());
        for r in &replies {
            rows.push(format!("● Done: {r}"));
            rows.push(String::new());
        }
        if later_prompt {
            rows.push("❯ Please go on".into());
            rows.push(String::new());
            rows.push("● Done.".into());
            rows.push(String::new());
        }
        rows.extend(trailer(width, false, false));
        let screen = laid_out(&rows, width, how);
        let got = detectors().pane.detect(&screen, &ctx());
        if later_prompt {
            prop_assert_eq!(got.verdict, Verdict::Clear, "on\n{}", screen);
        } else {
            prop_assert!(
                matches!(got.verdict, Verdict::NearLimit { window: LimitWindow::FiveHour, used_percent, .. } if used_percent == 95.0),
                "got {got:?} on\n{screen}"
            );
        }
    }
}

/// Found by `the_wrap_up_notice_outlives_the_replies_of_its_turn`: a reply of the wrap-up
/// turn that names an error ("● Done: error · 429 error") is the model talking, not a
/// transient error of the CLI's that would hide the notice.
#[test]
fn a_reply_naming_an_error_after_the_wrap_up_notice_keeps_the_notice_current() {
    let mut rows: Vec<String> = vec![
        "❯ Refactor the parser module".into(),
        String::new(),
        "● Approaching your 5-hour usage limit — Claude will wrap up the current step.".into(),
        String::new(),
        "● Done: error · 429 error".into(),
        String::new(),
    ];
    rows.extend(trailer(100, false, false));
    for how in 0..3 {
        let screen = laid_out(&rows, 100, how);
        let got = detectors().pane.detect(&screen, &ctx());
        assert!(
            matches!(
                got.verdict,
                Verdict::NearLimit {
                    window: LimitWindow::FiveHour,
                    ..
                }
            ),
            "got {got:?} on\n{screen}"
        );
    }
}

/// The case the property above found: a reply that names an error ("● Done: error · 429
/// error", read as a transient of its own) under a quota message makes that message history.
#[test]
fn a_reply_naming_an_error_under_a_quota_message_makes_it_history() {
    let screen = "❯ please continue\n  ⎿  You've hit your 5-hour limit · resets 1am\n\n● Done: error · 429 error\n\n────────────────────────────────────────────────────────────\n❯ \n────────────────────────────────────────────────────────────\n  ⏵⏵ auto mode on (shift+tab to cycle) · ← for agents\n";
    let got = detectors().pane.detect(screen, &ctx());
    assert!(
        matches!(got.verdict, Verdict::Transient { .. }),
        "got {got:?}"
    );
    assert_eq!(got.evidence.as_deref(), Some("Done: error · 429 error"));
}
