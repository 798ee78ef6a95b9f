//! Peg-out extraction: only the bridge's `RequestPegOut` events from successful receipts, with
//! block-wide log indices, classified as payable or not, nothing dropped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy_consensus::{Receipt, ReceiptEnvelope, ReceiptWithBloom};
use alloy_eips::BlockNumHash;
use alloy_primitives::{Address, B256, Bytes, Log, LogData, U256};
use alloy_sol_types::SolEvent;
use engine_types::{
    Satoshis,
    config::{BitcoinNetwork, ChainConfig},
    constants::{BRIDGE_ADDRESS, WEI_PER_SAT},
    pegout::RequestPegOut,
};
use engine_validation::{
    BitcoinAddressError, PegOutScanner, ReceiptWithContext, UnpayableReason, ValidationError,
};

const MAIN_ADDR: &str = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
const REGTEST_ADDR: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
const BLOCK: BlockNumHash = BlockNumHash { number: 42, hash: B256::repeat_byte(0xbb) };

fn sats_to_wei(sats: u64) -> U256 {
    U256::from(sats) * U256::from(WEI_PER_SAT)
}

/// A `RequestPegOut` log as the contract emits it.
fn pegout_log(emitter: Address, user: u8, btc: &[u8], wei: U256) -> Log {
    let event = RequestPegOut {
        _evmAddress: Address::with_last_byte(user),
        _bitcoinAddress: Bytes::copy_from_slice(btc),
        _value: wei,
    };
    Log { address: emitter, data: event.encode_log_data() }
}

fn other_log(emitter: Address) -> Log {
    Log { address: emitter, data: LogData::new_unchecked(vec![B256::repeat_byte(1)], Bytes::new()) }
}

fn receipt(tx: u8, success: bool, logs: Vec<Log>, first_log_index: u64) -> ReceiptWithContext {
    ReceiptWithContext { tx_hash: B256::with_last_byte(tx), success, logs, first_log_index }
}

fn regtest() -> PegOutScanner {
    PegOutScanner::default()
}

/// A regtest payout of 0.1 BTC to a regtest address is payable, with all its context.
#[test]
fn valid_request_is_payable_with_context() {
    let wei = sats_to_wei(10_000_000) + U256::from(5); // dust wei is floored away
    let receipts = [
        receipt(1, true, vec![other_log(Address::ZERO), other_log(Address::ZERO)], 0),
        receipt(
            2,
            true,
            vec![
                other_log(Address::ZERO),
                pegout_log(BRIDGE_ADDRESS, 7, REGTEST_ADDR.as_bytes(), wei),
            ],
            2,
        ),
    ];
    let scan = regtest().scan(BLOCK, &receipts).unwrap();
    assert!(scan.unpayable.is_empty() && scan.malformed.is_empty());
    let p = &scan.payable[0];
    assert_eq!(p.tx_hash, B256::with_last_byte(2));
    assert_eq!((p.block_hash, p.block_number), (BLOCK.hash, BLOCK.number));
    assert_eq!(p.log_index, 3, "log index is block-wide");
    assert_eq!(p.evm_address, Address::with_last_byte(7));
    assert_eq!(p.bitcoin_address.as_ref(), REGTEST_ADDR.as_bytes());
    assert_eq!((p.value_wei, p.amount), (wei, Satoshis(10_000_000)));
}

/// The event from another contract, or another event from the bridge, is not a peg-out.
#[test]
fn wrong_emitter_or_topic_is_ignored() {
    let fake = pegout_log(
        Address::with_last_byte(0xba),
        1,
        REGTEST_ADDR.as_bytes(),
        sats_to_wei(2_000_000),
    );
    let receipts = [receipt(1, true, vec![fake, other_log(BRIDGE_ADDRESS)], 0)];
    let scan = regtest().scan(BLOCK, &receipts).unwrap();
    assert_eq!(scan, Default::default());
}

