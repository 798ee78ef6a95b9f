//! The Chain's peg-in queue: what waits for a block, what a slot is building with, and what
//! went into a block whose fate is not known yet — persisted, so that a crash loses nothing
//! and mints nothing twice.
//!
//! ```text
//!  admit (source) ──> pending ──take──> in build ──built(block)──> unsettled{block}
//!     │ full: refused     ^   ^              │ failed / left out        │ head: settled
//!     │ dup txid: once    │   └──────────────┘                          │ WhatLanded: minted
//!     v                   └─────── unminted (WhatLanded), returned (HeadChanged) ──┘
//!  (the source keeps it)
//! ```
//!
//! - **Once per txid.** A peg-in whose bitcoin txid is already held (pending, in the build
//!   in flight, or unsettled) is not queued again.
//! - **Bounded.** New arrivals are refused once [`PegInQueue::capacity`] peg-ins are held,
//!   and the source keeps them (the simulator does not create them; a bitcoin watcher would
//!   report them again). Peg-ins that come *back* (not minted after all, returned by a
//!   discarded block) are always taken: they were accepted once and must never be dropped.
//!   At most one block is unsettled at a time: a slot builds only when every earlier block
//!   is settled, and a block is unsettled from its build until its commit is answered.
//! - **Asked, not assumed.** A block whose commit timed out, failed or did not become the
//!   head stays *unsettled* until the engine says what landed (`WhatLanded`); only its
//!   unminted peg-ins are queued again.
//!
//! # The file
//!
//! `chain-queue.json` in the data directory, replaced atomically like the engine's state
//! (temporary file, fsync, rename, fsync of the directory), whenever the queue changes:
//!
//! ```json
//! { "version": 1,
//!   "next_simulated": 42,
//!   "pending":   [ { "evm_address": "0x…", "amount": 1000, "bitcoin_txid": "0x…" } ],
//!   "unsettled": [ { "block": "0x…", "number": 7, "txs": 0, "peg_ins": [ … ] } ] }
//! ```
//!
//! `next_simulated` is the simulator's counter: simulated peg-ins are derived from it, so
//! every peg-in it ever created is `0..next_simulated`, and each is either `pending` or
//! `unsettled` here, or minted by a canonical block, never in two places of the file (an
//! unsettled one may be minted by its block already: settling tells). The peg-ins of the
//! build in flight are written as `pending` (no block of theirs exists yet). The order of
//! writes makes a crash at any point safe: the queue is written (peg-ins unsettled for the
//! block) before the block is stored and committed, and the settled state after the engine
//! answered; after a restart the next slot settles what is unsettled with `WhatLanded`, and
//! the engine's ledger of minted txids catches a peg-in that is pending but was minted by a
//! block the crash left unrecorded here (`BuiltPayload::already_minted`).

use engine_actor::{
    messages::{Landed, MintedPegIn},
    persist::{
        files,
        log::{Layout, RecordLog},
    },
};
use engine_types::{PegIn, Severity, primitives::B256};
use serde::{Deserialize, Serialize};
use std::{
    collections::{HashSet, VecDeque},
    path::{Path, PathBuf},
};

/// File name of the queue inside the data directory: a record log (as the engine's state
/// is: one record appended and `fdatasync`ed per change), each record the queue as JSON.
pub(crate) const QUEUE_FILE_NAME: &str = "chain-queue.log";

/// File name of the queue of the earlier layout, one JSON file replaced on every change:
/// read when there is no log, removed by the first write of the log.
pub(crate) const LEGACY_QUEUE_FILE_NAME: &str = "chain-queue.json";

/// Layout version written and read.
const QUEUE_FORMAT_VERSION: u32 = 1;

/// Default bound on the peg-ins held (pending, in build, unsettled).
pub(crate) const DEFAULT_CAPACITY: usize = 4096;

/// Bytes of queue record (or file of the earlier layout) read per peg-in the queue may
/// hold: a pretty-printed peg-in is about 200 bytes, an unsettled block's reference beside
/// it less.
const FILE_BYTES_PER_PEG_IN: u64 = 1024;

/// The largest queue record (or file of the earlier layout) read for a queue of
/// `capacity` peg-ins.
const fn max_file_bytes(capacity: usize) -> u64 {
    (capacity as u64).saturating_add(1).saturating_mul(FILE_BYTES_PER_PEG_IN)
}

