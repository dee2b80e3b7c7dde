//! The claude-failover daemon as a library.
pub mod queue;
pub mod sim;
