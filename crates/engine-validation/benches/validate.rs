//! Payload validation against alloy's bare conversion + hash of the same payload.
//!
//! For 0, 100, 1,000 and 10,000 signed transfers (Shanghai, 4 withdrawals):
//! - `engine_validation`: every check, hash included, each transaction decoded (and dropped
//!   once checked: `validate`, what the engine calls);
//! - `alloy_convert_hash`: `into_block_with_sidecar_raw` + `hash_slow`, the least any
//!   block-hash check must do (the payload clone it needs is made outside the timing).
//!
//! Criterion runs one side's samples and then the other's, so load that comes and goes on a
//! shared host lands on one side (the 1,000-transaction ratio read 0.83× and 1.12× in two
//! runs of the same code). After the group, an interleaved pass alternates the two sides
//! call by call (the clone outside the timing) and prints each side's p50 and their ratio,
//! with a third side, `validate_and_decode` (the decoded transactions handed back), for what
//! keeping them costs.
//!
//! Run: `cargo bench -p engine-validation -- --warm-up-time 1 --measurement-time 3`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/fixtures/mod.rs"]
mod fixtures;

/// Where `cargo xtask bench` reads the interleaved medians from.
#[path = "../../../xtask/src/pairs.rs"]
#[allow(dead_code)]
mod pairs;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use engine_types::Fork;
use engine_validation::Origin;
use fixtures::{Case, Spec, transfers, withdrawals};
use std::{
    hint::black_box,
    time::{Duration, Instant},
};

/// Transaction counts, each with the calls per side of the interleaved pass.
const SIZES: [(usize, usize); 4] = [(0, 20_000), (100, 2_000), (1_000, 300), (10_000, 30)];

fn case(n: usize) -> Case {
    let case = Case::new(Spec {
        transactions: transfers(n),
        withdrawals: withdrawals(4, 0),
        // 10,000 transfers would need 210M gas: the header only claims what fits (gas is
        // the execution client's to account, this crate executes nothing).
        gas_used: (21_000 * n as u64).min(30_000_000),
        ..Spec::new(Fork::Shanghai)
    });
    case.validate().expect("the bench payload is valid");
    case
}

fn ours(case: &Case) {
    case.validator
        .validate(
            black_box(&case.payload),
            &case.sidecar,
            &case.parent,
            Origin::Built(&case.request),
        )
        .unwrap();
}

fn ours_decoded(case: &Case) -> usize {
    let origin = Origin::Built(&case.request);
    let (_, decoded) = case
        .validator
        .validate_and_decode(black_box(&case.payload), &case.sidecar, &case.parent, origin)
        .unwrap();
    decoded.len()
}

fn alloys(case: &Case, payload: engine_types::engine::ExecutionPayload) {
    black_box(payload).into_block_with_sidecar_raw(&case.sidecar).unwrap().header.hash_slow();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    println!("\npayload validation p50 (engine-validation vs alloy convert + hash, interleaved):");
    println!(
        "{:>8} {:>7} {:>12} {:>12} {:>7} {:>14} {:>9}",
        "txs", "calls", "ours p50", "alloy p50", "x", "decoded p50", "x"
    );
    for (n, rounds) in SIZES {
        let case = case(n);
        let mut samples: [Vec<Duration>; 3] = Default::default();
        for _ in 0..rounds {
            let t = Instant::now();
            ours(&case);
            samples[0].push(t.elapsed());
            let payload = case.payload.clone();
            let t = Instant::now();
            alloys(&case, payload);
            samples[1].push(t.elapsed());
            let t = Instant::now();
            black_box(ours_decoded(&case));
            samples[2].push(t.elapsed());
        }
        let [a, b, d] = samples.map(median);
        pairs::record(
            &format!("payload/engine_validation/{n}"),
            &format!("payload/alloy_convert_hash/{n}"),
            a,
            b,
        );
        let ratio = |x: Duration| x.as_secs_f64() / b.as_secs_f64();
        println!(
            "{n:>8} {rounds:>7} {a:>12.2?} {b:>12.2?} {:>7.3} {d:>14.2?} {:>9.3}",
            ratio(a),
            ratio(d)
        );
    }
    c.final_summary();
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort_unstable();
    xs[xs.len() / 2]
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("payload");
    for (n, _) in SIZES {
        let case = case(n);
        group.throughput(Throughput::Elements(n.max(1) as u64));
        group.bench_with_input(BenchmarkId::new("engine_validation", n), &case, |b, case| {
            b.iter_batched(|| (), |()| ours(case), BatchSize::LargeInput)
        });
        group.bench_with_input(BenchmarkId::new("alloy_convert_hash", n), &case, |b, case| {
            b.iter_batched(|| case.payload.clone(), |p| alloys(case, p), BatchSize::LargeInput)
        });
    }
    group.finish();
}