/// A reverted transaction burned nothing: its events (if any were reported) do not count.
#[test]
fn failed_receipt_is_ignored() {
    let log = pegout_log(BRIDGE_ADDRESS, 1, REGTEST_ADDR.as_bytes(), sats_to_wei(2_000_000));
    let scan = regtest().scan(BLOCK, &[receipt(1, false, vec![log], 0)]).unwrap();
    assert_eq!(scan, Default::default());
}

/// Dust is reported as unpayable, with the minimum and the amount, never dropped.
#[test]
fn dust_is_reported_unpayable() {
    let log = pegout_log(BRIDGE_ADDRESS, 1, REGTEST_ADDR.as_bytes(), sats_to_wei(999_999));
    let scan = regtest().scan(BLOCK, &[receipt(1, true, vec![log], 0)]).unwrap();
    assert!(scan.payable.is_empty());
    assert_eq!(
        scan.unpayable[0].reasons,
        vec![UnpayableReason::Dust { min: Satoshis(1_000_000), got: Satoshis(999_999) }]
    );
    // Exactly the minimum is payable.
    let log = pegout_log(BRIDGE_ADDRESS, 1, REGTEST_ADDR.as_bytes(), sats_to_wei(1_000_000));
    assert_eq!(regtest().scan(BLOCK, &[receipt(1, true, vec![log], 0)]).unwrap().payable.len(), 1);
}

/// Bad addresses (not UTF-8, garbage, wrong network) are unpayable with every reason listed.
#[test]
fn bad_addresses_are_reported_unpayable() {
    let amount = sats_to_wei(5_000_000);
    let logs = vec![
        pegout_log(BRIDGE_ADDRESS, 1, &[0xff, 0xfe], amount),
        pegout_log(BRIDGE_ADDRESS, 2, b"not an address", amount),
        pegout_log(BRIDGE_ADDRESS, 3, MAIN_ADDR.as_bytes(), sats_to_wei(1)),
    ];
    let scan = regtest().scan(BLOCK, &[receipt(1, true, logs, 10)]).unwrap();
    assert!(scan.payable.is_empty());
    let reasons: Vec<_> =
        scan.unpayable.iter().map(|u| (u.request.log_index, u.reasons.clone())).collect();
    assert_eq!(reasons[0], (10, vec![UnpayableReason::AddressNotUtf8]));
    assert!(matches!(
        reasons[1].1[..],
        [UnpayableReason::BadAddress(BitcoinAddressError::Base58(_))]
    ));
    assert_eq!(
        reasons[2],
        (
            12,
            vec![
                UnpayableReason::Dust { min: Satoshis(1_000_000), got: Satoshis(1) },
                UnpayableReason::BadAddress(BitcoinAddressError::WrongHrp {
                    expected: "bcrt",
                    got: "bc".into()
                }),
            ]
        )
    );
}

/// Several events in one transaction each get their own log index, in order.
#[test]
fn multiple_events_per_transaction() {
    let logs = (0..3)
        .map(|i| {
            pegout_log(
                BRIDGE_ADDRESS,
                i,
                REGTEST_ADDR.as_bytes(),
                sats_to_wei(2_000_000 + i as u64),
            )
        })
        .collect();
    let scan = regtest().scan(BLOCK, &[receipt(9, true, logs, 4)]).unwrap();
    let got: Vec<_> = scan.payable.iter().map(|p| (p.log_index, p.amount.0)).collect();
    assert_eq!(got, vec![(4, 2_000_000), (5, 2_000_001), (6, 2_000_002)]);
}