/// The queue log's layout for a queue of `capacity` peg-ins.
fn log_layout(capacity: usize) -> Layout {
    Layout {
        magic: b"ACHQLOG1",
        what: "a peg-in queue log",
        max_record: usize::try_from(max_file_bytes(capacity)).unwrap_or(usize::MAX),
    }
}

/// Why the queue file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum QueueError {
    /// The file exists but cannot be read.
    #[error("{}: cannot read: {reason}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The file does not hold a queue this build reads.
    #[error("{}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file cannot be written.
    #[error("{}: cannot write: {reason}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
}

impl QueueError {
    /// A write may succeed at the next slot; a file that cannot be read needs the operator.
    pub(crate) const fn severity(&self) -> Severity {
        match self {
            Self::Write { .. } => Severity::Retry,
            Self::Unreadable { .. } => Severity::Reset,
            Self::Corrupt { .. } => Severity::Fatal,
        }
    }
}

/// A block whose peg-ins may or may not have been minted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Unsettled {
    /// The block's hash.
    pub(crate) block: B256,
    /// Its number.
    pub(crate) number: u64,
    /// Its transactions (for its progress line once it is known to have landed).
    pub(crate) txs: usize,
    /// The peg-ins it mints.
    pub(crate) peg_ins: Vec<PegIn>,
}

/// The file's layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueFile {
    version: u32,
    next_simulated: u64,
    pending: Vec<PegIn>,
    unsettled: Vec<Unsettled>,
}

/// What became of peg-ins offered to the queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Admitted {
    /// Queued.
    pub(crate) queued: usize,
    /// Already held (same bitcoin txid): queued once.
    pub(crate) duplicates: usize,
    /// Refused because the queue is full: the source keeps them.
    pub(crate) refused: Vec<PegIn>,
}

/// The queue (see the module docs).
#[derive(Debug)]
pub(crate) struct PegInQueue {
    pending: VecDeque<PegIn>,
    in_build: Vec<PegIn>,
    unsettled: Vec<Unsettled>,
    next_simulated: u64,
    capacity: usize,
    /// Where it is persisted (`None`: memory only).
    file: Option<RecordLog>,
    /// The bytes last written, so that an unchanged queue is not written again.
    written: Option<Vec<u8>>,
}

impl PegInQueue {
    /// An empty queue kept in memory only.
    pub(crate) fn in_memory(capacity: usize) -> Self {
        Self {
            pending: VecDeque::new(),
            in_build: Vec::new(),
            unsettled: Vec::new(),
            next_simulated: 0,
            capacity,
            file: None,
            written: None,
        }
    }

    /// The queue persisted in `dir` (empty when there is no file yet): from its log, else
    /// from a file of the earlier layout. With `start_fresh` a file that does not parse is
    /// moved aside (`<name>.corrupt`).
    pub(crate) fn load(dir: &Path, start_fresh: bool, capacity: usize) -> Result<Self, QueueError> {
        let log = RecordLog::new(dir.join(QUEUE_FILE_NAME), log_layout(capacity))
            .replacing(dir.join(LEGACY_QUEUE_FILE_NAME));
        let mut queue = Self { file: Some(log.clone()), ..Self::in_memory(capacity) };
        let (path, record) = match log.read() {
            Ok(Some(stored)) => (stored.path, stored.content),
            Ok(None) => return Ok(queue),
            Err(e) if e.error.kind() == std::io::ErrorKind::FileTooLarge => {
                return Err(QueueError::Corrupt { path: e.path, reason: e.error.to_string() });
            }
            Err(e) => {
                return Err(QueueError::Unreadable { path: e.path, reason: e.error.to_string() });
            }
        };
        let parsed = record.and_then(|bytes| {
            let file = serde_json::from_slice::<QueueFile>(&bytes)
                .map_err(|e| format!("not a peg-in queue: {e}"))?;
            if file.version == QUEUE_FORMAT_VERSION {
                Ok(file)
            } else {
                Err(format!("format version {} is not {QUEUE_FORMAT_VERSION}", file.version))
            }
        });
        match parsed {
            Ok(file) => {
                queue.next_simulated = file.next_simulated;
                queue.unsettled = file.unsettled;
                // Through `admit_back`, so that a hand-edited file cannot hold a txid twice.
                queue.admit_back(file.pending);
                // What a write would hold now: the next write is skipped if nothing changed.
                queue.written = queue.encode().ok();
                Ok(queue)
            }
            Err(reason) if start_fresh => {
                let aside = files::set_aside(&path).map_err(|e| QueueError::Corrupt {
                    path: path.clone(),
                    reason: format!("{reason}; cannot move aside: {e}"),
                })?;
                tracing::warn!(path = %path.display(), aside = %aside.display(), %reason,
                    "corrupt peg-in queue set aside; starting with an empty one");
                Ok(queue)
            }
            Err(reason) => Err(QueueError::Corrupt {
                path,
                reason: format!("{reason} (repair it, or start with --start-fresh)"),
            }),
        }
    }

