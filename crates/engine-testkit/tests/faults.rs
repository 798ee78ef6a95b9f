//! Each scripted fault behaves as documented, for exactly the calls it was scripted for.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use engine_testkit::ElPorts;
mod common;

use common::Rpc;
use engine_testkit::{Fault, MockEl, MockElConfig, Outcome, Restart, rpc_server::ANY_METHOD};
use engine_types::PayloadStatusWire;
use serde_json::json;
use std::time::Duration;

const FCU: &str = "engine_forkchoiceUpdatedV2";

async fn el() -> (MockEl, Rpc) {
    let el = MockEl::start(MockElConfig::default()).await.unwrap();
    let rpc = Rpc::engine(&el);
    (el, rpc)
}

fn head_state(el: &MockEl) -> serde_json::Value {
    let g = el.genesis().hash;
    json!([{"headBlockHash": g, "safeBlockHash": g, "finalizedBlockHash": g}])
}

/// SYNCING×3 then the chain's own VALID; the scripted calls never reach the chain.
#[tokio::test]
async fn status_sequence_then_default() {
    let (el, rpc) = el().await;
    el.fail_next(FCU, Fault::Status(PayloadStatusWire::syncing()), 3);
    for _ in 0..3 {
        let r = rpc.result(FCU, head_state(&el)).await;
        assert_eq!(r["payloadStatus"]["status"], "SYNCING");
        assert_eq!(r["payloadId"], json!(null));
    }
    assert!(el.safe().is_none(), "faulted calls did not reach the chain");
    let r = rpc.result(FCU, head_state(&el)).await;
    assert_eq!(r["payloadStatus"]["status"], "VALID");
    let calls = el.calls(FCU);
    assert_eq!(calls.len(), 4);
    assert!(calls[..3].iter().all(|c| c.fault.is_some()) && calls[3].fault.is_none());
    assert_eq!(el.safe().unwrap().hash, el.genesis().hash, "the unfaulted call did");
    assert_eq!(calls[3].result().unwrap()["payloadStatus"]["status"], "VALID");
}

/// Fixed results and JSON-RPC errors with any code, one-shot, in sequence.
#[tokio::test]
async fn results_and_errors() {
    let (el, rpc) = el().await;
    el.fail_sequence(
        "eth_chainId",
        [
            Fault::Result(json!("0x1")),
            Fault::rpc_error(-38006, "too deep"),
            Fault::rpc_error(12345, "odd"),
        ],
    );
    assert_eq!(rpc.result("eth_chainId", json!([])).await, json!("0x1"));
    assert_eq!(rpc.error_code("eth_chainId", json!([])).await, -38006);
    assert_eq!(rpc.error_code("eth_chainId", json!([])).await, 12345);
    assert_eq!(rpc.result("eth_chainId", json!([])).await, json!("0x1d97c"));
    assert_eq!(el.script().pending_faults("eth_chainId"), 0);
}

/// Injected HTTP statuses, until cleared, for every method through the wildcard.
#[tokio::test]
async fn http_status_until_cleared() {
    let (el, rpc) = el().await;
    el.fail_always(ANY_METHOD, Fault::HttpStatus(503));
    for method in ["eth_chainId", "eth_blockNumber", FCU] {
        let resp = rpc.send(method, json!([])).await.unwrap();
        assert_eq!(resp.status(), 503, "{method}");
    }
    assert_eq!(el.last_call().unwrap().outcome, Outcome::Http { status: 503 });
    el.clear_faults(ANY_METHOD);
    assert_eq!(rpc.send("eth_chainId", json!([])).await.unwrap().status(), 200);
}

/// A malformed body is a 200 that does not parse; an oversized one is valid JSON of the
/// requested size.
#[tokio::test]
async fn malformed_and_oversized_bodies() {
    let (el, rpc) = el().await;
    el.fail_next("eth_chainId", Fault::MalformedJson, 1);
    let resp = rpc.send("eth_chainId", json!([])).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(serde_json::from_str::<serde_json::Value>(&resp.text().await.unwrap()).is_err());

    el.fail_next("eth_chainId", Fault::oversized_mb(2), 1);
    let body = rpc.send("eth_chainId", json!([])).await.unwrap().bytes().await.unwrap();
    assert_eq!(body.len(), 2 * 1024 * 1024);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["id"], 1);
}

