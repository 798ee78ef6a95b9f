//! How a response body becomes a call's value: [`ResultReader`], in one pass where it can.
//!
//! ```text
//!  body ──one pass: the envelope's keys, `result` read by the typed seed──> value ──check──> T
//!    └─ anything but jsonrpc "2.0", this id, and a `result` of the expected shape ─┐
//!  body ──two passes (decode_response, then the seed on the raw result)───────────┴─> T or
//!                                                                       the error, worded
//! ```
//!
//! The two-pass path ([`decode_response`] then the seed on the raw text) keeps the raw
//! `result` apart until the envelope is known good, which is what words every error; but it
//! scans a large `result` twice (the envelope's scan of a 1,000-transaction `getPayload` was
//! 48 µs beside the typed parse's 92, bench `engine_call/breakdown`). So an answer is first
//! read in one pass: the envelope's fields by a visitor that hands `result` straight to the
//! typed seed. Only a plain success comes out of that pass (`jsonrpc` "2.0", the request's
//! `id`, a `result` of the right shape, no `error`, no key twice, nothing after the object);
//! anything else, and every error, is read again the two-pass way, so what is refused and
//! how it is worded do not change.

use super::decode_response;
use engine_types::EngineError;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use std::{fmt, marker::PhantomData};

/// Reads a response body to request `id` into a call's value.
pub trait ReadResult {
    /// The call's value.
    type Output;

    /// The value `body` answers to request `id` of `method`, or why not (errors name
    /// `method`).
    fn read(&self, body: &[u8], id: u64, method: &str) -> Result<Self::Output, EngineError>;
}

/// A function of the raw `result` (the text of the JSON value) reads it after the two-pass
/// envelope: for callers that want the text itself.
impl<F, T> ReadResult for F
where
    F: Fn(&str) -> Result<T, EngineError>,
{
    type Output = T;

    fn read(&self, body: &[u8], id: u64, method: &str) -> Result<T, EngineError> {
        self(decode_response(body, id, method)?.get())
    }
}

/// Reads `result` with a serde seed `S` (a type's `PhantomData`, or a seed that picks the
/// shape, as [`GetPayloadSeed`](engine_types::GetPayloadSeed) does by version), then checks
/// the value with `F` (a status the method does not allow, a count over what was asked).
#[derive(Debug, Clone)]
pub struct ResultReader<S, F> {
    seed: S,
    check: F,
}

/// The check of a reader that only parses.
pub type NoCheck<V> = fn(V) -> Result<V, EngineError>;

impl<V: serde::de::DeserializeOwned> ResultReader<PhantomData<V>, NoCheck<V>> {
    /// A reader of a `result` as a `V`, unchecked.
    pub fn typed() -> Self {
        Self { seed: PhantomData, check: Ok }
    }
}

impl<S, F, V, T> ResultReader<S, F>
where
    S: for<'de> DeserializeSeed<'de, Value = V> + Clone,
    F: Fn(V) -> Result<T, EngineError>,
{
    /// A reader of a `result` with `seed`, checked by `check`.
    pub const fn new(seed: S, check: F) -> Self {
        Self { seed, check }
    }

    /// The value of a raw `result` of `method` (the text of the JSON value); a shape
    /// mismatch is a bad response.
    pub fn from_raw(&self, raw: &str, method: &str) -> Result<T, EngineError> {
        let mut reader = serde_json::Deserializer::from_str(raw);
        let value = self
            .seed
            .clone()
            .deserialize(&mut reader)
            .and_then(|value| reader.end().map(|()| value))
            .map_err(|e| EngineError::bad_response(method, format!("unexpected result: {e}")))?;
        (self.check)(value)
    }
}

impl<S, F, V, T> ReadResult for ResultReader<S, F>
where
    S: for<'de> DeserializeSeed<'de, Value = V> + Clone,
    F: Fn(V) -> Result<T, EngineError>,
{
    type Output = T;

    fn read(&self, body: &[u8], id: u64, method: &str) -> Result<T, EngineError> {
        match one_pass(body, id, self.seed.clone()) {
            Some(value) => (self.check)(value),
            None => self.from_raw(decode_response(body, id, method)?.get(), method),
        }
    }
}

/// The `result` of a plain success to request `id`, read in one pass; `None` for anything
/// else (the two-pass path reads it again and words why).
fn one_pass<S, V>(body: &[u8], id: u64, seed: S) -> Option<V>
where
    S: for<'de> DeserializeSeed<'de, Value = V>,
{
    // From the bytes, without checking the whole body is UTF-8 first: serde_json checks each
    // string it hands over as text (keys, hashes, quantities), and a payload's transactions,
    // most of a large body, are read as bytes and refused unless they are hex digits
    // (`engine_types` `response/transactions.rs`). What goes unchecked is only the inside
    // of values the envelope skips. (The check of the whole body was about 7 % of reading a
    // 1,000-transaction `getPayload`: `cargo bench -p engine-client --bench engine_call --
    // one_pass`.)
    let mut reader = serde_json::Deserializer::from_slice(body);
    let value = serde::Deserializer::deserialize_map(&mut reader, Envelope { id, seed }).ok()?;
    reader.end().ok()?;
    value
}

/// The envelope's visitor: `Some(result)` only for a plain success.
struct Envelope<S> {
    id: u64,
    seed: S,
}

