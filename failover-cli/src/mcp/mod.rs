//! `claude-failover mcp`: the daemon's control plane as a Model Context Protocol server, so an
//! agent (Claude Code, an IDE, a dashboard) can read the status, force a swap, pause and resume.
//!
//! The transport is MCP's stdio transport: newline-delimited JSON-RPC 2.0 on stdin and stdout,
//! nothing else on stdout (logs go to stderr). Methods served: `initialize`, `ping`,
//! `tools/list`, `tools/call`; notifications `notifications/initialized` and
//! `notifications/cancelled`. Tool calls run concurrently, so a long `failover_swap` does not
//! hold up `ping` or `failover_status`; everything else is answered in order. Batches (a JSON
//! array, allowed by protocol 2025-03-26) are answered with one array. When stdin closes the
//! server answers every request still running (cancelled ones excepted), then stops.

mod jsonrpc;
mod tools;

use std::collections::HashMap;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};

use self::jsonrpc::{Message, RpcError};
use crate::client::Client;
use crate::error::CliError;

/// The protocol versions this server speaks, newest first. A client asking for one of them
/// gets it back; any other gets the newest.
pub(crate) const PROTOCOL_VERSIONS: &[&str] =
    &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// Serves MCP on stdin/stdout until stdin closes.
pub(crate) async fn serve(client: Client) -> Result<(), CliError> {
    let (tx, rx) = mpsc::unbounded_channel::<Value>();
    let writer = tokio::spawn(write_lines(rx));
    let server = Server { client };
    let mut calls: JoinSet<()> = JoinSet::new();
    let mut in_flight: HashMap<String, AbortHandle> = HashMap::new();
    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    tracing::info!("MCP server ready on stdin/stdout");
    loop {
        line.clear();
        let n = stdin
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| CliError::io("cannot read", "stdin", e))?;
        if n == 0 {
            break;
        }
        while calls.try_join_next().is_some() {}
        in_flight.retain(|_, h| !h.is_finished());
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let value = match serde_json::from_slice::<Value>(text) {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(error = %e, "unparsable line");
                let err = RpcError::new(jsonrpc::PARSE_ERROR, format!("parse error: {e}"));
                send(&tx, jsonrpc::failure(Value::Null, &err));
                continue;
            }
        };
        match value {
            Value::Array(items) if items.is_empty() => {
                let err = RpcError::new(jsonrpc::INVALID_REQUEST, "an empty batch");
                send(&tx, jsonrpc::failure(Value::Null, &err));
            }
            Value::Array(items) => {
                // A batch is answered as one array, so its calls are awaited here.
                let mut answers = Vec::new();
                for item in items {
                    let msg = jsonrpc::classify(item);
                    if let Some(a) = server.answer(msg, &mut in_flight).await {
                        answers.push(a);
                    }
                }
                if !answers.is_empty() {
                    send(&tx, Value::Array(answers));
                }
            }
            single => match jsonrpc::classify(single) {
                Message::Request { id, method, params } if method == "tools/call" => {
                    let server = server.clone();
                    let tx = tx.clone();
                    let key = id.to_string();
                    let handle = calls.spawn(async move {
                        send(&tx, server.tools_call(id, params).await);
                    });
                    in_flight.insert(key, handle);
                }
                msg => {
                    if let Some(a) = server.answer(msg, &mut in_flight).await {
                        send(&tx, a);
                    }
                }
            },
        }
    }
    // No more requests: answer the ones still running (each call has its own deadline), then
    // stop. A client that closes its end after sending a request still reads the answer.
    tracing::info!("stdin closed; answering the pending requests, then stopping");
    while calls.join_next().await.is_some() {}
    drop(tx);
    writer
        .await
        .map_err(|e| CliError::Other(format!("the stdout writer failed: {e}")))?
        .map_err(|e| CliError::io("cannot write to", "stdout", e))
}

fn send(tx: &mpsc::UnboundedSender<Value>, msg: Value) {
    // The writer only stops when stdout is gone, and then nobody is listening anyway.
    let _ = tx.send(msg);
}

