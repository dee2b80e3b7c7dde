//! Answering [`Deliver::probe`](crate::queue::Deliver::probe) from a Claude Code transcript.
//!
//! Claude Code appends every submitted prompt to its transcript
//! (`$CLAUDE_CONFIG_DIR/projects/<cwd with / as ->/<session id>.jsonl`) as a line
//! `{"type":"user","message":{"role":"user","content":…},"timestamp":"…"}`, where `content` is a
//! string or a list of `{"type":"text","text":…}` blocks. A prompt found there, written at or
//! after the delivery was recorded, was received.

use std::io::{BufRead, BufReader};
use std::path::Path;

use jiff::Timestamp;

use crate::queue::Probe;

/// Whether `transcript` shows `prompt` submitted at or after `since`.
///
/// [`Probe::Received`] when a user line carries it; [`Probe::NotReceived`] when the transcript
/// was read to the end without it; [`Probe::Unknown`] when it cannot be read. White space is
/// compared loosely (runs collapse to one space), as a terminal may reflow a typed prompt.
/// One case a transcript cannot tell: text typed but never submitted is not in it, so a
/// re-send lands after it in the input box.
pub fn transcript_probe(transcript: &Path, prompt: &str, since: Timestamp) -> Probe {
    let Ok(file) = std::fs::File::open(transcript) else {
        return Probe::Unknown;
    };
    let wanted = squash(prompt);
    if wanted.is_empty() {
        return Probe::Unknown;
    }
    for line in BufReader::new(file).lines() {
        let Ok(line) = line else {
            return Probe::Unknown;
        };
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue; // a line being written, or not JSON
        };
        if value["type"] != "user" {
            continue;
        }
        let at = value["timestamp"]
            .as_str()
            .and_then(|t| t.parse::<Timestamp>().ok());
        if at.is_some_and(|t| t < since) {
            continue;
        }
        let content = &value["message"]["content"];
        let texts: Vec<&str> = match content {
            serde_json::Value::String(s) => vec![s.as_str()],
            serde_json::Value::Array(blocks) => blocks
                .iter()
                .filter(|b| b["type"] == "text")
                .filter_map(|b| b["text"].as_str())
                .collect(),
            _ => Vec::new(),
        };
        if texts.iter().any(|t| squash(t).contains(&wanted)) {
            return Probe::Received;
        }
    }
    Probe::NotReceived
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINES: &str = r#"{"type":"summary","summary":"x"}
{"type":"user","message":{"role":"user","content":"old   prompt"},"timestamp":"2026-11-26T08:00:00Z"}
{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"Fix the login bug"}]},"timestamp":"2026-11-26T09:00:01Z"}
{"type":"user","message":{"role":"user","content":[{"type":"tool_result","content":"Fix the login bug"}]},"timestamp":"2026-11-26T09:00:02Z"}
{"type":"user","message":{"role":"user","content":[{"type":"text","text":"Please:\nfix the\n  tests"}]},"timestamp":"2026-11-26T09:00:03Z"}
{"type":"user","message":{"role":"us"#;

    #[test]
    fn finds_submitted_prompts_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(&path, LINES).unwrap();
        let since: Timestamp = "2026-11-26T09:00:00Z".parse().unwrap();
        assert_eq!(
            transcript_probe(&path, "Please: fix the tests", since),
            Probe::Received
        );
        // Said by the assistant or inside a tool result: not a prompt.
        assert_eq!(
            transcript_probe(&path, "Fix the login bug", since),
            Probe::NotReceived
        );
        // Sent before this delivery was recorded: an earlier run, not this one.
        assert_eq!(
            transcript_probe(&path, "old prompt", since),
            Probe::NotReceived
        );
        let earlier: Timestamp = "2026-11-26T07:00:00Z".parse().unwrap();
        assert_eq!(
            transcript_probe(&path, "old prompt", earlier),
            Probe::Received
        );
        assert_eq!(
            transcript_probe(&dir.path().join("missing.jsonl"), "x", since),
            Probe::Unknown
        );
    }
}
