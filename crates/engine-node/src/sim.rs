//! The devnet's simulated users: peg-ins arriving every slot (as a bitcoin watcher would
//! report them) and, every few blocks, a peg-out transaction to the bridge contract, signed
//! with a development key and sent through the node's transaction endpoint (so it takes the
//! Network actor → `ValidateTransaction` path like any user's transaction). Peg-outs keep
//! to the per-client rate that endpoint applies to them (the engine's `rate_limit`): one
//! due while the simulator's own copy of that bucket is empty is not sent, as a user told to
//! retry later would wait, instead of being sent to be refused (at `--slot-time 1ms` and a
//! peg-out every 5 blocks, four in five were, each a warning line).
//!
//! The copy holds one token fewer than the endpoint's bucket. It takes its token when the
//! peg-out is due; the endpoint takes its own a nonce lookup and a request later, and that
//! delay varies. While the buckets are full, a copy of the same size would fill up at other
//! moments than the endpoint's and could end up ahead of it: a 100,000-block soak saw one
//! peg-out refused "retry after 0 ms". One token of margin covers a variation of the delay of
//! up to one token's refill time (62.5 ms at the default 16 per second; the proof is on
//! [`Simulator::new`]). Past that, the endpoint's refusal is pacing, not a failure
//! ([`PegOutError::Paced`]).

use crate::{rpc::RpcClient, server::gate::LIMIT};
use alloy_signer_local::PrivateKeySigner;
use axum::http::StatusCode;
use engine_actor::rate_limit::{RateLimitConfig, RateLimiter};
use engine_devnet::keys::{Transfer, sign_transfer};
use engine_types::{
    EngineError, PegIn, Satoshis, TransportError,
    primitives::{Address, B256, Bytes, keccak256},
};

/// Why a simulated peg-out was not sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PegOutError {
    /// The transaction endpoint answered that the simulator is over its rate: it paces the
    /// simulated user, who sends again at the next due block. Expected now and then (the
    /// module docs), so not a failure.
    #[error("paced by the transaction endpoint: {0}")]
    Paced(EngineError),
    /// The nonce lookup, the signing or the submission failed.
    #[error("{0}")]
    Failed(String),
}

impl PegOutError {
    /// Sorts the submission's error: "limit exceeded" (in a JSON-RPC answer, or with HTTP
    /// 429 from the endpoint's global bucket) is pacing; anything else a failure.
    fn of_submission(error: EngineError) -> Self {
        let paced = match &error {
            EngineError::Rpc { code, .. } => code.code() == LIMIT,
            EngineError::Transport(TransportError::HttpStatus { status, .. }) => {
                *status == StatusCode::TOO_MANY_REQUESTS.as_u16()
            }
            _ => false,
        };
        if paced { Self::Paced(error) } else { Self::Failed(error.to_string()) }
    }
}

/// The regtest address peg-outs pay to (BIP-173's P2WPKH test vector).
pub(crate) const PEG_OUT_ADDRESS: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

/// Each simulated peg-out burns 0.02 BTC (twice the payable minimum).
pub(crate) const PEG_OUT_SATS: u64 = 2_000_000;

/// The development key that sends peg-outs (index 1: key 0 is left to the user's own
/// experiments with the well-known first dev account).
const PEG_OUT_KEY: usize = 1;

/// How many distinct addresses simulated peg-ins go to. A fresh address per peg-in would
/// grow the world state by an account every peg-in for as long as the node runs (and the
/// embedded devnet keeps whole states in memory); real users' accounts, not the simulator,
/// should be what grows the state.
pub(crate) const RECIPIENTS: u64 = 1024;

/// The simulated users.
#[derive(Debug)]
pub(crate) struct Simulator {
    peg_ins_per_slot: u32,
    peg_out_every: u64,
    chain_id: u64,
    signer: PrivateKeySigner,
    /// The execution client's public endpoint (nonces).
    public: RpcClient,
    /// The node's own transaction endpoint.
    tx_endpoint: RpcClient,
    /// The per-client bucket the endpoint holds for the simulator, mirrored.
    pace: std::sync::Mutex<RateLimiter>,
}

/// The one key of the simulator's bucket.
const PACE_KEY: &str = "simulator";

