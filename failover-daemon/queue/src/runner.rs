//! The queue runner: hands inbox tasks to idle sessions and follows each claim to its end.
//!
//! One task owns every project's queue while the daemon runs. It wakes on three things: the
//! sessions view changed, an inbox changed (a `notify` wake-up), or a deadline passed (a
//! file still being written, a delivered task whose session has stayed quiet). Each wake-up
//! runs one step: settle claims, then give each ready session the best task
//! it may take, then publish `status.json`.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::future::Future;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use failover_core::{AccountId, SessionId};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::fsio::write_atomic;
use crate::records::{ClaimRecordV1, OutcomeKind, RECORD_VERSION};
use crate::status::{ProjectStatusV1, PublishedState, SessionStatusV1};
use crate::store::{Ending, Store, session_dir_ok};
use crate::task::{TaskMeta, inspect};
use crate::watch::InboxWatcher;
use crate::{
    Deliver, DeliverError, Delivery, FailedTask, Probe, Queue, QueueError, SessionView,
    SessionsView,
};

/// How long to wait before retrying a project whose files could not be handled.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// While a delivered task's session is idle and has not been seen working on it, the queue
/// asks [`Deliver::probe`] whether its turn has already ended (a turn too short for the
/// session's observer to see, or one that ended while the daemon was down): this often at
/// first...
const CHECK_SOON: Duration = Duration::from_millis(100);
/// ...for this long...
const CHECK_SOON_FOR: Duration = Duration::from_secs(5);
/// ...then this often, until `unconfirmed_after`.
const CHECK_LATER: Duration = Duration::from_secs(1);

/// How long a session stays idle, with a transcript read to the end that lacks the prompt,
/// before the prompt is taken for never having arrived and is sent again (rather than
/// waiting for `unconfirmed_after`): covers the CLI writing its transcript line a moment
/// after the request, and a delivery recorded just before the daemon was killed.
const NOT_RECEIVED_GRACE: Duration = Duration::from_secs(3);

/// While a delivered task's session is working, how often the transcript is read for the
/// turn's end when the watcher brings no news (it cannot watch a folder that does not exist
/// yet; the CLI creates it with the conversation's first line).
const CHECK_WORKING: Duration = Duration::from_secs(1);

/// After a task's turn ended while the sessions view still says working, how often the
/// session's screen is asked whether it is idle ([`Deliver::idle_now`])...
const IDLE_RECHECK: Duration = Duration::from_millis(25);
/// ...and for how long, before leaving it to the view.
const IDLE_RECHECK_FOR: Duration = Duration::from_secs(1);

/// How long after a session refused a prompt because of a draft in its input box
/// ([`DeliverError::NotNow`]) it is offered again, while it stays idle.
const NOT_NOW_RETRY: Duration = Duration::from_secs(2);

/// When to look at the transcript again, `quiet` after the session last gave a sign of work.
fn next_check(now: Instant, quiet: Duration) -> Instant {
    now + if quiet < CHECK_SOON_FOR {
        CHECK_SOON
    } else {
        CHECK_LATER
    }
}

/// Runs the queue until `shutdown` completes or the sessions channel closes.
///
/// Serves the queues of the configured projects
/// ([`QueueConfig::projects`](crate::QueueConfig::projects)) only; a session takes
/// tasks from the project that is its directory. Starts by recovering every project's queue
/// from whatever a previous run left, and scanning every inbox. Errors on single files are
/// logged and retried; only a watcher that cannot start ends it with an error.
pub async fn run<F>(
    queue: Queue,
    sessions: watch::Receiver<SessionsView>,
    deliver: Arc<dyn Deliver>,
    shutdown: F,
) -> Result<(), QueueError>
where
    F: Future<Output = ()>,
{
    let (tasks, _) = watch::channel(CurrentTasks::new());
    run_publishing(queue, sessions, deliver, tasks, shutdown).await
}

/// Which task each session holds: what `status` shows beside the session.
pub type CurrentTasks = BTreeMap<SessionId, String>;

/// [`run`], also publishing on `tasks` which task each session holds whenever that changes.
pub async fn run_publishing<F>(
    queue: Queue,
    mut sessions: watch::Receiver<SessionsView>,
    deliver: Arc<dyn Deliver>,
    tasks: watch::Sender<CurrentTasks>,
    shutdown: F,
) -> Result<(), QueueError>
where
    F: Future<Output = ()>,
{
    let (wake_tx, mut wake_rx) = mpsc::channel(1);
    let watcher = InboxWatcher::new(wake_tx)?;
    let mut core = Core::new(queue, watcher);
    core.tasks = Some(tasks);
    for dir in core.queue.config.projects.clone() {
        if blocking(|| core.project_of(&dir)).is_none() {
            tracing::warn!(project = %dir.display(), "queue: project directory not usable; \
                its queue is not served");
        }
    }
    tokio::pin!(shutdown);
    loop {
        let view = sessions.borrow_and_update().clone();
        blocking(|| core.set_view(view));
        core.step(deliver.as_ref()).await;
        let deadline = core.next_deadline();
        tokio::select! {
            biased;
            () = &mut shutdown => return Ok(()),
            changed = sessions.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
            }
            Some(()) = wake_rx.recv() => core.take_changes(),
            () = sleep_until(deadline) => {}
        }
    }
}

/// Runs file work so that it does not stall other tasks on a multi-thread runtime (the worker
/// thread hands its other tasks over first); inline on a current-thread runtime, where that is
/// not possible.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileKey {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

impl FileKey {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        }
    }
}

