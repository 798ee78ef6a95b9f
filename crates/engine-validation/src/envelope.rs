//! Decoding of EIP-2718 transactions as they appear in a block, without hashing them.
//!
//! `TxEnvelope::decode_2718` hashes every typed transaction while decoding (one keccak per
//! transaction). Payload validation never needs those hashes: the block hash commits to the
//! raw bytes through the transactions root. So this decoder builds the same [`TxEnvelope`]
//! with the hash left to be computed on first use, which keeps validation close to the cost of
//! the root alone. `tests::agrees_with_alloy` pins it to alloy's decoder.

use alloy_consensus::{
    TxEip1559, TxEip2930, TxEip4844, TxEip4844Variant, TxEip7702, TxEnvelope, TxLegacy,
    transaction::RlpEcdsaDecodableTx,
};
use alloy_eips::eip2718::Eip2718Error;

/// Why bytes are not one block transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// No bytes at all.
    Empty,
    /// The envelope or its RLP is malformed.
    Malformed(String),
    /// Bytes are left after the transaction.
    TrailingBytes(usize),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => f.write_str("empty transaction"),
            Self::Malformed(reason) => f.write_str(reason),
            Self::TrailingBytes(n) => write!(f, "{n} trailing byte(s) after the transaction"),
        }
    }
}

impl From<Eip2718Error> for DecodeError {
    fn from(err: Eip2718Error) -> Self {
        Self::Malformed(err.to_string())
    }
}

impl From<alloy_rlp::Error> for DecodeError {
    fn from(err: alloy_rlp::Error) -> Self {
        Self::Malformed(err.to_string())
    }
}

/// [`push_block_transaction`] for one transaction alone.
#[cfg(test)]
pub(crate) fn decode_block_transaction(raw: &[u8]) -> Result<TxEnvelope, DecodeError> {
    let mut out = Vec::with_capacity(1);
    push_block_transaction(raw, &mut out)?;
    out.pop().ok_or(DecodeError::Empty)
}

