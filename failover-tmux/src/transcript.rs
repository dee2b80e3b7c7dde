//! Reading Claude Code transcripts (`<session-id>.jsonl`, one JSON object a line, appended
//! while the session runs): following new lines as they are written ([`Tail`]) and pulling
//! out what a checkpoint needs ([`summarize`] into a [`TranscriptSummary`]; [`TranscriptPrompts`]
//! is the core's [`PromptSource`] port over it).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use failover_core::{ClaudeSessionId, PromptSource, TranscriptSummary};
use serde_json::Value;

use crate::paths::find_transcript;

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

/// The [`PromptSource`] over Claude Code's transcripts in the shared projects tree (where
/// Claude Code puts them: [`crate::paths`]), read with [`summarize`] on a blocking thread.
#[derive(Clone, Debug)]
pub struct TranscriptPrompts {
    shared_projects: PathBuf,
}

impl TranscriptPrompts {
    /// Transcripts under `shared_projects`.
    pub fn new(shared_projects: PathBuf) -> Self {
        Self { shared_projects }
    }

    /// Where the transcript of `claude_session`, run in `dir`, lives (or will).
    pub fn transcript_path(&self, dir: &Path, claude_session: &ClaudeSessionId) -> PathBuf {
        find_transcript(&self.shared_projects, dir, claude_session).unwrap_or_else(|p| p)
    }
}

#[async_trait]
impl PromptSource for TranscriptPrompts {
    async fn recall(&self, dir: &Path, claude_session: &ClaudeSessionId) -> TranscriptSummary {
        let path = self.transcript_path(dir, claude_session);
        let read = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || summarize(&path)).await
        };
        match read {
            Ok(Ok(summary)) => summary,
            Ok(Err(e)) => {
                tracing::debug!(path = %path.display(), error = %e, "no transcript to recall from");
                TranscriptSummary::default()
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "reading the transcript failed");
                TranscriptSummary::default()
            }
        }
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
    summarize_reader(BufReader::new(File::open(path)?))
}

/// Summarizes the first `len` bytes of the transcript at `path` (what it held at an earlier
/// instant, the file being append-only), as [`summarize`] does.
pub fn summarize_prefix(path: &Path, len: u64) -> io::Result<TranscriptSummary> {
    summarize_reader(BufReader::new(File::open(path)?.take(len)))
}

/// Summarizes the last `max_bytes` of the transcript at `path` (from the first line that
/// starts in them), as [`summarize`] does: enough to tell how the latest turn ended without
/// reading a long conversation whole. What comes before is not seen: the last prompt is
/// `None` when the latest turn's prompt is further back.
pub fn summarize_tail(path: &Path, max_bytes: u64) -> io::Result<TranscriptSummary> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    if len <= max_bytes {
        return summarize_reader(BufReader::new(f));
    }
    f.seek(SeekFrom::Start(len - max_bytes))?;
    let mut reader = BufReader::new(f);
    // The first line is cut: skip it.
    let mut cut = Vec::new();
    reader.read_until(b'\n', &mut cut)?;
    summarize_reader(reader)
}

/// Feeds every line `reader` holds to one summary, a line at a time.
fn summarize_reader(mut reader: impl BufRead) -> io::Result<TranscriptSummary> {
    let mut s = TranscriptSummary::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        feed(&mut s, &String::from_utf8_lossy(&line));
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
    taken_up_turn(lines, prompt).is_some()
}

