//! The mock Anthropic API over real HTTP: every mode's status, headers and body, the SSE
//! shape, the live control routes and the request log.

use std::time::{Duration, Instant};

use failover_sim::mock_api::{ClaimWindow, MockAccount, MockApi, MockApiConfig, Mode, ack_text};
use reqwest::StatusCode;
use serde_json::{Value, json};

const ALICE: &str = "tok-alice";
const BOB: &str = "tok-bob";

async fn start() -> MockApi {
    MockApi::start(MockApiConfig::local(vec![
        MockAccount::new(ALICE, "alice"),
        MockAccount::new(BOB, "bob"),
    ]))
    .await
    .expect("mock starts")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Sends a streamed message request as Claude Code does.
async fn send(api: &MockApi, token: &str, prompt: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/v1/messages?beta=true", api.base_url()))
        .bearer_auth(token)
        .header("X-Claude-Code-Session-Id", "sess-1")
        .json(
            &json!({"model":"claude-opus-5-5","max_tokens":100,"stream":true,
                      "messages":[{"role":"user","content":"first"},
                                  {"role":"assistant","content":"ACK: first"},
                                  {"role":"user","content":[{"type":"text","text":prompt}]}]}),
        )
        .send()
        .await
        .unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `(event name, data)` of every SSE frame.
fn sse_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|f| !f.trim().is_empty())
        .map(|frame| {
            let mut name = String::new();
            let mut data = Value::Null;
            for line in frame.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).unwrap();
                }
            }
            assert_eq!(data["type"], name.as_str(), "event name matches data type");
            (name, data)
        })
        .collect()
}

#[tokio::test]
async fn normal_mode_streams_a_complete_sse_reply_echoing_the_prompt() {
    let api = start().await;
    let r = send(
        &api,
        ALICE,
        "please fix the flaky integration test in module X",
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type"), Some("text/event-stream"));
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-status"),
        Some("allowed")
    );
    let events = sse_events(&r.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.get(1), Some(&"content_block_start"));
    assert_eq!(
        &names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    assert!(
        names
            .iter()
            .filter(|n| **n == "content_block_delta")
            .count()
            >= 1
    );
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "ACK: please fix the flaky integration test in");
    assert_eq!(
        text,
        ack_text("please fix the flaky integration test in module X")
    );
    assert_eq!(events[0].1["message"]["model"], "claude-opus-5-5");
}