    /// Peg-ins held in all: pending, in the build in flight and unsettled.
    pub(crate) fn held(&self) -> usize {
        self.pending.len()
            + self.in_build.len()
            + self.unsettled.iter().map(|u| u.peg_ins.len()).sum::<usize>()
    }

    /// Peg-ins waiting for a block (those of the build in flight included).
    pub(crate) fn pending_len(&self) -> usize {
        self.pending.len() + self.in_build.len()
    }

    /// How many more new peg-ins are taken before arrivals are refused.
    pub(crate) fn room(&self) -> usize {
        self.capacity.saturating_sub(self.held())
    }

    /// The bound on held peg-ins for new arrivals.
    pub(crate) const fn capacity(&self) -> usize {
        self.capacity
    }

    /// The simulator's next peg-in number.
    pub(crate) const fn next_simulated(&self) -> u64 {
        self.next_simulated
    }

    /// Records that the simulator created peg-ins up to `next` (exclusive).
    pub(crate) fn set_next_simulated(&mut self, next: u64) {
        self.next_simulated = self.next_simulated.max(next);
    }

    /// The blocks whose fate is unknown, oldest first.
    pub(crate) fn unsettled(&self) -> &[Unsettled] {
        &self.unsettled
    }

    fn holds(&self, txid: &B256) -> bool {
        self.pending.iter().any(|p| p.bitcoin_txid == *txid)
            || self.in_build.iter().any(|p| p.bitcoin_txid == *txid)
            || self.unsettled.iter().any(|u| u.peg_ins.iter().any(|p| p.bitcoin_txid == *txid))
    }

    /// New peg-ins, behind the waiting ones: a txid already held is queued once, and beyond
    /// the capacity they are refused (returned, for the source to keep).
    pub(crate) fn admit(&mut self, peg_ins: impl IntoIterator<Item = PegIn>) -> Admitted {
        let mut out = Admitted::default();
        for p in peg_ins {
            if self.holds(&p.bitcoin_txid) {
                out.duplicates += 1;
            } else if self.held() >= self.capacity {
                out.refused.push(p);
            } else {
                self.pending.push_back(p);
                out.queued += 1;
            }
        }
        out
    }

    /// Peg-ins that come back (not minted after all), at the front in their order: they
    /// were there first. Never refused; a txid already held is kept once. Returns how many
    /// were queued.
    pub(crate) fn admit_back(&mut self, peg_ins: impl IntoIterator<Item = PegIn>) -> usize {
        let mut back: Vec<PegIn> = Vec::new();
        for p in peg_ins {
            if !self.holds(&p.bitcoin_txid)
                && !back.iter().any(|b| b.bitcoin_txid == p.bitcoin_txid)
            {
                back.push(p);
            }
        }
        let n = back.len();
        for p in back.into_iter().rev() {
            self.pending.push_front(p);
        }
        n
    }

    /// Hands every pending peg-in to a build (oldest first); they stay held until the
    /// build's outcome is recorded ([`Self::built`] or [`Self::build_failed`]).
    pub(crate) fn take_for_build(&mut self) -> Vec<PegIn> {
        // A build whose outcome was never recorded (a panicked slot) gives its peg-ins back.
        self.build_failed();
        self.in_build = self.pending.drain(..).collect();
        self.in_build.clone()
    }

    /// The build produced nothing: its peg-ins go back to the front.
    pub(crate) fn build_failed(&mut self) {
        let back = std::mem::take(&mut self.in_build);
        self.admit_back(back);
    }

