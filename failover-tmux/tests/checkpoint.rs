//! `FileCheckpointer` and the transcript summary it records.

use std::fs;
use std::path::PathBuf;

use failover_core::{
    AccountId, Checkpoint, CheckpointError, Checkpointer, ClaudeSessionId, SessionId, UnixMillis,
};
use failover_tmux::FileCheckpointer;
use failover_tmux::transcript::{self, Tail};

fn checkpoint(session: &str, at: i64) -> Checkpoint {
    Checkpoint {
        session: SessionId::new(session),
        claude_session: Some(ClaudeSessionId::new("0b8f3c1e-3f7a-4a52-9a55-3a1c1d2e3f40")),
        account: AccountId::new("primary"),
        dir: PathBuf::from("/work/proj"),
        task: Some("T-12 fix the parser".into()),
        last_prompt: Some("fix it\nplease".into()),
        last_tool_call: Some("Bash {\"command\":\"cargo test\"}".into()),
        taken_at: UnixMillis(at),
    }
}

#[tokio::test]
async fn records_round_trip_crash_safely_and_are_versioned() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FileCheckpointer::new(tmp.path().join("checkpoints"));
    assert_eq!(store.load(&SessionId::new("ccl-0")).await.unwrap(), None);
    assert!(store.list().await.unwrap().is_empty());

    let a = checkpoint("ccl-0", 1_000);
    store.save(&a).await.unwrap();
    let mut a2 = a.clone();
    a2.taken_at = UnixMillis(2_000);
    store.save(&a2).await.unwrap();
    assert_eq!(store.load(&a.session).await.unwrap(), Some(a2.clone()));

    // One file, named after the session, JSON with the version first; no temporaries left.
    let names: Vec<_> = fs::read_dir(store.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["ccl-0.json".to_owned()]);
    let text = fs::read_to_string(store.path_of(&a.session)).unwrap();
    assert!(
        text.trim_start().starts_with("{\n  \"schema_version\": 1,"),
        "{text}"
    );

    // A session name cannot escape the folder.
    let odd = checkpoint("../evil/name", 3_000);
    store.save(&odd).await.unwrap();
    assert!(store.path_of(&odd.session).starts_with(store.dir()));
    assert_eq!(store.load(&odd.session).await.unwrap(), Some(odd.clone()));

    let mut all = store.list().await.unwrap();
    all.sort_by_key(|c| c.taken_at);
    assert_eq!(all, vec![a2.clone(), odd.clone()]);
    assert_eq!(store.prune(UnixMillis(2_500)).await.unwrap(), 1);
    assert_eq!(store.list().await.unwrap(), vec![odd]);
}

#[tokio::test]
async fn unknown_versions_and_corrupt_records_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FileCheckpointer::new(tmp.path());
    let s = SessionId::new("future");
    let mut v = serde_json::to_value(failover_core::CheckpointRecordV1::new(checkpoint(
        "future", 1,
    )))
    .unwrap();
    v["schema_version"] = 2.into();
    fs::write(store.path_of(&s), v.to_string()).unwrap();
    assert!(matches!(
        store.load(&s).await,
        Err(CheckpointError::UnsupportedVersion { version: 2, .. })
    ));
    let bad = SessionId::new("bad");
    fs::write(store.path_of(&bad), "{\"schema_version\":1,").unwrap();
    assert!(matches!(
        store.load(&bad).await,
        Err(CheckpointError::Corrupt { .. })
    ));
    // Neither is deleted by a prune, and they do not hide readable records.
    store.save(&checkpoint("ok", 5)).await.unwrap();
    assert_eq!(store.prune(UnixMillis(i64::MAX)).await.unwrap(), 1);
    assert!(store.path_of(&s).exists() && store.path_of(&bad).exists());
}

