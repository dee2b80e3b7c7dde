#!/usr/bin/env bash
# Re-records the quota-detector fixtures from the real, pinned Claude Code CLI.
#
# Installs the CLI when missing (scripts/setup.sh), then runs claude-failover-record-fixtures,
# which drives the CLI in a private tmux server against the project's mock Anthropic API
# (127.0.0.1 only, no network) and writes, for every scenario and pane width, the pane text
# (plain and ANSI), the transcript lines and the statusline JSON, each with a
# <name>.expected.json holding the truth set in the mock.
#
# Usage: scripts/record-fixtures.sh [--only five_hour,weekly] [--widths 200,120,80,60]
# Takes about three to four minutes (the CLI retries 500/529 storms for a while before it
# gives up, and the final screens are recorded too).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
CACHE="${CLAUDE_FAILOVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/claude-failover}"
export CLAUDE_FAILOVER_REAL_CLAUDE="$(cat "$CACHE/claude-bin")"
export DISABLE_AUTOUPDATER=1
out=failover-core/tests/fixtures/quota/recorded
mkdir -p "$out"
cargo run --quiet -p failover-tools --bin claude-failover-record-fixtures -- \
  --claude "$CLAUDE_FAILOVER_REAL_CLAUDE" --out "$out" "$@"
echo "record-fixtures: fixtures in $out" >&2
