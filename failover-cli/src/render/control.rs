//! What the control plane answers, as text for people: the status view, the account and
//! session tables, events and swap progress, refused and accepted commands. The commands
//! (`commands/control.rs`), the demo, `top` and the MCP server all render through here.

use std::collections::HashMap;
use std::time::Duration;

use failover_daemon::http::dto::{
    AccountDto, CommandResponseDto, EventDto, EventKindDto, SessionDto, StatusDto,
};
use jiff::Timestamp;

use super::Table;
use crate::render;

/// A refused swap, with what to do: `resume` when paused, and each account's state and
/// reset when no account is usable.
pub(crate) fn refusal_text(message: &str, st: &StatusDto, now: Timestamp) -> String {
    let mut text = message.to_owned();
    if st.paused || message.contains("paused") {
        text.push_str(&format!(
            "\nhint: the daemon is paused; `{}` lets it swap again",
            render::cmd("resume")
        ));
        return text;
    }
    if message.contains("starting up") {
        return text;
    }
    if st.swap.is_some() || message.contains("in progress") {
        text.push_str(&format!(
            "\nhint: `{}` follows the running swap",
            render::cmd("events")
        ));
        return text;
    }
    text.push_str("\nthe accounts:");
    for a in &st.accounts {
        let usable = if a.usable { "usable" } else { "not usable" };
        let resets = a
            .resets_at_ms
            .and_then(|ms| Timestamp::from_millisecond(ms).ok())
            .map(|t| format!(", resets {}", render::instant(t, now)))
            .unwrap_or_default();
        text.push_str(&format!("\n  {}: {} ({usable}){resets}", a.name, a.state));
    }
    text
}

/// The answer to `pause` (`pause == true`) or `resume`; `resume` names how to undo a pause.
pub(crate) fn pause_reply(pause: bool, resume: &str) -> String {
    if pause {
        format!("paused: no swaps, relaunches or task dispatch until {resume}")
    } else {
        "resumed: the daemon makes decisions again".to_owned()
    }
}

/// A swap the daemon accepted, before it is over.
pub(crate) fn swap_accepted(reply: &CommandResponseDto) -> String {
    let to = reply.to.as_deref().unwrap_or("the best other account");
    format!("swap accepted: moving sessions to {to}")
}

/// A swap that is over: how long it took and where the sessions are.
pub(crate) fn swap_complete(status: &StatusDto, elapsed: Duration) -> String {
    format!(
        "swap complete in {:.1}s: {} session(s) on {}",
        elapsed.as_secs_f64(),
        status.sessions.len(),
        status.active_account.as_deref().unwrap_or("-"),
    )
}

/// Turns decision events into per-session progress lines, remembering which request belongs
/// to which session.
#[derive(Debug, Default)]
pub(crate) struct ProgressTracker {
    requests: HashMap<u64, (String, String)>,
    /// The target account, once known.
    pub(crate) target: Option<String>,
}

impl ProgressTracker {
    /// The progress line for one event's JSON, if it is about a session's part in a swap.
    pub(crate) fn line(&mut self, data: &str, elapsed: Duration) -> Option<String> {
        let ev: EventDto = serde_json::from_str(data).ok()?;
        let at = format!("[{:>5.1}s]", elapsed.as_secs_f64());
        match ev.event {
            EventKindDto::Effect {
                effect,
                request,
                session: Some(session),
                account,
                detail,
            } if matches!(
                effect.as_str(),
                "checkpoint" | "stop" | "launch" | "send_prompt"
            ) =>
            {
                if let Some(r) = request {
                    self.requests.insert(r, (session.clone(), effect.clone()));
                }
                let verb = match effect.as_str() {
                    "checkpoint" => "checkpointing".to_owned(),
                    "stop" => "stopping".to_owned(),
                    "launch" => format!("resuming on {}", account.as_deref().unwrap_or("?")),
                    _ => "re-sending the interrupted prompt".to_owned(),
                };
                let detail = if detail.is_empty() {
                    String::new()
                } else {
                    format!("  ({detail})")
                };
                Some(format!("{at} {session:<12} {verb}{detail}"))
            }
            EventKindDto::EffectFinished {
                request,
                outcome,
                detail,
            } => {
                let (session, _) = self.requests.remove(&request)?;
                let detail = detail.map(|d| format!("  ({d})")).unwrap_or_default();
                Some(format!("{at} {session:<12} {outcome}{detail}"))
            }
            EventKindDto::Reply {
                accepted: false,
                reason,
            } => Some(format!(
                "{at} refused: {}",
                reason.unwrap_or_else(|| "no reason given".into())
            )),
            _ => None,
        }
    }
}

