//! `BackendDeliver` over the core's `FakeBackend`: prompts go to `send_input`, failures map to
//! "not delivered" or "unknown", and probes read the session's transcript.

use std::sync::Arc;

use failover_core::testkit::{FakeBackend, FakeFailure, FakeOp};
use failover_core::{AccountId, ClaudeSessionId, SessionId};
use failover_queue::backend::BackendDeliver;
use failover_queue::{Deliver, DeliverError, Delivery, Probe};
use jiff::Timestamp;

fn delivery(prompt: &str) -> Delivery {
    Delivery {
        session: SessionId::new("ccl-0"),
        project: "/p".into(),
        task: "t.md".into(),
        attempt: 1,
        prompt: prompt.into(),
        recorded_at: "2026-11-26T09:00:00Z".parse::<Timestamp>().unwrap(),
    }
}

#[tokio::test]
async fn sends_through_the_backend_and_maps_failures() {
    let backend = Arc::new(FakeBackend::new());
    let s = SessionId::new("ccl-0");
    backend.insert_running(s.clone(), AccountId::new("a"), ClaudeSessionId::new("c"));
    backend.script_failure(FakeOp::SendInput, s.clone(), 2, FakeFailure::InputRejected);
    backend.script_failure(FakeOp::SendInput, s.clone(), 3, FakeFailure::Timeout);
    backend.script_failure(FakeOp::SendInput, s.clone(), 4, FakeFailure::Unavailable);
    let deliver = BackendDeliver::new(backend.clone(), None);

    deliver.deliver(&delivery("Fix it")).await.unwrap();
    assert_eq!(backend.last_input(&s).as_deref(), Some("Fix it"));
    // Refused, or the server unreachable: certainly not delivered.
    assert!(matches!(
        deliver.deliver(&delivery("Fix it")).await,
        Err(DeliverError::NotDelivered(_))
    ));
    // Timed out mid-way: may have been typed.
    assert!(matches!(
        deliver.deliver(&delivery("Fix it")).await,
        Err(DeliverError::Unknown(_))
    ));
    assert!(matches!(
        deliver.deliver(&delivery("Fix it")).await,
        Err(DeliverError::NotDelivered(_))
    ));
    backend.kill(&s);
    assert!(matches!(
        deliver.deliver(&delivery("Fix it")).await,
        Err(DeliverError::NotDelivered(_))
    ));
    assert_eq!(backend.session(&s).unwrap().inputs, ["Fix it"]);
    // No transcript locator: a probe cannot tell.
    assert_eq!(deliver.probe(&delivery("Fix it")).await, Probe::Unknown);
}

#[tokio::test]
async fn probes_the_transcript_found_by_the_locator() {
    let dir = tempfile::tempdir().unwrap();
    let transcript = dir.path().join("conv.jsonl");
    std::fs::write(
        &transcript,
        concat!(
            r#"{"type":"user","message":{"role":"user","content":"Fix it"},"timestamp":"2026-11-26T09:00:01Z"}"#,
            "\n"
        ),
    )
    .unwrap();
    let path = transcript.clone();
    let deliver = BackendDeliver::new(
        Arc::new(FakeBackend::new()),
        Some(Arc::new(move |_: &Delivery| Some(path.clone()))),
    );
    assert_eq!(deliver.probe(&delivery("Fix it")).await, Probe::Received);
    // Another prompt arrived since the delivery: whether ours was typed cannot be said.
    assert_eq!(deliver.probe(&delivery("Other")).await, Probe::Unknown);
    // Read to the end, nothing submitted since the delivery: certainly not received.
    std::fs::write(
        &transcript,
        concat!(
            r#"{"type":"user","message":{"role":"user","content":"Older"},"timestamp":"2026-11-26T08:59:00Z"}"#,
            "\n"
        ),
    )
    .unwrap();
    assert_eq!(deliver.probe(&delivery("Other")).await, Probe::NotReceived);
}
