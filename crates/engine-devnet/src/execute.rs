//! Executing one block with revm: the EIP-4788 system call (Cancun), the transactions in
//! order, then the withdrawals (peg-ins) credited in Gwei → wei.
//!
//! The base fee is burned and the priority fee paid to the fee recipient by revm's mainnet
//! handler; nothing else is minted (there is no block reward after the merge). The same code
//! builds a payload (invalid transactions are skipped) and imports one (an invalid
//! transaction makes the block invalid), so a built block always re-executes to itself.

use super::{
    db::{BlockHashLookup, OverlayDb},
    state::{StateDiff, WorldState},
};
use alloy_consensus::{
    Eip658Value, Header, Receipt, ReceiptEnvelope, ReceiptWithBloom, Transaction, TxEnvelope,
    TxType, transaction::Recovered,
};
use alloy_eips::{
    Typed2718, eip4788::BEACON_ROOTS_ADDRESS, eip4844::DATA_GAS_PER_BLOB, eip4895::Withdrawal,
};
use alloy_primitives::{Address, B256, Bloom, Log, U256};
use alloy_trie::KECCAK_EMPTY;
use engine_types::Gwei;
use revm::{
    Context, DatabaseCommit, ExecuteCommitEvm, MainBuilder, MainContext, SystemCallEvm,
    context::{
        BlockEnv, CfgEnv, TxEnv,
        either::Either,
        result::{EVMError, ExecutionResult, InvalidTransaction},
    },
    context_interface::block::BlobExcessGasAndPrice,
    handler::SYSTEM_ADDRESS,
    primitives::{TxKind, eip4844::BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN, hardfork::SpecId},
};
use std::convert::Infallible;

/// What to do with a transaction that cannot be included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Building a payload: leave it out (and every later transaction of its sender).
    Build,
    /// Importing a payload: the block is invalid.
    Import,
}

/// One executed transaction and what it left behind.
#[derive(Debug, Clone)]
pub(crate) struct TxOutcome {
    /// The transaction with its recovered sender.
    pub(crate) tx: Recovered<TxEnvelope>,
    /// Its consensus receipt (status, cumulative gas, logs, bloom).
    pub(crate) receipt: ReceiptEnvelope,
    /// Gas this transaction used (after refunds).
    pub(crate) gas_used: u64,
    /// The price per gas actually paid: base fee + effective tip.
    pub(crate) effective_gas_price: u128,
    /// The contract a creation deployed.
    pub(crate) contract_address: Option<Address>,
    /// Blob gas used (Cancun blob transactions; zero otherwise).
    pub(crate) blob_gas_used: u64,
}

/// A block's execution result.
#[derive(Debug, Default)]
pub(crate) struct BlockOutcome {
    /// The included transactions, in order.
    pub(crate) txs: Vec<TxOutcome>,
    /// The state changes.
    pub(crate) diff: StateDiff,
    /// Total gas used.
    pub(crate) gas_used: u64,
    /// Total blob gas used.
    pub(crate) blob_gas_used: u64,
    /// The bloom of every log.
    pub(crate) logs_bloom: Bloom,
    /// What the fee recipient earned from tips, in wei (the payload's `blockValue`).
    pub(crate) block_value: U256,
    /// Transactions left out while building, with why.
    pub(crate) skipped: Vec<(B256, String)>,
}

/// Why a block could not be executed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ExecError {
    /// A transaction is invalid in this block (nonce, balance, gas, fee, type, …).
    #[error("transaction {index} ({hash}) is invalid: {reason}")]
    InvalidTransaction {
        /// Its index in the block.
        index: usize,
        /// Its hash.
        hash: B256,
        /// revm's reason.
        reason: String,
    },
    /// The transactions need more gas than the block allows.
    #[error("transactions use more gas than the block's limit {limit}")]
    GasLimitExceeded {
        /// The block's gas limit.
        limit: u64,
    },
    /// The EIP-4788 beacon-root system call failed.
    #[error("beacon root system call failed: {0}")]
    SystemCall(String),
}

