//! The MCP tools: what `tools/list` describes and what `tools/call` runs. Each tool is one
//! control-plane request made with the CLI's own [`Client`], so an agent sees the same
//! answers, and the same actionable error messages, as a person at the terminal.
//!
//! There is no "recent events" tool: `GET /v1/events` only streams what happens after a client
//! subscribes, and the daemon keeps no history to ask for.

use std::time::Duration;

use failover_daemon::http::dto::{CommandResponseDto, StatusDto, SwapRequestDto};
use jiff::Timestamp;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::jsonrpc::RpcError;
use crate::client::Client;
use crate::commands::control;
use crate::error::{CliError, display_chain};
use crate::render;

/// How long `failover_swap` follows a swap when the caller does not say.
const DEFAULT_SWAP_TIMEOUT_SECS: u64 = 120;
/// The longest it may be asked to follow one.
const MAX_SWAP_TIMEOUT_SECS: u64 = 600;

/// The `tools/list` result.
pub(crate) fn list() -> Value {
    let no_args = json!({ "type": "object", "properties": {}, "additionalProperties": false });
    json!({ "tools": [
        {
            "name": "failover_status",
            "title": "Failover status",
            "description": "The claude-failover daemon's whole picture: the active account, whether \
                decisions are paused, the swap in flight, every account (state, usage, reset \
                time, usable or not) and every Claude Code session (account, state, \
                conversation id).",
            "inputSchema": no_args,
            "annotations": { "readOnlyHint": true, "openWorldHint": false },
        },
        {
            "name": "failover_swap",
            "title": "Swap accounts now",
            "description": "Move every Claude Code session to another subscription account now: \
                each session is checkpointed, stopped and resumed on the new account with the \
                same conversation. Without `to`, the daemon picks the best usable other \
                account. Refused while paused, while another swap runs, or when the account \
                cannot take sessions.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "to": {
                        "type": "string",
                        "minLength": 1,
                        "description": "The account to move to, as failover_status names it \
                            (default: the best usable other account).",
                    },
                    "wait": {
                        "type": "boolean",
                        "default": true,
                        "description": "Wait until the swap is over and return the final \
                            status (true), or return as soon as the daemon accepts it (false).",
                    },
                    "timeout_secs": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_SWAP_TIMEOUT_SECS,
                        "default": DEFAULT_SWAP_TIMEOUT_SECS,
                        "description": "With wait, give up waiting after this many seconds \
                            (the swap itself carries on).",
                    },
                },
                "additionalProperties": false,
            },
            "annotations": {
                "readOnlyHint": false,
                "destructiveHint": true,
                "idempotentHint": false,
                "openWorldHint": false,
            },
        },
        {
            "name": "failover_pause",
            "title": "Pause failover decisions",
            "description": "Stop the daemon making decisions: no swaps, relaunches or task \
                dispatch until failover_resume. Running sessions are left alone.",
            "inputSchema": no_args,
            "annotations": {
                "readOnlyHint": false,
                "destructiveHint": false,
                "idempotentHint": true,
                "openWorldHint": false,
            },
        },
        {
            "name": "failover_resume",
            "title": "Resume failover decisions",
            "description": "Undo failover_pause: the daemon makes decisions again.",
            "inputSchema": no_args,
            "annotations": {
                "readOnlyHint": false,
                "destructiveHint": false,
                "idempotentHint": true,
                "openWorldHint": false,
            },
        },
    ]})
}

/// What a tool call produced: text for the model, optionally the same as JSON.
#[derive(Debug)]
pub(crate) struct ToolResult {
    text: String,
    structured: Option<Value>,
    is_error: bool,
}

impl ToolResult {
    fn ok(text: String, structured: Value) -> Self {
        Self {
            text,
            structured: Some(structured),
            is_error: false,
        }
    }

    /// A failure the model should read (and may correct), with the CLI's message.
    fn error(text: String) -> Self {
        Self {
            text,
            structured: None,
            is_error: true,
        }
    }

    /// The `tools/call` result object. The JSON, when there is some, is also given as a
    /// second text block for clients that do not read `structuredContent`.
    pub(crate) fn into_json(self) -> Value {
        let mut content = vec![json!({ "type": "text", "text": self.text })];
        let mut result = serde_json::Map::new();
        if let Some(s) = self.structured {
            content.push(json!({ "type": "text", "text": s.to_string() }));
            result.insert("structuredContent".into(), s);
        }
        result.insert("content".into(), Value::Array(content));
        result.insert("isError".into(), Value::Bool(self.is_error));
        Value::Object(result)
    }
}

/// `failover_swap`'s arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SwapArgs {
    #[serde(default)]
    to: Option<String>,
    #[serde(default = "yes")]
    wait: bool,
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
}

fn yes() -> bool {
    true
}

fn default_timeout() -> u64 {
    DEFAULT_SWAP_TIMEOUT_SECS
}

/// The arguments of the tools that take none.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