#[derive(Debug)]
enum Checked {
    /// A valid task.
    Ready(TaskMeta),
    /// Written too recently; look again at this instant.
    Wait(Instant),
}

#[derive(Debug)]
struct InboxEntry {
    key: FileKey,
    /// When this file was first seen with this key: unchanged since then counts as settled
    /// even when its mtime lies in the future (a clock set back, a copied mtime).
    seen_at: Instant,
    checked: Checked,
}

#[derive(Debug)]
struct Project {
    store: Store,
    inbox: BTreeMap<OsString, InboxEntry>,
    dirty: bool,
    retry_at: Option<Instant>,
    status: Option<ProjectStatusV1>,
}

/// A delivered claim being followed.
#[derive(Debug)]
struct Active {
    project: usize,
    record: ClaimRecordV1,
    /// The session was seen working since delivery (or since its last swap).
    saw_working: bool,
    /// `turns_started` when delivered (or when first seen after a restart or swap).
    baseline: Option<u64>,
    /// Since when the session has given no sign of working on it.
    quiet_since: Instant,
    /// The account the session was last seen on: a change means a swap happened.
    account: Option<AccountId>,
    /// When to ask [`Deliver::probe`] next whether the turn has ended (see [`CHECK_SOON`]).
    next_check: Instant,
    /// Set while the prompt is known not to have been typed (the session refused it for a
    /// draft in its input box): when to offer it again. Nothing the session does meanwhile
    /// counts as work on the task.
    send_again_at: Option<Instant>,
    /// The refusal was logged (once per claim).
    refusal_logged: bool,
    /// Delivered while the view still said working (the previous turn's end, learnt from
    /// the transcript before the session's observer saw it): that `working` is not this
    /// task's, until the view has shown the session idle.
    stale_working: bool,
    /// The folder of the delivery's transcript, once watched.
    transcript_dir: Option<PathBuf>,
    /// The watcher reported a change in that folder since the last probe.
    transcript_news: bool,
}

impl Active {
    fn new(project: usize, record: ClaimRecordV1, baseline: Option<u64>, now: Instant) -> Self {
        Self {
            project,
            account: record.account.clone(),
            record,
            saw_working: false,
            baseline,
            quiet_since: now,
            next_check: next_check(now, Duration::ZERO),
            send_again_at: None,
            refusal_logged: false,
            stale_working: false,
            transcript_dir: None,
            transcript_news: false,
        }
    }
}

/// What a step does with a delivered claim, judged from its session's view (not the core's
/// quota `Verdict`).
enum DeliveryVerdict {
    Wait,
    /// Not typed yet: offer it again.
    SendAgain,
    Done,
    Dead,
    /// Quiet for `unconfirmed_after`: settle it from the probe.
    Probe,
    /// Quiet for less: done if the probe shows its turn ended.
    Check,
    /// Working, and the transcript changed (or a while passed): done if it shows the turn's
    /// end.
    CheckEnded,
}

/// The runner's state; every method is plain code over the files, driven by [`run`].
struct Core {
    queue: Queue,
    watcher: InboxWatcher,
    projects: Vec<Project>,
    by_dir: HashMap<PathBuf, usize>,
    /// The configured projects, canonical (those that existed when looked at).
    served: Vec<PathBuf>,
    /// Directories found not to be a configured project (sessions' dirs not listed).
    unserved: std::collections::HashSet<PathBuf>,
    active: BTreeMap<SessionId, Active>,
    view: SessionsView,
    /// Where the task each session holds is published, if anyone listens.
    tasks: Option<watch::Sender<CurrentTasks>>,
    /// Sessions whose task's turn (or the model's reply) ended while the view said working:
    /// their screen is asked whether they are idle.
    idle_checks: BTreeMap<SessionId, IdleCheck>,
    /// Sessions whose screen showed an idle prompt after their task's turn ended, before the
    /// view did: ready for a task while `turns_started` is still this.
    idle_seen: BTreeMap<SessionId, u64>,
}

/// A session whose screen is asked whether it is idle (see [`Core::check_idle`]).
#[derive(Clone, Debug)]
struct IdleCheck {
    /// Asked until then.
    until: Instant,
    /// Its `turns_started` when asking began: a newer turn ends the asking.
    turns: u64,
    /// The task it holds, done once the screen is idle (its reply ended, the turn's end is
    /// not in the transcript yet: the CLI writes it up to 100 ms later); `None`: the task is
    /// done already, the session may take the next.
    completes: Option<String>,
}

fn log_err(what: &str, err: &QueueError) {
    tracing::warn!(error = %err, "queue: {what}");
}

impl Core {
    fn new(queue: Queue, watcher: InboxWatcher) -> Self {
        Self {
            queue,
            watcher,
            projects: Vec::new(),
            by_dir: HashMap::new(),
            served: Vec::new(),
            unserved: std::collections::HashSet::new(),
            active: BTreeMap::new(),
            view: SessionsView::default(),
            tasks: None,
            idle_checks: BTreeMap::new(),
            idle_seen: BTreeMap::new(),
        }
    }

