//! The transaction pool: what `eth_sendRawTransaction` admits and payloads are built from.
//!
//! Admission checks the signature, the chain id (replay protection required), the nonce
//! (not below the head's) and the balance for the maximum cost (`gas × maxFee + value`)
//! against the head state. A built payload takes, per sender, consecutive nonces from the
//! parent's, and across senders the order of arrival.

use super::state::WorldState;
use alloy_consensus::{
    Transaction, TxEnvelope,
    crypto::RecoveryError,
    transaction::{Recovered, SignerRecoverable},
};
use alloy_eips::{Decodable2718, Typed2718};
use alloy_primitives::{Address, B256, U256, map::HashMap};
use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap, btree_map::Entry},
};

/// Why a transaction was not admitted (the messages follow geth's where one exists).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PoolError {
    /// Not a valid EIP-2718 transaction.
    #[error("invalid transaction encoding: {0}")]
    Decode(String),
    /// The signature does not recover a sender.
    #[error("invalid sender: {0}")]
    Signature(String),
    /// Blob and set-code transactions need sidecars and forks the devnet does not offer.
    #[error("transaction type {0} not supported")]
    UnsupportedType(u8),
    /// A legacy transaction without EIP-155 replay protection.
    #[error("only replay-protected (EIP-155) transactions allowed")]
    Unprotected,
    /// Signed for another chain.
    #[error("invalid chain id: got {got}, expected {expected}")]
    ChainId {
        /// The transaction's.
        got: u64,
        /// The devnet's.
        expected: u64,
    },
    /// The nonce is already used at the head.
    #[error("nonce too low: next nonce {next}, tx nonce {nonce}")]
    NonceTooLow {
        /// The sender's next nonce at the head.
        next: u64,
        /// The transaction's.
        nonce: u64,
    },
    /// The sender cannot pay `gas × maxFee + value`.
    #[error("insufficient funds for gas * price + value: balance {balance}, tx cost {cost}")]
    InsufficientFunds {
        /// The sender's balance at the head.
        balance: U256,
        /// The maximum cost.
        cost: U256,
    },
    /// Less than the cheapest transfer, or more than a block holds.
    #[error("gas limit {gas} outside [21000, {block}]")]
    GasLimit {
        /// The transaction's.
        gas: u64,
        /// The block gas limit.
        block: u64,
    },
    /// The same transaction is already pooled.
    #[error("already known")]
    AlreadyKnown,
    /// Another transaction with this sender and nonce pays at least as much.
    #[error("replacement transaction underpriced")]
    ReplacementUnderpriced,
}

#[derive(Debug, Clone)]
struct Pooled {
    tx: Recovered<TxEnvelope>,
    seq: u64,
}

/// Pending transactions by sender and nonce.
#[derive(Debug, Default)]
pub(crate) struct TxPool {
    by_sender: HashMap<Address, BTreeMap<u64, Pooled>>,
    by_hash: HashMap<B256, (Address, u64)>,
    next_seq: u64,
}

/// What admission checks against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdmissionRules<'a> {
    /// The head state.
    pub(crate) state: &'a WorldState,
    /// The devnet's chain id.
    pub(crate) chain_id: u64,
    /// The head's gas limit.
    pub(crate) block_gas_limit: u64,
}

impl TxPool {
    /// Decode, check and queue a raw transaction; its hash on success.
    pub(crate) fn admit(
        &mut self,
        raw: &[u8],
        rules: AdmissionRules<'_>,
    ) -> Result<B256, PoolError> {
        let tx =
            TxEnvelope::decode_2718_exact(raw).map_err(|e| PoolError::Decode(e.to_string()))?;
        if tx.is_eip4844() || tx.is_eip7702() {
            return Err(PoolError::UnsupportedType(tx.ty()));
        }
        let tx = tx
            .try_into_recovered()
            .map_err(|e: RecoveryError| PoolError::Signature(e.to_string()))?;
        self.admit_recovered(tx, rules)
    }

