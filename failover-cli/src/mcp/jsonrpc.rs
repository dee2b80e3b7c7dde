//! JSON-RPC 2.0 as the MCP stdio transport carries it: one JSON value per line. [`classify`]
//! sorts an incoming value into a request, a notification, a response (which this server never
//! asks for, so it ignores them) or something invalid; [`success`] and [`failure`] build the
//! answers.

use serde_json::{Value, json};

/// The line was not JSON.
pub(crate) const PARSE_ERROR: i64 = -32700;
/// The JSON is not a JSON-RPC request or notification.
pub(crate) const INVALID_REQUEST: i64 = -32600;
/// No such method.
pub(crate) const METHOD_NOT_FOUND: i64 = -32601;
/// The method exists but its params are wrong (including an unknown tool name).
pub(crate) const INVALID_PARAMS: i64 = -32602;

/// A JSON-RPC error object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RpcError {
    /// One of the codes above.
    pub(crate) code: i64,
    /// A sentence for the client's log.
    pub(crate) message: String,
}

impl RpcError {
    /// An error with `code` and `message`.
    pub(crate) fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// `-32602` with `message`.
    pub(crate) fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(INVALID_PARAMS, message)
    }
}

/// One incoming JSON value, classified.
#[derive(Debug, PartialEq)]
pub(crate) enum Message {
    /// Expects exactly one answer with the same `id`.
    Request {
        /// A string or a number, echoed in the answer.
        id: Value,
        /// The method name.
        method: String,
        /// The params object, `Null` when absent.
        params: Value,
    },
    /// Expects no answer, not even an error.
    Notification {
        /// The method name.
        method: String,
        /// The params object, `Null` when absent.
        params: Value,
    },
    /// An answer to a request (this server sends none): ignored.
    Response,
    /// Not JSON-RPC: answered with `error`, under `id` when one could be read (else `null`).
    Invalid {
        /// The request's id, or `Null`.
        id: Value,
        /// What is wrong.
        error: RpcError,
    },
}

/// Sorts one parsed JSON value (not an array: batches are split by the caller).
pub(crate) fn classify(value: Value) -> Message {
    let Value::Object(mut obj) = value else {
        return invalid(Value::Null, "a JSON-RPC message must be a JSON object");
    };
    // MCP forbids a null id; JSON-RPC allows only strings and numbers besides.
    let id = match obj.remove("id") {
        None => None,
        Some(id @ (Value::String(_) | Value::Number(_))) => Some(id),
        Some(other) => {
            return invalid(
                Value::Null,
                format!("\"id\" must be a string or a number, not {other}"),
            );
        }
    };
    let id_or_null = || id.clone().unwrap_or(Value::Null);
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid(id_or_null(), "\"jsonrpc\" must be \"2.0\"");
    }
    let method = match obj.remove("method") {
        Some(Value::String(m)) => m,
        Some(_) => return invalid(id_or_null(), "\"method\" must be a string"),
        None if id.is_some() && (obj.contains_key("result") || obj.contains_key("error")) => {
            return Message::Response;
        }
        None => return invalid(id_or_null(), "a request needs a \"method\""),
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Value::Null,
        Some(p @ Value::Object(_)) => p,
        Some(_) => return invalid(id_or_null(), "\"params\" must be an object"),
    };
    match id {
        Some(id) => Message::Request { id, method, params },
        None => Message::Notification { method, params },
    }
}

fn invalid(id: Value, message: impl Into<String>) -> Message {
    Message::Invalid {
        id,
        error: RpcError::new(INVALID_REQUEST, message),
    }
}

/// A success answer.
pub(crate) fn success(id: Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

/// An error answer.
pub(crate) fn failure(id: Value, error: &RpcError) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": error.code, "message": error.message },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_notifications_and_responses_are_told_apart() {
        assert_eq!(
            classify(json!({"jsonrpc":"2.0","id":1,"method":"ping"})),
            Message::Request {
                id: json!(1),
                method: "ping".into(),
                params: Value::Null
            }
        );
        assert_eq!(
            classify(json!({"jsonrpc":"2.0","method":"notifications/initialized","params":{}})),
            Message::Notification {
                method: "notifications/initialized".into(),
                params: json!({})
            }
        );
        assert_eq!(
            classify(json!({"jsonrpc":"2.0","id":"a","result":{}})),
            Message::Response
        );
    }

    #[test]
    fn malformed_messages_keep_their_id_when_it_is_readable() {
        let cases = [
            (json!([1]), Value::Null),
            (json!({"jsonrpc":"1.0","id":3,"method":"ping"}), json!(3)),
            (
                json!({"jsonrpc":"2.0","id":null,"method":"ping"}),
                Value::Null,
            ),
            (json!({"jsonrpc":"2.0","id":"x"}), json!("x")),
            (json!({"jsonrpc":"2.0","id":4,"method":7}), json!(4)),
            (
                json!({"jsonrpc":"2.0","id":5,"method":"ping","params":[1]}),
                json!(5),
            ),
        ];
        for (input, want_id) in cases {
            match classify(input.clone()) {
                Message::Invalid { id, error } => {
                    assert_eq!(id, want_id, "{input}");
                    assert_eq!(error.code, INVALID_REQUEST, "{input}");
                }
                other => panic!("{input} classified as {other:?}"),
            }
        }
    }

    #[test]
    fn answers_have_the_jsonrpc_shape() {
        assert_eq!(
            success(json!(1), json!({})),
            json!({"jsonrpc":"2.0","id":1,"result":{}})
        );
        assert_eq!(
            failure(Value::Null, &RpcError::new(PARSE_ERROR, "bad")),
            json!({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"bad"}})
        );
    }
}
