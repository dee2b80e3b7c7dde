//! The daemon's integration tests, one binary (each former test file is a module).
//! The real-CLI end-to-end modules are named `e2e_*`: `--skip e2e_` leaves them out, and
//! `support::e2e` lets only as many run at once as there are cores.

mod support;

mod architecture;
mod binary;
mod config;
mod daemon_queue;
mod e2e_failover;
mod e2e_home;
mod e2e_ledger;
mod e2e_person;
mod e2e_queue;
mod e2e_resilience;
mod e2e_standby;
mod e2e_traps;
mod http;
mod ledger_redis;
mod lifecycle;
mod notifiers;
mod package;
mod person;
mod reload;
mod standby;
mod state_store;
mod tasks;
mod usage_poll;