    /// The project serving `dir`, opened (and recovered) on first sight; `None` unless `dir`
    /// is one of the configured projects. A session's own directory is served only when it
    /// is listed: a repository cloned with a committed `.agent-queue/inbox/` must not run its
    /// tasks unasked.
    fn project_of(&mut self, dir: &Path) -> Option<usize> {
        if let Some(&i) = self.by_dir.get(dir) {
            return Some(i);
        }
        if self.unserved.contains(dir) {
            return None;
        }
        let canonical = std::fs::canonicalize(dir).ok()?;
        if let Some(&i) = self.by_dir.get(&canonical) {
            self.by_dir.insert(dir.to_path_buf(), i);
            return Some(i);
        }
        if !self.served.contains(&canonical) {
            let listed = self
                .queue
                .config
                .projects
                .iter()
                .filter_map(|p| std::fs::canonicalize(p).ok())
                .any(|p| p == canonical);
            if !listed {
                tracing::debug!(dir = %dir.display(), "queue: not a configured project; not served");
                self.unserved.insert(dir.to_path_buf());
                return None;
            }
            self.served.push(canonical.clone());
        }
        let store = match Store::open(&canonical) {
            Ok(s) => s,
            Err(e) => {
                log_err("cannot open project queue", &e);
                return None;
            }
        };
        if let Err(e) = self.watcher.watch(&store.layout.inbox()) {
            log_err("cannot watch inbox", &e);
            return None;
        }
        let idx = self.projects.len();
        self.projects.push(Project {
            store,
            inbox: BTreeMap::new(),
            dirty: true,
            retry_at: None,
            status: None,
        });
        self.by_dir.insert(dir.to_path_buf(), idx);
        self.by_dir.insert(canonical, idx);
        self.recover(idx);
        Some(idx)
    }

    /// Finishes whatever a previous run (or a failed operation) left in project `idx`, and
    /// follows its delivered claims.
    fn recover(&mut self, idx: usize) {
        let now = Instant::now();
        match self.projects[idx].store.recover(self.queue.now()) {
            Ok(recovered) => {
                self.projects[idx].retry_at = None;
                for record in recovered.delivered {
                    match self.active.get(&record.session) {
                        Some(a) if a.record.task == record.task && a.project == idx => {}
                        Some(_) => {
                            // A session holds one task at a time; a second delivered claim
                            // can only come from outside meddling. Never re-send it.
                            self.end_claim(
                                idx,
                                record,
                                OutcomeKind::Failed,
                                "a second delivered claim for a session that holds another \
                                 task; outcome unknown",
                            );
                        }
                        None => {
                            tracing::info!(task = %record.task, session = %record.session,
                                "queue: following a claim delivered before a restart");
                            let mut active = Active::new(idx, record, None, now);
                            // The turn may have ended while the daemon was down.
                            active.next_check = now;
                            self.active.insert(active.record.session.clone(), active);
                        }
                    }
                }
            }
            Err(e) => {
                log_err("recovery failed; will retry", &e);
                self.projects[idx].retry_at = Some(now + RETRY_AFTER);
            }
        }
    }

    fn set_view(&mut self, view: SessionsView) {
        for s in &view.sessions {
            self.project_of(&s.dir);
        }
        self.view = view;
    }

    fn take_changes(&mut self) {
        let changes = self.watcher.take();
        for p in &mut self.projects {
            if changes.rescan_all || changes.inboxes.contains(&p.store.layout.inbox()) {
                p.dirty = true;
            }
        }
        for a in self.active.values_mut() {
            if changes.rescan_all
                || a.transcript_dir
                    .as_ref()
                    .is_some_and(|d| changes.inboxes.contains(d))
            {
                a.transcript_news = true;
            }
        }
    }

