//! The dashboard's model: what it knows of the daemon (the last status, the decisions seen
//! on the event stream, the swap in flight session by session) and what a key press means.
//! Pure: no terminal, no socket, no clock (instants come in as arguments), so every rule is
//! a unit test.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use failover_daemon::http::dto::{EventDto, EventKindDto, StatusDto};
use jiff::Timestamp;

use crate::render;

/// How many decisions the feed keeps.
pub(crate) const FEED_LEN: usize = 200;

/// Whether the daemon answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Link {
    /// Not reached yet.
    Connecting,
    /// The last request succeeded.
    Up,
    /// The last request failed: the dashboard keeps trying.
    Down {
        /// Since when (the first failure of this outage).
        since: Timestamp,
        /// What failed, in words.
        error: String,
    },
}

/// What the screen shows besides the panels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The dashboard.
    Normal,
    /// The key list.
    Help,
    /// Choosing the account `S` swaps to; the index into the status's accounts.
    Choose {
        /// The highlighted account.
        selected: usize,
    },
}

/// What a key asks the dashboard to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Nothing beyond redrawing.
    None,
    /// Leave.
    Quit,
    /// Swap now, to the best account (`None`) or the named one.
    Swap(Option<String>),
    /// Pause decisions.
    Pause,
    /// Resume decisions.
    Resume,
}

/// A key press, reduced to what the dashboard tells apart (so the model does not depend on
/// the terminal library).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    /// A printable character.
    Char(char),
    /// Ctrl and a character.
    Ctrl(char),
    /// Escape.
    Esc,
    /// Enter.
    Enter,
    /// Arrow up.
    Up,
    /// Arrow down.
    Down,
}

/// One step of one session's move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Step {
    /// Its checkpoint was asked for.
    Checkpointing,
    /// Checkpointed.
    Checkpointed,
    /// Being stopped.
    Stopping,
    /// Stopped.
    Stopped,
    /// Being launched on the destination.
    Resuming,
    /// Running on the destination.
    Resumed,
    /// Its interrupted prompt is being typed again.
    Prompting,
    /// Its interrupted prompt was typed again.
    PromptResent,
}

impl Step {
    /// The words for it.
    pub(crate) const fn label(self) -> &'static str {
        match self {
            Self::Checkpointing => "checkpointing",
            Self::Checkpointed => "checkpointed",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Resuming => "resuming",
            Self::Resumed => "resumed",
            Self::Prompting => "re-sending prompt",
            Self::PromptResent => "prompt re-sent",
        }
    }
}

/// Where one session's move stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Move {
    /// When it began (Unix ms of its first step).
    pub(crate) began_ms: i64,
    /// The steps reached, in order.
    pub(crate) steps: Vec<Step>,
    /// The last failure, if a step failed.
    pub(crate) failed: Option<String>,
}

impl Move {
    fn reach(&mut self, step: Step) {
        if self.steps.last() != Some(&step) {
            self.steps.push(step);
        }
    }

    /// The furthest step reached.
    pub(crate) fn last(&self) -> Option<Step> {
        self.steps.last().copied()
    }

    /// Whether the session runs on its destination already.
    fn landed(&self) -> bool {
        self.steps.contains(&Step::Resumed)
    }
}

/// The swap the dashboard follows: the one in flight, or the last one once it is over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SwapView {
    /// Where from.
    pub(crate) from: Option<String>,
    /// Where to.
    pub(crate) to: String,
    /// When it started (Unix ms), which tells one swap from the next.
    pub(crate) started_at_ms: i64,
    /// Whether the daemon still reports it in flight.
    pub(crate) in_flight: bool,
    /// The sessions it moves (or moved).
    pub(crate) sessions: BTreeSet<String>,
}

/// One line of the decision feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FeedLine {
    /// When the daemon made it (Unix ms).
    pub(crate) at_ms: i64,
    /// What it was.
    pub(crate) text: String,
}