    /// Check and queue a transaction whose sender is known.
    pub(crate) fn admit_recovered(
        &mut self,
        tx: Recovered<TxEnvelope>,
        rules: AdmissionRules<'_>,
    ) -> Result<B256, PoolError> {
        let hash = *tx.tx_hash();
        if self.by_hash.contains_key(&hash) {
            return Err(PoolError::AlreadyKnown);
        }
        match tx.chain_id() {
            None => return Err(PoolError::Unprotected),
            Some(got) if got != rules.chain_id => {
                return Err(PoolError::ChainId { got, expected: rules.chain_id });
            }
            Some(_) => {}
        }
        let gas = tx.gas_limit();
        if !(21_000..=rules.block_gas_limit).contains(&gas) {
            return Err(PoolError::GasLimit { gas, block: rules.block_gas_limit });
        }
        let sender = tx.signer();
        let next = rules.state.nonce(&sender);
        if tx.nonce() < next {
            return Err(PoolError::NonceTooLow { next, nonce: tx.nonce() });
        }
        let cost = U256::from(gas) * U256::from(tx.max_fee_per_gas()) + tx.value();
        let balance = rules.state.balance(&sender);
        if balance < cost {
            return Err(PoolError::InsufficientFunds { balance, cost });
        }
        self.insert(tx)?;
        Ok(hash)
    }

    fn insert(&mut self, tx: Recovered<TxEnvelope>) -> Result<(), PoolError> {
        let (sender, nonce, hash) = (tx.signer(), tx.nonce(), *tx.tx_hash());
        let seq = self.next_seq;
        match self.by_sender.entry(sender).or_default().entry(nonce) {
            Entry::Vacant(slot) => {
                slot.insert(Pooled { tx, seq });
            }
            Entry::Occupied(mut slot) => {
                let old = &slot.get().tx;
                let pays_more = tx.max_fee_per_gas() > old.max_fee_per_gas()
                    && tx.max_priority_fee_per_gas().unwrap_or(tx.max_fee_per_gas())
                        > old.max_priority_fee_per_gas().unwrap_or(old.max_fee_per_gas());
                if !pays_more {
                    return Err(PoolError::ReplacementUnderpriced);
                }
                self.by_hash.remove(old.tx_hash());
                slot.insert(Pooled { tx, seq });
            }
        }
        self.by_hash.insert(hash, (sender, nonce));
        self.next_seq += 1;
        Ok(())
    }

    /// Put back transactions of blocks that a reorg took off the canonical chain; those
    /// already used on the new chain, or pooled again, are left out.
    pub(crate) fn reinsert(
        &mut self,
        txs: impl IntoIterator<Item = Recovered<TxEnvelope>>,
        head: &WorldState,
    ) {
        for tx in txs {
            if tx.nonce() >= head.nonce(&tx.signer()) && !self.by_hash.contains_key(tx.tx_hash()) {
                // A pooled replacement for the same nonce wins; losing this one is fine.
                let _ = self.insert(tx);
            }
        }
    }

    /// The transactions a block on top of `state` can take, in inclusion order: per sender
    /// consecutive nonces starting at the state's, across senders by arrival.
    pub(crate) fn pending(&self, state: &WorldState) -> Vec<Recovered<TxEnvelope>> {
        let mut heads = BinaryHeap::new();
        for (sender, txs) in &self.by_sender {
            let next = state.nonce(sender);
            if let Some(p) = txs.get(&next) {
                heads.push(Reverse((p.seq, *sender, next)));
            }
        }
        let mut out = Vec::new();
        while let Some(Reverse((_, sender, nonce))) = heads.pop() {
            let txs = &self.by_sender[&sender];
            out.push(txs[&nonce].tx.clone());
            if let Some(p) = txs.get(&(nonce + 1)) {
                heads.push(Reverse((p.seq, sender, nonce + 1)));
            }
        }
        out
    }

    /// Drop what the new head has made stale (nonces below the sender's).
    pub(crate) fn prune(&mut self, head: &WorldState) {
        let by_hash = &mut self.by_hash;
        self.by_sender.retain(|sender, txs| {
            let next = head.nonce(sender);
            let keep = txs.split_off(&next);
            for p in txs.values() {
                by_hash.remove(p.tx.tx_hash());
            }
            *txs = keep;
            !txs.is_empty()
        });
    }

