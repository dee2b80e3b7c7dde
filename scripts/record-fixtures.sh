#!/usr/bin/env bash
# Re-records the quota-detector fixtures from the real Claude Code CLI, for one or more
# versions.
#
# For each version, installs the CLI when missing (scripts/setup.sh), then runs
# claude-failover-record-fixtures, which drives the CLI in a private tmux server against the
# project's mock Anthropic API (127.0.0.1 only, no network) and writes, for every scenario and
# pane width, the pane text (plain and ANSI), the transcript lines and the statusline JSON,
# each with a <name>.expected.json holding the truth set in the mock. Traps (a reply quoting
# limit messages, a tool printing them) are recorded too, expected verdict `clear`.
#
# The pinned version (scripts/setup.sh's default) records into
# failover-core/tests/fixtures/quota/recorded/, every other version into recorded/<version>/;
# other versions are installed under $CACHE/versions/, so the pinned CLI pointer
# ($CACHE/claude-bin) is left alone.
#
# Usage: scripts/record-fixtures.sh [--versions 2.1.328,2.1.332] [--only five_hour,weekly]
#                                   [--widths 200,120,80,60]
# Takes about four to five minutes per version (the CLI retries 500/529 storms for a while
# before it gives up, and the final screens are recorded too).
set -euo pipefail
cd "$(dirname "$0")/.."
pinned="$(sed -n 's/^CLAUDE_CODE_VERSION="\${CLAUDE_CODE_VERSION:-\(.*\)}"$/\1/p' scripts/setup.sh)"
versions="${CLAUDE_CODE_VERSION:-$pinned}"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --versions) versions="$2"; shift 2 ;;
    --versions=*) versions="${1#--versions=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
CACHE="${CLAUDE_FAILOVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/claude-failover}"
export DISABLE_AUTOUPDATER=1
cargo build --quiet -p failover-tools --bin claude-failover-record-fixtures
IFS=',' read -r -a list <<< "$versions"
for v in "${list[@]}"; do
  v="$(echo "$v" | tr -d ' ')"
  [ -n "$v" ] || continue
  out=failover-core/tests/fixtures/quota/recorded
  cache="$CACHE"
  if [ "$v" != "$pinned" ]; then
    out="$out/$v"
    cache="$CACHE/versions"
  fi
  CLAUDE_FAILOVER_CACHE="$cache" CLAUDE_CODE_VERSION="$v" bash scripts/setup.sh
  claude="$cache/claude-code-$v/node_modules/.bin/claude"
  mkdir -p "$out"
  echo "record-fixtures: Claude Code $v into $out" >&2
  cargo run --quiet -p failover-tools --bin claude-failover-record-fixtures -- \
    --claude "$claude" --out "$out" ${args[@]+"${args[@]}"}
done
echo "record-fixtures: done (${versions})" >&2
