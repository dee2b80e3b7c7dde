//! Drawing the dashboard: a pure function of the [`App`], the instant and the zone, so the
//! same frame comes out of a real terminal and of ratatui's `TestBackend`.
//!
//! Layout, top to bottom: a title line (daemon, active account, mode, or why the daemon is
//! unreachable), the accounts with a usage gauge per known window, the sessions, the swap in
//! flight session by session (while there is one, or the last one), the decision feed, and
//! the keys. It fits 80×24; more rows go to the sessions and the feed, more columns to the
//! gauges and the decisions.

use failover_daemon::http::dto::{AccountDto, SessionDto};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};

use super::app::{App, Link, Mode, Move, Step, SwapView};
use crate::render;

/// The keys, as the footer and the help list them.
const KEYS: &[(&str, &str)] = &[
    ("s", "swap to the best account"),
    ("S", "choose the account to swap to"),
    ("p", "pause / resume decisions"),
    ("?", "this help"),
    ("q, Esc", "quit"),
];

/// Draws one frame.
pub(crate) fn draw(frame: &mut Frame<'_>, app: &App, now: Timestamp, tz: &TimeZone) {
    let area = frame.area();
    let theme = Theme { color: app.color };
    let st = app.status.as_ref();
    let n_accounts = st
        .map_or(0, |s| s.accounts.iter().map(|a| gauges(a).len()).sum())
        .max(1);
    let n_sessions = st.map_or(0, |s| s.sessions.len()).max(1);
    let accounts_h = u16::try_from(n_accounts + 3).unwrap_or(u16::MAX);
    let sessions_h = u16::try_from(n_sessions + 3).unwrap_or(u16::MAX);
    let swap_h = app.swap.as_ref().map_or(0, |s| {
        u16::try_from(s.sessions.len().max(1) + 2).unwrap_or(u16::MAX)
    });
    let [title, accounts, sessions, swap, feed, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(accounts_h),
        Constraint::Max(sessions_h),
        Constraint::Max(swap_h),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    let clock = now.to_zoned(tz.clone()).strftime("%H:%M:%S").to_string();
    let [title, clock_area] =
        Layout::horizontal([Constraint::Min(10), Constraint::Length(9)]).areas(title);
    frame.render_widget(title_line(app, now, tz, title.width, theme), title);
    frame.render_widget(
        Paragraph::new(clock).alignment(ratatui::layout::Alignment::Right),
        clock_area,
    );
    draw_accounts(frame, accounts, app, now, tz, theme);
    draw_sessions(frame, sessions, app, now, theme);
    if let Some(s) = &app.swap {
        draw_swap(frame, swap, s, app, theme);
    }
    draw_feed(frame, feed, app, tz, theme);
    frame.render_widget(footer(app, theme), keys);
    match &app.mode {
        Mode::Normal => {}
        Mode::Help => draw_help(frame, area, theme),
        Mode::Choose { selected } => draw_chooser(frame, area, app, *selected, theme),
    }
}

/// Colours, or none under `NO_COLOR` (then only bold and reverse video mark things).
#[derive(Clone, Copy, Debug)]
struct Theme {
    color: bool,
}

impl Theme {
    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    fn state(self, state: &str) -> Style {
        self.fg(match state {
            "available" => Color::Green,
            "near_limit" => Color::Yellow,
            "exhausted" => Color::Red,
            "needs_login" => Color::Magenta,
            "working" => Color::Cyan,
            "dead" | "halted" => Color::Red,
            _ => Color::Reset,
        })
    }

    fn title(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    fn dim(self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    fn alert(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
}

fn block(title: String, theme: Theme) -> Block<'static> {
    Block::new()
        .borders(Borders::ALL)
        .title(Span::styled(title, theme.title()))
}

fn title_line(
    app: &App,
    now: Timestamp,
    tz: &TimeZone,
    width: u16,
    theme: Theme,
) -> Paragraph<'static> {
    let mut spans = vec![Span::styled(
        "claude-failover top",
        Style::new().add_modifier(Modifier::BOLD),
    )];
    match (&app.link, &app.status) {
        (Link::Down { since, error }, _) => {
            spans.push(Span::styled(
                format!(
                    " · daemon unreachable since {}: {error}; retrying",
                    render::instant_in(*since, now, tz)
                ),
                theme.alert(),
            ));
        }
        (_, None) => spans.push(Span::raw(" · connecting to the daemon…")),
        (_, Some(st)) => {
            let mode = match (st.paused, st.draining) {
                (true, _) => Span::styled("paused (p resumes)", theme.alert()),
                (_, true) => Span::styled("draining", theme.fg(Color::Yellow)),
                _ => Span::raw("running"),
            };
            spans.push(Span::raw(format!(
                " · active {} · ",
                st.active_account.as_deref().unwrap_or("none")
            )));
            spans.push(mode);
            spans.push(Span::raw(format!(" · {} swap(s) done", st.swaps_completed)));
            if width >= 90 {
                spans.push(Span::raw(format!(
                    " · daemon {} pid {}",
                    st.daemon.version, st.daemon.pid
                )));
            }
        }
    }
    Paragraph::new(Line::from(spans))
}

/// `5h`, `week`, `opus`… for a window name (six cells at most).
fn window_label(window: Option<&str>) -> &'static str {
    match window {
        Some("five_hour") => "5h",
        Some("weekly") => "week",
        Some("weekly_opus") => "opus",
        Some("weekly_sonnet") => "sonnet",
        Some(_) => "other",
        None => "",
    }
}

/// A text gauge: `█████░░░░░ 52%`, `width` cells of bar.
fn gauge(percent: Option<f32>, width: usize) -> String {
    match percent {
        None => format!("{} {:>4}", "·".repeat(width), "?"),
        Some(p) => {
            let p = p.clamp(0.0, 100.0);
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let filled = ((p / 100.0) * width as f32).round() as usize;
            format!(
                "{}{} {:>3.0}%",
                "█".repeat(filled),
                "░".repeat(width - filled.min(width)),
                p
            )
        }
    }
}

/// What the gauge shows for an account: its used share, full when it is exhausted.
fn used(a: &AccountDto) -> Option<f32> {
    match a.state.as_str() {
        "exhausted" => Some(a.used_percent.unwrap_or(100.0)),
        _ => a.used_percent,
    }
}

/// Why an account is or is not where sessions go next, as the daemon says it; `short` for
/// narrow screens (the chooser and wide screens show it whole).
fn next_choice(a: &AccountDto, short: bool) -> String {
    let r = a.choice.reason.as_str();
    if r.starts_with("active") {
        return "in use".into();
    }
    if !short {
        return r
            .strip_prefix("not next: ")
            .map_or_else(|| r.to_owned(), |rest| format!("no: {rest}"));
    }
    if a.choice.next {
        return "next".into();
    }
    let rest = r.strip_prefix("not next: ").unwrap_or(r);
    if let Some((window, _)) = rest.split_once(" used up") {
        format!("no: {window} out")
    } else if rest.contains("login") {
        "no: login".into()
    } else if rest.contains("extra usage") {
        "no: extra usage".into()
    } else if let Some((_, ahead)) = rest.split_once("; ") {
        format!("no: {ahead}")
    } else {
        format!("no: {rest}")
    }
}

/// The windows an account's gauges show: every window read for it, else the one its state
/// is about.
fn gauges(a: &AccountDto) -> Vec<(Option<String>, Option<f32>, Option<i64>)> {
    if a.windows.is_empty() {
        vec![(a.window.clone(), used(a), a.resets_at_ms)]
    } else {
        a.windows
            .iter()
            .map(|w| (Some(w.window.clone()), Some(w.used_percent), w.resets_at_ms))
            .collect()
    }
}

fn draw_accounts(
    frame: &mut Frame<'_>,
    area: Rect,
    app: &App,
    now: Timestamp,
    tz: &TimeZone,
    theme: Theme,
) {
    let Some(st) = &app.status else {
        frame.render_widget(
            Paragraph::new("(no status yet)").block(block(" Accounts ".into(), theme)),
            area,
        );
        return;
    };
    // Wider terminals get a longer bar.
    let bar = if area.width >= 120 { 20 } else { 10 };
    let rows = st.accounts.iter().flat_map(|a| {
        let active = st.active_account.as_deref() == Some(a.name.as_str());
        let name_style = if active {
            Style::new().add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        let state = if a.extra_usage {
            format!("{} +extra", a.state)
        } else {
            a.state.clone()
        };
        gauges(a)
            .into_iter()
            .enumerate()
            .map(|(i, (window, used, resets_ms))| {
                let resets = resets_ms
                    .and_then(|ms| Timestamp::from_millisecond(ms).ok())
                    .map_or_else(|| "-".into(), |t| render::instant_in(t, now, tz));
                let first = i == 0;
                Row::new(vec![
                    Cell::from(if active && first { "▶" } else { " " }),
                    Cell::from(Span::styled(
                        if first { a.name.clone() } else { String::new() },
                        name_style,
                    )),
                    Cell::from(Span::styled(
                        if first { state.clone() } else { String::new() },
                        theme.state(&a.state),
                    )),
                    Cell::from(Span::styled(
                        format!(
                            "{:<6} {}",
                            window_label(window.as_deref()),
                            gauge(used, bar)
                        ),
                        theme.state(&a.state),
                    )),
                    Cell::from(resets),
                    Cell::from(if first {
                        next_choice(a, area.width < 120)
                    } else {
                        String::new()
                    }),
                ])
            })
            .collect::<Vec<_>>()
    });
    let bar_w = u16::try_from(bar).unwrap_or(10) + 12;
    let table = Table::new(
        rows,
        [
            Constraint::Length(1),
            Constraint::Length(widest(st.accounts.iter().map(|a| a.name.as_str()), 7, 16)),
            Constraint::Length(11),
            Constraint::Length(bar_w),
            Constraint::Length(if area.width >= 100 { 24 } else { 18 }),
            Constraint::Fill(1),
        ],
    )
    .header(Row::new(["", "ACCOUNT", "STATE", "USAGE", "RESETS", "NEXT?"]).style(theme.dim()))
    .block(block(" Accounts ".into(), theme));
    frame.render_widget(table, area);
}

/// The width of the widest of `names`, between `min` and `max` cells.
fn widest<'a>(names: impl Iterator<Item = &'a str>, min: u16, max: u16) -> u16 {
    let w = names.map(|n| n.chars().count()).max().unwrap_or(0);
    u16::try_from(w).unwrap_or(max).clamp(min, max)
}

fn session_state(s: &SessionDto) -> String {
    match (s.activity.as_deref(), &s.last_exit) {
        (Some(a), _) if s.state == "running" => a.to_owned(),
        (_, Some(why)) => format!("{} ({why})", s.state),
        _ => s.state.clone(),
    }
}

fn draw_sessions(frame: &mut Frame<'_>, area: Rect, app: &App, now: Timestamp, theme: Theme) {
    let sessions: &[SessionDto] = app.status.as_ref().map_or(&[], |s| &s.sessions);
    let rows = sessions.iter().map(|s| {
        let state = session_state(s);
        let since = app.since.get(&s.name).map_or_else(String::new, |(_, at)| {
            let secs = u64::try_from(now.as_second() - at.as_second()).unwrap_or(0);
            let prefix = if *at == app.started { "≥" } else { "" };
            format!("{prefix}{}", render::span(secs))
        });
        Row::new(vec![
            Cell::from(s.name.clone()),
            Cell::from(render::opt(s.account.as_deref())),
            Cell::from(Span::styled(state.clone(), theme.state(&state))),
            Cell::from(
                s.claude_session
                    .as_deref()
                    .map_or("-", |c| c.get(..8).unwrap_or(c))
                    .to_owned(),
            ),
            Cell::from(since),
            Cell::from(render::opt(s.task.as_deref())),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(widest(sessions.iter().map(|s| s.name.as_str()), 7, 20)),
            Constraint::Length(widest(
                sessions.iter().filter_map(|s| s.account.as_deref()),
                7,
                16,
            )),
            Constraint::Length(12),
            Constraint::Length(9),
            Constraint::Length(8),
            Constraint::Fill(1),
        ],
    )
    .header(Row::new(["SESSION", "ACCOUNT", "STATE", "CONV", "FOR", "TASK"]).style(theme.dim()))
    .block(block(format!(" Sessions ({}) ", sessions.len()), theme));
    frame.render_widget(table, area);
}

fn draw_swap(frame: &mut Frame<'_>, area: Rect, swap: &SwapView, app: &App, theme: Theme) {
    const ORDER: [(Step, Step); 4] = [
        (Step::Checkpointing, Step::Checkpointed),
        (Step::Stopping, Step::Stopped),
        (Step::Resuming, Step::Resumed),
        (Step::Prompting, Step::PromptResent),
    ];
    let none = Move::default();
    let lines: Vec<Line<'static>> = swap
        .sessions
        .iter()
        .map(|name| {
            let m = app.moves.get(name).unwrap_or(&none);
            let mut spans = vec![Span::raw(format!("{name:<10}"))];
            for (doing, done) in ORDER {
                let (mark, style) = if m.steps.contains(&done) {
                    ("✓ ", theme.fg(Color::Green))
                } else if m.last() == Some(doing) && m.failed.is_none() {
                    ("… ", theme.fg(Color::Yellow))
                } else if m.last() == Some(doing) {
                    ("✗ ", theme.alert())
                } else {
                    ("· ", theme.dim())
                };
                let label = if m.steps.contains(&done) {
                    done.label()
                } else {
                    doing.label()
                };
                spans.push(Span::styled(format!("{mark}{label}  "), style));
            }
            if let Some(f) = &m.failed {
                spans.push(Span::styled(format!("failed: {f}"), theme.alert()));
            }
            Line::from(spans)
        })
        .collect();
    let title = format!(
        " Swap {} → {}{} ",
        swap.from.as_deref().unwrap_or("-"),
        swap.to,
        if swap.in_flight { "" } else { " (done)" }
    );
    let body = if lines.is_empty() {
        Paragraph::new("no session to move")
    } else {
        Paragraph::new(lines)
    };
    frame.render_widget(body.block(block(title, theme)), area);
}

fn draw_feed(frame: &mut Frame<'_>, area: Rect, app: &App, tz: &TimeZone, theme: Theme) {
    let room = usize::from(area.height.saturating_sub(2));
    let skip = app.feed.len().saturating_sub(room);
    let lines: Vec<Line<'static>> = app
        .feed
        .iter()
        .skip(skip)
        .map(|l| {
            let at = Timestamp::from_millisecond(l.at_ms)
                .map(|t| t.to_zoned(tz.clone()).strftime("%H:%M:%S").to_string())
                .unwrap_or_default();
            Line::from(vec![
                Span::styled(format!("{at} "), theme.dim()),
                Span::raw(l.text.clone()),
            ])
        })
        .collect();
    let body = if lines.is_empty() {
        Paragraph::new(Span::styled("waiting for decisions…", theme.dim()))
    } else {
        Paragraph::new(lines)
    };
    frame.render_widget(body.block(block(" Decisions ".into(), theme)), area);
}

fn footer(app: &App, theme: Theme) -> Paragraph<'static> {
    let mut spans = Vec::new();
    for (k, what) in [
        ("s", "swap"),
        ("S", "swap to…"),
        ("p", "pause/resume"),
        ("?", "help"),
        ("q", "quit"),
    ] {
        spans.push(Span::styled(
            format!(" {k} "),
            Style::new().add_modifier(Modifier::REVERSED),
        ));
        spans.push(Span::raw(format!(" {what} ")));
    }
    if let Some(f) = &app.flash {
        spans.push(Span::styled(format!(" {f}"), theme.fg(Color::Yellow)));
    }
    Paragraph::new(Line::from(spans))
}

/// A box of `w`×`h` in the middle of `area`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn draw_help(frame: &mut Frame<'_>, area: Rect, theme: Theme) {
    let mut lines: Vec<Line<'static>> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(
                    format!("{k:>7}  "),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::raw(
        "In the chooser: ↑/↓ or 1-9, Enter to swap, Esc to cancel.",
    ));
    lines.push(Line::raw("Any key closes this help."));
    let h = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let r = centered(area, 64, h);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(" Keys ".into(), theme)),
        r,
    );
}

