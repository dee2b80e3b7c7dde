//! failover-sim's integration tests, one binary (each former test file is a module).
//! `real_cli` drives the real Claude Code CLI and is skipped without
//! `CLAUDE_FAILOVER_REAL_CLAUDE`.

mod daemon_over_standin;
mod mock_api;
mod real_cli;
mod standby;
mod standin;
mod support;
