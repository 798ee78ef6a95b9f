//! A scripted in-memory execution layer behind the actor's `ExecutionPort`: a real chain of
//! headers (hashes computed like an EL does, so the engine's validation passes), with faults
//! queued per operation and every call recorded.
//!
//! Its forkchoice rules are Geth's by default (`eth/catalyst/api.go`, `forkchoiceUpdated`):
//! an unknown head is SYNCING; a head that is a canonical ancestor of the current head is
//! skipped ("Ignoring beacon update to old head": VALID for that head, no rewind, safe and
//! finalized untouched, and no build even with attributes, which the pool reports as
//! `ClientError::BuildSkipped`); any other known head becomes canonical (a reorg to a side
//! chain). [`FakeEl::rewinding`] gives EthereumJS's behaviour instead: it moves back.

use alloy_consensus::{Header, Receipt, ReceiptEnvelope, ReceiptWithBloom};
use alloy_rpc_types_eth::{Block, BlockTransactions, TransactionReceipt};
use alloy_sol_types::SolEvent;
use engine_actor::port::{Account, ExecutionPort};
use engine_client::{
    BoxFuture,
    breaker::BreakerState,
    error::ClientError,
    eth::TxPoolStatus,
    health::{EndpointState, EndpointStatus},
    pool::{CommitOutcome, PoolBuild},
};
use engine_types::{
    EngineError, ForkchoiceOutcome, GetPayloadResponse, PayloadStatus, RpcErrorCode,
    TransportError,
    constants::BRIDGE_ADDRESS,
    eips::{
        BlockId, BlockNumberOrTag,
        eip1559::{BaseFeeParams, calc_next_block_base_fee},
        eip4895::{Withdrawal, Withdrawals},
    },
    engine::{
        ExecutionPayload, ExecutionPayloadSidecar, ExecutionPayloadV1, ExecutionPayloadV2,
        ForkchoiceState, PayloadAttributes, PayloadId,
    },
    pegout::RequestPegOut,
    primitives::{Address, B256, Bloom, Bytes, U256},
};
use engine_validation::payload::rebuild_header;
use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

/// The operations faults can be queued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    Build,
    Commit,
    Forkchoice,
    Block,
    Receipts,
    SendTx,
}

/// What a faulty call does instead of its normal work.
#[derive(Debug, Clone)]
pub(crate) enum Fault {
    /// `newPayload` answers this status (no forkchoice update follows unless VALID).
    NewPayloadStatus(PayloadStatus),
    /// The forkchoice update answers this status.
    ForkchoiceStatus(PayloadStatus),
    /// The call fails with this error.
    Fail(ClientError),
    /// The call never returns.
    Hang,
    /// The call does its normal work after this long (a slow EL that finishes anyway).
    Delay(Duration),
    /// The call does its normal work, but its reply is lost: the caller sees a timeout.
    LoseReply,
    /// The call does its normal work and answers once the test opens the gate (a slow EL
    /// that the test releases; builds and block receipts only).
    Gate(std::sync::Arc<tokio::sync::Notify>),
}

impl Fault {
    /// A JSON-RPC error with `code`.
    pub(crate) fn rpc(code: i64) -> Self {
        Self::Fail(ClientError::Engine(EngineError::Rpc {
            method: "engine_fake".into(),
            code: RpcErrorCode::from_code(code),
            message: format!("scripted {code}"),
            data: None,
        }))
    }

    /// A request timeout.
    pub(crate) fn timeout() -> Self {
        Self::Fail(ClientError::Engine(EngineError::Transport(TransportError::Timeout {
            method: "engine_fake".into(),
            after: Duration::from_secs(8),
        })))
    }

    /// The EL refused our JWT.
    pub(crate) fn auth() -> Self {
        Self::Fail(ClientError::Engine(EngineError::Auth {
            endpoint: "fake".into(),
            status: 401,
            clock_gap: None,
        }))
    }
}

