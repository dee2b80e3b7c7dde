//! [`TranscriptWatcher`]: `notify` on the shared projects tree, tailing each transcript.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use failover_core::quota::TranscriptDetector;
use failover_core::{
    ClaudeSessionId, Corroboration, DetectContext, QuotaDetector, SessionId, SignalSource, Subject,
    Verdict,
};
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc::{self, Sender};

use super::ObserverEvent;
use super::fs_events::may_change_content;
use super::gate::Gate;
use crate::clock;
use crate::error::{FsError, ObserveError};
use crate::transcript::Tail;

/// Capacity of the queue between the `notify` callback and the watcher task.
const QUEUE: usize = 1024;

/// Which conversation belongs to which session. Cheap to clone; share it with whoever
/// learns conversation ids (launch results, statusline events).
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    map: Arc<Mutex<HashMap<ClaudeSessionId, SessionId>>>,
}

impl Tracker {
    /// Lines of `conversation`'s transcript are now about `session`.
    pub fn track(&self, conversation: ClaudeSessionId, session: SessionId) {
        if let Ok(mut m) = self.map.lock() {
            m.insert(conversation, session);
        }
    }

    /// Stops attributing `conversation`'s lines.
    pub fn untrack(&self, conversation: &ClaudeSessionId) {
        if let Ok(mut m) = self.map.lock() {
            m.remove(conversation);
        }
    }

    fn session_of(&self, conversation: &str) -> Option<SessionId> {
        self.map
            .lock()
            .ok()?
            .get(&ClaudeSessionId::new(conversation))
            .cloned()
    }
}

/// Tails every `*.jsonl` under the shared projects tree and classifies each new line of a
/// tracked conversation (and reports its corroboration facts when they change). Transcripts present at start are read from their end (their
/// content is history); files created later are read from their start; a file that shrinks
/// or is replaced is read again from its start.
pub struct TranscriptWatcher {
    root: PathBuf,
    detector: Arc<dyn QuotaDetector>,
    tx: Sender<ObserverEvent>,
    tracker: Tracker,
    zone: jiff::tz::TimeZone,
    /// Reads the "all is well" facts of each line (ordinary reply, new prompt).
    facts: TranscriptDetector,
}