fn draw_chooser(frame: &mut Frame<'_>, area: Rect, app: &App, selected: usize, theme: Theme) {
    let Some(st) = &app.status else { return };
    let lines: Vec<Line<'static>> = st
        .accounts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let text = format!(
                "{} {:<12} {:<11} {}",
                i + 1,
                a.name,
                a.state,
                next_choice(a, false)
            );
            let style = if i == selected {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                theme.state(&a.state)
            };
            Line::from(Span::styled(text, style))
        })
        .collect();
    let h = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let r = centered(area, 60, h);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines).block(block(" Swap to… (Enter, Esc) ".into(), theme)),
        r,
    );
}

#[cfg(test)]
mod tests {
    use failover_daemon::http::dto::{
        AccountDto, ChoiceDto, DaemonDto, EventDto, EventKindDto, SessionDto, StatusDto, SwapDto,
        WindowDto,
    };
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::buffer::Buffer;

    use super::*;
    use crate::commands::top::app::Key;

    const NOW: i64 = 1_790_000_000; // 2026-09-21T14:13:20Z

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn account(name: &str, pref: u32, state: &str, used: Option<f32>, window: &str) -> AccountDto {
        AccountDto {
            name: name.into(),
            preference: pref,
            state: state.into(),
            usable: !matches!(state, "exhausted" | "needs_login"),
            used_percent: used,
            window: (!window.is_empty()).then(|| window.into()),
            resets_at: None,
            resets_at_ms: (!window.is_empty()).then_some((NOW + 3 * 3600 + 120) * 1000),
            windows: Vec::new(),
            extra_usage: false,
            grants: Vec::new(),
            choice: ChoiceDto {
                next: name == "spare",
                reason: match state {
                    "exhausted" => "not next: five_hour used up until 2026-09-21T17:15:20Z",
                    "needs_login" => "not next: needs a login",
                    "near_limit" => "active: the pool runs on it",
                    "available" if name == "spare" => {
                        "next: room left; first by drain-soonest among the best"
                    }
                    _ => "not next: room left; spare ranks ahead",
                }
                .into(),
            },
        }
    }