/// A recorded call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Call {
    Build { state: ForkchoiceState, attributes: PayloadAttributes },
    Commit { block: B256, forkchoice: ForkchoiceState },
    Forkchoice(ForkchoiceState),
    SendTx(Bytes),
}

#[derive(Debug, Clone)]
struct Stored {
    header: Header,
    withdrawals: Vec<Withdrawal>,
}

#[derive(Debug, Default)]
struct Chain {
    blocks: HashMap<B256, Stored>,
    canonical: HashMap<u64, B256>,
    head: B256,
    payloads: HashMap<PayloadId, ExecutionPayloadV2>,
    next_id: u64,
    receipts: HashMap<B256, Vec<TransactionReceipt>>,
    next_block_receipts: Option<Vec<TransactionReceipt>>,
    accounts: HashMap<Address, Account>,
    faults: HashMap<Op, VecDeque<Fault>>,
    calls: Vec<Call>,
    endpoints: Vec<EndpointStatus>,
}

/// The fake EL.
#[derive(Debug)]
pub(crate) struct FakeEl {
    chain: Mutex<Chain>,
    panic_on_status: AtomicBool,
    /// EthereumJS: a forkchoice update to a canonical ancestor moves the head back.
    rewinds: AtomicBool,
    /// The next forkchoice update panics (a bug inside the forkchoice worker).
    panic_on_forkchoice: AtomicBool,
    /// The next block-receipts read panics (a bug inside the peg-out scan lane).
    panic_on_receipts: AtomicBool,
    /// How many times the engine read the endpoints' health (every tick does once).
    endpoint_reads: AtomicUsize,
    /// Block lookups (by hash, number or tag) answered.
    block_reads: AtomicUsize,
}

pub(crate) fn endpoint(name: &str, state: EndpointState, breaker: BreakerState) -> EndpointStatus {
    EndpointStatus { state, breaker, ..EndpointStatus::unknown(name) }
}

fn genesis() -> Header {
    Header {
        number: 0,
        gas_limit: 30_000_000,
        base_fee_per_gas: Some(1_000_000_000),
        withdrawals_root: Some(alloy_consensus::constants::EMPTY_WITHDRAWALS),
        ..Header::default()
    }
}

impl Default for FakeEl {
    fn default() -> Self {
        let header = genesis();
        let hash = header.hash_slow();
        let mut chain = Chain {
            head: hash,
            endpoints: vec![endpoint("fake", EndpointState::Synced, BreakerState::Closed)],
            ..Chain::default()
        };
        chain.canonical.insert(0, hash);
        chain.blocks.insert(hash, Stored { header, withdrawals: Vec::new() });
        Self {
            chain: Mutex::new(chain),
            panic_on_status: AtomicBool::new(false),
            rewinds: AtomicBool::new(false),
            panic_on_forkchoice: AtomicBool::new(false),
            panic_on_receipts: AtomicBool::new(false),
            endpoint_reads: AtomicUsize::new(0),
            block_reads: AtomicUsize::new(0),
        }
    }
}

