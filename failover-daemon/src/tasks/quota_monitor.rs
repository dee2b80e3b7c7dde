//! The quota monitor: turns observer events into engine inputs.
//!
//! Observers have already run the detector for their source (pane, transcript, statusline)
//! and kept repeated `clear` verdicts off the channel. The monitor counts each detection by
//! source and verdict for `/metrics`, and passes it to the dispatcher as
//! [`Input::Detection`], stamped with when the evidence was read so the dispatcher measures
//! detection latency when the engine receives it. Corroboration facts (an ordinary reply,
//! a new prompt, the statusline's use) go to the engine as they are. Session events (activity, exit,
//! conversation id) go to the session watcher.

use std::sync::Arc;

use failover_core::Input;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::DaemonError;
use crate::metrics::Metrics;
use crate::observe::ObserverEvent;

/// Where one observer event goes.
#[derive(Debug, PartialEq)]
pub enum Classified {
    /// To the engine.
    Input(Input),
    /// To the session watcher.
    Session(ObserverEvent),
}

/// Sorts one event, counting detections. Plain sync code, so tests can call it directly.
pub fn classify(event: ObserverEvent, metrics: &Metrics) -> Classified {
    match event {
        ObserverEvent::Observation {
            source,
            ref detection,
            ..
        } => {
            metrics.record_detection(source, detection.verdict.name());
            Classified::Input(Input::from(event))
        }
        ObserverEvent::Corroboration { .. } => Classified::Input(Input::from(event)),
        other => Classified::Session(other),
    }
}

/// Runs until `cancel`.
pub async fn run(
    mut observations: mpsc::Receiver<ObserverEvent>,
    metrics: Arc<Metrics>,
    inbox: mpsc::Sender<Input>,
    sessions: mpsc::Sender<ObserverEvent>,
    cancel: CancellationToken,
) -> Result<(), DaemonError> {
    loop {
        let event = tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(()),
            e = observations.recv() => match e {
                Some(e) => e,
                None => {
                    cancel.cancelled().await;
                    return Ok(());
                }
            },
        };
        let sent = match classify(event, &metrics) {
            Classified::Input(input) => inbox.send(input).await.is_ok(),
            Classified::Session(e) => sessions.send(e).await.is_ok(),
        };
        if !sent {
            return Ok(());
        }
    }
}
