//! `claude-failoverd`: the daemon binary.

fn main() {}