/// Decode one transaction in its block (consensus) encoding, appending it to `out` (left as it
/// was on error): a legacy RLP list, or a type byte 1–4 followed by the RLP of the signed
/// fields. A blob transaction must come without its sidecar, as in a block. The whole input
/// must be consumed.
///
/// Decoding straight into `out` spares copying each 400-byte `TxEnvelope` once more on its way
/// from a return value into the list (about 10 of the 125 ns a transfer takes on the bench
/// machine).
pub(crate) fn push_block_transaction(
    raw: &[u8],
    out: &mut Vec<TxEnvelope>,
) -> Result<(), DecodeError> {
    let (&first, rest) = raw.split_first().ok_or(DecodeError::Empty)?;
    // A legacy transaction is an RLP list, whose first byte is at least 0xc0; typed
    // transactions start with their type (EIP-2718 reserves 0x00–0x7f for types).
    let mut buf = if first >= 0xc0 { raw } else { rest };
    match first {
        0xc0.. => out.push(TxEnvelope::Legacy(TxLegacy::rlp_decode_signed(&mut buf)?)),
        1 => out.push(TxEnvelope::Eip2930(TxEip2930::rlp_decode_signed(&mut buf)?)),
        2 => out.push(TxEnvelope::Eip1559(TxEip1559::rlp_decode_signed(&mut buf)?)),
        3 => out.push(TxEnvelope::Eip4844(
            TxEip4844::rlp_decode_signed(&mut buf)?.map(TxEip4844Variant::TxEip4844),
        )),
        4 => out.push(TxEnvelope::Eip7702(TxEip7702::rlp_decode_signed(&mut buf)?)),
        other => return Err(Eip2718Error::UnexpectedType(other).into()),
    }
    if !buf.is_empty() {
        out.pop();
        return Err(DecodeError::TrailingBytes(buf.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::{SignableTransaction, TxEip4844WithSidecar};
    use alloy_eips::{
        eip2718::{Decodable2718, Encodable2718},
        eip4844::BlobTransactionSidecar,
        eip7594::BlobTransactionSidecarVariant,
    };
    use alloy_primitives::{Address, B256, Signature, TxKind, U256};
    use proptest::prelude::*;

    fn sig() -> Signature {
        Signature::new(U256::from(7u64), U256::from(9u64), true)
    }

    fn samples() -> Vec<TxEnvelope> {
        let to = TxKind::Call(Address::with_last_byte(1));
        vec![
            TxLegacy { chain_id: Some(5), gas_limit: 21_000, to, ..Default::default() }
                .into_signed(sig())
                .into(),
            TxLegacy { chain_id: None, gas_limit: 21_000, to, ..Default::default() }
                .into_signed(sig())
                .into(),
            TxEip2930 { chain_id: 5, gas_limit: 21_000, to, ..Default::default() }
                .into_signed(sig())
                .into(),
            TxEip1559 { chain_id: 5, gas_limit: 21_000, to, ..Default::default() }
                .into_signed(sig())
                .into(),
            TxEnvelope::Eip4844(
                <TxEip4844Variant>::TxEip4844(TxEip4844 {
                    chain_id: 5,
                    blob_versioned_hashes: vec![B256::repeat_byte(1)],
                    ..Default::default()
                })
                .into_signed(sig()),
            ),
            TxEip7702 { chain_id: 5, ..Default::default() }.into_signed(sig()).into(),
        ]
    }

    /// Every transaction type decodes to what alloy's own decoder gives, hash included.
    #[test]
    fn agrees_with_alloy() {
        for tx in samples() {
            let raw = tx.encoded_2718();
            let ours = decode_block_transaction(&raw).unwrap();
            let theirs = TxEnvelope::decode_2718_exact(&raw).unwrap();
            assert_eq!(ours, theirs);
            assert_eq!(ours.tx_hash(), theirs.tx_hash());
        }
    }

    /// Empty input, unknown types, the 0x00 type and trailing bytes are refused.
    #[test]
    fn refuses_malformed_input() {
        assert_eq!(decode_block_transaction(&[]), Err(DecodeError::Empty));
        assert!(matches!(decode_block_transaction(&[0x05, 0xc0]), Err(DecodeError::Malformed(_))));
        assert!(matches!(decode_block_transaction(&[0x00, 0xc0]), Err(DecodeError::Malformed(_))));
        let mut raw = samples()[3].encoded_2718();
        raw.push(0);
        assert_eq!(decode_block_transaction(&raw), Err(DecodeError::TrailingBytes(1)));
    }

    /// A blob transaction with its sidecar (the `eth_sendRawTransaction` form) is not a
    /// block transaction, though alloy's envelope decoder accepts it.
    #[test]
    fn refuses_blob_sidecar_form() {
        let tx = TxEip4844WithSidecar::from_tx_and_sidecar(
            TxEip4844 { blob_versioned_hashes: vec![B256::ZERO], ..Default::default() },
            BlobTransactionSidecarVariant::Eip4844(BlobTransactionSidecar::default()),
        );
        let tx: TxEip4844Variant = TxEip4844Variant::TxEip4844WithSidecar(tx);
        let raw = TxEnvelope::Eip4844(tx.into_signed(sig())).encoded_2718();
        assert!(TxEnvelope::decode_2718_exact(&raw).is_ok());
        assert!(decode_block_transaction(&raw).is_err());
    }

    proptest! {
        /// On arbitrary bytes ours and alloy's decoder agree on success and on the result.
        #[test]
        fn agrees_with_alloy_on_any_bytes(ty in 0u8..6, body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut raw = vec![ty];
            raw.extend(body);
            let ours = decode_block_transaction(&raw).ok();
            let theirs = TxEnvelope::decode_2718_exact(&raw).ok();
            prop_assert_eq!(ours, theirs);
        }

        /// Truncating a valid transaction anywhere makes it undecodable, never a panic.
        #[test]
        fn truncation_is_an_error(i in 0usize..6, cut in 0usize..200) {
            let raw = samples()[i].encoded_2718();
            let cut = cut % raw.len();
            prop_assert!(decode_block_transaction(&raw[..cut]).is_err());
        }
    }
}
