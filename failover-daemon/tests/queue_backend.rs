//! Wiring of `BackendDeliver`: prompts go to `SessionBackend::send_input`, refusals become
//! "not delivered", and probes read the session's transcript.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use failover_core::backend::MockSessionBackend;
use failover_core::{BackendError, SessionId};
use failover_daemon::queue::backend::BackendDeliver;
use failover_daemon::queue::{Deliver, DeliverError, Delivery, Probe};
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
async fn sends_through_the_backend_and_maps_refusals() {
    let mut backend = MockSessionBackend::new();
    let calls = AtomicUsize::new(0);
    backend
        .expect_send_input()
        .withf(|s, text| s.as_str() == "ccl-0" && text == "Fix it")
        .times(2)
        .returning(move |s, _| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Ok(())
            } else {
                Err(BackendError::InputRejected {
                    session: s.clone(),
                    reason: "pane in copy mode".into(),
                })
            }
        });
    let deliver = BackendDeliver::new(Arc::new(backend), None);
    deliver.deliver(&delivery("Fix it")).await.unwrap();
    assert!(matches!(
        deliver.deliver(&delivery("Fix it")).await,
        Err(DeliverError::NotDelivered(_))
    ));
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
        Arc::new(MockSessionBackend::new()),
        Some(Arc::new(move |_: &Delivery| Some(path.clone()))),
    );
    assert_eq!(deliver.probe(&delivery("Fix it")).await, Probe::Received);
    assert_eq!(deliver.probe(&delivery("Other")).await, Probe::NotReceived);
}
