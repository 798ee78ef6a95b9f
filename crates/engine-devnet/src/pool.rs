//! The transaction pool: what `eth_sendRawTransaction` admits and payloads are built from.
//!
//! Admission checks the signature, the chain id (replay protection required), the nonce
//! (not below the head's) and the balance for the maximum cost (`gas × maxFee + value`)
//! against the head state. A built payload takes, per sender, consecutive nonces from the
//! parent's, and across senders the order of arrival.
//!
//! The pool is bounded ([`PoolLimits`]), as Geth's `core/txpool/legacypool` is: a sender may
//! queue at most `account_queue` transactions behind a nonce gap (Geth's `AccountQueue`,
//! 64), and the pool holds at most `total` transactions. Geth makes room in a full pool by
//! evicting its cheapest transactions; the devnet does not rank by price, so it keeps the
//! rule that matters for a chain that must keep producing: a transaction that can execute
//! evicts a queued (gapped) one, a queued one never evicts anything.

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
    /// The pool holds [`PoolLimits::total`] transactions and none can make room (Geth's
    /// `ErrTxPoolOverflow` in `core/txpool/legacypool`).
    #[error("txpool is full")]
    Full,
    /// The pool is full of executable transactions and this one waits behind a nonce gap:
    /// it may not take the place of one that can execute (Geth's `ErrFutureReplacePending`).
    #[error("future transaction tries to replace pending")]
    FutureReplacesPending,
    /// The sender already queues [`PoolLimits::account_queue`] transactions behind a nonce
    /// gap. Geth drops such transactions later without a word (`promoteExecutables` caps
    /// each account's queue at `AccountQueue`); the devnet refuses them at once, with
    /// Reth's message (`PoolErrorKind::SpammerExceededCapacity`).
    #[error("rejected due to {0} being identified as a spammer")]
    SenderQueueFull(Address),
}

/// How many transactions the pool holds (see the module docs for what happens at a bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    /// Transactions one sender may queue behind a nonce gap (default 64, Geth's
    /// `AccountQueue`).
    pub account_queue: usize,
    /// Transactions in the pool, executable and queued (default 4096, Geth's `GlobalSlots`
    /// without its floating share).
    pub total: usize,
}

impl Default for PoolLimits {
    fn default() -> Self {
        Self { account_queue: 64, total: 4096 }
    }
}

