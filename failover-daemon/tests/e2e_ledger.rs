//! Three daemons on one machine sharing a ledger on a real redis-server, each with its own
//! tmux server, state dir, account dirs and mock API, running the real Claude Code CLI:
//! only host 1's session meets the exhausted quota, and hosts 2 and 3 move to the next
//! account without a single request on the exhausted one. Redis killed: every daemon keeps
//! answering and shows the ledger degraded; Redis back: what was learnt meanwhile reaches
//! the others and the hosts converge.

use crate::support::e2e as e2e_support;
use crate::support::redis as redis_support;

use e2e_support::{World, WorldSpec, five_hour_quota, mins, now_ms, real_claude};
use failover_daemon::http::dto::StatusDto;
use redis_support::RedisServer;

const DAEMON: &str = env!("CARGO_BIN_EXE_claude-failoverd");

fn ledger_state(s: &StatusDto) -> Option<&str> {
    s.daemon.ledger.as_deref()
}

fn state_of<'a>(s: &'a StatusDto, account: &str) -> &'a str {
    s.accounts
        .iter()
        .find(|a| a.name == account)
        .map_or("missing", |a| a.state.as_str())
}

async fn wait_ledger(world: &World, host: &str, want: &str) {
    world
        .wait_status(&format!("{host}: ledger {want}"), mins(1), |s| {
            ledger_state(s) == Some(want)
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hosts_share_one_ledger_and_converge_after_an_outage() {
    let Some(claude) = real_claude("three_hosts_share_one_ledger_and_converge_after_an_outage")
    else {
        return;
    };
    let mut redis = RedisServer::start();
    let spec = |host: &str| {
        let mut spec = WorldSpec::new(DAEMON, &claude, 3, 1);
        spec.extra = format!(
            "[ledger]\nurl = {:?}\nhost = {host:?}\nkey_prefix = \"e2e-ledger\"\n",
            redis.url()
        );
        spec
    };
    let hosts = [
        World::start(spec("host1")).await,
        World::start(spec("host2")).await,
        World::start(spec("host3")).await,
    ];
    for (i, world) in hosts.iter().enumerate() {
        wait_ledger(world, &format!("host{}", i + 1), "ok").await;
    }
    let [h1, h2, h3] = &hosts;

    // Only host 1's mock runs out on a; its session's next turn meets the limit.
    let exhausted_at = now_ms();
    h1.set_mode("a", five_hour_quota(3600));
    h1.submit("s0", "a turn that meets the limit on a");
    h1.wait_all_on("b", mins(3)).await;
    let on_b = [
        h2.wait_all_on("b", mins(2)).await,
        h3.wait_all_on("b", mins(2)).await,
    ];
    for (world, status) in [h2, h3].into_iter().zip(&on_b) {
        assert_eq!(state_of(status, "a"), "exhausted", "{status:#?}");
        let on_a: Vec<_> = world
            .api
            .requests()
            .into_iter()
            .filter(|r| r.at_ms >= exhausted_at && r.account.as_deref() == Some("a"))
            .collect();
        assert!(
            on_a.is_empty(),
            "requests on the exhausted account: {on_a:#?}"
        );
        assert!(
            world
                .api
                .requests()
                .iter()
                .any(|r| r.at_ms >= exhausted_at && r.account.as_deref() == Some("b")),
            "the session never reached b"
        );
    }

    // Redis goes away: every daemon keeps answering and says the ledger is degraded.
    redis.kill();
    for (i, world) in hosts.iter().enumerate() {
        wait_ledger(world, &format!("host{}", i + 1), "degraded").await;
        let (code, metrics) = e2e_support::client::request(&world.control, "GET", "/metrics", "")
            .await
            .expect("/metrics while Redis is down");
        assert_eq!(code, 200);
        assert!(
            metrics.contains("claude_failover_ledger{state=\"degraded\"} 1"),
            "{metrics}"
        );
    }
    // Meanwhile host 1 meets b's limit too and moves on alone; the others cannot hear it.
    h1.set_mode("b", five_hour_quota(3600));
    h1.submit("s0", "a turn that meets the limit on b");
    h1.wait_all_on("c", mins(3)).await;
    for world in [h2, h3] {
        let s = world.status().await.expect("status while Redis is down");
        assert_eq!(s.active_account.as_deref(), Some("b"));
    }

    // Redis comes back (empty): host 1 publishes what it kept, and the others converge.
    redis.restart();
    for (i, world) in hosts.iter().enumerate() {
        wait_ledger(world, &format!("host{}", i + 1), "ok").await;
    }
    for world in [h2, h3] {
        let s = world.wait_all_on("c", mins(3)).await;
        assert_eq!(state_of(&s, "a"), "exhausted");
        assert_eq!(state_of(&s, "b"), "exhausted");
    }
}