/// A truncated body and a closed connection both fail the request at the transport level,
/// and the server keeps serving afterwards.
#[tokio::test]
async fn truncated_and_closed() {
    let (el, rpc) = el().await;
    el.fail_next("eth_chainId", Fault::TruncatedBody, 1);
    let truncated = async { rpc.send("eth_chainId", json!([])).await?.bytes().await }.await;
    assert!(truncated.is_err(), "a truncated body must not read as complete");
    assert!(
        matches!(el.last_call().unwrap().outcome, Outcome::Truncated { declared, sent } if sent < declared)
    );

    el.fail_next("eth_chainId", Fault::CloseConnection, 1);
    assert!(rpc.send("eth_chainId", json!([])).await.is_err());
    assert_eq!(rpc.result("eth_chainId", json!([])).await, json!("0x1d97c"));
}

/// A delayed call is answered by the chain after the delay; a hung one never answers
/// (the client's own timeout fires), and going down releases it.
#[tokio::test]
async fn delay_and_hang() {
    let (el, rpc) = el().await;
    el.fail_next("eth_blockNumber", Fault::Delay(Duration::from_millis(50)), 1);
    assert_eq!(rpc.result("eth_blockNumber", json!([])).await, json!("0x0"));
    assert_eq!(el.calls("eth_blockNumber")[0].fault, Some(Fault::Delay(Duration::from_millis(50))));

    el.fail_next("eth_blockNumber", Fault::Hang, 1);
    let hung = rpc.send("eth_blockNumber", json!([]));
    tokio::pin!(hung);
    // A hung call is recorded as it arrives, however long the client takes to send it.
    let calls = tokio::select! {
        answer = &mut hung => panic!("a hung call must not answer: {answer:?}"),
        calls = el.wait_for_calls("eth_blockNumber", 2, Duration::from_secs(10)) => calls.unwrap(),
    };
    assert_eq!(calls[1].outcome, Outcome::Hung);
    let later = tokio::time::timeout(Duration::from_millis(300), hung).await;
    assert!(later.is_err(), "a hung call must not answer");
}

/// Going down refuses connections; coming back serves the same ports, with or without the
/// chain.
#[tokio::test]
async fn down_and_back() {
    let (el, rpc) = el().await;
    let genesis = el.genesis().hash;
    let g = json!([{"headBlockHash": genesis, "safeBlockHash": genesis, "finalizedBlockHash": genesis}, {
        "timestamp": "0x5", "prevRandao": genesis, "suggestedFeeRecipient": "0x000000000000000000000000000000000000dead", "withdrawals": []
    }]);
    let id = rpc.result(FCU, g.clone()).await["payloadId"].clone();
    let (engine, public) = (el.engine_url(), el.public_url());
    el.go_down().await;
    assert!(rpc.send("eth_chainId", json!([])).await.unwrap_err().is_connect());
    assert!(Rpc::new(public.clone(), None).send("eth_chainId", json!([])).await.is_err());

    el.come_back(Restart::KeepChain).await.unwrap();
    assert_eq!((el.engine_url(), el.public_url()), (engine, public));
    assert!(rpc.result("engine_getPayloadV2", json!([id])).await.is_object(), "build kept");

    el.go_down().await;
    el.come_back(Restart::LoseChain).await.unwrap();
    assert_eq!(rpc.error_code("engine_getPayloadV2", json!([id])).await, -38001, "build lost");
    assert!(el.come_back(Restart::KeepChain).await.is_err(), "already up");
}

/// Waiting for calls returns once they arrive, and times out naming what it waited for.
#[tokio::test]
async fn wait_for_calls() {
    let (el, rpc) = el().await;
    let waiter = el.wait_for_calls("eth_chainId", 2, Duration::from_secs(10));
    let sender = async {
        rpc.result("eth_chainId", json!([])).await;
        rpc.result("eth_chainId", json!([])).await;
    };
    let (calls, ()) = tokio::join!(waiter, sender);
    assert_eq!(calls.unwrap().len(), 2);
    let err = el.wait_for_calls("eth_syncing", 1, Duration::from_millis(20)).await.unwrap_err();
    assert!(err.to_string().contains("1 call(s) of eth_syncing"), "{err}");
}

/// A lost reply: the call is carried out (the forkchoice state is applied) but the client
/// gets no answer, only a closed connection; the next call is answered as usual.
#[tokio::test]
async fn lost_reply_acts_but_never_answers() {
    let (el, rpc) = el().await;
    el.fail_next(FCU, Fault::LoseReply, 1);
    assert!(rpc.send(FCU, head_state(&el)).await.is_err(), "no answer came back");
    assert_eq!(el.safe().unwrap().hash, el.genesis().hash, "the state was applied");
    let r = rpc.result(FCU, head_state(&el)).await;
    assert_eq!(r["payloadStatus"]["status"], "VALID");
}
