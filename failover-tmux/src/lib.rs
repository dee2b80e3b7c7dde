//! tmux and Claude Code file-system implementations of the `failover-core` ports.
//!
//! - [`TmuxBackend`] runs Claude Code sessions in a private tmux server
//!   ([`SessionBackend`](failover_core::SessionBackend)).
//! - [`draft`] carries a person's unsent draft over a move (read at the stop, put back
//!   unsent in the next program's input box).
//! - [`homes`] links every account's `projects/` to one shared transcript tree, so a
//!   conversation started on one account resumes on another, and the person's memory,
//!   commands, agents, skills and output styles to one shared copy each.
//! - [`person`] reports the settings and MCP servers that differ between accounts and
//!   carries one account's settings to another.
//! - [`observe`] turns what sessions show and write (pane output, transcript lines,
//!   statusline JSON) into typed [`observe::ObserverEvent`]s, event-driven.
//! - [`FileCheckpointer`] stores checkpoints crash-safely
//!   ([`Checkpointer`](failover_core::Checkpointer)).
//! - [`TranscriptPrompts`] recalls a conversation's last prompt from its transcript
//!   ([`PromptSource`](failover_core::PromptSource)).
//!
//! Only `transport.rs` builds tmux command lines and only `wire.rs` knows tmux's formats;
//! `tests/architecture.rs` enforces both. This crate never installs a logger.
//!
//! # Theory of operation
//!
//! The backend and the observers share one private tmux server. The backend runs each
//! session's Claude Code under a fixed `sh -c` wrapper (the program arrives as separate
//! arguments, so no user text is ever parsed by a shell) that records the exit status in a
//! pane option, because tmux 3.3 sometimes marks a pane dead without recording its status.
//! Dead panes stay (`remain-on-exit on`) so the status can be read; the server stays up with
//! no sessions (`exit-empty off`) so a missing server always means trouble.
//!
//! The [`observe::PaneObserver`]s of a server share one control-mode client (`tmux -C`),
//! attached to a session of their own into which each observed session's window is linked
//! (tmux reports `%output` to a control client only for windows of its session):
//! `%output` notifications mark the screen dirty, one capture follows within the debounce
//! window, and the detector runs only when the text changed. The exit wrapper, once it has
//! recorded the status, prints an invisible exit notice that reaches the client as
//! `%output`; the observer confirms the pane's death and reports the exit (or on the window's
//! renaming). tmux 3.3a does not always pass a dying pane's last output on; the caller's
//! periodic liveness survey
//! ([`SessionBackend::liveness_all`](failover_core::SessionBackend::liveness_all)) catches those. No `pane_dead`
//! subscription: tmux 3.3a's server crashes when sessions are created while clients holding
//! subscriptions attach. The transcript and statusline watchers use `notify`; their
//! callbacks only `try_send` into bounded queues. Every observer is a future the caller
//! spawns and supervises; all of them send [`observe::ObserverEvent`]s, which convert into
//! the engine's `Input`.
#![deny(missing_docs)]

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

mod atomic;
mod backend;
pub mod checkpoint;
mod clock;
pub mod draft;
pub mod error;
pub mod global_config;
pub mod homes;
pub mod observe;
mod ops;
mod pacer;
pub mod paths;
pub mod person;
mod process_group;
mod standby;
pub mod statusline;
pub mod transcript;
pub mod transport;
pub mod wire;

pub use backend::{
    ACCOUNT_ENV, PaneCapture, RESUME_TURN_ENV, SESSION_ENV, SessionInfo, TmuxBackend, TmuxConfig,
    sanitize_input,
};
pub use checkpoint::FileCheckpointer;
pub use error::{FsError, ObserveError, TmuxError};
pub use standby::STANDBY_ENV;
pub use transcript::TranscriptPrompts;
pub use transport::{Socket, Transport};
