//! [`LedgerStore`]: the Redis commands behind the shared ledger.

use std::collections::BTreeMap;
use std::time::Duration;

use failover_core::{AccountId, AccountNews, ActiveNews, HostId, UnixMillis};
use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, IntoConnectionInfo, Script};
use serde::{Deserialize, Serialize};

use super::settings::{LedgerConfig, read_password};

/// How long a connection attempt or a command may take before Redis counts as unreachable.
const TIMEOUT: Duration = Duration::from_secs(1);

/// One message on the news channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Wire {
    /// An account's state and its evidence.
    Account(AccountNews),
    /// The active account under `single-active`.
    Active(ActiveNews),
}

/// Writes `ARGV` into the hash `KEYS[1]` unless it already holds evidence as new or newer,
/// and announces it on `KEYS[2]`. Returns 1 when written.
const NEWEST_WINS: &str = r"
local known = redis.call('HGET', KEYS[1], 'seen_at')
if known and tonumber(known) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], 'value', ARGV[1], 'seen_by', ARGV[2], 'seen_at', ARGV[3])
redis.call('PUBLISH', KEYS[2], ARGV[1])
return 1
";

/// Deletes the lease `KEYS[1]` only if this host (`ARGV[1]`) holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// The shared ledger in one Redis database.
#[derive(Clone, Debug)]
pub struct LedgerStore {
    client: Client,
    prefix: String,
    host: HostId,
    lease_ttl: Duration,
}

impl LedgerStore {
    /// A store for `config` (reads the password file; connects nothing yet).
    pub fn new(config: &LedgerConfig) -> Result<Self, String> {
        let mut info = config
            .url
            .as_str()
            .into_connection_info()
            .map_err(|e| format!("ledger.url: {e}"))?;
        if let Some(path) = &config.password_file {
            let password = read_password(path)?;
            let settings = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(settings);
        }
        let client = Client::open(info).map_err(|e| format!("ledger.url: {e}"))?;
        Ok(Self {
            client,
            prefix: config.key_prefix.clone(),
            host: config.host.clone(),
            lease_ttl: config.lease_ttl,
        })
    }

    /// This daemon's name in the ledger.
    pub fn host(&self) -> &HostId {
        &self.host
    }

    fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    /// The news channel.
    pub fn channel(&self) -> String {
        self.key("news")
    }

    /// A command connection; fails within a second when Redis cannot be reached.
    pub async fn connect(&self) -> redis::RedisResult<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    /// A subscription to the news channel, as a stream of decoded messages (undecodable
    /// ones are skipped with a warning). The stream ends when the connection drops.
    pub async fn subscribe(
        &self,
    ) -> redis::RedisResult<impl futures_util::Stream<Item = Wire> + Send + use<>> {
        let mut pubsub = tokio::time::timeout(TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| timeout_error())??;
        tokio::time::timeout(TIMEOUT, pubsub.subscribe(self.channel()))
            .await
            .map_err(|_| timeout_error())??;
        Ok(pubsub.into_on_message().filter_map(|msg| async move {
            let payload: String = msg.get_payload().ok()?;
            match serde_json::from_str(&payload) {
                Ok(wire) => Some(wire),
                Err(e) => {
                    tracing::warn!(error = %e, "ledger: undecodable news skipped");
                    None
                }
            }
        }))
    }

    /// Is Redis answering?
    pub async fn ping(&self, con: &mut MultiplexedConnection) -> redis::RedisResult<()> {
        redis::cmd("PING")
            .query_async::<String>(con)
            .await
            .map(|_| ())
    }

