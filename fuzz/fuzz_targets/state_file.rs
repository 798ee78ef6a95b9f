//! The persisted engine state (engine-actor's `engine-state.log`, and the JSON file of the
//! earlier layout), as a restarted engine reads it: `PersistedState::from_log` on the log's
//! bytes and `PersistedState::from_json` on a record's (or the old file's), which
//! `StateStore::load` calls.
//!
//! Whatever either accepts is written back by `save` on the next change, so an accepted
//! state must survive its own round trip through a fresh log unchanged and carry the
//! current layout version.
#![no_main]

use engine_actor::persist::{PersistedState, STATE_FORMAT_VERSION};
use libfuzzer_sys::fuzz_target;

fn round_trips(state: &PersistedState) {
    assert_eq!(state.version, STATE_FORMAT_VERSION);
    let written = state.to_log().expect("a parsed state fits a record");
    let reread = PersistedState::from_log(&written).expect("a written log parses");
    assert_eq!(&reread, state);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = PersistedState::from_json(data) {
        round_trips(&state);
    }
    if let Ok(state) = PersistedState::from_log(data) {
        round_trips(&state);
    }
});
