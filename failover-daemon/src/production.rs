//! The production [`Deps`]: sessions in a private tmux server, checkpoints in files,
//! observers driven by tmux control mode and `notify`, notifiers from the configuration.
//!
//! Before anything runs, each account's `projects/` is linked to the shared transcript tree
//! (so any account can resume any conversation), the person's entries (`[claude] share`) to
//! their shared copies, and the statusline hook is installed in its
//! `settings.json` (the user's own statusline keeps working). A failure there is reported and
//! the account still runs: resuming across accounts or the statusline feed may then be
//! missing for it, which the log says.

use std::path::PathBuf;
use std::sync::Arc;

use failover_core::quota::Detectors;
use failover_core::{Account, ClaudeSessionId, QuotaDetector, SessionId};
pub use failover_tmux::TranscriptPrompts;
use failover_tmux::observe::{
    PaneObserver, PaneObserverConfig, StatuslineWatcher, Tracker, TranscriptWatcher,
};
use failover_tmux::{FileCheckpointer, Socket, TmuxBackend, TmuxConfig, homes, person, statusline};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::config::{DaemonConfig, TmuxTarget};
use crate::deps::{Deps, Recorded, SessionRecords, observation_channel};
use crate::error::DaemonError;
use crate::notifiers::channels_from_settings;
use crate::observe::{ObserverEvent, Observers};

/// Where account `name`'s statusline documents are spooled.
pub fn spool_dir(config: &DaemonConfig, account: &str) -> PathBuf {
    config.state_dir.join("spool").join(account)
}

