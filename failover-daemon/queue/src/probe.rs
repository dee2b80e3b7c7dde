//! Answering [`Deliver::probe`](crate::Deliver::probe) from a Claude Code transcript.
//!
//! Claude Code appends every submitted prompt to its transcript
//! (`$CLAUDE_CONFIG_DIR/projects/<cwd with / as ->/<session id>.jsonl`) as a line
//! `{"type":"user","message":{"role":"user","content":…},"timestamp":"…"}`, where `content` is a
//! string or a list of `{"type":"text","text":…}` blocks. A prompt found there, written at or
//! after the delivery was recorded, was received. The end of its turn is a later
//! `{"type":"system","subtype":"turn_duration"}` line (2.1.3xx), or an assistant line whose
//! `message.stop_reason` is `end_turn`; a turn that ended on an API error (an assistant line
//! with `"isApiErrorMessage": true`, e.g. a quota rejection the failover will replay) has not
//! finished its task.

use std::io::{BufRead, BufReader};
use std::path::Path;

use jiff::Timestamp;

use crate::Probe;

/// Whether `transcript` shows `prompt` submitted at or after `since`, and its turn ended.
///
/// `prompt` is compared as it was typed: through [`failover_tmux::sanitize_input`] (control
/// characters dropped), with white space compared loosely (runs collapse to one space, as a
/// terminal may reflow a typed prompt).
///
/// - [`Probe::Finished`]: a user line carries it and a turn end follows;
/// - [`Probe::Received`]: a user line carries it, no turn end (yet);
/// - [`Probe::NotReceived`]: the transcript was read to the end, every prompt submitted since
///   `since` is accounted for, and none is this one;
/// - [`Probe::Unknown`] whenever that cannot be said for sure: no transcript, a read error, a
///   broken line before the last one, or a prompt submitted since `since` that is not this one
///   (it may be this one, changed on the way).
///
/// One case a transcript cannot tell: text typed but never submitted is not in it, so a
/// re-send lands after it in the input box.
pub fn transcript_probe(transcript: &Path, prompt: &str, since: Timestamp) -> Probe {
    let Ok(file) = std::fs::File::open(transcript) else {
        return Probe::Unknown;
    };
    let wanted = squash(&failover_tmux::sanitize_input(prompt));
    if wanted.is_empty() {
        return Probe::Unknown;
    }
    let mut found = false;
    let mut ended = false;
    let mut other_prompt = false;
    let mut broken_line = false;
    let mut last_was_api_error = false;
    for line in BufReader::new(file).lines() {
        let Ok(line) = line else {
            return Probe::Unknown;
        };
        if broken_line {
            // A broken line that is not the last one: not a line being written.
            return Probe::Unknown;
        }
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) else {
            broken_line = !line.trim().is_empty();
            continue;
        };
        match value["type"].as_str() {
            Some("user") if value["isMeta"] != true => {
                let at = value["timestamp"]
                    .as_str()
                    .and_then(|t| t.parse::<Timestamp>().ok());
                if at.is_some_and(|t| t < since) {
                    continue;
                }
                let texts = prompt_texts(&value["message"]["content"]);
                if texts.is_empty() {
                    continue; // a tool result, not a prompt
                }
                if texts.iter().any(|t| squash(t).contains(&wanted)) {
                    if !found {
                        found = true;
                        ended = false;
                        last_was_api_error = false;
                    }
                } else if !found && at.is_some() {
                    other_prompt = true;
                }
            }
            Some("assistant") if found => {
                last_was_api_error = value["isApiErrorMessage"] == true;
                if !last_was_api_error && value["message"]["stop_reason"] == "end_turn" {
                    ended = true;
                }
            }
            Some("system")
                if found && !last_was_api_error && value["subtype"] == "turn_duration" =>
            {
                ended = true;
            }
            _ => {}
        }
    }
    match (found, ended) {
        (true, true) => Probe::Finished,
        (true, false) => Probe::Received,
        (false, _) if other_prompt => Probe::Unknown,
        (false, _) => Probe::NotReceived,
    }
}