impl FakeEl {
    fn lock(&self) -> MutexGuard<'_, Chain> {
        self.chain.lock().unwrap()
    }

    /// A fake EL that rewinds to an older head like EthereumJS (not Geth or Reth).
    pub(crate) fn rewinding() -> Self {
        let el = Self::default();
        el.rewinds.store(true, Ordering::SeqCst);
        el
    }

    /// Makes the block `hash` (known) the EL's head as its own commit would, behind the
    /// engine's back: what an EL holds after a crash between its commit and our write.
    pub(crate) fn advance_to(&self, hash: B256) {
        let mut c = self.lock();
        let state = ForkchoiceState::same_hash(hash);
        let status = Self::apply_forkchoice(&mut c, state).unwrap();
        assert!(status.is_valid(), "{status:?}");
    }

    /// Builds and imports a child of the EL's head with `withdrawals`, without the engine,
    /// and makes it the head; returns its hash.
    pub(crate) fn extend(&self, timestamp: u64, withdrawals: Vec<Withdrawal>) -> B256 {
        let head = self.head();
        let payload = self.foreign_payload(head, timestamp, withdrawals.clone());
        let hash = payload.block_hash();
        let header = rebuild_header(&payload, &ExecutionPayloadSidecar::none()).unwrap();
        self.lock().blocks.insert(hash, Stored { header, withdrawals });
        self.advance_to(hash);
        hash
    }

    /// The genesis hash.
    pub(crate) fn genesis(&self) -> B256 {
        self.lock().canonical[&0]
    }

    /// The EL's head.
    pub(crate) fn head(&self) -> B256 {
        self.lock().head
    }

    /// The EL's head number.
    pub(crate) fn head_number(&self) -> u64 {
        let c = self.lock();
        c.blocks[&c.head].header.number
    }

    /// Queue `fault` for the next call of `op`.
    pub(crate) fn fault(&self, op: Op, fault: Fault) {
        self.lock().faults.entry(op).or_default().push_back(fault);
    }

    /// Every call so far.
    pub(crate) fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Replace the endpoints' health.
    pub(crate) fn set_endpoints(&self, endpoints: Vec<EndpointStatus>) {
        self.lock().endpoints = endpoints;
    }

    /// How many times the engine read the endpoints' health so far (each tick reads it
    /// once, so a test can wait for ticks to have seen a change).
    pub(crate) fn endpoint_reads(&self) -> usize {
        self.endpoint_reads.load(Ordering::SeqCst)
    }

    /// How many block lookups it answered.
    pub(crate) fn block_reads(&self) -> usize {
        self.block_reads.load(Ordering::SeqCst)
    }

    /// Set an account's nonce and balance.
    pub(crate) fn set_account(&self, address: Address, account: Account) {
        self.lock().accounts.insert(address, account);
    }

    /// Make the next committed block's receipts these.
    pub(crate) fn next_block_receipts(&self, receipts: Vec<TransactionReceipt>) {
        self.lock().next_block_receipts = Some(receipts);
    }

    /// Make the next forkchoice update panic (a bug inside a forkchoice worker job).
    pub(crate) fn panic_on_next_forkchoice(&self) {
        self.panic_on_forkchoice.store(true, Ordering::SeqCst);
    }

    /// Make the next block-receipts read panic (a bug inside the peg-out scan lane).
    pub(crate) fn panic_on_next_receipts(&self) {
        self.panic_on_receipts.store(true, Ordering::SeqCst);
    }

    /// Make the next `endpoints()` call panic (a bug inside a handler).
    pub(crate) fn panic_on_next_status(&self) {
        self.panic_on_status.store(true, Ordering::SeqCst);
    }

    /// The withdrawals of a stored block.
    pub(crate) fn withdrawals_of(&self, hash: B256) -> Option<Vec<Withdrawal>> {
        self.lock().blocks.get(&hash).map(|s| s.withdrawals.clone())
    }

    /// A payload built elsewhere on `parent` (an imported block).
    pub(crate) fn foreign_payload(
        &self,
        parent: B256,
        timestamp: u64,
        withdrawals: Vec<Withdrawal>,
    ) -> ExecutionPayload {
        let c = self.lock();
        let parent = c.blocks[&parent].header.clone();
        ExecutionPayload::V2(make_payload(
            &parent,
            timestamp,
            Address::repeat_byte(0x77),
            B256::repeat_byte(5),
            withdrawals,
        ))
    }

    /// newPayload then the forkchoice update, as the pool does (after any scripted fault).
    fn commit_now(
        &self,
        payload: ExecutionPayload,
        sidecar: ExecutionPayloadSidecar,
        forkchoice: ForkchoiceState,
        fault: Option<Fault>,
    ) -> Result<CommitOutcome, ClientError> {
        let hash = payload.block_hash();
        let mut c = self.lock();
        let header = rebuild_header(&payload, &sidecar).map_err(|v| {
            ClientError::Engine(EngineError::bad_response("newPayload", v.to_string()))
        })?;
        if !c.blocks.contains_key(&header.parent_hash) {
            return Ok(outcome(Some(PayloadStatus::Syncing), None));
        }
        let withdrawals = payload.withdrawals().cloned().unwrap_or_default();
        c.blocks.insert(hash, Stored { header, withdrawals });
        if let Some(receipts) = c.next_block_receipts.take() {
            c.receipts.insert(hash, receipts);
        }
        let np = PayloadStatus::Valid { latest_valid_hash: hash };
        if let Some(Fault::ForkchoiceStatus(status)) = fault {
            return Ok(outcome(Some(np), Some(status)));
        }
        let head = forkchoice.head_block_hash;
        let fc = self
            .forkchoice(&mut c, forkchoice)?
            .unwrap_or(PayloadStatus::Valid { latest_valid_hash: head });
        Ok(outcome(Some(np), Some(fc)))
    }

    fn take_fault(&self, op: Op) -> Option<Fault> {
        self.lock().faults.get_mut(&op).and_then(VecDeque::pop_front)
    }

    fn block_id(c: &Chain, id: BlockId) -> Option<B256> {
        match id {
            BlockId::Hash(h) => Some(h.block_hash).filter(|h| c.blocks.contains_key(h)),
            BlockId::Number(BlockNumberOrTag::Number(n)) => c.canonical.get(&n).copied(),
            BlockId::Number(_) => Some(c.head),
        }
    }

    /// Applies a forkchoice state; `rewinds` selects EthereumJS over Geth for a head that
    /// is a canonical ancestor of the current one. `Ok(None)` is Geth's skip.
    fn forkchoice(
        &self,
        c: &mut Chain,
        state: ForkchoiceState,
    ) -> Result<Option<PayloadStatus>, ClientError> {
        let head = state.head_block_hash;
        let old_head = c
            .blocks
            .get(&head)
            .is_some_and(|s| c.canonical.get(&s.header.number) == Some(&head) && head != c.head);
        if old_head && !self.rewinds.load(Ordering::SeqCst) {
            return Ok(None);
        }
        Self::apply_forkchoice(c, state).map(Some)
    }

    fn apply_forkchoice(
        c: &mut Chain,
        state: ForkchoiceState,
    ) -> Result<PayloadStatus, ClientError> {
        let Some(head) = c.blocks.get(&state.head_block_hash).map(|s| s.header.clone()) else {
            return Ok(PayloadStatus::Syncing);
        };
        for h in [state.safe_block_hash, state.finalized_block_hash] {
            if !h.is_zero() && !c.blocks.contains_key(&h) {
                return Err(ClientError::Engine(EngineError::Rpc {
                    method: "engine_forkchoiceUpdatedV2".into(),
                    code: RpcErrorCode::InvalidForkchoiceState,
                    message: "unknown safe or finalized".into(),
                    data: None,
                }));
            }
        }
        // Re-point the canonical chain at the new head.
        let mut cursor = Some((state.head_block_hash, head));
        while let Some((hash, header)) = cursor {
            if c.canonical.get(&header.number) == Some(&hash) {
                break;
            }
            c.canonical.insert(header.number, hash);
            cursor =
                c.blocks.get(&header.parent_hash).map(|s| (header.parent_hash, s.header.clone()));
        }
        let mut above = c.blocks[&state.head_block_hash].header.number + 1;
        while c.canonical.remove(&above).is_some() {
            above += 1;
        }
        c.head = state.head_block_hash;
        Ok(PayloadStatus::Valid { latest_valid_hash: state.head_block_hash })
    }
}