/// What `lines` (as [`took_up_turn`] reads them) show of the interrupted turn: `None` when
/// the program did not take it up; `Some(true)` when they also show the end of the turn
/// after it was taken up: the main conversation's `turn_duration` line (2.1.3xx writes it
/// once the turn is over), or an assistant line ending the model's reply
/// (`stop_reason: "end_turn"`, not an API error); `Some(false)` while neither came.
pub fn taken_up_turn<'a>(lines: impl IntoIterator<Item = &'a str>, prompt: &str) -> Option<bool> {
    let mut taken_up = false;
    for line in lines {
        let Ok(v) = serde_json::from_str::<Value>(line.trim()) else {
            continue;
        };
        if v.get("isSidechain").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        match v.get("type").and_then(Value::as_str) {
            Some("user") if !taken_up => {
                let Some(content) = v.pointer("/message/content") else {
                    continue;
                };
                // The continuation is a meta line; a prompt sent again is not.
                let meta = v.get("isMeta").and_then(Value::as_bool) == Some(true);
                taken_up = is_continuation(content)
                    || (!meta && typed_content(content).is_some_and(|t| t.trim() == prompt.trim()));
            }
            Some("system")
                if taken_up
                    && v.get("subtype").and_then(Value::as_str) == Some("turn_duration") =>
            {
                return Some(true);
            }
            Some("assistant") if taken_up => {
                let error = v.get("isApiErrorMessage").and_then(Value::as_bool) == Some(true);
                let stop = v.pointer("/message/stop_reason").and_then(Value::as_str);
                if !error && stop == Some("end_turn") {
                    return Some(true);
                }
            }
            _ => {}
        }
    }
    taken_up.then_some(false)
}

/// Follows a transcript until it holds a refused turn: its latest assistant line is one of
/// the CLI's API-error notices (`isApiErrorMessage`, e.g. "You've hit your 5-hour limit"),
/// written after the prompt's `user` line, and the person did not cancel the turn. Claude
/// Code writes its transcript in batches (every 100 ms or so) and draws a refusal before
/// the batch holding it is written: `stop` hangs up a program that waits to continue after
/// a usage limit once this says the refused prompt is on disk.
#[derive(Debug, Default)]
pub struct RefusalWatch {
    tail: Tail,
    summary: TranscriptSummary,
}

impl RefusalWatch {
    /// A watch that reads the transcript from its start.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads what was appended to `path` since the last call; whether the transcript now
    /// ends in a refused turn. A file that does not exist yet (a conversation's first
    /// turn: the file appears with its first batch) is an error the caller may retry.
    pub fn written(&mut self, path: &Path) -> io::Result<bool> {
        for line in self.tail.read_new(path)? {
            feed(&mut self.summary, &line);
        }
        let s = &self.summary;
        Ok(s.ended_in_error && s.last_prompt.is_some() && !s.interrupted_by_user)
    }
}

/// Summarizes lines already in memory.
pub fn summarize_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> TranscriptSummary {
    let mut s = TranscriptSummary::default();
    for l in lines {
        feed(&mut s, l);
    }
    s
}

