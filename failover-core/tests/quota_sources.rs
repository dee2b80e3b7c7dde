//! The structured detectors (headers, statusline, transcript) and source recognition, case by
//! case, beyond what the fixtures show.

use failover_core::quota::{
    Detectors, HeadersDetector, StatuslineDetector, TranscriptDetector, detect_auto, recognise,
};
use failover_core::{AuthReason, LimitWindow, SignalSource, TransientKind, UnixMillis};
use failover_core::{DetectContext, QuotaDetector, Verdict};

/// 2026-11-26T08:00:00Z
const NOW: i64 = 1_795_680_000_000;

fn ctx() -> DetectContext {
    DetectContext::utc(UnixMillis(NOW))
}

fn headers(text: &str) -> Verdict {
    HeadersDetector::new().detect(text, &ctx()).verdict
}

#[test]
fn headers_rejected_takes_window_and_reset_from_the_best_source() {
    // Per-window status, no claim: the window comes from the rejected status, the reset
    // from that window's own header.
    assert_eq!(
        headers(
            "anthropic-ratelimit-unified-7d-status: rejected\n\
             anthropic-ratelimit-unified-7d-reset: 1795700000\n\
             anthropic-ratelimit-unified-5h-status: allowed"
        ),
        Verdict::QuotaExhausted {
            window: LimitWindow::Weekly,
            resets_at: Some(UnixMillis(1_795_700_000_000)),
        }
    );
    // No reset header at all: retry-after seconds from the observation.
    assert_eq!(
        headers(
            "anthropic-ratelimit-unified-status: rejected\n\
             anthropic-ratelimit-unified-representative-claim: seven_day_sonnet\n\
             retry-after: 60"
        ),
        Verdict::QuotaExhausted {
            window: LimitWindow::WeeklySonnet,
            resets_at: Some(UnixMillis(NOW + 60_000)),
        }
    );
    // An unknown claim is still a quota, of an unnamed window.
    assert!(matches!(
        headers(
            "anthropic-ratelimit-unified-status: rejected\nanthropic-ratelimit-unified-representative-claim: seven_day_fable"
        ),
        Verdict::QuotaExhausted {
            window: LimitWindow::Other,
            ..
        }
    ));
}

#[test]
fn headers_error_statuses_are_never_quota() {
    let cases = [
        (
            "HTTP/1.1 429 Too Many Requests\nretry-after: 5",
            Verdict::Transient {
                kind: TransientKind::Throttled,
            },
        ),
        (
            ":status: 529\nretry-after: 5",
            Verdict::Transient {
                kind: TransientKind::Overloaded,
            },
        ),
        (
            "HTTP/2 503",
            Verdict::Transient {
                kind: TransientKind::ServerError,
            },
        ),
        (
            "HTTP/2 401\nwww-authenticate: Bearer",
            Verdict::AuthRequired {
                reason: AuthReason::Rejected,
            },
        ),
        (
            "retry-after: 30",
            Verdict::Transient {
                kind: TransientKind::Throttled,
            },
        ),
        // A 429 whose unified status still allows: a throttle.
        (
            "HTTP/1.1 429\nanthropic-ratelimit-unified-status: allowed\nanthropic-ratelimit-unified-5h-utilization: 0.3",
            Verdict::Transient {
                kind: TransientKind::Throttled,
            },
        ),
        (
            "HTTP/1.1 200 OK\ncontent-type: application/json",
            Verdict::Clear,
        ),
        ("", Verdict::Clear),
    ];
    for (text, want) in cases {
        assert_eq!(headers(text), want, "{text}");
    }
}

#[test]
fn headers_allowed_reports_usage_above_the_floor_only() {
    assert_eq!(
        headers(
            "anthropic-ratelimit-unified-status: allowed\nanthropic-ratelimit-unified-5h-utilization: 0.3"
        ),
        Verdict::Clear
    );
    assert_eq!(
        headers(
            "anthropic-ratelimit-unified-status: allowed\n\
             anthropic-ratelimit-unified-5h-utilization: 0.3\n\
             anthropic-ratelimit-unified-7d-utilization: 0.75\n\
             anthropic-ratelimit-unified-7d-reset: 1795700000"
        ),
        Verdict::NearLimit {
            window: LimitWindow::Weekly,
            used_percent: 75.0,
            resets_at: Some(UnixMillis(1_795_700_000_000)),
        }
    );
}

