//! A journal checkpoint: one finalized block with everything a restart needs to begin from
//! it instead of the genesis: the block whole (transactions with receipts, as
//! `eth_getBlockReceipts` serves them), its post-state as a geth-style allocation, and the
//! hashes `BLOCKHASH` reads below it.
//!
//! What Geth keeps across a restart is the same in kind: a persisted state for a recent
//! block (`core/state/snapshot`'s disk layer, and the trie of the last flushed block), from
//! which it re-executes the blocks above on start (`core/blockchain.go`, `recoverAncestors`
//! and the "Head state missing, repairing" path); the devnet keeps it as JSON in its redb
//! journal rather than as trie nodes.
//!
//! Reading one back checks it: it must be of this genesis, its state must give its header's
//! state root, its transactions the transactions root, and its ancestors end at its parent.

use crate::{
    chain::{BLOCKHASH_WINDOW, Chain, Executed, StoredBlock, transactions_root},
    execute::TxOutcome,
    state::WorldState,
};
use alloy_consensus::{Header, ReceiptEnvelope, Sealable, TxEnvelope, transaction::Recovered};
use alloy_eips::{
    eip2718::{Decodable2718, Encodable2718},
    eip4895::Withdrawal,
};
use alloy_genesis::GenesisAccount;
use alloy_primitives::{Address, B256, Bytes, U256};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, sync::Arc};

/// A finalized block and its post-state, as the journal keeps them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Checkpoint {
    /// The genesis of the chain it belongs to.
    genesis_hash: B256,
    /// The block's header.
    header: Header,
    /// Its transactions, in order, with what executing them left behind.
    transactions: Vec<CheckpointTx>,
    /// Its withdrawals (Shanghai on).
    withdrawals: Option<Vec<Withdrawal>>,
    /// Tips paid to its fee recipient, in wei.
    block_value: U256,
    /// The hashes of the [`BLOCKHASH_WINDOW`] blocks below it (fewer near the genesis),
    /// lowest first.
    ancestors: Vec<B256>,
    /// Its post-state.
    alloc: BTreeMap<Address, GenesisAccount>,
}

/// One executed transaction of a checkpoint's block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckpointTx {
    /// EIP-2718 bytes.
    raw: Bytes,
    /// Its sender, recovered when it was first executed.
    sender: Address,
    receipt: ReceiptEnvelope,
    gas_used: u64,
    effective_gas_price: u128,
    contract_address: Option<Address>,
    blob_gas_used: u64,
}

impl Checkpoint {
    /// The checkpoint of the known block `hash`; `None` when its state was pruned, or its
    /// ancestors' hashes are no longer all known.
    pub(crate) fn capture(chain: &Chain, hash: B256) -> Option<Self> {
        let block = chain.block(&hash)?;
        let state = chain.state(&hash).ok()?;
        let genesis = chain.genesis();
        let wanted = BLOCKHASH_WINDOW.min(block.number().saturating_sub(genesis.number()));
        let ancestors = chain.ancestors(hash, wanted);
        if ancestors.len() as u64 != wanted {
            return None;
        }
        let transactions = block
            .txs
            .iter()
            .map(|t| CheckpointTx {
                raw: t.tx.inner().encoded_2718().into(),
                sender: t.tx.signer(),
                receipt: t.receipt.clone(),
                gas_used: t.gas_used,
                effective_gas_price: t.effective_gas_price,
                contract_address: t.contract_address,
                blob_gas_used: t.blob_gas_used,
            })
            .collect();
        Some(Self {
            genesis_hash: genesis.hash(),
            header: block.header.inner().clone(),
            transactions,
            withdrawals: block.withdrawals.clone(),
            block_value: block.block_value,
            ancestors,
            alloc: state.to_alloc(),
        })
    }

    /// The block's number.
    pub(crate) const fn number(&self) -> u64 {
        self.header.number
    }

    /// The block, its state and its ancestors' hashes, for
    /// [`Chain::start_from`]; why not, when it is not of the chain of `genesis_hash` or
    /// does not hold together.
    pub(crate) fn into_anchor(self, genesis_hash: B256) -> Result<(Executed, Vec<B256>), String> {
        let number = self.number();
        if self.genesis_hash != genesis_hash {
            return Err(format!(
                "its checkpoint at block {number} is of the chain of genesis {}, not {genesis_hash}",
                self.genesis_hash
            ));
        }
        let bad = |what: String| Err(format!("its checkpoint at block {number} {what}"));
        if self.ancestors.last().is_some_and(|p| *p != self.header.parent_hash) {
            return bad("lists ancestors that do not end at its parent".into());
        }
        let state = WorldState::from_alloc(&self.alloc);
        if state.root() != self.header.state_root {
            return bad(format!(
                "holds a state with root {}, its header says {}",
                state.root(),
                self.header.state_root
            ));
        }
        let mut txs = Vec::with_capacity(self.transactions.len());
        for (index, t) in self.transactions.into_iter().enumerate() {
            let Ok(tx) = TxEnvelope::decode_2718(&mut t.raw.as_ref()) else {
                return bad(format!("holds transaction {index} that does not decode"));
            };
            txs.push(TxOutcome {
                tx: Recovered::new_unchecked(tx, t.sender),
                receipt: t.receipt,
                gas_used: t.gas_used,
                effective_gas_price: t.effective_gas_price,
                contract_address: t.contract_address,
                blob_gas_used: t.blob_gas_used,
            });
        }
        let root = transactions_root(&txs);
        if root != self.header.transactions_root {
            return bad(format!("holds transactions with root {root}, its header says another"));
        }
        let block = StoredBlock {
            header: self.header.seal_slow(),
            txs,
            withdrawals: self.withdrawals,
            block_value: self.block_value,
        };
        Ok((Executed { block, state: Arc::new(state) }, self.ancestors))
    }
}