/// The text blocks of a user message's content (none for a tool result).
fn prompt_texts(content: &serde_json::Value) -> Vec<&str> {
    match content {
        serde_json::Value::String(s) => vec![s.as_str()],
        serde_json::Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str())
            .collect(),
        _ => Vec::new(),
    }
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

    fn at(t: &str) -> Timestamp {
        t.parse().unwrap()
    }

    fn write(lines: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(&path, lines).unwrap();
        (dir, path)
    }

    #[test]
    fn finds_submitted_prompts_only() {
        let (dir, path) = write(LINES);
        let since = at("2026-11-26T09:00:00Z");
        assert_eq!(
            transcript_probe(&path, "Please: fix the tests", since),
            Probe::Received
        );
        // Said by the assistant or inside a tool result: not a prompt. Another prompt was
        // submitted since, which might be this one changed on the way: unknown.
        assert_eq!(
            transcript_probe(&path, "Fix the login bug", since),
            Probe::Unknown
        );
        // Every prompt since accounted for, none of them this one: not received.
        assert_eq!(
            transcript_probe(&path, "Fix the login bug", at("2026-11-26T09:00:04Z")),
            Probe::NotReceived
        );
        assert_eq!(
            transcript_probe(&path, "old prompt", at("2026-11-26T07:00:00Z")),
            Probe::Received
        );
        assert_eq!(
            transcript_probe(&dir.path().join("missing.jsonl"), "x", since),
            Probe::Unknown
        );
    }

    /// The session got the prompt as typed: control characters dropped (an ESC would end a
    /// bracketed paste). Compared raw, it reads as never received, and would be sent again.
    #[test]
    fn compares_the_prompt_as_it_was_typed() {
        let (_dir, path) = write(
            r#"{"type":"user","message":{"role":"user","content":"Colour [31mred[0m please"},"timestamp":"2026-11-26T09:00:03Z"}
{"type":"assistant","message":{"role":"assistant","stop_reason":"end_turn","content":[{"type":"text","text":"ok"}]},"timestamp":"2026-11-26T09:00:04Z"}
"#,
        );
        assert_eq!(
            transcript_probe(
                &path,
                "Colour \u{1b}[31mred\u{1b}[0m please\n",
                at("2026-11-26T09:00:00Z")
            ),
            Probe::Finished
        );
    }

    #[test]
    fn a_turn_is_finished_at_its_end_but_not_on_an_api_error() {
        let prompt = r#"{"type":"user","message":{"role":"user","content":"Do it"},"timestamp":"2026-11-26T09:00:03Z"}"#;
        let working = r#"{"type":"assistant","message":{"role":"assistant","stop_reason":"tool_use","content":[]},"timestamp":"2026-11-26T09:00:04Z"}"#;
        let ended =
            r#"{"type":"system","subtype":"turn_duration","timestamp":"2026-11-26T09:00:05Z"}"#;
        let end_turn = r#"{"type":"assistant","message":{"role":"assistant","stop_reason":"end_turn","content":[]},"timestamp":"2026-11-26T09:00:05Z"}"#;
        let api_error = r#"{"type":"assistant","isApiErrorMessage":true,"message":{"role":"assistant","stop_reason":"stop_sequence","content":[{"type":"text","text":"You've hit your limit"}]},"timestamp":"2026-11-26T09:00:05Z"}"#;
        let since = at("2026-11-26T09:00:00Z");
        for (lines, want) in [
            (vec![prompt, working], Probe::Received),
            (vec![prompt, working, ended], Probe::Finished),
            (vec![prompt, end_turn], Probe::Finished),
            (vec![prompt, api_error, ended], Probe::Received),
            (vec![ended, prompt], Probe::Received),
        ] {
            let (_dir, path) = write(&(lines.join("\n") + "\n"));
            assert_eq!(transcript_probe(&path, "Do it", since), want, "{lines:?}");
        }
    }

    #[test]
    fn a_broken_line_before_the_last_is_unknown() {
        let (_dir, path) =
            write("{\"type\":\"user\",\"mess\n{\"type\":\"summary\",\"summary\":\"x\"}\n");
        assert_eq!(
            transcript_probe(&path, "Do it", at("2026-11-26T09:00:00Z")),
            Probe::Unknown
        );
    }
}
