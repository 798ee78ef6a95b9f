//! The Alys constants: addresses, limits and defaults that every part of the engine shares.
//!
//! Values come from the deployed Alys network (see `shared/REFERENCE.md`); each one is defined
//! once, here.

use alloy_primitives::{Address, address};
use std::time::Duration;

/// Fee recipient of every block Alys produces: fees are burned on the execution layer.
pub const DEAD_ADDRESS: Address = address!("0x000000000000000000000000000000000000dEaD");

/// The bridge contract, pre-deployed in the genesis `alloc`; it emits `RequestPegOut`.
pub const BRIDGE_ADDRESS: Address = address!("0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB");

/// Smallest peg-out the federation pays out, in satoshis. Smaller requests are burned on the
/// execution layer but not paid: they must be reported, never silently dropped.
pub const MIN_PEGOUT_SATS: u64 = 1_000_000;

/// Ethereum's `MAX_WITHDRAWALS_PER_PAYLOAD`: at most this many peg-ins become withdrawals of
/// one payload; the rest stay pending.
pub const MAX_WITHDRAWALS_PER_PAYLOAD: usize = 16;

/// Gwei per satoshi: withdrawal amounts are in Gwei and 1 sat = 10 Gwei.
pub const GWEI_PER_SAT: u64 = 10;

/// Wei per satoshi: 1 sat = 10^10 wei.
pub const WEI_PER_SAT: u64 = 10_000_000_000;

/// Wei per Gwei.
pub const WEI_PER_GWEI: u64 = 1_000_000_000;

/// Default authenticated Engine API endpoint of a local execution client.
pub const DEFAULT_ENGINE_URL: &str = "http://127.0.0.1:8551";

/// Default public JSON-RPC endpoint of a local execution client.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8545";

/// Chain id of the Alys main network.
pub const CHAIN_ID_MAIN: u64 = 727_272;

/// Chain id of Alys development networks.
pub const CHAIN_ID_DEV: u64 = 121_212;

/// Slot duration on the main network.
pub const SLOT_DURATION_MAIN: Duration = Duration::from_secs(5);

/// Slot duration in development configurations.
pub const SLOT_DURATION_DEV: Duration = Duration::from_secs(2);

/// Largest `extraData` a header may carry, in bytes.
pub const MAX_EXTRA_DATA_BYTES: usize = 32;
