//! Persisted engine state: what a restarted engine needs to resume without regressing.
//!
//! One small JSON file, replaced atomically on every change: write a temporary file in the
//! same directory, fsync it, rename it over the old one, fsync the directory. A reader sees
//! the old state or the new one, never a torn mix, even across a power cut. A file that does
//! not parse is reported with its path; the operator either repairs it or starts with
//! [`StateStore::start_fresh`] set, which moves the bad file aside instead of deleting it.

use crate::{
    error::ActorError,
    heads::{BlockRef, ForkchoiceHeads},
    minted::MintLedger,
};
use engine_types::{PegIn, primitives::B256};
use serde::{Deserialize, Serialize};
use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

/// File name of the state inside the state directory.
pub const STATE_FILE_NAME: &str = "engine-state.json";

/// Version of the file layout written; a file with a version this build does not know is
/// refused, not guessed at.
pub const STATE_FORMAT_VERSION: u32 = 2;

/// Layout versions this build reads: 1 (before the minted ledger, the in-flight build and
/// the finality intent, which it reads as empty) and 2.
const READABLE_VERSIONS: [u32; 2] = [1, 2];

/// The last payload the engine built and has not seen become the head: after a crash
/// between the EL's commit and our state write, the block found on the EL is matched with
/// it, so its peg-ins are recorded as minted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    /// The built block's hash.
    pub block: B256,
    /// The parent it was built on.
    pub parent: B256,
    /// The peg-ins its withdrawals mint.
    pub peg_ins: Vec<PegIn>,
}

/// Everything the engine persists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersistedState {
    /// Layout version ([`STATE_FORMAT_VERSION`]).
    pub version: u32,
    /// The last forkchoice state the EL accepted.
    pub heads: ForkchoiceHeads,
    /// The index the next withdrawal on top of the head gets: one past the last withdrawal
    /// of the canonical chain, so indices are contiguous along it and never reused.
    pub next_withdrawal_index: u64,
    /// Our last build that mints peg-ins and whose block has not become the head yet (a
    /// build that mints nothing is not recorded: its adoption after a crash loses nothing).
    #[serde(default)]
    pub in_flight: Option<InFlight>,
    /// Peg-ins the canonical chain minted above the finalized block.
    #[serde(default)]
    pub minted: MintLedger,
    /// A finalized block the Chain asked for that the EL has not confirmed yet: sent again
    /// on every tick until it is.
    #[serde(default)]
    pub finality_intent: Option<BlockRef>,
    /// The newest canonical block whose peg-outs reached the Bridge: those of the blocks
    /// above it, up to the head, are owed, and the worker delivers them in order (a scan
    /// that failed, or one a crash cut off after its commit was saved). It is saved at once
    /// after a block whose scan found burns, so a restart delivers a burn again only if it
    /// came between that delivery and that write; after a block without burns it is saved
    /// with the next write (scanning it again tells the Bridge nothing). `None` (a fresh
    /// engine, or a file from before this field): nothing is owed below the head.
    #[serde(default)]
    pub peg_outs_scanned: Option<BlockRef>,
}

impl PersistedState {
    /// A state with the given heads and nothing else.
    pub const fn new(heads: ForkchoiceHeads) -> Self {
        Self {
            version: STATE_FORMAT_VERSION,
            heads,
            next_withdrawal_index: 0,
            in_flight: None,
            minted: MintLedger {
                canonical: Vec::new(),
                orphaned: Vec::new(),
                returned: Vec::new(),
            },
            finality_intent: None,
            peg_outs_scanned: None,
        }
    }

    /// Parses the content of a state file, as [`StateStore::load`] does: a file of any
    /// layout version this build reads comes back as the current one.
    ///
    /// `Err` is the reason the content is refused (not JSON of this shape, or a layout
    /// version this build does not read), which `load` reports with the file's path as
    /// [`ActorError::StateFile`]. Public so that the fuzz target `state_file` reaches the
    /// parser without a file.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let state = serde_json::from_slice::<Self>(bytes)
            .map_err(|e| format!("not a valid engine state: {e}"))?;
        if READABLE_VERSIONS.contains(&state.version) {
            Ok(Self { version: STATE_FORMAT_VERSION, ..state })
        } else {
            Err(format!(
                "format version {} is not one this build reads ({READABLE_VERSIONS:?})",
                state.version
            ))
        }
    }
}

/// Where the state lives, and whether a corrupt file may be set aside.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
    start_fresh: bool,
}

impl StateStore {
    /// A store in `dir` (created on first save). With `start_fresh`, a corrupt file is moved
    /// to `engine-state.json.corrupt` and the engine starts without state.
    pub fn new(dir: impl Into<PathBuf>, start_fresh: bool) -> Self {
        Self { dir: dir.into(), start_fresh }
    }

