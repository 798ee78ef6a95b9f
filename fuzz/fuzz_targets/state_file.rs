//! The persisted engine state file (engine-actor's `engine-state.json`), as a restarted
//! engine reads it: `PersistedState::from_json`, which `StateStore::load` calls on the file's
//! bytes.
//!
//! Whatever it accepts is written back by `save` on the next change, so an accepted state
//! must survive its own round trip unchanged and carry the current layout version.
#![no_main]

use engine_actor::persist::{PersistedState, STATE_FORMAT_VERSION};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(state) = PersistedState::from_json(data) else { return };
    assert_eq!(state.version, STATE_FORMAT_VERSION);
    let written = serde_json::to_vec_pretty(&state).expect("a parsed state serializes");
    let reread = PersistedState::from_json(&written).expect("a written state parses");
    assert_eq!(reread, state);
});
