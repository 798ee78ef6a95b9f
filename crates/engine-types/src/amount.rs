//! Amounts: satoshis on the Bitcoin side, Gwei in withdrawals, wei on the execution layer.
//!
//! 1 sat = 10 Gwei = 10^10 wei. Going down (sats → Gwei → wei) multiplies and is checked;
//! going up (wei → sats) floors, because a fraction of a satoshi cannot be paid out. Every
//! operation that could overflow returns [`AmountError`] instead of panicking or wrapping.

use crate::constants::{GWEI_PER_SAT, WEI_PER_GWEI, WEI_PER_SAT};
use alloy_primitives::U256;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An amount that does not fit the target unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// The result does not fit in 64 bits of the target unit.
    #[error("amount overflows {unit}: {detail}")]
    Overflow {
        /// The unit that overflowed (`sat`, `gwei`).
        unit: &'static str,
        /// What was being computed.
        detail: &'static str,
    },
}

/// A number of satoshis.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Satoshis(pub u64);

/// A number of Gwei (10^9 wei), the unit of withdrawal amounts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Gwei(pub u64);

impl Satoshis {
    /// Zero satoshis.
    pub const ZERO: Self = Self(0);

    /// The amount in Gwei (× 10); fails when it does not fit in a `u64`.
    pub fn to_gwei(self) -> Result<Gwei, AmountError> {
        self.0
            .checked_mul(GWEI_PER_SAT)
            .map(Gwei)
            .ok_or(AmountError::Overflow { unit: "gwei", detail: "sats × 10" })
    }

    /// The amount in wei (× 10^10). Cannot overflow: `u64::MAX × 10^10 < 2^256`.
    pub fn to_wei(self) -> U256 {
        U256::from(self.0) * U256::from(WEI_PER_SAT)
    }

    /// Whole satoshis in `wei`, rounding down; fails when they do not fit in a `u64`.
    pub fn from_wei_floor(wei: U256) -> Result<Self, AmountError> {
        let sats = wei / U256::from(WEI_PER_SAT);
        u64::try_from(sats)
            .map(Self)
            .map_err(|_| AmountError::Overflow { unit: "sat", detail: "wei / 10^10" })
    }

    /// `self + other`, failing on overflow.
    pub fn checked_add(self, other: Self) -> Result<Self, AmountError> {
        self.0
            .checked_add(other.0)
            .map(Self)
            .ok_or(AmountError::Overflow { unit: "sat", detail: "sum of amounts" })
    }
}

impl Gwei {
    /// Zero Gwei.
    pub const ZERO: Self = Self(0);

    /// The amount in wei (× 10^9). Cannot overflow: `u64::MAX × 10^9 < 2^256`.
    pub fn to_wei(self) -> U256 {
        U256::from(self.0) * U256::from(WEI_PER_GWEI)
    }

    /// Whole satoshis in this amount, rounding down (10 Gwei = 1 sat).
    pub const fn to_sats_floor(self) -> Satoshis {
        Satoshis(self.0 / GWEI_PER_SAT)
    }

    /// Whole Gwei in `wei`, rounding down; fails when they do not fit in a `u64`.
    pub fn from_wei_floor(wei: U256) -> Result<Self, AmountError> {
        let gwei = wei / U256::from(WEI_PER_GWEI);
        u64::try_from(gwei)
            .map(Self)
            .map_err(|_| AmountError::Overflow { unit: "gwei", detail: "wei / 10^9" })
    }
}

impl fmt::Display for Satoshis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} sat", self.0)
    }
}

impl fmt::Display for Gwei {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} gwei", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The documented rate: one satoshi is ten Gwei and 10^10 wei.
    #[test]
    fn one_sat_is_ten_gwei_and_ten_billion_wei() {
        assert_eq!(Satoshis(1).to_gwei().unwrap(), Gwei(10));
        assert_eq!(Satoshis(1).to_wei(), U256::from(10_000_000_000u64));
        assert_eq!(Gwei(10).to_wei(), U256::from(10_000_000_000u64));
    }

    /// Wei below one satoshi floors to zero; a satoshi less one wei floors down.
    #[test]
    fn wei_to_sats_floors() {
        assert_eq!(Satoshis::from_wei_floor(U256::from(9_999_999_999u64)).unwrap(), Satoshis(0));
        assert_eq!(Satoshis::from_wei_floor(U256::from(29_999_999_999u64)).unwrap(), Satoshis(2));
    }

    /// Overflow is a typed error, never a panic or a wrap.
    #[test]
    fn overflow_is_an_error() {
        assert!(Satoshis(u64::MAX).to_gwei().is_err());
        assert!(Satoshis(u64::MAX).checked_add(Satoshis(1)).is_err());
        assert!(Satoshis::from_wei_floor(U256::MAX).is_err());
        assert!(Gwei::from_wei_floor(U256::MAX).is_err());
    }

    /// The largest wei amount whose satoshis still fit in a `u64`.
    const MAX_SAT_WEI: u128 = (u64::MAX as u128 + 1) * WEI_PER_SAT as u128;

    proptest! {
        /// sats → wei → sats is the identity.
        #[test]
        fn sats_wei_round_trip(s in any::<u64>()) {
            prop_assert_eq!(Satoshis::from_wei_floor(Satoshis(s).to_wei()).unwrap(), Satoshis(s));
        }

        /// sats → Gwei → sats is the identity wherever the Gwei amount fits.
        #[test]
        fn sats_gwei_round_trip(s in 0..=u64::MAX / 10) {
            prop_assert_eq!(Satoshis(s).to_gwei().unwrap().to_sats_floor(), Satoshis(s));
        }

        /// Gwei and sats agree on the wei value of the same amount.
        #[test]
        fn gwei_and_sats_agree_on_wei(s in 0..=u64::MAX / 10) {
            prop_assert_eq!(Satoshis(s).to_gwei().unwrap().to_wei(), Satoshis(s).to_wei());
        }

        /// Flooring wei to sats is monotonic and never exceeds the input.
        #[test]
        fn floor_is_monotonic_and_below(a in 0..MAX_SAT_WEI, b in 0..MAX_SAT_WEI) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let (slo, shi) = (
                Satoshis::from_wei_floor(U256::from(lo)).unwrap(),
                Satoshis::from_wei_floor(U256::from(hi)).unwrap(),
            );
            prop_assert!(slo <= shi);
            prop_assert!(slo.to_wei() <= U256::from(lo));
            prop_assert!(U256::from(lo) - slo.to_wei() < U256::from(WEI_PER_SAT));
        }

        /// No input makes a conversion panic: each either succeeds or errors.
        #[test]
        fn conversions_never_panic(x in any::<u64>(), y in any::<u64>(), w in any::<[u64; 4]>()) {
            let wei = U256::from_limbs(w);
            let _ = Satoshis(x).to_gwei();
            let _ = Satoshis(x).checked_add(Satoshis(y));
            let _ = Satoshis::from_wei_floor(wei);
            let _ = Gwei::from_wei_floor(wei);
        }
    }
}
