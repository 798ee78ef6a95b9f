//! The chaos scenarios, each on a rig that `start` makes with the scenario's timeouts (a
//! mock EL here, EthereumJS in `container_chaos.rs`; `None` skips). Each name states the
//! outcome; [`Rig::heal_and_recover`] checks the invariants after the fault.

use crate::rig::{Rig, timeouts};
use engine_testkit::{Fault, FloodBody, HUNDRED_MB, MockEl};
use engine_types::config::TimeoutConfig;
use std::time::Duration;

/// A black hole (connections accepted, nothing ever answered) makes the slot's calls time
/// out and no block is made; once it is gone, the next slot lands its block, with the
/// black-holed slot's peg-in.
pub(crate) async fn blackhole_times_out_then_the_next_slot_lands_the_block(
    start: impl AsyncFn(TimeoutConfig) -> Option<Rig>,
) {
    let second = Duration::from_secs(1);
    let Some(mut rig) = start(timeouts(second, second, second)).await else { return };
    assert!(rig.slot().await);
    rig.proxy.set_blackhole(true);
    assert!(!rig.slot().await, "nothing is answered: no block");
    assert_eq!(rig.el_head().await.0, 1);
    rig.heal_and_recover().await;
}

/// Every connection is reset while the EL holds a commit's newPayload (2 s, under its 3 s
/// timeout): the client retries the idempotent call on a new connection and the block
/// lands once. Needs the mock EL (it holds the request); the rig of another EL fails here.
pub(crate) async fn connection_reset_mid_commit_is_retried_and_the_block_lands_once(
    start: impl AsyncFn(TimeoutConfig) -> Option<Rig>,
) {
    const NEW_PAYLOAD: &str = "engine_newPayloadV2";
    let Some(mut rig) =
        start(timeouts(Duration::from_secs(3), Duration::from_secs(1), Duration::from_secs(3)))
            .await
    else {
        return;
    };
    assert!(rig.slot().await);
    let built = rig.build().await.unwrap();
    let el = rig.el.as_ref().and_then(|el| el.downcast_ref::<MockEl>()).expect("a mock EL");
    el.fail_next(NEW_PAYLOAD, Fault::Delay(Duration::from_secs(2)), 1);
    rig.proxy.record_requests(true);
    let proxy = &rig.proxy;
    let reset = async {
        // Recorded by the proxy as it forwards it: from then on the EL holds it.
        let forwarded = async {
            while proxy.requests_of(NEW_PAYLOAD).is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), forwarded)
            .await
            .expect("the commit's newPayload reaches the EL");
        proxy.reset_connections();
    };
    let (committed, ()) = tokio::join!(rig.node.commit(&built), reset);
    let committed = committed.expect("retried after the reset");
    assert!(committed.head && committed.number == 2, "{committed:?}");
    assert_eq!(proxy.requests_of(NEW_PAYLOAD).len(), 2, "sent again on a new connection");
    rig.minted(committed.hash, &built.included);
    rig.heal_and_recover().await;
    assert_eq!(rig.el_head().await.0, 4, "one block per landed slot, none twice");
}

/// A bandwidth cap under which the payload cannot cross within its call's timeout (256 B/s,
/// against a getPayload of 1 s) fails the build and makes no block; lifted, the next slot
/// lands its block.
pub(crate) async fn bandwidth_below_the_payload_per_timeout_fails_the_build_then_the_next_slot_lands(
    start: impl AsyncFn(TimeoutConfig) -> Option<Rig>,
) {
    let Some(mut rig) =
        start(timeouts(Duration::from_secs(2), Duration::from_secs(1), Duration::from_secs(2)))
            .await
    else {
        return;
    };
    assert!(rig.slot().await);
    rig.proxy.set_bandwidth(Some(256));
    assert!(rig.build().await.is_err(), "the payload cannot arrive in time");
    assert_eq!(rig.el_head().await.0, 1);
    rig.heal_and_recover().await;
}

/// Latency well under every method's timeout (200 ms a chunk each way, against 1 s for
/// getPayload and 3 s for the rest) slows every call and fails none: each slot lands.
pub(crate) async fn latency_under_each_timeout_slows_but_lands_every_block(
    start: impl AsyncFn(TimeoutConfig) -> Option<Rig>,
) {
    let Some(mut rig) =
        start(timeouts(Duration::from_secs(3), Duration::from_secs(1), Duration::from_secs(3)))
            .await
    else {
        return;
    };
    rig.proxy.set_latency(Duration::from_millis(150), Duration::from_millis(50));
    for slot in 1..=3 {
        assert!(rig.slot().await, "slot {slot}");
    }
    rig.heal_and_recover().await;
    assert_eq!(rig.el_head().await.0, 5);
}

/// Latency just over getPayload's timeout (1.05 s a chunk each way against 1 s), still
/// under forkchoiceUpdated's (4 s): the build's forkchoiceUpdated starts a build, its
/// getPayload times out, and no block is made; without the latency the next slot lands.
pub(crate) async fn latency_over_get_payload_timeout_fails_the_build_then_the_next_slot_lands(
    start: impl AsyncFn(TimeoutConfig) -> Option<Rig>,
) {
    let Some(mut rig) =
        start(timeouts(Duration::from_secs(4), Duration::from_secs(1), Duration::from_secs(4)))
            .await
    else {
        return;
    };
    assert!(rig.slot().await);
    rig.proxy.record_requests(true);
    rig.proxy.set_latency(Duration::from_millis(1050), Duration::ZERO);
    let failed = rig.build().await;
    assert!(failed.is_err(), "{failed:?}");
    let updates = rig
        .proxy
        .requests()
        .into_iter()
        .filter(|r| r.method.starts_with("engine_forkchoiceUpdated"));
    assert_eq!(updates.count(), 1, "the build was started");
    assert_eq!(rig.el_head().await.0, 1);
    rig.heal_and_recover().await;
}

