//! Set-up shared by the tests that move a conversation between accounts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use failover_core::{AccountId, LaunchRequest, SessionId};
use failover_sim::accounts::{AccountDir, make_account_dir};
use failover_sim::mock_api::{MockAccount, MockApi, MockApiConfig};
use failover_tmux::{Socket, TmuxConfig};

/// Accounts `a` and `b` (tokens `tok-<tag>-a`, `tok-<tag>-b`) laid out as the daemon lays
/// them out, every account's `projects/` a link to one shared tree, trusting one project
/// dir; and the mock API serving both.
pub(crate) struct TwoAccounts {
    /// Holds the files; they go with it.
    pub(crate) tmp: tempfile::TempDir,
    /// The temporary root (canonical).
    pub(crate) root: PathBuf,
    /// The project dir.
    pub(crate) project: PathBuf,
    /// The mock API.
    pub(crate) api: MockApi,
    /// `a`, then `b`.
    pub(crate) accounts: Vec<AccountDir>,
}

impl TwoAccounts {
    pub(crate) async fn start(tag: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let (project, shared) = (root.join("project"), root.join("shared"));
        std::fs::create_dir_all(&project).unwrap();
        std::fs::create_dir_all(&shared).unwrap();
        let api = MockApi::start(MockApiConfig::local(vec![
            MockAccount::new(format!("tok-{tag}-a"), "a"),
            MockAccount::new(format!("tok-{tag}-b"), "b"),
        ]))
        .await
        .unwrap();
        let accounts = ["a", "b"]
            .iter()
            .map(|n| {
                let acct = make_account_dir(
                    &root.join(n),
                    &format!("tok-{tag}-{n}"),
                    std::slice::from_ref(&project),
                )
                .unwrap();
                // The daemon's layout: every account's projects link to one shared tree.
                std::fs::remove_dir(acct.projects_dir()).unwrap();
                std::os::unix::fs::symlink(&shared, acct.projects_dir()).unwrap();
                acct
            })
            .collect();
        Self {
            tmp,
            root,
            project,
            api,
            accounts,
        }
    }
}

/// The backend's configuration for `program` on `socket` against `api`, offline, with
/// `accounts` as its account dirs: a 120×40 window, 10 s per tmux command, 20 s to take
/// input.
pub(crate) fn tmux_config(
    socket: Socket,
    program: &Path,
    api: &MockApi,
    accounts: &[AccountDir],
) -> TmuxConfig {
    let mut config = TmuxConfig::new(socket);
    config.claude_command = vec![program.display().to_string()];
    config
        .env
        .push(("ANTHROPIC_BASE_URL".into(), api.base_url()));
    config.env.extend(
        failover_sim::tmux::OFFLINE_CLAUDE_ENV
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    config.account_dirs = accounts.iter().map(|a| a.dir.clone()).collect();
    config.width = 120;
    config.height = 40;
    config.command_timeout = Duration::from_secs(10);
    config.input_timeout = Duration::from_secs(20);
    config
}

/// A launch of `session` in `project` on account `name` (its dir `account`), starting a
/// new conversation.
pub(crate) fn new_conversation(
    session: &SessionId,
    project: &Path,
    name: &str,
    account: &AccountDir,
) -> LaunchRequest {
    LaunchRequest {
        session: session.clone(),
        dir: project.to_path_buf(),
        account: AccountId::new(name),
        config_dir: account.dir.clone(),
        resume: None,
    }
}
