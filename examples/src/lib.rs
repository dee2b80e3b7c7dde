//! Example programs embedding `failover-core`; see `examples/` (run one with
//! `cargo run -p failover-examples --example in_memory_failover`).
