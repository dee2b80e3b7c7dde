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

    /// A tail that reads what `path` holds from byte `offset` on (what was appended after an
    /// earlier instant, when the file held `offset` bytes).
    pub fn at_offset(path: &Path, offset: u64) -> io::Result<Self> {
        let m = std::fs::metadata(path)?;
        Ok(Self {
            offset,
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

/// What a transcript tells about where its conversation stopped: what a checkpoint keeps,
/// and what a failover replays.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TranscriptSummary {
    /// The last prompt typed: the latest `last-prompt` record or typed user message,
    /// whichever comes last. The CLI's own user-role lines (slash commands and their
    /// output, reminders, the marker an interrupted turn leaves) are not prompts.
    pub last_prompt: Option<String>,
    /// The last tool call: `Name: {input…}` from the latest `tool_use` in assistant
    /// content, cut to 200 characters.
    pub last_tool_call: Option<String>,
    /// Whether the latest typed prompt has nothing from the model after it: no assistant
    /// line other than the CLI's own API-error notices (`isApiErrorMessage`, e.g. "You've
    /// hit your 5-hour limit"). Such a prompt was refused or is still in flight, so a
    /// failover must replay it even when the screen looked idle. A prompt followed by any
    /// real assistant content (text or a tool call) counts as answered.
    pub unanswered: bool,
    /// Whether the latest assistant line is one of the CLI's API-error notices (a turn
    /// refused by a usage limit, before or after tool calls).
    pub ended_in_error: bool,
    /// Whether the person cut the latest turn short (Escape leaves the CLI's
    /// `[Request interrupted by user]` marker after it).
    pub interrupted_by_user: bool,
}

impl TranscriptSummary {
    /// Whether the latest turn was cut short by something other than the person (refused,
    /// or its request in flight when its program stopped): the turn Claude Code, resumed
    /// with `CLAUDE_CODE_RESUME_INTERRUPTED_TURN=1`, takes up by itself.
    pub fn turn_cut_short(&self) -> bool {
        (self.unanswered || self.ended_in_error) && !self.interrupted_by_user
    }
}

/// Line types Claude Code writes into a transcript before (or without) any turn: the
/// session's mode, permission mode and owning account (2.1.328 writes these when a
/// session that never had a turn exits).
pub const METADATA_LINE_TYPES: [&str; 3] = ["mode", "permission-mode", "session-owner"];

/// Whether the transcript at `path` holds no conversation: every line is one of
/// [`METADATA_LINE_TYPES`] (or blank). Such a file cannot be resumed (the CLI answers "No
/// conversation found" and exits 1) and blocks `--session-id` with its id ("already in
/// use"). Any line of another type, or one that does not parse, counts as conversation.
pub fn holds_no_conversation(path: &Path) -> io::Result<bool> {
    let text = std::fs::read_to_string(path)?;
    Ok(text.lines().filter(|l| !l.trim().is_empty()).all(|l| {
        serde_json::from_str::<Value>(l)
            .ok()
            .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned))
            .is_some_and(|t| METADATA_LINE_TYPES.contains(&t.as_str()))
    }))
}

/// Summarizes the transcript at `path`, reading it once line by line (a huge transcript
/// is never held in memory). Lines that are not JSON (a half-written last line) or not
/// UTF-8 are skipped or read lossily.
pub fn summarize(path: &Path) -> io::Result<TranscriptSummary> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut s = TranscriptSummary::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        s.feed(&String::from_utf8_lossy(&line));
    }
    Ok(s)
}

/// Summarizes the first `len` bytes of the transcript at `path` (what it held at an earlier
/// instant, the file being append-only), as [`summarize`] does.
pub fn summarize_prefix(path: &Path, len: u64) -> io::Result<TranscriptSummary> {
    let mut reader = BufReader::new(File::open(path)?.take(len));
    let mut s = TranscriptSummary::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        s.feed(&String::from_utf8_lossy(&line));
    }
    Ok(s)
}

/// What Claude Code (2.1.328 to 2.1.332 at least), resumed with
/// `CLAUDE_CODE_RESUME_INTERRUPTED_TURN=1` in a conversation whose last turn was cut short
/// (refused by a usage limit, before or after tool calls), sends as a new user message
/// after the history, refused prompt included: it takes the turn up by itself.
pub const CONTINUATION_PROMPT: &str = "Continue from where you left off.";

