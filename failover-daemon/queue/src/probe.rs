//! Answering [`Deliver::probe`](crate::Deliver::probe) from a Claude Code transcript.
//!
//! Claude Code appends every submitted prompt to its transcript
//! (`$CLAUDE_CONFIG_DIR/projects/<cwd with / as ->/<session id>.jsonl`) as a line
//! `{"type":"user","message":{"role":"user","content":…},"timestamp":"…"}`, where `content` is a
//! string or a list of `{"type":"text","text":…}` blocks. A prompt found there, written at or
//! after the delivery was recorded, was received. The end of its turn is a later
//! `{"type":"system","subtype":"turn_duration"}` line (2.1.3xx; written once the turn is
//! over, stop hooks included); an assistant line whose `message.stop_reason` is `end_turn`
//! ends the model's reply (all older versions write). A turn that ended on an API error (an
//! assistant line with `"isApiErrorMessage": true`, e.g. a quota rejection the failover will
//! replay) has not finished its task. Lines of subagents (`"isSidechain": true`) are not the
//! session's.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use crate::Probe;

/// Whether `transcript` shows `prompt` submitted at or after `since`, and its turn ended.
///
/// `prompt` is compared as it was typed: through [`failover_tmux::sanitize_input`] (control
/// characters dropped), with white space compared loosely (runs collapse to one space, as a
/// terminal may reflow a typed prompt).
///
/// - [`Probe::Finished`]: a user line carries it and its turn's end follows (a
///   `turn_duration` line of the main conversation, not a subagent's, with no background
///   agent still running);
/// - [`Probe::Replied`]: a user line carries it and an assistant line ending the model's
///   reply (`stop_reason: "end_turn"`) follows, but not (yet) the turn's end;
/// - [`Probe::Received`]: a user line carries it, nothing ending it (yet);
/// - [`Probe::NotReceived`]: the transcript was read to the end, every prompt submitted since
///   `since` is accounted for, and none is this one;
/// - [`Probe::Unknown`] whenever that cannot be said for sure: no transcript, a read error, a
///   broken line before the last one, or a prompt submitted since `since` that is not this one
///   (it may be this one, changed on the way).
///
/// One case a transcript cannot tell: text typed but never submitted is not in it (the
/// backend finds it in the input box instead).
///
/// [`TranscriptTail`] gives the same answers reading only what was appended since it last
/// looked.
pub fn transcript_probe(transcript: &Path, prompt: &str, since: Timestamp) -> Probe {
    TranscriptTail::new(transcript.to_path_buf(), prompt, since).probe()
}

/// [`transcript_probe`] for one delivery, asked again and again as the transcript grows:
/// each call reads only the bytes appended since the previous one (a transcript holds the
/// whole conversation, megabytes after a long session, and the queue asks every 100 ms
/// while it waits). A transcript replaced (another inode) or cut shorter is read afresh.
#[derive(Clone, Debug)]
pub struct TranscriptTail {
    path: PathBuf,
    prompt: String,
    since: Timestamp,
    /// What the complete lines read so far say.
    scan: Scan,
    /// Where the first line not read completely begins.
    offset: u64,
    /// The file read (device, inode).
    file: Option<(u64, u64)>,
}

impl TranscriptTail {
    /// Nothing read yet.
    pub fn new(path: PathBuf, prompt: &str, since: Timestamp) -> Self {
        Self {
            scan: Scan::new(prompt, since),
            prompt: prompt.to_owned(),
            path,
            since,
            offset: 0,
            file: None,
        }
    }

    /// Whether this tail follows `path` for `prompt` since `since`.
    pub fn follows(&self, path: &Path, prompt: &str, since: Timestamp) -> bool {
        self.path == path && self.prompt == prompt && self.since == since
    }

