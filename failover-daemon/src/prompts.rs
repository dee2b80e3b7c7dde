//! Finding the prompt a session was last sent, so a turn interrupted by a failover can be
//! replayed on the next account.
//!
//! [`TranscriptPrompts`] reads the conversation's transcript in the shared projects tree:
//! `<shared_projects>/<dir with every non-alphanumeric character replaced by ->/<id>.jsonl`,
//! and takes the latest `last-prompt` record or typed user message.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use failover_core::ClaudeSessionId;

/// What a transcript tells about where a conversation stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recall {
    /// The last prompt typed into it.
    pub last_prompt: Option<String>,
    /// The last tool call it made: the tool's name and a short summary of its input.
    pub last_tool_call: Option<String>,
    /// Whether nothing answered the last prompt (see [`last_prompt_unanswered`]).
    pub unanswered: bool,
}

/// Where the last prompt of a conversation can be found.
#[async_trait]
pub trait PromptSource: Send + Sync {
    /// What is known of the conversation's last prompt and tool call.
    async fn recall(&self, dir: &Path, claude_session: &ClaudeSessionId) -> Recall;
}

/// Reads transcripts from the shared projects tree.
#[derive(Clone, Debug)]
pub struct TranscriptPrompts {
    shared_projects: PathBuf,
}

impl TranscriptPrompts {
    /// Transcripts under `shared_projects`.
    pub fn new(shared_projects: PathBuf) -> Self {
        Self { shared_projects }
    }

    /// Where the transcript of `claude_session`, run in `dir`, lives.
    pub fn transcript_path(&self, dir: &Path, claude_session: &ClaudeSessionId) -> PathBuf {
        self.shared_projects
            .join(project_dir_name(dir))
            .join(format!("{}.jsonl", claude_session.as_str()))
    }
}

#[async_trait]
impl PromptSource for TranscriptPrompts {
    async fn recall(&self, dir: &Path, claude_session: &ClaudeSessionId) -> Recall {
        let path = self.transcript_path(dir, claude_session);
        match tokio::fs::read_to_string(&path).await {
            Ok(text) => Recall {
                last_prompt: last_prompt_in(&text),
                last_tool_call: last_tool_call_in(&text),
                unanswered: last_prompt_unanswered(&text),
            },
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "no transcript to recall from");
                Recall::default()
            }
        }
    }
}

/// Claude Code's name for a project's transcript folder: the absolute working directory
/// with every character that is not an ASCII letter or digit replaced by `-`.
pub fn project_dir_name(dir: &Path) -> String {
    dir.to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The latest prompt recorded in a transcript's text.
pub fn last_prompt_in(transcript: &str) -> Option<String> {
    transcript.lines().rev().find_map(prompt_of_line)
}

/// Whether the latest typed prompt in a transcript's text has nothing from the model after
/// it: no assistant line other than the CLI's own API-error notices (`isApiErrorMessage`,
/// e.g. "You've hit your 5-hour limit"). Such a prompt was refused or is still in flight,
/// so a failover must replay it even when the screen looked idle. A prompt followed by any
/// real assistant content (text or a tool call) counts as answered: whether a cut-short
/// tool loop needs a replay is the engine's call, from the activity it saw.
pub fn last_prompt_unanswered(transcript: &str) -> bool {
    for line in transcript.lines().rev() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        match v.get("type").and_then(serde_json::Value::as_str) {
            Some("assistant") => {
                let api_error = v
                    .get("isApiErrorMessage")
                    .and_then(serde_json::Value::as_bool)
                    == Some(true);
                if !api_error {
                    return false;
                }
            }
            Some("user") if prompt_of_line(line).is_some() => return true,
            _ => {}
        }
    }
    false
}

/// The latest tool call recorded in a transcript's text, as `name: <input, shortened>`.
pub fn last_tool_call_in(transcript: &str) -> Option<String> {
    transcript.lines().rev().find_map(|line| {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        if v.get("type")?.as_str()? != "assistant" {
            return None;
        }
        let parts = v.get("message")?.get("content")?.as_array()?;
        parts.iter().rev().find_map(|p| {
            if p.get("type")?.as_str()? != "tool_use" {
                return None;
            }
            let name = p.get("name")?.as_str()?;
            let input = p.get("input").map(ToString::to_string).unwrap_or_default();
            let short: String = input.chars().take(120).collect();
            Some(format!("{name}: {short}"))
        })
    })
}

