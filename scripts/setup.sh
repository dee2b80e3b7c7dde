#!/usr/bin/env bash
# Installs what claude-failover's demo and tests need on a fresh machine:
#   - tmux (from the system's package manager, when missing)
#   - redis-server (likewise; the shared-ledger tests start their own on a free loopback port)
#   - the pinned Claude Code CLI (npm package @anthropic-ai/claude-code), into a cache folder
# Prints nothing but progress; the CLI's path is written to $CLAUDE_FAILOVER_CACHE/claude-bin.
set -euo pipefail

CLAUDE_CODE_VERSION="${CLAUDE_CODE_VERSION:-2.1.328}"
CACHE="${CLAUDE_FAILOVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/claude-failover}"
mkdir -p "$CACHE"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "setup: need root to run: $*" >&2; return 1; fi
}

if ! command -v tmux >/dev/null 2>&1; then
  echo "setup: installing tmux" >&2
  if command -v apt-get >/dev/null 2>&1; then
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null
  elif command -v dnf >/dev/null 2>&1; then as_root dnf install -y tmux
  elif command -v brew >/dev/null 2>&1; then brew install tmux
  else echo "setup: install tmux with your package manager" >&2; exit 1; fi
fi

if ! command -v redis-server >/dev/null 2>&1; then
  echo "setup: installing redis-server" >&2
  if command -v apt-get >/dev/null 2>&1; then
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  elif command -v dnf >/dev/null 2>&1; then as_root dnf install -y redis
  elif command -v brew >/dev/null 2>&1; then brew install redis
  else echo "setup: install redis-server with your package manager" >&2; exit 1; fi
fi

dest="$CACHE/claude-code-$CLAUDE_CODE_VERSION"
bin="$dest/node_modules/.bin/claude"
if [ ! -x "$bin" ] || ! "$bin" --version 2>/dev/null | grep -q "^$CLAUDE_CODE_VERSION"; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "setup: installing node.js and npm" >&2
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  fi
  echo "setup: installing @anthropic-ai/claude-code@$CLAUDE_CODE_VERSION into $dest" >&2
  mkdir -p "$dest"
  (cd "$dest" && DISABLE_AUTOUPDATER=1 npm install --no-audit --no-fund --loglevel=error \
    "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION" >&2)
fi
DISABLE_AUTOUPDATER=1 "$bin" --version >/dev/null
printf '%s\n' "$bin" > "$CACHE/claude-bin"
echo "setup: tmux $(tmux -V | cut -d' ' -f2), $(redis-server --version | cut -d' ' -f1-3), Claude Code $("$bin" --version | cut -d' ' -f1) at $bin" >&2
