//! The CLI's integration tests, one binary (each former test file is a module).

mod util;

mod cli;
mod demo;
mod detect;
mod doctor_ledger;
mod mcp;
mod top;
mod trust;
