//! A real daemon (`failover_daemon::Daemon`) started in-process for the CLI tests: a config
//! file in the sandbox, a private tmux server, the control socket (and optionally TCP with a
//! token) in the sandbox. Stopped, and its tmux server killed, on drop.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use failover_daemon::{Daemon, DaemonConfig, production};

use super::Sandbox;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// What to start.
#[derive(Default)]
pub(crate) struct Spec<'a> {
    /// Account names, most preferred first.
    pub(crate) accounts: &'a [&'a str],
    /// Also listen on TCP 127.0.0.1:0 with a token.
    pub(crate) tcp: bool,
}

/// A running daemon.
pub(crate) struct TestDaemon {
    rt: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), failover_daemon::DaemonError>>>,
    pub(crate) socket: PathBuf,
    pub(crate) config: PathBuf,
    pub(crate) tmux_socket: String,
    /// `127.0.0.1:port` when TCP was asked for.
    pub(crate) tcp_addr: Option<String>,
    /// The token file when TCP was asked for.
    pub(crate) token_file: Option<PathBuf>,
    /// Feeds the daemon observations as its observers would.
    pub(crate) observe: tokio::sync::mpsc::Sender<failover_daemon::ObserverEvent>,
}

impl TestDaemon {
    pub(crate) fn start(sb: &Sandbox, spec: Spec<'_>) -> Self {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let tmux_socket = format!("cf-cli-test-{}-{n}", std::process::id());
        let socket = sb.path(&format!("run/daemon-{n}.sock"));
        let shared = sb.path("data/shared-projects");
        std::fs::create_dir_all(&shared).unwrap();
        let mut text = String::new();
        let _ = writeln!(
            text,
            "state_dir = {:?}",
            sb.path(&format!("state/d{n}")).display().to_string()
        );
        let _ = writeln!(text, "[tmux]\nsocket = {tmux_socket:?}");
        let _ = writeln!(
            text,
            "[claude]\ncommand = [\"claude\"]\nshared_projects = {:?}",
            shared.display().to_string()
        );
        for name in spec.accounts {
            let dir = sb.home().join(format!(".claude-{name}"));
            if !dir.exists() {
                failover_sim::accounts::make_account_dir(&dir, &format!("tok-{name}"), &[])
                    .unwrap();
            }
            let _ = writeln!(
                text,
                "[[accounts]]\nname = {name:?}\nconfig_dir = {:?}",
                dir.display().to_string()
            );
        }
        let _ = writeln!(
            text,
            "[control]\nsocket = {:?}",
            socket.display().to_string()
        );
        let token_file = spec.tcp.then(|| {
            let f = sb.path(&format!("config/token-{n}"));
            std::fs::write(&f, "test-token-0123456789abcdef\n").unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
            let _ = writeln!(
                text,
                "tcp = \"127.0.0.1:0\"\ntoken_file = {:?}",
                f.display().to_string()
            );
            f
        });
        let config = sb.path(&format!("config/daemon-{n}.toml"));
        std::fs::create_dir_all(config.parent().unwrap()).unwrap();
        std::fs::write(&config, &text).unwrap();

        let env = sb.env_fn();
        let cfg = DaemonConfig::load(&config, &env).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        // The production dependencies, as `claude-failoverd` builds them: a private tmux
        // server, file checkpoints, the observers, the statusline hooks.
        let (daemon, observe) = rt
            .block_on(async {
                let deps = production::deps(&cfg).await?;
                let observe = deps.observation_tx.clone();
                Daemon::start(cfg, deps).await.map(|d| (d, observe))
            })
            .unwrap_or_else(|e| panic!("the daemon did not start: {e}"));
        let tcp_addr = daemon.handle().tcp_addr().map(|a| a.to_string());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = rt.spawn(daemon.run(async move {
            let _ = stopped.await;
        }));
        Self {
            rt,
            stop: Some(stop),
            task: Some(task),
            socket,
            config,
            tmux_socket,
            tcp_addr,
            token_file,
            observe,
        }
    }

    /// Tells the daemon, as the statusline observer would, that `account`'s five-hour window
    /// is used up until `resets_at`.
    pub(crate) fn exhaust(&self, account: &str, resets_at: jiff::Timestamp) {
        use failover_core::{Detection, LimitWindow, SignalSource, Subject, UnixMillis, Verdict};
        let event = failover_daemon::ObserverEvent::Observation {
            subject: Subject::Account(account.into()),
            source: SignalSource::Statusline,
            detection: Detection {
                verdict: Verdict::QuotaExhausted {
                    window: LimitWindow::FiveHour,
                    resets_at: Some(UnixMillis::from_timestamp(resets_at)),
                },
                evidence: Some("rate_limits.five_hour.used_percentage=100".into()),
            },
            observed_at: UnixMillis::from_timestamp(jiff::Timestamp::now()),
        };
        self.rt.block_on(self.observe.send(event)).unwrap();
    }

    /// `--socket <this daemon's socket>` followed by `args`.
    pub(crate) fn args<'a>(&'a self, args: &[&'a str]) -> Vec<String> {
        let mut v = vec!["--socket".to_owned(), self.socket.display().to_string()];
        v.extend(args.iter().map(|s| (*s).to_owned()));
        v
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(20), task).await });
        }
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.tmux_socket, "kill-server"])
            .stderr(std::process::Stdio::null())
            .status();
    }
}