/// One event as a line for people: local time, sequence number, kind, what happened.
pub(crate) fn event_line(ev: &EventDto) -> String {
    let at = Timestamp::from_millisecond(ev.at_ms)
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::system())
                .strftime("%H:%M:%S%.3f")
                .to_string()
        })
        .unwrap_or_else(|_| ev.at.clone());
    format!("{at}  #{:<5} {}", ev.seq, describe(&ev.event))
}

/// Which events are decisions worth a line for a person following the daemon live (the
/// demo's trace, `top`'s feed): every step and reply, each distinct verdict once per subject
/// and source (detectors repeat themselves on every screen or statusline update), sessions
/// coming and going; no bookkeeping (state writes, replies to commands, corroborating facts).
#[derive(Clone, Debug, Default)]
pub(crate) struct Decisions {
    verdicts: std::collections::BTreeMap<(String, String), String>,
}

impl Decisions {
    /// Whether `ev` makes a line.
    pub(crate) fn keep(&mut self, ev: &EventKindDto) -> bool {
        match ev {
            EventKindDto::Detection {
                subject,
                source,
                verdict,
                ..
            } => {
                let key = (subject.clone(), source.clone());
                let changed = self.verdicts.get(&key) != Some(verdict);
                self.verdicts.insert(key, verdict.clone());
                changed && verdict != "clear"
            }
            EventKindDto::Effect { effect, .. } => effect != "persist" && effect != "reply",
            EventKindDto::Session { change, .. } => change == "started" || change == "exited",
            EventKindDto::Lagged { .. } | EventKindDto::Reply { .. } => false,
            _ => true,
        }
    }
}

/// What an event says, in words.
pub(crate) fn describe(ev: &EventKindDto) -> String {
    match ev {
        EventKindDto::Detection {
            subject_kind,
            subject,
            source,
            verdict,
            window,
            used_percent,
            resets_at,
            evidence,
            latency_ms,
        } => {
            let mut s = format!("detection   {subject_kind} {subject}: {verdict} (from {source}");
            if let Some(l) = latency_ms {
                s.push_str(&format!(", {l} ms after the evidence"));
            }
            s.push(')');
            if let Some(w) = window {
                s.push_str(&format!(" window {w}"));
            }
            if let Some(p) = used_percent {
                s.push_str(&format!(" used {p:.0}%"));
            }
            if let Some(r) = resets_at
                .as_deref()
                .and_then(|r| r.parse::<Timestamp>().ok())
            {
                s.push_str(&format!(" resets {}", render::instant(r, Timestamp::now())));
            }
            if let Some(e) = evidence {
                s.push_str(&format!(" \"{}\"", e.trim()));
            }
            s
        }
        EventKindDto::Effect {
            effect,
            request,
            session,
            account,
            detail,
        } => {
            let mut s = format!("effect      {effect}");
            if let Some(r) = request {
                s.push_str(&format!(" #{r}"));
            }
            if let Some(x) = session {
                s.push_str(&format!(" session {x}"));
            }
            if let Some(a) = account {
                s.push_str(&format!(" account {a}"));
            }
            if !detail.is_empty() {
                s.push_str(&format!(": {detail}"));
            }
            s
        }
        EventKindDto::EffectFinished {
            request,
            outcome,
            detail,
        } => format!(
            "finished    #{request} {outcome}{}",
            detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        ),
        EventKindDto::Session {
            session,
            change,
            detail,
        } => format!(
            "session     {session} {change}{}",
            detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        ),
        EventKindDto::Command { command, to } => format!(
            "command     {command}{}",
            to.as_deref()
                .map(|t| format!(" to {t}"))
                .unwrap_or_default()
        ),
        EventKindDto::Reply { accepted, reason } => match (accepted, reason) {
            (true, _) => "reply       accepted".to_owned(),
            (false, r) => format!("reply       refused: {}", r.as_deref().unwrap_or("-")),
        },
        EventKindDto::ConfigReload { ok, error } => match (ok, error) {
            (true, _) => "config      reloaded".to_owned(),
            (false, e) => format!(
                "config      reload refused, old config kept: {}",
                e.as_deref().unwrap_or("-")
            ),
        },
        EventKindDto::StateWriteFailed { error } => format!("state       write failed: {error}"),
        EventKindDto::Notification { severity, summary } => {
            format!("notify      [{severity}] {summary}")
        }
        EventKindDto::Lagged { missed } => format!("lagged      missed {missed} event(s)"),
        other => format!("{other:?}"),
    }
}

