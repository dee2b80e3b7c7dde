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
use std::path::{Path, PathBuf};

use failover_core::quota::reset::lookup_zone;
use failover_core::quota::{DetectContext, Detectors, recognise};
use failover_core::{SignalSource, UnixMillis};
use serde_json::Value;

fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quota")
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let is_input = [".txt", ".jsonl", ".json"]
            .iter()
            .any(|e| name.ends_with(e));
        if is_input && !name.ends_with(".expected.json") {
            out.push(path);
        }
    }
}

fn expected_path(input: &Path) -> PathBuf {
    let name = input.file_name().unwrap().to_string_lossy();
    let stem = name.rsplit_once('.').map_or(&*name, |(s, _)| s);
    input.with_file_name(format!("{stem}.expected.json"))
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

fn millis(rfc3339: &str) -> i64 {
    rfc3339
        .parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("bad timestamp {rfc3339}: {e}"))
        .as_millisecond()
}

/// Checks one fixture; returns the mismatches.
fn check(detectors: &Detectors, input: &Path) -> Vec<String> {
    let name = input.file_name().unwrap().to_string_lossy().into_owned();
    let expected_file = expected_path(input);
    let Ok(expected) = fs::read_to_string(&expected_file) else {
        return vec![format!("no {}", expected_file.display())];
    };
    let expected: Value = serde_json::from_str(&expected).unwrap();
    let text = fs::read_to_string(input).unwrap();
    let ctx = DetectContext {
        observed_at: UnixMillis(millis(expected["observed_at"].as_str().unwrap())),
        local_zone: expected
            .get("local_zone")
            .and_then(Value::as_str)
            .map_or(jiff::tz::TimeZone::UTC, |z| lookup_zone(z).unwrap()),
    };

    let mut problems = Vec::new();
    if let Some(source) = named_source(&name) {
        if recognise(&text) != source {
            problems.push(format!("recognised as {}, not {source}", recognise(&text)));
        }
    }
    let report = detectors.report(None, &text, &ctx);
    let verdict = &report.detection.verdict;
    if verdict.name() != expected["verdict"].as_str().unwrap()
        && expected["vetoed_by"].as_str() == Some("transcript")
    {
        // A trap Claude Code itself draws like its own message (a reply that starts with a
        // limit message is drawn as an error block): the screen cannot tell, the engine's
        // veto must. It does when the scenario's transcript ends in an ordinary reply and
        // the verdict is one that reply contradicts.
        return match vetoed_by_transcript(detectors, input, verdict) {
            Ok(()) => Vec::new(),
            Err(why) => vec![format!(
                "{}: verdict {} and no veto: {why}",
                input.strip_prefix(fixture_root()).unwrap().display(),
                verdict.name()
            )],
        };
    }
    if verdict.name() != expected["verdict"].as_str().unwrap() {
        problems.push(format!(
            "verdict {} ≠ {}",
            verdict.name(),
            expected["verdict"]
        ));
    }
    let window = verdict.window().map(|w| w.as_str());
    if window != expected["window"].as_str() {
        problems.push(format!("window {window:?} ≠ {}", expected["window"]));
    }
    let resets = verdict.resets_at().map(|r| r.0);
    let want_resets = expected["resets_at"].as_str().map(millis);
    if resets != want_resets {
        problems.push(format!(
            "resets_at {:?} ≠ {}",
            verdict.resets_at().map(|r| r.to_string()),
            expected["resets_at"]
        ));
    }
    let want_used = expected["used_percent"].as_f64();
    let used_ok = match (report.used_percent, want_used) {
        (None, None) => true,
        (Some(a), Some(b)) => (f64::from(a) - b).abs() < 0.01,
        _ => false,
    };
    if !used_ok {
        problems.push(format!(
            "used_percent {:?} ≠ {}",
            report.used_percent, expected["used_percent"]
        ));
    }
    if let Some(want) = expected.get("evidence") {
        if report.detection.evidence.as_deref() != want.as_str() {
            problems.push(format!("evidence {:?} ≠ {want}", report.detection.evidence));
        }
    }
    problems
        .into_iter()
        .map(|p| {
            format!(
                "{}: {p}",
                input.strip_prefix(fixture_root()).unwrap().display()
            )
        })
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
    let mut inputs = Vec::new();
    collect(&fixture_root(), &mut inputs);
    inputs.sort();
    assert!(
        inputs.len() >= 20,
        "expected the fixture tree to hold fixtures, found {}",
        inputs.len()
    );
    let detectors = Detectors::new();
    let problems: Vec<String> = inputs.iter().flat_map(|i| check(&detectors, i)).collect();
    assert!(
        problems.is_empty(),
        "{} of {} fixtures disagree:\n{}",
        problems.len(),
        inputs.len(),
        problems.join("\n")
    );
}

#[test]
fn every_verdict_has_a_recorded_fixture() {
    // The real CLI's screens, not only hand-made ones, must show every verdict.
    let mut inputs = Vec::new();
    collect(&fixture_root().join("recorded"), &mut inputs);
    let verdicts: std::collections::BTreeSet<String> = inputs
        .iter()
        .filter_map(|i| fs::read_to_string(expected_path(i)).ok())
        .filter_map(|e| serde_json::from_str::<Value>(&e).ok())
        .filter_map(|e| e["verdict"].as_str().map(str::to_owned))
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
