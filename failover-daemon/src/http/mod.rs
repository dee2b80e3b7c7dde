//! The control plane: HTTP over a unix socket created owner-only (mode 0600), and optionally
//! over TCP, where every request must carry `Authorization: Bearer <token>`.
//!
//! Routes and their JSON types are listed in [`dto`]. Reads come from the dispatcher's
//! published snapshot; commands go to the dispatcher as [`ControlMsg`](crate::tasks::ControlMsg)
//! with a one-shot reply channel.

pub mod convert;
pub mod dto;
mod listen;
mod routes;
mod tcp;

pub use listen::{BoundUnix, bind_tcp, bind_unix, read_token, remove_socket_if_ours};

/// Which socket file a daemon bound, so it removes only its own at exit.
#[derive(Clone, Debug)]
pub struct BoundUnixIdentity {
    /// The path.
    pub path: std::path::PathBuf,
    /// (device, inode).
    pub identity: (u64, u64),
}
pub use routes::{AppState, router, tcp_router};
pub use tcp::{TcpLimits, serve_tcp};
