//! tmux and Claude Code file-system implementations of the `failover-core` ports.
//!
//! - [`TmuxBackend`] runs Claude Code sessions in a private tmux server
//!   ([`SessionBackend`](failover_core::SessionBackend)).
//! - [`homes`] links every account's `projects/` to one shared transcript tree, so a
//!   conversation started on one account resumes on another.
//! - [`observe`] turns what sessions show and write (pane output, transcript lines,
//!   statusline JSON) into typed [`observe::ObserverEvent`]s, event-driven.
//! - [`FileCheckpointer`] stores checkpoints crash-safely
//!   ([`Checkpointer`](failover_core::Checkpointer)).
//!
//! Only `transport.rs` builds tmux command lines and only `wire.rs` knows tmux's formats;
//! `tests/architecture.rs` enforces both. This crate never installs a logger.
#![deny(missing_docs)]

mod backend;
pub mod checkpoint;
mod clock;
pub mod error;
pub mod homes;
pub mod observe;
mod ops;
pub mod paths;
pub mod statusline;
pub mod transcript;
pub mod transport;
pub mod wire;

pub use backend::{ACCOUNT_ENV, SESSION_ENV, TmuxBackend, TmuxConfig, sanitize_input};
pub use checkpoint::FileCheckpointer;
pub use error::{FsError, ObserveError, TmuxError};
pub use transport::{Socket, Transport};