/// The network decides: a mainnet address is payable on mainnet and not on regtest.
#[test]
fn mainnet_versus_regtest_addresses() {
    let chain = ChainConfig { bitcoin_network: BitcoinNetwork::Mainnet, ..ChainConfig::default() };
    let mainnet = PegOutScanner::from_config(&chain);
    let logs = vec![
        pegout_log(BRIDGE_ADDRESS, 1, MAIN_ADDR.as_bytes(), sats_to_wei(2_000_000)),
        pegout_log(BRIDGE_ADDRESS, 2, REGTEST_ADDR.as_bytes(), sats_to_wei(2_000_000)),
    ];
    let receipts = [receipt(1, true, logs, 0)];
    let on_main = mainnet.scan(BLOCK, &receipts).unwrap();
    let on_regtest = regtest().scan(BLOCK, &receipts).unwrap();
    assert_eq!(on_main.payable[0].evm_address, Address::with_last_byte(1));
    assert_eq!(on_main.unpayable[0].request.evm_address, Address::with_last_byte(2));
    assert_eq!(on_regtest.payable[0].evm_address, Address::with_last_byte(2));
    assert_eq!(on_regtest.unpayable[0].request.evm_address, Address::with_last_byte(1));
}

/// A bridge log with the right topic but bad data is reported as malformed, not skipped.
#[test]
fn malformed_bridge_event_is_reported() {
    let mut log = pegout_log(BRIDGE_ADDRESS, 1, REGTEST_ADDR.as_bytes(), sats_to_wei(2_000_000));
    let (topics, data) = log.data.clone().split();
    let mut dirty = topics.clone();
    dirty[1].0[0] = 0xff; // non-canonical address topic
    log.data = LogData::new_unchecked(dirty, data.clone());
    let truncated =
        Log { address: BRIDGE_ADDRESS, data: LogData::new_unchecked(topics, data.slice(..10)) };
    let scan = regtest().scan(BLOCK, &[receipt(1, true, vec![log, truncated], 0)]).unwrap();
    assert!(scan.payable.is_empty() && scan.unpayable.is_empty());
    let at: Vec<_> = scan.malformed.iter().map(|m| (m.tx_hash, m.log_index)).collect();
    assert_eq!(at, vec![(B256::with_last_byte(1), 0), (B256::with_last_byte(1), 1)]);
}

/// Log indices computed from consensus receipts count every earlier log; overlapping
/// indices are refused with a typed error.
#[test]
fn block_wide_log_indices() {
    let env = |logs: Vec<Log>, ok: bool| {
        ReceiptEnvelope::Eip1559(ReceiptWithBloom::new(
            Receipt { status: ok.into(), cumulative_gas_used: 0, logs },
            Default::default(),
        ))
    };
    let receipts = ReceiptWithContext::index_block([
        (B256::with_last_byte(1), env(vec![other_log(Address::ZERO); 3], true)),
        (B256::with_last_byte(2), env(vec![], false)),
        (
            B256::with_last_byte(3),
            env(
                vec![pegout_log(
                    BRIDGE_ADDRESS,
                    1,
                    REGTEST_ADDR.as_bytes(),
                    sats_to_wei(2_000_000),
                )],
                true,
            ),
        ),
    ]);
    assert_eq!(receipts.iter().map(|r| r.first_log_index).collect::<Vec<_>>(), vec![0, 3, 3]);
    assert!(!receipts[1].success);
    assert_eq!(regtest().scan(BLOCK, &receipts).unwrap().payable[0].log_index, 3);

    let overlapping =
        [receipt(1, true, vec![other_log(Address::ZERO); 2], 0), receipt(2, true, vec![], 1)];
    let err = regtest().scan(BLOCK, &overlapping).unwrap_err();
    assert_eq!((err.position, err.first_log_index, err.expected_at_least), (1, 1, 2));
    assert_eq!(ValidationError::from(err).severity(), engine_types::Severity::Reset);
}

/// The topic we filter on is the event's signature hash.
#[test]
fn topic_is_the_event_signature() {
    let log = pegout_log(BRIDGE_ADDRESS, 1, b"x", U256::ZERO);
    assert_eq!(log.topics()[0], RequestPegOut::SIGNATURE_HASH);
}
