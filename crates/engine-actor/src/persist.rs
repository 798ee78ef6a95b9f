//! Persisted engine state: what a restarted engine needs to resume without regressing.
//!
//! The state lives in one record log ([`STATE_FILE_NAME`], layout in [`log`]): each save
//! appends the whole state as one checksummed record and `fdatasync`s it, one sync per
//! save; loading takes the last record. A reader sees the state of the last save that
//! returned, or of one after it, never a torn mix, even across a power cut. A file that
//! does not read is reported with its path; the operator either repairs it or starts with
//! [`StateStore::start_fresh`] set, which moves the bad file aside instead of deleting it.
//!
//! A state directory of the earlier layout (one JSON file, [`LEGACY_STATE_FILE_NAME`],
//! replaced atomically on every change) is read when there is no log, and the first save
//! writes the log and removes it.

pub mod files;
pub mod log;

use crate::{
    error::ActorError,
    heads::{BlockRef, ForkchoiceHeads},
    minted::MintLedger,
};
use engine_types::{PegIn, primitives::B256};
use log::{RecordLog, STATE_LOG};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File name of the state log inside the state directory.
pub const STATE_FILE_NAME: &str = "engine-state.log";

/// File name of the state of the earlier layout, one JSON document: read when the
/// directory has no log, and removed by the first save.
pub const LEGACY_STATE_FILE_NAME: &str = "engine-state.json";

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

    /// Parses a state's JSON (a log record's payload, or a file of the earlier layout), as
    /// [`StateStore::load`] does: a state of any layout version this build reads comes back
    /// as the current one.
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

    /// Parses the bytes of a state log, as [`StateStore::load`] does: its last record's
    /// state. `Err` is the reason the bytes are refused: no log, a damaged log, or a record
    /// [`from_json`](Self::from_json) refuses. Public for the fuzz target `state_file`.
    pub fn from_log(bytes: &[u8]) -> Result<Self, String> {
        Self::from_json(STATE_LOG.decode(bytes)?)
    }

    /// The bytes of a fresh state log holding `self`, as the store writes when it starts a
    /// log (the fuzz target `state_file` reads them back).
    pub fn to_log(&self) -> Result<Vec<u8>, String> {
        Ok(STATE_LOG.fresh(&STATE_LOG.record(&self.json()?)?))
    }

    /// `self` as a log record's payload: compact JSON.
    fn json(&self) -> Result<Vec<u8>, String> {
        // serde_json cannot fail on this plain struct of numbers and hex strings, but a
        // typed error costs nothing.
        serde_json::to_vec(self).map_err(|e| format!("cannot encode: {e}"))
    }
}

/// Where the state lives, and whether a corrupt file may be set aside. Clones share the
/// open log.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
    start_fresh: bool,
    log: RecordLog,
}

impl StateStore {
    /// A store in `dir` (created on first save). With `start_fresh`, a corrupt file is moved
    /// to `<name>.corrupt` and the engine starts without state.
    pub fn new(dir: impl Into<PathBuf>, start_fresh: bool) -> Self {
        let dir = dir.into();
        let log = RecordLog::new(dir.join(STATE_FILE_NAME), STATE_LOG)
            .replacing(dir.join(LEGACY_STATE_FILE_NAME));
        Self { dir, start_fresh, log }
    }

    /// The state log's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(STATE_FILE_NAME)
    }

    /// The path of a state file of the earlier layout.
    pub fn legacy_path(&self) -> PathBuf {
        self.dir.join(LEGACY_STATE_FILE_NAME)
    }

    /// Whether a corrupt state file is set aside rather than refused.
    pub const fn start_fresh(&self) -> bool {
        self.start_fresh
    }

    /// Loads the state: from the log, else from a file of the earlier layout; `None` when
    /// there is neither.
    pub fn load(&self) -> Result<Option<PersistedState>, ActorError> {
        let stored = self.log.read().map_err(|e| io_error(&e.path, "read", &e.error))?;
        match stored {
            Some(stored) => self.parsed(
                &stored.path,
                stored.content.and_then(|json| PersistedState::from_json(&json)),
            ),
            None => Ok(None),
        }
    }

    /// The state `parsed` from the file at `path`, or the file set aside (with
    /// `start_fresh`) or refused.
    fn parsed(
        &self,
        path: &Path,
        parsed: Result<PersistedState, String>,
    ) -> Result<Option<PersistedState>, ActorError> {
        match parsed {
            Ok(state) => Ok(Some(state)),
            Err(reason) if self.start_fresh => {
                let aside = files::set_aside(path)
                    .map_err(|e| state_file(path, format!("{reason}; cannot move aside: {e}")))?;
                tracing::warn!(path = %path.display(), aside = %aside.display(), %reason,
                    "corrupt engine state set aside; starting fresh");
                Ok(None)
            }
            Err(reason) => Err(state_file(
                path,
                format!("{reason} (repair it, or start with start_fresh to set it aside)"),
            )),
        }
    }

    /// Moves the file that holds the state (the log, else a file of the earlier layout) to
    /// `<name>.corrupt`, so that the engine starts without state: for a state the operator
    /// chose to drop (`start_fresh`) for a reason found outside this file. Returns where it
    /// went; `None` when there was no state.
    pub fn set_aside(&self) -> Result<Option<PathBuf>, ActorError> {
        for path in [self.path(), self.legacy_path()] {
            if path.exists() {
                return files::set_aside(&path)
                    .map(Some)
                    .map_err(|e| io_error(&path, "move it aside", &e));
            }
        }
        Ok(None)
    }

    /// Saves the state durably: one record appended to the log and `fdatasync`ed (a fresh
    /// log, replaced atomically, at this process's first save and when the log is full).
    pub fn save(&self, state: &PersistedState) -> Result<(), ActorError> {
        let json = state.json().map_err(|reason| state_file(&self.path(), reason))?;
        self.log.append(&json).map_err(|reason| state_file(&self.path(), reason))
    }
}

