//! Record logs: a file of checksummed records where a save appends one record and the last
//! record that parses is what the file holds. The engine keeps its state in one
//! ([`STATE_LOG`]), and the node its peg-in queue; [`RecordLog`] is the one implementation.
//!
//! ```text
//! magic (8 bytes) | tag u32 | length u32 | crc32c u32 | payload … | tag | length | crc | payload … | 0 0 0 …
//! ```
//!
//! All integers are little-endian; the CRC-32C covers the length and the payload. A save
//! writes its record over the zeros after the last one and `fdatasync`s: the file's size and
//! extents do not change, so the sync flushes one data page and no metadata, where a
//! replaced file pays two `fsync`s and a rename (`state/save_tmpfs` in
//! `cargo bench -p engine-actor --bench cycle` measures both). When the next record does
//! not fit, the log is written afresh holding only it, atomically (temporary file, `fsync`,
//! rename, directory `fsync`), as it is for the first save of a process.
//!
//! Reading takes the last record that parses. A crash during a save leaves at most one
//! damaged record, the last one, with nothing valid after it: that save never returned, so
//! nothing acted on it, and the record before it is what the file holds. A damaged record
//! *followed by* a valid one cannot come from a crash (a save never writes past a damaged
//! record: the first save after a start writes a fresh file); it is damage to the file,
//! refused rather than read as an older record.

use super::files;
use std::{
    fs,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

/// What tells one kind of record log from another, and bounds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The file's first bytes: its kind and layout version.
    pub magic: &'static [u8; 8],
    /// What the file is, with its article, for errors ("an engine state log").
    pub what: &'static str,
    /// The largest payload a record holds.
    pub max_record: usize,
}

/// The engine state's log: a state with a full default ledger (4,096 peg-ins) is about
/// 1 MiB of JSON, so a record holds up to 16 MiB.
pub const STATE_LOG: Layout =
    Layout { magic: b"AESTLOG1", what: "an engine state log", max_record: 16 << 20 };

/// Each record's first bytes ("RCRD").
const TAG: [u8; 4] = *b"RCRD";

/// Bytes before a record's payload: tag, length, CRC.
const RECORD_HEADER: usize = 12;

/// Bytes of the magic at the start of every log.
const MAGIC_LEN: usize = 8;

/// Zeroed bytes a fresh log is given for its records at least: about 2,000 saves of a
/// typical engine state (under 500 bytes) before the log is written afresh.
pub const SEGMENT: usize = 1 << 20;

/// Slice-by-16 tables (16 KiB, built at compile time): a typical record's CRC is about 4×
/// faster than with the one-table default.
const CRC: crc::Crc<u32, crc::Table<16>> = crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISCSI);

impl Layout {
    /// The largest log of this layout [`decode`](Self::decode) reads: a fresh log holds
    /// room for four records of the size that started it, or one [`SEGMENT`].
    pub const fn max_file(&self) -> u64 {
        let records = 4 * (RECORD_HEADER + self.max_record);
        let room = if records > SEGMENT { records } else { SEGMENT };
        (MAGIC_LEN + room) as u64
    }

    /// One record holding `payload`.
    pub fn record(&self, payload: &[u8]) -> Result<Vec<u8>, String> {
        if payload.len() > self.max_record {
            return Err(format!(
                "the record is {} bytes, over the {}-byte bound of a record in {}",
                payload.len(),
                self.max_record,
                self.what
            ));
        }
        // Fits: at most `max_record`, which callers keep far below u32::MAX.
        let length = u32::try_from(payload.len())
            .map_err(|_| format!("a record of {} bytes has no length field", payload.len()))?
            .to_le_bytes();
        let mut digest = CRC.digest();
        digest.update(&length);
        digest.update(payload);
        let mut record = Vec::with_capacity(RECORD_HEADER + payload.len());
        record.extend_from_slice(&TAG);
        record.extend_from_slice(&length);
        record.extend_from_slice(&digest.finalize().to_le_bytes());
        record.extend_from_slice(payload);
        Ok(record)
    }

