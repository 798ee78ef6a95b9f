//! A client whose clock is off by a given number of seconds, against an EL's engine port
//! (shared by `clock_skew.rs` and `container_chaos.rs`).

use engine_client::{jwt::JwtAuth, transport::HttpTransport};
use engine_types::EngineError;
use std::time::Duration;

/// Calls `eth_chainId` on `engine_url` with tokens from a clock `offset` seconds off ours.
async fn chain_id_with_clock(
    engine_url: &str,
    jwt: &JwtAuth,
    offset: i64,
) -> Result<u64, EngineError> {
    let auth = jwt.clone().with_clock_offset(offset);
    let transport = HttpTransport::new(engine_url, None, Some(auth), 1 << 20).unwrap();
    transport
        .call("eth_chainId", &[(); 0], Duration::from_secs(10), &|raw: &str| {
            let hex: String = serde_json::from_str(raw).unwrap();
            Ok(u64::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap())
        })
        .await
}

/// Checks the answers of an EL at `engine_url` to a client clock ±`accepted` s off (accepted)
/// and ±62 s off: the first accepted, the others refused with a 401 whose message names the
/// clock gap (read to about a second) and its direction.
///
/// The EL refuses only an `iat` more than 60 s from its clock, read when it checks the
/// token, up to a second boundary after we signed it: a client 61 s ahead could then be
/// 60 s ahead, and accepted. 62 s is refused whatever boundary falls between. On the
/// accepted side, an EL in another process (a container) may check a token a second or more
/// after it was signed when the machine is loaded (EthereumJS once refused -59 s during a
/// CI build beside it), so that side is the caller's: 59 in process (Hive's `engine-auth`
/// value), less where the EL's own latency counts.
pub(crate) async fn skewed_clients_accepted_within_62_s_refused_naming_the_clock(
    engine_url: &str,
    jwt: &JwtAuth,
    accepted: i64,
) {
    assert!(accepted < 60, "the window is ±60 s");
    for offset in [accepted, -accepted] {
        let answer = chain_id_with_clock(engine_url, jwt, offset).await;
        assert!(answer.is_ok(), "a clock {offset:+} s off is within the window: {answer:?}");
    }
    for offset in [62i64, -62] {
        let refused = chain_id_with_clock(engine_url, jwt, offset).await.unwrap_err();
        let EngineError::Auth { status: 401, clock_gap: Some(gap), .. } = &refused else {
            panic!("{offset:+} s: not a 401 with the EL's clock: {refused:?}");
        };
        // The EL's clock minus ours, ours being `offset` ahead of the system's.
        assert!((-offset - 1..=-offset + 1).contains(gap), "{offset:+} s: gap {gap}");
        let message = refused.to_string();
        let direction = if offset > 0 { "behind ours" } else { "ahead of ours" };
        assert!(
            message.contains(&format!("clock is {} s {direction}", gap.unsigned_abs())),
            "{message}"
        );
        assert!(message.contains("the JWT iat must be within ±60 s"), "{message}");
    }
}
