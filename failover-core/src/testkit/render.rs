//! One line per effect: the expected side of trace-based tests, and readable logs.

use std::fmt::Write as _;

use crate::engine::{CommandReply, Effect};
use crate::testkit::TraceEntry;

/// Renders one effect on one line, e.g. `launch #3 ccl-0 on backup resume=conv-1`.
///
/// Persisted state is summarised as the active account, the accounts not in their initial
/// `unknown` state, the swap in flight, parked sessions, prompts waiting to be replayed and
/// the pause flag.
pub fn render_effect(effect: &Effect) -> String {
    match effect {
        Effect::Checkpoint {
            request,
            session,
            account,
            ..
        } => format!("checkpoint {request} {session} on {account}"),
        Effect::Stop {
            request, session, ..
        } => format!("stop {request} {session}"),
        Effect::Launch {
            request,
            session,
            account,
            resume,
            ..
        } => match resume {
            Some(id) => format!("launch {request} {session} on {account} resume={id}"),
            None => format!("launch {request} {session} on {account} new"),
        },
        Effect::SendPrompt {
            request,
            session,
            text,
        } => format!("prompt {request} {session} {text:?}"),
        Effect::Notify(n) => {
            let mut line = format!("notify {} [{}] {}", n.severity, n.dedup_key, n.summary);
            if let Some(at) = n.next_reset {
                let _ = write!(line, " (next reset {at})");
            }
            line
        }
        Effect::Persist(state) => {
            let mut line = String::from("persist");
            match &state.active_account {
                Some(a) => {
                    let _ = write!(line, " active={a}");
                }
                None => line.push_str(" active=-"),
            }
            let accounts: Vec<String> = state
                .accounts
                .iter()
                .filter(|(_, s)| s.name() != "unknown")
                .map(|(id, s)| format!("{id}:{}", s.name()))
                .collect();
            if !accounts.is_empty() {
                let _ = write!(line, " accounts={}", accounts.join(","));
            }
            if let Some(swap) = &state.swap {
                let from = swap.from.as_ref().map_or("-", |a| a.as_str());
                let pending: Vec<&str> = swap.pending.iter().map(|s| s.as_str()).collect();
                let _ = write!(line, " swap={from}->{}[{}]", swap.to, pending.join(","));
            }
            let parked: Vec<&str> = state
                .sessions
                .iter()
                .filter(|(_, s)| s.parked)
                .map(|(id, _)| id.as_str())
                .collect();
            if !parked.is_empty() {
                let _ = write!(line, " parked=[{}]", parked.join(","));
            }
            let prompts: Vec<&str> = state
                .sessions
                .iter()
                .filter(|(_, s)| s.pending_prompt.is_some())
                .map(|(id, _)| id.as_str())
                .collect();
            if !prompts.is_empty() {
                let _ = write!(line, " prompts=[{}]", prompts.join(","));
            }
            if state.paused {
                line.push_str(" paused");
            }
            line
        }
        Effect::PublishAccount(news) => {
            let mut line = format!(
                "publish {} {} seen by {} at {}",
                news.account,
                news.state.name(),
                news.seen_by,
                news.seen_at
            );
            if let crate::account::AccountState::Exhausted { until, .. } = &news.state {
                let _ = write!(line, " until {until}");
            }
            line
        }
        Effect::PublishActive(news) => format!(
            "publish active {} by {} at {}",
            news.account, news.seen_by, news.seen_at
        ),
        Effect::AcquireLease { request } => format!("lease {request}"),
        Effect::ReleaseLease => "release lease".to_owned(),
        Effect::ReadUsage { accounts } => format!(
            "read usage {}",
            accounts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
        Effect::Reply { id, reply } => match reply {
            CommandReply::Accepted => format!("reply {id} accepted"),
            CommandReply::Refused(why) => format!("reply {id} refused: {why}"),
        },
        Effect::DetectionVetoed {
            session,
            account,
            verdict,
            reason,
            ..
        } => format!("vetoed {session} on {account} {verdict} ({reason})"),
    }
}

/// Renders a trace, one `t=<seconds> <effect>` line per entry.
pub fn render_trace(trace: &[TraceEntry]) -> String {
    let mut out = String::new();
    for entry in trace {
        let _ = writeln!(
            out,
            "t={} {}",
            entry.at.as_secs(),
            render_effect(&entry.effect)
        );
    }
    out
}
