//! The bodies the mock sends: the streamed SSE reply, the non-streamed message, error bodies.

use serde_json::{Value, json};

/// How many characters of the last user text the reply echoes.
pub const ECHO_CHARS: usize = 40;

/// The deterministic reply text for a prompt: `ACK: <first 40 chars of the last user text>`.
///
/// Tests use it to prove that a given prompt (for example one interrupted by a quota and
/// resumed on another account) was answered.
pub fn ack_text(last_user_text: &str) -> String {
    let head: String = last_user_text.trim().chars().take(ECHO_CHARS).collect();
    format!("ACK: {head}")
}

/// Claude Code's own limit messages, as a conversation may quote them: the five-hour,
/// weekly and Opus weekly limits, the waiting notice and the login request.
pub const LIMIT_QUOTES: [&str; 5] = [
    "You've hit your weekly limit · resets Dec 9, 5am (UTC)",
    "You've hit your 5-hour limit · resets 9:38am (UTC)",
    "You've hit your Opus limit · resets Dec 9, 5am (UTC)",
    "Usage limit reached · continuing automatically at 9:38am",
    "Not logged in · Please run /login",
];

/// The reply of [`Mode::QuoteLimits`](super::Mode::QuoteLimits) to `prompt`: every
/// [`LIMIT_QUOTES`] line as its own paragraph, then [`ack_text`].
pub fn limit_quotes(prompt: &str) -> String {
    let mut text = LIMIT_QUOTES.join("\n\n");
    text.push_str("\n\n");
    text.push_str(&ack_text(prompt));
    text
}

/// The `Bash` command of [`Mode::PrintLimits`](super::Mode::PrintLimits): `printf` of every
/// [`LIMIT_QUOTES`] line.
pub fn print_limits_command() -> String {
    let mut cmd = String::from("printf '%s\\n'");
    for q in LIMIT_QUOTES {
        cmd.push_str(&format!(" \"{q}\""));
    }
    cmd
}

/// The prompt a request answers: the text of the last `user` message that has one (a
/// message carrying only a tool result is skipped), without `<system-reminder>` blocks.
pub(super) fn prompt_text(body: &Value) -> Option<String> {
    let messages = body.get("messages")?.as_array()?;
    messages
        .iter()
        .rev()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .find_map(|m| user_text(m.get("content")?))
}

/// Whether the last message of a request is a tool's result (the model asked for a tool).
pub(super) fn ends_with_tool_result(body: &Value) -> bool {
    body.get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.last())
        .and_then(|m| m.get("content"))
        .and_then(Value::as_array)
        .is_some_and(|blocks| {
            blocks
                .iter()
                .any(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
        })
}

/// Whether a request offers tools: a conversation turn (the probe and title requests
/// offer none); `named` narrows it to one tool.
pub(super) fn offers_tool(body: &Value, named: Option<&str>) -> bool {
    body.get("tools")
        .and_then(Value::as_array)
        .is_some_and(|tools| {
            tools
                .iter()
                .any(|t| named.is_none_or(|n| t.get("name").and_then(Value::as_str) == Some(n)))
        })
}

fn user_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(blocks) => blocks
            .iter()
            .rev()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .find(|t| !t.trim_start().starts_with("<system-reminder>"))
            .map(str::to_owned),
        _ => None,
    }
}

/// What Claude Code sends, after the history, when it takes an interrupted turn up by
/// itself (`claude --resume` with `CLAUDE_CODE_RESUME_INTERRUPTED_TURN=1`).
pub const CONTINUATION_PROMPT: &str = "Continue from where you left off.";