    /// Watches the folder of the transcript `delivery` goes to, if not yet: a change there
    /// wakes the dispatcher to look for the turn's end.
    fn watch_transcript(&mut self, name: &SessionId, delivery: &Delivery, deliver: &dyn Deliver) {
        let Some(a) = self.active.get_mut(name) else {
            return;
        };
        if a.transcript_dir.is_some() {
            return;
        }
        let Some(dir) = deliver
            .transcript_of(delivery)
            .and_then(|p| p.parent().map(Path::to_path_buf))
        else {
            return;
        };
        // A folder that does not exist yet is watched at a later look.
        if self.watcher.watch(&dir).is_ok() {
            a.transcript_dir = Some(dir);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |at: Instant| next = Some(next.map_or(at, |n| n.min(at)));
        for p in &self.projects {
            if let Some(at) = p.retry_at {
                consider(at);
            }
            for e in p.inbox.values() {
                if let Checked::Wait(at) = e.checked {
                    consider(at);
                }
            }
        }
        for (name, a) in &self.active {
            let Some(v) = self.session(name) else {
                continue;
            };
            if !v.alive || v.mid_swap {
                continue;
            }
            if !v.idle {
                if a.send_again_at.is_none() {
                    consider(a.next_check);
                }
            } else if let Some(at) = a.send_again_at {
                consider(at);
            } else {
                consider(a.quiet_since + self.queue.config.unconfirmed_after);
                consider(a.next_check);
            }
        }
        if !self.idle_checks.is_empty() {
            consider(Instant::now() + IDLE_RECHECK);
        }
        next
    }

    fn session(&self, name: &SessionId) -> Option<&SessionView> {
        self.view.sessions.iter().find(|s| &s.name == name)
    }

    /// One pass: retries, inbox rescans, claims, dispatch, status.
    async fn step(&mut self, deliver: &dyn Deliver) {
        let now = Instant::now();
        for idx in 0..self.projects.len() {
            if self.projects[idx].retry_at.is_some_and(|at| at <= now) {
                blocking(|| self.recover(idx));
                self.projects[idx].dirty = true;
            }
            let waiting = self.projects[idx]
                .inbox
                .values()
                .any(|e| matches!(e.checked, Checked::Wait(at) if at <= now));
            if self.projects[idx].dirty || waiting {
                blocking(|| self.rescan(idx));
            }
        }
        self.settle_claims(deliver).await;
        self.check_idle(deliver).await;
        self.dispatch(deliver).await;
        blocking(|| self.publish_status());
    }

    /// Re-reads project `idx`'s inbox: new files are checked (bad ones rejected to
    /// `failed/`), vanished ones forgotten.
    fn rescan(&mut self, idx: usize) {
        let settle = self.queue.config.write_settle;
        let max_bytes = self.queue.config.max_task_bytes;
        let p = &mut self.projects[idx];
        p.dirty = false;
        let names = match p.store.inbox_names() {
            Ok(n) => n,
            Err(e) => {
                log_err("cannot read inbox", &e);
                p.retry_at = Some(Instant::now() + RETRY_AFTER);
                return;
            }
        };
        p.inbox.retain(|name, _| names.contains(name));
        let inbox_dir = p.store.layout.inbox();
        for name in names {
            let path = inbox_dir.join(&name);
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                p.inbox.remove(&name);
                continue;
            };
            let key = FileKey::of(&meta);
            let now = Instant::now();
            let mut seen_at = now;
            if let Some(e) = p.inbox.get(&name) {
                if e.key == key {
                    if matches!(e.checked, Checked::Ready(_)) {
                        continue;
                    }
                    seen_at = e.seen_at;
                }
            }
            let by_mtime = meta
                .modified()
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .unwrap_or(Duration::ZERO);
            let age = by_mtime.max(now.saturating_duration_since(seen_at));
            if age < settle {
                let at = now + (settle - age);
                p.inbox.insert(
                    name,
                    InboxEntry {
                        key,
                        seen_at,
                        checked: Checked::Wait(at),
                    },
                );
                continue;
            }
            match inspect(&p.store.layout.project, &path, &name, &meta, max_bytes) {
                Ok(task) => {
                    p.inbox.insert(
                        name,
                        InboxEntry {
                            key,
                            seen_at,
                            checked: Checked::Ready(task.meta),
                        },
                    );
                }
                Err(bad) => {
                    p.inbox.remove(&name);
                    match p.store.reject(&name, &bad.to_string(), self.queue.now()) {
                        Ok(dest) => tracing::warn!(task = %dest, reason = %bad,
                            "queue: rejected a task file"),
                        Err(e) => log_err("cannot reject a bad task file", &e),
                    }
                }
            }
        }
    }

    /// Follows every delivered claim: done, dead session, or quiet too long.
    async fn settle_claims(&mut self, deliver: &dyn Deliver) {
        let now = Instant::now();
        let unconfirmed_after = self.queue.config.unconfirmed_after;
        let names: Vec<SessionId> = self.active.keys().cloned().collect();
        for name in names {
            let view = self.session(&name).cloned();
            let Some(active) = self.active.get_mut(&name) else {
                continue;
            };
            let claimed = self.projects[active.project]
                .store
                .claimed_path(&name, &active.record.task);
            if claimed.symlink_metadata().is_err() {
                // Sent back by the sweep (session gone) while we were not looking.
                self.active.remove(&name);
                continue;
            }
            let verdict = match &view {
                None => DeliveryVerdict::Wait,
                Some(v) if v.mid_swap => {
                    active.account = v.account.clone();
                    active.saw_working = false;
                    active.baseline = Some(v.turns_started);
                    active.quiet_since = now;
                    active.next_check = next_check(now, Duration::ZERO);
                    DeliveryVerdict::Wait
                }
                Some(v) if !v.alive => DeliveryVerdict::Dead,
                Some(v)
                    if active.record.claude_session.is_some()
                        && v.claude_session.is_some()
                        && v.claude_session != active.record.claude_session =>
                {
                    // Relaunched into a new conversation: the one holding the task is gone.
                    DeliveryVerdict::Dead
                }
                Some(v) if active.send_again_at.is_some() => {
                    // Not typed: whatever the session does now is not this task.
                    if v.idle && active.send_again_at.is_some_and(|at| now >= at) {
                        DeliveryVerdict::SendAgain
                    } else {
                        DeliveryVerdict::Wait
                    }
                }
                Some(v) => {
                    if v.account != active.account {
                        // Moved to another account without the queue seeing it mid-swap (the
                        // swap came and went between two views): only what follows counts.
                        active.account = v.account.clone();
                        active.saw_working = false;
                        active.baseline = Some(v.turns_started);
                        active.quiet_since = now;
                        active.next_check = next_check(now, Duration::ZERO);
                    }
                    let base = *active.baseline.get_or_insert(v.turns_started);
                    if v.idle {
                        // Any `working` from now on is this task's.
                        active.stale_working = false;
                    }
                    if !v.idle {
                        if !active.stale_working {
                            active.saw_working = true;
                            active.quiet_since = now;
                        }
                        if active.transcript_news || now >= active.next_check {
                            DeliveryVerdict::CheckEnded
                        } else {
                            DeliveryVerdict::Wait
                        }
                    } else if active.saw_working || v.turns_started > base {
                        DeliveryVerdict::Done
                    } else if now.saturating_duration_since(active.quiet_since) >= unconfirmed_after
                    {
                        DeliveryVerdict::Probe
                    } else if now >= active.next_check {
                        DeliveryVerdict::Check
                    } else {
                        DeliveryVerdict::Wait
                    }
                }
            };
            match verdict {
                DeliveryVerdict::Wait => {}
                DeliveryVerdict::SendAgain => self.send_again(&name, view.as_ref(), deliver).await,
                DeliveryVerdict::Done => self.confirm_done(&name, view.as_ref(), deliver).await,
                DeliveryVerdict::Dead => blocking(|| self.session_died(&name)),
                DeliveryVerdict::Probe => self.probe(&name, view.as_ref(), deliver).await,
                DeliveryVerdict::Check => self.check(&name, view.as_ref(), deliver).await,
                DeliveryVerdict::CheckEnded => {
                    self.check_ended(&name, view.as_ref(), deliver).await
                }
            }
        }
    }

