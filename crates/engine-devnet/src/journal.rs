//! The devnet's disk, when it has one ([`DevnetConfig::data_dir`](crate::DevnetConfig)):
//! every block it accepted, written durably before `newPayload` answers VALID (as a real
//! client has a block on disk before it answers), and the forkchoice state it last applied,
//! so that a devnet started again on the same directory comes back with the same blocks and
//! head, the way a restarted Geth or Reth does.
//!
//! ```text
//!  devnet-journal.redb
//!   blocks      (number, hash) -> the payload as newPayload carried it (JSON)
//!   forkchoice  ()             -> head, safe, finalized (96 bytes)
//! ```
//!
//! - A block is one redb transaction, committed with `Durability::Immediate`: after a crash
//!   it is there whole or not at all, and never missing once its VALID was sent.
//! - The forkchoice state is committed with `Durability::None`: it reaches the disk with the
//!   next block. A crash may so bring the devnet back one head behind what it last applied,
//!   on the same chain, as a real client's restart can; the engine's forkchoice re-send
//!   moves it forward again. The head it comes back with is always a block of the journal.
//! - Every accepted block is kept, on every branch, keyed by number and hash, so that the
//!   head recorded is always among them; start-up re-executes them in number order.
//!
//! Why redb (and not a hand-written append-only file): it gives all-or-nothing commits with
//! a chosen durability, a torn write is never read back, and the workspace already builds it
//! for the node's own store.

use crate::error::DevnetError;
use alloy_primitives::B256;
use alloy_rpc_types_engine::{
    CancunPayloadFields, ExecutionPayload, ExecutionPayloadSidecar, ForkchoiceState,
};
use engine_types::{EngineMethod, StatusKind};
use redb::{Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File name of the journal inside the data directory.
pub const JOURNAL_FILE_NAME: &str = "devnet-journal.redb";

/// redb's page cache: the journal only appends and is read once at start (redb's 1 GiB
/// default would keep every page written, up to that size, which a long run reads as
/// growth). At about 2.5 KB per block (5,050,368 bytes after 2,000 node blocks with
/// peg-ins), 2 MiB is full within the first 1,000 blocks and leaves redb its write buffer
/// (half the cache) hundreds of times over a block.
const CACHE_BYTES: usize = 2 * 1024 * 1024;

const BLOCKS: TableDefinition<'_, (u64, [u8; 32]), &[u8]> = TableDefinition::new("blocks");
const FORKCHOICE: TableDefinition<'_, (), [u8; 96]> = TableDefinition::new("forkchoice");

/// A block as the journal keeps it: what `newPayload` needs to accept it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct JournalBlock {
    /// The payload, as the Engine API carried it.
    pub(crate) payload: ExecutionPayload,
    /// The `newPayload` beacon root (Cancun on), the only sidecar field Alys blocks carry.
    pub(crate) parent_beacon_block_root: Option<B256>,
}