/// Runs tool `name` with `args` (an object, or `Null` when the client sent none). An unknown
/// tool is a protocol error; everything else, bad arguments included, is a tool result.
pub(crate) async fn call(client: &Client, name: &str, args: Value) -> Result<ToolResult, RpcError> {
    let outcome = match name {
        "failover_status" => match parse::<NoArgs>(args) {
            Ok(NoArgs {}) => status(client).await,
            Err(e) => return Ok(e),
        },
        "failover_swap" => match parse::<SwapArgs>(args) {
            Ok(a) => swap(client, a).await,
            Err(e) => return Ok(e),
        },
        "failover_pause" | "failover_resume" => match parse::<NoArgs>(args) {
            Ok(NoArgs {}) => pause(client, name == "failover_pause").await,
            Err(e) => return Ok(e),
        },
        other => {
            return Err(RpcError::invalid_params(format!(
                "unknown tool {other:?}; tools/list names the tools"
            )));
        }
    };
    Ok(outcome.unwrap_or_else(|e| ToolResult::error(display_chain(&e))))
}

fn parse<T: DeserializeOwned>(args: Value) -> Result<T, ToolResult> {
    let args = if args.is_null() { json!({}) } else { args };
    serde_json::from_value(args).map_err(|e| ToolResult::error(format!("invalid arguments: {e}")))
}

async fn status(client: &Client) -> Result<ToolResult, CliError> {
    let st: StatusDto = client.get_json("/v1/status").await?;
    Ok(ToolResult::ok(
        render::status_text(&st, Timestamp::now(), false),
        to_value(&st)?,
    ))
}

async fn pause(client: &Client, pause: bool) -> Result<ToolResult, CliError> {
    let path = if pause { "/v1/pause" } else { "/v1/resume" };
    let reply: CommandResponseDto = client.post_json::<(), _>(path, None).await?;
    Ok(ToolResult::ok(
        render::pause_reply(pause, "failover_resume"),
        to_value(&reply)?,
    ))
}

async fn swap(client: &Client, args: SwapArgs) -> Result<ToolResult, CliError> {
    if args.to.as_deref().is_some_and(str::is_empty) {
        return Ok(ToolResult::error(
            "invalid arguments: `to` is empty; omit it to let the daemon pick".into(),
        ));
    }
    if !(1..=MAX_SWAP_TIMEOUT_SECS).contains(&args.timeout_secs) {
        return Ok(ToolResult::error(format!(
            "invalid arguments: timeout_secs must be 1 to {MAX_SWAP_TIMEOUT_SECS}"
        )));
    }
    let before: StatusDto = client.get_json("/v1/status").await?;
    // Subscribe before asking, so no event of this swap is missed.
    let mut events = if args.wait {
        Some(client.events("/v1/events").await?)
    } else {
        None
    };
    let body = SwapRequestDto {
        to: args.to.clone(),
    };
    let reply: CommandResponseDto = client.post_json("/v1/swap", Some(&body)).await?;
    let Some(events) = events.as_mut() else {
        return Ok(ToolResult::ok(
            format!(
                "{} (failover_status shows progress)",
                render::swap_accepted(&reply)
            ),
            to_value(&reply)?,
        ));
    };
    let done = control::follow_swap(
        client,
        events,
        &before,
        args.to.as_deref(),
        Duration::from_secs(args.timeout_secs),
        false,
    )
    .await?;
    Ok(ToolResult::ok(
        render::swap_complete(&done.status, done.elapsed),
        to_value(&done.status)?,
    ))
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, CliError> {
    serde_json::to_value(v).map_err(|e| CliError::Other(format!("cannot encode the answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_an_object_schema_and_a_description() {
        let list = list();
        let tools = list["tools"].as_array().unwrap();
        assert_eq!(tools.len(), 4);
        for t in tools {
            assert!(t["name"].as_str().unwrap().starts_with("failover_"), "{t}");
            assert!(t["description"].as_str().unwrap().len() > 20, "{t}");
            assert_eq!(t["inputSchema"]["type"], "object", "{t}");
            assert_eq!(t["inputSchema"]["additionalProperties"], false, "{t}");
        }
    }

    #[test]
    fn results_carry_text_structured_content_and_the_error_flag() {
        let r = ToolResult::ok("hi".into(), json!({"a": 1})).into_json();
        assert_eq!(r["isError"], false);
        assert_eq!(r["content"][0], json!({"type":"text","text":"hi"}));
        assert_eq!(r["content"][1]["text"], "{\"a\":1}");
        assert_eq!(r["structuredContent"], json!({"a": 1}));
        let r = ToolResult::error("bad".into()).into_json();
        assert_eq!(r["isError"], true);
        assert!(r.get("structuredContent").is_none());
    }

    #[test]
    fn arguments_are_checked_against_the_schema() {
        let a: SwapArgs = parse(Value::Null).unwrap();
        assert!(a.to.is_none() && a.wait && a.timeout_secs == DEFAULT_SWAP_TIMEOUT_SECS);
        let a: SwapArgs = parse(json!({"to": "beta", "wait": false})).unwrap();
        assert_eq!(a.to.as_deref(), Some("beta"));
        assert!(!a.wait);
        let e = parse::<SwapArgs>(json!({"to": 5})).unwrap_err();
        assert!(
            e.is_error && e.text.starts_with("invalid arguments"),
            "{e:?}"
        );
        let e = parse::<NoArgs>(json!({"extra": true})).unwrap_err();
        assert!(e.text.contains("extra"), "{e:?}");
    }
}
