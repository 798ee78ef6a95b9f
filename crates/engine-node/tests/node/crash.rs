//! SIGKILL at random moments, restart on the same data directory: nothing is lost, nothing
//! is repeated.

use crate::harness::{Node, base_args, block_numbers};
use engine_types::{
    PegIn, Satoshis,
    primitives::{Address, keccak256},
};
use serde_json::{Value, json};
use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    time::Duration,
};

/// How many times the node is killed.
const KILLS: usize = 20;

/// The seed of the kill moments (the assertions hold for any seed).
const SEED: u64 = 0x00a1_55c4_a5e5_eed5;

/// Simulated peg-ins per slot.
const PEG_INS_PER_SLOT: u64 = 3;

/// splitmix64: a small deterministic generator for the kill moments.
struct Moments(u64);

impl Moments {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Simulated peg-in number `n`, derived as the node's simulator documents it (`sim.rs`,
/// `Simulator::peg_in`).
fn simulated(n: u64) -> PegIn {
    let seed = keccak256(n.to_be_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&seed[..8]);
    PegIn {
        evm_address: Address::from_slice(&seed[12..]),
        amount: Satoshis(100_000 + u64::from_be_bytes(head) % 4_900_000),
        bitcoin_txid: keccak256(seed),
    }
}

/// A JSON-RPC call to `url`: its result, or what went wrong.
async fn rpc(
    client: &reqwest::Client,
    url: &str,
    method: &str,
    params: Value,
) -> Result<Value, String> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let answer: Value = client
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("{method}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("{method}: {e}"))?;
    match answer.get("error") {
        None => Ok(answer["result"].clone()),
        Some(e) => Err(format!("{method}: {e}")),
    }
}

fn quantity(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// The canonical chain the devnet at `url` serves, by number from 1.
async fn chain(client: &reqwest::Client, url: &str) -> Result<BTreeMap<u64, Value>, String> {
    let head = quantity(&rpc(client, url, "eth_blockNumber", json!([])).await?);
    let mut blocks = BTreeMap::new();
    for n in 1..=head {
        let block =
            rpc(client, url, "eth_getBlockByNumber", json!([format!("{n:#x}"), false])).await?;
        blocks.insert(n, block);
    }
    Ok(blocks)
}

/// The chain `node` serves at `url`; if it cannot be read, the node stopped by itself:
/// fails with what it said.
async fn chain_of(
    node: Node,
    client: &reqwest::Client,
    url: &str,
    run: &str,
) -> (Node, BTreeMap<u64, Value>) {
    match chain(client, url).await {
        Ok(blocks) => (node, blocks),
        Err(e) => {
            let (exit, stderr, out) = node.exit().await;
            let tail = out[out.len().saturating_sub(30)..].join("\n");
            panic!("{run}: the devnet does not answer ({e}); the node: {exit}, {stderr}\n{tail}");
        }
    }
}

/// The `public=` URL of the embedded devnet's start line.
async fn public_url(node: &mut Node) -> String {
    let line =
        node.wait_for_line("the devnet's start", |l| l.contains("execution layer started")).await;
    line.split("public=").nth(1).unwrap().split_whitespace().next().unwrap().to_string()
}

/// The engine's persisted head and finalized numbers.
fn engine_heads(dir: &Path) -> (u64, u64) {
    let store = engine_actor::persist::StateStore::new(dir, false);
    store.load().ok().flatten().map_or((0, 0), |s| (s.heads.head.number, s.heads.finalized.number))
}

/// The Chain's peg-in queue as its log's last record holds it.
fn chain_queue(dir: &Path) -> Value {
    let layout = engine_actor::persist::log::Layout {
        magic: b"ACHQLOG1",
        what: "a peg-in queue log",
        max_record: 16 << 20,
    };
    let bytes = std::fs::read(dir.join("chain-queue.log")).unwrap();
    serde_json::from_slice(layout.decode(&bytes).unwrap()).unwrap()
}

/// The progress lines of `lines` as (number, short hash).
fn progress(lines: &[String]) -> Vec<(u64, String)> {
    lines
        .iter()
        .filter_map(|l| {
            let [number] = block_numbers(std::slice::from_ref(l))[..] else { return None };
            let rest = &l[l.find(&format!("block {number} "))?..];
            let hash = rest.split_whitespace().nth(2)?.trim_end_matches('…').to_string();
            Some((number, hash))
        })
        .collect()
}

/// The node is killed with SIGKILL at twenty moments spread over a run of 100 ms slots
/// (during start, reconcile, builds, store writes, commits, finality) and started again on
/// the same data directory each time; a last run produces three more blocks and stays up.
/// Then:
/// - every block seen on the devnet before a kill, and every block a progress line
///   reported, is the block at its height on the final chain (none produced twice at one
///   height, the chain continued from where it was);
/// - the engine's persisted head and finalized block never went back;
/// - every peg-in the simulator ever created (numbers `0..next_simulated` of the persisted
///   queue) is either minted exactly once by the final chain's withdrawals or still held in
///   the queue, never both, and the minted amounts add up; withdrawal indices are
///   contiguous from 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = base_args(dir.path());
    args.extend(
        [
            "--slot-time",
            "100ms",
            "--finalize-every",
            "3",
            "--peg-ins-per-slot",
            &PEG_INS_PER_SLOT.to_string(),
            "--summary-every",
            "0",
        ]
        .map(String::from),
    );
    let client = reqwest::Client::new();
    let mut moments = Moments(SEED);
    // Every (height, hash) seen: on the devnet before a kill, or in a progress line.
    let mut seen: HashMap<u64, Vec<String>> = HashMap::new();
    let mut last_heads = (0, 0);
    let mut lines = Vec::new();
    for kill in 0..KILLS {
        let mut node = Node::spawn(&args);
        let url = public_url(&mut node).await;
        // A moment from the devnet's start to well into the production of blocks.
        let moment = Duration::from_millis(moments.next() % 900);
        tokio::time::sleep(moment).await;
        let (node, blocks) = chain_of(node, &client, &url, &format!("run {kill}")).await;
        for (n, block) in blocks {
            seen.entry(n).or_default().push(block["hash"].as_str().unwrap().to_string());
        }
        node.signal("KILL");
        let (exit, stderr, out) = node.exit().await;
        assert!(!exit.success(), "kill {kill}: the node was not killed: {stderr}");
        assert!(!stderr.contains("panicked"), "kill {kill}: {stderr}");
        lines.extend(out);
        let heads = engine_heads(dir.path());
        assert!(
            heads.0 >= last_heads.0 && heads.1 >= last_heads.1,
            "kill {kill} after {moment:?}: head/finalized went back from {last_heads:?} to \
             {heads:?}"
        );
        last_heads = heads;
    }

    let mut last = args.clone();
    last.extend(["--blocks", "3", "--stay-up"].map(String::from));
    let mut node = Node::spawn(&last);
    let url = public_url(&mut node).await;
    node.wait_for_line("the block limit", |l| l.contains("block limit reached")).await;
    let (node, final_chain) = chain_of(node, &client, &url, "the last run").await;
    let queue = chain_queue(dir.path());
    node.terminate();
    let (exit, stderr, out) = node.exit().await;
    assert!(exit.success(), "the last run: {exit}: {stderr}");
    lines.extend(out);
    let heads = engine_heads(dir.path());
    assert!(heads.0 >= last_heads.0 && heads.1 >= last_heads.1, "{last_heads:?} → {heads:?}");
    let head = *final_chain.keys().last().unwrap();
    assert_eq!(heads.0, head, "the engine's head is the devnet's");

    // No block produced twice at one height: what was seen is what is there.
    let hash_at = |n: u64| final_chain[&n]["hash"].as_str().unwrap().to_string();
    for (n, hashes) in &seen {
        for hash in hashes {
            assert_eq!(*hash, hash_at(*n), "block {n} changed across a restart");
        }
    }
    for (n, short) in progress(&lines) {
        assert!(n <= head, "block {n} was reported but the chain ends at {head}");
        assert!(hash_at(n).starts_with(&short), "block {n} reported as {short}, is {}", hash_at(n));
    }

    // Every simulated peg-in minted once or still held, never both, never lost.
    let created = queue["next_simulated"].as_u64().unwrap();
    let mut held: Vec<PegIn> = serde_json::from_value(queue["pending"].clone()).unwrap();
    for entry in queue["unsettled"].as_array().unwrap() {
        held.extend(serde_json::from_value::<Vec<PegIn>>(entry["peg_ins"].clone()).unwrap());
    }
    let mut minted: HashMap<Address, u64> = HashMap::new();
    let mut next_index = 0;
    for (n, block) in &final_chain {
        for w in block["withdrawals"].as_array().unwrap() {
            assert_eq!(quantity(&w["index"]), next_index, "withdrawal indices in block {n}");
            next_index += 1;
            let address: Address = w["address"].as_str().unwrap().parse().unwrap();
            let previous = minted.insert(address, quantity(&w["amount"]));
            assert!(previous.is_none(), "{address} minted twice (block {n})");
        }
    }
    let (mut minted_gwei, mut created_gwei, mut minted_count) = (0u64, 0u64, 0u64);
    for i in 0..created {
        let p = simulated(i);
        let gwei = p.amount.0 * 10;
        created_gwei += gwei;
        let is_held = held.contains(&p);
        match minted.remove(&p.evm_address) {
            Some(amount) => {
                assert_eq!(amount, gwei, "peg-in {i} minted with another amount");
                assert!(!is_held, "peg-in {i} is minted and still queued");
                minted_gwei += amount;
                minted_count += 1;
            }
            None => assert!(is_held, "peg-in {i} was lost: neither minted nor queued"),
        }
    }
    assert!(minted.is_empty(), "withdrawals of no simulated peg-in: {minted:?}");
    assert_eq!(held.len() as u64, created - minted_count, "the queue holds each peg-in once");
    let held_gwei: u64 = held.iter().map(|p| p.amount.0 * 10).sum();
    assert_eq!(minted_gwei + held_gwei, created_gwei, "the amounts add up");
    assert!(created >= PEG_INS_PER_SLOT * 3, "the last run alone created {created}");
    let count = |what: &str| lines.iter().filter(|l| l.contains(what)).count();
    eprintln!(
        "{KILLS} kills: {head} blocks, {created} peg-ins created, {} held at the end; \
         {} settled by asking, {} heads adopted from the devnet, {} uncommitted stored \
         blocks dropped, {} peg-ins dropped as already minted",
        held.len(),
        count("settled: "),
        count("the engine moved its head"),
        count("were never committed: deleted"),
        count("already minted: dropped"),
    );
}
