//! JSON-RPC on [`Devnet`]: parse the params of each method, call the typed method, shape
//! the answer as the spec (Engine API) or geth (`eth_*`) does.

mod call;
mod eth;

use super::el::Devnet;
use crate::rpc_server::RpcError;
use alloy_primitives::{B256, U64};
use alloy_rpc_types_engine::{
    BlobsBundleV1, CancunPayloadFields, ExecutionPayload, ExecutionPayloadBodyV1,
    ExecutionPayloadEnvelopeV2, ExecutionPayloadEnvelopeV3, ExecutionPayloadFieldV2,
    ExecutionPayloadInputV2, ExecutionPayloadSidecar, ExecutionPayloadV1, ExecutionPayloadV3,
    ForkchoiceState, PayloadAttributes, PayloadId,
};
use engine_types::{ApiVersion, EngineMethod, RpcErrorCode};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

/// The client name in `engine_getClientVersionV1` and `web3_clientVersion`.
pub(crate) const CLIENT_NAME: &str = "alys-devnet";

/// The two-letter client code of `engine_getClientVersionV1`. The spec's registry has no
/// code for this devnet; `AD` is not taken by any client there.
const CLIENT_CODE: &str = "AD";

/// Most bodies one `engine_getPayloadBodiesBy*V1` call returns (the spec's bound).
const MAX_BODIES: u64 = 1024;

/// Parameter `index` of `params`, required.
pub(crate) fn param<T: DeserializeOwned>(
    params: &Value,
    index: usize,
    name: &str,
) -> Result<T, RpcError> {
    let value =
        params.get(index).ok_or_else(|| RpcError::invalid_params(format!("missing {name}")))?;
    serde_json::from_value(value.clone())
        .map_err(|e| RpcError::invalid_params(format!("invalid {name}: {e}")))
}

/// Parameter `index` of `params`; absent or null is `None`.
pub(crate) fn opt_param<T: DeserializeOwned>(
    params: &Value,
    index: usize,
    name: &str,
) -> Result<Option<T>, RpcError> {
    match params.get(index) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => param(params, index, name).map(Some),
    }
}

/// `params` must be an array of exactly `n` items.
fn exactly(params: &Value, n: usize, method: &str) -> Result<(), RpcError> {
    let got = params.as_array().map_or(0, Vec::len);
    if got == n {
        return Ok(());
    }
    Err(RpcError::invalid_params(format!("{method} takes exactly {n} params, got {got}")))
}

/// Serialize an answer (serializing these types cannot fail: string keys only).
pub(crate) fn to_json<T: Serialize>(value: T) -> Result<Value, RpcError> {
    serde_json::to_value(value)
        .map_err(|e| RpcError::new(RpcErrorCode::InternalError, e.to_string()))
}

impl Devnet {
    /// Answer one JSON-RPC call: `engine_*` methods and the `eth_*` (plus `net_version`,
    /// `web3_clientVersion`) methods a node uses. Unknown methods are -32601.
    pub fn handle(&mut self, method: &str, params: &Value) -> Result<Value, RpcError> {
        match EngineMethod::from_rpc_name(method) {
            Some((m, version)) => self.handle_engine(method, m, version, params),
            None => self.handle_eth(method, params),
        }
    }