/// The open journal.
pub(crate) struct Journal {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Journal {
    /// Opens (or creates) the journal in `dir`.
    pub(crate) fn open(dir: &Path) -> Result<Self, DevnetError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| DevnetError::io(format!("create {}", dir.display()), e))?;
        let path = dir.join(JOURNAL_FILE_NAME);
        let db = Database::builder().set_cache_size(CACHE_BYTES).create(&path).map_err(|e| {
            let reason = match e {
                DatabaseError::DatabaseAlreadyOpen => {
                    "it is open in another process (another devnet on this directory?)".into()
                }
                other => format!("it cannot be opened as a database: {other}"),
            };
            DevnetError::Journal { path: path.clone(), reason }
        })?;
        let journal = Self { db, path };
        // Create both tables now, so that readers never meet a missing one.
        journal.write(Durability::Immediate, |_, _| Ok(()))?;
        Ok(journal)
    }

    fn error(&self, reason: impl std::fmt::Display) -> DevnetError {
        DevnetError::Journal { path: self.path.clone(), reason: reason.to_string() }
    }

    fn write(
        &self,
        durability: Durability,
        f: impl FnOnce(
            &mut redb::Table<'_, (u64, [u8; 32]), &[u8]>,
            &mut redb::Table<'_, (), [u8; 96]>,
        ) -> Result<(), redb::Error>,
    ) -> Result<(), DevnetError> {
        let mut txn = self.db.begin_write().map_err(|e| self.error(e))?;
        txn.set_durability(durability).map_err(|e| self.error(e))?;
        {
            let mut blocks = txn.open_table(BLOCKS).map_err(|e| self.error(e))?;
            let mut forkchoice = txn.open_table(FORKCHOICE).map_err(|e| self.error(e))?;
            f(&mut blocks, &mut forkchoice).map_err(|e| self.error(e))?;
        }
        txn.commit().map_err(|e| self.error(e))
    }

    /// Writes an accepted block durably.
    pub(crate) fn append(&self, block: &JournalBlock) -> Result<(), DevnetError> {
        let bytes = serde_json::to_vec(block).map_err(|e| self.error(e))?;
        let key = (block.payload.block_number(), block.payload.block_hash().0);
        self.write(Durability::Immediate, |blocks, _| {
            blocks.insert(key, bytes.as_slice())?;
            Ok(())
        })
    }

    /// Records the forkchoice state applied (zero hashes: none); on disk with the next
    /// block.
    pub(crate) fn record_forkchoice(&self, state: &ForkchoiceState) -> Result<(), DevnetError> {
        let mut bytes = [0u8; 96];
        bytes[..32].copy_from_slice(state.head_block_hash.as_slice());
        bytes[32..64].copy_from_slice(state.safe_block_hash.as_slice());
        bytes[64..].copy_from_slice(state.finalized_block_hash.as_slice());
        self.write(Durability::None, |_, forkchoice| {
            forkchoice.insert((), bytes)?;
            Ok(())
        })
    }

    /// Hands every block to `f`, lowest number first, one at a time (a long chain's journal
    /// is never held in memory whole); how many there were.
    pub(crate) fn for_each_block(
        &self,
        mut f: impl FnMut(JournalBlock) -> Result<(), DevnetError>,
    ) -> Result<usize, DevnetError> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let table = txn.open_table(BLOCKS).map_err(|e| self.error(e))?;
        let mut count = 0;
        for entry in table.iter().map_err(|e| self.error(e))? {
            let (key, value) = entry.map_err(|e| self.error(e))?;
            let (number, hash) = key.value();
            let block: JournalBlock = serde_json::from_slice(value.value()).map_err(|e| {
                self.error(format!("block {number} ({}) does not decode: {e}", B256::from(hash)))
            })?;
            if block.payload.block_hash() != B256::from(hash) {
                return Err(self.error(format!(
                    "block {number} is filed under {} but is {}",
                    B256::from(hash),
                    block.payload.block_hash()
                )));
            }
            f(block)?;
            count += 1;
        }
        Ok(count)
    }

    /// The forkchoice state last recorded, if any.
    pub(crate) fn forkchoice(&self) -> Result<Option<ForkchoiceState>, DevnetError> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let table = txn.open_table(FORKCHOICE).map_err(|e| self.error(e))?;
        let Some(value) = table.get(()).map_err(|e| self.error(e))? else { return Ok(None) };
        let bytes = value.value();
        let hash = |range: std::ops::Range<usize>| B256::from_slice(&bytes[range]);
        Ok(Some(ForkchoiceState {
            head_block_hash: hash(0..32),
            safe_block_hash: hash(32..64),
            finalized_block_hash: hash(64..96),
        }))
    }
}

impl crate::Devnet {
    /// Takes `journal` as this (fresh) devnet's disk: re-executes every block it holds, in
    /// number order, and applies the forkchoice state it recorded; how many blocks came
    /// back. A block that does not re-execute (a journal of another genesis, a file edited
    /// by hand) is an error naming it: the devnet does not start on a chain it cannot
    /// rebuild.
    pub(crate) fn restore(&mut self, journal: Journal) -> Result<usize, DevnetError> {
        let restored = journal.for_each_block(|block| {
            let (number, hash) = (block.payload.block_number(), block.payload.block_hash());
            self.reimport(block.payload, block.parent_beacon_block_root)
                .map_err(|why| journal.error(format!("block {number} ({hash}) {why}")))
        })?;
        if let Some(state) = journal.forkchoice()? {
            self.reapply_forkchoice(state)
                .map_err(|why| journal.error(format!("its forkchoice state: {why}")))?;
        }
        self.journal = Some(journal);
        Ok(restored)
    }

    /// Accepts again a block accepted before (one of its journal, one an earlier node
    /// stored): `newPayload` with the version the block's timestamp takes and its Cancun
    /// beacon root, if any. Why not, when the answer is not VALID.
    pub fn reimport(
        &mut self,
        payload: ExecutionPayload,
        parent_beacon_block_root: Option<B256>,
    ) -> Result<(), String> {
        let version =
            self.fork_schedule().version_for(EngineMethod::NewPayload, payload.timestamp());
        let sidecar = match parent_beacon_block_root {
            Some(root) => ExecutionPayloadSidecar::v3(CancunPayloadFields::new(root, Vec::new())),
            None => ExecutionPayloadSidecar::none(),
        };
        let status = self
            .new_payload(version, payload, sidecar)
            .map_err(|e| format!("was refused: {e:?}"))?;
        if status.status == StatusKind::Valid {
            Ok(())
        } else {
            Err(format!(
                "does not re-execute on this genesis: {:?} {}",
                status.status,
                status.validation_error.unwrap_or_default()
            ))
        }
    }