    fn complete(&mut self, name: &SessionId, view: Option<&SessionView>, note: Option<String>) {
        let Some(mut a) = self.active.remove(name) else {
            return;
        };
        let attempts = a.record.attempt;
        let ending = Ending {
            kind: OutcomeKind::Done,
            reason: note,
            attempts_used: attempts,
            account: view.and_then(|v| v.account.clone()),
            claude_session: view.and_then(|v| v.claude_session.clone()),
        };
        let store = &self.projects[a.project].store;
        match store.finish(&mut a.record, ending, self.queue.now()) {
            Ok(dest) => tracing::info!(task = %dest, session = %name, "queue: task done"),
            Err(e) => {
                log_err("cannot finish a done task; will retry", &e);
                self.projects[a.project].retry_at = Some(Instant::now() + RETRY_AFTER);
            }
        }
    }

    fn session_died(&mut self, name: &SessionId) {
        let Some(a) = self.active.remove(name) else {
            return;
        };
        let (project, record) = (a.project, a.record);
        if record.attempt >= record.max_attempts {
            let reason = format!(
                "session {name} died during attempt {} of {}",
                record.attempt, record.max_attempts
            );
            self.end_claim(project, record, OutcomeKind::Failed, &reason);
        } else {
            let reason = format!("session {name} died during attempt {}", record.attempt);
            self.end_claim(project, record, OutcomeKind::Requeue, &reason);
        }
    }

    /// Ends a claim that did not complete: back to the inbox or to `failed/` (reporting it).
    fn end_claim(
        &mut self,
        project: usize,
        mut record: ClaimRecordV1,
        kind: OutcomeKind,
        reason: &str,
    ) {
        let attempts_used = if record.delivered_at.is_some() {
            record.attempt
        } else {
            record.attempt.saturating_sub(1)
        };
        let ending = Ending {
            kind,
            reason: Some(reason.to_owned()),
            attempts_used,
            account: None,
            claude_session: None,
        };
        let session = record.session.clone();
        let store = &self.projects[project].store;
        match store.finish(&mut record, ending, self.queue.now()) {
            Ok(dest) => {
                let kind_name = match kind {
                    OutcomeKind::Done => "done",
                    OutcomeKind::Failed => "failed",
                    OutcomeKind::Requeue => "requeue",
                };
                tracing::warn!(task = %dest, %session, reason, kind = kind_name, "queue: claim ended");
                if kind == OutcomeKind::Failed {
                    self.queue.report_failed(&FailedTask {
                        project: store.layout.project.clone(),
                        task: dest,
                        session: Some(session),
                        reason: reason.to_owned(),
                    });
                }
            }
            Err(e) => {
                log_err("cannot end a claim; will retry", &e);
                self.projects[project].retry_at = Some(Instant::now() + RETRY_AFTER);
            }
        }
    }

    /// The session is idle and has not been seen working on its task: done if the probe shows
    /// the task's turn has ended; otherwise look again later.
    async fn check(&mut self, name: &SessionId, view: Option<&SessionView>, deliver: &dyn Deliver) {
        let delivery = self.active.get(name).and_then(|a| self.delivery_of(a));
        if let Some(d) = &delivery {
            self.watch_transcript(name, d, deliver);
        }
        let answer = match &delivery {
            Some(d) => deliver.probe(d).await,
            // Settled by the probe at `unconfirmed_after`.
            None => Probe::Unknown,
        };
        let quiet_for = self.active.get(name).map_or(Duration::ZERO, |a| {
            Instant::now().saturating_duration_since(a.quiet_since)
        });
        if matches!(answer, Probe::Finished | Probe::Replied) {
            blocking(|| self.complete(name, view, None));
        } else if answer == Probe::NotReceived && quiet_for >= NOT_RECEIVED_GRACE {
            // Read to the end, and the prompt is not there: settle it now.
            self.probe(name, view, deliver).await;
        } else if let Some(a) = self.active.get_mut(name) {
            let now = Instant::now();
            a.next_check = next_check(now, now.saturating_duration_since(a.quiet_since));
        }
    }

    /// The view shows the session idle after working: the task is done, unless its
    /// transcript, read to the end, shows the prompt never arrived (the `working` seen was
    /// not this task's: another turn's end drawn late, or the prompt still on its way). Then
    /// the task waits for its transcript like a turn never seen working.
    async fn confirm_done(
        &mut self,
        name: &SessionId,
        view: Option<&SessionView>,
        deliver: &dyn Deliver,
    ) {
        let delivery = self.active.get(name).and_then(|a| self.delivery_of(a));
        if let Some(d) = &delivery {
            if deliver.probe(d).await == Probe::NotReceived {
                if let Some(a) = self.active.get_mut(name) {
                    tracing::debug!(task = %d.task, session = %name,
                        "queue: seen working and idle, but the prompt is not in the transcript yet");
                    a.saw_working = false;
                    a.baseline = view.map(|v| v.turns_started);
                    a.next_check = next_check(Instant::now(), Duration::ZERO);
                }
                return;
            }
        }
        blocking(|| self.complete(name, view, None));
    }

