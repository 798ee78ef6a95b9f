//! The devnet's disk, when it has one ([`DevnetConfig::data_dir`](crate::DevnetConfig)):
//! every block it accepted, written durably before `newPayload` answers VALID (as a real
//! client has a block on disk before it answers), and the forkchoice state it last applied,
//! so that a devnet started again on the same directory comes back with the same blocks and
//! head, the way a restarted Geth or Reth does.
//!
//! ```text
//!  devnet-journal.redb
//!   blocks       (number, hash) -> the payload as newPayload carried it (JSON)
//!   forkchoice   ()             -> head, safe, finalized (96 bytes)
//!   checkpoints  (number, hash) -> a finalized block and its post-state (JSON, at most 2)
//! ```
//!
//! - A block is one redb transaction, committed with `Durability::Immediate`: after a crash
//!   it is there whole or not at all, and never missing once its VALID was sent.
//! - The forkchoice state is committed with `Durability::None`: it reaches the disk with the
//!   next block. A crash may so bring the devnet back one head behind what it last applied,
//!   on the same chain, as a real client's restart can; the engine's forkchoice re-send
//!   moves it forward again. The head it comes back with is always a block of the journal.
//! - Accepted blocks are kept on every branch, keyed by number and hash, so that the head
//!   recorded is always among them; start-up re-executes them in number order, from the
//!   genesis or from the lowest checkpoint (the **anchor**).
//!
//! What it holds is bounded, so that neither its size nor a restart's work grows with the
//! chain ([`Retention::history_blocks`](crate::Retention), `H` below):
//!
//! ```text
//!  number:  genesis … anchor ────────── top ─────────── finalized ── head
//!                      │ blocks kept, re-executed at start ─────────────────┤
//!  finalized ≥ top + H (top: the highest checkpoint, else the genesis), one transaction:
//!    the finalized block's checkpoint is written; top becomes the anchor; the checkpoints
//!    below it and every block at or below it are deleted
//!  (until a second checkpoint is written, the genesis is the anchor)
//! ```
//!
//! So the journal holds at most about `2·H` blocks plus those above the finalized block,
//! and a restart re-executes that many; after one, at least `H` blocks below the
//! finalized block are served again, as before it. At start, blocks at or below the anchor
//! and those of branches that left the chain there are skipped: finality abandoned them.
//! A checkpoint is written with `Durability::Immediate`, once per `H` finalized blocks.
//!
//! Why redb (and not a hand-written append-only file): it gives all-or-nothing commits with
//! a chosen durability, a torn write is never read back, range deletes come with it, and
//! the workspace already builds it for the node's own store.

mod checkpoint;

