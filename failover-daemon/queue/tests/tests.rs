//! The task queue's integration tests, one binary (each former test file is a module, the
//! shared fakes in `queue_support`).

mod queue_support;

mod architecture;
mod queue_backend;
mod queue_bad_files;
mod queue_crash;
mod queue_dispatch;
mod queue_ops;
mod queue_recovery;
