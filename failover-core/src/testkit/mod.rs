//! Test tools for embedders (feature `testkit`): an in-memory fake of every port, proptest
//! strategies for engine inputs, a [`Simulator`] that drives a
//! [`FailoverEngine`](crate::FailoverEngine) against the fakes on a fake clock, and a
//! one-line rendering of effects for trace-based tests, and a loader for the quota fixtures
//! (captured screens and files with the verdict each must give).
//!
//! The fakes implement the async port traits but complete immediately and never need a
//! runtime: their state sits behind a `std::sync::Mutex` that is never held across an
//! `.await`. [`block_on`] runs such a future to completion on the calling thread.
//!
//! ```
//! use failover_core::testkit::{self, Simulator};
//! use failover_core::{Detection, Input, LimitWindow, SignalSource, Subject, Verdict};
//! use std::time::Duration;
//!
//! let config = testkit::config(&["primary", "backup"], &["ccl-0"]);
//! let mut sim = Simulator::new(config).unwrap();
//! sim.start();
//! sim.advance(Duration::from_secs(5));
//! assert_eq!(sim.backend().account_of(&"ccl-0".into()).unwrap().as_str(), "primary");
//!
//! // The transcript says the five-hour window is used up: the session moves.
//! sim.send(Input::Detection {
//!     subject: Subject::Session("ccl-0".into()),
//!     source: SignalSource::Transcript,
//!     detection: Detection {
//!         verdict: Verdict::QuotaExhausted { window: LimitWindow::FiveHour, resets_at: None },
//!         evidence: None,
//!     },
//!     observed_at: sim.now(),
//! });
//! sim.advance(Duration::from_secs(5));
//! assert_eq!(sim.backend().account_of(&"ccl-0".into()).unwrap().as_str(), "backup");
//! ```

mod backend;
mod checkpointer;
mod fixtures;
mod notifier;
mod render;
mod simulator;
pub mod strategies;

use std::future::Future;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

pub use backend::{FakeBackend, FakeFailure, FakeOp, FakeSession};
pub use checkpointer::MemCheckpointer;
pub use fixtures::{
    ExpectedDetection, FixtureError, QuotaFixture, load_quota_fixtures, quota_fixture_dir,
};
pub use notifier::RecordingNotifier;
pub use render::{render_effect, render_trace};
pub use simulator::{Simulator, TraceEntry};

use crate::account::{Account, AccountState};
use crate::config::EngineConfig;
use crate::engine::{Input, Subject};
use crate::ids::{AccountId, SessionId};
use crate::quota::{AuthReason, Detection, SignalSource, Verdict};
use crate::session::SessionSpec;
use crate::time::UnixMillis;

/// A configuration with the default policy: accounts in the given preference order (config
/// dirs `/accounts/<name>`), sessions working in `/work/<name>` with no standing task.
pub fn config(accounts: &[&str], sessions: &[&str]) -> EngineConfig {
    let accounts = accounts
        .iter()
        .zip(0u32..)
        .map(|(name, preference)| Account {
            id: AccountId::new(*name),
            config_dir: PathBuf::from(format!("/accounts/{name}")),
            preference,
        })
        .collect();
    let sessions = sessions
        .iter()
        .map(|name| SessionSpec {
            id: SessionId::new(*name),
            dir: PathBuf::from(format!("/work/{name}")),
            task: None,
        })
        .collect();
    EngineConfig::new(accounts, sessions)
}

/// The input an embedder sends when it sees `account` in `state`: a structured detection
/// about the account, trusted on one observation. The statusline reports a window's use
/// (`Available` is its all-clear, `NearLimit` and `Exhausted` its readings); a login matter
/// comes from response headers (a 401), and the engine raises its needs-login
/// notification for it. An all-clear makes only an account of unknown state or one that
/// needed a login available; an exhausted account waits for its reset.
///
/// # Panics
///
/// On [`AccountState::Unknown`]: every account starts there and nothing leads back to it.
pub fn account_seen(
    account: impl Into<AccountId>,
    state: AccountState,
    observed_at: UnixMillis,
) -> Input {
    let (source, verdict) = match state {
        AccountState::Available => (SignalSource::Statusline, Verdict::Clear),
        AccountState::NearLimit {
            window,
            used_percent,
            resets_at,
        } => (
            SignalSource::Statusline,
            Verdict::NearLimit {
                window,
                used_percent,
                resets_at,
            },
        ),
        AccountState::Exhausted { window, until } => (
            SignalSource::Statusline,
            Verdict::QuotaExhausted {
                window,
                resets_at: Some(until),
            },
        ),
        AccountState::NeedsLogin => (
            SignalSource::Headers,
            Verdict::AuthRequired {
                reason: AuthReason::Rejected,
            },
        ),
        AccountState::Unknown => panic!("no input makes an account's state unknown"),
    };
    Input::Detection {
        subject: Subject::Account(account.into()),
        source,
        detection: Detection {
            verdict,
            evidence: None,
        },
        observed_at,
    }
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on the calling thread. Meant for the testkit fakes, whose
/// futures are ready at once; a future that waits on something must be woken by it.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}
