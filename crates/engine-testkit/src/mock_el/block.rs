//! Blocks of the mock chain: built from a parent and payload attributes, or imported from a
//! payload, always with a header whose hash is the true keccak of its RLP.
//!
//! The mock does not execute: the state root is carried over from the parent, and every
//! transaction gets a synthesized successful receipt using 21,000 gas and no logs.

use alloy_consensus::{
    Block, BlockBody, EMPTY_OMMER_ROOT_HASH, Eip658Value, Header, Receipt, ReceiptEnvelope,
    Transaction, TxEnvelope, TxReceipt, proofs, transaction::SignerRecoverable,
};
use alloy_eips::{
    eip1559::BaseFeeParams, eip2718::Encodable2718, eip4895::Withdrawal,
    eip7685::EMPTY_REQUESTS_HASH, eip7840::BlobParams,
};
use alloy_primitives::{Address, B64, B256, Bloom, Bytes, U256};
use alloy_rpc_types_engine::PayloadAttributes;
use engine_types::{Fork, ForkSchedule};

/// Gas every transaction is said to use (a plain transfer).
pub(super) const GAS_PER_TX: u64 = 21_000;

/// A transaction with its raw bytes, hash and recovered sender.
#[derive(Debug, Clone)]
pub(super) struct PooledTx {
    pub(super) raw: Bytes,
    pub(super) tx: TxEnvelope,
    pub(super) hash: B256,
    pub(super) sender: Address,
}

impl PooledTx {
    /// Decode and recover a raw EIP-2718 transaction.
    pub(super) fn decode(raw: Bytes) -> Result<Self, String> {
        use alloy_eips::eip2718::Decodable2718;
        let tx = TxEnvelope::decode_2718_exact(raw.as_ref()).map_err(|e| format!("rlp: {e}"))?;
        let sender = tx.recover_signer().map_err(|e| format!("invalid sender: {e}"))?;
        let hash = *tx.tx_hash();
        Ok(Self { raw, tx, hash, sender })
    }
}

/// A block the mock knows, with what it derived from it.
#[derive(Debug, Clone)]
pub(super) struct StoredBlock {
    pub(super) hash: B256,
    pub(super) block: Block<TxEnvelope>,
    pub(super) txs: Vec<PooledTx>,
    pub(super) receipts: Vec<ReceiptEnvelope>,
}

impl StoredBlock {
    pub(super) const fn header(&self) -> &Header {
        &self.block.header
    }

    pub(super) const fn number(&self) -> u64 {
        self.block.header.number
    }

    /// Seal a block made of `header` and `txs`, synthesizing its receipts.
    fn seal(header: Header, txs: Vec<PooledTx>, withdrawals: Option<Vec<Withdrawal>>) -> Self {
        let receipts = synthesize_receipts(&txs);
        let block = Block {
            header,
            body: BlockBody {
                transactions: txs.iter().map(|t| t.tx.clone()).collect(),
                ommers: Vec::new(),
                withdrawals: withdrawals.map(Into::into),
            },
        };
        Self { hash: block.header.hash_slow(), block, txs, receipts }
    }

    /// What the fee recipient earns: each transaction's tip over the base fee, for 21,000 gas.
    pub(super) fn block_value(&self) -> U256 {
        let base_fee = self.header().base_fee_per_gas.unwrap_or_default();
        self.txs
            .iter()
            .map(|t| {
                U256::from(t.tx.effective_tip_per_gas(base_fee).unwrap_or_default())
                    * U256::from(GAS_PER_TX)
            })
            .sum()
    }
}

/// Successful receipts with cumulative gas 21,000 × (i + 1) and no logs.
fn synthesize_receipts(txs: &[PooledTx]) -> Vec<ReceiptEnvelope> {
    txs.iter()
        .zip(1u64..)
        .map(|(t, i)| {
            let receipt = Receipt {
                status: Eip658Value::Eip658(true),
                cumulative_gas_used: GAS_PER_TX * i,
                logs: Vec::new(),
            };
            ReceiptEnvelope::from_typed(t.tx.tx_type(), receipt)
        })
        .collect()
}

/// The parameters of the genesis block.
#[derive(Debug, Clone)]
pub(super) struct GenesisParams {
    pub(super) timestamp: u64,
    pub(super) gas_limit: u64,
    pub(super) base_fee: u64,
    pub(super) extra_data: Bytes,
    pub(super) state_root: B256,
}

/// The genesis block, with the fork fields its timestamp calls for.
pub(super) fn genesis(forks: &ForkSchedule, params: &GenesisParams) -> StoredBlock {
    let fork = forks.fork_at(params.timestamp);
    let withdrawals = (fork >= Fork::Shanghai).then(Vec::new);
    let header = Header {
        state_root: params.state_root,
        timestamp: params.timestamp,
        gas_limit: params.gas_limit,
        base_fee_per_gas: Some(params.base_fee),
        extra_data: params.extra_data.clone(),
        parent_beacon_block_root: (fork >= Fork::Cancun).then_some(B256::ZERO),
        ..empty_header(fork, withdrawals.as_deref())
    };
    StoredBlock::seal(header, Vec::new(), withdrawals)
}

