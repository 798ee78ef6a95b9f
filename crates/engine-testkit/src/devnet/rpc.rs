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
                // No commit is compiled into the testkit; the spec's field is 4 bytes.
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