/// Whether a user message's content is the marker Escape leaves in a turn.
fn is_user_interrupt(content: &Value) -> bool {
    let starts = |t: &str| t.trim_start().starts_with("[Request interrupted by user");
    match content {
        Value::String(s) => starts(s),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .any(starts),
        _ => false,
    }
}

/// Whether a user message's content is the CLI's [`CONTINUATION_PROMPT`].
fn is_continuation(content: &Value) -> bool {
    let text = match content {
        Value::String(s) => s.as_str(),
        Value::Array(parts) => match parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .find(|t| !t.trim_start().starts_with("<system-reminder>"))
        {
            Some(t) => t,
            None => return false,
        },
        _ => return false,
    };
    text.trim() == CONTINUATION_PROMPT
}

/// Whether `lines`, written by a program resumed in a conversation whose interrupted turn's
/// prompt was `prompt`, show that it took that turn up by itself: a user line that is the
/// [`CONTINUATION_PROMPT`] (a turn refused before or after tool calls) or `prompt` sent
/// again (a turn whose request was still in flight when its program stopped).
pub fn took_up_turn<'a>(lines: impl IntoIterator<Item = &'a str>, prompt: &str) -> bool {
    lines.into_iter().any(|line| {
        let Ok(v) = serde_json::from_str::<Value>(line.trim()) else {
            return false;
        };
        if v.get("type").and_then(Value::as_str) != Some("user") {
            return false;
        }
        let Some(content) = v.pointer("/message/content") else {
            return false;
        };
        // The continuation is a meta line; a prompt sent again is not.
        let meta = v.get("isMeta").and_then(Value::as_bool) == Some(true);
        is_continuation(content)
            || (!meta && typed_content(content).is_some_and(|t| t.trim() == prompt.trim()))
    })
}

/// Summarizes lines already in memory.
pub fn summarize_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> TranscriptSummary {
    let mut s = TranscriptSummary::default();
    for l in lines {
        s.feed(l);
    }
    s
}

impl TranscriptSummary {
    /// Takes in one transcript line (later lines override earlier ones).
    fn feed(&mut self, line: &str) {
        let Ok(v) = serde_json::from_str::<Value>(line.trim()) else {
            return;
        };
        match v.get("type").and_then(Value::as_str) {
            Some("last-prompt") => {
                if let Some(p) = v.get("lastPrompt").and_then(Value::as_str).and_then(typed) {
                    self.last_prompt = Some(p);
                }
            }
            Some("user") => {
                let content = v.pointer("/message/content");
                let meta = v.get("isMeta").and_then(Value::as_bool) == Some(true);
                // The continuation is written as a meta line (`isMeta: true`).
                if let Some(p) = content.filter(|_| !meta).and_then(typed_content) {
                    self.last_prompt = Some(p);
                    self.unanswered = true;
                    self.ended_in_error = false;
                    self.interrupted_by_user = false;
                } else if content.is_some_and(is_continuation) {
                    // The CLI took the interrupted turn up again: its prompt is in flight.
                    self.unanswered = true;
                    self.ended_in_error = false;
                    self.interrupted_by_user = false;
                } else if !meta && content.is_some_and(is_user_interrupt) {
                    self.interrupted_by_user = true;
                }
            }
            Some("assistant") => {
                let error = v.get("isApiErrorMessage").and_then(Value::as_bool) == Some(true);
                if !error {
                    self.unanswered = false;
                }
                self.ended_in_error = error;
                let items = v.pointer("/message/content").and_then(Value::as_array);
                for item in items.into_iter().flatten() {
                    if item.get("type").and_then(Value::as_str) == Some("tool_use") {
                        self.last_tool_call = Some(tool_call_summary(item));
                    }
                }
            }
            _ => {}
        }
    }
}

/// `Name: {input}`, cut to [`TOOL_SUMMARY_CHARS`].
fn tool_call_summary(item: &Value) -> String {
    let name = item.get("name").and_then(Value::as_str).unwrap_or("?");
    let input = item.get("input").map(Value::to_string).unwrap_or_default();
    let mut s = format!("{name}: {input}");
    if let Some((cut, _)) = s.char_indices().nth(TOOL_SUMMARY_CHARS) {
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// The typed text of a user message's content: a string, or its `text` parts joined (tool
/// results are user-role lines too; only typed text counts).
fn typed_content(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => typed(s),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            if texts.is_empty() {
                None
            } else {
                typed(&texts.join("\n"))
            }
        }
        _ => None,
    }
}