    /// The session is working (as far as the view knows) and its transcript changed, or a
    /// while passed: done at once if the transcript shows the task's turn ended; then the
    /// session's screen is asked whether it is idle, so the next task need not wait for the
    /// view. When it shows only the model's reply ended (the CLI writes its transcript every
    /// 100 ms, and draws its idle prompt sooner), the screen is asked at once, and an idle
    /// prompt there ends the task as an idle view would.
    async fn check_ended(
        &mut self,
        name: &SessionId,
        view: Option<&SessionView>,
        deliver: &dyn Deliver,
    ) {
        let delivery = self.active.get(name).and_then(|a| self.delivery_of(a));
        if let Some(d) = &delivery {
            self.watch_transcript(name, d, deliver);
        }
        if let Some(a) = self.active.get_mut(name) {
            a.transcript_news = false;
            a.next_check = Instant::now() + CHECK_WORKING;
        }
        let Some(delivery) = delivery else {
            return;
        };
        let answer = deliver.probe(&delivery).await;
        let completes = match answer {
            Probe::Finished => {
                tracing::debug!(task = %delivery.task, session = %name,
                    "queue: the transcript shows the turn's end");
                blocking(|| self.complete(name, view, None));
                None
            }
            Probe::Replied => Some(delivery.task.clone()),
            _ => return,
        };
        if let Some(v) = view {
            let check = IdleCheck {
                until: Instant::now() + IDLE_RECHECK_FOR,
                turns: v.turns_started,
                completes,
            };
            match self.idle_checks.get(name) {
                // Already asking since the reply ended.
                Some(c) if c.completes == check.completes => {}
                _ => {
                    self.idle_checks.insert(name.clone(), check);
                }
            }
            // Asked now, not at the next wake-up.
            self.check_idle(deliver).await;
        }
    }

    /// Asks the screen of each session whose task's turn (or reply) ended before the view
    /// said idle whether it shows an idle prompt now (until the view says so, or it starts
    /// another turn, or [`IDLE_RECHECK_FOR`] passes). Idle: the task whose reply ended is
    /// done, and the session may take the next task at once.
    async fn check_idle(&mut self, deliver: &dyn Deliver) {
        let now = Instant::now();
        let due: Vec<(SessionId, IdleCheck)> = self
            .idle_checks
            .iter()
            .map(|(n, c)| (n.clone(), c.clone()))
            .collect();
        for (name, check) in due {
            let view = self.session(&name).cloned();
            let holds = self.active.get(&name).map(|a| &a.record.task);
            let still = view.as_ref().is_some_and(|v| {
                v.alive && !v.mid_swap && !v.idle && v.turns_started == check.turns
            }) && holds == check.completes.as_ref();
            if !still || now >= check.until {
                self.idle_checks.remove(&name);
                continue;
            }
            if !deliver.idle_now(&name).await {
                continue;
            }
            self.idle_checks.remove(&name);
            if check.completes.is_some() {
                tracing::debug!(session = %name,
                    "queue: the reply ended and the screen shows an idle prompt");
                blocking(|| self.complete(&name, view.as_ref(), None));
            }
            self.idle_seen.insert(name, check.turns);
        }
    }

    /// The session stayed idle without being seen to work on its task: ask whether the prompt
    /// ever arrived.
    async fn probe(&mut self, name: &SessionId, view: Option<&SessionView>, deliver: &dyn Deliver) {
        let Some(a) = self.active.get(name) else {
            return;
        };
        let Some(delivery) = self.delivery_of(a) else {
            // Changed into something that is not a task after it was claimed: it cannot be
            // sent again, and whether it ran is unknown.
            let Some(a) = self.active.remove(name) else {
                return;
            };
            self.end_claim(
                a.project,
                a.record,
                OutcomeKind::Failed,
                "outcome unknown, and the claimed task file can no longer be read",
            );
            return;
        };
        match deliver.probe(&delivery).await {
            Probe::Finished | Probe::Replied => self.complete(name, view, None),
            Probe::Received => self.complete(
                name,
                view,
                Some("completion not observed; the session had received the prompt".into()),
            ),
            Probe::NotReceived => {
                tracing::info!(task = %delivery.task, session = %name,
                    "queue: prompt recorded as delivered never arrived; sending it");
                if let Some(a) = self.active.get_mut(name) {
                    a.quiet_since = Instant::now();
                }
                self.send(name, &delivery, deliver).await;
            }
            Probe::Unknown => {
                let Some(a) = self.active.remove(name) else {
                    return;
                };
                self.end_claim(
                    a.project,
                    a.record,
                    OutcomeKind::Failed,
                    "outcome unknown: the session never showed work on it after delivery; it \
                     was not sent again (check the transcript, then retry if it did not run)",
                );
            }
        }
    }

