//! The quota fixtures: captured pane text, transcript lines, statusline JSON and headers,
//! each next to `<stem>.expected.json`, the fields `claude-failover detect --json` prints
//! for it. [`load_quota_fixtures`] reads a tree of them once, for every test that checks a
//! detector (or the binary built on them) against the same expectations.

// The testkit reads fixture files for tests; the engine and the detectors still do no I/O.
#![allow(clippy::disallowed_methods)]

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::time::UnixMillis;

/// The fixture tree shipped with failover-core: `recorded/` holds captures of the real
/// Claude Code CLI, `wordings/` hand-made variants and older versions' wordings.
pub fn quota_fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/quota")
}

/// One input file and what detecting it must give.
#[derive(Clone, Debug, PartialEq)]
pub struct QuotaFixture {
    /// The input file.
    pub path: PathBuf,
    /// Its path below the tree's root, for messages (`recorded/clear-w80.txt`).
    pub name: String,
    /// Its contents.
    pub text: String,
    /// What detecting it must give.
    pub expected: ExpectedDetection,
}

/// The contents of an `<stem>.expected.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpectedDetection {
    /// The verdict's name as `detect --json` prints it (`quota_exhausted`, `clear`, …).
    pub verdict: String,
    /// The limit window's name, when the verdict has one (`five_hour`, …).
    pub window: Option<String>,
    /// When the window resets.
    pub resets_at: Option<UnixMillis>,
    /// How much of the window is used, when the input says.
    pub used_percent: Option<f64>,
    /// The evidence line, when the expectation states one (`Some(None)`: states there is
    /// none).
    pub evidence: Option<Option<String>>,
    /// The instant the input was recorded at (the `--now` to detect it with).
    pub observed_at: UnixMillis,
    /// The IANA zone local times in the input are read in; `None` for UTC.
    pub local_zone: Option<String>,
    /// A trap Claude Code draws exactly like its own limit message: the screen cannot tell,
    /// and the scenario's transcript (`<scenario>.transcript.jsonl`) must end in an ordinary
    /// reply, which makes the engine veto the verdict.
    pub vetoed_by_transcript: bool,
}

impl QuotaFixture {
    /// The file name without its folder.
    pub fn file_name(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }
}

/// Why a fixture tree could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// A file or folder could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// What could not be read.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// An input has no `<stem>.expected.json` next to it.
    #[error("{} has no expectation: {} is missing", input.display(), expected.display())]
    NoExpectation {
        /// The input.
        input: PathBuf,
        /// The expectation file it needs.
        expected: PathBuf,
    },
    /// An expectation is not what this module describes.
    #[error("{}: {reason}", path.display())]
    BadExpectation {
        /// The expectation file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// Every fixture below `root` (recursively), sorted by path. Inputs are the `.txt`,
/// `.jsonl` and `.json` files that are not themselves expectations; an input without an
/// expectation is an error, so no fixture is silently left unchecked.
pub fn load_quota_fixtures(root: &Path) -> Result<Vec<QuotaFixture>, FixtureError> {
    let mut inputs = Vec::new();
    collect(root, &mut inputs)?;
    inputs.sort();
    inputs
        .into_iter()
        .map(|path| {
            let expected_path = expected_path(&path);
            if !expected_path.is_file() {
                return Err(FixtureError::NoExpectation {
                    input: path,
                    expected: expected_path,
                });
            }
            let expected = parse_expected(&expected_path, &read(&expected_path)?)?;
            let text = read(&path)?;
            let name = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            Ok(QuotaFixture {
                path,
                name,
                text,
                expected,
            })
        })
        .collect()
}

fn read(path: &Path) -> Result<String, FixtureError> {
    fs::read_to_string(path).map_err(|source| FixtureError::Read {
        path: path.to_owned(),
        source,
    })
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), FixtureError> {
    let error = |source| FixtureError::Read {
        path: dir.to_owned(),
        source,
    };
    for entry in fs::read_dir(dir).map_err(error)? {
        let path = entry.map_err(error)?.path();
        if path.is_dir() {
            collect(&path, out)?;
            continue;
        }
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let is_input = [".txt", ".jsonl", ".json"]
            .iter()
            .any(|e| name.ends_with(e));
        if is_input && !name.ends_with(".expected.json") {
            out.push(path);
        }
    }
    Ok(())
}

fn expected_path(input: &Path) -> PathBuf {
    let name = input.file_name().unwrap_or_default().to_string_lossy();
    let stem = name.rsplit_once('.').map_or(&*name, |(s, _)| s);
    input.with_file_name(format!("{stem}.expected.json"))
}

fn parse_expected(path: &Path, text: &str) -> Result<ExpectedDetection, FixtureError> {
    let bad = |reason: String| FixtureError::BadExpectation {
        path: path.to_owned(),
        reason,
    };
    let json: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let string = |key: &str| -> Result<Option<String>, FixtureError> {
        match json.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(bad(format!("{key} is {other}, not a string"))),
        }
    };
    let instant = |key: &str| -> Result<Option<UnixMillis>, FixtureError> {
        string(key)?
            .map(|s| {
                s.parse::<jiff::Timestamp>()
                    .map(|t| UnixMillis(t.as_millisecond()))
                    .map_err(|e| bad(format!("{key} {s:?} is not an RFC 3339 instant: {e}")))
            })
            .transpose()
    };
    let used_percent = match json.get("used_percent") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_f64()
                .ok_or_else(|| bad(format!("used_percent is {v}, not a number")))?,
        ),
    };
    let evidence = match json.get("evidence") {
        None => None,
        Some(_) => Some(string("evidence")?),
    };
    let vetoed_by_transcript = match string("vetoed_by")?.as_deref() {
        None => false,
        Some("transcript") => true,
        Some(other) => {
            return Err(bad(format!(
                "vetoed_by {other:?}: only \"transcript\" is known"
            )));
        }
    };
    Ok(ExpectedDetection {
        verdict: string("verdict")?.ok_or_else(|| bad("no verdict".into()))?,
        window: string("window")?,
        resets_at: instant("resets_at")?,
        used_percent,
        evidence,
        observed_at: instant("observed_at")?.ok_or_else(|| bad("no observed_at".into()))?,
        local_zone: string("local_zone")?,
        vetoed_by_transcript,
    })
}
