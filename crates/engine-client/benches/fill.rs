//! How full the pool's blocks are against an execution client that fills them in the
//! background (P2 item 6): the mock as Geth (`miner/payload_building.go`) and Reth
//! (`crates/payload/basic`) behave, an empty block at once and the full one `FILL` later,
//! with the pool's build lookahead (`engine.build_lookahead`) from none to past the fill.
//!
//! EthereumJS and the embedded devnet fill before they answer the `forkchoiceUpdated`:
//! `el_share` (EthereumJS in its container) and the devnet bench report their fill with no
//! lookahead. This one prints, per lookahead, the transfers the block included out of those
//! pending. It times nothing: each figure is what the mock's builder had ready when the
//! `getPayload` arrived, so it is the same on a quiet or a loaded machine, as long as the
//! lookahead is well apart from `FILL`.
//!
//! `cargo bench -p engine-client --bench fill`. It takes under a second and runs whatever
//! the filter, as the other benches' interleaved passes do.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use engine_client::{
    client::ClientConfig,
    jwt::JwtSecret,
    pool::{ExecutionPool, PoolConfig},
};
use engine_testkit::{
    ElPorts, FillPolicy, MockEl, MockElConfig,
    fixtures::{Transfer, dev_signer, sign_transfer},
};
use engine_types::{
    ForkSchedule,
    constants::{CHAIN_ID_DEV, DEAD_ADDRESS},
    eips::eip4895::Withdrawal,
    engine::{ForkchoiceState, PayloadAttributes},
    primitives::{Address, B256, U256},
};
use std::time::Duration;

/// How long the mock's builder takes to fill a block.
const FILL: Duration = Duration::from_millis(100);
/// Transfers pending when the build starts.
const PENDING: u64 = 200;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let el = MockEl::start(MockElConfig {
            fill: FillPolicy::Background { after: FILL },
            ..MockElConfig::default()
        })
        .await
        .unwrap();
        let signer = dev_signer(0).unwrap();
        for nonce in 0..PENDING {
            let t = Transfer::new(CHAIN_ID_DEV, nonce, Address::repeat_byte(0x42), U256::from(1));
            el.submit(sign_transfer(&signer, &t).unwrap()).unwrap();
        }
        let genesis = el.genesis();
        println!(
            "fill against a background builder (the mock as Geth and Reth, the block filled \
             {FILL:?} after forkchoiceUpdated), {PENDING} transfers pending:"
        );
        for lookahead in [Duration::ZERO, FILL / 2, FILL * 2] {
            let secret = JwtSecret::from_hex(&el.jwt_secret_hex()).unwrap();
            let mut config = PoolConfig::new(
                vec![ClientConfig::new(el.engine_url(), secret)],
                ForkSchedule::default(),
            );
            config.upcheck_interval = Duration::from_secs(3600);
            config.build_lookahead = lookahead;
            let pool = ExecutionPool::start(config).unwrap();
            let parent = ForkchoiceState {
                head_block_hash: genesis.hash,
                safe_block_hash: B256::ZERO,
                finalized_block_hash: B256::ZERO,
            };
            let attributes = PayloadAttributes {
                timestamp: genesis.header.timestamp + 2,
                prev_randao: B256::ZERO,
                suggested_fee_recipient: DEAD_ADDRESS,
                withdrawals: Some(vec![Withdrawal::default()]),
                parent_beacon_block_root: None,
                slot_number: None,
                target_gas_limit: None,
            };
            let built = pool.build_payload(parent, attributes).await.unwrap();
            let included = built.response.payload.as_v1().transactions.len();
            println!(
                "fill/background lookahead {lookahead:>7.0?}: {included}/{PENDING} pending \
                 transfers included ({:.1} %)",
                included as f64 / PENDING as f64 * 100.0
            );
        }
    });
}
