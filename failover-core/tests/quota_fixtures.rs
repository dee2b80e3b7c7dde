//! Every fixture under `tests/fixtures/quota/` through the detectors.
//!
//! A fixture is a pane capture (`.txt`), transcript lines (`.jsonl`), statusline JSON
//! (`.json`) or headers (`.headers.txt`), next to `<name>.expected.json`: the fields of
//! `claude-failover detect --json` (`verdict`, `window`, `resets_at`, `used_percent`, and
//! optionally `evidence`) plus `observed_at` (the `--now` it was recorded at) and optionally
//! `local_zone` (an IANA name; UTC when absent), and for traps `vetoed_by: "transcript"`: the
//! pane may show what Claude Code draws exactly like its own limit message (it draws a reply
//! that starts with one as an error block), and then the scenario's transcript must end in
//! an ordinary reply, which the engine's veto needs. `recorded/` holds captures of the real CLI,
//! `wordings/` hand-made variants and the wordings of older versions. Every file is picked
//! up; a fixture without an expectation fails the test.

// Tests read fixture files; the purity fence (clippy.toml) is for the library.
#![allow(clippy::disallowed_methods)]

use std::fs;
use std::path::Path;

use failover_core::DetectContext;
use failover_core::SignalSource;
use failover_core::quota::{Detectors, lookup_zone, recognise};
use failover_core::testkit::{QuotaFixture, load_quota_fixtures, quota_fixture_dir};

fn fixtures(dir: &Path) -> Vec<QuotaFixture> {
    load_quota_fixtures(dir).unwrap_or_else(|e| panic!("{e}"))
}

/// The source a fixture's name promises, if any.
fn named_source(name: &str) -> Option<SignalSource> {
    if name.contains(".transcript.") || name.ends_with(".jsonl") {
        Some(SignalSource::Transcript)
    } else if name.contains(".statusline.") {
        Some(SignalSource::Statusline)
    } else if name.contains(".headers.") {
        Some(SignalSource::Headers)
    } else if name.ends_with(".txt") {
        Some(SignalSource::Pane)
    } else {
        None
    }
}

/// Checks one fixture; returns the mismatches.
fn check(detectors: &Detectors, fixture: &QuotaFixture) -> Vec<String> {
    let expected = &fixture.expected;
    let text = &fixture.text;
    let ctx = DetectContext {
        observed_at: expected.observed_at,
        local_zone: expected
            .local_zone
            .as_deref()
            .map_or(jiff::tz::TimeZone::UTC, |z| lookup_zone(z).unwrap()),
    };

    let mut problems = Vec::new();
    if let Some(source) = named_source(fixture.file_name()) {
        if recognise(text) != source {
            problems.push(format!("recognised as {}, not {source}", recognise(text)));
        }
    }
    let report = detectors.report(None, text, &ctx);
    let verdict = &report.detection.verdict;
    if verdict.name() != expected.verdict && expected.vetoed_by_transcript {
        // A trap Claude Code itself draws like its own message (a reply that starts with a
        // limit message is drawn as an error block): the screen cannot tell, the engine's
        // veto must. It does when the scenario's transcript ends in an ordinary reply and
        // the verdict is one that reply contradicts.
        return match vetoed_by_transcript(detectors, &fixture.path, verdict) {
            Ok(()) => Vec::new(),
            Err(why) => vec![format!(
                "{}: verdict {} and no veto: {why}",
                fixture.name,
                verdict.name()
            )],
        };
    }
    if verdict.name() != expected.verdict {
        problems.push(format!("verdict {} ≠ {}", verdict.name(), expected.verdict));
    }
    let window = verdict.window().map(|w| w.as_str());
    if window != expected.window.as_deref() {
        problems.push(format!("window {window:?} ≠ {:?}", expected.window));
    }
    let resets = verdict.resets_at();
    if resets != expected.resets_at {
        problems.push(format!(
            "resets_at {:?} ≠ {:?}",
            resets.map(|r| r.to_string()),
            expected.resets_at.map(|r| r.to_string())
        ));
    }
    let used_ok = match (report.used_percent, expected.used_percent) {
        (None, None) => true,
        (Some(a), Some(b)) => (f64::from(a) - b).abs() < 0.01,
        _ => false,
    };
    if !used_ok {
        problems.push(format!(
            "used_percent {:?} ≠ {:?}",
            report.used_percent, expected.used_percent
        ));
    }
    if let Some(want) = &expected.evidence {
        if report.detection.evidence != *want {
            problems.push(format!(
                "evidence {:?} ≠ {want:?}",
                report.detection.evidence
            ));
        }
    }
    problems
        .into_iter()
        .map(|p| format!("{}: {p}", fixture.name))
        .collect()
}

/// Whether the transcript fixture of `pane`'s scenario ends in an ordinary reply, which
/// makes the engine veto `verdict` (see `Corroboration` and the engine's Evidence rules).
fn vetoed_by_transcript(
    detectors: &Detectors,
    pane: &Path,
    verdict: &failover_core::Verdict,
) -> Result<(), String> {
    use failover_core::{Corroboration, Verdict};
    if !matches!(
        verdict,
        Verdict::QuotaExhausted { .. } | Verdict::AuthRequired { .. }
    ) {
        return Err("an ordinary reply vetoes only quota_exhausted and auth_required".into());
    }
    let name = pane.file_name().unwrap().to_string_lossy().into_owned();
    let scenario = name.rsplit_once("-w").map_or(name.as_str(), |(s, _)| s);
    let transcript = pane.with_file_name(format!("{scenario}.transcript.jsonl"));
    let text =
        fs::read_to_string(&transcript).map_err(|e| format!("{}: {e}", transcript.display()))?;
    let mut last = None;
    for line in text.lines() {
        if let Some(fact) = detectors.transcript.corroboration(line) {
            last = Some(fact);
        }
    }
    match last {
        Some(Corroboration::OrdinaryReply) => Ok(()),
        other => Err(format!(
            "{} ends in {other:?}, not an ordinary reply",
            transcript.display()
        )),
    }
}

#[test]
fn every_fixture_gets_its_expected_verdict() {
    let fixtures = fixtures(&quota_fixture_dir());
    assert!(
        fixtures.len() >= 20,
        "expected the fixture tree to hold fixtures, found {}",
        fixtures.len()
    );
    let detectors = Detectors::new();
    let problems: Vec<String> = fixtures.iter().flat_map(|f| check(&detectors, f)).collect();
    assert!(
        problems.is_empty(),
        "{} of {} fixtures disagree:\n{}",
        problems.len(),
        fixtures.len(),
        problems.join("\n")
    );
}

#[test]
fn every_verdict_has_a_recorded_fixture() {
    // The real CLI's screens, not only hand-made ones, must show every verdict.
    let verdicts: std::collections::BTreeSet<String> =
        fixtures(&quota_fixture_dir().join("recorded"))
            .into_iter()
            .map(|f| f.expected.verdict)
            .collect();
    for v in [
        "quota_exhausted",
        "near_limit",
        "transient",
        "auth_required",
        "clear",
    ] {
        assert!(verdicts.contains(v), "no recorded fixture expects {v}");
    }
}
