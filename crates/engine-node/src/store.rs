//! The execution data the Storage actor persists, in one embedded redb database
//! (`execution.redb` in the data directory): a summary of every committed block's receipts.
//!
//! Data directories from before the embedded devnet kept its own journal also hold, in the
//! table `blocks`, every block the Chain stored before committing it (the devnet was rebuilt
//! from them). The node moves those into the devnet's journal at its first start and drops
//! them ([`legacy_blocks`](ExecutionStore::legacy_blocks),
//! [`drop_legacy_blocks`](ExecutionStore::drop_legacy_blocks)); nothing writes them any more.
//!
//! Each write is one redb transaction, committed durably before the call returns: after a
//! crash a block is either stored whole or not at all.

use crate::error::NodeError;
use engine_types::{engine::ExecutionPayload, primitives::B256};
use redb::{
    Database, DatabaseError, ReadableDatabase, ReadableTable, StorageError, TableDefinition,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File name of the database inside the data directory.
pub(crate) const DB_FILE_NAME: &str = "execution.redb";

/// redb's page cache, in bytes. redb's default (1 GiB) keeps every page it writes until the
/// cache is full, so a node that writes a block per slot would grow by the size of its
/// database up to 1 GiB; the store only appends, so a small cache costs nothing. A cache that
/// fills late reads as growth in a soak: 16 MiB at 2.2 KB per block (when the store also
/// held the blocks) took until block ~16,000, and 4 MiB at the 184 B of a receipts summary
/// per block (368,640 bytes after 2,000 blocks) until block ~22,800 (a 20,000-block soak
/// read +10.2 %). 256 KiB is full within the first 1,500 blocks and leaves redb its write
/// buffer (half the cache) hundreds of times over a block's pages.
const CACHE_BYTES: usize = 256 * 1024;

const BLOCKS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("blocks");
const RECEIPTS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("receipts");

/// A block as data directories from before the devnet's journal stored it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredBlock {
    /// Its hash.
    pub(crate) hash: B256,
    /// Its number.
    pub(crate) number: u64,
    /// The payload, as the Engine API carries it.
    pub(crate) payload: ExecutionPayload,
    /// The `newPayload` beacon root (Cancun on), the only sidecar field Alys blocks carry.
    pub(crate) parent_beacon_block_root: Option<B256>,
}

impl StoredBlock {
    /// The block of a payload and its sidecar (as earlier versions stored it).
    #[cfg(test)]
    pub(crate) fn new(
        payload: ExecutionPayload,
        sidecar: &engine_types::engine::ExecutionPayloadSidecar,
    ) -> Self {
        Self {
            hash: payload.block_hash(),
            number: payload.block_number(),
            parent_beacon_block_root: sidecar.parent_beacon_block_root(),
            payload,
        }
    }
}

/// What the receipts of a block came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReceiptsSummary {
    /// The block's hash.
    pub(crate) hash: B256,
    /// Receipts (one per transaction).
    pub(crate) receipts: usize,
    /// Of which failed (status 0).
    pub(crate) failed: usize,
    /// Logs emitted.
    pub(crate) logs: usize,
    /// Gas used by the block.
    pub(crate) gas_used: u64,
}

/// The database.
#[derive(Debug)]
pub(crate) struct ExecutionStore {
    db: Database,
    path: PathBuf,
}

