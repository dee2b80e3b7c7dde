//! [`PaneObserver`]: one session's pane, heard through the server's shared control client
//! (see `hub`).

use std::sync::Arc;
use std::time::Duration;

use failover_core::{DetectContext, QuotaDetector, SessionId, SignalSource, Subject};
use tokio::sync::mpsc::Sender;
use tokio::time::Instant;

use super::ObserverEvent;
use super::gate::Gate;
use super::hub::{Hub, HubEvent};
use crate::backend::TmuxBackend;
use crate::clock;
use crate::error::{ObserveError, TmuxError};
use crate::ops;
use crate::transport::Transport;
use failover_core::quota::activity_from_screen;

/// How long a [`PaneObserver`] waits, after an exit notice, for the pane to die.
const DEATH_WAIT: Duration = Duration::from_secs(2);
/// After [`DEATH_WAIT`] ran out, how often and how long the pane is looked at again.
const DEATH_RECHECK: Duration = Duration::from_millis(250);
const DEATH_WATCH: Duration = Duration::from_secs(30);

/// Timing of a [`PaneObserver`].
#[derive(Clone, Debug)]
pub struct PaneObserverConfig {
    /// Longest wait from a pane's first new output to the capture that evaluates it
    /// (default 40 ms). Output arriving meanwhile is covered by the same capture.
    pub debounce: Duration,
    /// Shortest time between two captures of the same pane (default 100 ms), so a spinner
    /// redrawing ten times a second costs at most ten captures a second. With the default
    /// debounce a change is evaluated at most 140 ms after it was printed.
    pub min_interval: Duration,
    /// After a non-`Clear` pane verdict, look once more after this long even if nothing was
    /// printed (default 1 s), so a message that stays on screen still gets the second
    /// sighting pane evidence needs.
    pub confirm_after: Duration,
    /// Once the pane has printed nothing for this long, the activity on screen is reported
    /// again even when it is the one reported last (default 1.5 s). Activity is otherwise
    /// reported on changes only, and a turn can come and go between two captures (a
    /// prompt answered within 100 ms): whoever took a typed prompt for a turn under way
    /// learns it is over. A working Claude Code redraws its spinner several times a
    /// second, so a screen that stays still is not a turn in progress.
    pub settle_after: Duration,
    /// Zone for reset times that name none.
    pub zone: jiff::tz::TimeZone,
}

impl Default for PaneObserverConfig {
    fn default() -> Self {
        Self {
            debounce: Duration::from_millis(40),
            min_interval: Duration::from_millis(100),
            confirm_after: Duration::from_secs(1),
            settle_after: Duration::from_millis(1500),
            zone: jiff::tz::TimeZone::UTC,
        }
    }
}

/// Watches one session's pane: quota verdicts, activity changes and exit.
///
/// The exit is learnt from the [`EXIT_NOTICE`](crate::wire::EXIT_NOTICE) the backend's wrapper
/// prints (then confirmed from the pane's state), from the session's end, or, for a program
/// already dead when the observer attaches, from one look at attach time. A pane that dies
/// without the notice (its wrapper killed, or a session launched by a version whose wrapper
/// printed none) is left to the caller's periodic liveness check.
pub struct PaneObserver {
    transport: Transport,
    session: SessionId,
    detector: Arc<dyn QuotaDetector>,
    tx: Sender<ObserverEvent>,
    config: PaneObserverConfig,
}

impl std::fmt::Debug for PaneObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaneObserver")
            .field("session", &self.session)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What the observer last reported.
struct Seen {
    screen: Option<String>,
    activity: Option<failover_core::Activity>,
    gate: Gate<()>,
    /// Verdicts the screen showed before the program's first activity report, in a session
    /// launched to resume a conversation whose last turn was cut short (or whose running
    /// program loaded the conversation, `wire::REDRAWN_OPTION`): that screen
    /// redraws the old conversation, the limit message that ended it included, and
    /// Claude Code then takes the refused turn up by itself below that message, so the
    /// message stays in the latest turn on screen. It is the previous account's news, never
    /// reported about this one (the transcript reports whatever this launch meets).
    history: Vec<failover_core::Verdict>,
    /// Still learning [`Seen::history`].
    history_open: bool,
}

impl PaneObserver {
    /// An observer of `session` on `backend`'s server, sending into `tx`.
    pub fn new(
        backend: &TmuxBackend,
        session: SessionId,
        detector: Arc<dyn QuotaDetector>,
        tx: Sender<ObserverEvent>,
        config: PaneObserverConfig,
    ) -> Self {
        Self {
            transport: backend.transport().clone(),
            session,
            detector,
            tx,
            config,
        }
    }

