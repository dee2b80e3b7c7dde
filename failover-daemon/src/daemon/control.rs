//! The control plane's listeners: bound before any task starts (so a bind failure stops the
//! start), served once every task runs.

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::named;
use crate::config::{ControlSettings, DaemonConfig};
use crate::error::DaemonError;
use crate::http::{self, AppState};
use crate::tasks::TaskExit;

/// The control plane's listeners, bound before any task starts.
pub(super) struct BoundControl {
    /// The unix socket.
    pub(super) unix: http::BoundUnix,
    /// The TCP listener and its bearer token, with `[control] tcp`.
    pub(super) tcp: Option<(TcpListener, String)>,
}

/// Binds the unix socket and, when configured, the TCP listener.
pub(super) async fn bind_control(control: &ControlSettings) -> Result<BoundControl, DaemonError> {
    let unix = http::bind_unix(&control.socket).await?;
    let tcp = match &control.tcp {
        Some(t) => Some(http::bind_tcp(t).await?),
        None => None,
    };
    Ok(BoundControl { unix, tcp })
}

/// Serves the control plane on the bound listeners until shutdown; returns the unix
/// socket's identity, so that shutdown removes only the socket this daemon bound.
pub(super) fn serve_control(
    set: &mut JoinSet<TaskExit>,
    control: BoundControl,
    app: AppState,
    config: &DaemonConfig,
    shutdown: &CancellationToken,
) -> http::BoundUnixIdentity {
    let BoundControl { unix, tcp } = control;
    let identity = http::BoundUnixIdentity {
        path: unix.path.clone(),
        identity: unix.identity,
    };
    {
        let router = http::router(app.clone());
        let stop = shutdown.clone();
        let listener = unix.listener;
        set.spawn(named("control socket", async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
                .map_err(|e| DaemonError::Task {
                    task: "control socket",
                    reason: e.to_string(),
                })
        }));
    }
    if let (Some((listener, token)), Some(settings)) = (tcp, &config.control.tcp) {
        let router = http::tcp_router(app, token);
        let stop = shutdown.clone();
        let limits = http::TcpLimits {
            max_connections: settings.max_connections,
            header_timeout: settings.header_timeout,
        };
        set.spawn(named("control tcp", async move {
            http::serve_tcp(listener, router, limits, stop)
                .await
                .map_err(|e| DaemonError::Task {
                    task: "control tcp",
                    reason: e.to_string(),
                })
        }));
    }
    identity
}