fn io_error(path: &Path, what: &str, e: &std::io::Error) -> ActorError {
    state_file(path, format!("cannot {what}: {e}"))
}

fn state_file(path: &Path, reason: String) -> ActorError {
    ActorError::StateFile { path: path.to_path_buf(), reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heads::BlockRef;
    use std::fs;

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

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[cfg(unix)]
    fn inode(path: &Path) -> u64 {
        std::os::unix::fs::MetadataExt::ino(&fs::metadata(path).unwrap())
    }

    /// What is saved is what is loaded, by this store and by a restarted one; a save after
    /// the first appends to the same file without growing it; no temporary file is left.
    #[test]
    #[cfg(unix)]
    fn round_trips_and_appends_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path().join("nested"), false);
        assert_eq!(store.load().unwrap(), None);
        store.save(&sample()).unwrap();
        let (file, len) = (inode(&store.path()), fs::metadata(store.path()).unwrap().len());
        let mut next = sample();
        next.next_withdrawal_index = 43;
        store.save(&next).unwrap();
        assert_eq!(store.load().unwrap(), Some(next.clone()));
        assert_eq!(inode(&store.path()), file, "appended, not replaced");
        assert_eq!(fs::metadata(store.path()).unwrap().len(), len, "written over its zeros");
        assert_eq!(names(&dir.path().join("nested")), [STATE_FILE_NAME]);

        let restarted = StateStore::new(dir.path().join("nested"), false);
        assert_eq!(restarted.load().unwrap(), Some(next));
    }

    /// A log with no room for the next record is replaced by a fresh one holding only it;
    /// the file never grows past a fresh log's size.
    #[test]
    fn a_full_log_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), false);
        // About 170 KiB of JSON per record: a few fit in a fresh 1 MiB log.
        let mut state = sample();
        let heavy: Vec<PegIn> = (0..600u32)
            .map(|i| PegIn {
                evm_address: engine_types::primitives::Address::repeat_byte(0xaa),
                amount: engine_types::Satoshis(u64::from(i)),
                bitcoin_txid: B256::left_padding_from(&i.to_be_bytes()),
            })
            .collect();
        state.minted.record(BlockRef::new(B256::repeat_byte(9), 9, 90), &heavy);
        let record = STATE_LOG.record(&state.json().unwrap()).unwrap().len();
        assert!((150_000..log::SEGMENT / 4).contains(&record), "{record}");
        // A fresh log is told by its first record, which only a fresh log changes (an
        // inode number may be reused by the next fresh log).
        let mut first_records = std::collections::BTreeSet::new();
        let mut lengths = std::collections::BTreeSet::new();
        let per_log = log::SEGMENT / record;
        for i in 0..2 * per_log as u64 + 1 {
            state.next_withdrawal_index = i;
            store.save(&state).unwrap();
            assert_eq!(store.load().unwrap().unwrap().next_withdrawal_index, i);
            let bytes = fs::read(store.path()).unwrap();
            let first = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
            first_records.insert(bytes[..20 + first].to_vec());
            lengths.insert(bytes.len());
        }
        assert_eq!(
            first_records.len(),
            3,
            "a fresh log at the first save and after each {per_log}"
        );
        assert_eq!(lengths.len(), 1, "{lengths:?}");
        assert_eq!(names(dir.path()), [STATE_FILE_NAME]);
    }

    /// A save cut off by a crash leaves the state before it; the restarted store's first
    /// save writes a fresh log, so nothing is ever appended after the damaged bytes.
    #[test]
    fn a_torn_save_leaves_the_state_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), false);
        let first = sample();
        let mut second = sample();
        second.next_withdrawal_index = 43;
        store.save(&first).unwrap();
        store.save(&second).unwrap();
        let mut bytes = fs::read(store.path()).unwrap();
        let payload = serde_json::to_vec(&second).unwrap();
        let at = bytes.windows(payload.len()).position(|w| w == payload.as_slice()).unwrap();
        bytes[at + payload.len() - 1] = 0;
        fs::write(store.path(), &bytes).unwrap();

        let restarted = StateStore::new(dir.path(), false);
        assert_eq!(restarted.load().unwrap(), Some(first));
        let mut third = sample();
        third.next_withdrawal_index = 44;
        restarted.save(&third).unwrap();
        let bytes = fs::read(store.path()).unwrap();
        assert!(!bytes.windows(payload.len() - 1).any(|w| w == &payload[..payload.len() - 1]));
        assert_eq!(restarted.load().unwrap(), Some(third));
    }

    /// A corrupt file is refused with an error naming the file, unless starting fresh, which
    /// moves it aside and starts empty; the same for a file of the earlier layout.
    #[test]
    fn corrupt_file_names_the_path_or_is_set_aside() {
        for name in [STATE_FILE_NAME, LEGACY_STATE_FILE_NAME] {
            let dir = tempfile::tempdir().unwrap();
            let store = StateStore::new(dir.path(), false);
            fs::write(dir.path().join(name), b"{\"version\":1,\"heads\":").unwrap();
            let err = store.load().unwrap_err();
            let text = err.to_string();
            assert!(text.contains(name), "{text}");
            assert!(text.contains("start_fresh"), "{text}");
            assert!(matches!(err, ActorError::StateFile { .. }));

            let fresh = StateStore::new(dir.path(), true);
            assert_eq!(fresh.load().unwrap(), None);
            assert_eq!(names(dir.path()), [format!("{name}.corrupt")]);
        }
    }

    /// A file at the bound is read (and here refused for what it holds); one byte more is
    /// refused unread, with the bound named.
    #[test]
    fn state_files_are_read_within_a_bound() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), false);
        let file = fs::File::create(store.path()).unwrap();
        file.set_len(STATE_LOG.max_file()).unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(err.contains("not an engine state log"), "{err}");
        file.set_len(STATE_LOG.max_file() + 1).unwrap();
        let err = store.load().unwrap_err().to_string();
        assert!(err.contains(&format!("{}-byte bound", STATE_LOG.max_file())), "{err}");
    }

    /// Setting the state aside moves the file that holds it, log or JSON file.
    #[test]
    fn set_aside_moves_whichever_file_holds_the_state() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), false);
        assert_eq!(store.set_aside().unwrap(), None);
        fs::write(store.legacy_path(), serde_json::to_vec(&sample()).unwrap()).unwrap();
        let aside = store.set_aside().unwrap().unwrap();
        assert_eq!(aside, dir.path().join(format!("{LEGACY_STATE_FILE_NAME}.corrupt")));
        store.save(&sample()).unwrap();
        let aside = store.set_aside().unwrap().unwrap();
        assert_eq!(aside, dir.path().join(format!("{STATE_FILE_NAME}.corrupt")));
        assert_eq!(store.load().unwrap(), None);
    }

    /// A directory of the earlier layout loads from its JSON file; the first save writes
    /// the log and removes the JSON file.
    #[test]
    fn a_json_state_file_moves_into_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), false);
        fs::write(store.legacy_path(), serde_json::to_vec_pretty(&sample()).unwrap()).unwrap();
        assert_eq!(store.load().unwrap(), Some(sample()));
        let mut next = sample();
        next.next_withdrawal_index = 43;
        store.save(&next).unwrap();
        assert_eq!(names(dir.path()), [STATE_FILE_NAME]);
        assert_eq!(StateStore::new(dir.path(), false).load().unwrap(), Some(next));
    }

    /// The file's layout, reviewed: a change here breaks restarts of deployed nodes. The
    /// header (magic, record tag, length, CRC-32C) in hex, then the record's JSON.
    #[test]
    fn state_file_shape() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), false);
        store.save(&sample()).unwrap();
        let bytes = fs::read(store.path()).unwrap();
        let len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        let shown = format!(
            "{}\n{}\nzeros after: {}",
            engine_types::primitives::hex::encode(&bytes[..20]),
            std::str::from_utf8(&bytes[20..20 + len]).unwrap(),
            bytes[20 + len..].iter().all(|&b| b == 0),
        );
        insta::assert_snapshot!(shown);
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
        fs::write(store.legacy_path(), v1).unwrap();
        let state = store.load().unwrap().unwrap();
        assert_eq!(state.version, STATE_FORMAT_VERSION);
        assert_eq!(state.heads.head.number, 9);
        assert_eq!(state.next_withdrawal_index, 42);
        assert!(state.minted.is_empty() && state.in_flight.is_none());
        assert_eq!(state.finality_intent, None);
    }
}