    /// Runs until the session's program exits or the session goes (both reported as
    /// [`ObserverEvent::Exited`]), or the receiver is dropped (then it returns `Ok`).
    /// Dropping the future stops observing; the control client shared by the observers of
    /// the server ends with the last of them. A server that died is reported as `Exited` and
    /// then returned as the error.
    pub async fn run(self) -> Result<(), ObserveError> {
        let name = self.session.as_str();
        ops::validate_name(name)?;
        let hub = match Hub::get(&self.transport).await {
            Ok(hub) => hub,
            Err(e @ TmuxError::ServerDown { .. }) => {
                self.send(ObserverEvent::Exited {
                    session: self.session.clone(),
                    status: None,
                })
                .await;
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        let mut watch = match hub.watch(name).await {
            Ok(watch) => watch,
            Err(TmuxError::NoSession { .. }) => return self.exited(None).await,
            Err(e) => return Err(e.into()),
        };
        drop(hub);
        // A conversation redrawn by a resume: what the screen shows first is history.
        let marks = ops::resume_marks(&self.transport, name).await;
        if let Ok((_, true)) = marks {
            // Learnt once, by this observer: one started later (a daemon restarted) meets a
            // screen on which the replay has since typed its prompt, and what it shows
            // then is news.
            let _ = ops::unset_redrawn(&self.transport, name).await;
        }
        let resumed_turn = matches!(marks, Ok((Some(_), _) | (_, true)));
        let mut seen = Seen {
            screen: None,
            activity: None,
            gate: Gate::new(),
            history: Vec::new(),
            history_open: resumed_turn,
        };
        // A program that exited before its window was linked printed its exit notice to
        // nobody: look once now. Later exits arrive as notices.
        if let Some(status) = self.dead_now().await {
            return self.last_look_and_exit(&mut seen, status).await;
        }
        // Evaluate what is on screen now, then on each change.
        let mut dirty_at: Option<Instant> = Some(Instant::now());
        let mut recheck_at: Option<Instant> = None;
        // When the pane will have been still for `settle_after` (see there).
        let mut settle_at: Option<Instant> = None;
        // After an exit notice whose pane was not dead yet (a machine too busy for the
        // pane to die within DEATH_WAIT): look again now and then, until this instant.
        let mut death_watch: Option<(Instant, Instant)> = None;
        let mut last_capture = Instant::now()
            .checked_sub(self.config.min_interval)
            .unwrap_or_else(Instant::now);
        loop {
            let wake = [
                dirty_at,
                recheck_at,
                settle_at,
                death_watch.map(|(next, _)| next),
            ]
            .into_iter()
            .flatten()
            .min();
            tokio::select! {
                () = self.tx.closed() => return Ok(()),
                event = watch.next() => {
                    match event {
                        None | Some(HubEvent::Gone) => break,
                        Some(HubEvent::Output) => {
                            settle_at = Some(Instant::now() + self.config.settle_after);
                            dirty_at.get_or_insert_with(|| {
                                (Instant::now() + self.config.debounce)
                                    .max(last_capture + self.config.min_interval)
                            });
                        }
                        Some(HubEvent::ExitNotice) => {
                            // Evaluate the last screen before reporting the exit.
                            let _ = self.evaluate(&mut seen, false).await;
                            if let Some(status) = self.death().await {
                                return self.exited(status).await;
                            }
                            // Printed by the program itself, or a pane slow to die: carry
                            // on, looking again for a while (the session watcher's periodic
                            // check is the last safety net).
                            let now = Instant::now();
                            death_watch = Some((now + DEATH_RECHECK, now + DEATH_WATCH));
                        }
                        Some(HubEvent::WindowChanged) => {
                            // Perhaps the pane died with its exit notice unread: one look.
                            if let Some(status) = self.dead_now().await {
                                return self.last_look_and_exit(&mut seen, status).await;
                            }
                        }
                    }
                }
                () = sleep_until(wake), if wake.is_some() => {
                    let now = Instant::now();
                    if let Some((next, until)) = death_watch.filter(|(next, _)| *next <= now) {
                        if let Some(status) = self.dead_now().await {
                            return self.exited(status).await;
                        }
                        death_watch = (next < until).then(|| (now + DEATH_RECHECK, until));
                    }
                    if settle_at.is_some_and(|t| t <= now) {
                        // Still: report the activity on screen afresh.
                        settle_at = None;
                        seen.activity = None;
                    }
                    let forced = recheck_at.is_some_and(|r| r <= now);
                    if forced {
                        recheck_at = None;
                    }
                    if dirty_at.is_some_and(|d| d <= now) {
                        dirty_at = None;
                    }
                    last_capture = Instant::now();
                    match self.evaluate(&mut seen, forced).await {
                        Ok(Some(true)) => recheck_at = Some(Instant::now() + self.config.confirm_after),
                        Ok(_) => {}
                        Err(TmuxError::NoSession { .. } | TmuxError::ServerDown { .. }) => break,
                        Err(e) => tracing::debug!(session = name, error = %e, "capture failed"),
                    }
                }
            }
        }
        // The session or the server went away, or the shared control client ended.
        match ops::pane_state(&self.transport, name).await {
            Ok(s) if s.dead => self.last_look_and_exit(&mut seen, s.status).await,
            Ok(_) => Err(TmuxError::NonZeroExit {
                op: "link-window",
                status: None,
                stderr: "the observers' control client no longer hears a session that runs"
                    .to_owned(),
            }
            .into()),
            Err(TmuxError::NoSession { .. }) => self.exited(None).await,
            Err(e) => {
                self.send(ObserverEvent::Exited {
                    session: self.session.clone(),
                    status: None,
                })
                .await;
                Err(e.into())
            }
        }
    }

    /// After an exit notice: waits (briefly) for the pane to die, as it does right after
    /// the wrapper prints the notice, and returns its exit status; `None` when it still
    /// runs after [`DEATH_WAIT`].
    async fn death(&self) -> Option<Option<i32>> {
        let until = Instant::now() + DEATH_WAIT;
        let mut pause = Duration::from_millis(5);
        loop {
            if let Some(status) = self.dead_now().await {
                return Some(status);
            }
            if Instant::now() + pause > until {
                return None;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// One look at the pane: `Some(status)` when its program has exited or the session is
    /// gone. A server that went away ends the control client too: handled there.
    async fn dead_now(&self) -> Option<Option<i32>> {
        match ops::pane_state(&self.transport, self.session.as_str()).await {
            Ok(s) if s.dead => Some(s.status),
            Err(TmuxError::NoSession { .. }) => Some(None),
            Ok(_) | Err(_) => None,
        }
    }

    /// Evaluates the last screen of a pane whose program exited, then reports the exit.
    async fn last_look_and_exit(
        &self,
        seen: &mut Seen,
        status: Option<i32>,
    ) -> Result<(), ObserveError> {
        let _ = self.evaluate(seen, false).await;
        self.exited(status).await
    }

    async fn exited(&self, status: Option<i32>) -> Result<(), ObserveError> {
        self.send(ObserverEvent::Exited {
            session: self.session.clone(),
            status,
        })
        .await;
        Ok(())
    }

    async fn send(&self, event: ObserverEvent) {
        // A closed channel means the caller stopped listening; the loop notices.
        let _ = self.tx.send(event).await;
    }

    /// Captures and, when the screen changed (or `forced`), classifies it. Returns
    /// `Some(true)` when a non-`Clear` verdict was sent after a change (worth a recheck).
    async fn evaluate(&self, seen: &mut Seen, forced: bool) -> Result<Option<bool>, TmuxError> {
        let (screen, _, _) = ops::capture(&self.transport, self.session.as_str(), false).await?;
        let observed_at = clock::now();
        let changed = seen.screen.as_deref() != Some(screen.as_str());
        // Activity is classified on a change, and when none was reported yet (or since the
        // screen settled) even on the same screen.
        if changed || seen.activity.is_none() {
            let activity = activity_from_screen(&screen);
            if activity.is_some() && activity != seen.activity {
                seen.activity = activity;
                if let Some(activity) = activity {
                    self.send(ObserverEvent::Activity {
                        session: self.session.clone(),
                        activity,
                        observed_at,
                    })
                    .await;
                }
            }
        }
        if !changed && !forced {
            return Ok(None);
        }
        let ctx = DetectContext {
            observed_at,
            local_zone: self.config.zone.clone(),
        };
        let mut detection = self.detector.detect(&screen, &ctx);
        if seen.history_open {
            if detection.verdict != failover_core::Verdict::Clear
                && !seen.history.contains(&detection.verdict)
            {
                seen.history.push(detection.verdict.clone());
            }
            seen.history_open = seen.activity.is_none();
        }
        if seen.history.contains(&detection.verdict) {
            detection = failover_core::Detection::clear();
        }
        let alarm = detection.verdict != failover_core::Verdict::Clear;
        seen.screen = Some(screen);
        if seen.gate.pass((), &detection) {
            self.send(ObserverEvent::Observation {
                subject: Subject::Session(self.session.clone()),
                source: SignalSource::Pane,
                detection,
                observed_at,
            })
            .await;
        }
        Ok(Some(alarm && changed))
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
