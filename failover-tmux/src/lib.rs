//! tmux and Claude Code file-system implementations of the `failover-core` ports.
