#!/usr/bin/env bash
# Runs every test, the real-tmux and real-Claude-Code end-to-end ones included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
CACHE="${CLAUDE_FAILOVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/claude-failover}"
export CLAUDE_FAILOVER_REAL_CLAUDE="$(cat "$CACHE/claude-bin")"
export DISABLE_AUTOUPDATER=1
cargo test --workspace --locked --no-fail-fast "$@"
