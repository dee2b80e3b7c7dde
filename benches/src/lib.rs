//! Benchmarks of claude-failover; see `benches/`.
