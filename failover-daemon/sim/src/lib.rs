//! The offline Claude world: a mock Anthropic API, throwaway subscription accounts, and a
//! stand-in `claude` for machines without the real CLI.
//!
//! Tests, the `demo` command and the benches build their world from these parts:
//!
//! - [`mock_api`]: an in-process HTTP server that answers like the Messages API, per
//!   account and switchable live (normal replies, exhausted quota, near-limit warnings,
//!   500/529 storms, throttles, rejected logins), recording every request.
//! - [`accounts`]: writes a config dir with a fake subscription login that the real CLI
//!   (and the stand-in) accept without any dialog.
//! - [`standin`]: a small terminal program that behaves like Claude Code for the engine's
//!   purposes (screen texts, transcripts, statusline), used when the real CLI is missing.
//!
//! `README.md` next to this file records what the real CLI (2.1.328) does against the mock:
//! the requests it sends, its screens, transcript lines and statusline JSON.
#![doc = ""]
#![doc = include_str!("../README.md")]

pub mod accounts;
pub mod drive;
pub mod mock_api;
pub mod standin;
pub mod tmux;
