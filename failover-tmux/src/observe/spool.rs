//! [`StatuslineWatcher`]: `notify` on the statusline spool folders.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use failover_core::quota::StatuslineDetector;
use failover_core::{
    AccountId, ClaudeSessionId, DetectContext, QuotaDetector, SessionId, SignalSource, Subject,
};
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc::{self, Sender};

use super::ObserverEvent;
use super::fs_events::may_change_content;
use super::gate::Gate;
use crate::clock;
use crate::error::{FsError, ObserveError};
use crate::statusline::UNATTACHED;

/// Capacity of the queue between the `notify` callback and the watcher task.
const QUEUE: usize = 256;

/// Reads each statusline document the hook spools (see [`crate::statusline`]): runs the
/// statusline detector on it (about the account whose spool it is), reports the windows'
/// use to the session that wrote it ([`ObserverEvent::Corroboration`]), and reports the
/// conversation id of the session that wrote it when that id is new. A document identical
/// to the one last read from the same file is skipped: same evidence, nothing to say.
pub struct StatuslineWatcher {
    spools: Vec<(AccountId, PathBuf)>,
    detector: Arc<dyn QuotaDetector>,
    tx: Sender<ObserverEvent>,
    zone: jiff::tz::TimeZone,
    /// Reads the windows' use for [`ObserverEvent::Corroboration`].
    usage: StatuslineDetector,
}

impl std::fmt::Debug for StatuslineWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatuslineWatcher")
            .field("spools", &self.spools)
            .finish_non_exhaustive()
    }
}

impl StatuslineWatcher {
    /// A watcher of each account's spool folder (created if missing).
    pub fn new(
        spools: Vec<(AccountId, PathBuf)>,
        detector: Arc<dyn QuotaDetector>,
        tx: Sender<ObserverEvent>,
    ) -> Self {
        Self {
            spools,
            detector,
            tx,
            zone: jiff::tz::TimeZone::UTC,
            usage: StatuslineDetector::new(),
        }
    }

    /// Resolves reset times that name no zone in `zone` (default UTC).
    pub fn with_time_zone(mut self, zone: jiff::tz::TimeZone) -> Self {
        self.zone = zone;
        self
    }

    /// Watches until the receiver is dropped or the watcher fails.
    pub async fn run(self) -> Result<(), ObserveError> {
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
            path: PathBuf::new(),
            source,
        })?;
        let mut accounts = HashMap::new();
        for (account, dir) in &self.spools {
            std::fs::create_dir_all(dir).map_err(FsError::io("create", dir))?;
            let dir = std::fs::canonicalize(dir).map_err(FsError::io("resolve", dir))?;
            watcher
                .watch(&dir, RecursiveMode::NonRecursive)
                .map_err(|source| FsError::Watch {
                    path: dir.clone(),
                    source,
                })?;
            accounts.insert(dir, account.clone());
        }
        let mut gate = Gate::new();
        let mut learned: HashMap<SessionId, ClaudeSessionId> = HashMap::new();
        let mut models: HashMap<SessionId, String> = HashMap::new();
        // The document last read from each file: the hook rewrites it on every statusline
        // refresh, and the same bytes again are no new evidence.
        let mut last_doc: HashMap<PathBuf, String> = HashMap::new();
        loop {
            let event = tokio::select! {
                e = nrx.recv() => e,
                () = self.tx.closed() => return Ok(()),
            };
            let Some(event) = event else { return Ok(()) };
            let mut paths = event.map(|e| e.paths).unwrap_or_default();
            if overflow.swap(false, Ordering::Relaxed) {
                for dir in accounts.keys() {
                    if let Ok(entries) = std::fs::read_dir(dir) {
                        paths.extend(entries.flatten().map(|e| e.path()));
                    }
                }
            }
            paths.sort();
            paths.dedup();
            for path in paths {
                let Some(account) = path.parent().and_then(|d| accounts.get(d)) else {
                    continue;
                };
                let Some(stem) = spool_stem(&path) else {
                    continue;
                };
                let Ok(doc) = std::fs::read_to_string(&path) else {
                    last_doc.remove(&path);
                    continue; // replaced or removed since the event
                };
                if last_doc.get(&path) == Some(&doc) {
                    continue;
                }
                last_doc.insert(path.clone(), doc.clone());
                let observed_at = clock::now();
                let ctx = DetectContext {
                    observed_at,
                    local_zone: self.zone.clone(),
                };
                if stem != UNATTACHED {
                    let session = SessionId::new(stem);
                    if let Some(fact) = self.usage.corroboration(&doc, &ctx) {
                        let _ = self
                            .tx
                            .send(ObserverEvent::Corroboration {
                                session: session.clone(),
                                fact,
                                observed_at,
                            })
                            .await;
                    }
                    if let Some(model) = model_of(&doc) {
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
                    if let Some(id) = conversation_of(&doc) {
                        if learned.get(&session) != Some(&id) {
                            learned.insert(session.clone(), id.clone());
                            let _ = self
                                .tx
                                .send(ObserverEvent::ClaudeSessionLearned {
                                    session,
                                    claude_session: id,
                                })
                                .await;
                        }
                    }
                }
                let detection = self.detector.detect(&doc, &ctx);
                if gate.pass(path.clone(), &detection) {
                    let _ = self
                        .tx
                        .send(ObserverEvent::Observation {
                            subject: Subject::Account(account.clone()),
                            source: SignalSource::Statusline,
                            detection,
                            observed_at,
                        })
                        .await;
                }
            }
        }
    }
}

/// The session name of a finished spool file (`<name>.json`); temporaries start with `.`.
fn spool_stem(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".json")?;
    (!stem.is_empty() && !stem.starts_with('.')).then(|| stem.to_owned())
}

/// The statusline document's `model.id` (a bare string `model` is taken too).
fn model_of(doc: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(doc).ok()?;
    let model = v.get("model")?;
    let id = model.get("id").unwrap_or(model).as_str()?;
    (!id.is_empty()).then(|| id.to_owned())
}

fn conversation_of(doc: &str) -> Option<ClaudeSessionId> {
    let v: serde_json::Value = serde_json::from_str(doc).ok()?;
    let id = v.get("session_id")?.as_str()?;
    (!id.is_empty()).then(|| ClaudeSessionId::new(id))
}
