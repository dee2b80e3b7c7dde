//! [`Pacer`]: when a bounded wait inside an operation looks at its pane again.
//!
//! The waits inside `stop`, `send_input`, a standby's start and launch and a draft's
//! handing on look at a pane (a `capture-pane`, sometimes a pane-state query: one `tmux`
//! client process each, about 2 ms of CPU) until what they wait for shows or their deadline
//! passes. On the clock alone that is a look every 20-25 ms, most of them at a screen that
//! has not changed, during a move, when the CPU is the moving programs' bottleneck.
//!
//! When the observers' control client runs (the `hub`, started by the first
//! [`PaneObserver`](crate::observe::PaneObserver), as the daemon's are), a pacer watches the
//! pane through it and the wait looks again only once the pane printed something, or its
//! window changed or went, and no sooner than the clock's `recheck` after the previous look:
//! never more looks than on the clock, and never a later one (a change is seen at the
//! clock's next tick or at once, whichever is later). A quiet pane is looked at every
//! [`SAFETY_LOOK`], in case an event was missed. What follows an exit notice or the end of
//! the session (the pane dying) prints nothing: from there the wait is back on the clock,
//! as it is when no hub runs (a bare backend) or the pane could not be watched.
//!
//! The watch starts at the wait's first pause, after its first look (a wait that finds what
//! it waits for at once costs nothing more); the look after that pause comes on the clock,
//! as it would have anyway, and sees whatever the pane printed before the watch began: from
//! there on, anything it prints is an event.

use std::time::Duration;

use tokio::time::Instant;

use crate::observe::hub::{Hub, HubEvent, Watch};
use crate::transport::Transport;

/// How long a watched pane that prints nothing goes without a look.
pub(crate) const SAFETY_LOOK: Duration = Duration::from_millis(250);

/// The pace of one wait's looks at one session's pane (see the module doc).
pub(crate) struct Pacer<'a> {
    transport: &'a Transport,
    name: &'a str,
    recheck: Duration,
    watch: Watching,
}

enum Watching {
    /// Not yet: the first pause starts the watch if it can.
    NotYet,
    Yes(Watch),
    /// On the clock: no hub, the pane could not be watched, or what comes next prints
    /// nothing.
    No,
}

impl<'a> Pacer<'a> {
    /// A pacer for a wait at session `name`'s pane on `transport`'s server, looking at most
    /// every `recheck`.
    pub(crate) fn new(transport: &'a Transport, name: &'a str, recheck: Duration) -> Self {
        Self {
            transport,
            name,
            recheck,
            watch: Watching::NotYet,
        }
    }

    /// Called right after a look that did not find what the wait waits for: returns when
    /// the next look is due, at `until` at the latest (the caller looks once more then).
    pub(crate) async fn pause(&mut self, until: Instant) {
        let now = Instant::now();
        if now >= until {
            return;
        }
        let earliest = (now + self.recheck).min(until);
        if let Watching::NotYet = self.watch {
            self.watch = self.start_watch().await;
            // The look after the watch began sees what came before it: on the clock.
            tokio::time::sleep_until(earliest).await;
            self.drain();
            return;
        }
        if let Watching::Yes(watch) = &mut self.watch {
            match tokio::time::timeout_at((now + SAFETY_LOOK).min(until), watch.next()).await {
                // The safety look, or the deadline's.
                Err(_) => return,
                Ok(Some(HubEvent::Output | HubEvent::WindowChanged)) => {}
                // What comes next (the pane's death) prints nothing; or the client ended.
                Ok(Some(HubEvent::ExitNotice | HubEvent::Gone) | None) => {
                    self.watch = Watching::No;
                }
            }
        }
        tokio::time::sleep_until(earliest).await;
        // Events queued meanwhile come before the look the caller makes now: it sees what
        // they announce.
        self.drain();
    }

    async fn start_watch(&self) -> Watching {
        let Some(hub) = Hub::running(self.transport) else {
            return Watching::No;
        };
        match hub.watch(self.name).await {
            Ok(watch) => Watching::Yes(watch),
            Err(e) => {
                tracing::debug!(session = self.name, error = %e, "cannot watch the pane; looking on the clock");
                Watching::No
            }
        }
    }

    fn drain(&mut self) {
        let Watching::Yes(watch) = &mut self.watch else {
            return;
        };
        loop {
            match watch.try_next() {
                Ok(None) => return,
                Ok(Some(HubEvent::Output | HubEvent::WindowChanged)) => {}
                Ok(Some(HubEvent::ExitNotice | HubEvent::Gone)) | Err(()) => {
                    self.watch = Watching::No;
                    return;
                }
            }
        }
    }
}