impl Simulator {
    /// Simulated users on chain `chain_id`, whose transactions the endpoint admits at
    /// `rate` (the engine's per-client limit).
    ///
    /// The copy of the endpoint's bucket holds `burst - 1` (at least 1). Why that is enough:
    /// with rate `r`, a bucket of size `B` that started full holds at time `t`
    /// `min over s ≤ t of (B + r(t - s) - tokens taken in (s, t))`. The copy takes its token
    /// for a peg-out at `t_i`, the endpoint at `t_i + d_i`, with every delay `d` in
    /// `[D, D + J]`. Just before taking its token for peg-out `i`, the endpoint took at most
    /// what the copy took in a window `J` longer, so it holds at least the copy's tokens
    /// plus `B_endpoint - B_copy - rJ`. With `B_copy = B_endpoint - 1`, that is at least the
    /// copy's count whenever `J ≤ 1/r`: a peg-out the copy admits, the endpoint admits too.
    pub(crate) fn new(
        peg_ins_per_slot: u32,
        peg_out_every: u64,
        chain_id: u64,
        public: RpcClient,
        tx_endpoint: RpcClient,
        rate: RateLimitConfig,
    ) -> Result<Self, String> {
        let signer = engine_devnet::keys::dev_signer(PEG_OUT_KEY).map_err(|e| e.to_string())?;
        let margin = RateLimitConfig { burst: rate.burst.saturating_sub(1).max(1), ..rate };
        let pace = std::sync::Mutex::new(RateLimiter::new(margin));
        Ok(Self { peg_ins_per_slot, peg_out_every, chain_id, signer, public, tx_endpoint, pace })
    }

    /// How many peg-ins are confirmed on bitcoin during one slot.
    pub(crate) const fn peg_ins_per_slot(&self) -> u32 {
        self.peg_ins_per_slot
    }

    /// Simulated peg-in number `n`: an address among [`RECIPIENTS`], an amount between
    /// 0.001 and 0.05 BTC and a txid, all derived from `n` (`seed = keccak256(n as 8
    /// big-endian bytes)`; amount = 100,000 + the first 8 bytes of `seed` (big-endian) mod
    /// 4,900,000 sats; txid = `keccak256(seed)`; address = the last 20 bytes of the seed of
    /// `n mod RECIPIENTS`, so the first `RECIPIENTS` peg-ins go to distinct addresses). The
    /// counter lives in the Chain's persisted queue, so a restart never creates a txid twice,
    /// and every peg-in ever created is `0..next` of that counter.
    pub(crate) fn peg_in(n: u64) -> PegIn {
        let seed = keccak256(n.to_be_bytes());
        let recipient = keccak256((n % RECIPIENTS).to_be_bytes());
        let mut head = [0u8; 8];
        head.copy_from_slice(&seed[..8]);
        PegIn {
            evm_address: Address::from_slice(&recipient[12..]),
            amount: Satoshis(100_000 + u64::from_be_bytes(head) % 4_900_000),
            bitcoin_txid: keccak256(seed),
        }
    }

    /// Whether a peg-out is due after block `number`.
    pub(crate) const fn peg_out_due(&self, number: u64) -> bool {
        self.peg_out_every != 0 && number.is_multiple_of(self.peg_out_every)
    }

    /// Whether a peg-out sent at `now` keeps to the endpoint's per-client rate; takes a
    /// token from the simulator's bucket when it does.
    pub(crate) fn within_rate(&self, now: tokio::time::Instant) -> bool {
        // A poisoned lock means a panic while checking a bucket; the bucket is still valid.
        let mut pace = self.pace.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        pace.check(PACE_KEY, now).is_ok()
    }

    /// Signs and submits one peg-out; its transaction hash.
    pub(crate) async fn send_peg_out(&self) -> Result<B256, PegOutError> {
        let from = self.signer.address();
        let nonce = self
            .public
            .call_u64("eth_getTransactionCount", &(from, "pending"))
            .await
            .map_err(|e| PegOutError::Failed(format!("nonce of {from}: {e}")))?;
        let raw = sign_peg_out(&self.signer, self.chain_id, nonce).map_err(PegOutError::Failed)?;
        self.tx_endpoint
            .call("eth_sendRawTransaction", &[raw])
            .await
            .map_err(PegOutError::of_submission)
    }
}

