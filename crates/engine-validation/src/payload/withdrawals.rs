//! Withdrawals are minted coins: a payload must carry exactly the expected peg-ins.
//!
//! The old node accepted extra withdrawals, so an execution client (or another proposer) could
//! mint at will. Here the list must equal the expected one position by position — address,
//! amount, index and validator index — with no more than 16 and no repeated index.

use super::PayloadViolation;
use alloy_eips::eip4895::Withdrawal;
use engine_types::constants::MAX_WITHDRAWALS_PER_PAYLOAD;
use std::collections::HashSet;

/// Compare the payload's withdrawals (`None` before Shanghai: none) with `expected`.
pub(super) fn check(
    got: Option<&Vec<Withdrawal>>,
    expected: &[Withdrawal],
    found: &mut Vec<PayloadViolation>,
) {
    let got = got.map_or(&[][..], Vec::as_slice);
    if got.len() > MAX_WITHDRAWALS_PER_PAYLOAD {
        found.push(PayloadViolation::TooManyWithdrawals {
            max: MAX_WITHDRAWALS_PER_PAYLOAD,
            got: got.len(),
        });
    }
    if got.len() != expected.len() {
        found.push(PayloadViolation::WithdrawalCount { expected: expected.len(), got: got.len() });
    }
    for (position, (e, g)) in expected.iter().zip(got).enumerate() {
        if e != g {
            found.push(PayloadViolation::Withdrawal { position, expected: *e, got: *g });
        }
    }
    // Each withdrawal whose index an earlier one has. A list within the limit is scanned
    // pairwise (at most 120 comparisons, cheaper than building a hash set); a longer one, already
    // refused above, through a set, so that a huge list costs linear time.
    if got.len() <= MAX_WITHDRAWALS_PER_PAYLOAD {
        for (position, w) in got.iter().enumerate() {
            if got[..position].iter().any(|earlier| earlier.index == w.index) {
                found.push(PayloadViolation::DuplicateWithdrawalIndex { position, index: w.index });
            }
        }
    } else {
        let mut seen = HashSet::with_capacity(got.len());
        for (position, w) in got.iter().enumerate() {
            if !seen.insert(w.index) {
                found.push(PayloadViolation::DuplicateWithdrawalIndex { position, index: w.index });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::Address;

    fn w(index: u64, addr: u8, amount: u64) -> Withdrawal {
        Withdrawal { index, validator_index: 0, address: Address::with_last_byte(addr), amount }
    }

    fn run(got: Option<Vec<Withdrawal>>, expected: &[Withdrawal]) -> Vec<PayloadViolation> {
        let mut found = Vec::new();
        check(got.as_ref(), expected, &mut found);
        found
    }

    /// The exact expected list passes; so does no list when none is expected.
    #[test]
    fn exact_match_passes() {
        let list = vec![w(1, 1, 10), w(2, 2, 20)];
        assert!(run(Some(list.clone()), &list).is_empty());
        assert!(run(None, &[]).is_empty());
        assert!(run(Some(vec![]), &[]).is_empty());
    }

    /// An extra withdrawal (the old minting hole) is a count violation.
    #[test]
    fn extra_withdrawal_is_refused() {
        let expected = vec![w(1, 1, 10)];
        let found = run(Some(vec![w(1, 1, 10), w(2, 9, 1_000_000)]), &expected);
        assert_eq!(found, vec![PayloadViolation::WithdrawalCount { expected: 1, got: 2 }]);
    }

    /// A missing withdrawal, and withdrawals before Shanghai when peg-ins are expected.
    #[test]
    fn missing_withdrawal_is_refused() {
        let expected = vec![w(1, 1, 10), w(2, 2, 20)];
        assert_eq!(
            run(Some(vec![w(1, 1, 10)]), &expected),
            vec![PayloadViolation::WithdrawalCount { expected: 2, got: 1 }]
        );
        assert_eq!(
            run(None, &expected),
            vec![PayloadViolation::WithdrawalCount { expected: 2, got: 0 }]
        );
    }

    /// A changed amount, address or index, or a reordering, is named by position.
    #[test]
    fn any_field_change_is_named() {
        let expected = vec![w(1, 1, 10), w(2, 2, 20)];
        for got in [
            vec![w(1, 1, 11), w(2, 2, 20)],
            vec![w(1, 3, 10), w(2, 2, 20)],
            vec![w(7, 1, 10), w(2, 2, 20)],
            vec![Withdrawal { validator_index: 4, ..w(1, 1, 10) }, w(2, 2, 20)],
        ] {
            assert_eq!(
                run(Some(got.clone()), &expected),
                vec![PayloadViolation::Withdrawal {
                    position: 0,
                    expected: expected[0],
                    got: got[0]
                }]
            );
        }
        let swapped = run(Some(vec![w(2, 2, 20), w(1, 1, 10)]), &expected);
        assert_eq!(swapped.len(), 2);
    }

    /// Seventeen withdrawals are too many even if seventeen were expected; repeats are named.
    #[test]
    fn limits_and_duplicates() {
        let many: Vec<_> = (0..17).map(|i| w(i, i as u8, 1)).collect();
        assert_eq!(
            run(Some(many.clone()), &many),
            vec![PayloadViolation::TooManyWithdrawals { max: 16, got: 17 }]
        );
        let dup = vec![w(1, 1, 10), w(1, 2, 20)];
        assert_eq!(
            run(Some(dup.clone()), &dup),
            vec![PayloadViolation::DuplicateWithdrawalIndex { position: 1, index: 1 }]
        );
    }

    /// Repeats are named the same way within the limit (pairwise scan) and beyond it (set):
    /// every position whose index came earlier, once.
    #[test]
    fn duplicates_named_alike_on_both_paths() {
        let indices = [5, 3, 5, 5, 9, 3, 0, 1, 2, 4, 6, 7, 8, 10, 0, 11];
        let list: Vec<_> = indices.iter().map(|&i| w(i, 1, 1)).collect();
        let expected: Vec<_> = [(2, 5), (3, 5), (5, 3), (14, 0)]
            .map(|(position, index)| PayloadViolation::DuplicateWithdrawalIndex { position, index })
            .to_vec();
        assert_eq!(run(Some(list.clone()), &list), expected);
        let mut longer = list;
        longer.push(w(9, 1, 1));
        let mut expected_longer = vec![PayloadViolation::TooManyWithdrawals { max: 16, got: 17 }];
        expected_longer.extend(expected);
        expected_longer.push(PayloadViolation::DuplicateWithdrawalIndex { position: 16, index: 9 });
        assert_eq!(run(Some(longer.clone()), &longer), expected_longer);
    }
}
