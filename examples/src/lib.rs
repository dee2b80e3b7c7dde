//! Example programs embedding `failover-core`; see `src/bin/` (run one with
//! `cargo run -p failover-examples --bin in_memory_failover`).
