//! `claude-failover`: the command-line interface.

fn main() {}
