//! `claude-failoverd`: the daemon binary. Reads the configuration, installs the logger,
//! builds the production dependencies (tmux, files, notifiers) and runs the daemon until
//! SIGTERM or SIGINT. Sessions keep running in tmux after it stops.
//!
//! Exit codes: 0 after a clean shutdown, 1 when the daemon failed, 2 when the configuration
//! is invalid.

use std::future::Future;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use failover_daemon::config::{DaemonConfig, ProcessEnv, default_config_file};
use tracing_subscriber::EnvFilter;

/// Keeps a pool of Claude Code sessions working across several accounts.
#[derive(Debug, Parser)]
#[command(name = "claude-failoverd", version, about)]
struct Args {
    /// The configuration file (default: $XDG_CONFIG_HOME/claude-failover/config.toml).
    #[arg(long, short, value_name = "FILE", env = "CLAUDE_FAILOVER_CONFIG")]
    config: Option<PathBuf>,
    /// More logging (-v debug, -vv trace); FAILOVER_LOG takes precedence.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter =
        EnvFilter::try_from_env("FAILOVER_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().flatten_event(true).init();
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.verbose);
    let Some(path) = args
        .config
        .clone()
        .or_else(|| default_config_file(&ProcessEnv))
    else {
        eprintln!("error: no --config given and HOME is not set to find the default");
        return ExitCode::from(2);
    };
    let config = match DaemonConfig::load(&path, &ProcessEnv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = check_command(&config) {
        // With sessions to run, starting would only produce dead sessions; without any yet,
        // say it loudly and go on (a reload may fix the command before one is added).
        if config.engine.sessions.is_empty() {
            tracing::error!("{e}");
            eprintln!("warning: {e}");
        } else {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Checks that the `[claude] command`'s program can be found: otherwise every session dies at
/// once with exit 127 and only shows `dead`.
fn check_command(config: &DaemonConfig) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let Some(program) = config.claude.command.first() else {
        return Ok(());
    };
    let runnable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = std::path::Path::new(program);
        if !p.is_absolute() || runnable(p) {
            return Ok(());
        }
        return Err(format!(
            "[claude] command: {program} is not an executable file; every session would die with exit 127"
        ));
    }
    let path = config
        .claude
        .env
        .get("PATH")
        .cloned()
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_default();
    if std::env::split_paths(&path).any(|dir| runnable(&dir.join(program))) {
        return Ok(());
    }
    Err(format!(
        "[claude] command: `{program}` is not found on PATH ({path}); every session would die \
         with exit 127 (command not found)\nhint: set [claude] command to the program's full path \
         (`command -v {program}` prints it), or install it"
    ))
}

fn run(config: DaemonConfig) -> anyhow::Result<()> {
    // Before anything is touched: one daemon per state directory.
    let _lock = failover_daemon::lock::StateLock::acquire(&config.state_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let tmux = failover_daemon::production::tmux_config(&config);
    runtime.block_on(async {
        let deps = failover_daemon::production::deps(&config).await?;
        let result = failover_daemon::run(config, deps, shutdown_signal()?).await;
        failover_daemon::production::release_tmux_server(tmux).await;
        result?;
        Ok(())
    })
}

/// Resolves on the first SIGTERM or SIGINT.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}