const TRANSCRIPT: &str = r#"{"type":"queue-operation","operation":"enqueue","content":"hello"}
{"type":"user","message":{"role":"user","content":"first prompt"}}
{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"ok"},{"type":"tool_use","id":"t1","name":"Read","input":{"file_path":"/a"}}]}}
{"type":"user","isMeta":true,"message":{"role":"user","content":"<meta>"}}
{"type":"assistant","message":{"role":"assistant","content":[{"type":"tool_use","id":"t2","name":"Bash","input":{"command":"cargo test -p x"}}]}}
{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t2","content":"ok"}]}}
{"type":"last-prompt","lastPrompt":"run the tests\nand fix","sessionId":"s"}
{"type":"assistant","message":{"content":[{"type":"text","text":"done"}]}}
{"type":"cost-state","sessionId":"s"}
{"type":"user","message":{"role":"user","content":"half a li"#;

#[test]
fn summary_takes_the_last_prompt_and_the_last_tool_call() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("s.jsonl");
    fs::write(&p, TRANSCRIPT).unwrap();
    let s = transcript::summarize(&p).unwrap();
    assert_eq!(s.last_prompt.as_deref(), Some("run the tests\nand fix"));
    assert_eq!(
        s.last_tool_call.as_deref(),
        Some(r#"Bash: {"command":"cargo test -p x"}"#)
    );
    assert!(!s.unanswered, "the last prompt was answered");
    // Without a last-prompt line, the last typed user text counts.
    let s = transcript::summarize_lines(TRANSCRIPT.lines().take(6));
    assert_eq!(s.last_prompt.as_deref(), Some("first prompt"));
    assert_eq!(transcript::summarize_lines([]), Default::default());
}

/// One transcript line each.
mod line {
    pub(crate) fn typed(text: &str) -> String {
        serde_json::json!({"type": "user", "message": {"role": "user", "content": text}})
            .to_string()
    }
    pub(crate) fn typed_parts(text: &str) -> String {
        serde_json::json!({"type": "user", "message": {"role": "user",
            "content": [{"type": "text", "text": text}]}})
        .to_string()
    }
    pub(crate) fn record(text: &str) -> String {
        serde_json::json!({"type": "last-prompt", "lastPrompt": text}).to_string()
    }
    pub(crate) fn answer(text: &str) -> String {
        serde_json::json!({"type": "assistant", "message": {"role": "assistant",
            "content": [{"type": "text", "text": text}]}})
        .to_string()
    }
    pub(crate) fn api_error(text: &str) -> String {
        serde_json::json!({"type": "assistant", "isApiErrorMessage": true,
            "message": {"role": "assistant", "content": [{"type": "text", "text": text}]}})
        .to_string()
    }
    pub(crate) fn tool_result() -> String {
        serde_json::json!({"type": "user", "message": {"role": "user",
            "content": [{"type": "tool_result", "content": "x"}]}})
        .to_string()
    }
    pub(crate) fn tool_use(name: &str, input: serde_json::Value) -> String {
        serde_json::json!({"type": "assistant", "message": {"content":
            [{"type": "tool_use", "name": name, "input": input}]}})
        .to_string()
    }
}

fn summary(lines: &[String]) -> failover_core::TranscriptSummary {
    transcript::summarize_lines(lines.iter().map(String::as_str))
}

#[test]
fn the_cli_s_own_lines_are_not_prompts() {
    let s = summary(&[
        line::typed("real prompt"),
        line::typed("<command-name>/exit</command-name>\n<command-message>exit</command-message>"),
        line::typed("<local-command-stdout>See ya!</local-command-stdout>"),
        line::typed_parts("[Request interrupted by user]"),
        line::typed("   "),
    ]);
    assert_eq!(s.last_prompt.as_deref(), Some("real prompt"));
}

#[test]
fn the_latest_prompt_wins_and_tool_results_do_not_count() {
    let mut t = vec![
        line::typed("first"),
        line::answer("ok"),
        line::typed_parts("second"),
        line::tool_result(),
        "not json".to_owned(),
    ];
    assert_eq!(summary(&t).last_prompt.as_deref(), Some("second"));
    // A later record wins over an earlier typed line, and the other way round.
    t.push(line::record("third"));
    assert_eq!(summary(&t).last_prompt.as_deref(), Some("third"));
    t.push(line::typed("fourth"));
    assert_eq!(summary(&t).last_prompt.as_deref(), Some("fourth"));
    let long = "x".repeat(500);
    let s = summary(&[line::tool_use(
        "Write",
        serde_json::json!({ "content": long }),
    )]);
    let call = s.last_tool_call.unwrap();
    assert!(call.starts_with(r#"Write: {"content":"xxx"#), "{call}");
    assert_eq!(call.chars().count(), 201, "cut to 200 and an ellipsis");
    assert!(call.ends_with('…'));
}

#[test]
fn a_prompt_with_only_an_api_error_after_it_is_unanswered() {
    let prompt = || line::typed("second turn");
    let answer = || line::answer("ACK");
    let refused = || line::api_error("You've hit your 5-hour limit");
    let exit = || line::typed("<command-name>/exit</command-name>");
    let record = || line::record("second turn");
    let unanswered = |lines: &[String]| summary(lines).unanswered;
    assert!(unanswered(&[answer(), prompt()]), "in flight");
    assert!(
        unanswered(&[answer(), prompt(), refused(), record(), exit()]),
        "refused, then the CLI's own lines"
    );
    assert!(!unanswered(&[prompt(), answer(), record()]), "answered");
    assert!(
        !unanswered(&[prompt(), refused(), answer()]),
        "answered later"
    );
    assert!(!unanswered(&[]), "nothing typed");
    assert!(!unanswered(&[answer(), exit()]), "only CLI lines");
    let cut = [
        answer(),
        prompt(),
        line::typed_parts("[Request interrupted by user]"),
    ];
    assert!(unanswered(&cut), "cut short before any answer");
    assert_eq!(summary(&cut).last_prompt.as_deref(), Some("second turn"));
}

#[test]
fn a_huge_transcript_with_bad_bytes_is_read_line_by_line() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("big.jsonl");
    let mut bytes = Vec::new();
    let filler = line::answer(&"y".repeat(1000));
    for _ in 0..20_000 {
        bytes.extend_from_slice(filler.as_bytes());
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(b"\xff\xfe not utf-8\n");
    bytes.extend_from_slice(line::typed("the last one").as_bytes());
    bytes.push(b'\n');
    fs::write(&p, &bytes).unwrap();
    let s = transcript::summarize(&p).unwrap();
    assert_eq!(s.last_prompt.as_deref(), Some("the last one"));
    assert!(s.unanswered);
}

#[test]
fn tail_returns_each_complete_line_once() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("t.jsonl");
    fs::write(&p, "old\n").unwrap();
    let mut tail = Tail::at_end(&p).unwrap();
    assert!(tail.read_new(&p).unwrap().is_empty());
    fs::write(&p, "old\nnew 1\nnew 2 part").unwrap();
    assert_eq!(tail.read_new(&p).unwrap(), vec!["new 1"]);
    fs::write(&p, "old\nnew 1\nnew 2 part, rest\n").unwrap();
    assert_eq!(tail.read_new(&p).unwrap(), vec!["new 2 part, rest"]);
    // Truncated and rewritten shorter: read again from the start.
    fs::write(&p, "a\n").unwrap();
    assert_eq!(tail.read_new(&p).unwrap(), vec!["a"]);
    // Replaced by a new file (rotation): read from its start.
    let q = tmp.path().join("t.jsonl.new");
    fs::write(&q, "a\nb\nc\n").unwrap();
    fs::rename(&q, &p).unwrap();
    assert_eq!(tail.read_new(&p).unwrap(), vec!["a", "b", "c"]);
}
