//! Inbox watching with `notify` (and the folders of the transcripts the queue waits on). The
//! callback, on notify's thread, ignores access events (opening, reading or closing a file
//! changes nothing, and the dispatcher's own reads would wake it without end), only marks
//! which folder changed and `try_send`s a wake-up on a channel of one slot: when the slot is
//! full a wake-up is already pending and the marks are read with it, so nothing is lost and
//! nothing blocks.
//! A watcher overflow (or error) marks every inbox for a full rescan.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::QueueError;

#[derive(Debug, Default)]
struct Marks {
    dirty: Mutex<BTreeSet<PathBuf>>,
    rescan_all: AtomicBool,
}

/// What changed since the last [`InboxWatcher::take`].
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// Inbox directories with events.
    pub(crate) inboxes: BTreeSet<PathBuf>,
    /// Events were lost: rescan everything.
    pub(crate) rescan_all: bool,
}

/// Watches inbox directories; see the module docs.
pub(crate) struct InboxWatcher {
    watcher: RecommendedWatcher,
    marks: Arc<Marks>,
    watched: BTreeSet<PathBuf>,
}

impl std::fmt::Debug for InboxWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboxWatcher")
            .field("watched", &self.watched)
            .finish()
    }
}

impl InboxWatcher {
    /// A watcher that wakes `wake` on changes.
    pub(crate) fn new(wake: mpsc::Sender<()>) -> Result<Self, QueueError> {
        let marks = Arc::new(Marks::default());
        let cb_marks = Arc::clone(&marks);
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            match res {
                // Opening or reading a file is no change; the dispatcher's own reads (task
                // files, transcripts) would otherwise wake it again and again.
                Ok(event) if event.kind.is_access() => return,
                Ok(event) if !event.need_rescan() => {
                    if let Ok(mut dirty) = cb_marks.dirty.lock() {
                        for path in &event.paths {
                            if let Some(dir) = path.parent() {
                                dirty.insert(dir.to_path_buf());
                            }
                        }
                    }
                }
                _ => cb_marks.rescan_all.store(true, Ordering::SeqCst),
            }
            // Full means a wake-up is already pending; closed means the runner is gone.
            let _ = wake.try_send(());
        })
        .map_err(|source| QueueError::Watch {
            path: PathBuf::new(),
            source,
        })?;
        Ok(Self {
            watcher,
            marks,
            watched: BTreeSet::new(),
        })
    }

    /// Starts watching `inbox` (once).
    pub(crate) fn watch(&mut self, inbox: &Path) -> Result<(), QueueError> {
        if self.watched.contains(inbox) {
            return Ok(());
        }
        self.watcher
            .watch(inbox, RecursiveMode::NonRecursive)
            .map_err(|source| QueueError::Watch {
                path: inbox.to_path_buf(),
                source,
            })?;
        self.watched.insert(inbox.to_path_buf());
        Ok(())
    }

    /// Takes the marks accumulated since the last call.
    pub(crate) fn take(&self) -> Changes {
        let inboxes = self
            .marks
            .dirty
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default();
        Changes {
            inboxes,
            rescan_all: self.marks.rescan_all.swap(false, Ordering::SeqCst),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Reading a file is no change: the queue reads the transcripts it watches, and each
    /// read waking it again kept it reading without end.
    #[tokio::test]
    async fn reading_a_file_marks_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("t.jsonl"), "x\n").unwrap();
        let (tx, mut rx) = mpsc::channel(1);
        let mut w = InboxWatcher::new(tx).unwrap();
        w.watch(&a).unwrap();
        w.watch(&b).unwrap();
        for _ in 0..3 {
            std::fs::read_to_string(a.join("t.jsonl")).unwrap();
        }
        // Events come in order: once b's change is marked, a's reads have been seen.
        std::fs::write(b.join("t.md"), "x").unwrap();
        let mut seen = Changes::default();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !seen.inboxes.contains(&b) {
            assert!(tokio::time::Instant::now() < deadline, "no wake-up for b");
            let _ = tokio::time::timeout(Duration::from_millis(50), rx.recv()).await;
            let c = w.take();
            seen.inboxes.extend(c.inboxes);
            seen.rescan_all |= c.rescan_all;
        }
        assert!(!seen.inboxes.contains(&a), "{seen:?}");
        assert!(!seen.rescan_all);
    }

    #[tokio::test]
    async fn a_new_file_wakes_and_marks_its_inbox() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let (tx, mut rx) = mpsc::channel(1);
        let mut w = InboxWatcher::new(tx).unwrap();
        w.watch(&a).unwrap();
        w.watch(&b).unwrap();
        w.watch(&a).unwrap(); // twice is once
        std::fs::write(b.join("t.md"), "x").unwrap();
        tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("no wake-up")
            .unwrap();
        // The wake-up may come before every event of the write is marked; gather for a bit.
        let mut seen = Changes::default();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !seen.inboxes.contains(&b) && tokio::time::Instant::now() < deadline {
            let c = w.take();
            seen.inboxes.extend(c.inboxes);
            seen.rescan_all |= c.rescan_all;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(seen.inboxes.contains(&b), "{seen:?}");
        assert!(!seen.inboxes.contains(&a));
        assert!(!seen.rescan_all);
    }
}
