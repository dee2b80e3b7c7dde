//! The claude-failover daemon as a library.

pub mod http;
pub mod queue;
pub mod sim;