impl std::fmt::Debug for TranscriptWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TranscriptWatcher")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl TranscriptWatcher {
    /// A watcher of `root` (the shared projects tree), attributing lines through `tracker`.
    pub fn new(
        root: impl Into<PathBuf>,
        detector: Arc<dyn QuotaDetector>,
        tx: Sender<ObserverEvent>,
        tracker: Tracker,
    ) -> Self {
        Self {
            root: root.into(),
            detector,
            tx,
            tracker,
            zone: jiff::tz::TimeZone::UTC,
            facts: TranscriptDetector::new(),
        }
    }

    /// Resolves reset times that name no zone in `zone` (default UTC).
    pub fn with_time_zone(mut self, zone: jiff::tz::TimeZone) -> Self {
        self.zone = zone;
        self
    }

    /// Watches until the receiver is dropped or the watcher fails.
    pub async fn run(mut self) -> Result<(), ObserveError> {
        // Watch the real folder: events name real paths, and a link would not be followed.
        self.root =
            std::fs::canonicalize(&self.root).map_err(FsError::io("resolve", &self.root))?;
        let (ntx, mut nrx) = mpsc::channel::<notify::Result<notify::Event>>(QUEUE);
        let overflow = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&overflow);
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if res.as_ref().is_ok_and(|e| !may_change_content(&e.kind)) {
                return; // an open or a read: ours, or at least no new content
            }
            if ntx.try_send(res).is_err() {
                flag.store(true, Ordering::Relaxed);
            }
        })
        .map_err(|source| FsError::Watch {
            path: self.root.clone(),
            source,
        })?;
        watcher
            .watch(&self.root, RecursiveMode::Recursive)
            .map_err(|source| FsError::Watch {
                path: self.root.clone(),
                source,
            })?;
        let mut tails: HashMap<PathBuf, Tail> = HashMap::new();
        for path in jsonl_files(&self.root) {
            if let Ok(t) = Tail::at_end(&path) {
                tails.insert(path, t);
            }
        }
        let mut gate = Gate::new();
        let mut facts = Facts::default();
        // The model each session's assistant lines last named.
        let mut models: HashMap<SessionId, String> = HashMap::new();
        loop {
            let event = tokio::select! {
                e = nrx.recv() => e,
                () = self.tx.closed() => return Ok(()),
            };
            let Some(event) = event else { return Ok(()) };
            let mut paths = match event {
                Ok(e) => e.paths,
                Err(e) => {
                    tracing::warn!(error = %e, "transcript watcher error; rescanning");
                    Vec::new()
                }
            };
            if overflow.swap(false, Ordering::Relaxed) {
                tracing::warn!("transcript events were dropped; rescanning");
                paths.extend(jsonl_files(&self.root));
            }
            for path in paths {
                if path.is_dir() {
                    // A new project folder: files may have been created before the watch.
                    for p in jsonl_files(&path) {
                        self.read(&mut tails, &mut gate, &mut facts, &mut models, p)
                            .await;
                    }
                } else if is_jsonl(&path) {
                    self.read(&mut tails, &mut gate, &mut facts, &mut models, path)
                        .await;
                }
            }
        }
    }

    async fn read(
        &self,
        tails: &mut HashMap<PathBuf, Tail>,
        gate: &mut Gate<ClaudeSessionId>,
        facts: &mut Facts,
        models: &mut HashMap<SessionId, String>,
        path: PathBuf,
    ) {
        let tail = tails.entry(path.clone()).or_insert_with(Tail::from_start);
        let lines = match tail.read_new(&path) {
            Ok(l) => l,
            Err(_) => {
                tails.remove(&path);
                return;
            }
        };
        let Some(conversation) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            return;
        };
        let Some(session) = self.tracker.session_of(&conversation) else {
            return;
        };
        for line in lines {
            if let Some(model) = model_of(&line) {
                if models.get(&session) != Some(&model) {
                    models.insert(session.clone(), model.clone());
                    let _ = self
                        .tx
                        .send(ObserverEvent::ModelLearned {
                            session: session.clone(),
                            model,
                        })
                        .await;
                }
            }
            let observed_at = clock::now();
            let ctx = DetectContext {
                observed_at,
                local_zone: self.zone.clone(),
            };
            let detection = self.detector.detect(&line, &ctx);
            let key = ClaudeSessionId::new(conversation.clone());
            if detection.verdict != Verdict::Clear {
                // The engine drops the reply's word on an error line: say it again later.
                facts.last.remove(&key);
            } else if let Some(fact) = self.facts.corroboration(&line) {
                if facts.last.get(&key) != Some(&fact) {
                    facts.last.insert(key.clone(), fact.clone());
                    let _ = self
                        .tx
                        .send(ObserverEvent::Corroboration {
                            session: session.clone(),
                            fact,
                            observed_at,
                        })
                        .await;
                }
            }
            if gate.pass(key, &detection) {
                let _ = self
                    .tx
                    .send(ObserverEvent::Observation {
                        subject: Subject::Session(session.clone()),
                        source: SignalSource::Transcript,
                        detection,
                        observed_at,
                    })
                    .await;
            }
        }
    }
}

/// The last transcript fact sent per conversation: an ordinary reply or a new prompt is
/// reported when it changes, not for every line of a turn.
#[derive(Debug, Default)]
struct Facts {
    last: HashMap<ClaudeSessionId, Corroboration>,
}

/// The model an assistant line names (`message.model`); the CLI's own notices
/// (`<synthetic>`) name none.
fn model_of(line: &str) -> Option<String> {
    if !line.contains("\"model\"") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v.get("type").and_then(serde_json::Value::as_str) != Some("assistant") {
        return None;
    }
    let model = v.get("message")?.get("model")?.as_str()?;
    (!model.is_empty() && !model.starts_with('<')).then(|| model.to_owned())
}

fn is_jsonl(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "jsonl")
}

/// Every `*.jsonl` under `dir`, following no links.
fn jsonl_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() && is_jsonl(&e.path()) {
                out.push(e.path());
            }
        }
    }
    out
}
