//! The quota monitor: turns observations into engine inputs.
//!
//! Evidence (pane text, transcript lines, statusline documents, response headers) goes
//! through the detector for its source and becomes [`Input::Detection`], stamped with when the
//! evidence was produced so the dispatcher can measure detection latency. A `clear` verdict is
//! only passed on when it follows a different verdict for the same subject and source, so a
//! redrawing pane does not flood the engine. Session observations (activity, conversation id,
//! exit) are handed to the session watcher.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use failover_core::{DetectContext, Input, QuotaDetector, SignalSource, Subject, Verdict};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::DaemonError;
use crate::metrics::Metrics;
use crate::observe::Observation;

/// Classifies evidence with the configured detectors.
pub struct Monitor {
    detectors: BTreeMap<SignalSource, Arc<dyn QuotaDetector>>,
    zone: jiff::tz::TimeZone,
    last: HashMap<(SubjectKey, SignalSource), &'static str>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("sources", &self.detectors.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum SubjectKey {
    Session(String),
    Account(String),
}

impl From<&Subject> for SubjectKey {
    fn from(s: &Subject) -> Self {
        match s {
            Subject::Session(s) => Self::Session(s.to_string()),
            Subject::Account(a) => Self::Account(a.to_string()),
        }
    }
}

/// What one observation turned into.
#[derive(Debug, PartialEq)]
pub enum Classified {
    /// An input for the engine.
    Input(Input),
    /// A session observation for the session watcher.
    Session(Observation),
    /// Nothing to tell (no detector, or a repeated clear verdict).
    Nothing,
}

impl Monitor {
    /// A monitor using `detectors` (the last one given for a source wins).
    pub fn new(
        detectors: &[Arc<dyn QuotaDetector>],
        zone: jiff::tz::TimeZone,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            detectors: detectors.iter().map(|d| (d.source(), d.clone())).collect(),
            zone,
            last: HashMap::new(),
            metrics,
        }
    }

    /// Classifies one observation. Plain sync code, so tests can call it directly.
    pub fn classify(&mut self, obs: Observation) -> Classified {
        let (subject, source, evidence, observed_at) = match obs {
            Observation::Pane {
                session,
                text,
                observed_at,
            } => (
                Subject::Session(session),
                SignalSource::Pane,
                text,
                observed_at,
            ),
            Observation::TranscriptLine {
                session,
                line,
                observed_at,
            } => (
                Subject::Session(session),
                SignalSource::Transcript,
                line,
                observed_at,
            ),
            Observation::Statusline {
                subject,
                json,
                observed_at,
            } => (subject, SignalSource::Statusline, json, observed_at),
            Observation::Headers {
                subject,
                text,
                observed_at,
            } => (subject, SignalSource::Headers, text, observed_at),
            other => return Classified::Session(other),
        };
        let Some(detector) = self.detectors.get(&source) else {
            return Classified::Nothing;
        };
        let ctx = DetectContext {
            observed_at,
            local_zone: self.zone.clone(),
        };
        let detection = detector.detect(&evidence, &ctx);
        let verdict = detection.verdict.name();
        self.metrics.record_detection(source, verdict);
        let key = (SubjectKey::from(&subject), source);
        let previous = self.last.insert(key, verdict);
        if matches!(detection.verdict, Verdict::Clear) && previous.is_none_or(|p| p == "clear") {
            return Classified::Nothing;
        }
        Classified::Input(Input::Detection {
            subject,
            source,
            detection,
            observed_at,
        })
    }
}

/// Runs until `cancel` or until every observer is gone.
pub async fn run(
    mut monitor: Monitor,
    mut observations: mpsc::Receiver<Observation>,
    inbox: mpsc::Sender<Input>,
    sessions: mpsc::Sender<Observation>,
    cancel: CancellationToken,
) -> Result<(), DaemonError> {
    loop {
        let obs = tokio::select! {
            biased;
            () = cancel.cancelled() => return Ok(()),
            o = observations.recv() => match o {
                Some(o) => o,
                None => {
                    tracing::debug!("every observer is gone");
                    cancel.cancelled().await;
                    return Ok(());
                }
            },
        };
        match monitor.classify(obs) {
            Classified::Input(input) => {
                if inbox.send(input).await.is_err() {
                    return Ok(());
                }
            }
            Classified::Session(o) => {
                if sessions.send(o).await.is_err() {
                    return Ok(());
                }
            }
            Classified::Nothing => {}
        }
    }
}
