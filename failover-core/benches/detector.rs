//! Throughput of pane classification on a 200-line pane.
//!
//! `cargo bench -p failover-core --bench detector`
//!
//! Three panes of 200 rows, 120 columns, built like a long Claude Code session (user turns,
//! replies, tool calls with output, spinner rows, the input box and the footer):
//! - `clear`: nothing the detector looks for;
//! - `clear_ansi`: the same, styled with SGR escapes as `tmux capture-pane -e` returns it;
//! - `quota`: a 5-hour limit message under the latest turn, plus retry lines and words such
//!   as "limit" and "error" throughout, so every stage of the detector runs.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use failover_core::UnixMillis;
use failover_core::quota::PaneDetector;
use failover_core::{DetectContext, QuotaDetector, Verdict};

const PROSE: &[&str] = &[
    "I split the parser into a lexer and a grammar module and moved the shared types out.",
    "The build now finishes in 41 seconds; most of it is spent in the proc-macro crates.",
    "Next I'll update the snapshot files and run the whole workspace once more to be sure.",
    "fn parse(input: &str) -> Result<Ast, ParseFailure> { Grammar::new(input).run() }",
    "Three call sites still use the old constructor; I changed them to the builder.",
];

fn clear_rows() -> Vec<String> {
    let mut rows = Vec::new();
    let mut i = 0;
    while rows.len() < 194 {
        let p = PROSE[i % PROSE.len()];
        match i % 4 {
            0 => rows.push(format!("❯ {p}")),
            1 => rows.push(format!("● {p}")),
            2 => {
                rows.push("● Bash(cargo test --workspace)".to_owned());
                rows.push(format!("  ⎿  {p}"));
                rows.push(format!("     {p}"));
            }
            _ => rows.push("✻ Brewed for 3s · done 10:29 PM".to_owned()),
        }
        rows.push(String::new());
        i += 1;
    }
    rows.truncate(194);
    rows.push("─".repeat(120));
    rows.push("❯ ".to_owned());
    rows.push("─".repeat(120));
    rows.push("  ⏵⏵ auto mode on (shift+tab to cycle) · ← for agents".to_owned());
    rows.push(String::new());
    rows.push(String::new());
    rows
}

fn quota_rows() -> Vec<String> {
    let mut rows = clear_rows();
    // Words the prefilter stops at, all through the history.
    for (n, row) in rows.iter_mut().enumerate().take(180) {
        if n % 10 == 3 {
            *row = "● The rate limit error earlier was a 500; the retry went through.".to_owned();
        } else if n % 10 == 7 {
            *row = "  ⎿  500 Internal server error · retrying in 2s · attempt 1/10".to_owned();
        }
    }
    let at = rows.len() - 6;
    rows[at - 3] = "❯ Refactor the parser module and run the tests again".to_owned();
    rows[at - 2] = "  ⎿  You've hit your 5-hour limit · resets 9:38am (UTC)".to_owned();
    rows[at - 1] =
        "● Usage limit reached · continuing automatically at 9:38am · esc to cancel".to_owned();
    rows
}

fn styled(rows: &[String]) -> String {
    rows.iter()
        .map(|r| {
            r.split(' ')
                .map(|w| format!("\x1b[38;5;246m{w}\x1b[39m"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn bench(c: &mut Criterion) {
    let detector = PaneDetector::new();
    let ctx = DetectContext::utc(UnixMillis(1_785_000_000_000));
    let clear = clear_rows().join("\n");
    let clear_ansi = styled(&clear_rows());
    let quota = quota_rows().join("\n");
    assert_eq!(clear.split('\n').count(), 200);
    assert_eq!(detector.detect(&clear, &ctx).verdict, Verdict::Clear);
    assert_eq!(detector.detect(&clear_ansi, &ctx).verdict, Verdict::Clear);
    assert!(matches!(
        detector.detect(&quota, &ctx).verdict,
        Verdict::QuotaExhausted { .. }
    ));

    let mut group = c.benchmark_group("pane_200_lines");
    for (name, pane) in [
        ("clear", &clear),
        ("clear_ansi", &clear_ansi),
        ("quota", &quota),
    ] {
        group.throughput(Throughput::Bytes(pane.len() as u64));
        group.bench_function(name, |b| b.iter(|| detector.detect(black_box(pane), &ctx)));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
