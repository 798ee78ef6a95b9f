//! Reading JSON-RPC params and writing results, with -32602 for anything that does not fit.

use crate::rpc_server::RpcError;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use std::ops::RangeInclusive;

/// The params array, refused with -32602 unless its length is in `allowed`.
pub(super) fn positional<'a>(
    method: &str,
    params: &'a Value,
    allowed: RangeInclusive<usize>,
) -> Result<&'a [Value], RpcError> {
    let Value::Array(items) = params else {
        return Err(RpcError::invalid_params(format!("{method}: params must be an array")));
    };
    if !allowed.contains(&items.len()) {
        let expected = if allowed.start() == allowed.end() {
            allowed.start().to_string()
        } else {
            format!("{} to {}", allowed.start(), allowed.end())
        };
        return Err(RpcError::invalid_params(format!(
            "{method}: expected {expected} params, found {}",
            items.len()
        )));
    }
    Ok(items)
}

/// Parse one param, refused with -32602 naming it.
pub(super) fn parse<T: DeserializeOwned>(value: &Value, what: &str) -> Result<T, RpcError> {
    T::deserialize(value).map_err(|e| RpcError::invalid_params(format!("invalid {what}: {e}")))
}

/// An optional param: absent and `null` both mean `None`.
pub(super) fn parse_opt<T: DeserializeOwned>(
    items: &[Value],
    index: usize,
    what: &str,
) -> Result<Option<T>, RpcError> {
    match items.get(index) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => parse(v, what).map(Some),
    }
}

/// Serialize a result. The mock's result types are plain data, so this only fails on a bug,
/// which is reported to the caller as -32603.
pub(super) fn to_json<T: Serialize>(value: &T) -> Result<Value, RpcError> {
    serde_json::to_value(value).map_err(|e| {
        RpcError::new(engine_types::RpcErrorCode::InternalError, format!("serialize: {e}"))
    })
}
