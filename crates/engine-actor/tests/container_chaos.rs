//! Chaos and clock skew against a real EthereumJS in a container (issue [F2]): a subset of
//! `tests/chaos` (a black hole, a reply cut mid-body, a 100 MB body, latency over
//! forkchoiceUpdated's timeout) with the chaos proxy between the engine and EthereumJS's
//! engine port, and Hive's `engine-auth` clock checks (a client 58 s off accepted, 62 s off
//! refused with the clocks named).
//!
//! Runs only with the `container-tests` feature, from the `containers` CI stage:
//! `cargo nextest run -p engine-actor --features container-tests --test container_chaos`.
//! Outside CI a missing daemon or image skips each test with one line; with `CI` set it fails.
#![cfg(feature = "container-tests")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code, unreachable_pub)]
#[path = "e2e/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "chaos/rig.rs"]
mod rig;
#[allow(dead_code)]
#[path = "chaos/scenarios.rs"]
mod scenarios;
#[path = "chaos/skew.rs"]
mod skew;

use engine_client::jwt::JwtAuth;
use engine_testkit::{
    JwtSecret,
    containers::{ElContainer, EthereumJs},
    devnet::dev_genesis,
};
use engine_types::{ForkSchedule, config::TimeoutConfig};
use harness::ElAddress;
use rig::Rig;

/// A ready engine driving a fresh EthereumJS (Shanghai from genesis) through a chaos
/// proxy; `None` when containers are skipped.
async fn ethereumjs(timeouts: TimeoutConfig) -> Option<Rig> {
    let schedule = ForkSchedule::shanghai_from_genesis();
    let genesis = dev_genesis(schedule).unwrap();
    let jwt = JwtSecret::random();
    let container = ElContainer::<EthereumJs>::start_or_skip(&genesis, &jwt).await.unwrap()?;
    let engine = format!("127.0.0.1:{}", container.ports().engine).parse().unwrap();
    let address = ElAddress {
        engine_url: container.engine_url(),
        public_url: container.rpc_url(),
        jwt_hex: jwt.to_hex(),
    };
    let timing = rig::timing();
    let mut rig = Rig::start(engine, address, schedule, genesis.timestamp, timeouts, &timing).await;
    rig.el = Some(Box::new(container));
    Some(rig)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_ethereumjs_blackhole_times_out_then_the_next_slot_lands_the_block() {
    scenarios::blackhole_times_out_then_the_next_slot_lands_the_block(ethereumjs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_ethereumjs_reply_cut_mid_body_fails_the_commit_then_the_next_block_mints_its_peg_ins()
 {
    scenarios::reply_cut_mid_body_fails_the_commit_then_the_next_block_mints_its_peg_ins(
        ethereumjs,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_ethereumjs_hundred_mb_body_is_refused_unread_then_the_next_slot_lands() {
    scenarios::hundred_mb_body_is_refused_unread_then_the_next_slot_lands(ethereumjs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_ethereumjs_latency_over_forkchoice_timeout_the_block_lands_and_what_landed_finds_it()
 {
    scenarios::latency_over_forkchoice_timeout_the_block_lands_and_what_landed_finds_it(ethereumjs)
        .await;
}

/// EthereumJS accepts a client clock 58 s off its own, either way, and refuses one 62 s off
/// with a 401 whose `Date` lets the engine name the clocks. (58, not Hive's 59: EthereumJS
/// reads its clock when it checks the token, which on a loaded machine can be a second
/// after we signed it; see the shared check.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_ethereumjs_client_clock_58_s_off_is_accepted_62_s_off_is_refused_naming_the_clock()
 {
    let genesis = dev_genesis(ForkSchedule::shanghai_from_genesis()).unwrap();
    let secret = JwtSecret::random();
    let Some(container) =
        ElContainer::<EthereumJs>::start_or_skip(&genesis, &secret).await.unwrap()
    else {
        return;
    };
    let jwt = JwtAuth::new(&secret, None, None);
    let url = container.engine_url();
    skew::skewed_clients_accepted_within_62_s_refused_naming_the_clock(&url, &jwt, 58).await;
}
