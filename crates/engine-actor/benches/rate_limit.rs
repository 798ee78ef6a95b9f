//! The per-peer rate limiter: a check for a peer it tracks, and a check for a new peer when
//! its table is at the bound (the eviction path a flood of fresh peer ids takes), at the
//! default bound (4,096 peers) and at 65,536.
//!
//! `cargo bench -p engine-actor --bench rate_limit -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use engine_actor::rate_limit::{RateLimitConfig, RateLimiter};
use std::{hint::black_box, time::Duration};
use tokio::time::Instant;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("rate_limit");
    for max_peers in [4_096usize, 65_536] {
        let config = RateLimitConfig { burst: 64, per_second: 16.0, max_peers };
        let start = Instant::now();
        let full = || {
            let mut limiter = RateLimiter::new(config);
            for i in 0..max_peers {
                let _ =
                    limiter.check(&format!("peer-{i}"), start + Duration::from_micros(i as u64));
            }
            limiter
        };
        let mut limiter = full();
        let mut tick = 0u64;
        group.bench_function(BenchmarkId::new("known_peer", max_peers), |b| {
            b.iter(|| {
                tick += 1;
                let now = start + Duration::from_secs(1) + Duration::from_nanos(tick);
                black_box(limiter.check(black_box("peer-7"), now))
            })
        });
        let mut limiter = full();
        let mut fresh = 0u64;
        group.bench_function(BenchmarkId::new("new_peer_at_bound", max_peers), |b| {
            b.iter(|| {
                fresh += 1;
                let now = start + Duration::from_secs(1) + Duration::from_nanos(fresh);
                black_box(limiter.check(&format!("fresh-{fresh}"), now))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
