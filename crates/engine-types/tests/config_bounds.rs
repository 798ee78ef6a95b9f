//! `Config::validate` at its bounds and on random configurations: every value that cannot
//! work (zero, overflowing, longer than a slot may wait) is refused naming its field, and
//! whatever is accepted can be used as is.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use engine_types::config::{
    Config, EndpointConfig, MAX_CALL_TIMEOUT, MAX_PAYLOAD_CACHE_CAPACITY, MAX_PERIOD,
    MAX_RESPONSE_BYTES_LIMIT,
};
use proptest::prelude::*;
use std::time::{Duration, Instant};

fn valid() -> Config {
    let mut c = Config::default();
    c.engine.endpoints[0].jwt_secret_file = Some("/tmp/jwt.hex".into());
    c
}

/// The paths of the problems `validate` reports (none when it accepts).
fn problems(c: &Config) -> Vec<String> {
    c.validate().err().map(|e| e.0.into_iter().map(|p| p.path).collect()).unwrap_or_default()
}

const NANO: Duration = Duration::from_nanos(1);

/// Each bounded duration: its maximum is accepted, one nanosecond more, `Duration::MAX` and
/// zero are refused with the field's path (and only that path).
#[test]
fn durations_are_refused_past_their_maximum_and_at_zero() {
    type Set = fn(&mut Config, Duration);
    let fields: [(&str, Duration, Set); 7] = [
        ("engine.timeouts.get_payload_bodies", MAX_CALL_TIMEOUT, |c, d| {
            c.engine.timeouts.get_payload_bodies = d;
        }),
        ("engine.timeouts.exchange_capabilities", MAX_CALL_TIMEOUT, |c, d| {
            c.engine.timeouts.exchange_capabilities = d;
        }),
        ("engine.timeouts.get_client_version", MAX_CALL_TIMEOUT, |c, d| {
            c.engine.timeouts.get_client_version = d;
        }),
        ("engine.health.cooldown", MAX_PERIOD, |c, d| c.engine.health.cooldown = d),
        ("engine.health.upcheck_interval", MAX_PERIOD, |c, d| {
            c.engine.health.upcheck_interval = d;
        }),
        ("engine.payload_cache.ttl", MAX_PERIOD, |c, d| c.engine.payload_cache.ttl = d),
        ("chain.slot_duration", MAX_PERIOD, |c, d| c.chain.slot_duration = d),
    ];
    for (path, max, set) in fields {
        let mut c = valid();
        set(&mut c, max);
        assert_eq!(problems(&c), Vec::<String>::new(), "{path} = {max:?} is allowed");
        for bad in [max + NANO, Duration::MAX, Duration::ZERO] {
            set(&mut c, bad);
            assert_eq!(problems(&c), [path], "{path} = {bad:?}");
        }
    }
}

/// A timeout the slot budgets are computed from is refused past MAX_CALL_TIMEOUT by name,
/// not reported as an overflow of the budgets.
#[test]
fn budget_timeouts_are_bounded_by_name() {
    let mut c = valid();
    c.engine.timeouts.eth = MAX_CALL_TIMEOUT + NANO;
    c.engine.timeouts.forkchoice_updated = Duration::MAX;
    assert_eq!(problems(&c), ["engine.timeouts.forkchoice_updated", "engine.timeouts.eth"]);
}

/// The retry backoff may not exceed what one call may wait.
#[test]
fn max_backoff_is_bounded() {
    let mut c = valid();
    c.engine.retry.max_backoff = MAX_CALL_TIMEOUT;
    assert_eq!(problems(&c), Vec::<String>::new());
    c.engine.retry.max_backoff = MAX_CALL_TIMEOUT + NANO;
    assert_eq!(problems(&c), ["engine.retry.max_backoff"]);
}

/// The payload cache and the response limit are bounded both ways.
#[test]
fn capacities_are_bounded_both_ways() {
    let mut c = valid();
    c.engine.payload_cache.capacity = MAX_PAYLOAD_CACHE_CAPACITY;
    c.engine.max_response_bytes = MAX_RESPONSE_BYTES_LIMIT;
    assert_eq!(problems(&c), Vec::<String>::new());
    for capacity in [0, MAX_PAYLOAD_CACHE_CAPACITY + 1, usize::MAX] {
        c.engine.payload_cache.capacity = capacity;
        assert_eq!(problems(&c), ["engine.payload_cache.capacity"], "{capacity}");
    }
    c.engine.payload_cache.capacity = 1;
    for bytes in [0, 1023, MAX_RESPONSE_BYTES_LIMIT + 1, u64::MAX] {
        c.engine.max_response_bytes = bytes;
        assert_eq!(problems(&c), ["engine.max_response_bytes"], "{bytes}");
    }
}

/// Any duration, biased towards the edges and towards plausible values.
fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        1 => Just(Duration::ZERO),
        1 => Just(Duration::MAX),
        1 => Just(MAX_CALL_TIMEOUT),
        1 => Just(MAX_PERIOD),
        2 => (any::<u64>(), 0..1_000_000_000u32).prop_map(|(s, n)| Duration::new(s, n)),
        6 => (1..20_000u64).prop_map(Duration::from_millis),
    ]
}

fn count() -> impl Strategy<Value = u32> {
    prop_oneof![1 => Just(0), 1 => Just(u32::MAX), 1 => any::<u32>(), 6 => 1..6u32]
}

fn capacity() -> impl Strategy<Value = usize> {
    prop_oneof![1 => Just(0), 1 => Just(usize::MAX), 1 => any::<usize>(), 6 => 1..2_000usize]
}

fn response_bytes() -> impl Strategy<Value = u64> {
    prop_oneof![1 => Just(0), 1 => Just(u64::MAX), 1 => any::<u64>(), 6 => 1..(1u64 << 31)]
}

