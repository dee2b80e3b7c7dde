//! `claude-failover detect`, run as a process over every quota fixture and over bad input.

use std::fs;
use std::io::Write;
use std::process::{Command, Output, Stdio};

use failover_core::testkit::{load_quota_fixtures, quota_fixture_dir};
use serde_json::Value;

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_claude-failover"));
    cmd.env("TZ", "UTC");
    cmd
}

fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}, stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn the_binary_agrees_with_every_fixture() {
    let fixtures = load_quota_fixtures(&quota_fixture_dir()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        fixtures.len() >= 20,
        "found only {} fixtures",
        fixtures.len()
    );
    let mut problems = Vec::new();
    for fixture in &fixtures {
        let (name, expected) = (&fixture.name, &fixture.expected);
        let out = bin()
            .env("TZ", expected.local_zone.as_deref().unwrap_or("UTC"))
            .args(["detect", "--json", "--now"])
            .arg(
                jiff::Timestamp::from_millisecond(expected.observed_at.0)
                    .unwrap()
                    .to_string(),
            )
            .arg(&fixture.path)
            .output()
            .unwrap();
        let got = stdout_json(&out);
        let keys: Vec<&str> = got
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            ["evidence", "resets_at", "used_percent", "verdict", "window"],
            "{name}"
        );
        if expected.vetoed_by_transcript
            && matches!(
                got["verdict"].as_str(),
                Some("quota_exhausted" | "auth_required")
            )
        {
            // A trap Claude Code draws like its own message: one file cannot tell, the
            // engine's veto does (checked with the scenario's transcript in
            // failover-core/tests/quota_fixtures.rs).
            continue;
        }
        if got["verdict"].as_str() != Some(expected.verdict.as_str()) {
            problems.push(format!(
                "{name}: verdict {} ≠ {}",
                got["verdict"], expected.verdict
            ));
        }
        if got["window"].as_str() != expected.window.as_deref() {
            problems.push(format!(
                "{name}: window {} ≠ {:?}",
                got["window"], expected.window
            ));
        }
        let resets_at = got["resets_at"]
            .as_str()
            .map(|s| s.parse::<jiff::Timestamp>().unwrap().as_millisecond());
        if resets_at != expected.resets_at.map(|r| r.0) {
            problems.push(format!(
                "{name}: resets_at {} ≠ {:?}",
                got["resets_at"],
                expected.resets_at.map(|r| r.to_string())
            ));
        }
        let used_ok = match (got["used_percent"].as_f64(), expected.used_percent) {
            (Some(a), Some(b)) => (a - b).abs() < 0.01,
            (a, b) => a.is_none() && b.is_none(),
        };
        if !used_ok {
            problems.push(format!(
                "{name}: used_percent {} ≠ {:?}",
                got["used_percent"], expected.used_percent
            ));
        }
        if let Some(want) = &expected.evidence {
            if got["evidence"].as_str() != want.as_deref() {
                problems.push(format!("{name}: evidence {} ≠ {want:?}", got["evidence"]));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn reads_standard_input_and_prints_a_readable_line() {
    // `-` and no file at all both read standard input.
    for args in [
        &["detect", "--now", "2026-11-26T08:00:00Z", "-"][..],
        &["detect", "--now", "2026-11-26T08:00:00Z"][..],
    ] {
        let mut child = bin()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all("❯ hi\n  ⎿  You've hit your weekly limit · resets 9:38am (UTC)\n".as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let line = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            line.trim_end(),
            "quota exhausted: weekly window, resets 2026-11-26T09:38:00Z [pane]: \
             You've hit your weekly limit · resets 9:38am (UTC)"
        );
    }
}

#[test]
fn an_explicit_source_is_obeyed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("statusline.json");
    fs::write(
        &file,
        r#"{"rate_limits":{"seven_day_opus":{"used_percentage":91,"resets_at":1795744680}}}"#,
    )
    .unwrap();
    let run = |source: &str| {
        stdout_json(
            &bin()
                .args([
                    "detect",
                    "--json",
                    "--now",
                    "2026-11-26T08:00:00Z",
                    "--source",
                    source,
                ])
                .arg(&file)
                .output()
                .unwrap(),
        )
    };
    let auto = run("auto");
    assert_eq!(auto["verdict"], "near_limit");
    assert_eq!(auto["window"], "weekly_opus");
    assert_eq!(auto["used_percent"], 91.0);
    assert_eq!(auto["resets_at"], "2026-11-27T01:58:00Z");
    assert_eq!(run("statusline"), auto);
    // Read as pane text, the same JSON holds no message.
    assert_eq!(run("pane")["verdict"], "clear");
}

#[test]
fn a_multi_line_transcript_reports_its_current_state() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.jsonl");
    let error = |text: &str| {
        serde_json::json!({"type":"assistant","isApiErrorMessage":true,
            "message":{"model":"<synthetic>","content":[{"type":"text","text":text}]}})
        .to_string()
    };
    let reply = r#"{"type":"assistant","message":{"model":"claude-opus-5-5","content":[{"type":"text","text":"ok"}]}}"#;
    let detect = |lines: &[String]| {
        fs::write(&file, lines.join("\n")).unwrap();
        stdout_json(
            &bin()
                .args(["detect", "--json", "--now", "2026-11-26T08:00:00Z"])
                .arg(&file)
                .output()
                .unwrap(),
        )
    };
    let mut lines = vec![
        reply.to_owned(),
        error("529 Overloaded · retrying in 2s · attempt 1/10"),
        error("You've hit your 5-hour limit · resets 9:38am (UTC)"),
        r#"{"type":"system","subtype":"informational","content":"Usage limit reached"}"#.to_owned(),
    ];
    let got = detect(&lines);
    assert_eq!(got["verdict"], "quota_exhausted");
    assert_eq!(got["window"], "five_hour");
    assert_eq!(got["resets_at"], "2026-11-26T09:38:00Z");
    // The model answered again afterwards: the quota is history.
    lines.push(reply.to_owned());
    assert_eq!(detect(&lines)["verdict"], "clear");
}

#[test]
fn bad_input_is_a_clear_error_with_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("capture.bin");
    fs::write(&binary, [0x7f, b'E', b'L', b'F', 0, 0, 1, 0xff]).unwrap();
    let latin1 = dir.path().join("latin1.txt");
    fs::write(&latin1, b"caf\xe9 limit reached").unwrap();
    let missing = dir.path().join("missing.txt");

    for (path, needle) in [
        (&binary, "is not text"),
        (&latin1, "not valid UTF-8"),
        (&missing, "cannot read"),
        (&dir.path().to_path_buf(), "cannot read"),
    ] {
        let out = bin().args(["detect", "--json"]).arg(path).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", path.display());
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{}: {err}", path.display());
    }

    let out = bin()
        .args(["detect", "--now", "yesterday", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));
    let out = bin()
        .args(["detect", "--source", "fax", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_documents_the_exit_codes() {
    let out = bin().args(["detect", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "Exit status:",
        "0  the input was classified",
        "1  the input could not be read",
        "2  invalid arguments",
        "--source",
        "--now",
        "--json",
    ] {
        assert!(help.contains(needle), "help lacks {needle:?}:\n{help}");
    }
}
