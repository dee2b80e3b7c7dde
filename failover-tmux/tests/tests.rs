//! failover-tmux's integration tests, one binary (each former test file is a module).

mod support;

mod architecture;
mod checkpoint;
mod drafts;
mod homes;
mod observe;
mod paced_waits;
mod person;
mod real_claude;
mod real_tmux;
mod standby;
mod statusline;
mod stress;
mod wire_parse;