    /// Stores and announces `wire` unless newer evidence is stored; returns whether it was.
    pub async fn publish(
        &self,
        con: &mut MultiplexedConnection,
        wire: &Wire,
    ) -> redis::RedisResult<bool> {
        let (key, seen_by, seen_at) = match wire {
            Wire::Account(n) => (
                self.key(&format!("account:{}", n.account)),
                &n.seen_by,
                n.seen_at,
            ),
            Wire::Active(n) => (self.key("active"), &n.seen_by, n.seen_at),
        };
        let value = serde_json::to_string(wire).map_err(json_error)?;
        let written: i64 = Script::new(NEWEST_WINS)
            .key(key)
            .key(self.channel())
            .arg(value)
            .arg(seen_by.as_str())
            .arg(seen_at.0)
            .invoke_async(con)
            .await?;
        Ok(written == 1)
    }

    /// Everything stored: each account's newest entry and the active account.
    pub async fn read_all(&self, con: &mut MultiplexedConnection) -> redis::RedisResult<Vec<Wire>> {
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(self.key("account:*"))
            .query_async(con)
            .await?;
        keys.push(self.key("active"));
        let mut out = Vec::new();
        for key in keys {
            let value: Option<String> = redis::cmd("HGET")
                .arg(&key)
                .arg("value")
                .query_async(con)
                .await?;
            if let Some(value) = value {
                match serde_json::from_str(&value) {
                    Ok(wire) => out.push(wire),
                    Err(e) => tracing::warn!(%key, error = %e, "ledger: undecodable entry skipped"),
                }
            }
        }
        Ok(out)
    }

    /// Takes the swap lease for this host unless another holds it (`SET NX PX`): true when
    /// this host holds it now (a host asking again while holding it renews it).
    pub async fn acquire(&self, con: &mut MultiplexedConnection) -> redis::RedisResult<bool> {
        let ttl = u64::try_from(self.lease_ttl.as_millis()).unwrap_or(u64::MAX);
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key("lease"))
            .arg(self.host.as_str())
            .arg("NX")
            .arg("PX")
            .arg(ttl)
            .query_async(con)
            .await?;
        if set.is_some() {
            return Ok(true);
        }
        let renewed: i64 = Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then \
             return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0",
        )
        .key(self.key("lease"))
        .arg(self.host.as_str())
        .arg(ttl)
        .invoke_async(con)
        .await?;
        Ok(renewed == 1)
    }

    /// Gives the lease back if this host holds it.
    pub async fn release(&self, con: &mut MultiplexedConnection) -> redis::RedisResult<()> {
        let _: i64 = Script::new(RELEASE)
            .key(self.key("lease"))
            .arg(self.host.as_str())
            .invoke_async(con)
            .await?;
        Ok(())
    }

    /// The host holding the swap lease, if any.
    pub async fn lease_holder(
        &self,
        con: &mut MultiplexedConnection,
    ) -> redis::RedisResult<Option<String>> {
        redis::cmd("GET")
            .arg(self.key("lease"))
            .query_async(con)
            .await
    }

    /// Records which Anthropic account (its uuid, no secret) each of this host's accounts
    /// logs in as.
    pub async fn set_identities(
        &self,
        con: &mut MultiplexedConnection,
        identities: &BTreeMap<AccountId, String>,
    ) -> redis::RedisResult<()> {
        for (account, uuid) in identities {
            let _: i64 = redis::cmd("HSET")
                .arg(self.key(&format!("identity:{account}")))
                .arg(self.host.as_str())
                .arg(uuid)
                .query_async(con)
                .await?;
        }
        Ok(())
    }

    /// Host → Anthropic account uuid recorded for `account` by every host.
    pub async fn identities(
        &self,
        con: &mut MultiplexedConnection,
        account: &AccountId,
    ) -> redis::RedisResult<BTreeMap<String, String>> {
        redis::cmd("HGETALL")
            .arg(self.key(&format!("identity:{account}")))
            .query_async(con)
            .await
    }
}

/// The instant of a news item.
pub(super) fn seen_at(wire: &Wire) -> UnixMillis {
    match wire {
        Wire::Account(n) => n.seen_at,
        Wire::Active(n) => n.seen_at,
    }
}

fn timeout_error() -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "redis did not answer in time",
    ))
}

fn json_error(e: serde_json::Error) -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}
