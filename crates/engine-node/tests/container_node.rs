//! The node binary against a real EthereumJS in a container (issue [I1]): given the client's
//! Engine API URL, JWT secret file, public RPC and genesis, `--blocks 10` produces ten
//! blocks on it, and the client reports them and the finality the node chose. (Simulated
//! peg-ins and peg-outs are the embedded devnet's only: a real client's chain gets none.)
//!
//! Runs only with the `container-tests` feature, from the `containers` CI stage:
//! `cargo nextest run -p engine-node --features container-tests -E 'test(/container_/)'`.
//! Outside CI a missing daemon or image skips the test with one line; with `CI` set it fails.
#![cfg(feature = "container-tests")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code, unreachable_pub)]
#[path = "node/harness.rs"]
mod harness;

use engine_testkit::{
    JwtSecret,
    containers::{ElContainer, ElKind, EthereumJs, EthereumJsAsDocumented},
    devnet::dev_genesis,
};
use engine_types::{Fork, ForkSchedule};
use harness::{Node, base_args, block_numbers};
use serde_json::{Value, json};

/// `method(params)` on the client's public RPC: its `result`.
async fn rpc(url: &str, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let answer: Value =
        reqwest::Client::new().post(url).json(&body).send().await.unwrap().json().await.unwrap();
    answer.get("result").cloned().unwrap_or_else(|| panic!("{method}: {answer}"))
}

/// The number (as u64) and hash of the client's block under `tag`.
async fn block(url: &str, tag: &str) -> (u64, String) {
    let block = rpc(url, "eth_getBlockByNumber", json!([tag, false])).await;
    let number = block["number"].as_str().unwrap().trim_start_matches("0x");
    (u64::from_str_radix(number, 16).unwrap(), block["hash"].as_str().unwrap().to_owned())
}

/// On Cancun from genesis (V3 methods), `engine-node --engine-url … --blocks 10` drives the
/// container: it exits 0 after blocks 1 to 10 with no failed slot, the client's chain is
/// the one the progress lines name, block by block, and the client reports the finalized
/// block the node chose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_node_drives_ethereumjs_for_ten_blocks() {
    drive_ten_blocks::<EthereumJs>().await;
}

/// The same against EthereumJS started the way its README shows (no `--isSingleNode`: its
/// `eth_syncing` fails with -32603, its Engine API works): ten blocks, no failed slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_node_drives_ethereumjs_as_documented_for_ten_blocks() {
    drive_ten_blocks::<EthereumJsAsDocumented>().await;
}

async fn drive_ten_blocks<K: ElKind + Default>() {
    let genesis = dev_genesis(ForkSchedule::all_from_genesis(Fork::Cancun)).unwrap();
    let jwt = JwtSecret::random();
    let Some(el) = ElContainer::<K>::start_or_skip(&genesis, &jwt).await.unwrap() else {
        return;
    };
    let files = tempfile::tempdir().unwrap();
    let (genesis_path, jwt_path) =
        (files.path().join("genesis.json"), files.path().join("jwt.hex"));
    std::fs::write(&genesis_path, serde_json::to_vec_pretty(&genesis).unwrap()).unwrap();
    std::fs::write(&jwt_path, jwt.to_hex()).unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut args = base_args(data.path());
    args.extend([
        "--engine-url".to_owned(),
        el.engine_url(),
        "--public-url".to_owned(),
        el.rpc_url(),
        "--jwt-secret".to_owned(),
        jwt_path.display().to_string(),
        "--genesis".to_owned(),
        genesis_path.display().to_string(),
        "--blocks".to_owned(),
        "10".to_owned(),
        "--slot-time".to_owned(),
        "500ms".to_owned(),
        "--finalize-every".to_owned(),
        "4".to_owned(),
    ]);
    let (exit, stderr, lines) = Node::spawn(&args).exit().await;
    assert!(exit.success(), "{exit}: {stderr}\n{}", lines.join("\n"));
    assert_eq!(block_numbers(&lines), (1..=10).collect::<Vec<_>>(), "{}", lines.join("\n"));
    assert!(!lines.iter().any(|l| l.contains("embedded devnet")), "no devnet of its own");

    let url = el.rpc_url();
    assert_eq!(block(&url, "latest").await.0, 10);
    for number in 1..=10u64 {
        let (_, hash) = block(&url, &format!("{number:#x}")).await;
        let named = format!("block {number} {}", &hash[..10]);
        assert!(lines.iter().any(|l| l.contains(&named)), "no line {named}…: {}", lines.join("\n"));
    }
    assert_eq!(block(&url, "finalized").await.0, 8, "finalized every 4 blocks");
    let summary = lines.iter().find(|l| l.contains("summary: 10 blocks")).unwrap();
    assert!(summary.contains("0 failed slots"), "{summary}");
}
