//! The control plane: HTTP over a unix socket (and optionally TCP with a bearer token).

pub mod dto;
