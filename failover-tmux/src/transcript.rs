//! Reading Claude Code transcripts (`<session-id>.jsonl`, one JSON object a line, appended
//! while the session runs): following new lines as they are written ([`Tail`]) and pulling
//! out what a checkpoint needs ([`summarize`]).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::Value;

/// Longest tool-call summary kept, in characters.
const TOOL_SUMMARY_CHARS: usize = 200;
/// Most bytes one [`Tail::read_new`] call reads (the rest comes on the next call).
const MAX_READ: u64 = 8 * 1024 * 1024;

/// Follows one append-only file: returns each complete line once. Survives truncation
/// (reads again from the start when the file shrinks) and replacement (a new inode is read
/// from the start); a last line without its newline waits until the newline arrives.
#[derive(Debug, Default)]
pub struct Tail {
    offset: u64,
    partial: Vec<u8>,
    inode: Option<(u64, u64)>,
}

impl Tail {
    /// A tail that will read the file from its start.
    pub fn from_start() -> Self {
        Self::default()
    }

    /// A tail that skips what `path` holds now (history) and reads only what is appended.
    pub fn at_end(path: &Path) -> io::Result<Self> {
        let m = std::fs::metadata(path)?;
        Ok(Self {
            offset: m.len(),
            partial: Vec::new(),
            inode: Some((m.dev(), m.ino())),
        })
    }

    /// Reads what was appended since the last call and returns the complete new lines.
    pub fn read_new(&mut self, path: &Path) -> io::Result<Vec<String>> {
        let mut f = File::open(path)?;
        let m = f.metadata()?;
        let inode = (m.dev(), m.ino());
        if self.inode != Some(inode) || m.len() < self.offset {
            if self.inode.is_some() {
                tracing::debug!(path = %path.display(), "transcript replaced or truncated; reading from the start");
            }
            self.offset = 0;
            self.partial.clear();
            self.inode = Some(inode);
        }
        f.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        let n = f.take(MAX_READ).read_to_end(&mut buf)?;
        self.offset += n as u64;
        self.partial.extend_from_slice(&buf);
        let mut lines = Vec::new();
        if let Some(last_nl) = self.partial.iter().rposition(|b| *b == b'\n') {
            let rest = self.partial.split_off(last_nl + 1);
            for line in self.partial.split(|b| *b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if !line.is_empty() {
                    lines.push(String::from_utf8_lossy(line).into_owned());
                }
            }
            self.partial = rest;
        }
        Ok(lines)
    }
}

/// What a checkpoint keeps from a transcript.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TranscriptSummary {
    /// The last prompt the user sent: the latest `last-prompt` line, else the latest user
    /// line whose content is plain text.
    pub last_prompt: Option<String>,
    /// The last tool call: `Name {input…}` from the latest `tool_use` in assistant content,
    /// cut to 200 characters.
    pub last_tool_call: Option<String>,
}

/// Summarizes the transcript at `path`, reading it once line by line. Lines that are not
/// JSON (a half-written last line) are skipped.
pub fn summarize(path: &Path) -> io::Result<TranscriptSummary> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut s = Summarizer::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        s.feed(&String::from_utf8_lossy(&line));
    }
    Ok(s.finish())
}

/// Summarizes lines already in memory.
pub fn summarize_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> TranscriptSummary {
    let mut s = Summarizer::default();
    for l in lines {
        s.feed(l);
    }
    s.finish()
}

#[derive(Default)]
struct Summarizer {
    last_prompt_line: Option<String>,
    last_user_text: Option<String>,
    last_tool: Option<String>,
}

impl Summarizer {
    fn feed(&mut self, line: &str) {
        let Ok(v) = serde_json::from_str::<Value>(line.trim()) else {
            return;
        };
        match v.get("type").and_then(Value::as_str) {
            Some("last-prompt") => {
                if let Some(p) = v.get("lastPrompt").and_then(Value::as_str) {
                    self.last_prompt_line = Some(p.to_owned());
                }
            }
            Some("user") if v.get("isMeta").and_then(Value::as_bool) != Some(true) => {
                if let Some(t) = v.pointer("/message/content").and_then(Value::as_str) {
                    self.last_user_text = Some(t.to_owned());
                }
            }
            Some("assistant") => {
                let Some(items) = v.pointer("/message/content").and_then(Value::as_array) else {
                    return;
                };
                for item in items {
                    if item.get("type").and_then(Value::as_str) == Some("tool_use") {
                        let name = item.get("name").and_then(Value::as_str).unwrap_or("?");
                        let input = item.get("input").map(Value::to_string).unwrap_or_default();
                        let mut s = format!("{name} {input}");
                        if let Some((cut, _)) = s.char_indices().nth(TOOL_SUMMARY_CHARS) {
                            s.truncate(cut);
                            s.push('…');
                        }
                        self.last_tool = Some(s);
                    }
                }
            }
            _ => {}
        }
    }

    fn finish(self) -> TranscriptSummary {
        TranscriptSummary {
            last_prompt: self.last_prompt_line.or(self.last_user_text),
            last_tool_call: self.last_tool,
        }
    }
}
