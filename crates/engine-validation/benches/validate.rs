//! Payload validation against alloy's bare conversion + hash of the same payload.
//!
//! For 0, 100, 1,000 and 10,000 signed transfers (Shanghai, 4 withdrawals):
//! - `engine_validation`: every check, hash included, decoded transactions returned;
//! - `alloy_convert_hash`: `into_block_with_sidecar_raw` + `hash_slow`, the least any
//!   block-hash check must do (the payload clone it needs is made outside the timing).
//!
//! Run: `cargo bench -p engine-validation -- --warm-up-time 1 --measurement-time 3`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../tests/fixtures/mod.rs"]
mod fixtures;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use engine_types::Fork;
use engine_validation::Origin;
use fixtures::{Case, Spec, transfers, withdrawals};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("payload");
    for n in [0usize, 100, 1_000, 10_000] {
        let case = Case::new(Spec {
            transactions: transfers(n),
            withdrawals: withdrawals(4, 0),
            // 10,000 transfers would need 210M gas: the header only claims what fits (gas is
            // the execution client's to account, this crate executes nothing).
            gas_used: (21_000 * n as u64).min(30_000_000),
            ..Spec::new(Fork::Shanghai)
        });
        case.validate().expect("the bench payload is valid");
        group.throughput(Throughput::Elements(n.max(1) as u64));
        group.bench_with_input(BenchmarkId::new("engine_validation", n), &case, |b, case| {
            b.iter_batched(
                || (),
                |()| {
                    case.validator
                        .validate(
                            black_box(&case.payload),
                            &case.sidecar,
                            &case.parent,
                            Origin::Built(&case.request),
                        )
                        .unwrap()
                },
                BatchSize::LargeInput,
            )
        });
        group.bench_with_input(BenchmarkId::new("alloy_convert_hash", n), &case, |b, case| {
            b.iter_batched(
                || case.payload.clone(),
                |payload| {
                    black_box(payload)
                        .into_block_with_sidecar_raw(&case.sidecar)
                        .unwrap()
                        .header
                        .hash_slow()
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
