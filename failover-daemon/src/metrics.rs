//! Counters the daemon keeps for `GET /metrics`, rendered in the Prometheus text format.
//!
//! Plain atomics and one small std `Mutex` map: metrics are observations *about* the
//! engine, not engine state, so sharing them does not break the single-owner rule.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use failover_core::{SignalSource, StatusSnapshot, VetoReason};

/// Upper bounds (seconds) of the detection-latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The daemon's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    detections: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    vetoed: Mutex<BTreeMap<&'static str, u64>>,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    /// Notifications dropped because a channel queue was full.
    pub notifications_dropped: AtomicU64,
    /// Notifications suppressed as duplicates.
    pub notifications_deduplicated: AtomicU64,
    /// Notifications delivered.
    pub notifications_sent: AtomicU64,
    /// Notifications given up on after every attempt.
    pub notifications_failed: AtomicU64,
    /// State-file writes that failed.
    pub state_write_failures: AtomicU64,
    /// Observations dropped because the monitor's queue was full.
    pub observations_dropped: AtomicU64,
    /// Configuration reloads refused.
    pub config_reload_failures: AtomicU64,
    /// The shared ledger: 0 without `[ledger]` (or not yet tried), 1 reachable, 2 degraded.
    pub ledger_state: AtomicU64,
    /// Launches that started cold because the program prepared for them (a standby) could
    /// not be used.
    pub standby_fallbacks: AtomicU64,
}

impl Metrics {
    /// Counts one detection.
    pub fn record_detection(&self, source: SignalSource, verdict: &'static str) {
        if let Ok(mut map) = self.detections.lock() {
            *map.entry((source.as_str(), verdict)).or_default() += 1;
        }
    }

    /// Counts one pane verdict the engine vetoed.
    pub fn record_veto(&self, reason: VetoReason) {
        if let Ok(mut map) = self.vetoed.lock() {
            *map.entry(reason.as_str()).or_default() += 1;
        }
    }