#[tokio::test]
async fn non_streamed_requests_get_one_json_message() {
    let api = start().await;
    let r = reqwest::Client::new()
        .post(format!("{}/v1/messages", api.base_url()))
        .header("x-api-key", BOB)
        .json(&json!({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["content"][0]["text"], "ACK: hi");
    assert_eq!(api.requests()[0].account.as_deref(), Some("bob"));
}

#[tokio::test]
async fn quota_exhausted_answers_429_with_unified_headers_for_every_window() {
    let api = start().await;
    let reset = now() + 3600;
    for (window, claim, prefix) in [
        (ClaimWindow::FiveHour, "five_hour", Some("5h")),
        (ClaimWindow::SevenDay, "seven_day", Some("7d")),
        (ClaimWindow::SevenDayOpus, "seven_day_opus", None),
        (ClaimWindow::SevenDaySonnet, "seven_day_sonnet", None),
    ] {
        api.set_mode(
            "alice",
            Mode::QuotaExhausted {
                window,
                resets_at: reset,
            },
        );
        let r = send(&api, ALICE, "hello").await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{claim}");
        assert_eq!(
            header(&r, "anthropic-ratelimit-unified-status"),
            Some("rejected")
        );
        assert_eq!(
            header(&r, "anthropic-ratelimit-unified-representative-claim"),
            Some(claim)
        );
        let reset_text = reset.to_string();
        assert_eq!(
            header(&r, "anthropic-ratelimit-unified-reset"),
            Some(reset_text.as_str())
        );
        let util = prefix.and_then(|p| {
            header(&r, &format!("anthropic-ratelimit-unified-{p}-utilization")).map(str::to_owned)
        });
        assert_eq!(util.as_deref(), prefix.map(|_| "1"), "{claim}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "rate_limit_error");
        assert!(body["error"]["message"].as_str().unwrap().len() > 10);
    }
    // Bob is untouched by Alice's mode.
    assert_eq!(send(&api, BOB, "hi").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_exhausted_window_flips_back_to_normal_when_its_reset_passes() {
    let api = start().await;
    let reset = now() + 2;
    api.set_mode(
        ALICE,
        Mode::QuotaExhausted {
            window: ClaimWindow::FiveHour,
            resets_at: reset,
        },
    );
    assert_eq!(
        send(&api, ALICE, "a").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = send(&api, ALICE, "b").await.status();
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(Instant::now() < deadline, "still exhausted after its reset");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(now() >= reset, "served normally before the reset");
}

#[tokio::test]
async fn near_limit_and_usage_modes_reply_with_utilization() {
    let api = start().await;
    let reset = now() + 7200;
    api.set_mode(
        "alice",
        Mode::NearLimit {
            window: ClaimWindow::FiveHour,
            utilization: 0.92,
            resets_at: reset,
        },
    );
    let r = send(&api, ALICE, "x").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-status"),
        Some("allowed_warning")
    );
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-5h-utilization"),
        Some("0.92")
    );
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-representative-claim"),
        Some("five_hour")
    );
    assert!(r.text().await.unwrap().contains("message_stop"));

    api.set_mode(
        "alice",
        Mode::Usage {
            window: ClaimWindow::SevenDay,
            utilization: 0.5,
            resets_at: reset,
        },
    );
    let r = send(&api, ALICE, "x").await;
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-status"),
        Some("allowed")
    );
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-7d-utilization"),
        Some("0.5")
    );
}

#[tokio::test]
async fn error_modes_answer_like_the_real_api() {
    let api = start().await;
    let cases = [
        (Mode::ServerError, 500, "api_error"),
        (Mode::Overloaded, 529, "overloaded_error"),
        (
            Mode::Throttled {
                retry_after_secs: 7,
            },
            429,
            "rate_limit_error",
        ),
        (Mode::Unauthorized, 401, "authentication_error"),
    ];
    for (mode, status, kind) in cases {
        api.set_mode("bob", mode);
        let r = send(&api, BOB, "x").await;
        assert_eq!(r.status().as_u16(), status, "{mode:?}");
        assert!(
            header(&r, "anthropic-ratelimit-unified-status").is_none(),
            "{mode:?} must not look like a quota"
        );
        if status == 429 {
            assert_eq!(header(&r, "retry-after"), Some("7"));
        }
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["type"], kind);
    }
    // No token at all is a rejected login.
    let r = reqwest::Client::new()
        .post(format!("{}/v1/messages", api.base_url()))
        .json(&json!({"messages":[]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn modes_switch_live_over_http_by_name_or_token() {
    let api = start().await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/_mock/accounts/alice/mode", api.base_url()))
        .body(r#"{"mode":"quota_exhausted","window":"seven_day","resets_in_secs":600}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    match api.mode(ALICE) {
        Some(Mode::QuotaExhausted {
            window: ClaimWindow::SevenDay,
            resets_at,
        }) => assert!(resets_at >= now() + 590 && resets_at <= now() + 600),
        other => panic!("unexpected mode {other:?}"),
    }
    assert_eq!(
        send(&api, ALICE, "x").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let r = http
        .post(format!("{}/_mock/accounts/{BOB}/mode", api.base_url()))
        .body(r#"{"mode":"overloaded"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(send(&api, BOB, "x").await.status().as_u16(), 529);
    let bad = http
        .post(format!("{}/_mock/accounts/bob/mode", api.base_url()))
        .body(r#"{"mode":"on_fire"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        api.mode("bob"),
        Some(Mode::Overloaded),
        "bad body changes nothing"
    );
    let accounts: Value = http
        .get(format!("{}/_mock/accounts", api.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(accounts.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn every_request_is_recorded_and_can_be_awaited() {
    let api = start().await;
    let http = reqwest::Client::new();
    let hello = http
        .head(format!("{}/api/hello", api.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(hello.status(), StatusCode::OK);
    let count = http
        .post(format!(
            "{}/v1/messages/count_tokens?beta=true",
            api.base_url()
        ))
        .bearer_auth(ALICE)
        .body("{\"messages\":[]}")
        .send()
        .await
        .unwrap();
    assert_eq!(count.status(), StatusCode::OK);
    assert!(count.json::<Value>().await.unwrap()["input_tokens"].is_u64());
    let unknown = http
        .get(format!("{}/api/oauth/whatever", api.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    api.set_mode("alice", Mode::ServerError);

    let waiter = api.wait_for_request(Duration::from_secs(5), |r| {
        r.last_user_text.as_deref() == Some("the interrupted prompt")
    });
    let (found, _) = tokio::join!(waiter, send(&api, ALICE, "the interrupted prompt"));
    let found = found.unwrap();
    assert_eq!(found.status, 500);
    assert_eq!(found.session_id.as_deref(), Some("sess-1"));
    assert_eq!(found.token.as_deref(), Some(ALICE));
    assert_eq!(found.account.as_deref(), Some("alice"));
    assert_eq!(found.message_count, Some(3));
    assert_eq!(found.path, "/v1/messages?beta=true");

    let log: Vec<Value> = http
        .get(format!("{}/_mock/requests", api.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths: Vec<&str> = log.iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "/api/hello",
            "/v1/messages/count_tokens?beta=true",
            "/api/oauth/whatever",
            "/v1/messages?beta=true"
        ]
    );
    assert_eq!(log[2]["status"], 404);
    assert!(
        api.wait_for_request(Duration::from_millis(200), |r| r.status == 418)
            .await
            .is_err()
    );
    api.shutdown().await.unwrap();
}

/// Sends a non-streamed request with `tools` and `messages` (a conversation turn when tools
/// are offered).
async fn send_turn(api: &MockApi, tools: Value, messages: Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{}/v1/messages?beta=true", api.base_url()))
        .bearer_auth(ALICE)
        .json(&json!({"model":"m","max_tokens":100,"tools":tools,"messages":messages}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

fn text_of(message: &Value) -> String {
    message["content"][0]["text"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn trap_modes_quote_or_print_limit_messages_in_conversation_turns_only() {
    use failover_sim::mock_api::{LIMIT_QUOTES, print_limits_command};
    let api = start().await;
    let bash = json!([{"name":"Bash","input_schema":{}}]);
    let prompt = json!([{"role":"user","content":"what do limits look like?"}]);

    api.set_mode("alice", Mode::QuoteLimits);
    let reply = send_turn(&api, bash.clone(), prompt.clone()).await;
    let text = text_of(&reply);
    for q in LIMIT_QUOTES {
        assert!(text.contains(q), "{q} in {text}");
    }
    assert!(text.ends_with(&ack_text("what do limits look like?")));
    // The title and probe requests offer no tools: an ordinary answer.
    let title = send_turn(&api, json!([]), prompt.clone()).await;
    assert_eq!(text_of(&title), ack_text("what do limits look like?"));

    api.set_mode(
        "alice",
        Mode::PrintLimits {
            hold_answer_secs: 1,
        },
    );
    let call = send_turn(&api, bash.clone(), prompt.clone()).await;
    assert_eq!(call["stop_reason"], "tool_use");
    assert_eq!(call["content"][0]["name"], "Bash");
    assert_eq!(
        call["content"][0]["input"]["command"].as_str(),
        Some(print_limits_command().as_str())
    );
    let id = call["content"][0]["id"].clone();
    let started = Instant::now();
    let answer = send_turn(
        &api,
        bash,
        json!([
            {"role":"user","content":"what do limits look like?"},
            {"role":"assistant","content":[call["content"][0].clone()]},
            {"role":"user","content":[{"type":"tool_result","tool_use_id":id,"content":LIMIT_QUOTES.join("\n")}]}
        ]),
    )
    .await;
    assert_eq!(text_of(&answer), ack_text("what do limits look like?"));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the answer after the tool is held"
    );
    api.shutdown().await.unwrap();
}

/// Claude Code taking a refused turn up by itself (`CLAUDE_CODE_RESUME_INTERRUPTED_TURN`)
/// sends "Continue from where you left off." after the history: the mock answers, as a
/// model would, the prompt that turn was about (past earlier continuations too), and a
/// request ending in a tool result keeps having no user text.
#[test]
fn a_continuation_is_answered_as_the_prompt_it_continues() {
    use failover_sim::mock_api::{CONTINUATION_PROMPT, last_user_text};
    let body = serde_json::json!({"messages": [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ACK: first"},
        {"role": "user", "content": [{"type": "text", "text": "the refused prompt\n"}]},
        {"role": "user", "content": [
            {"type": "text", "text": "<system-reminder>\ncontext\n</system-reminder>"},
            {"type": "text", "text": CONTINUATION_PROMPT}]},
        {"role": "user", "content": [{"type": "text", "text": CONTINUATION_PROMPT}]},
    ]});
    assert_eq!(last_user_text(&body).as_deref(), Some("the refused prompt"));
    let typed = serde_json::json!({"messages": [{"role": "user", "content": "typed"}]});
    assert_eq!(last_user_text(&typed).as_deref(), Some("typed"));
    let tool = serde_json::json!({"messages": [
        {"role": "user", "content": "run it"},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x", "content": "ok"}]},
    ]});
    assert_eq!(last_user_text(&tool), None);
}

/// Extra usage: the window ran out, yet the answer goes through, paid. The headers are the
/// ones Claude Code reads as "using extra usage", and the core's headers detector says so.
#[tokio::test]
async fn extra_usage_mode_answers_200_with_the_overage_headers() {
    use failover_core::quota::HeadersDetector;
    use failover_core::{DetectContext, QuotaDetector, Verdict};
    let api = start().await;
    let reset = now() + 3600;
    api.set_mode(
        "alice",
        Mode::ExtraUsage {
            window: ClaimWindow::FiveHour,
            resets_at: reset,
        },
    );
    let r = send(&api, ALICE, "hello").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-status"),
        Some("rejected")
    );
    assert_eq!(
        header(&r, "anthropic-ratelimit-unified-overage-status"),
        Some("allowed")
    );
    assert_eq!(header(&r, "retry-after"), None);
    let lines: String = r
        .headers()
        .iter()
        .filter_map(|(n, v)| Some(format!("{}: {}\n", n, v.to_str().ok()?)))
        .collect();
    let verdict = HeadersDetector::new()
        .detect(
            &lines,
            &DetectContext::utc(failover_core::UnixMillis::from_secs(now() as i64)),
        )
        .verdict;
    assert_eq!(
        verdict,
        Verdict::ExtraUsage {
            window: failover_core::LimitWindow::FiveHour,
            resets_at: Some(failover_core::UnixMillis::from_secs(reset as i64)),
        }
    );
    // A whole reply streams: the request was served.
    let body = r.text().await.unwrap();
    assert!(body.contains("message_stop"), "{body}");
}
