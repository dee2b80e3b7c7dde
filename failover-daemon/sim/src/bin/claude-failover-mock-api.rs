//! `claude-failover-mock-api`: the mock Anthropic API as a standalone server, for manual use.
//!
//! ```text
//! claude-failover-mock-api --port 8787 --accounts tokA=alice,tokB=bob
//! curl -X POST localhost:8787/_mock/accounts/alice/mode \
//!      -d '{"mode":"quota_exhausted","window":"five_hour","resets_in_secs":600}'
//! curl localhost:8787/_mock/requests
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use failover_sim::mock_api::{MockAccount, MockApi, MockApiConfig};

/// A local mock of the Anthropic Messages API for driving Claude Code offline.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one; the address is printed on stdout).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Known accounts: TOKEN=NAME,TOKEN=NAME (unknown tokens are served too, in normal mode).
    #[arg(long, default_value = "")]
    accounts: String,
    /// Milliseconds to wait before each reply (to watch a client "working").
    #[arg(long, default_value_t = 0)]
    reply_delay_ms: u64,
    /// Milliseconds between streamed events.
    #[arg(long, default_value_t = 0)]
    chunk_delay_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FAILOVER_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut config = MockApiConfig::local(MockAccount::parse_list(&args.accounts)?);
    config.addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    config.reply_delay = Duration::from_millis(args.reply_delay_ms);
    config.chunk_delay = Duration::from_millis(args.chunk_delay_ms);
    let api = MockApi::start(config).await?;
    println!("{}", api.base_url());
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    api.shutdown().await?;
    Ok(())
}
