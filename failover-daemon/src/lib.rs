//! The claude-failover daemon as a library.

pub mod http;
pub mod sim;
