//! The slot's finality step: every `finalize_every` blocks, the block just committed is
//! finalized at the engine (`SetFinalized`); a failure is counted and logged, and the next
//! due block tries again.

use super::{slot::flatten, *};

/// Finalizes block `number` every `finalize_every` blocks; whether it did.
pub(super) async fn finalize(
    shared: &ChainShared,
    number: u64,
    hash: B256,
    correlation: CorrelationId,
) -> bool {
    let k = shared.config.finalize_every;
    if k == 0 || !number.is_multiple_of(k) {
        return false;
    }
    let result = flatten(
        shared
            .ask_engine(
                |reply| ChainRequest::SetFinalized { correlation, hash, reply },
                shared.config.timeouts.finalize,
            )
            .await,
    );
    match result {
        Ok(_) => true,
        Err(reason) => {
            ::metrics::counter!(metrics::SLOT_FAILURES, "stage" => "finalize").increment(1);
            tracing::warn!(block = number, %reason, "finalization not recorded");
            false
        }
    }
}