/// The `status` view: a header block, then the account and session tables.
pub(crate) fn status_text(st: &StatusDto, now: Timestamp, colour: bool) -> String {
    let mut head = Table::new(&["", ""]);
    let d = &st.daemon;
    let since = d
        .started_at
        .parse::<Timestamp>()
        .map(|t| format!(", up since {}", render::instant(t, now)))
        .unwrap_or_default();
    head.row(vec![
        "daemon".into(),
        format!("{} (pid {}){since}", d.version, d.pid),
    ]);
    head.row(vec![
        "active".into(),
        render::opt(st.active_account.as_deref()),
    ]);
    let mode = match (st.paused, st.draining) {
        (true, _) => format!("paused (`{}` to undo)", render::cmd("resume")),
        (_, true) => "draining".to_owned(),
        _ => "running".to_owned(),
    };
    head.row(vec!["mode".into(), mode]);
    let swap = match &st.swap {
        None => "none in progress".to_owned(),
        Some(s) => {
            let started = s
                .started_at
                .parse::<Timestamp>()
                .map(|t| format!(", started {}", render::instant(t, now)))
                .unwrap_or_default();
            format!(
                "{} -> {}, {} session(s) pending{started}",
                s.from.as_deref().unwrap_or("-"),
                s.to,
                s.pending.len()
            )
        }
    };
    head.row(vec!["swap".into(), swap]);
    head.row(vec![
        "swaps".into(),
        format!("{} completed", st.swaps_completed),
    ]);
    if let Some(e) = &d.config_error {
        head.row(vec![
            "config".into(),
            format!("reload refused, old config kept: {e}"),
        ]);
    }
    if let Some(e) = &d.state_error {
        head.row(vec!["state".into(), format!("last write failed: {e}")]);
    }
    if d.standby_fallbacks > 0 {
        head.row(vec![
            "standbys".into(),
            format!(
                "{} launch(es) started cold: the program prepared for them could not be used (the daemon's log says why)",
                d.standby_fallbacks
            ),
        ]);
    }
    // The header block has no column titles.
    let head = head.render();
    let mut head: String = head.lines().skip(1).map(|l| format!("{l}\n")).collect();
    match d.ledger.as_deref() {
        Some("degraded") => head
            .push_str("ledger: degraded (Redis unreachable; going on with this host's own view)\n"),
        Some(state) => head.push_str(&format!("ledger: {state}\n")),
        None => {}
    }
    let mut out = format!(
        "{head}\n{}\n{}",
        accounts_table(st, now, colour),
        sessions_table(&st.sessions, colour)
    );
    if !st.setting_differences.is_empty() {
        out.push_str("\nsettings differ between accounts (a moved session behaves differently):\n");
        for d in &st.setting_differences {
            out.push_str(&format!("  {}\n", d.summary));
        }
    }
    out
}

/// The accounts table; the active account is marked `*`.
pub(crate) fn accounts_table(st: &StatusDto, now: Timestamp, colour: bool) -> String {
    let mut t = Table::new(&[
        "ACCOUNT", "PREF", "STATE", "USABLE", "USED", "WINDOW", "RESETS", "CHOICE",
    ]);
    for a in &st.accounts {
        t.row(account_row(a, st.active_account.as_deref(), now, colour));
    }
    if t.is_empty() {
        return "no accounts configured\n".into();
    }
    let mut out = t.render();
    out.push_str(&grants_lines(st, now));
    out
}

/// The usage-reset grants accounts hold, one line each, under a heading; empty when none.
/// claude-failover shows them and never uses them.
fn grants_lines(st: &StatusDto, now: Timestamp) -> String {
    let mut lines = String::new();
    for a in &st.accounts {
        for g in &a.grants {
            let what = match (g.label.is_empty(), g.kind.as_deref()) {
                (false, _) => g.label.clone(),
                (true, Some(kind)) => format!("{kind} reset"),
                (true, None) => "reset".to_owned(),
            };
            let until = g
                .ends_at_ms
                .and_then(|ms| Timestamp::from_millisecond(ms).ok())
                .map(|t| format!(" · use by {}", render::instant(t, now)))
                .unwrap_or_default();
            let state = if g.paused {
                " · paused"
            } else if g.usable_now {
                " · usable now"
            } else {
                ""
            };
            lines.push_str(&format!(
                "  {}: {what} · {} of {} left{until}{state}\n",
                a.name, g.resets_left, g.resets_total
            ));
        }
    }
    if lines.is_empty() {
        return lines;
    }
    format!(
        "usage-reset grants (shown only: claude-failover never uses one; /limit-reset in Claude Code does):\n{lines}"
    )
}