fn statusline(json: &str) -> Verdict {
    StatuslineDetector::new().detect(json, &ctx()).verdict
}

#[test]
fn statusline_windows() {
    let later = 1_795_700_000;
    let earlier = 1_795_600_000;
    // The highest used window decides; windows that already reset are ignored.
    assert_eq!(
        statusline(&format!(
            r#"{{"rate_limits":{{"five_hour":{{"used_percentage":100,"resets_at":{earlier}}},
                "seven_day_opus":{{"used_percentage":64,"resets_at":{later}}}}}}}"#
        )),
        Verdict::NearLimit {
            window: LimitWindow::WeeklyOpus,
            used_percent: 64.0,
            resets_at: Some(UnixMillis(later * 1000)),
        }
    );
    assert_eq!(
        statusline(&format!(
            r#"{{"rate_limits":{{"seven_day_sonnet":{{"used_percentage":100.0,"resets_at":{later}}}}}}}"#
        )),
        Verdict::QuotaExhausted {
            window: LimitWindow::WeeklySonnet,
            resets_at: Some(UnixMillis(later * 1000)),
        }
    );
    assert_eq!(
        statusline(r#"{"rate_limits":{"five_hour":{"used_percentage":49.9}}}"#),
        Verdict::Clear
    );
    for bad in [
        "",
        "{",
        "[]",
        r#"{"rate_limits":[]}"#,
        r#"{"rate_limits":{"five_hour":{"used_percentage":"lots"}}}"#,
    ] {
        assert_eq!(statusline(bad), Verdict::Clear, "{bad}");
    }
}

#[test]
fn transcript_lines() {
    let t = TranscriptDetector::new();
    let line = |v: serde_json::Value| t.detect(&v.to_string(), &ctx()).verdict;
    // Structured quota fields win over the text's window and reset; a model's own weekly
    // window used up is near_limit at 100 % (the account still serves other models).
    assert_eq!(
        line(serde_json::json!({
            "type": "assistant", "isApiErrorMessage": true, "apiErrorStatus": 429,
            "quotaLimits": {"status": "rejected", "resetsAt": 1_795_700_000, "rateLimitType": "seven_day_opus"},
            "message": {"model": "<synthetic>", "content": [{"type": "text", "text": "Usage limit reached"}]}
        })),
        Verdict::NearLimit {
            window: LimitWindow::WeeklyOpus,
            used_percent: 100.0,
            resets_at: Some(UnixMillis(1_795_700_000_000)),
        }
    );
    // A bare 429 with unknown text is a throttle, never a quota.
    assert_eq!(
        line(serde_json::json!({
            "type": "assistant", "isApiErrorMessage": true, "apiErrorStatus": 429,
            "apiErrorType": "rate_limit_error", "error": "rate_limit",
            "message": {"model": "<synthetic>", "content": [{"type": "text", "text": "Something failed"}]}
        })),
        Verdict::Transient {
            kind: TransientKind::Throttled
        }
    );
    // A 401 with unknown text needs a login.
    assert_eq!(
        line(
            serde_json::json!({"isApiErrorMessage": true, "apiErrorStatus": 401, "error": "authentication_failed"})
        ),
        Verdict::AuthRequired {
            reason: AuthReason::Rejected
        }
    );
    // Replies and user turns quoting the wording are clear; so is a synthetic non-error.
    assert_eq!(
        line(
            serde_json::json!({"type": "user", "message": {"role": "user", "content": "You've hit your 5-hour limit · resets 9am"}})
        ),
        Verdict::Clear
    );
    assert_eq!(
        line(
            serde_json::json!({"type": "assistant", "message": {"model": "<synthetic>", "content": [{"type": "text", "text": "No response requested."}]}})
        ),
        Verdict::Clear
    );
    for bad in ["", "not json", "{\"type\":", "[1,2]", "null", "\u{feff}{}"] {
        assert_eq!(t.detect(bad, &ctx()).verdict, Verdict::Clear, "{bad:?}");
    }
}