    fn session(name: &str, account: &str, state: &str, activity: Option<&str>) -> SessionDto {
        SessionDto {
            name: name.into(),
            account: Some(account.into()),
            claude_session: Some(format!("{name}-0c6f1a2b-3d4e-5f60-7182-93a4b5c6d7e8")),
            state: state.into(),
            activity: activity.map(Into::into),
            task: (name == "ccl-0").then(|| "fix-parser.md".to_owned()),
            last_exit: None,
            standby: None,
        }
    }

    fn status(swap: bool) -> StatusDto {
        StatusDto {
            api_version: 1,
            active_account: Some("backup".into()),
            paused: false,
            draining: false,
            swap: swap.then(|| SwapDto {
                from: Some("primary".into()),
                to: "backup".into(),
                pending: vec!["ccl-2".into()],
                moving: vec!["ccl-0".into(), "ccl-1".into()],
                started_at: String::new(),
                started_at_ms: (NOW - 4) * 1000,
            }),
            swaps_completed: 3,
            setting_differences: Vec::new(),
            accounts: vec![
                account("primary", 0, "exhausted", None, "five_hour"),
                account("backup", 1, "near_limit", Some(91.0), "five_hour"),
                AccountDto {
                    windows: vec![
                        WindowDto {
                            window: "five_hour".into(),
                            used_percent: 12.0,
                            resets_at: None,
                            resets_at_ms: Some((NOW + 3600) * 1000),
                        },
                        WindowDto {
                            window: "weekly_opus".into(),
                            used_percent: 64.0,
                            resets_at: None,
                            resets_at_ms: Some((NOW + 3 * 86_400) * 1000),
                        },
                    ],
                    ..account("spare", 2, "available", Some(12.0), "weekly")
                },
                account("old", 3, "needs_login", None, ""),
            ],
            sessions: vec![
                session("ccl-0", "backup", "running", Some("working")),
                session("ccl-1", "backup", "launching", None),
                session("ccl-2", "primary", "running", Some("idle")),
            ],
            daemon: DaemonDto {
                version: "0.1.0".into(),
                pid: 4242,
                started_at: "2026-09-21T12:00:00Z".into(),
                config_file: None,
                config_error: None,
                notifications_dropped: 0,
                standby_fallbacks: 0,
                state_error: None,
                ledger: None,
            },
        }
    }

