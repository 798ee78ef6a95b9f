//! Payload statuses as the spec allows them, and the checks that turn an EL's answer into a
//! verdict the engine can trust.
//!
//! alloy's `PayloadStatusEnum` rejects two answers the spec allows (`INVALID_BLOCK_HASH`, and
//! `INVALID` with a null or absent `validationError`), so the wire is parsed with
//! [`PayloadStatusWire`] and then checked against the request: a `VALID` whose
//! `latestValidHash` is not the block we sent is a bad response, not a success (the old node
//! never looked).

use crate::error::EngineError;
use alloy_primitives::B256;
use alloy_rpc_types_engine::PayloadId;
use serde::{Deserialize, Serialize};

/// The `status` string of a payload status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatusKind {
    /// The payload (or head) is valid.
    Valid,
    /// The payload (or head) is invalid.
    Invalid,
    /// The EL lacks data to decide and is syncing.
    Syncing,
    /// The payload is well-formed but its parent is not known to be valid (newPayload only).
    Accepted,
    /// The block hash does not match (newPayloadV1 only; later versions answer INVALID).
    InvalidBlockHash,
}

/// `PayloadStatusV1` exactly as it comes off the wire, accepting everything the spec allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayloadStatusWire {
    /// The status.
    pub status: StatusKind,
    /// Hash of the most recent valid block on the branch, when the EL knows it.
    #[serde(default)]
    pub latest_valid_hash: Option<B256>,
    /// Why the payload is invalid; may be null or absent even when it is.
    #[serde(default)]
    pub validation_error: Option<String>,
}

impl PayloadStatusWire {
    /// `VALID` with `latestValidHash` = `hash`.
    pub const fn valid(hash: B256) -> Self {
        Self { status: StatusKind::Valid, latest_valid_hash: Some(hash), validation_error: None }
    }

    /// `SYNCING` with a null `latestValidHash`.
    pub const fn syncing() -> Self {
        Self { status: StatusKind::Syncing, latest_valid_hash: None, validation_error: None }
    }

    /// `ACCEPTED` with a null `latestValidHash`.
    pub const fn accepted() -> Self {
        Self { status: StatusKind::Accepted, latest_valid_hash: None, validation_error: None }
    }

    /// `INVALID` with the newest valid ancestor and a reason.
    pub fn invalid(latest_valid_hash: Option<B256>, validation_error: impl Into<String>) -> Self {
        Self {
            status: StatusKind::Invalid,
            latest_valid_hash,
            validation_error: Some(validation_error.into()),
        }
    }

    /// The verdict on a `newPayload` of the block `block_hash`.
    ///
    /// `VALID` must name the block itself; anything else is [`EngineError::BadResponse`].
    pub fn check_new_payload(
        self,
        method: &str,
        block_hash: B256,
    ) -> Result<PayloadStatus, EngineError> {
        match self.status {
            StatusKind::Valid if self.latest_valid_hash == Some(block_hash) => {
                Ok(PayloadStatus::Valid { latest_valid_hash: block_hash })
            }
            StatusKind::Valid => Err(EngineError::bad_response(
                method,
                format!(
                    "VALID for block {block_hash} with latestValidHash {}",
                    display_hash(self.latest_valid_hash)
                ),
            )),
            _ => Ok(self.into_status()),
        }
    }

    /// The verdict on a `forkchoiceUpdated` whose head is `head`.
    ///
    /// Only `VALID`, `INVALID` and `SYNCING` are allowed, and `VALID` must name the head.
    pub fn check_forkchoice(self, method: &str, head: B256) -> Result<PayloadStatus, EngineError> {
        match self.status {
            StatusKind::Valid if self.latest_valid_hash != Some(head) => {
                Err(EngineError::bad_response(
                    method,
                    format!(
                        "VALID for head {head} with latestValidHash {}",
                        display_hash(self.latest_valid_hash)
                    ),
                ))
            }
            StatusKind::Accepted | StatusKind::InvalidBlockHash => Err(EngineError::bad_response(
                method,
                format!("status {:?} is not allowed in a forkchoiceUpdated response", self.status),
            )),
            _ => Ok(self.into_status()),
        }
    }

    fn into_status(self) -> PayloadStatus {
        match self.status {
            StatusKind::Valid => PayloadStatus::Valid {
                latest_valid_hash: self.latest_valid_hash.unwrap_or_default(),
            },
            StatusKind::Invalid => PayloadStatus::Invalid {
                latest_valid_hash: self.latest_valid_hash,
                validation_error: self.validation_error,
            },
            StatusKind::Syncing => PayloadStatus::Syncing,
            StatusKind::Accepted => PayloadStatus::Accepted,
            StatusKind::InvalidBlockHash => {
                PayloadStatus::InvalidBlockHash { validation_error: self.validation_error }
            }
        }
    }
}

