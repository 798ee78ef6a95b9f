//! One slot, as the module diagram of [`super`] draws it: the head to build on (the last
//! committed block, or the engine's status), re-sync and settle, build, queue, commit,
//! what-landed; then finality ([`super::finality`]) and the simulator's peg-out
//! ([`super::simulator`]).

use super::{finality::finalize, simulator::send_peg_out, *};

pub(super) fn flatten<T>(result: Result<Result<T, ActorError>, CallError>) -> Result<T, SlotError> {
    result?.map_err(SlotError::from)
}

/// One slot: produce a block on the head the last slot committed when nothing since says
/// the head may have moved; otherwise ask the engine for its status and head, re-sync with
/// it when a failure asked for it, and settle what earlier slots left unsettled first.
/// Nothing is produced once the block limit is reached. Every engine request of the slot
/// carries `correlation`.
///
/// Skipping the status question is safe: an engine that cannot build refuses the build with
/// `NotReady` (the slot then waits, as it would have), and a head that moved without a
/// `HeadChanged` reaching the Chain yet only makes the build a reorg request, which the
/// engine judges against the branch it abandons (no peg-in is minted twice).
pub(super) async fn run_slot(shared: &ChainShared, correlation: CorrelationId) -> Vec<SlotOutcome> {
    #[cfg(test)]
    assert!(!shared.panic_next_slot.swap(false, Ordering::SeqCst), "scripted panic in a slot");
    #[cfg(test)]
    if shared.hang_next_slot.swap(false, Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    let committed = shared.committed_head().take().filter(|_| {
        !shared.resync.load(Ordering::Acquire) && shared.queue().unsettled().is_empty()
    });
    let mut outcomes = Vec::new();
    let head = match committed {
        Some(head) => head,
        None => match head_from_engine(shared, correlation, &mut outcomes).await {
            Some(head) => head,
            None => return outcomes,
        },
    };
    if shared.limit_reached(outcomes.len()) {
        return outcomes;
    }
    outcomes.push(produce(shared, head, correlation).await);
    outcomes
}

/// The head to build on, from the engine: its status (a slot waits while it cannot build),
/// after a re-sync when an earlier slot asked for one, and after settling what earlier
/// slots left unsettled (their outcomes go to `outcomes`). `None`: the slot builds nothing.
async fn head_from_engine(
    shared: &ChainShared,
    correlation: CorrelationId,
    outcomes: &mut Vec<SlotOutcome>,
) -> Option<BlockRef> {
    #[cfg(test)]
    shared.status_asks.fetch_add(1, Ordering::SeqCst);
    let status = match ask_status(correlation).await {
        Ok(status) => status,
        Err(e) => {
            outcomes.push(SlotOutcome::Failed { stage: "engine", error: e.into() });
            return None;
        }
    };
    if !status.state.can_build() {
        let why = status.last_error.map_or_else(String::new, |e| format!(" ({e})"));
        outcomes.push(SlotOutcome::Waiting(format!("it is {}{why}", status.state)));
        return None;
    }
    // A re-sync asked for by an earlier slot comes first, before settling: a `Reset` met
    // while settling must not keep every later slot from re-syncing.
    let mut heads = status.heads;
    if shared.resync.swap(false, Ordering::AcqRel) {
        match resync(shared, &heads, correlation).await {
            Ok(synced) => heads = synced,
            Err(error) => {
                shared.resync.store(true, Ordering::Release);
                outcomes.push(SlotOutcome::Failed { stage: "resync", error });
                return None;
            }
        }
    }
    let unsettled = shared.queue().unsettled().to_vec();
    for entry in &unsettled {
        match what_landed(shared, entry, correlation).await {
            Ok(Some(mut line)) => {
                line.finalized = finalize(shared, line.number, line.hash, correlation).await;
                outcomes.push(SlotOutcome::Produced(line));
            }
            Ok(None) => {}
            Err(error) => {
                // Nothing is built while a block's fate is unknown: it may be the head.
                outcomes.push(SlotOutcome::Failed { stage: "settle", error });
                return None;
            }
        }
    }
    if !unsettled.is_empty() && !shared.limit_reached(outcomes.len()) {
        // Settling may have found a block that became the head.
        match ask_status(correlation).await {
            Ok(status) => heads = status.heads,
            Err(e) => {
                outcomes.push(SlotOutcome::Failed { stage: "engine", error: e.into() });
                return None;
            }
        }
    }
    Some(heads.head)
}

/// Asks the engine what became of `entry`'s block and settles its peg-ins: the minted ones
/// are done, the unminted ones go back to the queue. The block's progress line when it is
/// canonical (it landed); `Err` when the engine did not answer (the entry stays
/// unsettled).
async fn what_landed(
    shared: &ChainShared,
    entry: &Unsettled,
    correlation: CorrelationId,
) -> Result<Option<BlockLine>, SlotError> {
    let landed: Landed = flatten(
        shared
            .ask_engine(
                |reply| ChainRequest::WhatLanded {
                    correlation,
                    block: entry.block,
                    peg_ins: entry.peg_ins.clone(),
                    reply,
                },
                shared.config.timeouts.what_landed,
            )
            .await,
    )?;
    let requeued = shared.update_queue(|q| {
        let before = q.pending_len();
        q.settle(&entry.block, &landed);
        q.pending_len() - before
    });
    tracing::info!(block = entry.number, hash = %entry.block, canonical = landed.canonical,
        head = landed.head.number, minted = landed.minted.len(), requeued,
        "settled: {}", if landed.canonical { "the block landed" } else { "the block did not land" });
    Ok(landed.canonical.then_some(BlockLine {
        number: entry.number,
        hash: entry.block,
        txs: entry.txs,
        peg_ins: entry.peg_ins.len(),
        build: Duration::ZERO,
        commit: Duration::ZERO,
        finalized: false,
    }))
}

/// The timestamp of a block built now on a parent with `parent_timestamp`: the wall clock
/// when the engine will collect it, `lookahead` from now, and at least a second after its
/// parent (the Engine API requires it to grow).
fn block_timestamp(lookahead: Duration, parent_timestamp: u64) -> u64 {
    let collected = std::time::SystemTime::now()
        .checked_add(lookahead)
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or_else(engine_types::jwt::unix_now, |d| d.as_secs());
    collected.max(parent_timestamp.saturating_add(1))
}

/// Builds and commits one block on `head`.
async fn produce(shared: &ChainShared, head: BlockRef, correlation: CorrelationId) -> SlotOutcome {
    let started = Instant::now();
    if let Some(sim) = &shared.sim {
        shared.admit_simulated(sim);
    }
    // Unwritten: the file holds the peg-ins of a build as pending, as it held them before.
    let peg_ins = shared.update_queue_unsaved(PegInQueue::take_for_build);
    let timestamp = block_timestamp(shared.config.build_lookahead, head.timestamp);
    let built = flatten(
        shared
            .ask_engine(
                |reply| ChainRequest::BuildPayload {
                    correlation,
                    parent: Some(head.hash),
                    timestamp,
                    peg_ins,
                    fee_recipient: None,
                    prev_randao: None,
                    reply,
                },
                shared.config.timeouts.build,
            )
            .await,
    );
    let built = match built {
        Ok(built) => built,
        Err(error) => {
            shared.update_queue(PegInQueue::build_failed);
            if let SlotError::Engine(ActorError::Build(BuildRefusal::NotReady { state })) = &error {
                // Refused before the engine did anything: the slot waits, as it would
                // have had it asked for the status first.
                return SlotOutcome::Waiting(format!("it is {state}"));
            }
            return SlotOutcome::Failed { stage: "build", error };
        }
    };
    let build_time = started.elapsed();
    if !built.already_minted.is_empty() {
        let txids: Vec<B256> = built.already_minted.iter().map(|m| m.peg_in.bitcoin_txid).collect();
        tracing::info!(
            count = txids.len(),
            ?txids,
            "peg-ins the canonical chain already minted: dropped from the queue"
        );
    }
    let number = built.payload.block_number();
    let entry = Unsettled {
        block: built.payload.block_hash(),
        number,
        txs: built.payload.as_v1().transactions.len(),
        peg_ins: built.included.clone(),
    };
    // The engine validated the payload against this request (parent, number, timestamp, the
    // withdrawals it packed, the block hash) before answering: a payload off the request
    // comes back as its `InvalidPayload` error, handled above like any failed build.
    // The peg-ins are recorded as unsettled with the block before anyone can mint them.
    let ((), saved) = shared
        .update_queue_checked(|q| q.built(entry.clone(), &built.pending, &built.already_minted));
    if let Err(e) = saved {
        // Never committed: its peg-ins go straight back.
        shared.update_queue(|q| {
            if let Some(e) = q.landed(&entry.block) {
                q.admit_back(e.peg_ins);
            }
        });
        return SlotOutcome::Failed { stage: "queue", error: SlotError::Queue(e) };
    }
    let commit_started = Instant::now();
    let answer = shared
        .ask_engine(
            |reply| ChainRequest::CommitBuilt { correlation, id: built.payload_id, reply },
            shared.config.timeouts.commit,
        )
        .await;
    let committed: Result<Committed, SlotError> = match answer {
        Ok(Ok(c)) if c.head => Ok(c),
        Ok(Ok(c)) => Err(SlotError::NotHead { number: c.number, status: c.status }),
        Ok(Err(e)) => Err(e.into()),
        Err(e) => Err(e.into()),
    };
    let mut line = match committed {
        Ok(c) => {
            // Unwritten: until the next write (the next build's, before it can mint
            // anything) the file holds the block as unsettled, and a restart settles it by
            // asking the engine what landed, as after any crash between commit and write.
            shared.update_queue_unsaved(|q| {
                q.landed(&entry.block);
            });
            *shared.committed_head() = Some(BlockRef::new(c.hash, c.number, timestamp));
            BlockLine {
                number: c.number,
                hash: c.hash,
                txs: entry.txs,
                peg_ins: built.included.len(),
                build: build_time,
                commit: commit_started.elapsed(),
                finalized: false,
            }
        }
        Err(error) => {
            // The engine may still be finishing the commit: ask, never assume.
            tracing::info!(block = number, reason = %error, "commit not confirmed; asking what landed");
            match what_landed(shared, &entry, correlation).await {
                Ok(Some(line)) => {
                    BlockLine { build: build_time, commit: commit_started.elapsed(), ..line }
                }
                Ok(None) => return SlotOutcome::Failed { stage: "commit", error },
                Err(unknown) => {
                    let error = SlotError::Held {
                        commit: Box::new(error),
                        number,
                        unknown: Box::new(unknown),
                        peg_ins: entry.peg_ins.len(),
                    };
                    return SlotOutcome::Failed { stage: "commit", error };
                }
            }
        }
    };
    line.finalized = finalize(shared, line.number, line.hash, correlation).await;
    // After the last block of a bounded run no block would carry a peg-out: send none.
    let last = shared.config.blocks.is_some_and(|n| shared.progress.borrow().produced + 1 >= n);
    if let Some(sim) = shared.sim.as_ref().filter(|s| !last && s.peg_out_due(line.number)) {
        send_peg_out(shared, Arc::clone(sim));
    }
    SlotOutcome::Produced(line)
}