    /// The bytes of a fresh log holding `record`, zeroed up to its capacity.
    pub fn fresh(&self, record: &[u8]) -> Vec<u8> {
        let capacity = SEGMENT.max(4 * record.len()) + MAGIC_LEN;
        let mut bytes = Vec::with_capacity(capacity);
        bytes.extend_from_slice(self.magic);
        bytes.extend_from_slice(record);
        bytes.resize(capacity, 0);
        bytes
    }

    /// The record that parses at `at`, as (payload, end offset).
    fn record_at<'a>(&self, bytes: &'a [u8], at: usize) -> Option<(&'a [u8], usize)> {
        let header = bytes.get(at..at.checked_add(RECORD_HEADER)?)?;
        let (tag, rest) = header.split_at(4);
        let (length, crc) = rest.split_at(4);
        if tag != TAG {
            return None;
        }
        let length_bytes: [u8; 4] = length.try_into().ok()?;
        let len = usize::try_from(u32::from_le_bytes(length_bytes)).ok()?;
        if len == 0 || len > self.max_record {
            return None;
        }
        let start = at + RECORD_HEADER;
        let payload = bytes.get(start..start.checked_add(len)?)?;
        let mut digest = CRC.digest();
        digest.update(&length_bytes);
        digest.update(payload);
        (crc == digest.finalize().to_le_bytes()).then_some((payload, start + len))
    }

    /// The last record of a log's `bytes` (its payload): `Err` names what makes the bytes no
    /// log of this layout, or a damaged log.
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> Result<&'a [u8], String> {
        if !bytes.starts_with(self.magic) {
            return Err(format!(
                "not {} (it does not start with {:?})",
                self.what,
                String::from_utf8_lossy(self.magic)
            ));
        }
        let mut at = MAGIC_LEN;
        let mut last = None;
        while let Some((payload, end)) = self.record_at(bytes, at) {
            last = Some(payload);
            at = end;
        }
        if let Some(later) = (at + 1..bytes.len()).find(|&i| self.record_at(bytes, i).is_some()) {
            return Err(format!(
                "the record at byte {at} is damaged and a valid one follows at byte {later}: \
                 the file was damaged, not cut short by a crash"
            ));
        }
        last.ok_or_else(|| "the log holds no complete record".into())
    }
}

/// A record log at one path. Clones share the open file, so that one process appends to
/// one log.
#[derive(Debug, Clone)]
pub struct RecordLog {
    path: PathBuf,
    layout: Layout,
    /// A file of an earlier layout this log takes the place of: removed once the log is
    /// first written.
    replaces: Option<PathBuf>,
    /// The file this process appends to, once its first save has written it afresh; `None`
    /// again after a failed write, so that the next save starts a fresh log rather than
    /// append after bytes in an unknown state.
    open: Arc<Mutex<Option<OpenLog>>>,
}

/// What [`RecordLog::read`] found.
#[derive(Debug)]
pub struct Stored {
    /// The file read: the log, or the file of the earlier layout it replaces.
    pub path: PathBuf,
    /// The log's last record, or the earlier file's whole content; `Err` names what makes
    /// the log unusable.
    pub content: Result<Vec<u8>, String>,
}

/// A file [`RecordLog::read`] could not read.
#[derive(Debug)]
pub struct Unreadable {
    /// The file.
    pub path: PathBuf,
    /// Why, of kind `FileTooLarge` for a file over its bound.
    pub error: std::io::Error,
}

/// The log file a process appends to.
#[derive(Debug)]
struct OpenLog {
    file: fs::File,
    /// Where the next record goes: just past the last one.
    end: u64,
    /// The file's length, zeroed past `end`.
    capacity: u64,
}

impl RecordLog {
    /// The log at `path`, of `layout` (created by the first [`append`](Self::append)).
    pub fn new(path: PathBuf, layout: Layout) -> Self {
        Self { path, layout, replaces: None, open: Arc::default() }
    }