    /// Offers a prompt the session refused earlier (a draft in its input box) again. It was
    /// never typed, so the delivery is recorded afresh first: what the session did
    /// meanwhile (the person sending their draft) is not taken for this task, and a probe
    /// after a restart looks for the prompt from now on.
    async fn send_again(
        &mut self,
        name: &SessionId,
        view: Option<&SessionView>,
        deliver: &dyn Deliver,
    ) {
        let Some(a) = self.active.get(name) else {
            return;
        };
        let Some(mut delivery) = self.delivery_of(a) else {
            let Some(a) = self.active.remove(name) else {
                return;
            };
            self.end_claim(
                a.project,
                a.record,
                OutcomeKind::Failed,
                "the claimed task file can no longer be read; it was never typed",
            );
            return;
        };
        let Some(a) = self.active.get_mut(name) else {
            return;
        };
        let mut record = a.record.clone();
        let recorded_at = self.queue.now();
        record.delivered_at = Some(recorded_at);
        let store = &self.projects[a.project].store;
        if let Err(e) = blocking(|| store.write_claim(&record)) {
            log_err("cannot record the delivery; will retry", &e);
            a.send_again_at = Some(Instant::now() + NOT_NOW_RETRY);
            return;
        }
        let now = Instant::now();
        a.record = record;
        a.saw_working = false;
        a.baseline = view.map(|v| v.turns_started);
        a.quiet_since = now;
        a.next_check = next_check(now, Duration::ZERO);
        a.send_again_at = None;
        delivery.recorded_at = recorded_at;
        tracing::info!(task = %delivery.task, session = %name, "queue: delivering again");
        self.send(name, &delivery, deliver).await;
        self.watch_transcript(name, &delivery, deliver);
    }

    fn delivery_of(&self, a: &Active) -> Option<Delivery> {
        let store = &self.projects[a.project].store;
        let path = store.claimed_path(&a.record.session, &a.record.task);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        let task = inspect(
            &store.layout.project,
            &path,
            path.file_name()?,
            &meta,
            self.queue.config.max_task_bytes,
        )
        .ok()?;
        Some(Delivery {
            session: a.record.session.clone(),
            project: store.layout.project.clone(),
            task: a.record.task.clone(),
            attempt: a.record.attempt,
            prompt: task.prompt,
            recorded_at: a.record.delivered_at.unwrap_or(a.record.claimed_at),
        })
    }

    /// Sends a prompt whose delivery is already recorded; handles a failed send.
    async fn send(&mut self, name: &SessionId, delivery: &Delivery, deliver: &dyn Deliver) {
        let sent =
            tokio::time::timeout(self.queue.config.deliver_timeout, deliver.deliver(delivery))
                .await
                .unwrap_or_else(|_| Err(DeliverError::Unknown("delivery timed out".into())));
        match sent {
            Ok(()) => {}
            Err(DeliverError::NotNow(why)) => {
                let Some(a) = self.active.get_mut(name) else {
                    return;
                };
                a.send_again_at = Some(Instant::now() + NOT_NOW_RETRY);
                if a.refusal_logged {
                    tracing::debug!(task = %delivery.task, session = %name, why,
                        "queue: still not typed; the task stays claimed");
                } else {
                    a.refusal_logged = true;
                    tracing::warn!(task = %delivery.task, session = %name, why,
                        "queue: the session cannot take the prompt now (a draft in its input \
                         box); the task stays claimed and is typed once the box is empty");
                }
            }
            Err(DeliverError::Unknown(why)) => {
                tracing::warn!(task = %delivery.task, session = %name, why,
                    "queue: delivery outcome unknown; watching the session");
            }
            Err(DeliverError::NotDelivered(why)) => {
                let Some(a) = self.active.remove(name) else {
                    return;
                };
                let reason = format!("delivery to {name} failed: {why}");
                let kind = if a.record.attempt >= a.record.max_attempts {
                    OutcomeKind::Failed
                } else {
                    OutcomeKind::Requeue
                };
                self.end_claim(a.project, a.record, kind, &reason);
            }
        }
    }

    /// Gives every ready session without a task the best task it may take.
    async fn dispatch(&mut self, deliver: &dyn Deliver) {
        // The screen's idle, seen after a turn's end the view has not caught up with, holds
        // only while the view shows nothing newer.
        let view = &self.view;
        self.idle_seen.retain(|name, turns| {
            view.sessions
                .iter()
                .any(|s| &s.name == name && !s.idle && s.turns_started == *turns)
        });
        let mut ready: Vec<SessionView> = self
            .view
            .sessions
            .iter()
            .filter(|s| {
                (s.ready() || (s.alive && !s.mid_swap && self.idle_seen.contains_key(&s.name)))
                    && !self.active.contains_key(&s.name)
            })
            .cloned()
            .collect();
        ready.sort_by(|a, b| a.name.cmp(&b.name));
        for session in ready {
            if !session_dir_ok(session.name.as_str()) {
                continue;
            }
            let Some(idx) = self.project_of(&session.dir) else {
                continue;
            };
            if self.projects[idx].retry_at.is_some() {
                // A file operation failed half-way: no new claim until recovery has put the
                // project's files back in order (a half-returned task could otherwise be
                // claimed under its inbox name while its claimed name still exists).
                continue;
            }
            while let Some(name) = self.best_task(idx, &session) {
                self.projects[idx].inbox.remove(&name);
                match self.claim_and_send(idx, &name, &session, deliver).await {
                    Ok(true) => break,
                    Ok(false) => {
                        // Gone, or its name is taken in the claim directory: look at the
                        // inbox afresh on the next pass.
                        self.projects[idx].dirty = true;
                        continue;
                    }
                    Err(e) => {
                        log_err("claim failed; will recover", &e);
                        self.projects[idx].retry_at = Some(Instant::now() + RETRY_AFTER);
                        break;
                    }
                }
            }
        }
    }