    fn ev(seq: u64, at: i64, event: EventKindDto) -> EventDto {
        EventDto {
            seq,
            at: String::new(),
            at_ms: at * 1000,
            event,
        }
    }

    fn effect(effect: &str, request: u64, session: &str) -> EventKindDto {
        EventKindDto::Effect {
            effect: effect.into(),
            request: Some(request),
            session: Some(session.into()),
            account: Some("backup".into()),
            detail: String::new(),
        }
    }

    fn finished(request: u64, outcome: &str) -> EventKindDto {
        EventKindDto::EffectFinished {
            request,
            outcome: outcome.into(),
            detail: None,
        }
    }

    /// A dashboard in the middle of a swap: ccl-0 resumed with its prompt re-sent, ccl-1
    /// resuming, ccl-2 waiting.
    fn mid_swap(color: bool) -> App {
        let mut app = App::new(ts(NOW - 60), color);
        app.on_status(status(true), ts(NOW - 5));
        let events = [
            EventKindDto::Detection {
                subject_kind: "session".into(),
                subject: "ccl-0".into(),
                source: "transcript".into(),
                verdict: "quota_exhausted".into(),
                window: Some("five_hour".into()),
                used_percent: None,
                resets_at: None,
                evidence: None,
                latency_ms: Some(42),
            },
            effect("checkpoint", 1, "ccl-0"),
            finished(1, "checkpointed"),
            effect("stop", 2, "ccl-0"),
            finished(2, "stopped"),
            effect("launch", 3, "ccl-0"),
            finished(3, "launched"),
            effect("send_prompt", 4, "ccl-0"),
            finished(4, "prompt_sent"),
            effect("checkpoint", 5, "ccl-1"),
            finished(5, "checkpointed"),
            effect("stop", 6, "ccl-1"),
            finished(6, "stopped"),
            effect("launch", 7, "ccl-1"),
        ];
        for (i, e) in events.into_iter().enumerate() {
            let i = i64::try_from(i).unwrap();
            app.on_event(&ev(u64::try_from(i).unwrap(), NOW - 4 + i / 4, e));
        }
        let mut st = status(true);
        st.sessions[0].activity = Some("idle".into());
        app.on_status(st, ts(NOW - 1));
        app
    }