    /// This log, which removes the file at `earlier` (of an earlier layout) once it is
    /// first written.
    #[must_use]
    pub fn replacing(self, earlier: PathBuf) -> Self {
        Self { replaces: Some(earlier), ..self }
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the log holds: its last record's payload, else, when there is no log, the whole
    /// content of the file it replaces (read up to [`Layout::max_record`]). `Ok(None)` when
    /// there is neither file. A [`Stored`] names the file read, and holds `Err(reason)` when
    /// it is no log of this layout or a damaged one. `Err` when a file cannot be read (one
    /// over its bound is refused unread, kind `FileTooLarge`).
    pub fn read(&self) -> Result<Option<Stored>, Unreadable> {
        let unreadable = |path: &Path| {
            let path = path.to_path_buf();
            move |error| Unreadable { path, error }
        };
        let log = files::read_bounded(&self.path, self.layout.max_file())
            .map_err(unreadable(&self.path))?;
        if let Some(bytes) = log {
            let content = self.layout.decode(&bytes).map(<[u8]>::to_vec);
            return Ok(Some(Stored { path: self.path.clone(), content }));
        }
        let Some(earlier) = &self.replaces else { return Ok(None) };
        let bytes = files::read_bounded(earlier, self.layout.max_record as u64)
            .map_err(unreadable(earlier))?;
        Ok(bytes.map(|bytes| Stored { path: earlier.clone(), content: Ok(bytes) }))
    }

    /// Saves `payload` durably: one record appended and `fdatasync`ed, or, at this
    /// process's first save and whenever the log is full, a fresh log holding only it,
    /// replaced atomically. `Err` says which step failed.
    pub fn append(&self, payload: &[u8]) -> Result<(), String> {
        let record = self.layout.record(payload)?;
        let mut open = self.open.lock().unwrap_or_else(|poisoned| {
            // A panic while the lock was held may have left a record half written: start a
            // fresh log rather than append after it.
            self.open.clear_poison();
            let mut open = poisoned.into_inner();
            *open = None;
            open
        });
        if let Some(log) = open.as_mut()
            && log.end + record.len() as u64 <= log.capacity
        {
            let appended = log.append(&record);
            if appended.is_err() {
                *open = None;
            }
            return appended.map_err(|(what, e)| format!("cannot {what}: {e}"));
        }
        *open = None;
        *open = Some(self.start(&record)?);
        Ok(())
    }

    /// Writes a fresh log holding `record` in place of the old one (and of the file it
    /// replaces), atomically and durably.
    fn start(&self, record: &[u8]) -> Result<OpenLog, String> {
        let bytes = self.layout.fresh(record);
        let file = files::write_atomically(&self.path, &bytes).map_err(|e| e.to_string())?;
        // The log now holds the records: a file of the earlier layout is stale. Should its
        // removal not reach the disk, the log still comes first at the next load.
        if let Some(earlier) = &self.replaces {
            match fs::remove_file(earlier) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    tracing::warn!(path = %earlier.display(), error = %e,
                        "cannot remove the file of the earlier layout; the log is read first");
                }
                _ => {}
            }
        }
        let end = (MAGIC_LEN + record.len()) as u64;
        Ok(OpenLog { file, end, capacity: bytes.len() as u64 })
    }
}