/// Writes each message as one line, flushing after each.
async fn write_lines(mut rx: mpsc::UnboundedReceiver<Value>) -> std::io::Result<()> {
    let mut out = tokio::io::stdout();
    while let Some(msg) = rx.recv().await {
        let mut bytes = serde_json::to_vec(&msg).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        out.write_all(&bytes).await?;
        out.flush().await?;
    }
    Ok(())
}

/// What answering needs: the control-plane client.
#[derive(Clone, Debug)]
struct Server {
    client: Client,
}

impl Server {
    /// The answer to one message, if it gets one (notifications and responses do not).
    async fn answer(
        &self,
        msg: Message,
        in_flight: &mut HashMap<String, AbortHandle>,
    ) -> Option<Value> {
        match msg {
            Message::Request { id, method, params } => Some(match method.as_str() {
                "initialize" => reply(id, initialize(&params)),
                "ping" => jsonrpc::success(id, json!({})),
                "tools/list" => jsonrpc::success(id, tools::list()),
                "tools/call" => self.tools_call(id, params).await,
                other => jsonrpc::failure(
                    id,
                    &RpcError::new(
                        jsonrpc::METHOD_NOT_FOUND,
                        format!("method not found: {other}"),
                    ),
                ),
            }),
            Message::Notification { method, params } => {
                if method == "notifications/cancelled" {
                    // The answer to a cancelled call is never sent.
                    if let Some(h) = params
                        .get("requestId")
                        .and_then(|id| in_flight.remove(&id.to_string()))
                    {
                        h.abort();
                    }
                }
                None
            }
            Message::Response => None,
            Message::Invalid { id, error } => Some(jsonrpc::failure(id, &error)),
        }
    }

    async fn tools_call(&self, id: Value, params: Value) -> Value {
        let Some(name) = params.get("name").and_then(Value::as_str) else {
            return jsonrpc::failure(
                id,
                &RpcError::invalid_params("tools/call needs params.name, a string"),
            );
        };
        let args = params.get("arguments").cloned().unwrap_or(Value::Null);
        if !(args.is_object() || args.is_null()) {
            return jsonrpc::failure(
                id,
                &RpcError::invalid_params("params.arguments must be an object"),
            );
        }
        tracing::debug!(tool = name, "tool call");
        reply(
            id,
            tools::call(&self.client, name, args)
                .await
                .map(tools::ToolResult::into_json),
        )
    }
}

fn reply(id: Value, result: Result<Value, RpcError>) -> Value {
    match result {
        Ok(v) => jsonrpc::success(id, v),
        Err(e) => jsonrpc::failure(id, &e),
    }
}

/// The `initialize` result: the client's protocol version when this server speaks it, else the
/// newest one it does; tools as the only capability.
fn initialize(params: &Value) -> Result<Value, RpcError> {
    let asked = params
        .get("protocolVersion")
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::invalid_params("initialize needs params.protocolVersion"))?;
    let version = PROTOCOL_VERSIONS
        .iter()
        .find(|v| **v == asked)
        .unwrap_or(&PROTOCOL_VERSIONS[0]);
    Ok(json!({
        "protocolVersion": version,
        "capabilities": { "tools": {} },
        "serverInfo": {
            "name": "claude-failover",
            "title": "claude-failover",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "instructions": "Controls the claude-failover daemon, which keeps a pool of Claude Code \
            sessions working across several subscription accounts. failover_status shows the \
            active account, each account's quota state and each session; failover_swap moves \
            every session to another account; failover_pause and failover_resume stop and \
            restart its automatic decisions.",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_supported_version_is_echoed_and_any_other_gets_the_newest() {
        for v in PROTOCOL_VERSIONS {
            let r = initialize(&json!({"protocolVersion": v})).unwrap();
            assert_eq!(r["protocolVersion"], *v);
        }
        let r = initialize(&json!({"protocolVersion": "1999-01-01"})).unwrap();
        assert_eq!(r["protocolVersion"], PROTOCOL_VERSIONS[0]);
        assert_eq!(r["serverInfo"]["name"], "claude-failover");
        assert_eq!(r["capabilities"], json!({"tools": {}}));
        let e = initialize(&json!({})).unwrap_err();
        assert_eq!(e.code, jsonrpc::INVALID_PARAMS);
    }
}