/// Latency just over forkchoiceUpdated's timeout (1.05 s a chunk each way against 2 s),
/// under newPayload's (8 s): the commit's newPayload is answered, its forkchoiceUpdated
/// reaches the EL, which makes the block its head, but the answer comes too late. The
/// caller gets an error; what landed finds the block canonical with its peg-ins minted,
/// and the next slot extends it without minting them again.
pub(crate) async fn latency_over_forkchoice_timeout_the_block_lands_and_what_landed_finds_it(
    start: impl AsyncFn(TimeoutConfig) -> Option<Rig>,
) {
    let Some(mut rig) =
        start(timeouts(Duration::from_secs(2), Duration::from_secs(1), Duration::from_secs(8)))
            .await
    else {
        return;
    };
    assert!(rig.slot().await);
    let built = rig.build().await.unwrap();
    rig.proxy.set_latency(Duration::from_millis(1050), Duration::ZERO);
    assert!(!rig.commit(&built).await, "the answer came too late");
    rig.proxy.set_latency(Duration::ZERO, Duration::ZERO);
    assert_eq!(rig.el_head().await.1, built.payload.block_hash(), "the EL applied it");
    rig.proxy.heal().await.unwrap();
    assert_eq!(rig.settle().await, [true], "what landed finds it canonical");
    rig.heal_and_recover().await;
    assert_eq!(rig.el_head().await.0, 4);
}

/// Latency just over newPayload's timeout (1.05 s a chunk each way against 1 s): the
/// commit fails before its forkchoiceUpdated, the block never becomes the head, what landed
/// says its peg-ins are unminted, and the next slot mints them.
pub(crate) async fn latency_over_new_payload_timeout_fails_the_commit_and_the_next_block_mints_its_peg_ins(
    start: impl AsyncFn(TimeoutConfig) -> Option<Rig>,
) {
    let Some(mut rig) =
        start(timeouts(Duration::from_secs(4), Duration::from_secs(1), Duration::from_secs(1)))
            .await
    else {
        return;
    };
    assert!(rig.slot().await);
    let built = rig.build().await.unwrap();
    rig.proxy.set_latency(Duration::from_millis(1050), Duration::ZERO);
    assert!(!rig.commit(&built).await, "the block did not become the head");
    assert_eq!(rig.el_head().await.0, 1);
    rig.proxy.heal().await.unwrap();
    assert_eq!(rig.settle().await, [false], "what landed finds it off the chain");
    assert!(rig.pending.iter().any(|p| built.included.contains(p)), "its peg-in is pending");
    rig.heal_and_recover().await;
}

/// Replies cut mid-body (the first 200 bytes of each answer, past its head, then the
/// connection closed) fail the commit at newPayload, after the EL received the block but
/// before it became the head: what landed says its peg-ins are unminted, and once replies
/// are whole again the next slot mints them.
pub(crate) async fn reply_cut_mid_body_fails_the_commit_then_the_next_block_mints_its_peg_ins(
    start: impl AsyncFn(TimeoutConfig) -> Option<Rig>,
) {
    let second = Duration::from_secs(1);
    let Some(mut rig) = start(timeouts(second, second, second)).await else { return };
    assert!(rig.slot().await);
    let built = rig.build().await.unwrap();
    rig.proxy.record_requests(true);
    rig.proxy.set_cut_replies_after(Some(200));
    assert!(!rig.commit(&built).await, "no whole answer: the block is not the head");
    assert_eq!(rig.el_head().await.0, 1);
    let sent = rig.proxy.requests();
    assert!(sent.iter().any(|r| r.method.starts_with("engine_newPayload")), "the EL got it");

    rig.proxy.heal().await.unwrap();
    assert_eq!(rig.settle().await, [false], "what landed finds it off the chain");
    rig.heal_and_recover().await;
}

/// An answer of 100 MB declared in its `Content-Length` (over the 64 MiB response limit) is
/// refused before its body is read: the build fails and no block is made; without the
/// flood, the next slot lands.
pub(crate) async fn hundred_mb_body_is_refused_unread_then_the_next_slot_lands(
    start: impl AsyncFn(TimeoutConfig) -> Option<Rig>,
) {
    let second = Duration::from_secs(1);
    let Some(mut rig) = start(timeouts(second, second, second)).await else { return };
    assert!(rig.slot().await);
    rig.proxy.set_flood(Some(FloodBody::Sized(HUNDRED_MB)));
    let refused = rig.build().await;
    let message = refused.expect_err("a 100 MB answer is refused").to_string();
    assert!(message.contains("limit"), "{message}");
    assert_eq!(rig.el_head().await.0, 1);
    rig.heal_and_recover().await;
}

/// An endless answer (no length, bytes until the client hangs up) is read up to the 64 MiB
/// response limit and dropped there: the build fails, no block is made, and without the
/// flood the next slot lands.
pub(crate) async fn endless_body_is_cut_at_the_response_limit_then_the_next_slot_lands(
    start: impl AsyncFn(TimeoutConfig) -> Option<Rig>,
) {
    let long = Duration::from_secs(8);
    let Some(mut rig) = start(timeouts(long, long, long)).await else { return };
    assert!(rig.slot().await);
    rig.proxy.set_flood(Some(FloodBody::Endless));
    let refused = rig.build().await;
    let message = refused.expect_err("an endless answer is refused").to_string();
    assert!(message.contains("limit"), "{message}");
    assert_eq!(rig.el_head().await.0, 1);
    rig.heal_and_recover().await;
}
