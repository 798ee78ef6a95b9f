//! The state log's layout: an 8-byte header, then one record per save, each the whole state
//! as compact JSON, in a file whose tail is zeroed ahead of time.
//!
//! ```text
//! "AESTLOG1" | tag u32 | length u32 | crc32c u32 | payload … | tag | length | crc | payload … | 0 0 0 …
//! ```
//!
//! All integers are little-endian; the CRC-32C covers the length and the payload. A save
//! writes its record over the zeros after the last one and `fdatasync`s: the file's size and
//! extents do not change, so the sync flushes one data page and no metadata, where the
//! replaced-file layout of version 1 paid two `fsync`s and a rename (`state/save_tmpfs` in
//! `cargo bench -p engine-actor --bench cycle` measures both). When the next record does
//! not fit, the store writes a fresh log holding only it, atomically (temporary file,
//! `fsync`, rename, directory `fsync`), as it does for its first save after a start.
//!
//! Reading takes the last record that parses. A crash during a save leaves at most one
//! damaged record, the last one, with nothing valid after it: that save never returned, so
//! the engine never acted on it, and the record before it is the state. A damaged record
//! *followed by* a valid one cannot come from a crash (a save never writes past a damaged
//! record: the first save after a start writes a fresh file); it is damage to the file,
//! refused rather than read as an older state.

/// The file's first bytes: the layout and its version.
pub(super) const MAGIC: &[u8; 8] = b"AESTLOG1";

/// Each record's first bytes ("RCRD").
const TAG: [u8; 4] = *b"RCRD";

/// Bytes before a record's payload: tag, length, CRC.
const RECORD_HEADER: usize = 12;

/// The largest payload a record holds: a state with a full default ledger (4,096 peg-ins)
/// is about 1 MiB of JSON.
pub(super) const MAX_RECORD: usize = 16 << 20;

/// Zeroed bytes a fresh log is given for its records at least: about 2,000 saves of a
/// typical state (under 500 bytes) before the log is written afresh.
pub(super) const SEGMENT: usize = 1 << 20;

/// The largest log [`decode`] reads: a fresh log holds room for four records of the size
/// that started it.
pub(super) const MAX_FILE: u64 = (MAGIC.len() + 4 * (RECORD_HEADER + MAX_RECORD)) as u64;

/// Slice-by-16 tables (16 KiB, built at compile time): a typical record's CRC is about 4×
/// faster than with the one-table default.
const CRC: crc::Crc<u32, crc::Table<16>> = crc::Crc::<u32, crc::Table<16>>::new(&crc::CRC_32_ISCSI);

/// One record holding `payload`.
pub(super) fn record(payload: &[u8]) -> Result<Vec<u8>, String> {
    if payload.len() > MAX_RECORD {
        return Err(format!(
            "the state is {} bytes, over the {MAX_RECORD}-byte bound of a record",
            payload.len()
        ));
    }
    // Fits: at most MAX_RECORD, which is below u32::MAX.
    let length = (payload.len() as u32).to_le_bytes();
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
pub(super) fn fresh(record: &[u8]) -> Vec<u8> {
    let capacity = SEGMENT.max(4 * record.len()) + MAGIC.len();
    let mut bytes = Vec::with_capacity(capacity);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(record);
    bytes.resize(capacity, 0);
    bytes
}

/// The record that parses at `at`, as (payload, end offset).
fn record_at(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let header = bytes.get(at..at.checked_add(RECORD_HEADER)?)?;
    let (tag, rest) = header.split_at(4);
    let (length, crc) = rest.split_at(4);
    if tag != TAG {
        return None;
    }
    let length_bytes: [u8; 4] = length.try_into().ok()?;
    let len = u32::from_le_bytes(length_bytes) as usize;
    if len == 0 || len > MAX_RECORD {
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
/// log, or a damaged log.
pub(super) fn decode(bytes: &[u8]) -> Result<&[u8], String> {
    if !bytes.starts_with(MAGIC) {
        return Err("not an engine state log (it does not start with \"AESTLOG1\")".into());
    }
    let mut at = MAGIC.len();
    let mut last = None;
    while let Some((payload, end)) = record_at(bytes, at) {
        last = Some(payload);
        at = end;
    }
    if let Some(later) = (at + 1..bytes.len()).find(|&i| record_at(bytes, i).is_some()) {
        return Err(format!(
            "the record at byte {at} is damaged and a valid one follows at byte {later}: the \
             file was damaged, not cut short by a crash"
        ));
    }
    last.ok_or_else(|| "the log holds no complete record".into())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(bytes.len() as u64 <= MAX_FILE);
        assert!(bytes[MAGIC.len() + r.len()..].iter().all(|&b| b == 0));
    }
}