    /// The state file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(STATE_FILE_NAME)
    }

    /// Whether a corrupt state file is set aside rather than refused.
    pub const fn start_fresh(&self) -> bool {
        self.start_fresh
    }

    /// Loads the state: `None` when there is no file yet.
    pub fn load(&self) -> Result<Option<PersistedState>, ActorError> {
        let path = self.path();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(state_file(&path, format!("cannot read: {e}"))),
        };
        match PersistedState::from_json(&bytes) {
            Ok(state) => Ok(Some(state)),
            Err(reason) if self.start_fresh => {
                let aside = path.with_extension("json.corrupt");
                fs::rename(&path, &aside)
                    .map_err(|e| state_file(&path, format!("{reason}; cannot move aside: {e}")))?;
                tracing::warn!(path = %path.display(), aside = %aside.display(), %reason,
                    "corrupt engine state set aside; starting fresh");
                Ok(None)
            }
            Err(reason) => Err(state_file(
                &path,
                format!("{reason} (repair it, or start with start_fresh to set it aside)"),
            )),
        }
    }

    /// Replaces the state atomically and durably.
    pub fn save(&self, state: &PersistedState) -> Result<(), ActorError> {
        let path = self.path();
        let err = |what: &str, e: std::io::Error| state_file(&path, format!("cannot {what}: {e}"));
        fs::create_dir_all(&self.dir).map_err(|e| err("create the directory", e))?;
        // serde_json cannot fail on this plain struct of numbers and hex strings, but a
        // typed error costs nothing.
        let json = serde_json::to_vec_pretty(state)
            .map_err(|e| state_file(&path, format!("cannot encode: {e}")))?;
        let tmp = path.with_extension("json.tmp");
        let mut file = fs::File::create(&tmp).map_err(|e| err("create the temporary file", e))?;
        file.write_all(&json).map_err(|e| err("write the temporary file", e))?;
        file.sync_all().map_err(|e| err("fsync the temporary file", e))?;
        drop(file);
        fs::rename(&tmp, &path).map_err(|e| err("rename the temporary file", e))?;
        sync_dir(&self.dir).map_err(|e| err("fsync the directory", e))
    }
}

fn state_file(path: &Path, reason: String) -> ActorError {
    ActorError::StateFile { path: path.to_path_buf(), reason }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    // Directories cannot be opened for fsync outside unix; the rename is still atomic.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heads::BlockRef;

    fn sample() -> PersistedState {
        let mut s = PersistedState::new(ForkchoiceHeads {
            head: BlockRef::new(B256::repeat_byte(9), 9, 90),
            safe: BlockRef::new(B256::repeat_byte(8), 8, 80),
            finalized: BlockRef::new(B256::repeat_byte(7), 7, 70),
        });
        s.next_withdrawal_index = 42;
        let peg_in = PegIn {
            evm_address: engine_types::primitives::Address::repeat_byte(0xaa),
            amount: engine_types::Satoshis(1_000),
            bitcoin_txid: B256::repeat_byte(0x0b),
        };
        s.in_flight = Some(InFlight {
            block: B256::repeat_byte(0x0a),
            parent: B256::repeat_byte(9),
            peg_ins: vec![peg_in],
        });
        s.minted.record(
            BlockRef::new(B256::repeat_byte(9), 9, 90),
            &[PegIn { bitcoin_txid: B256::repeat_byte(0x0c), ..peg_in }],
        );
        s.finality_intent = Some(BlockRef::new(B256::repeat_byte(9), 9, 90));
        s.peg_outs_scanned = Some(BlockRef::new(B256::repeat_byte(8), 8, 80));
        s
    }

    /// What is saved is what is loaded; no temporary file is left behind.
    #[test]
    fn round_trips_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path().join("nested"), false);
        assert_eq!(store.load().unwrap(), None);
        store.save(&sample()).unwrap();
        let mut next = sample();
        next.next_withdrawal_index = 43;
        store.save(&next).unwrap();
        assert_eq!(store.load().unwrap(), Some(next));
        let names: Vec<_> = fs::read_dir(dir.path().join("nested"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec![STATE_FILE_NAME.to_string()]);
    }

    /// A corrupt file is refused with an error naming the file, unless starting fresh, which
    /// moves it aside and starts empty.
    #[test]
    fn corrupt_file_names_the_path_or_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), false);
        fs::write(store.path(), b"{\"version\":1,\"heads\":").unwrap();
        let err = store.load().unwrap_err();
        let text = err.to_string();
        assert!(text.contains(STATE_FILE_NAME), "{text}");
        assert!(text.contains("start_fresh"), "{text}");
        assert!(matches!(err, ActorError::StateFile { .. }));

        let fresh = StateStore::new(dir.path(), true);
        assert_eq!(fresh.load().unwrap(), None);
        assert!(dir.path().join("engine-state.json.corrupt").exists());
        assert!(!fresh.path().exists());
    }

    /// The file's layout, reviewed: a change here breaks restarts of deployed nodes.
    #[test]
    fn state_file_shape() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), false);
        store.save(&sample()).unwrap();
        insta::assert_snapshot!(fs::read_to_string(store.path()).unwrap());
    }

    /// A file from another layout version is refused rather than misread.
    #[test]
    fn other_versions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), false);
        let mut s = sample();
        s.version = 99;
        store.save(&s).unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(err.contains("format version 99"), "{err}");
    }

    /// A file written by the previous layout (version 1, with `last_built` and none of the
    /// new fields) loads with its heads and index, an empty ledger, and the current version.
    #[test]
    fn version_one_files_are_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), false);
        let v1 = r#"{"version":1,"heads":{"head":{"hash":"0x0909090909090909090909090909090909090909090909090909090909090909","number":9,"timestamp":90},"safe":{"hash":"0x0000000000000000000000000000000000000000000000000000000000000000","number":0,"timestamp":0},"finalized":{"hash":"0x0000000000000000000000000000000000000000000000000000000000000000","number":0,"timestamp":0}},"next_withdrawal_index":42,"last_built":{"payload_id":"0x0101010101010101","parent":"0x0909090909090909090909090909090909090909090909090909090909090909"}}"#;
        fs::write(store.path(), v1).unwrap();
        let state = store.load().unwrap().unwrap();
        assert_eq!(state.version, STATE_FORMAT_VERSION);
        assert_eq!(state.heads.head.number, 9);
        assert_eq!(state.next_withdrawal_index, 42);
        assert!(state.minted.is_empty() && state.in_flight.is_none());
        assert_eq!(state.finality_intent, None);
    }
}
