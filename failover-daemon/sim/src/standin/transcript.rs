//! The stand-in's transcript: JSONL lines appended in the shapes Claude Code writes.

use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

/// One past turn read back from a transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PastLine {
    /// A prompt.
    User(String),
    /// A reply.
    Assistant(String),
    /// A synthetic API error line (shown, never sent back to the API).
    ApiError(String),
}

/// An append-only transcript file for one session.
#[derive(Debug)]
pub struct Transcript {
    path: PathBuf,
    session_id: String,
    cwd: String,
    version: String,
    last_uuid: Option<String>,
}

impl Transcript {
    /// The transcript at `path` (created on first append; never truncated).
    pub fn new(path: PathBuf, session_id: &str, cwd: &Path, version: &str) -> Self {
        Self {
            path,
            session_id: session_id.to_owned(),
            cwd: cwd.to_string_lossy().into_owned(),
            version: version.to_owned(),
            last_uuid: None,
        }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the conversation back (for `--resume`), and continues the `parentUuid` chain
    /// from its last line.
    pub fn load(&mut self) -> io::Result<Vec<PastLine>> {
        let file = fs::File::open(&self.path)?;
        let mut past = Vec::new();
        for line in io::BufReader::new(file).lines() {
            let line = line?;
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if let Some(u) = v["uuid"].as_str() {
                self.last_uuid = Some(u.to_owned());
            }
            let text = message_text(&v["message"]);
            match (v["type"].as_str(), text) {
                (Some("user"), Some(t)) if v["isMeta"] != Value::Bool(true) => {
                    past.push(PastLine::User(t));
                }
                (Some("assistant"), Some(t)) if v["isApiErrorMessage"] == Value::Bool(true) => {
                    past.push(PastLine::ApiError(t));
                }
                (Some("assistant"), Some(t)) => past.push(PastLine::Assistant(t)),
                _ => {}
            }
        }
        Ok(past)
    }

    /// Appends a `user` line; returns its uuid.
    pub fn user(&mut self, prompt: &str) -> io::Result<String> {
        let mut line = self.base("user");
        line.insert("promptId".into(), json!(new_uuid()));
        line.insert("message".into(), json!({"role": "user", "content": prompt}));
        line.insert("permissionMode".into(), json!("default"));
        line.insert("promptSource".into(), json!("typed"));
        self.append(line)
    }

    /// Appends an `assistant` reply line.
    pub fn assistant(
        &mut self,
        text: &str,
        message_id: &str,
        model: &str,
        request_id: Option<&str>,
    ) -> io::Result<String> {
        let mut line = self.base("assistant");
        line.insert(
            "message".into(),
            json!({"content": [{"text": text, "type": "text"}], "id": message_id,
                   "model": model, "role": "assistant", "stop_reason": "end_turn",
                   "stop_sequence": null, "type": "message",
                   "usage": {"input_tokens": 0, "output_tokens": 0,
                             "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}),
        );
        if let Some(r) = request_id {
            line.insert("requestId".into(), json!(r));
        }
        self.append(line)
    }

    /// Appends the synthetic assistant line Claude Code writes for a failed request:
    /// `model` `<synthetic>`, `isApiErrorMessage`, `apiErrorStatus`, `apiErrorType`, the
    /// on-screen `text`, plus `extra` fields (`error`, `apiError`, `quotaLimits`, …).
    pub fn api_error(
        &mut self,
        text: &str,
        status: u16,
        kind: &str,
        extra: Map<String, Value>,
    ) -> io::Result<String> {
        let mut line = self.base("assistant");
        line.insert(
            "message".into(),
            json!({"id": new_uuid(), "model": "<synthetic>", "role": "assistant",
                   "stop_reason": "stop_sequence", "stop_sequence": "", "type": "message",
                   "usage": {"input_tokens": 0, "output_tokens": 0,
                             "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
                   "content": [{"type": "text", "text": text}]}),
        );
        line.extend(extra);
        line.insert("isApiErrorMessage".into(), json!(true));
        line.insert("apiErrorStatus".into(), json!(status));
        line.insert("apiErrorType".into(), json!(kind));
        self.append(line)
    }

    /// Appends a `system` `informational` notice line.
    pub fn notice(&mut self, content: &str) -> io::Result<String> {
        let mut line = self.base("system");
        line.insert("subtype".into(), json!("informational"));
        line.insert("content".into(), json!(content));
        line.insert("isMeta".into(), json!(false));
        line.insert("level".into(), json!("notice"));
        self.append(line)
    }

    /// Appends the `last-prompt` line.
    pub fn last_prompt(&mut self, prompt: &str) -> io::Result<()> {
        let line = json!({"type": "last-prompt", "lastPrompt": prompt,
                          "leafUuid": self.last_uuid, "sessionId": self.session_id});
        self.write_line(&line)
    }

    fn base(&self, kind: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("parentUuid".into(), json!(self.last_uuid));
        m.insert("isSidechain".into(), json!(false));
        m.insert("type".into(), json!(kind));
        m.insert("uuid".into(), json!(new_uuid()));
        m.insert(
            "timestamp".into(),
            json!(jiff::Timestamp::now().to_string()),
        );
        m.insert("userType".into(), json!("external"));
        m.insert("entrypoint".into(), json!("cli"));
        m.insert("cwd".into(), json!(self.cwd));
        m.insert("sessionId".into(), json!(self.session_id));
        m.insert("version".into(), json!(self.version));
        m.insert("gitBranch".into(), json!("HEAD"));
        m
    }

    fn append(&mut self, line: Map<String, Value>) -> io::Result<String> {
        let uuid = line["uuid"].as_str().unwrap_or_default().to_owned();
        self.write_line(&Value::Object(line))?;
        self.last_uuid = Some(uuid.clone());
        Ok(uuid)
    }

    fn write_line(&self, value: &Value) -> io::Result<()> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(format!("{value}\n").as_bytes())
    }
}

fn message_text(message: &Value) -> Option<String> {
    match &message["content"] {
        Value::String(s) => Some(s.clone()),
        Value::Array(blocks) => {
            let text: Vec<&str> = blocks
                .iter()
                .filter(|b| b["type"] == "text")
                .filter_map(|b| b["text"].as_str())
                .collect();
            (!text.is_empty()).then(|| text.join("\n"))
        }
        _ => None,
    }
}

fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_and_reads_back() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("p/s.jsonl");
        let mut t = Transcript::new(path.clone(), "s", Path::new("/w"), "v");
        let u = t.user("hi").unwrap();
        t.assistant("ACK: hi", "m", "x", None).unwrap();
        t.api_error(
            "You've hit your 5-hour limit",
            429,
            "rate_limit_error",
            Map::new(),
        )
        .unwrap();
        t.last_prompt("hi").unwrap();
        let lines: Vec<Value> = fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1]["parentUuid"], json!(u));
        assert_eq!(lines[2]["message"]["model"], "<synthetic>");
        assert_eq!(lines[2]["apiErrorStatus"], 429);
        let mut again = Transcript::new(path, "s", Path::new("/w"), "v");
        assert_eq!(
            again.load().unwrap(),
            vec![
                PastLine::User("hi".into()),
                PastLine::Assistant("ACK: hi".into()),
                PastLine::ApiError("You've hit your 5-hour limit".into())
            ]
        );
    }
}