    /// Reads what was appended since the last call; the answer for the whole transcript.
    pub fn probe(&mut self) -> Probe {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return Probe::Unknown;
        };
        let Ok(meta) = file.metadata() else {
            return Probe::Unknown;
        };
        let id = (meta.dev(), meta.ino());
        if self.file != Some(id) || meta.len() < self.offset {
            self.scan = Scan::new(&self.prompt, self.since);
            self.offset = 0;
            self.file = Some(id);
        }
        let mut appended = Vec::new();
        if file.seek(SeekFrom::Start(self.offset)).is_err()
            || file.read_to_end(&mut appended).is_err()
        {
            return Probe::Unknown;
        }
        let mut consumed = 0;
        while let Some(n) = appended[consumed..].iter().position(|&b| b == b'\n') {
            self.scan.feed(&appended[consumed..consumed + n]);
            consumed += n + 1;
        }
        self.offset += consumed as u64;
        let rest = &appended[consumed..];
        if rest.iter().all(u8::is_ascii_whitespace) {
            return self.scan.answer();
        }
        // The last line, perhaps still being written: counted now, read again next time.
        let mut with_rest = self.scan.clone();
        with_rest.feed(rest);
        with_rest.answer()
    }
}

/// What the transcript's lines say about one prompt, line after line.
#[derive(Clone, Debug)]
struct Scan {
    /// The prompt, white space collapsed; empty: nothing can be said.
    wanted: String,
    since: Timestamp,
    found: bool,
    /// Its turn's end was seen (`turn_duration`, nothing left running).
    ended: bool,
    /// An assistant line ending the model's reply was seen.
    replied: bool,
    other_prompt: bool,
    /// The last line read did not parse.
    broken_line: bool,
    /// Nothing can be said for sure any more (a broken line before the last, bad UTF-8).
    unsure: bool,
    last_was_api_error: bool,
}

impl Scan {
    fn new(prompt: &str, since: Timestamp) -> Self {
        let wanted = squash(&failover_tmux::sanitize_input(prompt));
        Self {
            unsure: wanted.is_empty(),
            wanted,
            since,
            found: false,
            ended: false,
            replied: false,
            other_prompt: false,
            broken_line: false,
            last_was_api_error: false,
        }
    }