/// A signed `requestPegOut(PEG_OUT_ADDRESS)` call to the bridge burning [`PEG_OUT_SATS`].
pub(crate) fn sign_peg_out(
    signer: &PrivateKeySigner,
    chain_id: u64,
    nonce: u64,
) -> Result<Bytes, String> {
    let peg_out =
        Transfer::peg_out(chain_id, nonce, Satoshis(PEG_OUT_SATS), PEG_OUT_ADDRESS.as_bytes());
    sign_transfer(signer, &peg_out).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::{TxEnvelope, transaction::SignerRecoverable};
    use alloy_eips::eip2718::Decodable2718;
    use alloy_sol_types::SolCall;
    use engine_types::{
        constants::BRIDGE_ADDRESS,
        pegout::requestPegOutCall,
        primitives::{TxKind, U256},
    };

    /// The peg-out transaction calls the bridge with the ABI-encoded address and burns the
    /// amount, signed by the dev key.
    #[test]
    fn peg_out_calls_the_bridge() {
        let signer = engine_devnet::keys::dev_signer(PEG_OUT_KEY).unwrap();
        let raw = sign_peg_out(&signer, 121_212, 7).unwrap();
        let tx = TxEnvelope::decode_2718_exact(&raw).unwrap();
        assert_eq!(tx.recover_signer().unwrap(), signer.address());
        let TxEnvelope::Eip1559(signed) = tx else { panic!("not EIP-1559") };
        let t = signed.tx();
        assert_eq!((t.chain_id, t.nonce, t.to), (121_212, 7, TxKind::Call(BRIDGE_ADDRESS)));
        assert_eq!(t.value, U256::from(20_000_000_000_000_000u64));
        let call = requestPegOutCall::abi_decode(&t.input).unwrap();
        assert_eq!(call._bitcoinAddress.as_ref(), PEG_OUT_ADDRESS.as_bytes());
    }

    /// Peg-ins are a function of their number: distinct numbers give distinct addresses
    /// and txids, the same number the same peg-in, amounts within the documented range.
    #[test]
    fn peg_ins_follow_their_number() {
        let client = || RpcClient::new("http://127.0.0.1:1", "nowhere", None).unwrap();
        let sim = Simulator::new(3, 5, 1, client(), client(), RateLimitConfig::default()).unwrap();
        let all: Vec<PegIn> = (0..64).map(Simulator::peg_in).collect();
        let txids: std::collections::HashSet<_> = all.iter().map(|p| p.bitcoin_txid).collect();
        let addresses: std::collections::HashSet<_> = all.iter().map(|p| p.evm_address).collect();
        assert_eq!((txids.len(), addresses.len()), (64, 64));
        assert_eq!(Simulator::peg_in(7), all[7]);
        assert!(all.iter().all(|p| (100_000..5_000_000).contains(&p.amount.0)));
        // The recipients repeat after RECIPIENTS peg-ins (a bounded state); txids never do.
        let again = Simulator::peg_in(RECIPIENTS + 7);
        assert_eq!(again.evm_address, all[7].evm_address);
        assert_ne!(again.bitcoin_txid, all[7].bitcoin_txid);
        let cycle: std::collections::HashSet<_> =
            (0..2 * RECIPIENTS).map(|n| Simulator::peg_in(n).evm_address).collect();
        assert_eq!(cycle.len() as u64, RECIPIENTS);
        assert_eq!(sim.peg_ins_per_slot(), 3);
        assert!(sim.peg_out_due(10) && !sim.peg_out_due(11));
    }

    /// Peg-outs keep to the rate given: the burst less the one token of margin, then one
    /// per token refilled.
    #[test]
    fn peg_outs_keep_to_the_endpoints_rate() {
        let client = || RpcClient::new("http://127.0.0.1:1", "nowhere", None).unwrap();
        let rate = RateLimitConfig { burst: 3, per_second: 10.0, max_peers: 1 };
        let sim = Simulator::new(0, 1, 1, client(), client(), rate).unwrap();
        let t = tokio::time::Instant::now();
        assert!(sim.within_rate(t) && sim.within_rate(t), "the burst, less one");
        assert!(!sim.within_rate(t), "then nothing until a token is back");
        assert!(!sim.within_rate(t + std::time::Duration::from_millis(50)));
        assert!(sim.within_rate(t + std::time::Duration::from_millis(100)));
        assert!(!sim.within_rate(t + std::time::Duration::from_millis(100)));
    }

    /// Peg-outs fall due at `dues` (ms) and reach the endpoint after the matching `delays`
    /// (ms); how many `admit` lets through, and how many of those the endpoint refuses.
    fn refused_at_the_endpoint(
        rate: RateLimitConfig,
        dues: &[u64],
        delays: &[u64],
        mut admit: impl FnMut(tokio::time::Instant) -> bool,
    ) -> (usize, usize) {
        let start = tokio::time::Instant::now();
        let ms = |n: u64| start + std::time::Duration::from_millis(n);
        let mut endpoint = RateLimiter::new(rate);
        let sent: Vec<(u64, u64)> = dues
            .iter()
            .zip(delays.iter().cycle())
            .filter(|&(&due, _)| admit(ms(due)))
            .map(|(&due, &delay)| (due, delay))
            .collect();
        let refused =
            sent.iter().filter(|&&(due, delay)| endpoint.check("x", ms(due + delay)).is_err());
        (sent.len(), refused.count())
    }

    /// The simulator's copy of the endpoint's bucket admits no peg-out the endpoint then
    /// refuses, although each one reaches the endpoint after a delay that varies by up to
    /// one token's refill time. A copy of the endpoint's own size would be ahead of it there.
    #[test]
    fn the_copy_admits_nothing_the_endpoint_refuses() {
        let client = || RpcClient::new("http://127.0.0.1:1", "nowhere", None).unwrap();
        let rate = RateLimitConfig { burst: 2, per_second: 10.0, max_peers: 1 };
        // Due every 100 ms, then bunched: full buckets, then empty ones. The delays vary
        // by 95 ms, under the 100 ms a token takes.
        let dues: Vec<u64> = (0..40)
            .flat_map(|k| [k * 1_000, k * 1_000 + 100, k * 1_000 + 200, k * 1_000 + 210])
            .collect();
        let delays = [100, 5, 5, 5, 60, 5, 100, 30];
        let sim = Simulator::new(0, 1, 1, client(), client(), rate).unwrap();
        let (sent, refused) = refused_at_the_endpoint(rate, &dues, &delays, |t| sim.within_rate(t));
        assert_eq!(refused, 0, "the copy let through a peg-out the endpoint refused");
        assert!(sent >= 80, "{sent} of 160 sent: at least two a second");

        let mut same_size = RateLimiter::new(rate);
        let (_, ahead) =
            refused_at_the_endpoint(rate, &dues, &delays, |t| same_size.check("x", t).is_ok());
        assert!(ahead > 0, "a same-size copy gets ahead of the endpoint here");
    }

    /// The endpoint's "limit exceeded", as JSON-RPC -32005 (its per-client bucket) or HTTP
    /// 429 (its global one), is pacing; any other error is a failure.
    #[tokio::test]
    async fn a_refusal_for_the_rate_is_pacing() {
        use crate::rpc::tests::{Framing, serve};
        use engine_types::{RpcErrorCode, TransportError};
        let nonce = serve(Framing::Once(br#"{"jsonrpc":"2.0","id":1,"result":"0x0"}"#)).await;
        let answer = |code: i64| -> &'static [u8] {
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":1,"error":{{"code":{code},"message":"rate limited: retry after 0 ms"}}}}"#
            );
            Box::leak(body.into_bytes().into_boxed_slice())
        };
        for (code, paced) in [(LIMIT, true), (-32000, false)] {
            let endpoint = serve(Framing::Once(answer(code))).await;
            let sim = Simulator::new(
                0,
                1,
                1,
                RpcClient::new(&nonce, "public", None).unwrap(),
                RpcClient::new(&endpoint, "tx", None).unwrap(),
                RateLimitConfig::default(),
            )
            .unwrap();
            let error = sim.send_peg_out().await.unwrap_err();
            assert_eq!(matches!(error, PegOutError::Paced(_)), paced, "{code}: {error}");
        }
        let global = EngineError::Transport(TransportError::HttpStatus {
            status: 429,
            body: "rate limited (all clients)".into(),
        });
        assert!(matches!(PegOutError::of_submission(global), PegOutError::Paced(_)));
        let other = EngineError::Rpc {
            method: "eth_sendRawTransaction".into(),
            code: RpcErrorCode::InvalidParams,
            message: "bad".into(),
            data: None,
        };
        assert!(matches!(PegOutError::of_submission(other), PegOutError::Failed(_)));
    }
}