    /// The build produced `block` (unsettled from now on, with the peg-ins it mints);
    /// `left_pending` did not fit and go back to the front; `already_minted` were minted by
    /// the canonical chain already and are dropped. Anything else the build was given goes
    /// back too (never lost).
    pub(crate) fn built(
        &mut self,
        block: Unsettled,
        left_pending: &[PegIn],
        already_minted: &[MintedPegIn],
    ) {
        let given = std::mem::take(&mut self.in_build);
        let minted: HashSet<B256> = already_minted.iter().map(|m| m.peg_in.bitcoin_txid).collect();
        let included: HashSet<B256> = block.peg_ins.iter().map(|p| p.bitcoin_txid).collect();
        let mut back: Vec<PegIn> = left_pending.to_vec();
        back.extend(given.into_iter().filter(|p| {
            !minted.contains(&p.bitcoin_txid)
                && !included.contains(&p.bitcoin_txid)
                && !left_pending.iter().any(|l| l.bitcoin_txid == p.bitcoin_txid)
        }));
        // Even a block without peg-ins: until its fate is known, nothing is built after it.
        self.unsettled.push(block);
        self.admit_back(back);
    }

    /// `block` became the head: its peg-ins are minted.
    pub(crate) fn landed(&mut self, block: &B256) -> Option<Unsettled> {
        let at = self.unsettled.iter().position(|u| u.block == *block)?;
        Some(self.unsettled.remove(at))
    }

    /// The engine said what became of `block`: its minted peg-ins are done, its unminted
    /// ones go back to the front. Returns the settled entry (`None` if it was not held).
    pub(crate) fn settle(&mut self, block: &B256, landed: &Landed) -> Option<Unsettled> {
        let entry = self.landed(block)?;
        let unminted: HashSet<B256> = landed.unminted.iter().map(|p| p.bitcoin_txid).collect();
        // Only what this block carried comes back, and only what the engine says is unminted.
        self.admit_back(
            entry.peg_ins.iter().copied().filter(|p| unminted.contains(&p.bitcoin_txid)),
        );
        Some(entry)
    }

    /// Writes the queue if it changed since the last write (memory-only queues: nothing).
    pub(crate) fn persist(&mut self) -> Result<(), QueueError> {
        let Some(log) = &self.file else { return Ok(()) };
        let write = |reason: String| QueueError::Write { path: log.path().to_path_buf(), reason };
        let bytes = self.encode().map_err(write)?;
        if self.written.as_ref() == Some(&bytes) {
            return Ok(());
        }
        log.append(&bytes).map_err(write)?;
        self.written = Some(bytes);
        Ok(())
    }