/// Sessions outlive the daemon; an empty tmux server should not: lets it exit with its
/// last session (at once when it has none). Failures are logged.
pub async fn release_tmux_server(tmux: TmuxConfig) {
    match TmuxBackend::new(tmux) {
        Ok(backend) => {
            if let Err(e) = backend.release_server().await {
                tracing::warn!(error = %e, "cannot let the tmux server exit when empty");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot reach the tmux server to release it"),
    }
}

/// Where checkpoints are stored.
pub fn checkpoint_dir(config: &DaemonConfig) -> PathBuf {
    config.state_dir.join("checkpoints")
}

/// Where a person's unsent drafts are kept between a session's stop and its next launch.
pub fn draft_dir(config: &DaemonConfig) -> PathBuf {
    config.state_dir.join("drafts")
}

/// Removes the drafts kept in [`draft_dir`] last written before `before` whose session is
/// not one of `config`'s sessions, and returns those sessions (the janitor's pass; a
/// configured session's draft waits for its next launch however old it is). Blocking.
pub fn prune_drafts(
    config: &DaemonConfig,
    before: std::time::SystemTime,
) -> Result<Vec<SessionId>, failover_tmux::FsError> {
    let keep: Vec<SessionId> = config
        .engine
        .sessions
        .iter()
        .map(|s| s.id.clone())
        .collect();
    failover_tmux::draft::prune(&draft_dir(config), before, &keep)
}

/// Where the person's shared entries (`[claude] share`) are kept.
pub fn person_dir(config: &DaemonConfig) -> PathBuf {
    config.state_dir.join("person")
}

/// Brings one account in: links its `projects/` to the shared transcript tree and each
/// `[claude] share` entry to the person's shared copy, merging what the account had (see
/// [`homes`]), and installs the statusline hook. Failures and conflicts are logged; the
/// account still runs. Returns the statusline spool when the hook is installed. Blocking (it
/// may merge a big folder). Called at start and for accounts a reload adds.
pub fn adopt_account(config: &DaemonConfig, account: &Account) -> Option<PathBuf> {
    match homes::adopt(
        &config.claude.shared_projects,
        &account.config_dir,
        &account.id,
    ) {
        Ok(report) => {
            tracing::info!(
                account = %account.id,
                copied = report.copied.len(),
                identical = report.identical,
                extended = report.extended.len(),
                conflicts = report.conflicts.len(),
                skipped = report.skipped.len(),
                set_aside = report.set_aside.as_ref().map(|p| p.display().to_string()).as_deref(),
                linked = report.linked,
                "account linked to the shared transcript tree"
            )
        }
        Err(e) => {
            tracing::error!(account = %account.id, error = %e, "cannot link the account's projects to the shared tree; its sessions may not resume on other accounts")
        }
    }
    let shared = person_dir(config);
    for entry in &config.claude.share {
        let name = entry.trim_end_matches('/');
        match homes::adopt_entry(
            &shared.join(name),
            &account.config_dir,
            entry,
            homes::EntryKind::of(entry),
            &account.id,
        ) {
            Ok(report) if !report.conflicts.is_empty() => {
                let conflicts = report
                    .conflicts
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                tracing::warn!(account = %account.id, entry = %name, conflicts = %conflicts, "the account's copy differs from the shared one: both kept side by side, the shared one is in use")
            }
            Ok(report) => {
                tracing::info!(
                    account = %account.id,
                    entry = %name,
                    copied = report.copied.len(),
                    identical = report.identical,
                    extended = report.extended.len(),
                    skipped = report.skipped.len(),
                    set_aside = report.set_aside.as_ref().map(|p| p.display().to_string()).as_deref(),
                    linked = report.linked,
                    "shared with every account"
                )
            }
            Err(e) => {
                tracing::error!(account = %account.id, entry = %name, error = %e, "cannot share this entry; sessions moved to or from this account may behave differently")
            }
        }
    }
    let spool = spool_dir(config, account.id.as_str());
    // Owner-only, like everything under the state directory.
    if let Err(e) = crate::state_store::create_private_dir(&spool) {
        tracing::warn!(account = %account.id, error = %e, "cannot create the statusline spool");
    }
    match statusline::install(&account.config_dir, &spool) {
        Ok(_) => Some(spool),
        Err(e) => {
            tracing::warn!(account = %account.id, error = %e, "statusline hook not installed; usage percentages will come from panes and transcripts only");
            None
        }
    }
}

/// Carries the preferred account's `settings.json` to every other account (`[claude]
/// sync_settings`), each keeping its own `statusLine`.
pub fn sync_settings(config: &DaemonConfig) {
    let Some(from) = config.engine.accounts.iter().min_by_key(|a| a.preference) else {
        return;
    };
    for to in config.engine.accounts.iter().filter(|a| a.id != from.id) {
        match person::sync_settings(&from.config_dir, &to.config_dir) {
            Ok(person::SyncOutcome::Busy) => {
                tracing::warn!(from = %from.id, to = %to.id, "settings not synced: the account's CLI holds settings.json.lock; will try at the next start")
            }
            Ok(outcome) => {
                tracing::info!(from = %from.id, to = %to.id, ?outcome, "settings synced")
            }
            Err(e) => {
                tracing::error!(from = %from.id, to = %to.id, error = %e, "settings not synced")
            }
        }
    }
}

/// The tmux configuration the daemon's backend uses.
pub fn tmux_config(config: &DaemonConfig) -> TmuxConfig {
    let socket = match &config.tmux {
        TmuxTarget::Socket(name) => Socket::Name(name.clone()),
        TmuxTarget::Path(p) => Socket::Path(p.clone()),
    };
    let mut t = TmuxConfig::new(socket);
    t.claude_command = config.claude.command.clone();
    for (k, v) in &config.claude.env {
        t.env.retain(|(name, _)| name != k);
        t.env.push((k.clone(), v.clone()));
    }
    t.account_dirs = config
        .engine
        .accounts
        .iter()
        .map(|a| a.config_dir.clone())
        .collect();
    t.draft_dir = Some(draft_dir(config));
    t.standby_timeout = config.standby.timeout;
    t.standby_resume_timeout = config.standby.resume_timeout;
    t
}

/// Builds the production dependencies (starting the tmux server if needed).
pub async fn deps(config: &DaemonConfig) -> Result<Deps, DaemonError> {
    let backend =
        Arc::new(
            TmuxBackend::new(tmux_config(config)).map_err(|e| DaemonError::Task {
                task: "tmux backend",
                reason: e.to_string(),
            })?,
        );
    backend
        .start_server()
        .await
        .map_err(|e| DaemonError::Task {
            task: "tmux backend",
            reason: format!("cannot start the tmux server: {e}"),
        })?;

    let mut spools = Vec::new();
    for account in &config.engine.accounts {
        if let Some(spool) = adopt_account(config, account) {
            spools.push((account.id.clone(), spool));
        }
    }
    if config.claude.sync_settings {
        sync_settings(config);
    }

    let backend_for_records = backend.clone();
    let zone = jiff::tz::TimeZone::system();
    let (tx, rx) = observation_channel();
    let observers = TmuxObservers {
        backend: backend.clone(),
        detectors: Detectors::new(),
        tracker: Tracker::default(),
        shared_projects: config.claude.shared_projects.clone(),
        spools,
        zone,
    };
    Ok(Deps {
        backend,
        checkpointer: Arc::new(FileCheckpointer::new(checkpoint_dir(config))),
        channels: channels_from_settings(&config.notify)?,
        observers: Arc::new(observers),
        observation_tx: tx,
        observations: rx,
        prompts: Arc::new(TranscriptPrompts::new(
            config.claude.shared_projects.clone(),
        )),
        records: Arc::new(TmuxRecords(backend_for_records)),
        clock: Clock::system(),
    })
}

/// Observers over tmux control mode and the file system.
struct TmuxObservers {
    backend: Arc<TmuxBackend>,
    detectors: Detectors,
    tracker: Tracker,
    shared_projects: PathBuf,
    spools: Vec<(failover_core::AccountId, PathBuf)>,
    zone: jiff::tz::TimeZone,
}

impl TmuxObservers {
    fn detector<D: QuotaDetector + Clone + 'static>(d: &D) -> Arc<dyn QuotaDetector> {
        Arc::new(d.clone())
    }
}

impl Observers for TmuxObservers {
    fn background(
        &self,
        tx: mpsc::Sender<ObserverEvent>,
    ) -> Vec<(&'static str, BoxFuture<'static, ()>)> {
        let transcripts = TranscriptWatcher::new(
            self.shared_projects.clone(),
            Self::detector(&self.detectors.transcript),
            tx.clone(),
            self.tracker.clone(),
        )
        .with_time_zone(self.zone.clone());
        let mut out: Vec<(&'static str, BoxFuture<'static, ()>)> = vec![(
            "transcript watcher",
            async move {
                if let Err(e) = transcripts.run().await {
                    tracing::error!(error = %e, "transcript watcher stopped");
                }
            }
            .boxed(),
        )];
        if !self.spools.is_empty() {
            let spools = StatuslineWatcher::new(
                self.spools.clone(),
                Self::detector(&self.detectors.statusline),
                tx,
            )
            .with_time_zone(self.zone.clone());
            out.push((
                "statusline watcher",
                async move {
                    if let Err(e) = spools.run().await {
                        tracing::error!(error = %e, "statusline watcher stopped");
                    }
                }
                .boxed(),
            ));
        }
        out
    }

    fn session(
        &self,
        session: SessionId,
        tx: mpsc::Sender<ObserverEvent>,
    ) -> Option<BoxFuture<'static, ()>> {
        let observer = PaneObserver::new(
            &self.backend,
            session.clone(),
            Self::detector(&self.detectors.pane),
            tx,
            PaneObserverConfig {
                zone: self.zone.clone(),
                ..PaneObserverConfig::default()
            },
        );
        Some(
            async move {
                if let Err(e) = observer.run().await {
                    tracing::debug!(%session, error = %e, "pane watcher ended");
                }
            }
            .boxed(),
        )
    }

    fn track(&self, claude_session: ClaudeSessionId, session: SessionId) {
        self.tracker.track(claude_session, session);
    }
}

/// The account and conversation tmux recorded as options of each session it launched.
struct TmuxRecords(Arc<TmuxBackend>);

#[async_trait::async_trait]
impl SessionRecords for TmuxRecords {
    async fn recorded(&self, session: &SessionId) -> Option<Recorded> {
        match self.0.describe(session).await {
            Ok(info) => Some(Recorded {
                account: info.account,
                claude_session: info.claude_session,
            }),
            Err(e) => {
                tracing::debug!(%session, error = %e, "no launch record in tmux");
                None
            }
        }
    }
}