    /// The highest-priority, oldest task in project `idx` that `session` may take.
    fn best_task(&self, idx: usize, session: &SessionView) -> Option<OsString> {
        self.projects[idx]
            .inbox
            .iter()
            .filter_map(|(name, e)| match &e.checked {
                Checked::Ready(meta)
                    if meta
                        .session
                        .as_deref()
                        .is_none_or(|s| s == session.name.as_str()) =>
                {
                    Some((meta.priority, std::cmp::Reverse(e.key.mtime_ns), name))
                }
                _ => None,
            })
            .max_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then(b.2.cmp(a.2)))
            .map(|(_, _, name)| name.clone())
    }

    /// Claims `name` for `session`, records the claim and the delivery, sends the prompt.
    /// `Ok(false)` when the task was gone or turned out bad (try the next one).
    async fn claim_and_send(
        &mut self,
        idx: usize,
        name: &OsString,
        session: &SessionView,
        deliver: &dyn Deliver,
    ) -> Result<bool, QueueError> {
        match blocking(|| self.claim(idx, name, session))? {
            Some(delivery) => {
                self.send(&session.name, &delivery, deliver).await;
                self.watch_transcript(&session.name, &delivery, deliver);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The file side of [`claim_and_send`](Self::claim_and_send): claim, record, record the
    /// delivery. Returns what to send.
    fn claim(
        &mut self,
        idx: usize,
        name: &OsString,
        session: &SessionView,
    ) -> Result<Option<Delivery>, QueueError> {
        let Some(task_name) = name.to_str().map(str::to_owned) else {
            return Ok(None);
        };
        let store = self.projects[idx].store.clone();
        if !store.claim(&task_name, &session.name)? {
            return Ok(None);
        }
        let path = store.claimed_path(&session.name, &task_name);
        let now = self.queue.now();
        let mut record = ClaimRecordV1 {
            version: RECORD_VERSION,
            task: task_name.clone(),
            session: session.name.clone(),
            attempt: 1,
            max_attempts: self.queue.config.default_max_attempts,
            claimed_at: now,
            delivered_at: None,
            account: session.account.clone(),
            claude_session: session.claude_session.clone(),
            outcome: None,
        };
        // Re-read from the claimed name: the file is ours now and cannot change under us by
        // a rename any more.
        let checked = std::fs::symlink_metadata(&path)
            .map_err(|e| crate::task::BadTask::Unreadable(e.to_string()))
            .and_then(|meta| {
                let used = store.attempts_used(&task_name, &meta);
                inspect(
                    &store.layout.project,
                    &path,
                    name,
                    &meta,
                    self.queue.config.max_task_bytes,
                )
                .map(|t| (t, used))
            });
        let (task, used) = match checked {
            Ok(ok) => ok,
            Err(bad) => {
                store.write_claim(&record)?;
                self.end_claim(
                    idx,
                    record,
                    OutcomeKind::Failed,
                    &format!("rejected: {bad}"),
                );
                return Ok(None);
            }
        };
        record.attempt = used + 1;
        record.max_attempts = task
            .meta
            .max_attempts
            .unwrap_or(self.queue.config.default_max_attempts)
            .max(record.attempt);
        store.write_claim(&record)?;
        // Recorded as delivered BEFORE sending: a crash after this never sends it again.
        let recorded_at = self.queue.now();
        record.delivered_at = Some(recorded_at);
        store.write_claim(&record)?;
        let delivery = Delivery {
            session: session.name.clone(),
            project: store.layout.project.clone(),
            task: task_name.clone(),
            attempt: record.attempt,
            prompt: task.prompt,
            recorded_at,
        };
        tracing::info!(task = %task_name, session = %session.name, attempt = record.attempt,
            "queue: delivering");
        let mut active = Active::new(idx, record, Some(session.turns_started), Instant::now());
        active.account = session.account.clone();
        active.stale_working = !session.idle;
        self.idle_seen.remove(&session.name);
        self.active.insert(session.name.clone(), active);
        Ok(Some(delivery))
    }

    /// Rewrites each project's `status.json` when what it would say changed.
    fn publish_status(&mut self) {
        if let Some(tx) = &self.tasks {
            let now: CurrentTasks = self
                .active
                .iter()
                .map(|(s, a)| (s.clone(), a.record.task.clone()))
                .collect();
            tx.send_if_modified(|held| {
                let changed = *held != now;
                if changed {
                    *held = now;
                }
                changed
            });
        }
        let mut per_project: Vec<Vec<SessionStatusV1>> = vec![Vec::new(); self.projects.len()];
        let mut sessions = self.view.sessions.clone();
        sessions.sort_by(|a, b| a.name.cmp(&b.name));
        for s in &sessions {
            let Some(idx) = self.project_of(&s.dir) else {
                continue;
            };
            let state = if s.mid_swap {
                PublishedState::Swapping
            } else if !s.alive {
                PublishedState::Dead
            } else if s.idle {
                PublishedState::Idle
            } else {
                PublishedState::Working
            };
            per_project[idx].push(SessionStatusV1 {
                name: s.name.to_string(),
                state,
                account: s.account.as_ref().map(ToString::to_string),
                claude_session: s.claude_session.as_ref().map(ToString::to_string),
                task: self.active.get(&s.name).map(|a| a.record.task.clone()),
            });
        }
        for (idx, sessions) in per_project.into_iter().enumerate() {
            let status = ProjectStatusV1::new(sessions);
            let p = &mut self.projects[idx];
            if p.status.as_ref() == Some(&status) {
                continue;
            }
            let Ok(mut bytes) = serde_json::to_vec_pretty(&status) else {
                continue;
            };
            bytes.push(b'\n');
            let path = p.store.layout.status();
            match write_atomic(&p.store.layout.tmp(), &path, &bytes) {
                Ok(()) => p.status = Some(status),
                Err(e) => tracing::warn!(error = %e, path = %path.display(),
                    "queue: cannot write status"),
            }
        }
    }
}