/// What a block executes with besides its header and parent state.
#[derive(Clone, Copy)]
pub(crate) struct ExecEnv<'a> {
    /// The chain id transactions must carry.
    pub(crate) chain_id: u64,
    /// The fork's rules.
    pub(crate) spec: SpecId,
    /// Ancestor hashes for `BLOCKHASH`.
    pub(crate) block_hashes: BlockHashLookup<'a>,
}

/// The revm spec for a fork.
pub(crate) const fn spec_for(fork: engine_types::Fork) -> SpecId {
    match fork {
        engine_types::Fork::Paris => SpecId::MERGE,
        engine_types::Fork::Shanghai => SpecId::SHANGHAI,
        engine_types::Fork::Cancun => SpecId::CANCUN,
        engine_types::Fork::Prague => SpecId::PRAGUE,
    }
}

/// The execution environment of a block, read from its header.
pub(crate) fn block_env(header: &Header) -> BlockEnv {
    let mut env = BlockEnv {
        number: U256::from(header.number),
        beneficiary: header.beneficiary,
        timestamp: U256::from(header.timestamp),
        gas_limit: header.gas_limit,
        basefee: header.base_fee_per_gas.unwrap_or_default(),
        difficulty: U256::ZERO,
        prevrandao: Some(header.mix_hash),
        ..BlockEnv::default()
    };
    env.blob_excess_gas_and_price = header
        .excess_blob_gas
        .map(|excess| BlobExcessGasAndPrice::new(excess, BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN));
    env
}

/// The configuration revm runs with: the chain id and the fork's rules.
pub(crate) fn cfg_env(chain_id: u64, spec: SpecId) -> CfgEnv {
    let mut cfg = CfgEnv::new_with_spec(spec);
    cfg.chain_id = chain_id;
    cfg
}

/// The revm transaction for a signed transaction with a recovered sender.
pub(crate) fn tx_env(tx: &Recovered<TxEnvelope>) -> TxEnv {
    let inner = tx.inner();
    TxEnv {
        tx_type: inner.ty(),
        caller: tx.signer(),
        gas_limit: inner.gas_limit(),
        gas_price: inner.max_fee_per_gas(),
        kind: inner.kind(),
        value: inner.value(),
        data: inner.input().clone(),
        nonce: inner.nonce(),
        chain_id: inner.chain_id(),
        access_list: inner.access_list().cloned().unwrap_or_default(),
        gas_priority_fee: inner.max_priority_fee_per_gas(),
        blob_hashes: inner.blob_versioned_hashes().map(<[B256]>::to_vec).unwrap_or_default(),
        max_fee_per_blob_gas: inner.max_fee_per_blob_gas().unwrap_or_default(),
        authorization_list: inner
            .authorization_list()
            .map(|list| list.iter().cloned().map(Either::Left).collect())
            .unwrap_or_default(),
    }
}

