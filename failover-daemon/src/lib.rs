//! The claude-failover daemon as a library.