    /// How many pane verdicts were vetoed for `reason`.
    pub fn vetoed(&self, reason: VetoReason) -> u64 {
        self.vetoed
            .lock()
            .map(|m| m.get(reason.as_str()).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Records how long a detection took to reach the engine.
    pub fn record_latency(&self, latency: Duration) {
        let secs = latency.as_secs_f64();
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros.fetch_add(
            u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// How many detections of `source` with `verdict` were counted.
    pub fn detections(&self, source: SignalSource, verdict: &str) -> u64 {
        self.detections
            .lock()
            .map(|m| {
                m.iter()
                    .filter(|((s, v), _)| *s == source.as_str() && *v == verdict)
                    .map(|(_, n)| *n)
                    .sum()
            })
            .unwrap_or(0)
    }

    /// How many latencies were recorded.
    pub fn latency_count(&self) -> u64 {
        self.latency_count.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition of every metric, with engine figures from `snap`.
    pub fn render(&self, snap: &StatusSnapshot) -> String {
        let mut o = String::new();
        let counter = |o: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter(
            &mut o,
            "claude_failover_swaps_total",
            "Swaps completed since the daemon started.",
            snap.swaps_completed,
        );
        let _ = writeln!(
            o,
            "# HELP claude_failover_swap_in_progress 1 while a swap runs.\n# TYPE claude_failover_swap_in_progress gauge\nclaude_failover_swap_in_progress {}",
            u8::from(snap.swap.is_some())
        );
        let _ = writeln!(
            o,
            "# HELP claude_failover_detections_total Evidence classified, by source and verdict.\n# TYPE claude_failover_detections_total counter"
        );
        if let Ok(map) = self.detections.lock() {
            for ((source, verdict), n) in map.iter() {
                let _ = writeln!(
                    o,
                    "claude_failover_detections_total{{source=\"{source}\",verdict=\"{verdict}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            o,
            "# HELP claude_failover_detections_vetoed_total Pane verdicts not acted on because a structured source contradicts them, by reason.\n# TYPE claude_failover_detections_vetoed_total counter"
        );
        if let Ok(map) = self.vetoed.lock() {
            for (reason, n) in map.iter() {
                let _ = writeln!(
                    o,
                    "claude_failover_detections_vetoed_total{{reason=\"{reason}\"}} {n}"
                );
            }
        }
        let name = "claude_failover_detection_latency_seconds";
        let _ = writeln!(
            o,
            "# HELP {name} From evidence produced to the engine receiving the detection.\n# TYPE {name} histogram"
        );
        for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                o,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                self.latency_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(o, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            o,
            "{name}_sum {}",
            self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(o, "{name}_count {count}");

        let _ = writeln!(
            o,
            "# HELP claude_failover_sessions Sessions by state.\n# TYPE claude_failover_sessions gauge"
        );
        let mut states: BTreeMap<&str, u64> = BTreeMap::new();
        for s in &snap.sessions {
            *states.entry(s.state.as_str()).or_default() += 1;
        }
        for (state, n) in states {
            let _ = writeln!(o, "claude_failover_sessions{{state=\"{state}\"}} {n}");
        }
        let _ = writeln!(
            o,
            "# HELP claude_failover_account_used_percent Highest used percentage seen per account.\n# TYPE claude_failover_account_used_percent gauge"
        );
        for a in &snap.accounts {
            if let Some(p) = a.used_percent {
                let _ = writeln!(
                    o,
                    "claude_failover_account_used_percent{{account=\"{}\"}} {p}",
                    escape_label(a.id.as_str())
                );
            }
        }
        let _ = writeln!(
            o,
            "# HELP claude_failover_account_state 1 for each account's current state.\n# TYPE claude_failover_account_state gauge"
        );
        for a in &snap.accounts {
            let _ = writeln!(
                o,
                "claude_failover_account_state{{account=\"{}\",state=\"{}\"}} 1",
                escape_label(a.id.as_str()),
                a.state.name()
            );
        }
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            &mut o,
            "claude_failover_notifications_sent_total",
            "Notifications delivered.",
            load(&self.notifications_sent),
        );
        counter(
            &mut o,
            "claude_failover_notifications_failed_total",
            "Notifications given up on after every attempt.",
            load(&self.notifications_failed),
        );
        counter(
            &mut o,
            "claude_failover_notifications_dropped_total",
            "Notifications dropped because a channel queue was full.",
            load(&self.notifications_dropped),
        );
        counter(
            &mut o,
            "claude_failover_notifications_deduplicated_total",
            "Notifications suppressed as repeats.",
            load(&self.notifications_deduplicated),
        );
        counter(
            &mut o,
            "claude_failover_state_write_failures_total",
            "State-file writes that failed (the previous file stayed intact).",
            load(&self.state_write_failures),
        );
        counter(
            &mut o,
            "claude_failover_observations_dropped_total",
            "Observations dropped because the quota monitor was behind.",
            load(&self.observations_dropped),
        );
        counter(
            &mut o,
            "claude_failover_config_reload_failures_total",
            "Configuration reloads refused.",
            load(&self.config_reload_failures),
        );
        counter(
            &mut o,
            "claude_failover_standby_fallbacks_total",
            "Launches that started cold because the program prepared for them could not be used.",
            load(&self.standby_fallbacks),
        );
        let ledger = match load(&self.ledger_state) {
            1 => Some("ok"),
            2 => Some("degraded"),
            _ => None,
        };
        if let Some(state) = ledger {
            let _ = writeln!(
                o,
                "# HELP claude_failover_ledger 1 for the shared ledger's state (ok, degraded: Redis unreachable, the local view is used).\n# TYPE claude_failover_ledger gauge\nclaude_failover_ledger{{state=\"{state}\"}} 1"
            );
        }
        counter(
            &mut o,
            "claude_failover_ignored_inputs_total",
            "Inputs that did not apply in the engine's state.",
            snap.ignored_inputs,
        );
        o
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod ledger_tests {
    use super::*;

    #[test]
    fn the_ledger_state_shows_only_when_a_ledger_is_configured() {
        let engine =
            failover_core::FailoverEngine::new(failover_core::testkit::config(&["a"], &["s"]))
                .unwrap();
        let metrics = Metrics::default();
        assert!(
            !metrics
                .render(&engine.snapshot())
                .contains("claude_failover_ledger")
        );
        metrics.ledger_state.store(2, Ordering::Relaxed);
        let text = metrics.render(&engine.snapshot());
        assert!(
            text.contains("\nclaude_failover_ledger{state=\"degraded\"} 1\n"),
            "{text}"
        );
        metrics.ledger_state.store(1, Ordering::Relaxed);
        let text = metrics.render(&engine.snapshot());
        assert!(
            text.contains("\nclaude_failover_ledger{state=\"ok\"} 1\n"),
            "{text}"
        );
    }
}
