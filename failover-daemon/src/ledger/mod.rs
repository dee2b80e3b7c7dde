//! The ledger shared by daemons on several hosts that run the same accounts, kept in Redis.
//!
//! The engine's ledger port ([`failover_core::LedgerSettings`]) is answered here: what the
//! engine publishes (its own verdicts, the active account under `single-active`) is written to
//! Redis and announced on one pub/sub channel; what other hosts announce comes back to the
//! engine as [`Input::AccountNews`](failover_core::Input::AccountNews) and
//! [`Input::ActiveAccountNews`](failover_core::Input::ActiveAccountNews); the swap lease is
//! a `SET key host NX PX ttl`. Without `[ledger]` none of this runs and the state dir stays
//! the only store.
//!
//! What is stored, under `key_prefix` (default `claude-failover`): `<prefix>:account:<name>`
//! (a hash: `state` as JSON, `seen_by`, `seen_at` in Unix ms; the newest evidence wins),
//! `<prefix>:active` (the same fields for the active account), `<prefix>:lease` (the host
//! holding the swap lease), `<prefix>:identity:<name>` (a hash of host → the Anthropic
//! account uuid that account logs in as, for `doctor`) and the channel `<prefix>:news`. No
//! token and no prompt ever goes there.
//!
//! Faults: when Redis cannot be reached the worker reports the ledger degraded (status,
//! `/metrics`, `doctor`), answers lease requests "unavailable" so the engine goes on with
//! its local view, keeps what it should have published, and retries every second; once
//! Redis answers again it publishes what it kept (older entries lose to newer ones already
//! there) and feeds every stored entry back to the engine, which keeps the newest.

mod identity;
mod settings;
mod store;
mod worker;

pub use identity::{account_identities, conflicts};
pub use settings::{LedgerConfig, check_url, read_password};
pub use store::{LedgerStore, Wire};
pub use worker::{LedgerHealth, LedgerJob, run};