/// Everything the dashboard shows.
#[derive(Clone, Debug)]
pub(crate) struct App {
    /// The last status the daemon gave.
    pub(crate) status: Option<StatusDto>,
    /// Whether the daemon answers.
    pub(crate) link: Link,
    /// The latest decisions, newest last.
    pub(crate) feed: VecDeque<FeedLine>,
    /// The swap followed.
    pub(crate) swap: Option<SwapView>,
    /// Each session's latest move, from the event stream (also the steps seen before the
    /// status showed their swap).
    pub(crate) moves: BTreeMap<String, Move>,
    /// What the screen shows.
    pub(crate) mode: Mode,
    /// A short message after a key (the daemon's answer to a command).
    pub(crate) flash: Option<String>,
    /// Since when each session has been in its state and activity, as far as seen here.
    pub(crate) since: BTreeMap<String, (String, Timestamp)>,
    /// When the dashboard started (a state already held then is "at least" that old).
    pub(crate) started: Timestamp,
    /// Whether the colours are on (`NO_COLOR` turns them off).
    pub(crate) color: bool,
    /// Outstanding requests seen on the event stream: request id → (session, step it ends).
    requests: BTreeMap<u64, (String, Step)>,
    /// Which events make a line of the feed.
    decisions: render::Decisions,
}

impl App {
    /// A dashboard started at `now`.
    pub(crate) fn new(now: Timestamp, color: bool) -> Self {
        Self {
            status: None,
            link: Link::Connecting,
            feed: VecDeque::new(),
            swap: None,
            moves: BTreeMap::new(),
            mode: Mode::Normal,
            flash: None,
            since: BTreeMap::new(),
            started: now,
            color,
            requests: BTreeMap::new(),
            decisions: render::Decisions::default(),
        }
    }

    /// A fresh status from the daemon.
    pub(crate) fn on_status(&mut self, st: StatusDto, now: Timestamp) {
        self.link = Link::Up;
        for s in &st.sessions {
            let key = format!("{} {}", s.state, s.activity.as_deref().unwrap_or("-"));
            let changed = self.since.get(&s.name).is_none_or(|(k, _)| *k != key);
            if changed {
                // The first sighting is as old as the dashboard at least.
                let at = if self.status.is_none() {
                    self.started
                } else {
                    now
                };
                self.since.insert(s.name.clone(), (key, at));
            }
        }
        match (&st.swap, &mut self.swap) {
            (Some(s), Some(v)) if v.started_at_ms == s.started_at_ms => {
                v.in_flight = true;
                v.to.clone_from(&s.to);
                v.sessions
                    .extend(s.pending.iter().chain(&s.moving).cloned());
            }
            (Some(s), _) => {
                let mut sessions: BTreeSet<String> =
                    s.pending.iter().chain(&s.moving).cloned().collect();
                // Moves that began with this swap, before this status showed it.
                sessions.extend(
                    self.moves
                        .iter()
                        .filter(|(_, m)| m.began_ms >= s.started_at_ms)
                        .map(|(n, _)| n.clone()),
                );
                self.swap = Some(SwapView {
                    from: s.from.clone(),
                    to: s.to.clone(),
                    started_at_ms: s.started_at_ms,
                    in_flight: true,
                    sessions,
                });
            }
            (None, Some(v)) => v.in_flight = false,
            (None, None) => {}
        }
        if let Mode::Choose { selected } = &mut self.mode {
            *selected = (*selected).min(st.accounts.len().saturating_sub(1));
        }
        self.status = Some(st);
    }

    /// A line of its own for the feed and the footer: the daemon's answer to a key, or a
    /// line of the demo's story.
    pub(crate) fn note(&mut self, text: String, now: Timestamp) {
        self.feed.push_back(FeedLine {
            at_ms: now.as_millisecond(),
            text: format!("» {text}"),
        });
        while self.feed.len() > FEED_LEN {
            self.feed.pop_front();
        }
        self.flash = Some(text);
    }

    /// The daemon did not answer.
    pub(crate) fn on_lost(&mut self, error: String, now: Timestamp) {
        let since = match &self.link {
            Link::Down { since, .. } => *since,
            _ => now,
        };
        self.link = Link::Down { since, error };
    }

    /// One event from the daemon's stream.
    pub(crate) fn on_event(&mut self, ev: &EventDto) {
        self.follow_moves(&ev.event, ev.at_ms);
        if self.decisions.keep(&ev.event) {
            self.feed.push_back(FeedLine {
                at_ms: ev.at_ms,
                text: render::describe(&ev.event),
            });
            while self.feed.len() > FEED_LEN {
                self.feed.pop_front();
            }
        }
    }