#[test]
fn sources_are_recognised_by_shape() {
    assert_eq!(
        recognise(r#"{"session_id":"x","rate_limits":{}}"#),
        SignalSource::Statusline
    );
    assert_eq!(
        recognise("{\n  \"session_id\": \"x\",\n  \"workspace\": {}\n}"),
        SignalSource::Statusline
    );
    assert_eq!(
        recognise(r#"{"type":"user","message":{}}"#),
        SignalSource::Transcript
    );
    assert_eq!(
        recognise("{\"type\":\"user\"}\n{\"type\":\"assistant\"}\n"),
        SignalSource::Transcript
    );
    assert_eq!(
        recognise("HTTP/1.1 429 Too Many Requests\nretry-after: 3"),
        SignalSource::Headers
    );
    assert_eq!(
        recognise("anthropic-ratelimit-unified-status: allowed\nx-request-id: 1"),
        SignalSource::Headers
    );
    assert_eq!(
        recognise("❯ hi\n  ⎿  You've hit your 5-hour limit"),
        SignalSource::Pane
    );
    assert_eq!(
        recognise("note: retry-after is a header"),
        SignalSource::Pane
    );
    assert_eq!(recognise(""), SignalSource::Pane);

    // `detect_auto` names the source it recognised and agrees with the explicit source.
    let status = r#"{"rate_limits":{"five_hour":{"used_percentage":92,"resets_at":1795700000}}}"#;
    let detectors = Detectors::new();
    let auto = detect_auto(status, &ctx());
    assert_eq!(auto.source, SignalSource::Statusline);
    assert_eq!(
        auto.detection,
        detectors.detect(Some(SignalSource::Statusline), status, &ctx())
    );
    assert_eq!(detectors.detect(None, status, &ctx()), auto.detection);
    assert_eq!(
        detect_auto("❯ hi\n  ⎿  You've hit your 5-hour limit", &ctx()).source,
        SignalSource::Pane
    );
    assert_eq!(
        "Statusline".parse::<SignalSource>(),
        Ok(SignalSource::Statusline)
    );
    assert!("fax".parse::<SignalSource>().is_err());
    assert!("auto".parse::<SignalSource>().is_err());
}

#[test]
fn transcript_lines_say_when_the_model_answered_and_when_a_turn_began() {
    use failover_core::Corroboration;
    let d = TranscriptDetector::new();
    // A reply quoting a limit message word for word is an ordinary reply.
    let reply = r#"{"type":"assistant","message":{"model":"claude-opus-4","role":"assistant","content":[{"type":"text","text":"You've hit your weekly limit · resets Dec 9, 5am (UTC)"}]}}"#;
    assert_eq!(d.corroboration(reply), Some(Corroboration::OrdinaryReply));
    assert_eq!(d.detect(reply, &ctx()).verdict, Verdict::Clear);
    let tool_call = r#"{"type":"assistant","message":{"model":"claude-opus-4","content":[{"type":"tool_use","name":"Bash","input":{"command":"printf x"}}]}}"#;
    assert_eq!(
        d.corroboration(tool_call),
        Some(Corroboration::OrdinaryReply)
    );
    // An API error is no answer, whatever its model field says.
    let error = r#"{"type":"assistant","isApiErrorMessage":true,"apiErrorStatus":429,"message":{"model":"<synthetic>","content":[{"type":"text","text":"You've hit your 5-hour limit · resets 9:38am (UTC)"}]}}"#;
    assert_eq!(d.corroboration(error), None);
    let synthetic = r#"{"type":"assistant","message":{"model":"<synthetic>","content":[{"type":"text","text":"No response requested."}]}}"#;
    assert_eq!(d.corroboration(synthetic), None);
    // A typed prompt begins a turn; tool results and the CLI's own lines do not.
    let prompt = r#"{"type":"user","message":{"role":"user","content":"what does the weekly limit look like?"}}"#;
    assert_eq!(d.corroboration(prompt), Some(Corroboration::PromptWritten));
    let prompt_items =
        r#"{"type":"user","message":{"role":"user","content":[{"type":"text","text":"go on"}]}}"#;
    assert_eq!(
        d.corroboration(prompt_items),
        Some(Corroboration::PromptWritten)
    );
    for own in [
        r#"{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"You've hit your 5-hour limit"}]}}"#,
        r#"{"type":"user","isMeta":true,"message":{"role":"user","content":"Caveat: the messages below were generated by the user while running local commands."}}"#,
        r#"{"type":"user","message":{"role":"user","content":"<command-name>/cost</command-name>"}}"#,
        r#"{"type":"user","message":{"role":"user","content":"<local-command-stdout>Total cost: $0.00</local-command-stdout>"}}"#,
        r#"{"type":"user","message":{"role":"user","content":[{"type":"text","text":"[Request interrupted by user]"}]}}"#,
        r#"{"type":"last-prompt","lastPrompt":"hello"}"#,
        "not json",
    ] {
        assert_eq!(d.corroboration(own), None, "{own}");
    }
}

#[test]
fn statusline_reports_every_window_not_yet_reset() {
    use failover_core::{Corroboration, WindowUsage};
    let now_s = NOW / 1000;
    let doc = format!(
        r#"{{"session_id":"x","rate_limits":{{"five_hour":{{"used_percentage":40,"resets_at":{}}},"seven_day":{{"used_percentage":12.5,"resets_at":{}}},"seven_day_opus":{{"used_percentage":99,"resets_at":{}}}}}}}"#,
        now_s + 3600,
        now_s + 86_400,
        now_s - 1
    );
    assert_eq!(
        StatuslineDetector::new().corroboration(&doc, &ctx()),
        Some(Corroboration::Usage(vec![
            WindowUsage {
                window: LimitWindow::FiveHour,
                used_percent: 40.0,
                resets_at: Some(UnixMillis((now_s + 3600) * 1000)),
            },
            WindowUsage {
                window: LimitWindow::Weekly,
                used_percent: 12.5,
                resets_at: Some(UnixMillis((now_s + 86_400) * 1000)),
            },
        ]))
    );
    assert_eq!(
        StatuslineDetector::new().corroboration(r#"{"session_id":"x"}"#, &ctx()),
        None
    );
}

/// Extra usage carrying on after a window ran out: Claude Code's own test
/// (`isUsingOverage`) is a rejected unified status with the overage allowed; the answer
/// went through, at a cost.
#[test]
fn headers_overage_allowed_is_extra_usage_not_a_quota() {
    for overage in ["allowed", "allowed_warning"] {
        assert_eq!(
            headers(&format!(
                "HTTP/1.1 200 OK\n\
                 anthropic-ratelimit-unified-status: rejected\n\
                 anthropic-ratelimit-unified-reset: 1795700000\n\
                 anthropic-ratelimit-unified-representative-claim: five_hour\n\
                 anthropic-ratelimit-unified-overage-status: {overage}"
            )),
            Verdict::ExtraUsage {
                window: LimitWindow::FiveHour,
                resets_at: Some(UnixMillis(1_795_700_000_000)),
            }
        );
    }
    // Overage refused (or absent): the window's quota is simply used up.
    for extra in [
        "anthropic-ratelimit-unified-overage-status: rejected\n\
         anthropic-ratelimit-unified-overage-disabled-reason: out_of_credits",
        "",
    ] {
        assert_eq!(
            headers(&format!(
                "HTTP/1.1 429 Too Many Requests\n\
                 anthropic-ratelimit-unified-status: rejected\n\
                 anthropic-ratelimit-unified-reset: 1795700000\n\
                 anthropic-ratelimit-unified-representative-claim: seven_day\n\
                 {extra}"
            )),
            Verdict::QuotaExhausted {
                window: LimitWindow::Weekly,
                resets_at: Some(UnixMillis(1_795_700_000_000)),
            }
        );
    }
    // Said outright on an answer that went through.
    assert_eq!(
        headers(
            "anthropic-ratelimit-unified-status: allowed\n\
             anthropic-ratelimit-unified-overage-in-use: true"
        ),
        Verdict::ExtraUsage {
            window: LimitWindow::Other,
            resets_at: None,
        }
    );
    assert_eq!(
        headers(
            "anthropic-ratelimit-unified-status: allowed\n\
             anthropic-ratelimit-unified-overage-in-use: false"
        ),
        Verdict::Clear
    );
}
