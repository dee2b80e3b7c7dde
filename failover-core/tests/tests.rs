//! failover-core's integration tests, one binary (each former test file is a module; the
//! proptest modules keep their file names, so their `*.proptest-regressions` files beside
//! them still apply).

mod architecture;
mod embedding;
mod engine_props;
mod engine_scenarios;
mod engine_standbys;
mod quota_fixtures;
mod quota_props;
mod quota_sources;