fn make_payload(
    parent: &Header,
    timestamp: u64,
    fee_recipient: Address,
    state_root: B256,
    withdrawals: Vec<Withdrawal>,
) -> ExecutionPayloadV2 {
    let parent_hash = parent.hash_slow();
    let base_fee = calc_next_block_base_fee(
        parent.gas_used,
        parent.gas_limit,
        parent.base_fee_per_gas.unwrap_or_default(),
        BaseFeeParams::ethereum(),
    );
    let mut payload = ExecutionPayloadV2 {
        payload_inner: ExecutionPayloadV1 {
            parent_hash,
            fee_recipient,
            state_root,
            receipts_root: alloy_consensus::constants::EMPTY_RECEIPTS,
            logs_bloom: Bloom::ZERO,
            prev_randao: B256::ZERO,
            block_number: parent.number + 1,
            gas_limit: parent.gas_limit,
            gas_used: 0,
            timestamp,
            extra_data: Bytes::new(),
            base_fee_per_gas: U256::from(base_fee),
            block_hash: B256::ZERO,
            transactions: Vec::new(),
        },
        withdrawals,
    };
    let header =
        rebuild_header(&ExecutionPayload::V2(payload.clone()), &ExecutionPayloadSidecar::none())
            .unwrap();
    payload.payload_inner.block_hash = header.hash_slow();
    payload
}