/// The text of the last `user` message of a Messages API request body, skipping
/// `<system-reminder>` blocks that Claude Code adds around the typed prompt. When that text
/// is the CLI's [`CONTINUATION_PROMPT`], the prompt it continues (the user text before it,
/// in that message or an earlier one, past any earlier continuation), as a model answers
/// the turn it is asked to go on with.
pub fn last_user_text(body: &Value) -> Option<String> {
    let messages = body.get("messages")?.as_array()?;
    let texts = |m: &Value| -> Vec<String> {
        let all = match m.get("content") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(blocks)) => blocks
                .iter()
                .rev()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        all.into_iter()
            .filter(|t| !t.trim_start().starts_with("<system-reminder>"))
            .collect()
    };
    let mut users = messages
        .iter()
        .rev()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    let last = texts(users.next()?);
    let first = last.first()?.clone();
    if first.trim() != CONTINUATION_PROMPT {
        return Some(first);
    }
    // Taken up again after another refusal, a turn holds several continuations.
    last.into_iter()
        .skip(1)
        .chain(users.flat_map(texts))
        .find(|t| t.trim() != CONTINUATION_PROMPT)
        // Claude Code 2.1.328 re-sends the refused prompt with a line break after it.
        .map(|t| t.trim_end().to_owned())
        .or(Some(first))
}

/// The SSE events of one complete streamed reply whose text is `text`, split into a few
/// `content_block_delta` events. Each item is one `event: …\ndata: …\n\n` frame.
pub(super) fn sse_frames(
    message_id: &str,
    model: &str,
    text: &str,
    input_tokens: u64,
) -> Vec<String> {
    let output_tokens = (text.len() as u64).div_ceil(4).max(1);
    let mut events: Vec<(&str, Value)> = vec![
        (
            "message_start",
            json!({"type":"message_start","message":{
                "id": message_id, "type":"message","role":"assistant","model": model,
                "content":[],"stop_reason":null,"stop_sequence":null,
                "usage":{"input_tokens":input_tokens,"cache_creation_input_tokens":0,
                         "cache_read_input_tokens":0,"output_tokens":1}}}),
        ),
        (
            "content_block_start",
            json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}),
        ),
        ("ping", json!({"type":"ping"})),
    ];
    for chunk in split_text(text, 3) {
        events.push((
            "content_block_delta",
            json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":chunk}}),
        ));
    }
    events.push((
        "content_block_stop",
        json!({"type":"content_block_stop","index":0}),
    ));
    events.push((
        "message_delta",
        json!({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},
               "usage":{"output_tokens":output_tokens}}),
    ));
    events.push(("message_stop", json!({"type":"message_stop"})));
    events
        .into_iter()
        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
        .collect()
}

/// The SSE events of one streamed reply that asks for tool `name` with `input`
/// (`stop_reason: tool_use`).
pub(super) fn sse_tool_frames(
    message_id: &str,
    model: &str,
    tool_id: &str,
    name: &str,
    input: &Value,
    input_tokens: u64,
) -> Vec<String> {
    let events: Vec<(&str, Value)> = vec![
        (
            "message_start",
            json!({"type":"message_start","message":{
                "id": message_id, "type":"message","role":"assistant","model": model,
                "content":[],"stop_reason":null,"stop_sequence":null,
                "usage":{"input_tokens":input_tokens,"cache_creation_input_tokens":0,
                         "cache_read_input_tokens":0,"output_tokens":1}}}),
        ),
        (
            "content_block_start",
            json!({"type":"content_block_start","index":0,
                   "content_block":{"type":"tool_use","id":tool_id,"name":name,"input":{}}}),
        ),
        (
            "content_block_delta",
            json!({"type":"content_block_delta","index":0,
                   "delta":{"type":"input_json_delta","partial_json":input.to_string()}}),
        ),
        (
            "content_block_stop",
            json!({"type":"content_block_stop","index":0}),
        ),
        (
            "message_delta",
            json!({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},
                   "usage":{"output_tokens":20}}),
        ),
        ("message_stop", json!({"type":"message_stop"})),
    ];
    events
        .into_iter()
        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
        .collect()
}

