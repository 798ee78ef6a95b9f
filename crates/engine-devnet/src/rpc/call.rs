//! `eth_call` and `eth_estimateGas`: execute a transaction request on a block's post-state
//! and throw the changes away.
//!
//! As in geth, a request without fee fields runs with a zero base fee (so an account
//! without ether can call), the nonce is not checked, and a revert is error 3 with the revert
//! data.

use crate::{
    chain::StoredBlock,
    db::OverlayDb,
    el::Devnet,
    execute::{block_env, cfg_env, spec_for},
    rpc_server::RpcError,
    state::WorldState,
};
use alloy_primitives::{Bytes, TxKind, hex};
use alloy_rpc_types_eth::TransactionRequest;
use engine_types::RpcErrorCode;
use revm::{
    Context, ExecuteEvm, MainBuilder, MainContext,
    context::{
        TxEnv,
        result::{EVMError, ExecutionResult},
    },
};

/// The JSON-RPC code geth uses for a reverted call.
const EXECUTION_REVERTED: i64 = 3;

/// The stipend geth adds to the optimistic first guess of `eth_estimateGas`.
const CALL_STIPEND: u64 = 2_300;

impl Devnet {
    /// `eth_call`: the return data, or the revert as error 3.
    pub(super) fn call(
        &self,
        req: TransactionRequest,
        block: &StoredBlock,
        state: &WorldState,
    ) -> Result<Bytes, RpcError> {
        let gas = req.gas.unwrap_or(block.header.gas_limit);
        into_output(self.simulate(&req, block, state, gas)?)
    }

    /// `eth_estimateGas`: the smallest gas limit with which the request succeeds, found by
    /// bisection between what it spent and the cap (the request's gas or the block's).
    pub(super) fn estimate_gas(
        &self,
        req: TransactionRequest,
        block: &StoredBlock,
        state: &WorldState,
    ) -> Result<u64, RpcError> {
        let cap = req.gas.unwrap_or(block.header.gas_limit);
        let first = self.simulate(&req, block, state, cap)?;
        let spent = first.gas().total_gas_spent();
        into_output(first)?;
        let (mut lo, mut hi) = (spent.saturating_sub(1), cap);
        let optimistic = (spent + CALL_STIPEND).saturating_mul(64) / 63;
        if optimistic < hi && self.succeeds(&req, block, state, optimistic) {
            hi = optimistic;
        }
        while lo + 1 < hi {
            let mid = lo + (hi - lo) / 2;
            if self.succeeds(&req, block, state, mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Ok(hi)
    }

    fn succeeds(
        &self,
        req: &TransactionRequest,
        block: &StoredBlock,
        state: &WorldState,
        gas: u64,
    ) -> bool {
        self.simulate(req, block, state, gas).is_ok_and(|r| r.is_success())
    }

    /// Run `req` with `gas` on the post-state of `block` (`state`), in the environment of
    /// that block.
    fn simulate(
        &self,
        req: &TransactionRequest,
        block: &StoredBlock,
        state: &WorldState,
        gas: u64,
    ) -> Result<ExecutionResult, RpcError> {
        let header = block.header.inner();
        let spec = spec_for(self.chain.spec().fork_at(header.timestamp));
        let lookup = |number: u64| self.chain.ancestor_hash(block.hash(), number);
        let priced = req.gas_price.is_some() || req.max_fee_per_gas.is_some();
        let mut env = block_env(header);
        if !priced {
            env.basefee = 0;
        }
        let mut cfg = cfg_env(self.chain_id(), spec);
        cfg.disable_nonce_check = true;
        let caller = req.from.unwrap_or_default();
        let dynamic = req.max_fee_per_gas.is_some() || req.max_priority_fee_per_gas.is_some();
        let tx = TxEnv {
            tx_type: if dynamic {
                2
            } else if req.access_list.is_some() {
                1
            } else {
                0
            },
            caller,
            gas_limit: gas,
            gas_price: req.max_fee_per_gas.or(req.gas_price).unwrap_or_default(),
            kind: req.to.unwrap_or(TxKind::Create),
            value: req.value.unwrap_or_default(),
            data: req.input.input().cloned().unwrap_or_default(),
            nonce: state.nonce(&caller),
            chain_id: Some(self.chain_id()),
            access_list: req.access_list.clone().unwrap_or_default(),
            gas_priority_fee: dynamic.then(|| req.max_priority_fee_per_gas.unwrap_or_default()),
            ..TxEnv::default()
        };
        let mut evm = Context::mainnet()
            .with_db(OverlayDb::new(state, spec, &lookup))
            .with_block(env)
            .with_cfg(cfg)
            .build_mainnet();
        match evm.transact(tx) {
            Ok(outcome) => Ok(outcome.result),
            Err(EVMError::Transaction(e)) => Err(RpcError::server(e.to_string())),
            Err(e) => Err(RpcError::new(RpcErrorCode::InternalError, e.to_string())),
        }
    }
}

/// The output of a call, or its failure as geth reports it: a revert is error 3 with the
/// revert data, a halt -32000.
fn into_output(result: ExecutionResult) -> Result<Bytes, RpcError> {
    match result {
        ExecutionResult::Success { output, .. } => Ok(output.into_data()),
        ExecutionResult::Revert { output, .. } => Err(RpcError {
            code: EXECUTION_REVERTED,
            message: "execution reverted".into(),
            data: Some(serde_json::Value::String(hex::encode_prefixed(&output))),
        }),
        ExecutionResult::Halt { reason, .. } => {
            Err(RpcError::server(format!("execution halted: {reason:?}")))
        }
    }
}