fn jitter() -> impl Strategy<Value = f64> {
    prop_oneof![
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => any::<f64>(),
        6 => 0.0..=1.0f64,
    ]
}

/// Sometimes (one time in four) a value from `strategy`, else `None`: the field keeps its
/// valid default, so that a good share of the configurations is accepted and the property
/// below has something to check.
fn sometimes<S: Strategy>(strategy: S) -> impl Strategy<Value = Option<S::Value>> {
    proptest::option::weighted(0.25, strategy)
}

/// Sets `place` to `value` when there is one.
fn set<T>(place: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *place = value;
    }
}

prop_compose! {
    /// A valid configuration with random fields replaced by random values.
    fn config()(
        endpoints in sometimes(0..4usize),
        timeouts in proptest::collection::vec(sometimes(duration()), 7),
        counts in proptest::collection::vec(sometimes(count()), 3),
        retry in (sometimes(duration()), sometimes(duration()), sometimes(duration()), sometimes(jitter())),
        health in (sometimes(duration()), sometimes(duration())),
        max_response_bytes in sometimes(response_bytes()),
        cache in (sometimes(capacity()), sometimes(duration())),
        slot in sometimes(duration()),
        lookahead in sometimes(duration()),
    ) -> Config {
        let mut c = valid();
        if let Some(n) = endpoints {
            c.engine.endpoints = (0..n)
                .map(|i| EndpointConfig {
                    name: Some(format!("el{i}")),
                    jwt_secret_file: Some("/tmp/jwt.hex".into()),
                    ..EndpointConfig::default()
                })
                .collect();
        }
        let t = &mut c.engine.timeouts;
        let places = [
            &mut t.forkchoice_updated,
            &mut t.get_payload,
            &mut t.new_payload,
            &mut t.exchange_capabilities,
            &mut t.get_client_version,
            &mut t.get_payload_bodies,
            &mut t.eth,
        ];
        for (place, value) in places.into_iter().zip(timeouts) {
            set(place, value);
        }
        set(&mut c.engine.retry.max_attempts, counts[0]);
        set(&mut c.engine.health.failure_threshold, counts[1]);
        set(&mut c.engine.health.success_threshold, counts[2]);
        let r = &mut c.engine.retry;
        set(&mut r.initial_backoff, retry.0);
        set(&mut r.max_backoff, retry.1);
        set(&mut r.max_elapsed, retry.2);
        set(&mut r.jitter, retry.3);
        set(&mut c.engine.health.upcheck_interval, health.0);
        set(&mut c.engine.health.cooldown, health.1);
        set(&mut c.engine.max_response_bytes, max_response_bytes);
        set(&mut c.engine.payload_cache.capacity, cache.0);
        set(&mut c.engine.payload_cache.ttl, cache.1);
        set(&mut c.chain.slot_duration, slot);
        set(&mut c.engine.build_lookahead, lookahead);
        c
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_024))]

    /// `validate` never panics; what it accepts is usable: every budget is finite and
    /// nonzero, every period and every budget can be added to `Instant::now()`, every
    /// count and capacity is nonzero.
    #[test]
    fn what_validate_accepts_is_usable(c in config()) {
        let Ok(()) = c.validate() else { return Ok(()) };
        let e = &c.engine;
        let now = Instant::now();
        for budget in [e.build_budget(), e.commit_budget(), e.forkchoice_budget(), e.what_landed_budget()] {
            let budget = budget.expect("an accepted configuration has finite budgets");
            prop_assert!(!budget.is_zero());
            prop_assert!(now.checked_add(budget).is_some());
        }
        for period in [e.health.cooldown, e.health.upcheck_interval, e.payload_cache.ttl, c.chain.slot_duration] {
            prop_assert!(!period.is_zero());
            prop_assert!(now.checked_add(period).is_some());
        }
        let t = &e.timeouts;
        for timeout in [t.forkchoice_updated, t.get_payload, t.new_payload, t.exchange_capabilities,
            t.get_client_version, t.get_payload_bodies, t.eth]
        {
            prop_assert!(!timeout.is_zero() && timeout <= MAX_CALL_TIMEOUT);
            prop_assert!(e.retry.call_budget(timeout).is_some());
        }
        prop_assert!(e.build_lookahead < c.chain.slot_duration);
        prop_assert!(now.checked_add(e.build_lookahead).is_some());
        prop_assert!(!e.endpoints.is_empty());
        prop_assert!(e.retry.max_attempts >= 1 && e.health.failure_threshold >= 1);
        prop_assert!(e.health.success_threshold >= 1);
        prop_assert!((1..=MAX_PAYLOAD_CACHE_CAPACITY).contains(&e.payload_cache.capacity));
        prop_assert!((1024..=MAX_RESPONSE_BYTES_LIMIT).contains(&e.max_response_bytes));
        prop_assert!((0.0..=1.0).contains(&e.retry.jitter));
    }

    /// Every refusal names a field of the file.
    #[test]
    fn every_problem_names_a_field(c in config()) {
        if let Err(errors) = c.validate() {
            prop_assert!(!errors.0.is_empty());
            for p in errors.0 {
                prop_assert!(p.path.starts_with("engine.") || p.path.starts_with("chain."), "{}", p.path);
                prop_assert!(!p.problem.is_empty());
            }
        }
    }
}

/// The generator above reaches both sides of `validate`, so the property is not vacuous.
#[test]
fn random_configurations_are_both_accepted_and_refused() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = config();
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..500 {
        match strategy.new_tree(&mut runner).unwrap().current().validate() {
            Ok(()) => accepted += 1,
            Err(_) => refused += 1,
        }
    }
    assert!(accepted >= 25 && refused >= 25, "{accepted} accepted, {refused} refused");
}