    /// The queue as a record's JSON.
    fn encode(&self) -> Result<Vec<u8>, String> {
        let file = QueueFile {
            version: QUEUE_FORMAT_VERSION,
            next_simulated: self.next_simulated,
            pending: self.in_build.iter().chain(&self.pending).copied().collect(),
            unsettled: self.unsettled.clone(),
        };
        // Plain numbers and hex strings: encoding cannot fail, but a typed error costs nothing.
        serde_json::to_vec(&file).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_actor::heads::BlockRef;
    use engine_types::{Satoshis, primitives::Address};
    use std::fs;

    fn peg_in(n: u8) -> PegIn {
        PegIn {
            evm_address: Address::repeat_byte(n),
            amount: Satoshis(u64::from(n) * 1000),
            bitcoin_txid: B256::repeat_byte(n),
        }
    }

    fn block(n: u8, peg_ins: Vec<PegIn>) -> Unsettled {
        Unsettled { block: B256::repeat_byte(0xb0 + n), number: u64::from(n), txs: 0, peg_ins }
    }

    fn pending(q: &PegInQueue) -> Vec<PegIn> {
        q.pending.iter().copied().collect()
    }

    /// A txid already pending, in a build or unsettled is queued once, wherever it comes
    /// from; returned peg-ins go before the ones that arrived since, in their order.
    #[test]
    fn a_txid_is_held_once_and_returns_go_first() {
        let mut q = PegInQueue::in_memory(100);
        let a = q.admit([peg_in(1), peg_in(2), peg_in(2)]);
        assert_eq!((a.queued, a.duplicates), (2, 1));
        let taken = q.take_for_build();
        assert_eq!(taken, [peg_in(1), peg_in(2)]);
        assert_eq!(q.admit([peg_in(1), peg_in(3)]).duplicates, 1, "1 is in the build");
        q.built(block(1, vec![peg_in(1)]), &[peg_in(2)], &[]);
        assert_eq!(pending(&q), [peg_in(2), peg_in(3)]);
        assert_eq!(q.admit([peg_in(1)]).duplicates, 1, "1 is unsettled");
        assert_eq!(q.admit_back([peg_in(4), peg_in(3), peg_in(4)]), 1, "3 is pending");
        assert_eq!(pending(&q), [peg_in(4), peg_in(2), peg_in(3)]);
        assert_eq!(q.held(), 4);
    }

    /// New arrivals beyond the capacity are refused and handed back to the source; peg-ins
    /// that come back are never refused.
    #[test]
    fn arrivals_beyond_the_bound_are_refused_returns_are_not() {
        let mut q = PegInQueue::in_memory(2);
        let a = q.admit([peg_in(1), peg_in(2), peg_in(3)]);
        assert_eq!(a.queued, 2);
        assert_eq!(a.refused, [peg_in(3)]);
        assert_eq!(q.room(), 0);
        assert_eq!(q.admit_back([peg_in(9)]), 1);
        assert_eq!(q.held(), 3);
        assert_eq!(pending(&q)[0], peg_in(9));
    }

    /// A build's outcome: included peg-ins are unsettled with their block, the ones that did
    /// not fit come back first, already minted ones are dropped, and anything the engine did
    /// not account for comes back too; a failed build gives everything back.
    #[test]
    fn a_build_accounts_for_every_peg_in() {
        let mut q = PegInQueue::in_memory(100);
        q.admit([peg_in(1), peg_in(2), peg_in(3), peg_in(4)]);
        q.take_for_build();
        q.admit([peg_in(5)]);
        let minted = MintedPegIn { peg_in: peg_in(3), block: BlockRef::default() };
        q.built(block(1, vec![peg_in(1)]), &[peg_in(2)], &[minted]);
        assert_eq!(pending(&q), [peg_in(2), peg_in(4), peg_in(5)]);
        assert_eq!(q.unsettled(), [block(1, vec![peg_in(1)])]);
        q.take_for_build();
        q.build_failed();
        assert_eq!(pending(&q), [peg_in(2), peg_in(4), peg_in(5)]);
    }

    /// What the engine says landed settles a block: only the unminted peg-ins it carried
    /// come back (at the front); a block that became the head settles with nothing back.
    #[test]
    fn settling_requeues_only_the_unminted() {
        let mut q = PegInQueue::in_memory(100);
        q.admit([peg_in(1), peg_in(2), peg_in(3)]);
        q.take_for_build();
        q.built(block(1, vec![peg_in(1), peg_in(2), peg_in(3)]), &[], &[]);
        q.admit([peg_in(4)]);
        let landed = Landed {
            head: BlockRef::default(),
            canonical: false,
            minted: vec![MintedPegIn { peg_in: peg_in(2), block: BlockRef::default() }],
            unminted: vec![peg_in(1), peg_in(3)],
        };
        let entry = q.settle(&block(1, vec![]).block, &landed).unwrap();
        assert_eq!(entry.number, 1);
        assert_eq!(pending(&q), [peg_in(1), peg_in(3), peg_in(4)]);
        assert!(q.unsettled().is_empty());
        assert!(q.settle(&block(1, vec![]).block, &landed).is_none(), "settled once");

        q.take_for_build();
        q.built(block(2, vec![peg_in(1), peg_in(3), peg_in(4)]), &[], &[]);
        assert!(q.landed(&block(2, vec![]).block).is_some());
        assert_eq!(q.held(), 0);
    }

    /// The file holds the build in flight as pending, the unsettled blocks and the
    /// simulator's counter; a change appends a record in place, an unchanged queue writes
    /// nothing; a corrupt file is refused naming it, or set aside with start_fresh.
    #[test]
    fn persists_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = PegInQueue::load(dir.path(), false, 100).unwrap();
        q.admit([peg_in(1), peg_in(2), peg_in(3)]);
        q.set_next_simulated(3);
        q.take_for_build();
        q.built(block(1, vec![peg_in(1)]), &[], &[]);
        q.take_for_build();
        q.persist().unwrap();
        let path = dir.path().join(QUEUE_FILE_NAME);
        let inode = || std::os::unix::fs::MetadataExt::ino(&fs::metadata(&path).unwrap());
        let (first, bytes) = (inode(), fs::read(&path).unwrap());
        q.persist().unwrap();
        assert_eq!(fs::read(&path).unwrap(), bytes, "an unchanged queue is not rewritten");
        q.admit([peg_in(4)]);
        q.persist().unwrap();
        let appended = fs::read(&path).unwrap();
        assert_ne!(appended, bytes, "a changed one is");
        assert_eq!((inode(), appended.len()), (first, bytes.len()), "appended in place");

        let back = PegInQueue::load(dir.path(), false, 100).unwrap();
        assert_eq!(pending(&back), [peg_in(2), peg_in(3), peg_in(4)]);
        assert_eq!(back.unsettled(), [block(1, vec![peg_in(1)])]);
        assert_eq!(back.next_simulated(), 3);
        let names: Vec<_> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, [QUEUE_FILE_NAME], "no temporary file left");