use crate::error::DevnetError;
use alloy_primitives::B256;
use alloy_rpc_types_engine::{
    CancunPayloadFields, ExecutionPayload, ExecutionPayloadSidecar, ForkchoiceState,
};
use checkpoint::Checkpoint;
use engine_types::{EngineMethod, StatusKind};
use redb::{Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File name of the journal inside the data directory.
pub const JOURNAL_FILE_NAME: &str = "devnet-journal.redb";

/// redb's page cache: the journal appends and is read once at start (redb's 1 GiB default
/// would keep every page written, up to that size, which a long run reads as growth).
/// Pages written go into the cache until it is full; since checkpoints delete the blocks
/// below the anchor, those pages leave it again every `history_blocks` finalized blocks.
/// With 2 MiB that cycle was a 1.75 MiB sawtooth in the live heap (heaptrack, 40,000 node
/// blocks at 1 ms), which glibc turned into creep: the 100,000-block soak read +6.9 % RSS.
/// At 256 KiB the live heap holds 6.2–6.5 MiB over the same run, the soak +2.6 % (27.0 →
/// 27.7 MiB), and the pages read back cost about 0.4 `pread` per block (3,392 over 8,000
/// blocks): the B-tree's right edge, where appends land, stays cached.
const CACHE_BYTES: usize = 256 * 1024;

const BLOCKS: TableDefinition<'_, (u64, [u8; 32]), &[u8]> = TableDefinition::new("blocks");
const FORKCHOICE: TableDefinition<'_, (), [u8; 96]> = TableDefinition::new("forkchoice");
const CHECKPOINTS: TableDefinition<'_, (u64, [u8; 32]), &[u8]> =
    TableDefinition::new("checkpoints");

/// The tables of one write transaction.
struct Tables<'t> {
    blocks: redb::Table<'t, (u64, [u8; 32]), &'static [u8]>,
    forkchoice: redb::Table<'t, (), [u8; 96]>,
    checkpoints: redb::Table<'t, (u64, [u8; 32]), &'static [u8]>,
}

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
    /// The number of the checkpoint a restart begins from, if any: the lower of two (the
    /// blocks at or below it were deleted when the higher was written).
    anchor: Option<u64>,
    /// The highest checkpoint, if any: the anchor once the next is written.
    top: Option<(u64, B256)>,
    /// The forkchoice state this process last wrote, so that an update that changes
    /// nothing (a build's `forkchoiceUpdated` repeats the head in force) writes nothing.
    recorded: Option<[u8; 96]>,
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
        let mut journal = Self { db, path, anchor: None, top: None, recorded: None };
        // Create every table now, so that readers never meet a missing one.
        journal.write(Durability::Immediate, |_| Ok(()))?;
        let keys = journal.checkpoint_keys()?;
        // One checkpoint alone is not an anchor yet: nothing below it was deleted.
        journal.anchor = keys.first().filter(|_| keys.len() == 2).map(|(number, _)| *number);
        journal.top = keys.last().copied();
        if keys.len() > 2 {
            return Err(journal.error(format!(
                "it holds {} checkpoints, at most 2 are ever written",
                keys.len()
            )));
        }
        Ok(journal)
    }

    /// The (number, hash) of every checkpoint, lowest first.
    fn checkpoint_keys(&self) -> Result<Vec<(u64, B256)>, DevnetError> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let table = txn.open_table(CHECKPOINTS).map_err(|e| self.error(e))?;
        let mut keys = Vec::new();
        for entry in table.iter().map_err(|e| self.error(e))? {
            let (key, _) = entry.map_err(|e| self.error(e))?;
            let (number, hash) = key.value();
            keys.push((number, B256::from(hash)));
            if keys.len() > 2 {
                break;
            }
        }
        Ok(keys)
    }

    fn error(&self, reason: impl std::fmt::Display) -> DevnetError {
        DevnetError::Journal { path: self.path.clone(), reason: reason.to_string() }
    }

    fn write(
        &self,
        durability: Durability,
        f: impl FnOnce(&mut Tables<'_>) -> Result<(), redb::Error>,
    ) -> Result<(), DevnetError> {
        let mut txn = self.db.begin_write().map_err(|e| self.error(e))?;
        txn.set_durability(durability).map_err(|e| self.error(e))?;
        {
            let mut tables = Tables {
                blocks: txn.open_table(BLOCKS).map_err(|e| self.error(e))?,
                forkchoice: txn.open_table(FORKCHOICE).map_err(|e| self.error(e))?,
                checkpoints: txn.open_table(CHECKPOINTS).map_err(|e| self.error(e))?,
            };
            f(&mut tables).map_err(|e| self.error(e))?;
        }
        txn.commit().map_err(|e| self.error(e))
    }

    /// Writes an accepted block durably.
    pub(crate) fn append(&self, block: &JournalBlock) -> Result<(), DevnetError> {
        let bytes = serde_json::to_vec(block).map_err(|e| self.error(e))?;
        let key = (block.payload.block_number(), block.payload.block_hash().0);
        self.write(Durability::Immediate, |t| {
            t.blocks.insert(key, bytes.as_slice())?;
            Ok(())
        })
    }

    /// Records the forkchoice state applied (zero hashes: none); on disk with the next
    /// block. The state this process last recorded is not written again: every
    /// `forkchoiceUpdated` with attributes repeats the head in force, and its redb commit
    /// was half of what that call cost the devnet. Whether it wrote.
    pub(crate) fn record_forkchoice(
        &mut self,
        state: &ForkchoiceState,
    ) -> Result<bool, DevnetError> {
        let mut bytes = [0u8; 96];
        bytes[..32].copy_from_slice(state.head_block_hash.as_slice());
        bytes[32..64].copy_from_slice(state.safe_block_hash.as_slice());
        bytes[64..].copy_from_slice(state.finalized_block_hash.as_slice());
        if self.recorded == Some(bytes) {
            return Ok(false);
        }
        self.write(Durability::None, |t| {
            t.forkchoice.insert((), bytes)?;
            Ok(())
        })?;
        self.recorded = Some(bytes);
        Ok(true)
    }

    /// Writes `checkpoint` (of the block `hash`) durably as the new top, in one
    /// transaction with the move of the anchor to the old top: the checkpoints below it and
    /// the blocks at or below it go.
    fn add_checkpoint(&mut self, checkpoint: &Checkpoint, hash: B256) -> Result<(), DevnetError> {
        let bytes = serde_json::to_vec(checkpoint).map_err(|e| self.error(e))?;
        let key = (checkpoint.number(), hash.0);
        let anchor = self.top;
        self.write(Durability::Immediate, |t| {
            t.checkpoints.insert(key, bytes.as_slice())?;
            if let Some((number, hash)) = anchor {
                t.checkpoints.retain_in(..(number, hash.0), |_, _| false)?;
                t.blocks.retain_in(..=(number, [u8::MAX; 32]), |_, _| false)?;
            }
            Ok(())
        })?;
        self.anchor = anchor.map(|(number, _)| number);
        self.top = Some((checkpoint.number(), hash));
        Ok(())
    }

    /// The anchor checkpoint, read back, if there is one.
    fn anchor_checkpoint(&self) -> Result<Option<Checkpoint>, DevnetError> {
        if self.anchor.is_none() {
            return Ok(None);
        }
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let table = txn.open_table(CHECKPOINTS).map_err(|e| self.error(e))?;
        let Some((key, value)) = table.first().map_err(|e| self.error(e))? else {
            return Ok(None);
        };
        let number = key.value().0;
        serde_json::from_slice(value.value()).map(Some).map_err(|e| {
            self.error(format!("its checkpoint at block {number} does not decode: {e}"))
        })
    }

    /// Hands every block to `f`, lowest number first, one at a time (a long chain's journal
    /// is never held in memory whole); how many `f` took (answered `true` for).
    pub(crate) fn for_each_block(
        &self,
        mut f: impl FnMut(JournalBlock) -> Result<bool, DevnetError>,
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
            if f(block)? {
                count += 1;
            }
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
    /// Takes `journal` as this (fresh) devnet's disk: begins from its anchor checkpoint if
    /// it has one, re-executes every block it holds above it, in number order, and applies
    /// the forkchoice state it recorded; how many blocks came back. A block that does not
    /// re-execute (a journal of another genesis, a file edited by hand) is an error naming
    /// it: the devnet does not start on a chain it cannot rebuild.
    pub(crate) fn restore(&mut self, journal: Journal) -> Result<usize, DevnetError> {
        if let Some(checkpoint) = journal.anchor_checkpoint()? {
            let (anchor, ancestors) =
                checkpoint.into_anchor(self.genesis_hash()).map_err(|why| journal.error(why))?;
            self.chain.start_from(anchor, ancestors);
        }
        let anchor = journal.anchor;
        let restored = journal.for_each_block(|block| {
            let (number, hash) = (block.payload.block_number(), block.payload.block_hash());
            let orphan = self.chain.block(&block.payload.parent_hash()).is_none();
            if anchor.is_some_and(|anchor| number <= anchor || orphan) {
                // At or below the finalized anchor, or on a branch that left the chain
                // there: finality abandoned it.
                return Ok(false);
            }
            let extends_head = block.payload.parent_hash() == self.chain.head().hash();
            self.reimport(block.payload, block.parent_beacon_block_root)
                .map_err(|why| journal.error(format!("block {number} ({hash}) {why}")))?;
            if extends_head {
                // The head follows the blocks as they come back, so that the canonical
                // index never reaches below what the retention keeps (a head left far
                // behind would be cut off from the tip by pruning). The recorded forkchoice
                // state, applied below, has the last word.
                self.chain.set_head(hash).map_err(|why| {
                    journal.error(format!("block {number} ({hash}) cannot be the head: {why}"))
                })?;
            }
            Ok(true)
        })?;
        if let Some(state) = journal.forkchoice()? {
            self.reapply_forkchoice(state)
                .map_err(|why| journal.error(format!("its forkchoice state: {why}")))?;
        }
        self.journal = Some(journal);
        Ok(restored)
    }

    /// Moves the journal's checkpoints along with the finalized block (see the module
    /// docs): writes the finalized block's checkpoint when it is `history_blocks` above the
    /// highest one.
    pub(crate) fn checkpoint_if_due(&mut self) -> Result<(), DevnetError> {
        let Some(journal) = &mut self.journal else { return Ok(()) };
        let Some(finalized) = self.chain.finalized() else { return Ok(()) };
        let top = journal.top.map_or(self.chain.genesis().number(), |(number, _)| number);
        if finalized.number() < top.saturating_add(self.chain.retention().history_blocks) {
            return Ok(());
        }
        if let Some((_, hash)) = journal.top
            && !self.chain.is_ancestor(&hash, &finalized.hash())
        {
            // Finality left the top's chain (an engine does not do that): the top is kept
            // until it can be trusted as the next anchor again, or replaced by a restart.
            return Ok(());
        }
        // None when the finalized block's state is pruned (finality far behind the tip):
        // the next finalized block is tried.
        match Checkpoint::capture(&self.chain, finalized.hash()) {
            Some(checkpoint) => journal.add_checkpoint(&checkpoint, finalized.hash()),
            None => Ok(()),
        }
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
        testing::{genesis, key, peg_in, produce, set_head, transfer, two_children, tx1559},
    };
    use alloy_primitives::{Address, Bytes, U256};

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

    /// A forkchoice state equal to the one last recorded is not written again, a changed
    /// one is, and a reopened journal (which has recorded nothing yet) writes once more:
    /// what is read back is always the last state applied.
    #[test]
    fn an_unchanged_forkchoice_is_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let state = |head: u8, finalized: u8| ForkchoiceState {
            head_block_hash: B256::repeat_byte(head),
            safe_block_hash: B256::repeat_byte(finalized),
            finalized_block_hash: B256::repeat_byte(finalized),
        };
        {
            let mut journal = Journal::open(dir.path()).unwrap();
            assert!(journal.record_forkchoice(&state(1, 0)).unwrap());
            assert!(!journal.record_forkchoice(&state(1, 0)).unwrap(), "a build repeats it");
            assert!(journal.record_forkchoice(&state(2, 0)).unwrap());
            assert!(journal.record_forkchoice(&state(2, 1)).unwrap(), "finality moved");
            assert!(journal.record_forkchoice(&state(1, 0)).unwrap(), "back to an earlier one");
            assert_eq!(journal.forkchoice().unwrap(), Some(state(1, 0)));
        }
        let mut again = Journal::open(dir.path()).unwrap();
        assert_eq!(again.forkchoice().unwrap(), Some(state(1, 0)));
        assert!(again.record_forkchoice(&state(1, 0)).unwrap());
        assert!(!again.record_forkchoice(&state(1, 0)).unwrap());
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

    /// A contract that stores `BLOCKHASH(NUMBER - 256)`, the oldest hash `BLOCKHASH`
    /// reads, in slot 0: `PUSH2 0x0100 NUMBER SUB BLOCKHASH PUSH1 0 SSTORE STOP`.
    const OLDEST_HASH_CODE: [u8; 10] = [0x61, 0x01, 0x00, 0x43, 0x03, 0x40, 0x60, 0x00, 0x55, 0x00];

    const SMALL: crate::Retention =
        crate::Retention { states_below_finalized: 2, max_states: 8, history_blocks: 256 };

    /// A devnet keeping [`SMALL`] on `dir`'s journal, with the [`OLDEST_HASH_CODE`]
    /// contract at `contract`.
    fn small_devnet_on(dir: &Path, contract: Address) -> Result<Devnet, DevnetError> {
        let mut g = genesis(None);
        let code = alloy_genesis::GenesisAccount {
            code: Some(OLDEST_HASH_CODE.to_vec().into()),
            ..Default::default()
        };
        g.alloc.insert(contract, code);
        let mut devnet = Devnet::with_limits(&g, SMALL, crate::PoolLimits::default())?;
        devnet.restore(Journal::open(dir)?)?;
        Ok(devnet)
    }

    /// `n` finalized blocks, each with a peg-in and a call of the contract (so each state
    /// root depends on the hash 256 blocks back).
    fn grow(devnet: &mut Devnet, contract: Address, n: u64) {
        for _ in 0..n {
            let number = devnet.head().number;
            let nonce = devnet.nonce(&key(1).address());
            let call = tx1559(&key(1), nonce, contract, U256::ZERO, Bytes::new(), 100_000);
            devnet.send_raw_transaction(&call).unwrap();
            let block = produce(devnet, vec![peg_in(number, Address::repeat_byte(7), 3)]);
            assert_eq!(devnet.block(&block).unwrap().body.transactions.len(), 1);
        }
    }

    /// How many blocks the journal in `dir` holds.
    fn journaled(dir: &Path) -> usize {
        Journal::open(dir).unwrap().for_each_block(|_| Ok(true)).unwrap()
    }

    /// The canonical hashes a devnet serves, lowest first.
    fn served(devnet: &Devnet) -> Vec<B256> {
        (0..=devnet.head().number).filter_map(|n| devnet.canonical_hash(n)).collect()
    }

    /// A long chain's journal stays bounded, and a restart re-executes only the blocks
    /// above its anchor checkpoint, yet comes back at the same head and state serving the
    /// same blocks (the anchor block whole, receipts included); `BLOCKHASH` still reads the
    /// hashes below the anchor (each block's state root depends on one), and the chain
    /// goes on.
    ///
    /// Checkpoints at 256, 512 and 768: the anchor is 512 and the journal holds the blocks
    /// above it. A restart at 300, with only the checkpoint at 256, begins from the genesis
    /// (so that it serves as much as before it).
    #[test]
    fn a_long_chain_restarts_from_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let contract = Address::repeat_byte(0xbb);
        let user = Address::repeat_byte(7);
        let early = {
            let mut devnet = small_devnet_on(dir.path(), contract).unwrap();
            grow(&mut devnet, contract, 300);
            let journal = devnet.journal.as_ref().unwrap();
            assert_eq!((journal.anchor, journal.top.map(|(n, _)| n)), (None, Some(256)));
            served(&devnet)
        };
        assert_eq!(journaled(dir.path()), 300, "nothing deleted below the first checkpoint");
        let before = {
            let mut devnet = small_devnet_on(dir.path(), contract).unwrap();
            assert_eq!(served(&devnet), early, "from the genesis: one checkpoint is no anchor");
            grow(&mut devnet, contract, 3 * 256 - 300);
            let journal = devnet.journal.as_ref().unwrap();
            assert_eq!(journal.anchor, Some(512), "the top before 768's checkpoint");
            assert_eq!(journal.top.map(|(n, _)| n), Some(768));
            assert_ne!(devnet.storage(&contract, U256::ZERO), U256::ZERO);
            (served(&devnet), devnet.balance(&user), devnet.storage(&contract, U256::ZERO))
        };
        assert_eq!(journaled(dir.path()), 256, "blocks 513 to 768");
        assert_eq!(before.0.len(), 1 + 257, "the genesis and blocks 512 to 768");
        let mut again = small_devnet_on(dir.path(), contract).unwrap();
        assert_eq!(again.head().number, 768);
        assert_eq!(served(&again), before.0, "the same blocks, from the anchor up");
        assert_eq!(again.balance(&user), before.1);
        assert_eq!(again.storage(&contract, U256::ZERO), before.2);
        assert_eq!(again.finalized().map(|h| h.number), Some(768));
        let anchor = again.block(&before.0[1]).unwrap();
        assert_eq!(anchor.header.number, 512);
        assert_eq!(anchor.body.transactions.len(), 1, "the anchor block with its transaction");
        let receipts = again.handle("eth_getBlockReceipts", &serde_json::json!(["0x200"]));
        assert_eq!(receipts.unwrap().as_array().map(Vec::len), Some(1), "and its receipt");

        grow(&mut again, contract, 340);
        let before = served(&again);
        drop(again);
        let third = small_devnet_on(dir.path(), contract).unwrap();
        assert_eq!(third.head().number, 1108);
        assert_eq!(served(&third), before);
        assert_eq!(third.journal.as_ref().unwrap().anchor, Some(768));
        drop(third);
        assert_eq!(journaled(dir.path()), 1108 - 768);
    }

    /// After a checkpoint, a journaled block whose parent is neither restored nor the
    /// anchor (a branch that left the chain at or below the finalized anchor) is skipped
    /// at start, not an error; the same block without a checkpoint stops the start.
    #[test]
    fn a_branch_below_the_anchor_is_skipped_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let contract = Address::repeat_byte(0xbb);
        let stray = {
            let mut devnet = small_devnet_on(dir.path(), contract).unwrap();
            grow(&mut devnet, contract, 2 * 256 + 10);
            let hash = devnet.canonical_hash(515).unwrap();
            let block = devnet.block(&hash).unwrap();
            let mut payload = ExecutionPayload::from_block_unchecked(hash, &block).0;
            let v1 = payload.as_v1_mut();
            v1.parent_hash = B256::repeat_byte(0x0f);
            v1.block_hash = B256::repeat_byte(0x1f);
            JournalBlock { payload, parent_beacon_block_root: None }
        };
        Journal::open(dir.path()).unwrap().append(&stray).unwrap();
        let again = small_devnet_on(dir.path(), contract).unwrap();
        assert_eq!(again.head().number, 522);
        assert!(again.block(&B256::repeat_byte(0x1f)).is_none());

        let fresh = tempfile::tempdir().unwrap();
        Journal::open(fresh.path()).unwrap().append(&stray).unwrap();
        let err = small_devnet_on(fresh.path(), contract).unwrap_err();
        assert!(err.to_string().contains("block 515"), "{err}");
    }

    /// A checkpoint of another genesis, or one whose state does not give its header's
    /// root, stops the start with an error naming the journal and the checkpoint.
    #[test]
    fn a_checkpoint_that_does_not_hold_together_is_refused() {
        let contract = Address::repeat_byte(0xbb);
        let dir = tempfile::tempdir().unwrap();
        let checkpoint = {
            let mut devnet = small_devnet_on(dir.path(), contract).unwrap();
            grow(&mut devnet, contract, 256);
            let journal = devnet.journal.as_ref().unwrap();
            assert_eq!(journal.top.map(|(n, _)| n), Some(256));
            assert_eq!(journal.anchor, None, "one checkpoint is no anchor yet");
            let txn = journal.db.begin_read().unwrap();
            let table = txn.open_table(CHECKPOINTS).unwrap();
            let (_, value) = table.first().unwrap().unwrap();
            serde_json::from_slice::<Checkpoint>(value.value()).unwrap()
        };
        let rewrite = |edit: &dyn Fn(&mut serde_json::Value)| {
            let dir = tempfile::tempdir().unwrap();
            let mut journal = Journal::open(dir.path()).unwrap();
            let mut value = serde_json::to_value(&checkpoint).unwrap();
            edit(&mut value);
            let edited: Checkpoint = serde_json::from_value(value).unwrap();
            // Two, so that the lower is the anchor.
            journal.add_checkpoint(&edited, B256::repeat_byte(1)).unwrap();
            journal.add_checkpoint(&edited, B256::repeat_byte(2)).unwrap();
            drop(journal);
            small_devnet_on(dir.path(), contract).unwrap_err().to_string()
        };
        let other = rewrite(&|v| v["genesisHash"] = serde_json::json!(B256::repeat_byte(9)));
        assert!(other.contains(JOURNAL_FILE_NAME) && other.contains("of the chain of genesis"));
        let robbed = rewrite(&|v| {
            let user = format!("{:#x}", Address::repeat_byte(7));
            let alloc = v["alloc"].as_object_mut().unwrap();
            let key = alloc.keys().find(|k| k.eq_ignore_ascii_case(&user)).unwrap().clone();
            alloc.remove(&key);
        });
        assert!(robbed.contains("checkpoint at block 256 holds a state with root"), "{robbed}");
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
