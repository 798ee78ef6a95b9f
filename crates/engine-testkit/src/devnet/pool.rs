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

    /// How many transactions are pooled.
    pub(crate) fn len(&self) -> usize {
        self.by_hash.len()
    }
}