/// A complete non-streamed `message` object asking for tool `name` with `input`.
pub(super) fn tool_message_json(
    message_id: &str,
    model: &str,
    tool_id: &str,
    name: &str,
    input: &Value,
    input_tokens: u64,
) -> Value {
    json!({
        "id": message_id, "type": "message", "role": "assistant", "model": model,
        "content": [{"type":"tool_use","id": tool_id,"name": name,"input": input}],
        "stop_reason": "tool_use", "stop_sequence": null,
        "usage": {"input_tokens": input_tokens, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0, "output_tokens": 20}
    })
}

/// A complete non-streamed `message` object with `text` as its only content block.
pub(super) fn message_json(message_id: &str, model: &str, text: &str, input_tokens: u64) -> Value {
    json!({
        "id": message_id, "type": "message", "role": "assistant", "model": model,
        "content": [{"type":"text","text": text}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": input_tokens, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0, "output_tokens": (text.len() as u64).div_ceil(4).max(1)}
    })
}

/// The Messages API error body: `{"type":"error","error":{"type":…,"message":…}}`.
pub(super) fn error_json(kind: &str, message: &str) -> Value {
    json!({"type":"error","error":{"type":kind,"message":message}})
}

/// Splits `text` into at most `parts` pieces on char boundaries (never empty pieces).
fn split_text(text: &str, parts: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    let size = chars.len().div_ceil(parts.max(1));
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_echoes_first_forty_chars() {
        let long = "x".repeat(100);
        assert_eq!(ack_text(&long), format!("ACK: {}", "x".repeat(40)));
        assert_eq!(ack_text("  hi  "), "ACK: hi");
    }

    #[test]
    fn last_user_text_skips_reminders() {
        let body = json!({"messages":[
            {"role":"user","content":"first"},
            {"role":"assistant","content":"ACK: first"},
            {"role":"user","content":[
                {"type":"text","text":"<system-reminder>x</system-reminder>"},
                {"type":"text","text":"second prompt"},
                {"type":"text","text":"<system-reminder>y</system-reminder>"}]}
        ]});
        assert_eq!(last_user_text(&body).as_deref(), Some("second prompt"));
    }

    #[test]
    fn traps_quote_every_limit_message_and_find_the_prompt_behind_a_tool_result() {
        let text = limit_quotes("tell me about limits");
        for q in LIMIT_QUOTES {
            assert!(text.contains(q), "{q}");
        }
        assert!(text.ends_with("ACK: tell me about limits"));
        let cmd = print_limits_command();
        assert!(cmd.starts_with("printf '%s\\n' \"You've hit your weekly limit"));
        let body = json!({"tools":[{"name":"Bash"}],"messages":[
            {"role":"user","content":[{"type":"text","text":"print them"}]},
            {"role":"assistant","content":[{"type":"tool_use","id":"t","name":"Bash","input":{}}]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"x"},
                                      {"type":"text","text":"<system-reminder>r</system-reminder>"}]}
        ]});
        assert!(ends_with_tool_result(&body));
        assert_eq!(prompt_text(&body).as_deref(), Some("print them"));
        assert!(offers_tool(&body, Some("Bash")));
        assert!(!offers_tool(&body, Some("Read")));
        assert!(!offers_tool(&json!({"messages":[]}), None));
    }

    #[test]
    fn sse_reassembles_to_text() {
        let frames = sse_frames("msg_1", "m", "ACK: héllo wörld", 3);
        assert!(frames[0].starts_with("event: message_start\n"));
        assert!(frames.last().unwrap().starts_with("event: message_stop\n"));
        let text: String = frames
            .iter()
            .filter(|f| f.starts_with("event: content_block_delta"))
            .map(|f| {
                let data: Value =
                    serde_json::from_str(f.lines().nth(1).unwrap().trim_start_matches("data: "))
                        .unwrap();
                data["delta"]["text"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(text, "ACK: héllo wörld");
    }
}