/// Takes in one transcript line (later lines override earlier ones).
fn feed(s: &mut TranscriptSummary, line: &str) {
    let Ok(v) = serde_json::from_str::<Value>(line.trim()) else {
        return;
    };
    match v.get("type").and_then(Value::as_str) {
        Some("last-prompt") => {
            if let Some(p) = v.get("lastPrompt").and_then(Value::as_str).and_then(typed) {
                s.last_prompt = Some(p);
            }
        }
        Some("user") => {
            let content = v.pointer("/message/content");
            let meta = v.get("isMeta").and_then(Value::as_bool) == Some(true);
            // The continuation is written as a meta line (`isMeta: true`).
            if let Some(p) = content.filter(|_| !meta).and_then(typed_content) {
                s.last_prompt = Some(p);
                s.unanswered = true;
                s.ended_in_error = false;
                s.interrupted_by_user = false;
            } else if content.is_some_and(is_continuation) {
                // The CLI took the interrupted turn up again: its prompt is in flight.
                s.unanswered = true;
                s.ended_in_error = false;
                s.interrupted_by_user = false;
            } else if !meta && content.is_some_and(is_user_interrupt) {
                s.interrupted_by_user = true;
            }
        }
        Some("assistant") => {
            let error = v.get("isApiErrorMessage").and_then(Value::as_bool) == Some(true);
            if !error {
                s.unanswered = false;
            }
            s.ended_in_error = error;
            let items = v.pointer("/message/content").and_then(Value::as_array);
            for item in items.into_iter().flatten() {
                if item.get("type").and_then(Value::as_str) == Some("tool_use") {
                    s.last_tool_call = Some(tool_call_summary(item));
                }
            }
        }
        _ => {}
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
    fn a_refusal_is_written_once_the_error_notice_follows_the_prompt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let append = |lines: &[String]| {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap();
            for l in lines {
                writeln!(f, "{l}").unwrap();
            }
        };
        let mut watch = RefusalWatch::new();
        assert!(watch.written(&path).is_err(), "no file yet");
        append(&[user("an earlier prompt")]);
        assert!(!watch.written(&path).unwrap(), "a prompt alone");
        append(&[user(PROMPT)]);
        assert!(
            !watch.written(&path).unwrap(),
            "refused on screen, not on disk yet"
        );
        append(&[refusal()]);
        assert!(watch.written(&path).unwrap());
        // Escape after the refusal: the person cancelled the turn.
        append(&[user("[Request interrupted by user]")]);
        assert!(!watch.written(&path).unwrap());
    }

    #[test]
    fn the_tail_tells_how_the_latest_turn_ended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let answer = serde_json::json!({"type": "assistant", "message": {"content":
            [{"type": "text", "text": "x".repeat(500)}]}})
        .to_string();
        let mut lines: Vec<String> = (0..100).map(|_| answer.clone()).collect();
        lines.extend([user(PROMPT), refusal()]);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let tail = summarize_tail(&path, 2000).unwrap();
        assert!(tail.turn_cut_short());
        assert_eq!(tail.last_prompt.as_deref(), Some(PROMPT));
        assert_eq!(tail, summarize(&path).unwrap());
        // The prompt further back than the tail: how the turn ended is still seen.
        lines.push(answer.clone());
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        assert!(!summarize_tail(&path, 700).unwrap().turn_cut_short());
        lines.push(refusal());
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        assert!(summarize_tail(&path, 700).unwrap().turn_cut_short());
    }

    #[test]
    fn a_turn_is_taken_up_by_a_continuation_or_the_same_prompt_only() {
        assert!(took_up_turn([continuation().as_str()], PROMPT));
        assert!(took_up_turn([user(PROMPT).as_str()], PROMPT));
        assert!(!took_up_turn([user("another prompt").as_str()], PROMPT));
        assert!(!took_up_turn([refusal().as_str()], PROMPT));
        assert!(!took_up_turn(std::iter::empty::<&str>(), PROMPT));
    }

    /// The lines Claude Code 2.1.328 appended after `claude --resume` with
    /// `CLAUDE_CODE_RESUME_INTERRUPTED_TURN=1`, its last turn refused by a usage limit
    /// (prompt `the refused prompt xyz`), against the mock API: the continuation, the
    /// answer (`end_turn`), the turn's `turn_duration`.
    const RESUMED: &str = include_str!("../tests/fixtures/resumed-turn-2.1.328.jsonl");

    #[test]
    fn a_taken_up_turn_is_over_at_its_answer_or_its_end() {
        let prompt = "the refused prompt xyz";
        let lines: Vec<&str> = RESUMED.lines().collect();
        assert_eq!(taken_up_turn(lines.iter().copied(), prompt), Some(true));
        // Written in batches: seen before the answer, the turn is under way.
        let answer = lines
            .iter()
            .position(|l| l.contains(r#""type":"assistant""#))
            .unwrap();
        assert_eq!(
            taken_up_turn(lines[..answer].iter().copied(), prompt),
            Some(false)
        );
        // The end without the answer line (a turn of tool calls ends with turn_duration).
        let without_answer = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != answer)
            .map(|(_, l)| *l);
        assert_eq!(taken_up_turn(without_answer, prompt), Some(true));
        // Another prompt's turn, or an answer before the take-up, is not this turn's end.
        assert_eq!(taken_up_turn(lines[answer..].iter().copied(), prompt), None);
        let refused_again = [continuation(), refusal()];
        assert_eq!(
            taken_up_turn(refused_again.iter().map(String::as_str), PROMPT),
            Some(false)
        );
        let sidechain_end = serde_json::json!({"type": "system", "subtype": "turn_duration",
            "isSidechain": true})
        .to_string();
        let by_a_subagent = [continuation(), sidechain_end];
        assert_eq!(
            taken_up_turn(by_a_subagent.iter().map(String::as_str), PROMPT),
            Some(false)
        );
    }
}
