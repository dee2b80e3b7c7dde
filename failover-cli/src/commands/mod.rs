//! The subcommands, grouped by what they talk to: `control` holds the seven that ask the
//! daemon (`status`, `accounts`, `sessions`, `swap`, `pause`, `resume`, `events`), the others
//! one module each. [`run`] builds what they share (the control-plane client, the config
//! path) and dispatches.

pub(crate) mod control;
mod demo;
mod docs;
mod doctor;
mod init;
mod signals;
pub(crate) mod standin;
mod tasks;
mod top;

use std::path::PathBuf;

use crate::args::{Cli, Command, GlobalArgs};
use crate::client::{Client, Endpoint};
use crate::error::CliError;
use crate::paths;

/// What every subcommand may need.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// The control socket (also when talking TCP, for `doctor`).
    pub(crate) socket: PathBuf,
    /// The daemon's config file.
    pub(crate) config: PathBuf,
    /// Whether the config file was named explicitly (not the default).
    pub(crate) config_explicit: bool,
    /// Whether the socket was named explicitly (`--socket` or its variable).
    pub(crate) socket_explicit: bool,
    /// The control-plane client.
    pub(crate) client: Client,
}

impl Ctx {
    fn new(g: &GlobalArgs) -> Result<Self, CliError> {
        let config = g.config.clone().unwrap_or_else(paths::default_config_file);
        let socket = match &g.socket {
            Some(s) => s.clone(),
            None => {
                let (socket, refused) = paths::socket_for_config(&config);
                if let Some(e) = refused {
                    crate::render::err_line(&format!(
                        "warning: {e}\nwarning: looking for the daemon at the default socket {}",
                        socket.display()
                    ));
                }
                socket
            }
        };
        let endpoint = match &g.tcp {
            Some(addr) => {
                let file = g.token_file.as_ref().ok_or_else(|| {
                    CliError::Usage(
                        "--tcp needs --token-file (the daemon refuses TCP without a token)".into(),
                    )
                })?;
                let token = std::fs::read_to_string(file)
                    .map_err(|e| CliError::io("cannot read the token file", file, e))?
                    .trim()
                    .to_owned();
                if token.is_empty() {
                    return Err(CliError::Usage(format!(
                        "the token file {} is empty",
                        file.display()
                    )));
                }
                Endpoint::Tcp {
                    addr: addr.clone(),
                    token,
                }
            }
            None => Endpoint::Unix(socket.clone()),
        };
        Ok(Self {
            client: Client::new(endpoint, config.clone()),
            socket,
            config_explicit: g.config.is_some(),
            socket_explicit: g.socket.is_some(),
            config,
        })
    }
}

/// Runs the parsed command line.
pub(crate) fn run(cli: Cli) -> Result<(), CliError> {
    let ctx = Ctx::new(&cli.global)?;
    match cli.command {
        // Commands with no async work run without a runtime.
        Command::Completions(a) => docs::completions(&a, &ctx.config),
        Command::Man(a) => docs::man(&a),
        Command::Init(a) => init::run(&a),
        Command::Tasks(a) => tasks::run(&ctx, &a),
        // Handled by `main`, with their own exit statuses.
        Command::Detect(_) | Command::Standin(_) => Ok(()),
        other => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| CliError::Other(format!("cannot start the async runtime: {e}")))?;
            rt.block_on(async move {
                match other {
                    Command::Status(a) => control::status(&ctx, a.json).await,
                    Command::Accounts(a) => control::accounts(&ctx, a.json).await,
                    Command::Sessions(a) => control::sessions(&ctx, a.json).await,
                    Command::Swap(a) => control::swap(&ctx, &a).await,
                    Command::Pause(a) => control::pause(&ctx, true, a.json).await,
                    Command::Resume(a) => control::pause(&ctx, false, a.json).await,
                    Command::Events(a) => control::events(&ctx, a.json).await,
                    Command::Mcp => crate::mcp::serve(ctx.client.clone()).await,
                    Command::Doctor(a) => doctor::run(&ctx, a.json).await,
                    Command::Demo(a) => demo::run(&a).await,
                    Command::Top => top::run(&ctx).await,
                    Command::Completions(_)
                    | Command::Man(_)
                    | Command::Init(_)
                    | Command::Detect(_)
                    | Command::Tasks(_)
                    | Command::Standin(_) => unreachable!("handled above"),
                }
            })
        }
    }
}
