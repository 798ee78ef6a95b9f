//! The Engine API as a narrow, transport-agnostic trait, and the layer that picks each
//! call's version from the fork schedule.
//!
//! [`EngineApi`] is dyn-compatible (`Arc<dyn EngineApi>`) so that the engine actor can be
//! tested against a fake: its methods return a boxed future ([`BoxFuture`]). The box is one
//! allocation per call, next to an HTTP round trip that allocates dozens and takes at least
//! tens of microseconds on loopback; the `engine_call` benchmark measures the client as a
//! whole against a raw `reqwest` POST.
//!
//! Each method reads like the wire: it names one JSON-RPC method, takes an explicit version,
//! and returns the checked answer (statuses already held to the spec by
//! [`PayloadStatusWire::check_new_payload`](engine_types::PayloadStatusWire::check_new_payload)
//! and [`ForkchoiceUpdatedWire::check`](engine_types::ForkchoiceUpdatedWire::check)).
//! [`Versioned`] chooses the version from the payload's or the attributes' timestamp.

use engine_types::{
    ApiVersion, EngineError, EngineMethod, ForkSchedule, ForkchoiceOutcome, GetPayloadResponse,
    PayloadStatus,
    engine::{
        ClientVersionV1, ExecutionPayload, ExecutionPayloadBodyV1, ExecutionPayloadSidecar,
        ForkchoiceState, PayloadAttributes, PayloadId,
    },
    primitives::B256,
};
use std::{fmt, future::Future, pin::Pin};

/// A boxed, `Send` future: what [`EngineApi`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The result of one Engine API call.
pub type EngineResult<T> = Result<T, EngineError>;

/// The Engine API of one execution client.
pub trait EngineApi: Send + Sync + fmt::Debug {
    /// `engine_forkchoiceUpdatedV{1,2,3}`: set the head (and safe/finalized); with
    /// attributes, start a build on it.
    fn forkchoice_updated(
        &self,
        version: ApiVersion,
        state: ForkchoiceState,
        attributes: Option<PayloadAttributes>,
    ) -> BoxFuture<'_, EngineResult<ForkchoiceOutcome>>;

    /// `engine_getPayloadV{1,2,3,4}`: fetch a build.
    fn get_payload(
        &self,
        version: ApiVersion,
        payload_id: PayloadId,
    ) -> BoxFuture<'_, EngineResult<GetPayloadResponse>>;

    /// `engine_newPayloadV{1,2,3,4}`: hand over a block to validate.
    fn new_payload(
        &self,
        version: ApiVersion,
        payload: ExecutionPayload,
        sidecar: ExecutionPayloadSidecar,
    ) -> BoxFuture<'_, EngineResult<PayloadStatus>>;

    /// `engine_exchangeCapabilities`: our methods in, the EL's out.
    fn exchange_capabilities(&self, ours: Vec<String>) -> BoxFuture<'_, EngineResult<Vec<String>>>;

    /// `engine_getClientVersionV1`: our version in, the EL's out (one per client in a
    /// multiplexer).
    fn get_client_version(
        &self,
        ours: ClientVersionV1,
    ) -> BoxFuture<'_, EngineResult<Vec<ClientVersionV1>>>;

    /// `engine_getPayloadBodiesByHashV1`: one entry per hash, `None` for unknown blocks.
    fn get_payload_bodies_by_hash(
        &self,
        hashes: Vec<B256>,
    ) -> BoxFuture<'_, EngineResult<Vec<Option<ExecutionPayloadBodyV1>>>>;

    /// `engine_getPayloadBodiesByRangeV1`: `count` bodies from block `start`.
    fn get_payload_bodies_by_range(
        &self,
        start: u64,
        count: u64,
    ) -> BoxFuture<'_, EngineResult<Vec<Option<ExecutionPayloadBodyV1>>>>;
}

