//! Devnet execution-layer time, in process (no HTTP): an empty block's build + commit cycle,
//! without a journal and with one (its data directory on tmpfs, then on this machine's
//! disk: what the durable write before `newPayload`'s answer adds), and building and
//! importing a block of 1,000 transfers.
//!
//! `cargo bench -p engine-devnet --bench devnet`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use alloy_primitives::{Address, B256, Bytes, U256};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use engine_devnet::{
    Devnet, dev_genesis,
    keys::{Transfer, dev_signers, sign_transfer},
};
use engine_types::{
    ApiVersion, ForkSchedule, StatusKind,
    constants::{CHAIN_ID_DEV, DEAD_ADDRESS},
    eips::eip4895::Withdrawal,
    engine::{ExecutionPayload, ExecutionPayloadSidecar, ForkchoiceState, PayloadAttributes},
};
use std::hint::black_box;

fn attributes(timestamp: u64) -> PayloadAttributes {
    attributes_with(timestamp, vec![])
}

fn attributes_with(timestamp: u64, withdrawals: Vec<Withdrawal>) -> PayloadAttributes {
    PayloadAttributes {
        timestamp,
        prev_randao: B256::ZERO,
        suggested_fee_recipient: DEAD_ADDRESS,
        withdrawals: Some(withdrawals),
        parent_beacon_block_root: None,
        slot_number: None,
        target_gas_limit: None,
    }
}

fn devnet() -> Devnet {
    Devnet::new(&dev_genesis(ForkSchedule::default()).unwrap()).unwrap()
}

/// forkchoiceUpdated(attrs) + getPayload on the head.
fn build(d: &mut Devnet, timestamp: u64) -> ExecutionPayload {
    build_with(d, attributes(timestamp))
}

fn build_with(d: &mut Devnet, attributes: PayloadAttributes) -> ExecutionPayload {
    let head = ForkchoiceState::same_hash(d.head().hash());
    let fcu = d.forkchoice_updated(ApiVersion::V2, head, Some(attributes)).unwrap();
    d.get_payload(ApiVersion::V2, fcu.payload_id.unwrap()).unwrap().payload
}

/// newPayload, checked VALID.
fn import(d: &mut Devnet, payload: ExecutionPayload) {
    let status = d.new_payload(ApiVersion::V2, payload, ExecutionPayloadSidecar::none()).unwrap();
    assert_eq!(status.status, StatusKind::Valid, "{status:?}");
}

/// 1,000 transfers, 250 from each development key, to 1,000 fresh addresses.
fn transfers() -> Vec<Bytes> {
    let signers = dev_signers().unwrap();
    (0..1_000u64)
        .map(|i| {
            let signer = &signers[(i % 4) as usize];
            let to = Address::from_word(B256::from(U256::from(0x1_0000 + i)));
            sign_transfer(signer, &Transfer::new(CHAIN_ID_DEV, i / 4, to, U256::from(1))).unwrap()
        })
        .collect()
}

fn empty_block_cycle(c: &mut Criterion) {
    let mut d = devnet();
    let mut timestamp = 0;
    c.bench_function("devnet/empty_block_build_and_commit", |b| {
        b.iter(|| {
            timestamp += 2;
            let payload = build(&mut d, timestamp);
            let hash = payload.block_hash();
            import(&mut d, payload);
            let fcu = d
                .forkchoice_updated(ApiVersion::V2, ForkchoiceState::same_hash(hash), None)
                .unwrap();
            black_box(fcu);
        });
    });
}

/// The empty-block cycle of a devnet that journals to a directory under `base` (the durable
/// block write before `newPayload` answers, the forkchoice record after).
fn journaled_cycle(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for (name, base) in
        [("tmpfs", std::path::Path::new("/dev/shm")), ("disk", &std::env::temp_dir())]
    {
        if !base.is_dir() {
            continue;
        }
        let dir = tempfile::tempdir_in(base).unwrap();
        let mut config =
            engine_devnet::DevnetConfig::new(dev_genesis(ForkSchedule::default()).unwrap());
        config.data_dir = Some(dir.path().to_path_buf());
        let el = rt.block_on(engine_devnet::DevnetEl::start(config)).unwrap();
        let mut timestamp = 0;
        c.bench_function(&format!("devnet/empty_block_build_and_commit_journaled_{name}"), |b| {
            b.iter(|| {
                timestamp += 2;
                el.with_mut(|d| cycle(d, attributes(timestamp)));
            });
        });
        rt.block_on(el.shutdown());
    }
}

/// Build, import and make head one block.
fn cycle(d: &mut Devnet, attributes: PayloadAttributes) {
    let payload = build_with(d, attributes);
    let hash = payload.block_hash();
    import(d, payload);
    black_box(
        d.forkchoice_updated(ApiVersion::V2, ForkchoiceState::same_hash(hash), None).unwrap(),
    );
}

/// The node's soak block: two peg-ins (withdrawals) to recipients among `accounts`
/// addresses, on a state that already holds every one of them. What a block costs with the
/// state's size is what this measures (the state is layered: see the devnet's `state`).
fn peg_in_blocks(c: &mut Criterion) {
    let mut group = c.benchmark_group("devnet/peg_in_block_cycle");
    for accounts in [1_024u64, 16_384] {
        let recipient =
            |n: u64| Address::from_word(B256::from(U256::from(0x2_0000 + n % accounts)));
        let withdrawal = |index: u64| Withdrawal {
            index,
            validator_index: 0,
            address: recipient(index),
            amount: 1_000,
        };
        let mut d = devnet();
        let mut timestamp = 0;
        let mut index = 0;
        // Fund every recipient, 64 per block.
        while index < accounts {
            timestamp += 2;
            let batch = (index..index + 64).map(withdrawal).collect();
            cycle(&mut d, attributes_with(timestamp, batch));
            index += 64;
        }
        group.bench_function(format!("{accounts}_accounts"), |b| {
            b.iter(|| {
                timestamp += 2;
                let batch = vec![withdrawal(index), withdrawal(index + 1)];
                index += 2;
                cycle(&mut d, attributes_with(timestamp, batch));
            });
        });
    }
    group.finish();
}

fn thousand_transfers(c: &mut Criterion) {
    let raw = transfers();
    let mut builder = devnet();
    for tx in &raw {
        builder.send_raw_transaction(tx).unwrap();
    }
    let payload = build(&mut builder, 2);
    assert_eq!(payload.as_v1().transactions.len(), 1_000);

    let mut group = c.benchmark_group("devnet/1000_transfers");
    group.sample_size(20);
    group.bench_function("build", |b| b.iter(|| black_box(build(&mut builder, 2))));
    // A follower that never saw the transactions recovers every sender.
    group.bench_function("import", |b| {
        b.iter_batched(devnet, |mut d| import(&mut d, payload.clone()), BatchSize::SmallInput);
    });
    // The usual Alys case: the node imports what its own EL just built from its pool.
    let with_pool = || {
        let mut d = devnet();
        for tx in &raw {
            d.send_raw_transaction(tx).unwrap();
        }
        d
    };
    group.bench_function("import_own_build", |b| {
        b.iter_batched(with_pool, |mut d| import(&mut d, payload.clone()), BatchSize::SmallInput);
    });
    group.finish();
}

criterion_group!(benches, empty_block_cycle, journaled_cycle, peg_in_blocks, thousand_transfers);
criterion_main!(benches);