impl OpenLog {
    /// Writes `record` over the zeros at `end` and syncs its data: the file's size and
    /// blocks stay as they were, so no metadata needs the sync.
    fn append(&mut self, record: &[u8]) -> Result<(), (&'static str, std::io::Error)> {
        // One `pwrite`: a seek and a write were a syscall more on every commit.
        files::write_at(&self.file, record, self.end).map_err(|e| ("append to the log", e))?;
        self.file.sync_data().map_err(|e| ("fdatasync the log", e))?;
        self.end += record.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Layout = STATE_LOG;
    const MAGIC: &[u8; 8] = STATE_LOG.magic;
    const MAX_RECORD: usize = STATE_LOG.max_record;

    fn record(payload: &[u8]) -> Result<Vec<u8>, String> {
        L.record(payload)
    }

    fn fresh(record: &[u8]) -> Vec<u8> {
        L.fresh(record)
    }

    fn decode(bytes: &[u8]) -> Result<&[u8], String> {
        L.decode(bytes)
    }

    fn log_of(payloads: &[&[u8]]) -> Vec<u8> {
        let mut bytes = fresh(&record(payloads[0]).unwrap());
        let mut at = MAGIC.len() + RECORD_HEADER + payloads[0].len();
        for payload in &payloads[1..] {
            let r = record(payload).unwrap();
            bytes[at..at + r.len()].copy_from_slice(&r);
            at += r.len();
        }
        bytes
    }

    #[test]
    fn the_last_record_is_the_state() {
        assert_eq!(decode(&log_of(&[b"one", b"two", b"three"])), Ok(&b"three"[..]));
    }

    /// A save cut off anywhere in its record leaves the one before it as the state.
    #[test]
    fn a_torn_last_record_leaves_the_previous_state() {
        let whole = log_of(&[b"one", b"two"]);
        let second = MAGIC.len() + RECORD_HEADER + 3;
        for written in 0..RECORD_HEADER + 3 {
            let mut torn = log_of(&[b"one"]);
            torn[second..second + written].copy_from_slice(&whole[second..second + written]);
            assert_eq!(decode(&torn), Ok(&b"one"[..]), "{written} bytes of the second record");
        }
        // Its bytes reached the disk but one of the payload's did not.
        let mut torn = whole;
        torn[second + RECORD_HEADER + 2] = 0;
        assert_eq!(decode(&torn), Ok(&b"one"[..]));
    }

    /// Damage before a valid record is refused, never read as the older state.
    #[test]
    fn a_damaged_record_before_a_valid_one_is_refused() {
        let mut bytes = log_of(&[b"one", b"two", b"three"]);
        let second_payload = MAGIC.len() + 2 * RECORD_HEADER + 3;
        bytes[second_payload] ^= 0x01;
        let err = decode(&bytes).unwrap_err();
        assert!(err.contains("damaged") && err.contains("valid one follows"), "{err}");
    }

    #[test]
    fn other_bytes_are_no_log() {
        assert!(decode(b"{\"version\":2}").unwrap_err().contains("not an engine state log"));
        assert!(decode(MAGIC).unwrap_err().contains("no complete record"));
        let mut zero_length = fresh(&record(b"x").unwrap());
        zero_length[MAGIC.len() + 4..MAGIC.len() + 8].copy_from_slice(&0u32.to_le_bytes());
        assert!(decode(&zero_length).unwrap_err().contains("no complete record"));
    }

    /// At the bound a record is written; one byte more is refused with the sizes named.
    #[test]
    fn records_are_bounded() {
        assert!(record(&vec![b'x'; MAX_RECORD]).is_ok());
        let err = record(&vec![b'x'; MAX_RECORD + 1]).unwrap_err();
        assert!(err.contains(&format!("{}", MAX_RECORD + 1)), "{err}");
        // A length field over the bound is not a record, whatever follows.
        let mut bytes = fresh(&record(b"x").unwrap());
        let over = u32::try_from(MAX_RECORD + 1).unwrap().to_le_bytes();
        bytes[MAGIC.len() + 4..MAGIC.len() + 8].copy_from_slice(&over);
        assert!(decode(&bytes).is_err());
    }

    /// A fresh log holds room for at least three more records of its first one's size.
    #[test]
    fn a_fresh_log_has_room() {
        let r = record(&vec![b'x'; SEGMENT]).unwrap();
        let bytes = fresh(&r);
        assert!(bytes.len() >= MAGIC.len() + 4 * r.len());
        assert!(bytes.len() as u64 <= L.max_file());
        assert!(bytes[MAGIC.len() + r.len()..].iter().all(|&b| b == 0));
    }
}