    fn frame(app: &App, w: u16, h: u16) -> Buffer {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| draw(f, app, ts(NOW), &TimeZone::UTC)).unwrap();
        t.backend().buffer().clone()
    }

    fn text(b: &Buffer) -> String {
        let w = usize::from(b.area.width);
        b.content
            .chunks(w)
            .map(|row| {
                let line: String = row.iter().map(ratatui::buffer::Cell::symbol).collect();
                format!("{}\n", line.trim_end())
            })
            .collect()
    }

    #[test]
    fn mid_swap_at_80x24() {
        insta::assert_snapshot!(text(&frame(&mid_swap(true), 80, 24)));
    }

    #[test]
    fn mid_swap_at_120x32_uses_the_room() {
        insta::assert_snapshot!(text(&frame(&mid_swap(true), 120, 32)));
    }

    #[test]
    fn an_unreachable_daemon_is_said_with_the_last_status_kept() {
        let mut app = mid_swap(true);
        app.on_lost("the daemon is not running".into(), ts(NOW - 7));
        let t = text(&frame(&app, 80, 24));
        assert!(
            t.lines()
                .next()
                .unwrap()
                .contains("daemon unreachable since"),
            "{t}"
        );
        assert!(
            t.contains("primary"),
            "the last status stays on screen:\n{t}"
        );
    }

    #[test]
    fn help_and_chooser_overlays() {
        let mut app = mid_swap(true);
        app.on_key(Key::Char('?'));
        insta::assert_snapshot!("help", text(&frame(&app, 80, 24)));
        app.on_key(Key::Char('x'));
        app.on_key(Key::Char('S'));
        insta::assert_snapshot!("chooser", text(&frame(&app, 80, 24)));
    }

    #[test]
    fn no_color_leaves_every_cell_uncoloured() {
        let coloured = |b: &Buffer| {
            b.content
                .iter()
                .filter(|c| c.fg != Color::Reset || c.bg != Color::Reset)
                .count()
        };
        assert!(coloured(&frame(&mid_swap(true), 80, 24)) > 0, "colours on");
        assert_eq!(coloured(&frame(&mid_swap(false), 80, 24)), 0, "NO_COLOR");
    }

    #[test]
    fn every_line_fits_a_small_terminal() {
        for (w, h) in [(80, 24), (100, 30), (60, 20)] {
            let b = frame(&mid_swap(true), w, h);
            assert_eq!(b.area.width, w);
            // Nothing panics and the keys line is at the bottom.
            let t = text(&b);
            assert!(t.lines().last().unwrap().contains("quit"), "{w}x{h}:\n{t}");
        }
    }
}