    fn feed(&mut self, line: &[u8]) {
        if self.unsure {
            return;
        }
        if self.broken_line {
            // A broken line that is not the last one: not a line being written.
            self.unsure = true;
            return;
        }
        let Ok(line) = std::str::from_utf8(line) else {
            self.unsure = true;
            return;
        };
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            self.broken_line = !line.trim().is_empty();
            return;
        };
        if value["isSidechain"] == true {
            // A subagent's conversation: its prompts and turn ends are not the session's.
            return;
        }
        match value["type"].as_str() {
            Some("user") if value["isMeta"] != true => {
                let at = value["timestamp"]
                    .as_str()
                    .and_then(|t| t.parse::<Timestamp>().ok());
                if at.is_some_and(|t| t < self.since) {
                    return;
                }
                let texts = prompt_texts(&value["message"]["content"]);
                if texts.is_empty() {
                    return; // a tool result, not a prompt
                }
                if texts.iter().any(|t| squash(t).contains(&self.wanted)) {
                    if !self.found {
                        self.found = true;
                        self.ended = false;
                        self.replied = false;
                        self.last_was_api_error = false;
                    }
                } else if !self.found && at.is_some() {
                    self.other_prompt = true;
                }
            }
            Some("assistant") if self.found => {
                self.last_was_api_error = value["isApiErrorMessage"] == true;
                if !self.last_was_api_error && value["message"]["stop_reason"] == "end_turn" {
                    self.replied = true;
                }
            }
            Some("system")
                if self.found
                    && !self.last_was_api_error
                    && value["subtype"] == "turn_duration" =>
            {
                // Written when the turn is over; with background agents still running
                // (2.1.3xx counts them in the line) the work goes on.
                let pending = |key: &str| value[key].as_u64().unwrap_or(0);
                self.replied = true;
                if pending("pendingBackgroundAgentCount") == 0
                    && pending("pendingWorkflowCount") == 0
                {
                    self.ended = true;
                }
            }
            _ => {}
        }
    }

    fn answer(&self) -> Probe {
        if self.unsure {
            return Probe::Unknown;
        }
        match (self.found, self.ended, self.replied) {
            (true, true, _) => Probe::Finished,
            (true, false, true) => Probe::Replied,
            (true, false, false) => Probe::Received,
            (false, ..) if self.other_prompt => Probe::Unknown,
            (false, ..) => Probe::NotReceived,
        }
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

    fn write(lines: &str) -> (tempfile::TempDir, PathBuf) {
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
            Probe::Replied
        );
    }

    #[test]
    fn a_turn_is_finished_at_its_end_but_not_on_an_api_error() {
        let prompt = r#"{"type":"user","message":{"role":"user","content":"Do it"},"timestamp":"2026-11-26T09:00:03Z"}"#;
        let working = r#"{"type":"assistant","message":{"role":"assistant","stop_reason":"tool_use","content":[]},"timestamp":"2026-11-26T09:00:04Z"}"#;
        let ended =
            r#"{"type":"system","subtype":"turn_duration","timestamp":"2026-11-26T09:00:05Z"}"#;
        let end_turn = r#"{"type":"assistant","message":{"role":"assistant","stop_reason":"end_turn","content":[]},"timestamp":"2026-11-26T09:00:05Z"}"#;
        // A subagent's turn end, and a turn whose background agents still run.
        let sidechain_end = r#"{"type":"system","subtype":"turn_duration","isSidechain":true,"timestamp":"2026-11-26T09:00:05Z"}"#;
        let sidechain_prompt = r#"{"type":"user","isSidechain":true,"message":{"role":"user","content":"Other"},"timestamp":"2026-11-26T09:00:04Z"}"#;
        let waiting_agents = r#"{"type":"system","subtype":"turn_duration","pendingBackgroundAgentCount":1,"timestamp":"2026-11-26T09:00:05Z"}"#;
        let api_error = r#"{"type":"assistant","isApiErrorMessage":true,"message":{"role":"assistant","stop_reason":"stop_sequence","content":[{"type":"text","text":"You've hit your limit"}]},"timestamp":"2026-11-26T09:00:05Z"}"#;
        let since = at("2026-11-26T09:00:00Z");
        for (lines, want) in [
            (vec![prompt, working], Probe::Received),
            (vec![prompt, working, ended], Probe::Finished),
            (vec![prompt, end_turn], Probe::Replied),
            (vec![prompt, end_turn, ended], Probe::Finished),
            (vec![prompt, end_turn, sidechain_end], Probe::Replied),
            (vec![prompt, working, waiting_agents], Probe::Replied),
            (vec![prompt, sidechain_prompt], Probe::Received),
            (vec![prompt, api_error, ended], Probe::Received),
            (vec![ended, prompt], Probe::Received),
        ] {
            let (_dir, path) = write(&(lines.join("\n") + "\n"));
            assert_eq!(transcript_probe(&path, "Do it", since), want, "{lines:?}");
        }
    }

    /// Asked again as the transcript grows, the tail reads only what was appended and
    /// answers as a full read would, a half-written last line included.
    #[test]
    fn a_tail_reads_what_was_appended() {
        use std::io::Write;
        let since = at("2026-11-26T09:00:00Z");
        let (dir, path) = write(
            "{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":\"old\"},\"timestamp\":\"2026-11-26T08:00:00Z\"}\n",
        );
        let mut tail = TranscriptTail::new(path.clone(), "Do it", since);
        assert!(tail.follows(&path, "Do it", since));
        assert_eq!(tail.probe(), Probe::NotReceived);
        let append = |text: &str| {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            f.write_all(text.as_bytes()).unwrap();
        };
        let prompt = r#"{"type":"user","message":{"role":"user","content":"Do it"},"timestamp":"2026-11-26T09:00:03Z"}"#;
        let ended =
            r#"{"type":"system","subtype":"turn_duration","timestamp":"2026-11-26T09:00:05Z"}"#;
        // Half a line: counted, not consumed.
        append(&prompt[..40]);
        assert_eq!(tail.probe(), Probe::NotReceived);
        append(&format!("{}\n", &prompt[40..]));
        assert_eq!(tail.probe(), Probe::Received);
        let read_before = tail.offset;
        append(ended);
        assert_eq!(
            tail.probe(),
            Probe::Finished,
            "a complete last line with no newline yet"
        );
        append("\n");
        assert_eq!(tail.probe(), Probe::Finished);
        assert!(tail.offset > read_before);
        assert_eq!(transcript_probe(&path, "Do it", since), Probe::Finished);
        // Replaced by another file: read afresh.
        let other = dir.path().join("other.jsonl");
        std::fs::write(&other, format!("{prompt}\n")).unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert_eq!(tail.probe(), Probe::Received);
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
