//! What the queue needs to know about sessions, and how it hands them prompts. The daemon
//! adapts its engine snapshot into [`SessionsView`] and its backend into [`Deliver`].

use std::path::PathBuf;

use async_trait::async_trait;
use failover_core::{AccountId, ClaudeSessionId, SessionId};

/// One session as the queue sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionView {
    /// Its name.
    pub name: SessionId,
    /// Its working directory: the project whose queue it serves.
    pub dir: PathBuf,
    /// The account it runs on.
    pub account: Option<AccountId>,
    /// Its conversation.
    pub claude_session: Option<ClaudeSessionId>,
    /// At its prompt with no turn in progress.
    pub idle: bool,
    /// Being moved to another account, or (re)started with its state not known yet (as after
    /// a daemon restart, until the session is adopted and observed): neither idle nor dead
    /// nor working, whatever the other fields say.
    pub mid_swap: bool,
    /// Its process is running.
    pub alive: bool,
    /// How many turns the session has been seen to *start* (idle → working), as a counter that
    /// only grows while the daemon runs. It lets the queue notice a turn even when the
    /// `working` state came and went between two views. A source that cannot count leaves it
    /// at 0; completion then relies on seeing `idle: false`.
    pub turns_started: u64,
}

impl SessionView {
    /// Ready for a new task: alive, idle, not mid-swap.
    pub fn ready(&self) -> bool {
        self.alive && self.idle && !self.mid_swap
    }
}

/// Every session, as one value on a `tokio::sync::watch` channel. Publish a session only once
/// its state is known (a session shown idle gets a task right away).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionsView {
    /// The sessions.
    pub sessions: Vec<SessionView>,
}

impl SessionsView {
    /// For a source that knows only idle/working: carries each session's `turns_started` over
    /// from `previous`, adding one when it was idle there and is working now. Call it on every
    /// view the source builds, before publishing.
    pub fn count_turns_from(&mut self, previous: &SessionsView) {
        for s in &mut self.sessions {
            if let Some(p) = previous.sessions.iter().find(|p| p.name == s.name) {
                s.turns_started = p.turns_started + u64::from(p.idle && !s.idle);
            }
        }
    }
}

/// One prompt to hand to one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The session.
    pub session: SessionId,
    /// The project directory the task came from.
    pub project: PathBuf,
    /// The task's file name (its identity within the project).
    pub task: String,
    /// Which delivery this is, from 1.
    pub attempt: u32,
    /// The text to send.
    pub prompt: String,
    /// When the delivery was recorded (just before the first send): a probe looks for the
    /// prompt from then on.
    pub recorded_at: jiff::Timestamp,
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliverError {
    /// The session certainly did not get the prompt (e.g. it refused input).
    #[error("prompt not delivered: {0}")]
    NotDelivered(String),
    /// It may or may not have got it (e.g. a timeout mid-typing).
    #[error("delivery outcome unknown: {0}")]
    Unknown(String),
    /// Nothing was typed, and the session cannot take it now (its input box holds someone's
    /// draft): the claim is kept and the prompt sent once the session can take it.
    #[error("prompt not typed yet: {0}")]
    NotNow(String),
}

/// Whether a session received a prompt and finished its turn: asked while the session is idle
/// and the queue has not seen it work on the task (a turn too short to be seen, or one that
/// ended while the daemon was down).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// It did, and the turn it started has ended: the task is done, even while the session
    /// still looks busy (its observer has not caught up).
    Finished,
    /// It did, and the model's reply to it ended, but not the turn (yet): done once the
    /// session is idle (versions that write no turn end, a turn whose background agents
    /// still run).
    Replied,
    /// It did; whether its turn has ended is not known (asked once the session has stayed
    /// idle for `unconfirmed_after`, this counts as done).
    Received,
    /// It certainly did not: sending it now is the first delivery.
    NotReceived,
    /// Cannot tell.
    Unknown,
}

/// Sends prompts to sessions (the daemon maps this to `SessionBackend::send_input`).
#[async_trait]
pub trait Deliver: Send + Sync {
    /// Types and submits `delivery.prompt` into the session.
    async fn deliver(&self, delivery: &Delivery) -> Result<(), DeliverError>;

    /// Whether the session received `delivery` earlier, and finished its turn. Only an
    /// authoritative source (such as the session's transcript, see
    /// [`transcript_probe`](crate::probe::transcript_probe)) may answer other than
    /// [`Probe::Unknown`]; it is asked every few hundred milliseconds while the session is idle
    /// and has not been seen working on the task, so keep it cheap.
    async fn probe(&self, _delivery: &Delivery) -> Probe {
        Probe::Unknown
    }

    /// The file [`probe`](Self::probe) reads for `delivery`, if any: the queue watches its
    /// folder and probes as soon as it changes, so a turn's end finishes the task at once.
    fn transcript_of(&self, _delivery: &Delivery) -> Option<PathBuf> {
        None
    }

    /// Whether `session` shows an idle prompt right now, asked when a task's turn ended (a
    /// [`Probe::Finished`]) before the sessions view says idle: `true` lets the next task go
    /// to it at once rather than after the view catches up.
    async fn idle_now(&self, _session: &SessionId) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_are_counted_on_idle_to_working() {
        let view = |idle| SessionsView {
            sessions: vec![SessionView {
                name: SessionId::new("s"),
                dir: PathBuf::from("/p"),
                account: None,
                claude_session: None,
                idle,
                mid_swap: false,
                alive: true,
                turns_started: 0,
            }],
        };
        let mut prev = view(true);
        for (idle, want) in [(false, 1), (false, 1), (true, 1), (false, 2)] {
            let mut next = view(idle);
            next.count_turns_from(&prev);
            assert_eq!(next.sessions[0].turns_started, want);
            prev = next;
        }
    }
}
