//! A payload's `transactions` read into one buffer: every transaction's bytes are a slice of
//! a single allocation, where a `Vec<Bytes>` read element by element allocates once per
//! transaction (1,000 small blocks for a full payload, which glibc carves out of a heap a
//! 230 KB body has just split: the allocator was a third of the read in `perf`).
//!
//! What it accepts and refuses is alloy's `Bytes` reader's (`alloy-primitives`
//! `bytes/serde.rs`), element by element: a hex string with or without `0x`, or an array of
//! byte values; anything else is refused with the same words.

use alloy_primitives::{Bytes, hex};
use serde::de::{DeserializeSeed, Deserializer, Error, SeqAccess, Unexpected, Visitor};
use std::fmt;

/// Reads a JSON list of transactions (hex strings) into slices of one buffer.
pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Bytes>, D::Error> {
    d.deserialize_seq(List)
}

/// The list.
struct List;

impl<'de> Visitor<'de> for List {
    type Value = Vec<Bytes>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Bytes>, A::Error> {
        let mut buffer = Vec::new();
        // The hint is the deserializer's, not the sender's: serde_json gives none.
        let mut ends = Vec::new();
        while seq.next_element_seed(Append(&mut buffer))?.is_some() {
            ends.push(buffer.len());
        }
        let all = Bytes::from(buffer);
        let mut start = 0;
        Ok(ends
            .into_iter()
            .map(|end| {
                let tx = all.slice(start..end);
                start = end;
                tx
            })
            .collect())
    }
}

/// One transaction, appended to the buffer.
struct Append<'a>(&'a mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for Append<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if d.is_human_readable() {
            // A hex string (or an array of byte values), as alloy's `Bytes` reads one. Asked
            // for bytes, serde_json finds the string's end with a vectorized search for `"`
            // and `\` (`memchr2`) instead of its word-at-a-time loop that also looks for
            // control characters (and, reading from a byte slice, skips the UTF-8 check);
            // the hex decode refuses anything but ASCII hex digits anyway.
            d.deserialize_bytes(HexText(self))
        } else {
            d.deserialize_any(self)
        }
    }
}

impl Append<'_> {
    /// Appends the bytes `text` spells in hex (with or without `0x`), or refuses it in
    /// alloy's words.
    fn hex<E: Error>(self, text: &[u8]) -> Result<(), E> {
        let invalid = || match std::str::from_utf8(text) {
            Ok(text) => E::invalid_value(Unexpected::Str(text), &"a valid hex string"),
            Err(_) => E::invalid_value(Unexpected::Bytes(text), &"a valid hex string"),
        };
        // The prefix `hex::decode_to_slice` strips, as `hex::decode` does (const-hex's
        // `strip_prefix`): only to size the output; the decode itself strips it.
        let digits = match text {
            [b'0', b'x' | b'X', rest @ ..] => rest.len(),
            _ => text.len(),
        };
        if digits % 2 != 0 {
            return Err(invalid());
        }
        let start = self.0.len();
        self.0.resize(start + digits / 2, 0);
        hex::decode_to_slice(text, &mut self.0[start..]).map_err(|_| invalid())
    }
}

impl<'de> Visitor<'de> for Append<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a variable number of bytes represented as a hex string, an array of u8, or raw bytes",
        )
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<(), E> {
        self.hex(v.as_bytes())
    }

    fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<(), E> {
        self.0.extend_from_slice(v);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(byte) = seq.next_element::<u8>()? {
            self.0.push(byte);
        }
        Ok(())
    }
}

/// One transaction in a human-readable format: its hex text, however the deserializer hands
/// it over (a string, or the string's raw bytes), or an array of byte values.
struct HexText<'a>(Append<'a>);

impl<'de> Visitor<'de> for HexText<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<(), E> {
        self.0.visit_str(v)
    }

    fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<(), E> {
        self.0.hex(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        self.0.visit_seq(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Ours(#[serde(deserialize_with = "deserialize")] Vec<Bytes>);

    /// Every list alloy's `Vec<Bytes>` reads, this reads to the same bytes; every list it
    /// refuses, this refuses with the same message.
    #[test]
    fn agrees_with_alloy_element_by_element() {
        let cases = [
            r#"[]"#,
            r#"["0x"]"#,
            r#"[""]"#,
            r#"["0x02f8", "abCD", "0x", "0x00"]"#,
            r#"[[1, 2, 255], "0x01"]"#,
            r#"["0x0"]"#,
            r#"["0xzz"]"#,
            r#"["0x0g"]"#,
            r#"["0x01", 5]"#,
            r#"["0x01", null]"#,
            r#"[[256]]"#,
            r#"{"a": "0x01"}"#,
            r#""0x01""#,
            r#"["\u0030x01"]"#,
            r#"["0x01",]"#,
            r#"["0X01"]"#,
            r#"["0x0x01"]"#,
            r#"["0x0x"]"#,
            r#"["0x0102ff"]"#,
        ];
        for case in cases {
            let theirs = serde_json::from_str::<Vec<Bytes>>(case).map_err(|e| e.to_string());
            let ours = serde_json::from_str::<Ours>(case).map(|o| o.0).map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "{case}");
            // From bytes, as the client reads a body (serde_json's other reader).
            let theirs =
                serde_json::from_slice::<Vec<Bytes>>(case.as_bytes()).map_err(|e| e.to_string());
            let ours = serde_json::from_slice::<Ours>(case.as_bytes())
                .map(|o| o.0)
                .map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "{case} from bytes");
        }
    }

    /// Bytes that are not UTF-8 (or control characters) inside a transaction's string are
    /// refused: alloy's reader says so while reading the string, this one when decoding it.
    #[test]
    fn refuses_what_is_not_hex_text() {
        let not_utf8 = b"[\"0x\xff\xfe\"]";
        assert!(serde_json::from_slice::<Vec<Bytes>>(not_utf8).is_err());
        let err = serde_json::from_slice::<Ours>(not_utf8).map(|o| o.0).unwrap_err();
        assert!(err.to_string().contains("expected a valid hex string"), "{err}");
    }

    /// The transactions share one allocation, each its own slice of it.
    #[test]
    fn one_buffer_for_all() {
        let txs = serde_json::from_str::<Ours>(r#"["0x0102", "0x03", "0x", "0x0405"]"#).unwrap().0;
        assert_eq!(txs, [&[1u8, 2][..], &[3], &[], &[4, 5]].map(Bytes::copy_from_slice));
        let base = txs[0].as_ptr();
        assert_eq!(txs[1].as_ptr(), base.wrapping_add(2));
        assert_eq!(txs[3].as_ptr(), base.wrapping_add(3));
    }
}