/// A header with the roots of an empty body for `fork` and everything else zero.
fn empty_header(fork: Fork, withdrawals: Option<&[Withdrawal]>) -> Header {
    Header {
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        transactions_root: proofs::calculate_transaction_root::<TxEnvelope>(&[]),
        receipts_root: proofs::calculate_receipt_root::<ReceiptEnvelope>(&[]),
        withdrawals_root: withdrawals.map(proofs::calculate_withdrawals_root),
        blob_gas_used: (fork >= Fork::Cancun).then_some(0),
        excess_blob_gas: (fork >= Fork::Cancun).then_some(0),
        requests_hash: (fork >= Fork::Prague).then_some(EMPTY_REQUESTS_HASH),
        nonce: B64::ZERO,
        difficulty: U256::ZERO,
        ..Header::default()
    }
}

/// Build the child of `parent` that the attributes ask for, including `pool` transactions
/// (as many as fit in the gas limit, in order).
pub(super) fn build(
    forks: &ForkSchedule,
    parent: &StoredBlock,
    attrs: &PayloadAttributes,
    pool: &[PooledTx],
    extra_data: &Bytes,
) -> StoredBlock {
    let p = parent.header();
    let fork = forks.fork_at(attrs.timestamp);
    let max_txs = usize::try_from(p.gas_limit / GAS_PER_TX).unwrap_or(usize::MAX);
    let txs: Vec<PooledTx> = pool.iter().take(max_txs).cloned().collect();
    let receipts = synthesize_receipts(&txs);
    let withdrawals = attrs.withdrawals.clone();
    let blob_params =
        if fork >= Fork::Prague { BlobParams::prague() } else { BlobParams::cancun() };
    let header = Header {
        parent_hash: parent.hash,
        beneficiary: attrs.suggested_fee_recipient,
        state_root: p.state_root,
        transactions_root: proofs::calculate_transaction_root(
            &txs.iter().map(|t| t.tx.clone()).collect::<Vec<_>>(),
        ),
        receipts_root: proofs::calculate_receipt_root(&receipts),
        logs_bloom: receipts.iter().fold(Bloom::ZERO, |acc, r| acc | r.bloom()),
        number: p.number + 1,
        gas_limit: p.gas_limit,
        gas_used: GAS_PER_TX * txs.len() as u64,
        timestamp: attrs.timestamp,
        extra_data: extra_data.clone(),
        mix_hash: attrs.prev_randao,
        base_fee_per_gas: p.next_block_base_fee(BaseFeeParams::ethereum()),
        excess_blob_gas: (fork >= Fork::Cancun)
            .then(|| p.next_block_excess_blob_gas(blob_params).unwrap_or(0)),
        parent_beacon_block_root: attrs.parent_beacon_block_root,
        ..empty_header(fork, withdrawals.as_deref())
    };
    StoredBlock::seal(header, txs, withdrawals)
}

/// Import a decoded payload block whose hash the caller has checked.
pub(super) fn import(hash: B256, block: Block<TxEnvelope>) -> Result<StoredBlock, String> {
    let txs = block
        .body
        .transactions
        .iter()
        .map(|tx| PooledTx::decode(tx.encoded_2718().into()))
        .collect::<Result<Vec<_>, _>>()?;
    let receipts = synthesize_receipts(&txs);
    Ok(StoredBlock { hash, block, txs, receipts })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> GenesisParams {
        GenesisParams {
            timestamp: 0,
            gas_limit: 30_000_000,
            base_fee: 1_000_000_000,
            extra_data: Bytes::new(),
            state_root: alloy_trie::EMPTY_ROOT_HASH,
        }
    }

    /// Genesis carries exactly the fields of its fork.
    #[test]
    fn genesis_fields_follow_the_fork() {
        let shanghai = genesis(&ForkSchedule::default(), &params());
        assert!(shanghai.header().withdrawals_root.is_some());
        assert!(shanghai.header().parent_beacon_block_root.is_none());
        let prague = genesis(&ForkSchedule::all_from_genesis(Fork::Prague), &params());
        assert_eq!(prague.header().requests_hash, Some(EMPTY_REQUESTS_HASH));
        assert_eq!(prague.header().blob_gas_used, Some(0));
        let paris = genesis(&ForkSchedule::all_from_genesis(Fork::Paris), &params());
        assert!(paris.header().withdrawals_root.is_none());
        assert_eq!(paris.hash, paris.header().hash_slow());
    }

    /// A built child links to its parent and lowers the base fee of an empty parent.
    #[test]
    fn built_child_links_to_parent() {
        let forks = ForkSchedule::default();
        let g = genesis(&forks, &params());
        let attrs = PayloadAttributes {
            timestamp: 2,
            prev_randao: B256::repeat_byte(9),
            suggested_fee_recipient: Address::repeat_byte(0xde),
            withdrawals: Some(vec![]),
            parent_beacon_block_root: None,
            slot_number: None,
            target_gas_limit: None,
        };
        let child = build(&forks, &g, &attrs, &[], &Bytes::new());
        assert_eq!(child.header().parent_hash, g.hash);
        assert_eq!(child.number(), 1);
        assert_eq!(child.header().mix_hash, B256::repeat_byte(9));
        assert_eq!(child.header().base_fee_per_gas, Some(875_000_000));
        assert_eq!(child.block_value(), U256::ZERO);
    }
}
