//! The slot's simulator step on the embedded devnet: a peg-out sent to the bridge every
//! `peg_out_every` blocks ([`Simulator`]), within the rate the transaction endpoint admits
//! from it, in a task the Chain owns.

use super::*;
use crate::sim::PegOutError;

/// Sends one simulated peg-out in a task owned through `ChainShared::peg_out` (at most one
/// in flight; the actor reaps it, and its panic fails the actor). It ends by itself within
/// the RPC clients' timeouts; a peg-out due while the previous one is not reaped yet is not
/// sent (the simulator sends another at the next due block).
pub(super) fn send_peg_out(shared: &ChainShared, sim: Arc<Simulator>) {
    let mut peg_out = shared.peg_out.lock().unwrap_or_else(PoisonError::into_inner);
    if peg_out.is_some() {
        tracing::warn!("peg-out not sent: the previous one is still in flight");
        return;
    }
    if !sim.within_rate(tokio::time::Instant::now()) {
        tracing::debug!("peg-out not sent: over the transaction endpoint's rate for it");
        return;
    }
    *peg_out = Some(tokio::spawn(
        async move {
            match sim.send_peg_out().await {
                Ok(hash) => tracing::info!(tx = %hash, "peg-out transaction sent to the bridge"),
                Err(e @ PegOutError::Paced(_)) => {
                    tracing::debug!(error = %e, "peg-out transaction not sent");
                }
                Err(e @ PegOutError::Failed(_)) => {
                    tracing::warn!(error = %e, "peg-out transaction not sent");
                }
            }
        }
        .in_current_span(),
    ));
}