    /// Applies `state` again (`forkchoiceUpdated` without attributes, the version its
    /// head's timestamp takes). Why not, when the head is unknown or the answer not VALID.
    pub fn reapply_forkchoice(&mut self, state: ForkchoiceState) -> Result<(), String> {
        let head = state.head_block_hash;
        let timestamp = self
            .chain
            .block(&head)
            .map(|b| b.header.timestamp)
            .ok_or_else(|| format!("its head {head} is not a known block"))?;
        let version = self.fork_schedule().version_for(EngineMethod::ForkchoiceUpdated, timestamp);
        let answer = self
            .forkchoice_updated(version, state, None)
            .map_err(|e| format!("forkchoiceUpdated was refused: {e:?}"))?;
        if answer.payload_status.status == StatusKind::Valid {
            Ok(())
        } else {
            Err(format!("forkchoiceUpdated answered {:?}", answer.payload_status.status))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Devnet,
        testing::{genesis, key, peg_in, produce, set_head, transfer, two_children},
    };
    use alloy_primitives::Address;

    /// A devnet on `dir`'s journal, restored from what it holds.
    fn devnet_on(dir: &Path, cancun: Option<u64>) -> Result<Devnet, DevnetError> {
        let mut devnet = Devnet::new(&genesis(cancun))?;
        devnet.restore(Journal::open(dir)?)?;
        Ok(devnet)
    }

    /// A devnet started again on its directory comes back with every block it accepted
    /// (a side branch too), the head, safe and finalized it last applied, and the state they
    /// give; it goes on from there, and a third start sees the blocks the second added.
    #[test]
    fn a_restarted_devnet_comes_back_with_its_chain_and_head() {
        for cancun in [None, Some(0)] {
            let dir = tempfile::tempdir().unwrap();
            let user = Address::repeat_byte(0x42);
            let (head, side, balance) = {
                let mut devnet = devnet_on(dir.path(), cancun).unwrap();
                let first = produce(&mut devnet, vec![peg_in(0, user, 1_000)]);
                devnet.send_raw_transaction(&transfer(&key(0), 0, user, 7)).unwrap();
                produce(&mut devnet, Vec::new());
                let (a, b) = two_children(&mut devnet, vec![peg_in(1, user, 5)], Vec::new());
                set_head(&mut devnet, a);
                let v = crate::testing::version(
                    &devnet,
                    engine_types::EngineMethod::ForkchoiceUpdated,
                    devnet.head().timestamp,
                );
                let state = ForkchoiceState {
                    head_block_hash: a,
                    safe_block_hash: first,
                    finalized_block_hash: first,
                };
                devnet.forkchoice_updated(v, state, None).unwrap();
                (a, b, devnet.balance(&user))
            };
            let mut again = devnet_on(dir.path(), cancun).unwrap();
            assert_eq!(again.head().hash(), head, "cancun {cancun:?}");
            assert_eq!(again.head().number, 3);
            assert!(again.block(&side).is_some(), "the side branch came back too");
            assert_eq!(again.balance(&user), balance);
            assert_eq!(again.finalized().map(|h| h.number), Some(1));
            assert_eq!(again.safe().map(|h| h.number), Some(1));
            let next = produce(&mut again, Vec::new());
            drop(again);
            let third = devnet_on(dir.path(), cancun).unwrap();
            assert_eq!(third.head().hash(), next);
            assert_eq!(third.head().number, 4);
        }
    }

    /// A journal whose blocks do not re-execute on this genesis stops the start with an
    /// error naming the journal and the block, rather than coming up on another chain.
    #[test]
    fn a_journal_of_another_genesis_is_refused_naming_the_block() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut devnet = devnet_on(dir.path(), None).unwrap();
            produce(&mut devnet, Vec::new());
        }
        let err = devnet_on(dir.path(), Some(0)).unwrap_err();
        assert!(matches!(err, DevnetError::Journal { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(JOURNAL_FILE_NAME) && text.contains("block 1"), "{text}");
        assert_eq!(err.severity(), engine_types::Severity::Fatal);
    }

    /// A file that is not a journal is a typed error naming it, not a panic.
    #[test]
    fn a_file_that_is_not_a_journal_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(JOURNAL_FILE_NAME), b"not a database").unwrap();
        let err = Journal::open(dir.path()).unwrap_err();
        assert!(matches!(err, DevnetError::Journal { .. }), "{err}");
        assert!(err.to_string().contains(JOURNAL_FILE_NAME), "{err}");
    }
}