fn prompt_of_line(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    match v.get("type")?.as_str()? {
        "last-prompt" => v.get("lastPrompt")?.as_str().map(str::to_owned),
        "user" => {
            if v.get("isMeta").and_then(serde_json::Value::as_bool) == Some(true) {
                return None;
            }
            let content = v.get("message")?.get("content")?;
            match content {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Array(parts) => {
                    // Tool results are user-role lines too; only typed text counts.
                    let texts: Vec<&str> = parts
                        .iter()
                        .filter(|p| p.get("type").and_then(|t| t.as_str()) == Some("text"))
                        .filter_map(|p| p.get("text").and_then(|t| t.as_str()))
                        .collect();
                    (!texts.is_empty()).then(|| texts.join("\n"))
                }
                _ => None,
            }
            .filter(|s| !s.trim().is_empty() && !is_cli_generated(s))
        }
        _ => None,
    }
}

/// User-role lines the CLI writes itself rather than the person typing: slash commands and
/// their output (`/exit` leaves `<command-name>/exit</command-name>` and
/// `<local-command-stdout>See ya!</local-command-stdout>`), caveats, reminders, and the
/// marker an interrupted turn leaves. Replaying
/// one of those as "the interrupted prompt" would send the model the CLI's own bookkeeping.
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
    TAGS.iter().any(|tag| t.starts_with(tag)) || t.starts_with("[Request interrupted by user")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_s_own_lines_are_not_prompts() {
        let transcript = [
            r#"{"type":"user","message":{"role":"user","content":"real prompt"}}"#,
            r#"{"type":"user","message":{"role":"user","content":"<command-name>/exit</command-name>\n<command-message>exit</command-message>"}}"#,
            r#"{"type":"user","message":{"role":"user","content":"<local-command-stdout>See ya!</local-command-stdout>"}}"#,
        ]
        .join("\n");
        assert_eq!(last_prompt_in(&transcript).as_deref(), Some("real prompt"));
    }

    #[test]
    fn a_prompt_with_only_an_api_error_after_it_is_unanswered() {
        let prompt = r#"{"type":"user","message":{"role":"user","content":"second turn"}}"#;
        let answer = r#"{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"ACK"}]}}"#;
        let refused = r#"{"type":"assistant","isApiErrorMessage":true,"message":{"role":"assistant","content":[{"type":"text","text":"You've hit your 5-hour limit"}]}}"#;
        let exit = r#"{"type":"user","message":{"role":"user","content":"<command-name>/exit</command-name>"}}"#;
        let record = r#"{"type":"last-prompt","lastPrompt":"second turn"}"#;
        let t = |lines: &[&str]| lines.join("\n");
        assert!(last_prompt_unanswered(&t(&[answer, prompt])), "in flight");
        assert!(
            last_prompt_unanswered(&t(&[answer, prompt, refused, record, exit])),
            "refused, then the CLI's own lines"
        );
        assert!(
            !last_prompt_unanswered(&t(&[prompt, answer, record])),
            "answered"
        );
        assert!(
            !last_prompt_unanswered(&t(&[prompt, refused, answer])),
            "answered later"
        );
        assert!(!last_prompt_unanswered(""), "nothing typed");
        assert!(
            !last_prompt_unanswered(&t(&[answer, exit])),
            "only CLI lines"
        );
        let interrupted = r#"{"type":"user","message":{"role":"user","content":[{"type":"text","text":"[Request interrupted by user]"}]}}"#;
        let cut = t(&[answer, prompt, interrupted]);
        assert!(last_prompt_unanswered(&cut), "cut short before any answer");
        assert_eq!(last_prompt_in(&cut).as_deref(), Some("second turn"));
    }

    #[test]
    fn project_dir_is_munged() {
        assert_eq!(
            project_dir_name(Path::new("/home/u/src/project.a")),
            "-home-u-src-project-a"
        );
    }

    #[test]
    fn latest_prompt_wins_and_tool_results_do_not_count() {
        let t = [
            r#"{"type":"user","message":{"role":"user","content":"first"}}"#,
            r#"{"type":"assistant","message":{"content":[{"type":"text","text":"ok"}]}}"#,
            r#"{"type":"user","message":{"role":"user","content":[{"type":"text","text":"second"}]}}"#,
            r#"{"type":"user","message":{"role":"user","content":[{"type":"tool_result","content":"x"}]}}"#,
            r#"not json"#,
        ]
        .join("\n");
        assert_eq!(last_prompt_in(&t).as_deref(), Some("second"));
        let t2 = format!("{t}\n{}", r#"{"type":"last-prompt","lastPrompt":"third"}"#);
        assert_eq!(last_prompt_in(&t2).as_deref(), Some("third"));
        assert_eq!(last_prompt_in(""), None);
        let t3 = r#"{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Bash","input":{"command":"ls"}}]}}"#;
        assert_eq!(
            last_tool_call_in(t3).as_deref(),
            Some(r#"Bash: {"command":"ls"}"#)
        );
    }
}
