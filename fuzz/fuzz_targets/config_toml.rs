//! The configuration file: TOML into engine-types `Config`, then `Config::validate`, as
//! engine-node's `load_config` reads `--config`.
//!
//! What `validate` accepts is what the node starts with, so it must be usable: every
//! request budget is finite and nonzero, a breaker cooldown can be added to `Instant::now()`,
//! and the accepted configuration survives its own TOML round trip.
#![no_main]

use engine_types::config::Config;
use libfuzzer_sys::fuzz_target;
use std::time::Instant;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // `load_config` parses the text as a table first (to see whether endpoints were given).
    let Ok(_table) = toml::from_str::<toml::Table>(text) else { return };
    let Ok(config) = toml::from_str::<Config>(text) else { return };
    if config.validate().is_err() {
        return;
    }
    let engine = &config.engine;
    for budget in [
        engine.build_budget(),
        engine.commit_budget(),
        engine.forkchoice_budget(),
        engine.what_landed_budget(),
    ] {
        let budget = budget.expect("an accepted configuration has finite budgets");
        assert!(!budget.is_zero());
        assert!(Instant::now().checked_add(budget).is_some());
    }
    let now = Instant::now();
    assert!(now.checked_add(engine.health.cooldown).is_some());
    assert!(now.checked_add(engine.health.upcheck_interval).is_some());
    assert!(now.checked_add(config.chain.slot_duration).is_some());
    let written = toml::to_string(&config).expect("an accepted configuration serializes");
    let reread: Config = toml::from_str(&written).expect("a written configuration parses");
    assert_eq!(reread, config);
});