fn display_hash(hash: Option<B256>) -> String {
    hash.map_or_else(|| "null".to_string(), |h| h.to_string())
}

/// What the EL decided about a payload or a head, after the checks of
/// [`PayloadStatusWire`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PayloadStatus {
    /// Valid; `latest_valid_hash` is the block (or head) itself.
    Valid {
        /// The block's hash.
        latest_valid_hash: B256,
    },
    /// Invalid.
    Invalid {
        /// Newest valid ancestor; `None` (or the zero hash) when the EL cannot tell.
        latest_valid_hash: Option<B256>,
        /// The EL's reason, when it gave one.
        validation_error: Option<String>,
    },
    /// The EL is syncing and cannot decide yet.
    Syncing,
    /// Well-formed, parent not known to be valid: the EL will decide later.
    Accepted,
    /// The block hash does not match the payload (newPayloadV1 only).
    InvalidBlockHash {
        /// The EL's reason, when it gave one.
        validation_error: Option<String>,
    },
}

impl PayloadStatus {
    /// Whether the EL judged the payload valid.
    pub const fn is_valid(&self) -> bool {
        matches!(self, Self::Valid { .. })
    }

    /// Whether the EL judged the payload invalid (`INVALID` or `INVALID_BLOCK_HASH`).
    pub const fn is_invalid(&self) -> bool {
        matches!(self, Self::Invalid { .. } | Self::InvalidBlockHash { .. })
    }

    /// Whether the EL could not decide yet (`SYNCING` or `ACCEPTED`).
    pub const fn is_undecided(&self) -> bool {
        matches!(self, Self::Syncing | Self::Accepted)
    }

    /// The status string on the wire.
    pub const fn kind(&self) -> StatusKind {
        match self {
            Self::Valid { .. } => StatusKind::Valid,
            Self::Invalid { .. } => StatusKind::Invalid,
            Self::Syncing => StatusKind::Syncing,
            Self::Accepted => StatusKind::Accepted,
            Self::InvalidBlockHash { .. } => StatusKind::InvalidBlockHash,
        }
    }
}

/// `ForkchoiceUpdatedResponse` exactly as it comes off the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForkchoiceUpdatedWire {
    /// The status of the head.
    pub payload_status: PayloadStatusWire,
    /// The id of the build process started by the attributes, if any.
    #[serde(default)]
    pub payload_id: Option<PayloadId>,
}

/// The checked answer to a `forkchoiceUpdated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkchoiceOutcome {
    /// The EL's verdict on the head.
    pub status: PayloadStatus,
    /// The build process started by the attributes. `Some` only when attributes were sent
    /// and the head is VALID; `None` with a VALID head and attributes when the EL skipped the
    /// update because the head is a VALID ancestor of its canonical head (see
    /// [`ForkchoiceUpdatedWire::check`]): no build was started.
    pub payload_id: Option<PayloadId>,
}

