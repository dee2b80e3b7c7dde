//! Example programs embedding `failover-core`; see `examples/`.
