//! `claude-failover detect`: classify one capture (pane text, transcript JSONL, statusline
//! JSON or response headers) and print the verdict.
//!
//! The clock and the local time zone are read here, in the binary, and handed to the pure
//! detectors as a [`DetectContext`].

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use failover_core::SignalSource;
use failover_core::quota::{Detectors, Report};
use failover_core::{DetectContext, UnixMillis, Verdict};
use serde::Serialize;

/// Exit codes, as shown by `claude-failover detect --help`.
pub(crate) const EXIT_CODES_HELP: &str = "\
Input:
  FILE (or `-`, or nothing) is read whole. With --source auto a statusline JSON document, transcript
  JSONL and `name: value` response headers are recognised by their shape; anything else is pane
  text (ANSI escapes allowed). A multi-line transcript is classified line by line: the last
  verdict that is not clear is reported, unless a later real assistant reply made it history.

Reset times without a zone (`resets 3pm`) are read in the local zone: $TZ, else the system's.

Exit status:
  0  the input was classified (whatever the verdict)
  1  the input could not be read, or is not UTF-8 text (binary)
  2  invalid arguments (unknown flag or source, --now not RFC 3339)";

/// Exit status when the input cannot be read or is not text.
const EXIT_INPUT: u8 = 1;

/// Which detector reads the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum SourceArg {
    /// Recognise the source from the input's shape.
    Auto,
    /// A terminal pane capture (`tmux capture-pane -p [-e]`).
    Pane,
    /// Transcript JSONL lines.
    Transcript,
    /// The JSON Claude Code hands to a statusline command.
    Statusline,
    /// Response headers as `name: value` lines.
    Headers,
}

impl SourceArg {
    /// The source named, `None` for `auto` (recognised from the input's shape).
    fn source(self) -> Option<SignalSource> {
        match self {
            Self::Auto => None,
            Self::Pane => Some(SignalSource::Pane),
            Self::Transcript => Some(SignalSource::Transcript),
            Self::Statusline => Some(SignalSource::Statusline),
            Self::Headers => Some(SignalSource::Headers),
        }
    }
}

/// Arguments of `claude-failover detect`.
#[derive(Debug, Args)]
pub(crate) struct DetectArgs {
    /// Which detector reads the input.
    #[arg(long, value_enum, default_value_t = SourceArg::Auto)]
    source: SourceArg,
    /// The observation time (RFC 3339, e.g. 2026-11-26T09:00:00Z); reset times such as
    /// `resets 9:38am` resolve to the first such instant after it. Default: now.
    #[arg(long, value_parser = parse_now)]
    now: Option<jiff::Timestamp>,
    /// Print one JSON object: verdict, window, resets_at, used_percent, evidence.
    #[arg(long)]
    json: bool,
    /// The capture to classify; `-` or nothing reads standard input.
    #[arg(value_name = "FILE|-")]
    input: Option<PathBuf>,
}

fn parse_now(s: &str) -> Result<jiff::Timestamp, String> {
    s.parse::<jiff::Timestamp>()
        .map_err(|e| format!("not an RFC 3339 instant ({e})"))
}

/// The `--json` output: exactly these fields.
#[derive(Debug, Serialize)]
struct DetectOutput {
    verdict: &'static str,
    window: Option<&'static str>,
    resets_at: Option<String>,
    used_percent: Option<f32>,
    evidence: Option<String>,
}

impl From<&Report> for DetectOutput {
    fn from(r: &Report) -> Self {
        let v = &r.detection.verdict;
        Self {
            verdict: v.name(),
            window: v.window().map(|w| w.as_str()),
            resets_at: v.resets_at().map(|t| t.to_string()),
            used_percent: r.used_percent,
            evidence: r.detection.evidence.clone(),
        }
    }
}

/// Why the input could not be classified.
#[derive(Debug, thiserror::Error)]
enum InputError {
    #[error("cannot read {name}: {source}")]
    Read {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("{name} is not text: {why}; detect reads pane text, JSON or headers")]
    NotText { name: String, why: &'static str },
}

fn read_input(path: Option<&PathBuf>) -> Result<String, InputError> {
    let (name, bytes) = match path {
        Some(p) if p.as_os_str() != "-" => {
            let name = p.display().to_string();
            match std::fs::read(p) {
                Ok(b) => (name, b),
                Err(source) => return Err(InputError::Read { name, source }),
            }
        }
        _ => {
            use std::io::IsTerminal;
            if io::stdin().is_terminal() {
                errln!(
                    "claude-failover detect: reading a capture from standard input; paste it, \
                     then press Ctrl-D (or pass a FILE)"
                );
            }
            let mut b = Vec::new();
            if let Err(source) = io::stdin().lock().read_to_end(&mut b) {
                return Err(InputError::Read {
                    name: "standard input".into(),
                    source,
                });
            }
            ("standard input".to_owned(), b)
        }
    };
    if bytes.contains(&0) {
        return Err(InputError::NotText {
            name,
            why: "it holds NUL bytes (binary data)",
        });
    }
    String::from_utf8(bytes).map_err(|_| InputError::NotText {
        name,
        why: "it is not valid UTF-8",
    })
}

/// The local time zone, as the daemon reads it: `$TZ`, else `/etc/localtime`; UTC when
/// neither names a zone.
fn local_zone() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::system()
}

/// The snake_case name a verdict detail has in JSON (`server_error`, `not_logged_in`, …).
fn snake(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "unknown".to_owned(),
    }
}

fn human(report: &Report) -> String {
    let d = &report.detection;
    let mut line = match &d.verdict {
        Verdict::Clear => "clear".to_owned(),
        Verdict::NearLimit {
            window,
            used_percent,
            ..
        } => format!("near limit: {window} window {used_percent}% used"),
        Verdict::QuotaExhausted { window, .. } => format!("quota exhausted: {window} window"),
        Verdict::ExtraUsage { window, .. } => {
            format!("extra usage in use (paid): {window} window used up")
        }
        Verdict::Transient { kind } => {
            format!("transient failure ({}), not a quota", snake(kind))
        }
        Verdict::AuthRequired { reason } => format!("login required ({})", snake(reason)),
        // Verdicts added to the core after this command was written.
        other => other.name().replace('_', " "),
    };
    if let Some(at) = d.verdict.resets_at() {
        line.push_str(&format!(", resets {at}"));
    }
    if let Some(evidence) = &d.evidence {
        line.push_str(&format!(" [{}]: {evidence}", report.source));
    }
    line
}

/// Runs `detect`; returns the process exit status.
pub(crate) fn run(args: &DetectArgs) -> ExitCode {
    let text = match read_input(args.input.as_ref()) {
        Ok(t) => t,
        Err(e) => {
            errln!("claude-failover detect: error: {e}");
            return ExitCode::from(EXIT_INPUT);
        }
    };
    let now = args.now.unwrap_or_else(jiff::Timestamp::now);
    let ctx = DetectContext {
        observed_at: UnixMillis(now.as_millisecond()),
        local_zone: local_zone(),
    };
    let report = Detectors::new().report(args.source.source(), &text, &ctx);
    let out = if args.json {
        match serde_json::to_string(&DetectOutput::from(&report)) {
            Ok(json) => json,
            Err(e) => {
                errln!("claude-failover detect: error: cannot encode the verdict: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        human(&report)
    };
    match writeln!(io::stdout().lock(), "{out}") {
        // A closed pipe (`| head`) is not a failure.
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            errln!("claude-failover detect: error: cannot write the verdict: {e}");
            ExitCode::FAILURE
        }
    }
}
