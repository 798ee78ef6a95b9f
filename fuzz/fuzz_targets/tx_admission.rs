//! Raw transaction admission (engine-validation `AdmissionPolicy::admit`): the bytes a peer
//! or a user hands to `eth_sendRawTransaction`.
//!
//! Input: one byte choosing the chain facts (fork, whether the sender's account is known),
//! then the raw transaction. Every outcome is `Admitted` or a typed `TxRejection`; an
//! admitted transaction keeps the promises the caller relies on.
#![no_main]

use alloy_consensus::Transaction;
use alloy_primitives::U256;
use engine_types::{Fork, ForkSchedule};
use engine_validation::{AccountState, AdmissionContext, AdmissionPolicy, Verdict};
use libfuzzer_sys::fuzz_target;

/// The dev chain id the seeds are signed for.
const CHAIN_ID: u64 = 121_212;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, raw)) = data.split_first() else { return };
    let mut policy = AdmissionPolicy::new(CHAIN_ID);
    if selector & 1 == 1 {
        policy.forks = ForkSchedule::all_from_genesis(Fork::Prague);
    }
    policy.allow_unprotected = selector & 2 == 2;
    let account = (selector & 4 == 4).then_some(AccountState {
        nonce: u64::from(selector >> 4),
        balance: U256::from(10u128.pow(21)),
    });
    let context = AdmissionContext { timestamp: 1, block_gas_limit: 30_000_000, account };
    match policy.admit(raw, &context) {
        Verdict::Admitted(admitted) => {
            let tx = &admitted.transaction;
            assert!(raw.len() <= policy.max_tx_bytes);
            assert_eq!(admitted.gas_limit, tx.gas_limit());
            assert!((21_000..=context.block_gas_limit).contains(&admitted.gas_limit));
            assert!(tx.max_fee_per_gas() >= policy.min_fee_per_gas);
            match tx.chain_id() {
                Some(id) => assert_eq!(id, CHAIN_ID),
                None => assert!(policy.allow_unprotected),
            }
            if let Some(account) = account {
                assert!(admitted.nonce >= account.nonce);
                assert!(admitted.max_cost <= account.balance);
            }
        }
        Verdict::Rejected(_) => {}
    }
});
