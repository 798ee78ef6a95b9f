//! The Bridge actor: told by the engine about the peg-out requests of every committed block
//! (`BurnEventsDetected`), it records them in the log and in metrics. A real bridge would
//! hand the payable ones to the federation for signing; this one reports them honestly,
//! including the requests that burned coins but cannot be paid and the undecodable events.

use crate::metrics;
use engine_actor::peers::BurnEventsDetected;
use ractor::{Actor, ActorProcessingErr, ActorRef};

/// The Bridge actor (no configuration).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BridgeActor;

impl Actor for BridgeActor {
    type Msg = BurnEventsDetected;
    type State = ();
    type Arguments = ();

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        (): (),
    ) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        events: BurnEventsDetected,
        (): &mut (),
    ) -> Result<(), ActorProcessingErr> {
        #[cfg(test)]
        crate::actors::fault::check(engine_actor::supervision::tree::names::BRIDGE_ACTOR);
        let block = events.block_number;
        for request in &events.payable {
            ::metrics::counter!(metrics::PEG_OUTS, "kind" => "payable").increment(1);
            tracing::info!(
                block,
                tx = %request.tx_hash,
                from = %request.evm_address,
                bitcoin_address = %String::from_utf8_lossy(&request.bitcoin_address),
                sats = request.amount.0,
                "peg-out requested"
            );
        }
        for unpayable in &events.not_payable {
            ::metrics::counter!(metrics::PEG_OUTS, "kind" => "not_payable").increment(1);
            tracing::warn!(
                block,
                tx = %unpayable.request.tx_hash,
                from = %unpayable.request.evm_address,
                sats = unpayable.request.amount.0,
                reasons = ?unpayable.reasons,
                "peg-out burned but not payable"
            );
        }
        for malformed in &events.malformed {
            ::metrics::counter!(metrics::PEG_OUTS, "kind" => "malformed").increment(1);
            tracing::warn!(block, tx = %malformed.tx_hash, log_index = malformed.log_index,
                reason = %malformed.reason, "undecodable bridge event");
        }
        Ok(())
    }
}
