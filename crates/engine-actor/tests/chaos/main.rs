//! The engine actor over real HTTP with the chaos proxy between its pool and the testkit's
//! mock EL (Geth's rules): connections reset mid-request, a black hole, a bandwidth cap
//! below the payload per timeout, latency under and over each method's timeout, replies cut
//! mid-body, and a 100 MB body (sized and endless). [`rig`] runs the slots and checks the
//! invariants after each fault; `container_chaos.rs` runs some of them against EthereumJS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code, unreachable_pub)]
#[path = "../e2e/harness.rs"]
mod harness;
#[allow(dead_code)]
mod rig;
mod scenarios;

use engine_types::config::TimeoutConfig;
use rig::Rig;

/// A ready engine on a fresh mock EL.
async fn mock(timeouts: TimeoutConfig) -> Option<Rig> {
    Some(Rig::mock(timeouts).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackhole_times_out_then_the_next_slot_lands_the_block() {
    scenarios::blackhole_times_out_then_the_next_slot_lands_the_block(mock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_reset_mid_commit_is_retried_and_the_block_lands_once() {
    scenarios::connection_reset_mid_commit_is_retried_and_the_block_lands_once(mock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_below_the_payload_per_timeout_fails_the_build_then_the_next_slot_lands() {
    scenarios::bandwidth_below_the_payload_per_timeout_fails_the_build_then_the_next_slot_lands(
        mock,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_under_each_timeout_slows_but_lands_every_block() {
    scenarios::latency_under_each_timeout_slows_but_lands_every_block(mock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_over_get_payload_timeout_fails_the_build_then_the_next_slot_lands() {
    scenarios::latency_over_get_payload_timeout_fails_the_build_then_the_next_slot_lands(mock)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_over_forkchoice_timeout_the_block_lands_and_what_landed_finds_it() {
    scenarios::latency_over_forkchoice_timeout_the_block_lands_and_what_landed_finds_it(mock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_over_new_payload_timeout_fails_the_commit_and_the_next_block_mints_its_peg_ins() {
    scenarios::latency_over_new_payload_timeout_fails_the_commit_and_the_next_block_mints_its_peg_ins(mock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_cut_mid_body_fails_the_commit_then_the_next_block_mints_its_peg_ins() {
    scenarios::reply_cut_mid_body_fails_the_commit_then_the_next_block_mints_its_peg_ins(mock)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_mb_body_is_refused_unread_then_the_next_slot_lands() {
    scenarios::hundred_mb_body_is_refused_unread_then_the_next_slot_lands(mock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_body_is_cut_at_the_response_limit_then_the_next_slot_lands() {
    scenarios::endless_body_is_cut_at_the_response_limit_then_the_next_slot_lands(mock).await;
}