fn account_row(a: &AccountDto, active: Option<&str>, now: Timestamp, colour: bool) -> Vec<String> {
    let name = if active == Some(a.name.as_str()) {
        format!("{} *", a.name)
    } else {
        a.name.clone()
    };
    let resets = a
        .resets_at_ms
        .and_then(|ms| Timestamp::from_millisecond(ms).ok())
        .map_or_else(|| "-".into(), |t| render::instant(t, now));
    vec![
        name,
        a.preference.to_string(),
        render::state(&a.state, colour),
        if a.usable { "yes" } else { "no" }.into(),
        render::percent(a.used_percent.map(f64::from)),
        render::opt(a.window.as_deref()),
        resets,
        if a.choice.reason.is_empty() {
            "-".into()
        } else {
            a.choice.reason.clone()
        },
    ]
}

/// The sessions table.
pub(crate) fn sessions_table(sessions: &[SessionDto], colour: bool) -> String {
    let mut t = Table::new(&[
        "SESSION",
        "ACCOUNT",
        "STATE",
        "ACTIVITY",
        "CONVERSATION",
        "STANDBY",
    ]);
    for s in sessions {
        t.row(vec![
            s.name.clone(),
            render::opt(s.account.as_deref()),
            match &s.last_exit {
                // A session that keeps dying says why.
                Some(why) => format!("{} ({why})", render::state(&s.state, colour)),
                None => render::state(&s.state, colour),
            },
            render::opt(s.activity.as_deref()),
            render::opt(s.claude_session.as_deref()),
            // The account a program is ready on to take the session over.
            render::opt(s.standby.as_deref()),
        ]);
    }
    if t.is_empty() {
        return "no sessions configured\n".into();
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use failover_daemon::http::dto::{ChoiceDto, DaemonDto, SwapDto};

    use super::*;

    fn sample() -> StatusDto {
        StatusDto {
            api_version: 1,
            active_account: Some("backup".into()),
            paused: false,
            draining: false,
            swap: Some(SwapDto {
                from: Some("primary".into()),
                to: "backup".into(),
                pending: vec!["ccl-1".into()],
                moving: vec!["ccl-1".into()],
                started_at: "2026-11-26T10:00:00Z".into(),
                started_at_ms: 1_795_687_200_000,
            }),
            swaps_completed: 2,
            accounts: vec![AccountDto {
                name: "primary".into(),
                preference: 0,
                state: "exhausted".into(),
                usable: false,
                used_percent: Some(100.0),
                window: Some("five_hour".into()),
                resets_at: Some("2026-11-26T12:13:00Z".into()),
                resets_at_ms: Some(1_795_695_180_000),
                windows: Vec::new(),
                extra_usage: false,
                choice: ChoiceDto {
                    next: false,
                    reason: "not next: five_hour used up until 2026-11-26T12:13:00Z".into(),
                },
                grants: Vec::new(),
            }],
            sessions: vec![SessionDto {
                name: "ccl-0".into(),
                account: Some("backup".into()),
                claude_session: Some("4f1c2b9e-0000-4000-8000-000000000000".into()),
                state: "running".into(),
                activity: Some("idle".into()),
                task: None,
                last_exit: None,
                standby: None,
            }],
            daemon: DaemonDto {
                version: "0.1.0".into(),
                pid: 42,
                started_at: "2026-11-26T09:00:00Z".into(),
                config_file: None,
                config_error: None,
                notifications_dropped: 0,
                standby_fallbacks: 0,
                state_error: None,
                ledger: None,
            },
            setting_differences: vec![failover_daemon::http::dto::SettingDifferenceDto {
                key: "mcpServers.github".into(),
                groups: vec![vec!["primary".into()]],
                missing: vec!["backup".into()],
                summary: "MCP server 'github' only on primary (missing on backup)".into(),
            }],
        }
    }

    #[test]
    fn the_accounts_view_shows_usage_reset_grants_as_offers_only() {
        let now: Timestamp = "2026-11-26T10:00:00Z".parse().unwrap();
        let mut st = sample();
        assert!(!accounts_table(&st, now, false).contains("grants"));
        st.accounts[0].grants = vec![failover_daemon::http::dto::GrantDto {
            label: "Session reset".into(),
            kind: Some("session".into()),
            resets_left: 2,
            resets_total: 3,
            ends_at: Some("2026-11-28T10:00:00Z".into()),
            ends_at_ms: Some(1_795_860_000_000),
            usable_now: true,
            paused: false,
        }];
        let text = accounts_table(&st, now, false);
        assert!(text.contains("claude-failover never uses one"), "{text}");
        assert!(
            text.contains("  primary: Session reset · 2 of 3 left · use by "),
            "{text}"
        );
        assert!(text.contains("usable now"), "{text}");
    }

    #[test]
    fn a_dead_session_says_why_in_the_sessions_table() {
        let mut st = sample();
        st.sessions[0].state = "dead".into();
        st.sessions[0].activity = None;
        st.sessions[0].last_exit = Some("exit 127: claude not found".into());
        let table = sessions_table(&st.sessions, false);
        assert!(
            table.contains("dead (exit 127: claude not found)"),
            "{table}"
        );
    }

    #[test]
    fn the_sessions_table_names_the_account_a_standby_is_ready_on() {
        let mut st = sample();
        let table = sessions_table(&st.sessions, false);
        assert!(table.contains("STANDBY"), "{table}");
        assert!(!table.contains("primary"), "{table}");
        st.sessions[0].standby = Some("primary".into());
        let table = sessions_table(&st.sessions, false);
        let row = table
            .lines()
            .find(|l| l.starts_with(&st.sessions[0].name))
            .unwrap();
        assert!(row.contains("primary"), "{table}");
    }

    #[test]
    fn status_view_names_everything_a_person_needs() {
        let now: Timestamp = "2026-11-26T10:00:00Z".parse().unwrap();
        let text = status_text(&sample(), now, false);
        assert!(text.contains("active  backup"), "{text}");
        assert!(
            text.contains("primary -> backup, 1 session(s) pending"),
            "{text}"
        );
        assert!(text.contains("(in 2h 13m)"), "{text}");
        assert!(
            text.contains("not next: five_hour used up until 2026-11-26T12:13:00Z"),
            "{text}"
        );
        assert!(
            text.contains("ccl-0    backup   running  idle      4f1c2b9e"),
            "{text}"
        );
        assert!(
            text.contains("settings differ between accounts")
                && text.contains("  MCP server 'github' only on primary (missing on backup)"),
            "{text}"
        );
    }

    #[test]
    fn status_view_shows_standby_fallbacks_only_when_there_were_some() {
        let now: Timestamp = "2026-11-26T10:00:00Z".parse().unwrap();
        let mut st = sample();
        let text = status_text(&st, now, false);
        assert!(!text.contains("started cold"), "{text}");
        st.daemon.standby_fallbacks = 3;
        let text = status_text(&st, now, false);
        assert!(
            text.contains(
                "standbys  3 launch(es) started cold: the program prepared for them could not be used"
            ),
            "{text}"
        );
    }

    #[test]
    fn status_view_says_when_the_shared_ledger_is_degraded() {
        let now: Timestamp = "2026-11-26T10:00:00Z".parse().unwrap();
        let mut st = sample();
        assert!(!status_text(&st, now, false).contains("ledger"));
        st.daemon.ledger = Some("ok".into());
        assert!(status_text(&st, now, false).contains("ledger: ok\n"));
        st.daemon.ledger = Some("degraded".into());
        let text = status_text(&st, now, false);
        assert!(
            text.contains("ledger: degraded (Redis unreachable"),
            "{text}"
        );
    }

    #[test]
    fn progress_lines_follow_requests_to_their_session() {
        let mut t = ProgressTracker::default();
        let ev = |kind: EventKindDto| {
            serde_json::to_string(&EventDto {
                seq: 1,
                at: "2026-11-26T10:00:00Z".into(),
                at_ms: 0,
                event: kind,
            })
            .unwrap()
        };
        let l = t
            .line(
                &ev(EventKindDto::Effect {
                    effect: "launch".into(),
                    request: Some(7),
                    session: Some("ccl-0".into()),
                    account: Some("backup".into()),
                    detail: String::new(),
                }),
                Duration::from_millis(1500),
            )
            .unwrap();
        assert_eq!(l, "[  1.5s] ccl-0        resuming on backup");
        let l = t
            .line(
                &ev(EventKindDto::EffectFinished {
                    request: 7,
                    outcome: "launched".into(),
                    detail: Some("conversation 4f1c".into()),
                }),
                Duration::from_secs(3),
            )
            .unwrap();
        assert_eq!(l, "[  3.0s] ccl-0        launched  (conversation 4f1c)");
        let persist = ev(EventKindDto::Effect {
            effect: "persist".into(),
            request: None,
            session: None,
            account: None,
            detail: String::new(),
        });
        assert!(t.line(&persist, Duration::ZERO).is_none());
    }
}