    /// A pooled transaction by hash.
    pub(crate) fn get(&self, hash: &B256) -> Option<&Recovered<TxEnvelope>> {
        let (sender, nonce) = self.by_hash.get(hash)?;
        self.by_sender.get(sender)?.get(nonce).map(|p| &p.tx)
    }

    /// The nonce after the sender's pooled transactions that follow `state_nonce` without a
    /// gap (`eth_getTransactionCount` with `pending`).
    pub(crate) fn next_nonce(&self, sender: &Address, state_nonce: u64) -> u64 {
        let mut next = state_nonce;
        if let Some(txs) = self.by_sender.get(sender) {
            while txs.contains_key(&next) {
                next += 1;
            }
        }
        next
    }

    /// How many transactions are pooled.
    pub(crate) fn len(&self) -> usize {
        self.by_hash.len()
    }
}

#[cfg(test)]
mod tests {
    use crate::devnet::{
        DEV_ACCOUNT_WEI, Devnet,
        testing::{genesis, key, legacy, produce, transfer, tx1559},
    };
    use alloy_primitives::{Address, Bytes, U256};

    fn devnet() -> Devnet {
        Devnet::new(&genesis(None)).unwrap()
    }

    /// Each admission rule refuses with a message naming the problem.
    #[test]
    fn admission_rules() {
        let mut d = devnet();
        let (alice, poor) = (key(0), alloy_signer_local::PrivateKeySigner::random());
        let to = Address::repeat_byte(1);
        let err = |d: &mut Devnet, raw: Bytes| d.send_raw_transaction(&raw).unwrap_err().message;
        assert!(
            err(&mut d, Bytes::from_static(&[0x02, 0x01])).contains("invalid transaction encoding")
        );
        assert!(
            err(&mut d, legacy(&alice, 0, to, U256::from(1), Some(1))).contains("invalid chain id")
        );
        assert!(
            err(&mut d, legacy(&alice, 0, to, U256::from(1), None)).contains("replay-protected")
        );
        assert!(err(&mut d, transfer(&poor, 0, to, 1)).contains("insufficient funds"));
        let whale = tx1559(&alice, 0, to, U256::from(DEV_ACCOUNT_WEI), Bytes::new(), 21_000);
        assert!(err(&mut d, whale).contains("insufficient funds"));
        assert!(
            err(&mut d, tx1559(&alice, 0, to, U256::ZERO, Bytes::new(), 20_000))
                .contains("gas limit")
        );

        let ok = legacy(&alice, 0, to, U256::from(1), Some(engine_types::constants::CHAIN_ID_DEV));
        d.send_raw_transaction(&ok).unwrap();
        assert_eq!(err(&mut d, ok), "already known");
        assert!(err(&mut d, transfer(&alice, 0, to, 5)).contains("underpriced"), "same fees");
        produce(&mut d, vec![]);
        assert_eq!(d.balance(&to), U256::from(1));
        assert!(err(&mut d, transfer(&alice, 0, to, 1)).contains("nonce too low"));
    }

    /// Out-of-order nonces wait for the gap to fill; senders are served by arrival.
    #[test]
    fn pending_order_respects_nonces() {
        let mut d = devnet();
        let (a, b) = (key(0), key(1));
        let to = Address::repeat_byte(2);
        d.send_raw_transaction(&transfer(&a, 1, to, 1)).unwrap();
        d.send_raw_transaction(&transfer(&b, 0, to, 1)).unwrap();
        let hash = produce(&mut d, vec![]);
        assert_eq!(d.block(&hash).unwrap().body.transactions.len(), 1, "a's nonce 1 waits");
        d.send_raw_transaction(&transfer(&a, 0, to, 1)).unwrap();
        let hash = produce(&mut d, vec![]);
        assert_eq!(d.block(&hash).unwrap().body.transactions.len(), 2, "the gap is filled");
        assert_eq!(d.nonce(&a.address()), 2);
        assert_eq!(d.pool_len(), 0);
    }
}