/// Execute the block whose pre-execution fields are in `header` on top of `parent`.
///
/// `header` must carry number, timestamp, beneficiary, gas limit, base fee, prevRandao and,
/// from Cancun, the excess blob gas and parent beacon block root. Withdrawals are credited
/// after the transactions.
pub(crate) fn execute_block(
    parent: &WorldState,
    header: &Header,
    env: &ExecEnv<'_>,
    txs: Vec<Recovered<TxEnvelope>>,
    withdrawals: &[Withdrawal],
    mode: Mode,
) -> Result<BlockOutcome, ExecError> {
    let ExecEnv { chain_id, spec, block_hashes } = *env;
    let mut db = OverlayDb::new(parent, spec, block_hashes);
    if let Some(root) = header.parent_beacon_block_root {
        beacon_root_call(&mut db, header, chain_id, spec, root)?;
    }
    let mut out = BlockOutcome::default();
    // revm builds an `Evm` with eight call frames preallocated, each with a 1,024-word
    // (32 KiB) stack: building and dropping one was 4 % of the node's CPU in a soak of empty
    // blocks (with the heap's growing and trimming around it), so a block without
    // transactions builds none.
    if !txs.is_empty() {
        let mut evm = Context::mainnet()
            .with_db(&mut db)
            .with_block(block_env(header))
            .with_cfg(cfg_env(chain_id, spec))
            .build_mainnet();
        let base_fee = header.base_fee_per_gas.unwrap_or_default();
        let mut blocked: Vec<Address> = Vec::new();
        for (index, tx) in txs.into_iter().enumerate() {
            let hash = *tx.tx_hash();
            let reject = |reason: String, out: &mut BlockOutcome| match mode {
                Mode::Import => Err(ExecError::InvalidTransaction { index, hash, reason }),
                Mode::Build => {
                    out.skipped.push((hash, reason));
                    Ok(())
                }
            };
            if blocked.contains(&tx.signer()) {
                reject("an earlier transaction of its sender was left out".into(), &mut out)?;
                continue;
            }
            let remaining = header.gas_limit - out.gas_used;
            if tx.gas_limit() > remaining {
                if mode == Mode::Import {
                    return Err(ExecError::GasLimitExceeded { limit: header.gas_limit });
                }
                blocked.push(tx.signer());
                reject(
                    format!("gas limit {} exceeds the {remaining} left", tx.gas_limit()),
                    &mut out,
                )?;
                continue;
            }
            let result = match evm.transact_commit(tx_env(&tx)) {
                Ok(result) => result,
                Err(err) => {
                    blocked.push(tx.signer());
                    reject(describe(err), &mut out)?;
                    continue;
                }
            };
            let gas_used = result.tx_gas_used();
            out.gas_used += gas_used;
            let effective_gas_price = tx.effective_gas_price(Some(base_fee));
            let tip = effective_gas_price.saturating_sub(u128::from(base_fee));
            out.block_value += U256::from(tip) * U256::from(gas_used);
            let blob_gas_used =
                tx.blob_versioned_hashes().map_or(0, |h| h.len() as u64 * DATA_GAS_PER_BLOB);
            out.blob_gas_used += blob_gas_used;
            let contract_address = match tx.kind() {
                TxKind::Create if result.is_success() => result.created_address(),
                _ => None,
            };
            let receipt = receipt(tx.tx_type(), &result, out.gas_used);
            out.logs_bloom.accrue_bloom(receipt.logs_bloom());
            out.txs.push(TxOutcome {
                tx,
                receipt,
                gas_used,
                effective_gas_price,
                contract_address,
                blob_gas_used,
            });
        }
    }
    for w in withdrawals {
        db.add_balance(w.address, Gwei(w.amount).to_wei());
    }
    out.diff = db.into_diff();
    Ok(out)
}

/// EIP-4788: store the parent beacon block root in the beacon-roots contract, when the
/// contract exists (without code the call does nothing, as in other clients). Neither the
/// system address nor the fee recipient is touched by it.
fn beacon_root_call(
    db: &mut OverlayDb<'_>,
    header: &Header,
    chain_id: u64,
    spec: SpecId,
    root: B256,
) -> Result<(), ExecError> {
    if db.account(&BEACON_ROOTS_ADDRESS).is_none_or(|a| a.code_hash == KECCAK_EMPTY) {
        return Ok(());
    }
    let mut evm = Context::mainnet()
        .with_db(&mut *db)
        .with_block(block_env(header))
        .with_cfg(cfg_env(chain_id, spec))
        .build_mainnet();
    let mut outcome = evm
        .system_call_with_caller(SYSTEM_ADDRESS, BEACON_ROOTS_ADDRESS, root.0.to_vec().into())
        .map_err(|e| ExecError::SystemCall(describe(e)))?;
    drop(evm);
    outcome.state.remove(&SYSTEM_ADDRESS);
    outcome.state.remove(&header.beneficiary);
    db.commit(outcome.state);
    Ok(())
}

fn receipt(tx_type: TxType, result: &ExecutionResult, cumulative_gas_used: u64) -> ReceiptEnvelope {
    let logs: Vec<Log> = result.logs().to_vec();
    let receipt =
        Receipt { status: Eip658Value::Eip658(result.is_success()), cumulative_gas_used, logs };
    ReceiptEnvelope::from_typed(tx_type, ReceiptWithBloom::from(receipt))
}