fn pending<T: Send + 'static>() -> BoxFuture<'static, T> {
    Box::pin(std::future::pending())
}

fn outcome(
    payload_status: Option<PayloadStatus>,
    forkchoice: Option<PayloadStatus>,
) -> CommitOutcome {
    CommitOutcome {
        primary: "fake".into(),
        failed_over: false,
        payload_status,
        forkchoice: forkchoice.map(|status| ForkchoiceOutcome { status, payload_id: None }),
        standbys: Vec::new(),
    }
}

impl ExecutionPort for FakeEl {
    fn build_payload(
        &self,
        parent: ForkchoiceState,
        attributes: PayloadAttributes,
    ) -> BoxFuture<'_, Result<PoolBuild, ClientError>> {
        self.lock().calls.push(Call::Build { state: parent, attributes: attributes.clone() });
        let mut gate = None;
        match self.take_fault(Op::Build) {
            Some(Fault::Gate(g)) => gate = Some(g),
            Some(Fault::Hang) => return pending(),
            Some(Fault::Fail(e)) => return Box::pin(async move { Err(e) }),
            Some(Fault::ForkchoiceStatus(status)) => {
                return Box::pin(async move {
                    Err(ClientError::HeadNotValid { endpoint: "fake".into(), status })
                });
            }
            _ => {}
        }
        let result = (|| {
            let mut c = self.lock();
            match self.forkchoice(&mut c, parent)? {
                Some(PayloadStatus::Valid { .. }) => {}
                None => {
                    return Err(ClientError::BuildSkipped {
                        endpoint: "fake".into(),
                        head: parent.head_block_hash,
                    });
                }
                Some(status) => {
                    return Err(ClientError::HeadNotValid { endpoint: "fake".into(), status });
                }
            }
            let parent_header = c.blocks[&parent.head_block_hash].header.clone();
            c.next_id += 1;
            let id = PayloadId::new(c.next_id.to_be_bytes());
            let payload = make_payload(
                &parent_header,
                attributes.timestamp,
                attributes.suggested_fee_recipient,
                B256::with_last_byte(c.next_id as u8),
                attributes.withdrawals.clone().unwrap_or_default(),
            );
            c.payloads.insert(id, payload.clone());
            Ok(PoolBuild {
                response: GetPayloadResponse {
                    payload: ExecutionPayload::V2(payload),
                    block_value: U256::from(1_000u64),
                    blobs_bundle: None,
                    should_override_builder: false,
                    execution_requests: None,
                },
                payload_id: id,
                endpoint: "fake".into(),
                failed_over: false,
                sidecar: ExecutionPayloadSidecar::none(),
            })
        })();
        Box::pin(async move {
            if let Some(gate) = gate {
                gate.notified().await;
            }
            result
        })
    }

    fn commit(
        &self,
        payload: ExecutionPayload,
        sidecar: ExecutionPayloadSidecar,
        forkchoice: ForkchoiceState,
    ) -> BoxFuture<'_, Result<CommitOutcome, ClientError>> {
        let hash = payload.block_hash();
        self.lock().calls.push(Call::Commit { block: hash, forkchoice });
        let fault = self.take_fault(Op::Commit);
        if let Some(Fault::LoseReply) = fault {
            let _applied = self.commit_now(payload, sidecar, forkchoice, None);
            return Box::pin(async move {
                Err(ClientError::Engine(EngineError::Transport(TransportError::Timeout {
                    method: "engine_forkchoiceUpdatedV2".into(),
                    after: Duration::from_secs(8),
                })))
            });
        }
        if let Some(Fault::Delay(delay)) = fault {
            return Box::pin(async move {
                tokio::time::sleep(delay).await;
                self.commit_now(payload, sidecar, forkchoice, None)
            });
        }
        match fault {
            Some(Fault::Hang) => return pending(),
            Some(Fault::Fail(e)) => return Box::pin(async move { Err(e) }),
            Some(Fault::NewPayloadStatus(status)) => {
                return Box::pin(async move { Ok(outcome(Some(status), None)) });
            }
            _ => {}
        }
        let result = self.commit_now(payload, sidecar, forkchoice, fault);
        Box::pin(async move { result })
    }

    fn forkchoice_updated(
        &self,
        state: ForkchoiceState,
        _head_timestamp: u64,
    ) -> BoxFuture<'_, Result<CommitOutcome, ClientError>> {
        assert!(
            !self.panic_on_forkchoice.swap(false, Ordering::SeqCst),
            "scripted panic inside a forkchoice worker job"
        );
        self.lock().calls.push(Call::Forkchoice(state));
        let result = match self.take_fault(Op::Forkchoice) {
            Some(Fault::Hang) => return pending(),
            Some(Fault::Fail(e)) => Err(e),
            Some(Fault::ForkchoiceStatus(status)) => Ok(outcome(None, Some(status))),
            _ => self.forkchoice(&mut self.lock(), state).map(|s| {
                let valid = PayloadStatus::Valid { latest_valid_hash: state.head_block_hash };
                outcome(None, Some(s.unwrap_or(valid)))
            }),
        };
        Box::pin(async move { result })
    }

    fn block(
        &self,
        block: BlockId,
        full: bool,
    ) -> BoxFuture<'_, Result<Option<Block>, EngineError>> {
        match self.take_fault(Op::Block) {
            Some(Fault::Fail(ClientError::Engine(e))) => return Box::pin(async move { Err(e) }),
            Some(Fault::Hang) => return pending(),
            _ => {}
        }
        self.block_reads.fetch_add(1, Ordering::SeqCst);
        let c = self.lock();
        let found = Self::block_id(&c, block).map(|hash| {
            let stored = c.blocks[&hash].clone();
            let transactions = if full {
                BlockTransactions::Full(Vec::new())
            } else {
                BlockTransactions::Hashes(Vec::new())
            };
            Block {
                header: alloy_rpc_types_eth::Header {
                    hash,
                    inner: stored.header,
                    total_difficulty: None,
                    size: None,
                },
                uncles: Vec::new(),
                transactions,
                withdrawals: Some(Withdrawals::new(stored.withdrawals)),
            }
        });
        Box::pin(async move { Ok(found) })
    }

    fn block_receipts(
        &self,
        block: B256,
    ) -> BoxFuture<'_, Result<Option<Vec<TransactionReceipt>>, EngineError>> {
        assert!(
            !self.panic_on_receipts.swap(false, Ordering::SeqCst),
            "scripted panic inside the peg-out scan lane"
        );
        let gate = match self.take_fault(Op::Receipts) {
            Some(Fault::Fail(ClientError::Engine(e))) => return Box::pin(async move { Err(e) }),
            Some(Fault::Gate(gate)) => Some(gate),
            _ => None,
        };
        let c = self.lock();
        let found = c
            .blocks
            .contains_key(&block)
            .then(|| c.receipts.get(&block).cloned().unwrap_or_default());
        Box::pin(async move {
            if let Some(gate) = gate {
                gate.notified().await;
            }
            Ok(found)
        })
    }

    fn transaction_receipt(
        &self,
        tx: B256,
    ) -> BoxFuture<'_, Result<Option<TransactionReceipt>, EngineError>> {
        if let Some(Fault::Fail(ClientError::Engine(e))) = self.take_fault(Op::Receipts) {
            return Box::pin(async move { Err(e) });
        }
        let c = self.lock();
        let found = c.receipts.iter().find_map(|(block, receipts)| {
            let receipt = receipts.iter().find(|r| r.transaction_hash == tx)?;
            let number = c.blocks.get(block)?.header.number;
            Some(TransactionReceipt {
                block_hash: Some(*block),
                block_number: Some(number),
                ..receipt.clone()
            })
        });
        Box::pin(async move { Ok(found) })
    }

    fn txpool_status(&self) -> BoxFuture<'_, Result<TxPoolStatus, EngineError>> {
        // The fake keeps no pool: every submitted transaction counts as pending until a
        // block is committed after it.
        let c = self.lock();
        let last_commit = c.calls.iter().rposition(|call| matches!(call, Call::Commit { .. }));
        let pending = c.calls[last_commit.map_or(0, |i| i + 1)..]
            .iter()
            .filter(|call| matches!(call, Call::SendTx(_)))
            .count() as u64;
        Box::pin(async move { Ok(TxPoolStatus { pending, queued: 0 }) })
    }

    fn send_raw_transaction(&self, raw: Bytes) -> BoxFuture<'_, Result<B256, EngineError>> {
        self.lock().calls.push(Call::SendTx(raw.clone()));
        if let Some(Fault::Fail(ClientError::Engine(e))) = self.take_fault(Op::SendTx) {
            return Box::pin(async move { Err(e) });
        }
        let hash = engine_types::primitives::keccak256(&raw);
        Box::pin(async move { Ok(hash) })
    }

    fn account(&self, address: Address) -> BoxFuture<'_, Result<Account, EngineError>> {
        let account = self
            .lock()
            .accounts
            .get(&address)
            .copied()
            .unwrap_or(Account { nonce: 0, balance: U256::ZERO });
        Box::pin(async move { Ok(account) })
    }

    fn endpoints(&self) -> Vec<EndpointStatus> {
        self.endpoint_reads.fetch_add(1, Ordering::SeqCst);
        if self.panic_on_status.swap(false, Ordering::SeqCst) {
            panic!("scripted panic inside a handler");
        }
        self.lock().endpoints.clone()
    }
}

/// A successful receipt with one `RequestPegOut` log from the bridge.
pub(crate) fn pegout_receipt(
    tx: u8,
    from: Address,
    btc_address: &str,
    value_wei: U256,
) -> TransactionReceipt {
    let event = RequestPegOut {
        _evmAddress: from,
        _bitcoinAddress: Bytes::copy_from_slice(btc_address.as_bytes()),
        _value: value_wei,
    };
    let log = alloy_rpc_types_eth::Log {
        inner: engine_types::primitives::Log {
            address: BRIDGE_ADDRESS,
            data: event.encode_log_data(),
        },
        ..Default::default()
    };
    let receipt = Receipt { status: true.into(), cumulative_gas_used: 50_000, logs: vec![log] };
    TransactionReceipt {
        inner: ReceiptEnvelope::Eip1559(ReceiptWithBloom { receipt, logs_bloom: Bloom::ZERO }),
        transaction_hash: B256::repeat_byte(tx),
        transaction_index: Some(0),
        block_hash: None,
        block_number: None,
        gas_used: 50_000,
        effective_gas_price: 7,
        blob_gas_used: None,
        blob_gas_price: None,
        from,
        to: Some(BRIDGE_ADDRESS),
        contract_address: None,
    }
}