    fn handle_engine(
        &mut self,
        name: &str,
        method: EngineMethod,
        version: ApiVersion,
        params: &Value,
    ) -> Result<Value, RpcError> {
        match method {
            EngineMethod::ForkchoiceUpdated => {
                let state: ForkchoiceState = param(params, 0, "forkchoiceState")?;
                let attrs: Option<PayloadAttributes> = opt_param(params, 1, "payloadAttributes")?;
                to_json(self.forkchoice_updated(version, state, attrs)?)
            }
            EngineMethod::GetPayload => {
                let id: PayloadId = param(params, 0, "payloadId")?;
                let built = self.get_payload(version, id)?;
                match (version, built.payload) {
                    (ApiVersion::V2, ExecutionPayload::V2(p)) => {
                        to_json(ExecutionPayloadEnvelopeV2 {
                            execution_payload: ExecutionPayloadFieldV2::V2(p),
                            block_value: built.block_value,
                        })
                    }
                    (ApiVersion::V3, ExecutionPayload::V3(p)) => {
                        to_json(ExecutionPayloadEnvelopeV3 {
                            execution_payload: p,
                            block_value: built.block_value,
                            blobs_bundle: BlobsBundleV1::empty(),
                            should_override_builder: false,
                        })
                    }
                    (_, payload) => Err(RpcError::new(
                        RpcErrorCode::InternalError,
                        format!(
                            "{name} cannot carry a {:?}-shaped payload",
                            payload_shape(&payload)
                        ),
                    )),
                }
            }
            EngineMethod::NewPayload => {
                let (payload, sidecar) = match version {
                    ApiVersion::V1 => {
                        exactly(params, 1, name)?;
                        (
                            ExecutionPayload::V1(param::<ExecutionPayloadV1>(
                                params,
                                0,
                                "executionPayload",
                            )?),
                            ExecutionPayloadSidecar::none(),
                        )
                    }
                    ApiVersion::V2 => {
                        exactly(params, 1, name)?;
                        let input: ExecutionPayloadInputV2 = param(params, 0, "executionPayload")?;
                        (input.into_payload(), ExecutionPayloadSidecar::none())
                    }
                    ApiVersion::V3 | ApiVersion::V4 => {
                        exactly(params, if version == ApiVersion::V3 { 3 } else { 4 }, name)?;
                        let payload: ExecutionPayloadV3 = param(params, 0, "executionPayload")?;
                        let hashes: Vec<B256> = param(params, 1, "expectedBlobVersionedHashes")?;
                        let root: B256 = param(params, 2, "parentBeaconBlockRoot")?;
                        let sidecar =
                            ExecutionPayloadSidecar::v3(CancunPayloadFields::new(root, hashes));
                        (ExecutionPayload::V3(payload), sidecar)
                    }
                };
                to_json(self.new_payload(version, payload, sidecar)?)
            }
            EngineMethod::ExchangeCapabilities => {
                let _theirs: Vec<String> = param(params, 0, "capabilities")?;
                to_json(capabilities())
            }
            EngineMethod::GetClientVersion => Ok(json!([{
                "code": CLIENT_CODE,
                "name": CLIENT_NAME,
                "version": env!("CARGO_PKG_VERSION"),
                // No commit is compiled into the devnet; the spec's field is 4 bytes.
                "commit": "0x00000000",
            }])),
            EngineMethod::GetPayloadBodiesByHash => {
                let hashes: Vec<B256> = param(params, 0, "blockHashes")?;
                if hashes.len() as u64 > MAX_BODIES {
                    return Err(too_large(hashes.len() as u64));
                }
                to_json(hashes.iter().map(|h| self.body(h)).collect::<Vec<_>>())
            }
            EngineMethod::GetPayloadBodiesByRange => {
                let start: U64 = param(params, 0, "start")?;
                let count: U64 = param(params, 1, "count")?;
                let (start, count) = (start.to::<u64>(), count.to::<u64>());
                if start == 0 || count == 0 {
                    return Err(RpcError::invalid_params("start and count must be at least 1"));
                }
                if count > MAX_BODIES {
                    return Err(too_large(count));
                }
                let head = self.head().number;
                let bodies: Vec<_> = (start..start.saturating_add(count))
                    .take_while(|n| *n <= head)
                    .map(|n| self.canonical_hash(n).and_then(|h| self.body(&h)))
                    .collect();
                to_json(bodies)
            }
        }
    }

