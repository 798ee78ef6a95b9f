//! Peg-ins: bitcoin deposits that the sidechain mints as withdrawals of a payload.
//!
//! A payload carries at most [`MAX_WITHDRAWALS_PER_PAYLOAD`] withdrawals. Peg-ins to the same
//! EVM address are merged first (in first-seen order) so that a burst to one address costs one
//! slot; peg-ins to addresses that do not fit stay pending and go back to the caller, never
//! dropped. Withdrawal indices increase monotonically from a start the caller persists (the
//! old node sent index 0 for every withdrawal).

use crate::{
    amount::{AmountError, Satoshis},
    constants::MAX_WITHDRAWALS_PER_PAYLOAD,
};
use alloy_eips::eip4895::Withdrawal;
use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};

/// A confirmed bitcoin deposit to be minted on the sidechain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PegIn {
    /// Who receives the minted coins.
    pub evm_address: Address,
    /// How much, in satoshis.
    pub amount: Satoshis,
    /// The bitcoin transaction that paid the federation.
    pub bitcoin_txid: B256,
}

/// Why peg-ins could not be packed into withdrawals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PackError {
    /// A merged amount does not fit in Gwei.
    #[error("peg-ins to {address} cannot be merged: {source}")]
    Amount {
        /// The address whose merged amount overflowed.
        address: Address,
        /// The overflow.
        #[source]
        source: AmountError,
    },
    /// The withdrawal index would pass `u64::MAX`.
    #[error("withdrawal index overflows after {start}")]
    IndexOverflow {
        /// The start index that was given.
        start: u64,
    },
}

/// The withdrawals of one payload and what became of each peg-in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WithdrawalBatch {
    /// At most 16 withdrawals, one per distinct address, indices consecutive from the start.
    pub withdrawals: Vec<Withdrawal>,
    /// The peg-ins merged into `withdrawals`, in input order.
    pub included: Vec<PegIn>,
    /// The peg-ins that did not fit, in input order: the caller keeps them for a later payload.
    pub pending: Vec<PegIn>,
    /// The index the next batch must start from.
    pub next_index: u64,
}

/// Merge `peg_ins` by address and turn up to [`MAX_WITHDRAWALS_PER_PAYLOAD`] of them into
/// withdrawals with indices `start_index, start_index + 1, …`.
///
/// A peg-in whose address already has a withdrawal joins it even when the batch is full, so
/// merging never pushes a peg-in out. On error nothing is consumed: the caller still holds
/// every peg-in.
pub fn pack_withdrawals(peg_ins: &[PegIn], start_index: u64) -> Result<WithdrawalBatch, PackError> {
    let mut merged: Vec<(Address, Satoshis)> = Vec::new();
    let mut batch = WithdrawalBatch::default();
    for peg_in in peg_ins {
        match merged.iter().position(|(a, _)| *a == peg_in.evm_address) {
            Some(i) => {
                let (address, total) = &mut merged[i];
                *total = total
                    .checked_add(peg_in.amount)
                    .map_err(|source| PackError::Amount { address: *address, source })?;
            }
            None if merged.len() < MAX_WITHDRAWALS_PER_PAYLOAD => {
                merged.push((peg_in.evm_address, peg_in.amount));
            }
            None => {
                batch.pending.push(*peg_in);
                continue;
            }
        }
        batch.included.push(*peg_in);
    }
    let mut index = start_index;
    for (address, total) in merged {
        let amount = total.to_gwei().map_err(|source| PackError::Amount { address, source })?.0;
        batch.withdrawals.push(Withdrawal { index, validator_index: 0, address, amount });
        index = index.checked_add(1).ok_or(PackError::IndexOverflow { start: start_index })?;
    }
    batch.next_index = index;
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn peg_in(addr: u8, sats: u64, tx: u8) -> PegIn {
        PegIn {
            evm_address: Address::with_last_byte(addr),
            amount: Satoshis(sats),
            bitcoin_txid: B256::with_last_byte(tx),
        }
    }

    /// Two peg-ins to one address become one withdrawal of their sum, in Gwei.
    #[test]
    fn merges_by_address_in_first_seen_order() {
        let b = pack_withdrawals(&[peg_in(2, 5, 1), peg_in(1, 7, 2), peg_in(2, 3, 3)], 40).unwrap();
        let got: Vec<_> = b.withdrawals.iter().map(|w| (w.index, w.address, w.amount)).collect();
        assert_eq!(
            got,
            vec![(40, Address::with_last_byte(2), 80), (41, Address::with_last_byte(1), 70)]
        );
        assert_eq!(b.included.len(), 3);
        assert!(b.pending.is_empty());
        assert_eq!(b.next_index, 42);
    }

    /// The 17th distinct address stays pending, but a later peg-in to an included address
    /// still merges.
    #[test]
    fn seventeenth_address_stays_pending() {
        let mut input: Vec<_> = (0..17).map(|i| peg_in(i, 1, i)).collect();
        input.push(peg_in(0, 1, 99));
        let b = pack_withdrawals(&input, 0).unwrap();
        assert_eq!(b.withdrawals.len(), 16);
        assert_eq!(b.pending, vec![peg_in(16, 1, 16)]);
        assert_eq!(b.withdrawals[0].amount, 20);
        assert_eq!(b.next_index, 16);
    }

    /// Overflow is an error naming the address; the caller's slice is untouched.
    #[test]
    fn overflow_is_reported() {
        let input = [peg_in(1, u64::MAX, 1), peg_in(1, 1, 2)];
        let err = pack_withdrawals(&input, 0).unwrap_err();
        assert!(
            matches!(err, PackError::Amount { address, .. } if address == Address::with_last_byte(1))
        );
        assert!(matches!(
            pack_withdrawals(&[peg_in(1, u64::MAX, 1)], 0),
            Err(PackError::Amount { .. })
        ));
        assert!(matches!(
            pack_withdrawals(&[peg_in(1, 1, 1)], u64::MAX),
            Err(PackError::IndexOverflow { start: u64::MAX })
        ));
    }

    proptest! {
        /// Packing loses nothing, never exceeds 16, mints exactly the included sats, and
        /// numbers withdrawals consecutively.
        #[test]
        fn packing_laws(
            raw in proptest::collection::vec((0u8..24, 0u64..1_000_000_000, any::<u8>()), 0..64),
            start in 0u64..1_000_000,
        ) {
            let input: Vec<_> = raw.iter().map(|(a, s, t)| peg_in(*a, *s, *t)).collect();
            let b = pack_withdrawals(&input, start).unwrap();
            prop_assert!(b.withdrawals.len() <= MAX_WITHDRAWALS_PER_PAYLOAD);
            prop_assert_eq!(b.included.len() + b.pending.len(), input.len());
            let minted: u64 = b.withdrawals.iter().map(|w| w.amount).sum();
            let included: u64 = b.included.iter().map(|p| p.amount.0).sum();
            prop_assert_eq!(minted, included * 10);
            for (i, w) in b.withdrawals.iter().enumerate() {
                prop_assert_eq!(w.index, start + i as u64);
            }
            prop_assert_eq!(b.next_index, start + b.withdrawals.len() as u64);
            let mut addrs: Vec<_> = b.withdrawals.iter().map(|w| w.address).collect();
            addrs.sort();
            addrs.dedup();
            prop_assert_eq!(addrs.len(), b.withdrawals.len());
            for p in &b.pending {
                prop_assert!(!b.withdrawals.iter().any(|w| w.address == p.evm_address));
            }
        }
    }
}