/// `text` when a person typed it: not blank, not one of the CLI's own lines.
fn typed(text: &str) -> Option<String> {
    (!text.trim().is_empty() && !is_cli_generated(text)).then(|| text.to_owned())
}

/// User-role lines the CLI writes itself rather than the person typing: slash commands and
/// their output (`/exit` leaves `<command-name>/exit</command-name>` and
/// `<local-command-stdout>See ya!</local-command-stdout>`), caveats, reminders, and the
/// marker an interrupted turn leaves. Replaying one of those as "the interrupted prompt"
/// would send the model the CLI's own bookkeeping.
fn is_cli_generated(text: &str) -> bool {
    const TAGS: [&str; 6] = [
        "<command-name>",
        "<command-message>",
        "<command-args>",
        "<local-command-",
        "<system-reminder>",
        "<bash-",
    ];
    let t = text.trim_start();
    // Escape during a turn leaves "[Request interrupted by user]" (or "... for tool use]").
    TAGS.iter().any(|tag| t.starts_with(tag))
        || t.starts_with("[Request interrupted by user")
        || t.trim_end() == CONTINUATION_PROMPT
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMPT: &str = "migrate the settings loader";

    fn user(content: &str) -> String {
        serde_json::json!({"type": "user", "message": {"role": "user", "content": content}})
            .to_string()
    }

    /// As Claude Code 2.1.328 writes it: a meta line.
    fn continuation() -> String {
        serde_json::json!({"type": "user", "isMeta": true, "message": {"role": "user",
            "content": [{"type": "text", "text": CONTINUATION_PROMPT}]}})
        .to_string()
    }

    fn refusal() -> String {
        serde_json::json!({"type": "assistant", "isApiErrorMessage": true,
            "message": {"content": [{"type": "text", "text": "You've hit your 5-hour limit"}]}})
        .to_string()
    }

    #[test]
    fn a_continuation_is_not_a_prompt_and_leaves_the_turn_unanswered() {
        let lines = [user(PROMPT), refusal(), continuation()];
        let s = summarize_lines(lines.iter().map(String::as_str));
        assert_eq!(s.last_prompt.as_deref(), Some(PROMPT));
        assert!(s.unanswered);
        // Refused again after the continuation: still the same prompt, still unanswered.
        let lines = [user(PROMPT), refusal(), continuation(), refusal()];
        let s = summarize_lines(lines.iter().map(String::as_str));
        assert_eq!(s.last_prompt.as_deref(), Some(PROMPT));
        assert!(s.unanswered);
    }

    #[test]
    fn a_turn_is_cut_short_by_a_refusal_or_a_stop_not_by_the_person() {
        let cut =
            |lines: &[String]| summarize_lines(lines.iter().map(String::as_str)).turn_cut_short();
        assert!(cut(&[user(PROMPT)]), "in flight");
        assert!(cut(&[user(PROMPT), refusal()]), "refused");
        let tool = serde_json::json!({"type": "assistant", "message": {"content":
            [{"type": "tool_use", "name": "Bash", "input": {}}]}})
        .to_string();
        assert!(
            cut(&[user(PROMPT), tool.clone(), refusal()]),
            "refused after a tool call"
        );
        let reply = serde_json::json!({"type": "assistant", "message": {"content":
            [{"type": "text", "text": "done"}]}})
        .to_string();
        assert!(!cut(&[user(PROMPT), reply]), "answered");
        assert!(
            !cut(&[user(PROMPT), user("[Request interrupted by user]")]),
            "Escape"
        );
        assert!(!cut(&[]), "no turn");
    }

    #[test]
    fn a_turn_is_taken_up_by_a_continuation_or_the_same_prompt_only() {
        assert!(took_up_turn([continuation().as_str()], PROMPT));
        assert!(took_up_turn([user(PROMPT).as_str()], PROMPT));
        assert!(!took_up_turn([user("another prompt").as_str()], PROMPT));
        assert!(!took_up_turn([refusal().as_str()], PROMPT));
        assert!(!took_up_turn(std::iter::empty::<&str>(), PROMPT));
    }
}