    fn body(&self, hash: &B256) -> Option<ExecutionPayloadBodyV1> {
        let block = self.chain.block(hash)?;
        Some(ExecutionPayloadBodyV1 {
            transactions: block
                .txs
                .iter()
                .map(|t| alloy_eips::eip2718::Encodable2718::encoded_2718(t.tx.inner()).into())
                .collect(),
            withdrawals: block.withdrawals.clone(),
        })
    }
}

fn too_large(n: u64) -> RpcError {
    RpcError::new(
        RpcErrorCode::TooLargeRequest,
        format!("Too large request: {n} bodies asked, at most {MAX_BODIES}"),
    )
}

fn payload_shape(p: &ExecutionPayload) -> &'static str {
    match p {
        ExecutionPayload::V1(_) => "V1",
        ExecutionPayload::V2(_) => "V2",
        ExecutionPayload::V3(_) => "V3",
        ExecutionPayload::V4(_) => "V4",
    }
}

/// The versioned methods the devnet speaks (Prague's V4 methods are not among them).
pub(crate) fn capabilities() -> Vec<&'static str> {
    EngineMethod::capabilities().into_iter().filter(|name| !name.ends_with("V4")).collect()
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
        constants::BRIDGE_ADDRESS,
        pegout::{RequestPegOut, requestPegOutCall},
    };
    use serde_json::{Value, json};

    fn ok(d: &mut Devnet, method: &str, params: Value) -> Value {
        d.handle(method, &params).unwrap_or_else(|e| panic!("{method}: {e:?}"))
    }

    fn code(d: &mut Devnet, method: &str, params: Value) -> i64 {
        d.handle(method, &params).unwrap_err().code
    }

    /// A devnet with block 1 (a transfer and a peg-in) and block 2 (a peg-out).
    fn two_blocks() -> Devnet {
        let mut d = Devnet::new(&genesis(None)).unwrap();
        d.send_raw_transaction(&transfer(&key(0), 0, Address::repeat_byte(0x22), ETH)).unwrap();
        produce(&mut d, vec![peg_in(0, Address::repeat_byte(0x33), 1_000)]);
        let input = requestPegOutCall { _bitcoinAddress: Bytes::from_static(b"bc1qdevnet") };
        let raw =
            tx1559(&key(1), 0, BRIDGE_ADDRESS, U256::from(ETH), input.abi_encode().into(), 100_000);
        d.send_raw_transaction(&raw).unwrap();
        produce(&mut d, vec![]);
        d
    }

    /// Block, transaction and receipt JSON as geth shapes them.
    #[test]
    fn block_and_receipt_wire_shapes() {
        let mut d = two_blocks();
        let block = ok(&mut d, "eth_getBlockByNumber", json!(["0x1", true]));
        insta::assert_json_snapshot!("block_1_full", block);
        let hashes = ok(&mut d, "eth_getBlockByNumber", json!(["0x1", false]));
        assert_eq!(hashes["transactions"][0], block["transactions"][0]["hash"]);
        let tx = block["transactions"][0]["hash"].clone();
        assert_eq!(ok(&mut d, "eth_getTransactionByHash", json!([tx]))["blockNumber"], "0x1");
        let pegout =
            ok(&mut d, "eth_getBlockByNumber", json!(["latest", false]))["transactions"][0].clone();
        let receipt = ok(&mut d, "eth_getTransactionReceipt", json!([pegout]));
        insta::assert_json_snapshot!("peg_out_receipt", receipt);
        let receipts = ok(&mut d, "eth_getBlockReceipts", json!(["latest"]));
        assert_eq!(receipts[0], receipt);
        assert_eq!(ok(&mut d, "eth_getBlockByNumber", json!(["0x9", false])), Value::Null);
        assert_eq!(
            ok(&mut d, "eth_getTransactionReceipt", json!([alloy_primitives::B256::ZERO])),
            Value::Null
        );
    }

    /// getPayloadV2 answers `{executionPayload, blockValue}` with the spec's field names.
    #[test]
    fn get_payload_v2_wire_shape() {
        let mut d = Devnet::new(&genesis(None)).unwrap();
        d.send_raw_transaction(&transfer(&key(0), 0, Address::repeat_byte(0x22), ETH)).unwrap();
        let head = d.genesis_hash();
        let attrs = json!({"timestamp": "0x2", "prevRandao": alloy_primitives::B256::ZERO,
            "suggestedFeeRecipient": engine_types::constants::DEAD_ADDRESS,
            "withdrawals": [{"index": "0x0", "validatorIndex": "0x0",
                             "address": Address::repeat_byte(0x33), "amount": "0x64"}]});
        let fcu = ok(
            &mut d,
            "engine_forkchoiceUpdatedV2",
            json!([{"headBlockHash": head,
            "safeBlockHash": head, "finalizedBlockHash": head}, attrs]),
        );
        let built = ok(&mut d, "engine_getPayloadV2", json!([fcu["payloadId"]]));
        insta::assert_json_snapshot!("get_payload_v2", built);
        let status = ok(&mut d, "engine_newPayloadV2", json!([built["executionPayload"]]));
        assert_eq!(status["status"], "VALID");
        let bodies = ok(&mut d, "engine_getPayloadBodiesByRangeV1", json!(["0x1", "0x5"]));
        assert_eq!(bodies.as_array().unwrap().len(), 0, "block 1 is not canonical yet");
        let hash = built["executionPayload"]["blockHash"].clone();
        let bodies = ok(&mut d, "engine_getPayloadBodiesByHashV1", json!([[hash, head]]));
        assert_eq!(bodies[0]["transactions"], built["executionPayload"]["transactions"]);
        assert_eq!(bodies[1]["transactions"], json!([]));
        assert_eq!(
            code(&mut d, "engine_getPayloadBodiesByRangeV1", json!(["0x1", "0x401"])),
            -38004
        );
        assert_eq!(code(&mut d, "engine_newPayloadV2", json!([{"bad": 1}])), -32602);
    }

    /// State queries read the requested block; `pending` counts pooled nonces.
    #[test]
    fn state_queries_by_block() {
        let mut d = two_blocks();
        let to = Address::repeat_byte(0x22);
        assert_eq!(ok(&mut d, "eth_getBalance", json!([to, "0x0"])), json!("0x0"));
        assert_eq!(ok(&mut d, "eth_getBalance", json!([to, "latest"])), json!(U256::from(ETH)));
        assert_eq!(ok(&mut d, "eth_getBalance", json!([to])), json!(U256::from(ETH)));
        assert_eq!(code(&mut d, "eth_getBalance", json!([to, "0x99"])), -32000);
        let sender = key(0).address();
        d.send_raw_transaction(&transfer(&key(0), 1, to, 1)).unwrap();
        assert_eq!(ok(&mut d, "eth_getTransactionCount", json!([sender, "latest"])), json!("0x1"));
        assert_eq!(ok(&mut d, "eth_getTransactionCount", json!([sender, "pending"])), json!("0x2"));
        let code_hex = ok(&mut d, "eth_getCode", json!([BRIDGE_ADDRESS, "latest"]));
        assert_eq!(code_hex, json!(Bytes::from_static(crate::BRIDGE_RUNTIME_CODE)));
        assert_eq!(ok(&mut d, "eth_getCode", json!([to, "earliest"])), json!("0x"));
        assert_eq!(ok(&mut d, "eth_blockNumber", json!([])), json!("0x2"));
        assert_eq!(ok(&mut d, "eth_chainId", json!([])), json!("0x1d97c"));
        assert_eq!(ok(&mut d, "eth_syncing", json!([])), json!(false));
        // The pooled transfer runs next; one with a nonce gap waits.
        assert_eq!(
            ok(&mut d, "txpool_status", json!([])),
            json!({"pending": "0x1", "queued": "0x0"})
        );
        d.send_raw_transaction(&transfer(&key(0), 5, to, 1)).unwrap();
        assert_eq!(
            ok(&mut d, "txpool_status", json!([])),
            json!({"pending": "0x1", "queued": "0x1"})
        );
    }

    /// eth_call returns data or a revert (error 3); eth_estimateGas finds a limit that works.
    #[test]
    fn call_and_estimate() {
        let mut d = two_blocks();
        let from = key(2).address();
        let input = Bytes::from(
            requestPegOutCall { _bitcoinAddress: Bytes::from_static(b"x") }.abi_encode(),
        );
        let req = json!({"from": from, "to": BRIDGE_ADDRESS, "value": "0x1", "input": input});
        assert_eq!(ok(&mut d, "eth_call", json!([req, "latest"])), json!("0x"));
        let bad = json!({"from": from, "to": BRIDGE_ADDRESS, "input": "0xdeadbeef"});
        let err = d.handle("eth_call", &json!([bad, "latest"])).unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (3, "execution reverted"));
        assert_eq!(code(&mut d, "eth_estimateGas", json!([bad])), 3);

        let estimate: alloy_primitives::U64 =
            serde_json::from_value(ok(&mut d, "eth_estimateGas", json!([req]))).unwrap();
        let estimate = estimate.to::<u64>();
        assert!(estimate > 21_000, "{estimate}");
        let with = |gas: u64| json!({"from": from, "to": BRIDGE_ADDRESS, "value": "0x1", "input": input, "gas": format!("0x{gas:x}")});
        assert!(d.handle("eth_call", &json!([with(estimate), "latest"])).is_ok());
        assert!(d.handle("eth_call", &json!([with(estimate - 1), "latest"])).is_err());
        let transfer_estimate =
            ok(&mut d, "eth_estimateGas", json!([{"from": from, "to": from, "value": "0x1"}]));
        assert_eq!(transfer_estimate, json!("0x5208"));
    }

    /// eth_getLogs filters by range, address and topics (with OR sets and wildcards).
    #[test]
    fn logs_by_range_address_and_topics() {
        let mut d = two_blocks();
        let burner = key(1).address();
        let topic = RequestPegOut::SIGNATURE_HASH;
        let logs = |d: &mut Devnet, filter: Value| {
            ok(d, "eth_getLogs", json!([filter])).as_array().unwrap().len()
        };
        assert_eq!(logs(&mut d, json!({"fromBlock": "earliest"})), 1);
        assert_eq!(logs(&mut d, json!({"fromBlock": "0x0", "toBlock": "0x1"})), 0);
        assert_eq!(
            logs(&mut d, json!({"fromBlock": "0x0", "address": [BRIDGE_ADDRESS, burner]})),
            1
        );
        assert_eq!(logs(&mut d, json!({"fromBlock": "0x0", "address": burner})), 0);
        assert_eq!(
            logs(&mut d, json!({"fromBlock": "0x0", "topics": [topic, burner.into_word()]})),
            1
        );
        assert_eq!(
            logs(
                &mut d,
                json!({"fromBlock": "0x0", "topics": [null, [key(0).address().into_word(), burner.into_word()]]})
            ),
            1
        );
        assert_eq!(
            logs(
                &mut d,
                json!({"fromBlock": "0x0", "topics": [topic, key(0).address().into_word()]})
            ),
            0
        );
        let head = d.head().hash();
        assert_eq!(logs(&mut d, json!({"blockHash": head})), 1);
        let got = ok(&mut d, "eth_getLogs", json!([{"blockHash": head}]));
        assert_eq!(got[0]["logIndex"], "0x0");
        assert_eq!(got[0]["blockNumber"], "0x2");
        assert_eq!(
            code(&mut d, "eth_getLogs", json!([{"fromBlock": "0x2", "toBlock": "0x1"}])),
            -32602
        );
    }
}