/// revm's error as a sentence.
fn describe(err: EVMError<Infallible, InvalidTransaction>) -> String {
    match err {
        EVMError::Transaction(e) => e.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::{
        Devnet,
        testing::{ETH, genesis, key, peg_in, produce, transfer, tx1559},
    };
    use alloy_primitives::{Address, Bytes, U256};
    use alloy_sol_types::{SolCall, SolEvent};
    use engine_types::{
        Satoshis,
        constants::{BRIDGE_ADDRESS, DEAD_ADDRESS},
        pegout::{RequestPegOut, requestPegOutCall},
    };

    fn devnet() -> Devnet {
        Devnet::new(&genesis(None)).unwrap()
    }

    /// A peg-in of n sats raises the balance by exactly n × 10^10 wei, even for a new account.
    #[test]
    fn peg_in_credits_sats_times_ten_to_the_ten() {
        let mut d = devnet();
        let (funded, fresh) = (key(0).address(), Address::repeat_byte(0x77));
        let before = d.balance(&funded);
        produce(&mut d, vec![peg_in(0, funded, 12_345), peg_in(1, fresh, 1)]);
        assert_eq!(d.balance(&funded) - before, Satoshis(12_345).to_wei());
        assert_eq!(d.balance(&fresh), U256::from(10_000_000_000u64));
        let block = d.block(&d.head().hash()).unwrap();
        assert_eq!(block.body.withdrawals.unwrap().len(), 2);
    }

    /// A transfer moves the value, pays the tip to the fee recipient and burns the base fee.
    #[test]
    fn transfer_moves_value_and_burns_the_base_fee() {
        let mut d = devnet();
        let (alice, bob) = (key(0), key(1).address());
        let total =
            |d: &Devnet| d.balance(&alice.address()) + d.balance(&bob) + d.balance(&DEAD_ADDRESS);
        let supply_before = total(&d);
        let base_fee = U256::from(d.head().base_fee_per_gas.unwrap());
        let (a0, b0) = (d.balance(&alice.address()), d.balance(&bob));
        d.send_raw_transaction(&transfer(&alice, 0, bob, ETH)).unwrap();
        let hash = produce(&mut d, vec![]);
        let receipts = d.receipts(&hash).unwrap();
        assert_eq!(receipts.len(), 1);
        assert!(receipts[0].is_success());
        let gas = U256::from(receipts[0].cumulative_gas_used());
        assert_eq!(gas, U256::from(21_000));
        // The block's base fee follows from the genesis block (empty → base fee falls).
        let block_base_fee = U256::from(d.head().base_fee_per_gas.unwrap());
        assert!(block_base_fee < base_fee);
        let tip = U256::from(1_000_000_000u64);
        assert_eq!(d.balance(&bob) - b0, U256::from(ETH));
        assert_eq!(
            a0 - d.balance(&alice.address()),
            U256::from(ETH) + gas * (block_base_fee + tip)
        );
        assert_eq!(d.balance(&DEAD_ADDRESS), gas * tip);
        assert_eq!(supply_before - total(&d), gas * block_base_fee, "the base fee is burned");
        assert_eq!(d.nonce(&alice.address()), 1);
    }

    /// `requestPegOut` emits the event from the bridge and sends the value to 0x…dEaD.
    #[test]
    fn request_peg_out_emits_the_event_and_burns_the_value() {
        let mut d = devnet();
        let alice = key(2);
        let btc = Bytes::from_static(b"bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080");
        let input = requestPegOutCall { _bitcoinAddress: btc.clone() }.abi_encode();
        let value = U256::from(2 * ETH);
        d.send_raw_transaction(&tx1559(&alice, 0, BRIDGE_ADDRESS, value, input.into(), 100_000))
            .unwrap();
        let hash = produce(&mut d, vec![]);
        let receipt = &d.receipts(&hash).unwrap()[0];
        assert!(receipt.is_success());
        let log = &receipt.logs()[0];
        assert_eq!(log.address, BRIDGE_ADDRESS);
        let event = RequestPegOut::decode_log(log).unwrap();
        assert_eq!(event._evmAddress, alice.address());
        assert_eq!(event._bitcoinAddress, btc);
        assert_eq!(event._value, value);
        let tips = U256::from(receipt.cumulative_gas_used()) * U256::from(1_000_000_000u64);
        assert_eq!(d.balance(&DEAD_ADDRESS), value + tips);
        assert_eq!(d.balance(&BRIDGE_ADDRESS), U256::ZERO);
        assert!(
            receipt
                .logs_bloom()
                .contains_input(alloy_primitives::BloomInput::Raw(BRIDGE_ADDRESS.as_slice()))
        );
    }

    /// Anything but a well-formed `requestPegOut` reverts, so no value sticks in the bridge.
    #[test]
    fn bridge_rejects_other_calls() {
        let mut d = devnet();
        let alice = key(3);
        let value = U256::from(ETH);
        // A plain transfer, an unknown selector, and a bytes length running past the calldata.
        let mut bad_len =
            requestPegOutCall { _bitcoinAddress: Bytes::from_static(b"abc") }.abi_encode();
        bad_len[4 + 32 + 31] = 0xff;
        let calls: [Vec<u8>; 3] = [vec![], vec![0xde, 0xad, 0xbe, 0xef], bad_len];
        for (nonce, input) in calls.into_iter().enumerate() {
            d.send_raw_transaction(&tx1559(
                &alice,
                nonce as u64,
                BRIDGE_ADDRESS,
                value,
                input.into(),
                100_000,
            ))
            .unwrap();
        }
        let hash = produce(&mut d, vec![]);
        let receipts = d.receipts(&hash).unwrap();
        assert_eq!(receipts.len(), 3);
        assert!(receipts.iter().all(|r| !r.is_success() && r.logs().is_empty()));
        assert_eq!(d.balance(&BRIDGE_ADDRESS), U256::ZERO);
    }

    /// With the EIP-4788 contract in genesis, a Cancun block stores its parent beacon root
    /// there (readable by timestamp), without touching the system address.
    #[test]
    fn beacon_root_lands_in_the_eip4788_contract() {
        let code = alloy_primitives::hex!(
            "3373fffffffffffffffffffffffffffffffffffffffe14604d57602036146024575f5ffd5b5f35801560"
            "495762001fff810690815414603c575f5ffd5b62001fff01545f5260205ff35b5f5ffd5b62001fff4206"
            "4281555f359062001fff015500"
        );
        let mut g = genesis(Some(0));
        let contract = alloy_genesis::GenesisAccount::default()
            .with_code(Some(Bytes::copy_from_slice(&code)))
            .with_nonce(Some(1));
        g.alloc.insert(alloy_eips::eip4788::BEACON_ROOTS_ADDRESS, contract);
        let mut d = Devnet::new(&g).unwrap();
        produce(&mut d, vec![]);
        let head = d.head().clone();
        let root = head.parent_beacon_block_root.unwrap();
        let call = serde_json::json!([{
            "from": key(0).address(),
            "to": alloy_eips::eip4788::BEACON_ROOTS_ADDRESS,
            "input": alloy_primitives::B256::from(U256::from(head.timestamp)),
        }, "latest"]);
        let answer = d.handle("eth_call", &call).unwrap();
        assert_eq!(answer, serde_json::json!(root));
        assert!(d.block(&head.hash()).is_some());
        assert_eq!(d.nonce(&revm::handler::SYSTEM_ADDRESS), 0);
        assert_eq!(d.balance(&revm::handler::SYSTEM_ADDRESS), U256::ZERO);
    }

    /// An empty bitcoin address and a 33-byte one both encode as the ABI says.
    #[test]
    fn peg_out_event_data_is_abi_encoded() {
        let mut d = devnet();
        let alice = key(0);
        for (nonce, len) in [0usize, 33].into_iter().enumerate() {
            let btc = Bytes::from(vec![0xab; len]);
            let input = requestPegOutCall { _bitcoinAddress: btc.clone() }.abi_encode();
            d.send_raw_transaction(&tx1559(
                &alice,
                nonce as u64,
                BRIDGE_ADDRESS,
                U256::from(7),
                input.into(),
                100_000,
            ))
            .unwrap();
            let hash = produce(&mut d, vec![]);
            let receipt = &d.receipts(&hash).unwrap()[0];
            let event = RequestPegOut::decode_log(&receipt.logs()[0]).unwrap();
            assert_eq!(event._bitcoinAddress, btc);
            assert_eq!(event._value, U256::from(7));
        }
    }
}