/// A key of the envelope.
enum Key {
    Jsonrpc,
    Id,
    Result,
    Error,
    Other,
}

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name;
        impl Visitor<'_> for Name {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON-RPC response key")
            }
            fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "jsonrpc" => Key::Jsonrpc,
                    "id" => Key::Id,
                    "result" => Key::Result,
                    "error" => Key::Error,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(Name)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for Envelope<S> {
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC response object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut version, mut id) = (None, None);
        let mut seed = Some(self.seed);
        let mut result = None;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Jsonrpc if version.is_none() => {
                    version = Some(map.next_value::<&str>()? == "2.0");
                }
                Key::Id if id.is_none() => id = Some(map.next_value::<Option<u64>>()?),
                Key::Result => match seed.take() {
                    Some(seed) => result = Some(map.next_value_seed(seed)?),
                    None => return Ok(None),
                },
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
                // An error, or a key twice: not a plain success.
                Key::Error | Key::Jsonrpc | Key::Id => return Ok(None),
            }
        }
        Ok(result.filter(|_| version == Some(true) && id == Some(Some(self.id))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine_types::{ApiVersion, GetPayloadSeed, PayloadStatusWire};

    /// What the one pass reads, and that everything it declines is left to the two-pass
    /// path: the same value or the same error as before, whatever the body.
    #[test]
    fn one_pass_takes_plain_successes_only() {
        let seed = PhantomData::<u64>;
        let one = |body: &str| one_pass(body.as_bytes(), 7, seed);
        assert_eq!(one(r#"{"jsonrpc":"2.0","id":7,"result":5}"#), Some(5));
        assert_eq!(one(r#"{"result":5,"id":7,"jsonrpc":"2.0"}"#), Some(5), "any key order");
        assert_eq!(one(r#" {"jsonrpc":"2.0","x":[1,{"y":2}],"id":7,"result":5} "#), Some(5));
        for declined in [
            r#"{"jsonrpc":"2.0","id":8,"result":5}"#,
            r#"{"jsonrpc":"1.0","id":7,"result":5}"#,
            r#"{"id":7,"result":5}"#,
            r#"{"jsonrpc":"2.0","id":7}"#,
            r#"{"jsonrpc":"2.0","id":7,"result":"5"}"#,
            r#"{"jsonrpc":"2.0","id":7,"result":5,"error":{"code":1,"message":"m"}}"#,
            r#"{"jsonrpc":"2.0","id":7,"error":{"code":1,"message":"m"}}"#,
            r#"{"jsonrpc":"2.0","id":7,"result":5,"result":6}"#,
            r#"{"jsonrpc":"2.0","id":7,"id":7,"result":5}"#,
            r#"{"jsonrpc":"2.0","id":7,"result":5} x"#,
            r#"[{"jsonrpc":"2.0","id":7,"result":5}]"#,
            r#"{"jsonrpc":"2.0","id":7,"result":5"#,
        ] {
            assert_eq!(one(declined), None, "{declined}");
            let reader = ResultReader::typed();
            let read: Result<u64, _> = reader.read(declined.as_bytes(), 7, "m");
            let two_pass = decode_response(declined.as_bytes(), 7, "m")
                .and_then(|raw| reader.from_raw(raw.get(), "m"));
            assert_eq!(format!("{read:?}"), format!("{two_pass:?}"), "{declined}");
        }
    }

    /// Bytes that are not UTF-8 are refused wherever the engine reads them as text or hex,
    /// and only there: inside a value the envelope skips they change nothing.
    #[test]
    fn non_utf8_is_refused_where_it_is_read() {
        fn read<V: serde::de::DeserializeOwned>(body: &[u8]) -> Result<V, String> {
            ResultReader::typed().read(body, 7, "m").map_err(|e| e.to_string())
        }
        let in_result = read::<String>(b"{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":\"\xff\"}");
        assert!(in_result.is_err(), "{in_result:?}");
        let skipped = read::<u64>(b"{\"jsonrpc\":\"2.0\",\"x\":\"\xff\",\"id\":7,\"result\":5}");
        assert_eq!(skipped, Ok(5));
        let in_version = read::<u64>(b"{\"jsonrpc\":\"2.0\xff\",\"id\":7,\"result\":5}");
        assert!(in_version.is_err(), "{in_version:?}");
    }

    /// A checked reader checks what either path read; getPayload's seed reads by version.
    #[test]
    fn checks_and_seeds_apply_on_both_paths() {
        let status = r#"{"status":"VALID","latestValidHash":null,"validationError":null}"#;
        let reader = ResultReader::new(PhantomData::<PayloadStatusWire>, |s| Ok(s.status));
        let body = format!(r#"{{"jsonrpc":"2.0","id":1,"result":{status}}}"#);
        let valid = engine_types::StatusKind::Valid;
        assert_eq!(reader.read(body.as_bytes(), 1, "engine_newPayloadV2").unwrap(), valid);
        assert_eq!(reader.from_raw(status, "engine_newPayloadV2").unwrap(), valid);

        let payload = ResultReader::new(GetPayloadSeed(ApiVersion::V1), Ok);
        let body = br#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
        let err = payload.read(body, 1, "engine_getPayloadV1").unwrap_err();
        assert!(err.to_string().contains("unexpected result: missing field"), "{err}");
    }
}