impl ExecutionStore {
    /// Opens (or creates) the database in `dir`.
    pub(crate) fn open(dir: &Path) -> Result<Self, NodeError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| NodeError::DataDir { dir: dir.to_path_buf(), reason: e.to_string() })?;
        let path = dir.join(DB_FILE_NAME);
        let db =
            Database::builder().set_cache_size(CACHE_BYTES).create(&path).map_err(|e| match e {
                DatabaseError::DatabaseAlreadyOpen => NodeError::DataDir {
                    dir: dir.to_path_buf(),
                    reason: format!(
                        "{} is open in another process (another engine-node?)",
                        path.display()
                    ),
                },
                // redb reports a file that is not a database ("magic number mismatch") as
                // InvalidData; any other I/O error is about the directory, not its content.
                DatabaseError::Storage(StorageError::Io(io))
                    if io.kind() != std::io::ErrorKind::InvalidData =>
                {
                    NodeError::DataDir {
                        dir: dir.to_path_buf(),
                        reason: format!("{}: {io}", path.display()),
                    }
                }
                other => NodeError::CorruptState {
                    dir: dir.to_path_buf(),
                    reason: format!("{} is not a readable database ({other})", path.display()),
                },
            })?;
        let store = Self { db, path };
        // Create both tables now, so that readers never meet a missing one.
        store.write(|_, _| Ok(()))?;
        Ok(store)
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, e: impl std::fmt::Display) -> NodeError {
        NodeError::Runtime { reason: format!("execution store {}: {e}", self.path.display()) }
    }

    fn write(
        &self,
        f: impl FnOnce(
            &mut redb::Table<'_, u64, &[u8]>,
            &mut redb::Table<'_, u64, &[u8]>,
        ) -> Result<(), redb::Error>,
    ) -> Result<(), NodeError> {
        let run = || -> Result<(), redb::Error> {
            let txn = self.db.begin_write()?;
            {
                let mut blocks = txn.open_table(BLOCKS)?;
                let mut receipts = txn.open_table(RECEIPTS)?;
                f(&mut blocks, &mut receipts)?;
            }
            txn.commit()?;
            Ok(())
        };
        run().map_err(|e| self.error(e))
    }

    /// Stores a block as earlier versions did (for the tests of the move to the journal).
    #[cfg(test)]
    pub(crate) fn put_legacy_block(&self, block: &StoredBlock) -> Result<(), NodeError> {
        let bytes = serde_json::to_vec(block).map_err(|e| self.error(e))?;
        self.write(|blocks, _| {
            blocks.insert(block.number, bytes.as_slice())?;
            Ok(())
        })
    }

    /// Drops every block stored as earlier versions did (moved into the devnet's journal,
    /// or never committed); how many there were. The receipts summaries stay.
    pub(crate) fn drop_legacy_blocks(&self) -> Result<usize, NodeError> {
        let mut dropped = 0;
        self.write(|blocks, _| {
            dropped = redb::ReadableTableMetadata::len(blocks)? as usize;
            blocks.retain(|_, _| false)?;
            Ok(())
        })?;
        Ok(dropped)
    }

    /// Stores the receipts summary of block `number`.
    pub(crate) fn put_receipts(
        &self,
        number: u64,
        summary: &ReceiptsSummary,
    ) -> Result<(), NodeError> {
        let bytes = serde_json::to_vec(summary).map_err(|e| self.error(e))?;
        self.write(|_, receipts| {
            receipts.insert(number, bytes.as_slice())?;
            Ok(())
        })
    }

    fn read_all<T: for<'de> Deserialize<'de>>(
        &self,
        table: TableDefinition<'_, u64, &[u8]>,
    ) -> Result<Vec<T>, NodeError> {
        let corrupt = |e: String| NodeError::CorruptState {
            dir: self.path.parent().map(Path::to_path_buf).unwrap_or_default(),
            reason: format!("{}: {e}", self.path.display()),
        };
        let txn = self.db.begin_read().map_err(|e| corrupt(e.to_string()))?;
        let table = txn.open_table(table).map_err(|e| corrupt(e.to_string()))?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(|e| corrupt(e.to_string()))? {
            let (number, value) = entry.map_err(|e| corrupt(e.to_string()))?;
            let item = serde_json::from_slice(value.value())
                .map_err(|e| corrupt(format!("entry {} does not decode: {e}", number.value())))?;
            out.push(item);
        }
        Ok(out)
    }

    /// Every block stored as earlier versions did, lowest number first.
    pub(crate) fn legacy_blocks(&self) -> Result<Vec<StoredBlock>, NodeError> {
        self.read_all(BLOCKS)
    }

    /// Every receipts summary, lowest block number first.
    #[cfg(test)]
    pub(crate) fn receipts(&self) -> Result<Vec<ReceiptsSummary>, NodeError> {
        self.read_all(RECEIPTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_types::engine::{ExecutionPayloadSidecar, ExecutionPayloadV1, ExecutionPayloadV2};
    use engine_types::primitives::{Address, Bloom, Bytes, U256};

    fn payload(number: u64) -> ExecutionPayload {
        ExecutionPayload::V2(ExecutionPayloadV2 {
            payload_inner: ExecutionPayloadV1 {
                parent_hash: B256::repeat_byte(1),
                fee_recipient: Address::repeat_byte(2),
                state_root: B256::repeat_byte(3),
                receipts_root: B256::repeat_byte(4),
                logs_bloom: Bloom::default(),
                prev_randao: B256::ZERO,
                block_number: number,
                gas_limit: 30_000_000,
                gas_used: 21_000,
                timestamp: 100 + number,
                extra_data: Bytes::new(),
                base_fee_per_gas: U256::from(7),
                block_hash: B256::with_last_byte(number as u8),
                transactions: vec![Bytes::from_static(&[1, 2, 3])],
            },
            withdrawals: Vec::new(),
        })
    }

    /// Blocks and summaries survive closing and reopening, in block order.
    #[test]
    fn blocks_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = ExecutionStore::open(dir.path()).unwrap();
            for n in [2, 1] {
                store
                    .put_legacy_block(&StoredBlock::new(
                        payload(n),
                        &ExecutionPayloadSidecar::none(),
                    ))
                    .unwrap();
            }
            let summary = ReceiptsSummary {
                hash: B256::with_last_byte(1),
                receipts: 1,
                failed: 0,
                logs: 2,
                gas_used: 21_000,
            };
            store.put_receipts(1, &summary).unwrap();
        }
        let store = ExecutionStore::open(dir.path()).unwrap();
        let blocks = store.legacy_blocks().unwrap();
        assert_eq!(blocks.iter().map(|b| b.number).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(blocks[0].payload, payload(1));
        assert_eq!(blocks[0].parent_beacon_block_root, None);
        assert_eq!(store.receipts().unwrap()[0].logs, 2);
    }

    /// Dropping the legacy blocks removes every one of them and keeps the receipts
    /// summaries; a second drop finds none.
    #[test]
    fn dropping_the_legacy_blocks_keeps_the_receipts() {
        let dir = tempfile::tempdir().unwrap();
        let store = ExecutionStore::open(dir.path()).unwrap();
        for n in 1..=4 {
            store
                .put_legacy_block(&StoredBlock::new(payload(n), &ExecutionPayloadSidecar::none()))
                .unwrap();
            let summary = ReceiptsSummary {
                hash: B256::with_last_byte(n as u8),
                receipts: 0,
                failed: 0,
                logs: 0,
                gas_used: 0,
            };
            store.put_receipts(n, &summary).unwrap();
        }
        assert_eq!(store.drop_legacy_blocks().unwrap(), 4);
        assert!(store.legacy_blocks().unwrap().is_empty());
        assert_eq!(store.receipts().unwrap().len(), 4);
        assert_eq!(store.drop_legacy_blocks().unwrap(), 0);
    }

    /// A file that is not a database is reported as corrupt state, naming the file.
    #[test]
    fn garbage_is_corrupt_state() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DB_FILE_NAME), vec![0x42; 8192]).unwrap();
        let err = ExecutionStore::open(dir.path()).unwrap_err();
        assert!(matches!(err, NodeError::CorruptState { .. }), "{err}");
        assert!(err.to_string().contains(DB_FILE_NAME), "{err}");
    }
}