impl PoolLimits {
    /// Refuses limits that would admit nothing.
    pub fn validate(&self) -> Result<(), super::DevnetError> {
        if self.total == 0 {
            return Err(super::DevnetError::Limits {
                reason: "pool.total must be at least 1".into(),
            });
        }
        Ok(())
    }
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
    limits: PoolLimits,
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
    /// An empty pool bounded by `limits`.
    pub(crate) fn new(limits: PoolLimits) -> Self {
        Self { limits, ..Self::default() }
    }

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
        self.make_room(&tx, rules.state)?;
        self.insert(tx)?;
        Ok(hash)
    }

    /// Check the bounds for `tx` against the head `state`, evicting a queued transaction
    /// when an executable one arrives at a full pool.
    fn make_room(
        &mut self,
        tx: &Recovered<TxEnvelope>,
        state: &WorldState,
    ) -> Result<(), PoolError> {
        let sender = tx.signer();
        let state_nonce = state.nonce(&sender);
        let replaces = self.by_sender.get(&sender).is_some_and(|t| t.contains_key(&tx.nonce()));
        if replaces {
            // A replacement takes no new slot.
            return Ok(());
        }
        let gapped = tx.nonce() > self.next_nonce(&sender, state_nonce);
        if gapped && self.queued_of(&sender, state_nonce) >= self.limits.account_queue {
            return Err(PoolError::SenderQueueFull(sender));
        }
        if self.len() < self.limits.total {
            return Ok(());
        }
        // Full. A queued transaction is the one to go: its sender cannot use it yet.
        let victim = self.newest_queued(state);
        match (gapped, victim) {
            (false, Some((who, nonce))) => {
                self.remove(&who, nonce);
                Ok(())
            }
            (false, None) => Err(PoolError::Full),
            (true, None) => Err(PoolError::FutureReplacesPending),
            (true, Some(_)) => Err(PoolError::Full),
        }
    }

    /// How many of `sender`'s transactions wait behind a nonce gap, its next nonce at the
    /// head being `state_nonce`.
    fn queued_of(&self, sender: &Address, state_nonce: u64) -> usize {
        let pooled = self.by_sender.get(sender).map_or(0, BTreeMap::len);
        let runnable = self.next_nonce(sender, state_nonce) - state_nonce;
        pooled.saturating_sub(usize::try_from(runnable).unwrap_or(usize::MAX))
    }

    /// The highest queued nonce of the sender that queues the most at the head `state`;
    /// `None` when nothing is queued.
    fn newest_queued(&self, state: &WorldState) -> Option<(Address, u64)> {
        self.by_sender
            .iter()
            .filter_map(|(sender, txs)| {
                let queued = self.queued_of(sender, state.nonce(sender));
                let (last, _) = txs.last_key_value()?;
                (queued > 0).then_some((queued, *sender, *last))
            })
            .max()
            .map(|(_, sender, nonce)| (sender, nonce))
    }

    fn remove(&mut self, sender: &Address, nonce: u64) {
        let Some(txs) = self.by_sender.get_mut(sender) else { return };
        if let Some(gone) = txs.remove(&nonce) {
            self.by_hash.remove(gone.tx.tx_hash());
        }
        if txs.is_empty() {
            self.by_sender.remove(sender);
        }
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
            if self.len() >= self.limits.total {
                // The pool stays bounded; a transaction a reorg left out is dropped, as
                // Geth drops the reinjected ones that no longer fit.
                break;
            }
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
    use crate::keys::{Transfer, sign_transfer};
    use crate::{
        DEV_ACCOUNT_WEI, Devnet, PoolLimits, Retention,
        testing::{genesis, key, legacy, produce, transfer, tx1559},
    };
    use alloy_primitives::{Address, Bytes, U256};
    use engine_types::constants::CHAIN_ID_DEV;

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

    fn bounded(account_queue: usize, total: usize) -> Devnet {
        let limits = PoolLimits { account_queue, total };
        Devnet::with_limits(&genesis(None), Retention::default(), limits).unwrap()
    }

    fn refusal(d: &mut Devnet, raw: &Bytes) -> String {
        d.send_raw_transaction(raw).unwrap_err().message
    }

    /// A sender queues at most `account_queue` transactions behind a gap; executable ones
    /// and replacements of queued ones still go in.
    #[test]
    fn sender_queue_is_bounded() {
        let mut d = bounded(2, 100);
        let (a, to) = (key(0), Address::repeat_byte(3));
        for nonce in [5, 6] {
            d.send_raw_transaction(&transfer(&a, nonce, to, 1)).unwrap();
        }
        let spam = refusal(&mut d, &transfer(&a, 7, to, 1));
        assert_eq!(spam, format!("rejected due to {} being identified as a spammer", a.address()));
        let dearer = Transfer {
            max_fee_per_gas: 20_000_000_000,
            max_priority_fee_per_gas: 2_000_000_000,
            ..Transfer::new(CHAIN_ID_DEV, 6, to, U256::from(1))
        };
        d.send_raw_transaction(&sign_transfer(&a, &dearer).unwrap())
            .expect("replacing a queued transaction takes no new slot");
        d.send_raw_transaction(&transfer(&a, 0, to, 1)).expect("an executable one goes in");
        assert_eq!(d.pool_len(), 3);
        assert!(refusal(&mut d, &transfer(&a, 8, to, 1)).contains("spammer"));
        d.send_raw_transaction(&transfer(&key(1), 9, to, 1)).expect("another sender has room");
    }

    /// A full pool: an executable transaction evicts the newest queued one; a queued one
    /// never evicts (Geth's messages); with nothing queued, nothing more goes in.
    #[test]
    fn total_is_bounded() {
        let mut d = bounded(8, 4);
        let to = Address::repeat_byte(4);
        for (k, nonce) in [(0, 0), (0, 1), (1, 3), (2, 0)] {
            d.send_raw_transaction(&transfer(&key(k), nonce, to, 1)).unwrap();
        }
        assert_eq!(d.pool_len(), 4);
        assert_eq!(refusal(&mut d, &transfer(&key(2), 5, to, 1)), "txpool is full");
        let hash = d.send_raw_transaction(&transfer(&key(3), 0, to, 1)).unwrap();
        assert_eq!(d.pool_len(), 4, "key 1's queued nonce 3 made room");
        assert!(d.pool.get(&hash).is_some());
        assert_eq!(
            refusal(&mut d, &transfer(&key(1), 5, to, 1)),
            "future transaction tries to replace pending"
        );
        assert_eq!(refusal(&mut d, &transfer(&key(3), 1, to, 1)), "txpool is full");
        produce(&mut d, vec![]);
        assert_eq!(d.pool_len(), 0, "all four were executable");
        d.send_raw_transaction(&transfer(&key(3), 1, to, 1)).unwrap();
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