impl ForkchoiceUpdatedWire {
    /// Check the answer to a `forkchoiceUpdated` with head `head`, with or without attributes.
    ///
    /// Spec violations become [`EngineError::BadResponse`]: a payload id with SYNCING or
    /// INVALID, a payload id without attributes.
    ///
    /// VALID with attributes but a null payload id is *not* a violation: the spec
    /// (`src/engine/paris.md`, forkchoiceUpdated) lets the EL skip an update whose head is a
    /// VALID ancestor of its canonical head and answer `{VALID, latestValidHash: head}` with
    /// `payloadId: null`, starting no build even though attributes were sent. Geth always
    /// does this ("Ignoring beacon update to old head"); Reth does unless started with
    /// `--engine.always-process-payload-attributes-on-canonical-head`; EthereumJS rewinds to
    /// the older head instead. The outcome is then VALID with no payload id, and the caller
    /// learns that the EL is ahead of the head it was given.
    pub fn check(
        self,
        method: &str,
        head: B256,
        with_attributes: bool,
    ) -> Result<ForkchoiceOutcome, EngineError> {
        let status = self.payload_status.check_forkchoice(method, head)?;
        let bad = |reason: &str| Err(EngineError::bad_response(method, reason));
        match (&status, self.payload_id, with_attributes) {
            // `(Valid, None, true)` is the spec-allowed skip of a head behind the EL's own.
            (PayloadStatus::Valid { .. }, Some(_), true) | (_, None, _) => {
                Ok(ForkchoiceOutcome { status, payload_id: self.payload_id })
            }
            (_, Some(_), false) => bad("payloadId returned without payload attributes"),
            (_, Some(_), true) => bad("payloadId returned for a head that is not VALID"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> PayloadStatusWire {
        serde_json::from_str(json).unwrap()
    }

    /// Everything the spec allows parses, including what alloy rejects.
    #[test]
    fn accepts_every_status_the_spec_allows() {
        let h = B256::repeat_byte(1);
        let st = |j: &str| parse(j).check_new_payload("engine_newPayloadV2", h).unwrap();
        assert_eq!(
            st(r#"{"status":"INVALID","latestValidHash":null,"validationError":null}"#),
            PayloadStatus::Invalid { latest_valid_hash: None, validation_error: None }
        );
        assert_eq!(
            st(
                r#"{"status":"INVALID","latestValidHash":"0x0000000000000000000000000000000000000000000000000000000000000000"}"#
            ),
            PayloadStatus::Invalid { latest_valid_hash: Some(B256::ZERO), validation_error: None }
        );
        assert_eq!(
            st(
                r#"{"status":"INVALID_BLOCK_HASH","latestValidHash":null,"validationError":"bad hash"}"#
            ),
            PayloadStatus::InvalidBlockHash { validation_error: Some("bad hash".into()) }
        );
        assert_eq!(st(r#"{"status":"SYNCING","latestValidHash":null}"#), PayloadStatus::Syncing);
        assert_eq!(st(r#"{"status":"ACCEPTED"}"#), PayloadStatus::Accepted);
        assert!(serde_json::from_str::<PayloadStatusWire>(r#"{"status":"MAYBE"}"#).is_err());
    }

    /// VALID naming another block is a bad response, never success.
    #[test]
    fn valid_with_wrong_latest_valid_hash_is_bad() {
        let h = B256::repeat_byte(1);
        let wrong = PayloadStatusWire::valid(B256::repeat_byte(2));
        let err = wrong.check_new_payload("engine_newPayloadV2", h).unwrap_err();
        assert!(matches!(err, EngineError::BadResponse { .. }), "{err}");
        let null = PayloadStatusWire { latest_valid_hash: None, ..PayloadStatusWire::valid(h) };
        assert!(null.check_new_payload("engine_newPayloadV2", h).is_err());
        assert!(PayloadStatusWire::valid(h).check_new_payload("m", h).unwrap().is_valid());
    }

    /// forkchoiceUpdated answers are held to its narrower rules.
    #[test]
    fn forkchoice_rules() {
        let head = B256::repeat_byte(7);
        let id = PayloadId::new([1; 8]);
        let fcu = |status, payload_id| ForkchoiceUpdatedWire { payload_status: status, payload_id };
        let ok = fcu(PayloadStatusWire::valid(head), Some(id)).check("m", head, true).unwrap();
        assert_eq!(ok.payload_id, Some(id));
        // A head behind the EL's canonical head may be skipped: VALID, no build started.
        let skipped = fcu(PayloadStatusWire::valid(head), None).check("m", head, true).unwrap();
        assert_eq!(
            skipped,
            ForkchoiceOutcome {
                status: PayloadStatus::Valid { latest_valid_hash: head },
                payload_id: None
            }
        );
        // The skip must still name the head: VALID for another block stays a bad response.
        let wrong = fcu(PayloadStatusWire::valid(B256::ZERO), None).check("m", head, true);
        assert!(matches!(wrong, Err(EngineError::BadResponse { .. })), "{wrong:?}");
        assert!(fcu(PayloadStatusWire::valid(head), Some(id)).check("m", head, false).is_err());
        assert!(fcu(PayloadStatusWire::syncing(), Some(id)).check("m", head, true).is_err());
        assert!(fcu(PayloadStatusWire::accepted(), None).check("m", head, false).is_err());
        let syncing = fcu(PayloadStatusWire::syncing(), None).check("m", head, true).unwrap();
        assert_eq!(syncing.status, PayloadStatus::Syncing);
        let invalid = fcu(PayloadStatusWire::invalid(None, "x"), None).check("m", head, true);
        assert!(invalid.unwrap().status.is_invalid());
        let wrong_head = fcu(PayloadStatusWire::valid(B256::ZERO), None).check("m", head, false);
        assert!(wrong_head.is_err());
    }
}
