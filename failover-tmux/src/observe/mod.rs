//! Event-driven observation of sessions. Each observer is a future the caller spawns (into
//! its own `JoinSet`) and sends typed [`ObserverEvent`]s into a bounded channel the caller
//! owns:
//!
//! - [`PaneObserver`]: one session's pane, heard through the one tmux control-mode client
//!   all pane observers of a server share (`hub`: every observed window is linked into a
//!   session of its own, to which that client is attached); `%output` marks the screen
//!   dirty, a capture follows within the debounce window, and the pane detector and
//!   activity classifier ([`activity_from_screen`](failover_core::quota::activity_from_screen)) run only when the screen changed;
//! - [`TranscriptWatcher`]: `notify` on the shared projects tree; tails appended JSONL
//!   lines and runs the transcript detector on each; also reports, once per change, that
//!   a session's latest assistant message is an ordinary reply or that a new prompt was
//!   written ([`ObserverEvent::Corroboration`]);
//! - [`StatuslineWatcher`]: `notify` on the statusline spool folders; runs the statusline
//!   detector on each document, reports the windows' use of a session's document
//!   ([`ObserverEvent::Corroboration`]) and learns conversation ids.
//!
//! No observer polls. `notify` callbacks only `try_send` into a bounded queue, and only
//! events that can change content (not opens and read-closes, which our own reads cause);
//! a full queue triggers one rescan, whose reads cause no further events. Detectors are `Arc<dyn QuotaDetector>`, one per
//! source. To keep the channel quiet, a detection is sent when its verdict is not `Clear`,
//! or when it is `Clear` right after one that was not (the all-clear); the statusline
//! watcher also sends nothing for a document that is byte for byte the one it last read
//! from the same file.

/// The pure pane activity classifier, kept in `failover-core` beside the quota detectors.
mod fs_events;
mod gate;
pub(crate) mod hub;
mod pane;
mod spool;
mod transcripts;

pub use failover_core::ObserverEvent;

pub use pane::{PaneObserver, PaneObserverConfig};
pub use spool::StatuslineWatcher;
pub use transcripts::{Tracker, TranscriptWatcher};