    /// Steps of each session's move, from the effects and their replies.
    fn follow_moves(&mut self, ev: &EventKindDto, at_ms: i64) {
        match ev {
            EventKindDto::Effect {
                effect,
                request,
                session: Some(session),
                ..
            } => {
                let (doing, done) = match effect.as_str() {
                    "checkpoint" => (Step::Checkpointing, Step::Checkpointed),
                    "stop" => (Step::Stopping, Step::Stopped),
                    "launch" => (Step::Resuming, Step::Resumed),
                    "send_prompt" => (Step::Prompting, Step::PromptResent),
                    _ => return,
                };
                // A checkpoint after a landing begins the next move (the second checkpoint
                // of a move, after its stop, does not).
                let fresh = self
                    .moves
                    .get(session)
                    .is_none_or(|m| doing == Step::Checkpointing && m.landed());
                if fresh {
                    self.moves.insert(
                        session.clone(),
                        Move {
                            began_ms: at_ms,
                            ..Move::default()
                        },
                    );
                    if let Some(v) = self.swap.as_mut().filter(|v| v.in_flight)
                        && at_ms >= v.started_at_ms
                    {
                        v.sessions.insert(session.clone());
                    }
                }
                if let Some(m) = self.moves.get_mut(session) {
                    m.reach(doing);
                }
                if let Some(r) = request {
                    self.requests.insert(*r, (session.clone(), done));
                }
            }
            EventKindDto::EffectFinished {
                request,
                outcome,
                detail,
            } => {
                if let Some((session, done)) = self.requests.remove(request)
                    && let Some(m) = self.moves.get_mut(&session)
                {
                    if outcome == "failed" {
                        m.failed = Some(detail.clone().unwrap_or_else(|| "failed".into()));
                    } else {
                        m.reach(done);
                    }
                }
            }
            _ => {}
        }
    }

    /// What a key does.
    pub(crate) fn on_key(&mut self, key: Key) -> Action {
        if matches!(key, Key::Ctrl('c')) {
            return Action::Quit;
        }
        match self.mode.clone() {
            Mode::Help => {
                if matches!(key, Key::Char('q')) {
                    return Action::Quit;
                }
                self.mode = Mode::Normal;
                Action::None
            }
            Mode::Choose { selected } => self.choose_key(key, selected),
            Mode::Normal => match key {
                Key::Char('q') | Key::Esc => Action::Quit,
                Key::Char('?') | Key::Char('h') => {
                    self.mode = Mode::Help;
                    Action::None
                }
                Key::Char('s') => Action::Swap(None),
                Key::Char('S') => {
                    let n = self.status.as_ref().map_or(0, |s| s.accounts.len());
                    if n == 0 {
                        self.flash = Some("no accounts known yet".into());
                    } else {
                        let active = self.status.as_ref().and_then(|s| {
                            s.accounts
                                .iter()
                                .position(|a| Some(&a.name) != s.active_account.as_ref())
                        });
                        self.mode = Mode::Choose {
                            selected: active.unwrap_or(0),
                        };
                    }
                    Action::None
                }
                Key::Char('p') => match &self.status {
                    Some(st) if st.paused => Action::Resume,
                    _ => Action::Pause,
                },
                _ => Action::None,
            },
        }
    }