impl<T: EngineApi + ?Sized> EngineApi for std::sync::Arc<T> {
    fn forkchoice_updated(
        &self,
        version: ApiVersion,
        state: ForkchoiceState,
        attributes: Option<PayloadAttributes>,
    ) -> BoxFuture<'_, EngineResult<ForkchoiceOutcome>> {
        (**self).forkchoice_updated(version, state, attributes)
    }

    fn get_payload(
        &self,
        version: ApiVersion,
        payload_id: PayloadId,
    ) -> BoxFuture<'_, EngineResult<GetPayloadResponse>> {
        (**self).get_payload(version, payload_id)
    }

    fn new_payload(
        &self,
        version: ApiVersion,
        payload: ExecutionPayload,
        sidecar: ExecutionPayloadSidecar,
    ) -> BoxFuture<'_, EngineResult<PayloadStatus>> {
        (**self).new_payload(version, payload, sidecar)
    }

    fn exchange_capabilities(&self, ours: Vec<String>) -> BoxFuture<'_, EngineResult<Vec<String>>> {
        (**self).exchange_capabilities(ours)
    }

    fn get_client_version(
        &self,
        ours: ClientVersionV1,
    ) -> BoxFuture<'_, EngineResult<Vec<ClientVersionV1>>> {
        (**self).get_client_version(ours)
    }

    fn get_payload_bodies_by_hash(
        &self,
        hashes: Vec<B256>,
    ) -> BoxFuture<'_, EngineResult<Vec<Option<ExecutionPayloadBodyV1>>>> {
        (**self).get_payload_bodies_by_hash(hashes)
    }

    fn get_payload_bodies_by_range(
        &self,
        start: u64,
        count: u64,
    ) -> BoxFuture<'_, EngineResult<Vec<Option<ExecutionPayloadBodyV1>>>> {
        (**self).get_payload_bodies_by_range(start, count)
    }
}

/// Picks each call's method version from the fork schedule and the timestamp of what the call
/// concerns (never the wall clock).
#[derive(Debug, Clone)]
pub struct Versioned<A> {
    api: A,
    schedule: ForkSchedule,
}

impl<A: EngineApi> Versioned<A> {
    /// Versions `api`'s calls by `schedule`.
    pub const fn new(api: A, schedule: ForkSchedule) -> Self {
        Self { api, schedule }
    }

    /// The wrapped API.
    pub const fn inner(&self) -> &A {
        &self.api
    }

    /// The schedule.
    pub const fn schedule(&self) -> &ForkSchedule {
        &self.schedule
    }

    /// `forkchoiceUpdated` in the version of the attributes' timestamp, or, without
    /// attributes, of `head_timestamp` (the head block's).
    pub async fn forkchoice_updated(
        &self,
        state: ForkchoiceState,
        attributes: Option<PayloadAttributes>,
        head_timestamp: u64,
    ) -> EngineResult<ForkchoiceOutcome> {
        let ts = attributes.as_ref().map_or(head_timestamp, |a| a.timestamp);
        let version = self.schedule.version_for(EngineMethod::ForkchoiceUpdated, ts);
        self.api.forkchoice_updated(version, state, attributes).await
    }

    /// `getPayload` in the version of the build's timestamp.
    pub async fn get_payload(
        &self,
        payload_id: PayloadId,
        timestamp: u64,
    ) -> EngineResult<GetPayloadResponse> {
        let version = self.schedule.version_for(EngineMethod::GetPayload, timestamp);
        self.api.get_payload(version, payload_id).await
    }

    /// `newPayload` in the version of the payload's timestamp.
    pub async fn new_payload(
        &self,
        payload: ExecutionPayload,
        sidecar: ExecutionPayloadSidecar,
    ) -> EngineResult<PayloadStatus> {
        let version = self.schedule.version_for(EngineMethod::NewPayload, payload.timestamp());
        self.api.new_payload(version, payload, sidecar).await
    }
}