        fs::write(&path, b"{\"version\":1,").unwrap();
        let err = PegInQueue::load(dir.path(), false, 100).unwrap_err();
        assert!(err.to_string().contains(QUEUE_FILE_NAME), "{err}");
        assert!(err.to_string().contains("not a peg-in queue log"), "{err}");
        assert_eq!(err.severity(), Severity::Fatal);
        let fresh = PegInQueue::load(dir.path(), true, 100).unwrap();
        assert_eq!(fresh.held(), 0);
        assert!(dir.path().join("chain-queue.log.corrupt").exists());
    }

    /// A queue in a file of the earlier layout is read when there is no log, and the first
    /// write moves it into the log; a corrupt one is set aside under its own name.
    #[test]
    fn a_json_queue_file_moves_into_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = PegInQueue::in_memory(100);
        q.admit([peg_in(1), peg_in(2)]);
        q.set_next_simulated(2);
        let legacy = dir.path().join(LEGACY_QUEUE_FILE_NAME);
        fs::write(
            &legacy,
            serde_json::to_vec_pretty(
                &serde_json::from_slice::<serde_json::Value>(&q.encode().unwrap()).unwrap(),
            )
            .unwrap(),
        )
        .unwrap();

        let mut back = PegInQueue::load(dir.path(), false, 100).unwrap();
        assert_eq!(pending(&back), [peg_in(1), peg_in(2)]);
        assert_eq!(back.next_simulated(), 2);
        back.persist().unwrap();
        assert!(legacy.exists(), "nothing changed: nothing written");
        back.admit([peg_in(3)]);
        back.persist().unwrap();
        assert!(!legacy.exists(), "the log replaced it");
        let again = PegInQueue::load(dir.path(), false, 100).unwrap();
        assert_eq!(pending(&again), [peg_in(1), peg_in(2), peg_in(3)]);

        let dir = tempfile::tempdir().unwrap();
        let legacy = dir.path().join(LEGACY_QUEUE_FILE_NAME);
        fs::write(&legacy, b"{").unwrap();
        let err = PegInQueue::load(dir.path(), false, 100).unwrap_err();
        assert!(err.to_string().contains(LEGACY_QUEUE_FILE_NAME), "{err}");
        PegInQueue::load(dir.path(), true, 100).unwrap();
        assert!(dir.path().join("chain-queue.json.corrupt").exists());
    }

    /// Queue files are read up to their bound, set by the capacity; one byte more is
    /// refused unread, as corrupt, with the bound named: the log and a file of the earlier
    /// layout alike.
    #[test]
    fn queue_files_are_read_within_a_bound() {
        let log_bound = log_layout(100).max_file();
        for (name, bound, refused) in [
            (QUEUE_FILE_NAME, log_bound, "not a peg-in queue log"),
            (LEGACY_QUEUE_FILE_NAME, max_file_bytes(100), "not a peg-in queue"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let file = fs::File::create(dir.path().join(name)).unwrap();
            file.set_len(bound).unwrap();
            let err = PegInQueue::load(dir.path(), false, 100).unwrap_err().to_string();
            assert!(err.contains(refused), "read, refused for what it holds: {err}");
            file.set_len(bound + 1).unwrap();
            let err = PegInQueue::load(dir.path(), false, 100).unwrap_err();
            assert!(err.to_string().contains(&format!("{bound}-byte bound")), "{err}");
            assert_eq!(err.severity(), Severity::Fatal);
        }
    }
}