    fn choose_key(&mut self, key: Key, selected: usize) -> Action {
        let accounts: Vec<String> = self
            .status
            .as_ref()
            .map(|s| s.accounts.iter().map(|a| a.name.clone()).collect())
            .unwrap_or_default();
        match key {
            Key::Esc | Key::Char('q') => {
                self.mode = Mode::Normal;
                Action::None
            }
            Key::Up | Key::Char('k') => {
                self.mode = Mode::Choose {
                    selected: selected.saturating_sub(1),
                };
                Action::None
            }
            Key::Down | Key::Char('j') => {
                self.mode = Mode::Choose {
                    selected: (selected + 1).min(accounts.len().saturating_sub(1)),
                };
                Action::None
            }
            Key::Char(c @ '1'..='9') => {
                let i = c as usize - '1' as usize;
                match accounts.get(i) {
                    Some(name) => {
                        self.mode = Mode::Normal;
                        Action::Swap(Some(name.clone()))
                    }
                    None => Action::None,
                }
            }
            Key::Enter => {
                self.mode = Mode::Normal;
                accounts
                    .get(selected)
                    .map_or(Action::None, |n| Action::Swap(Some(n.clone())))
            }
            _ => Action::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use failover_daemon::http::dto::{AccountDto, DaemonDto, SessionDto, SwapDto};

    use super::*;

    pub(crate) fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn status(active: &str, swap: Option<SwapDto>, paused: bool) -> StatusDto {
        let account = |name: &str, pref| AccountDto {
            name: name.into(),
            preference: pref,
            state: "available".into(),
            usable: true,
            used_percent: None,
            window: None,
            resets_at: None,
            resets_at_ms: None,
            windows: Vec::new(),
            extra_usage: false,
            grants: Vec::new(),
            choice: failover_daemon::http::dto::ChoiceDto {
                next: false,
                reason: String::new(),
            },
        };
        StatusDto {
            api_version: 1,
            active_account: Some(active.into()),
            paused,
            draining: false,
            swap,
            swaps_completed: 0,
            setting_differences: Vec::new(),
            accounts: vec![account("a", 0), account("b", 1), account("c", 2)],
            sessions: vec![SessionDto {
                name: "ccl-0".into(),
                account: Some(active.into()),
                claude_session: None,
                state: "running".into(),
                activity: Some("idle".into()),
                task: None,
                last_exit: None,
                standby: None,
            }],
            daemon: DaemonDto {
                version: "0".into(),
                pid: 1,
                started_at: "2026-01-01T00:00:00Z".into(),
                config_file: None,
                config_error: None,
                notifications_dropped: 0,
                standby_fallbacks: 0,
                state_error: None,
                ledger: None,
            },
        }
    }

    fn event(kind: EventKindDto) -> EventDto {
        EventDto {
            seq: 1,
            at: String::new(),
            at_ms: 0,
            event: kind,
        }
    }

    fn effect(effect: &str, request: u64) -> EventDto {
        event(EventKindDto::Effect {
            effect: effect.into(),
            request: Some(request),
            session: Some("ccl-0".into()),
            account: None,
            detail: String::new(),
        })
    }

    fn finished(request: u64, outcome: &str) -> EventDto {
        event(EventKindDto::EffectFinished {
            request,
            outcome: outcome.into(),
            detail: None,
        })
    }

    fn swap(started: i64) -> SwapDto {
        SwapDto {
            from: Some("a".into()),
            to: "b".into(),
            pending: vec!["ccl-0".into()],
            moving: vec![],
            started_at: String::new(),
            started_at_ms: started,
        }
    }

    #[test]
    fn a_swap_is_followed_step_by_step_and_kept_once_over() {
        let mut app = App::new(ts(0), false);
        app.on_status(status("a", Some(swap(5)), false), ts(1));
        for (e, r, o) in [
            ("checkpoint", 1, "checkpointed"),
            ("stop", 2, "stopped"),
            ("launch", 3, "launched"),
            ("send_prompt", 4, "prompt_sent"),
        ] {
            app.on_event(&effect(e, r));
            app.on_event(&finished(r, o));
        }
        let m = &app.moves["ccl-0"];
        assert_eq!(m.last(), Some(Step::PromptResent));
        assert_eq!(m.steps.len(), 8, "{m:?}");
        app.on_status(status("b", None, false), ts(2));
        let v = app.swap.as_ref().unwrap();
        assert!(!v.in_flight);
        assert!(v.sessions.contains("ccl-0"));
        assert_eq!(app.moves["ccl-0"].last(), Some(Step::PromptResent));
        // The next swap's first checkpoint starts the session's move afresh.
        app.on_status(status("b", Some(swap(9)), false), ts(3));
        app.on_event(&effect("checkpoint", 9));
        assert_eq!(app.moves["ccl-0"].last(), Some(Step::Checkpointing));
        assert_eq!(app.moves["ccl-0"].steps.len(), 1);
    }

    #[test]
    fn steps_seen_before_the_status_shows_the_swap_are_kept() {
        let mut app = App::new(ts(0), false);
        app.on_status(status("a", None, false), ts(1));
        let mut ev = effect("checkpoint", 1);
        ev.at_ms = 6;
        app.on_event(&ev);
        app.on_event(&finished(1, "checkpointed"));
        // The re-checkpoint after the stop belongs to the same move.
        app.on_event(&effect("stop", 2));
        app.on_event(&finished(2, "stopped"));
        app.on_event(&effect("checkpoint", 3));
        app.on_event(&finished(3, "checkpointed"));
        let mut st = status("a", Some(swap(5)), false);
        st.swap.as_mut().unwrap().pending.clear();
        app.on_status(st, ts(2));
        assert!(app.swap.as_ref().unwrap().sessions.contains("ccl-0"));
        let m = &app.moves["ccl-0"];
        assert!(m.steps.contains(&Step::Checkpointed) && m.steps.contains(&Step::Stopped));
    }

    #[test]
    fn a_failed_step_is_shown_with_its_reason() {
        let mut app = App::new(ts(0), false);
        app.on_status(status("a", Some(swap(5)), false), ts(1));
        app.on_event(&effect("stop", 7));
        app.on_event(&event(EventKindDto::EffectFinished {
            request: 7,
            outcome: "failed".into(),
            detail: Some("tmux gone".into()),
        }));
        let m = &app.moves["ccl-0"];
        assert_eq!(m.failed.as_deref(), Some("tmux gone"));
        assert_eq!(m.last(), Some(Step::Stopping));
    }

    #[test]
    fn repeated_sightings_and_bookkeeping_stay_out_of_the_feed() {
        let mut app = App::new(ts(0), false);
        let det = |verdict: &str| {
            event(EventKindDto::Detection {
                subject_kind: "session".into(),
                subject: "ccl-0".into(),
                source: "pane".into(),
                verdict: verdict.into(),
                window: None,
                used_percent: None,
                resets_at: None,
                evidence: None,
                latency_ms: None,
            })
        };
        app.on_event(&det("quota_exhausted"));
        app.on_event(&det("quota_exhausted"));
        app.on_event(&det("clear"));
        app.on_event(&effect("persist", 1));
        app.on_event(&effect("checkpoint", 2));
        let lines: Vec<&str> = app.feed.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("quota_exhausted"));
        assert!(lines[1].contains("checkpoint"));
    }

    #[test]
    fn keys_map_to_actions() {
        let mut app = App::new(ts(0), false);
        assert_eq!(app.on_key(Key::Char('s')), Action::Swap(None));
        assert_eq!(app.on_key(Key::Char('p')), Action::Pause);
        app.on_status(status("a", None, true), ts(1));
        assert_eq!(app.on_key(Key::Char('p')), Action::Resume);
        assert_eq!(app.on_key(Key::Char('?')), Action::None);
        assert_eq!(app.mode, Mode::Help);
        assert_eq!(app.on_key(Key::Char('x')), Action::None);
        assert_eq!(app.mode, Mode::Normal);
        // S opens the chooser on the first account that is not the active one.
        assert_eq!(app.on_key(Key::Char('S')), Action::None);
        assert_eq!(app.mode, Mode::Choose { selected: 1 });
        assert_eq!(app.on_key(Key::Down), Action::None);
        assert_eq!(app.on_key(Key::Down), Action::None);
        assert_eq!(app.mode, Mode::Choose { selected: 2 });
        assert_eq!(app.on_key(Key::Enter), Action::Swap(Some("c".into())));
        assert_eq!(app.mode, Mode::Normal);
        app.on_key(Key::Char('S'));
        assert_eq!(app.on_key(Key::Char('1')), Action::Swap(Some("a".into())));
        app.on_key(Key::Char('S'));
        assert_eq!(app.on_key(Key::Esc), Action::None);
        assert_eq!(app.mode, Mode::Normal);
        assert_eq!(app.on_key(Key::Ctrl('c')), Action::Quit);
        assert_eq!(app.on_key(Key::Esc), Action::Quit);
        assert_eq!(app.on_key(Key::Char('q')), Action::Quit);
    }

    #[test]
    fn an_outage_keeps_its_first_instant() {
        let mut app = App::new(ts(0), false);
        app.on_lost("gone".into(), ts(10));
        app.on_lost("still gone".into(), ts(20));
        assert_eq!(
            app.link,
            Link::Down {
                since: ts(10),
                error: "still gone".into()
            }
        );
        app.on_status(status("a", None, false), ts(30));
        assert_eq!(app.link, Link::Up);
    }

    #[test]
    fn time_in_state_counts_from_the_change() {
        let mut app = App::new(ts(100), false);
        app.on_status(status("a", None, false), ts(105));
        assert_eq!(
            app.since["ccl-0"].1,
            ts(100),
            "first sighting: since the start"
        );
        let mut st = status("a", None, false);
        st.sessions[0].activity = Some("working".into());
        app.on_status(st.clone(), ts(110));
        assert_eq!(app.since["ccl-0"].1, ts(110));
        app.on_status(st, ts(120));
        assert_eq!(app.since["ccl-0"].1, ts(110));
    }
}
