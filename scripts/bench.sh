#!/usr/bin/env bash
# End-to-end benchmarks of claude-failover, built in release:
#   scripts/bench.sh latency    detection latency (real CLI), p50/p99 over 20 quota events
#   scripts/bench.sh failover   failover wall time for 1, 5, 20 real CLI sessions vs the machine's bound
#   scripts/bench.sh idle       daemon CPU/RSS at rest with 20 and 200 sessions vs a capture-pane poller
#   scripts/bench.sh queue      what the task queue adds per task beyond the turn (real CLI, 20 tasks)
#   scripts/bench.sh all        all three
# Results: stdout and target/bench-results/<name>.json. See BENCHMARKS.md.
# Knobs: BENCH_LATENCY_RUNS, BENCH_FAILOVER_SIZES (e.g. 1,5,20), BENCH_FAILOVER_STARTS (cold,standby:
# which failover rows each size gets), BENCH_PARALLEL_MOVES (the
# daemon's [policy] parallel_moves; default: its own), BENCH_IDLE_SIZES, BENCH_IDLE_WINDOW_SECS, BENCH_QUEUE_TASKS,
# BENCH_TIMELINE=1 (print each failover row's events), BENCH_HOLD_SECS (keep a row's world running after it).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
case "$what" in latency|failover|idle|queue|all) ;; *)
  echo "usage: scripts/bench.sh latency|failover|idle|queue|all" >&2; exit 2 ;;
esac
if [ "$what" != idle ]; then
  bash scripts/setup.sh
  CACHE="${CLAUDE_FAILOVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/claude-failover}"
  export CLAUDE_FAILOVER_REAL_CLAUDE="$(cat "$CACHE/claude-bin")"
fi
export DISABLE_AUTOUPDATER=1
cargo build --release --locked -p failover-daemon -p failover-sim -p failover-benches --bins
exec target/release/failover-e2e-bench "$what"
