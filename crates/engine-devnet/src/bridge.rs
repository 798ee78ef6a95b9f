//! The bridge contract's runtime bytecode, hand-written EVM assembly.
//!
//! The annotated listing is `contracts/bridge.asm` in this crate; the bytes below are its
//! bytes column, which a test checks line by line. `requestPegOut(bytes)` (payable)
//! forwards `msg.value` to [`DEAD_ADDRESS`](engine_types::constants::DEAD_ADDRESS) and
//! emits [`RequestPegOut`](engine_types::pegout::RequestPegOut)`(msg.sender, bytes, value)`;
//! every other call reverts.

use alloy_genesis::GenesisAccount;
use alloy_primitives::{Bytes, hex};

/// The runtime code of the bridge contract (158 bytes; needs Shanghai for `PUSH0`).
pub const BRIDGE_RUNTIME_CODE: &[u8] = &hex!(
    "60043610610017575f3560e01c639911dc741461001b575b5f80fd5b5f5f5f5f3461dead5af115610017"
    "57600435640100000000811015610017576004018035640100000000811015610017579060200181810136"
    "106100175760405f523460205281604052818160603750601f0160051c60051b606001337faa1c6070bc91"
    "5de33c0fbc36ecf77b1e4fc1ebce832b2da62b6fe25f5a7dd5b0825fa200"
);

/// A genesis `alloc` entry that deploys the bridge contract (put it at
/// [`BRIDGE_ADDRESS`](engine_types::constants::BRIDGE_ADDRESS)).
pub fn bridge_genesis_account() -> GenesisAccount {
    GenesisAccount::default().with_code(Some(Bytes::from_static(BRIDGE_RUNTIME_CODE)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::keccak256;
    use alloy_sol_types::{SolCall, SolEvent};
    use engine_types::pegout::{RequestPegOut, requestPegOutCall};

    const LISTING: &str = include_str!("../contracts/bridge.asm");

    /// The bytes column of the annotated listing is exactly the deployed code, and each
    /// line's offset is where its bytes start.
    #[test]
    fn listing_matches_the_bytes() {
        let mut code = Vec::new();
        for line in LISTING.lines().filter(|l| !l.starts_with(';') && !l.trim().is_empty()) {
            let mut cols = line.split_whitespace();
            let offset = usize::from_str_radix(cols.next().unwrap(), 16).unwrap();
            assert_eq!(offset, code.len(), "offset of `{line}`");
            code.extend(hex::decode(cols.next().unwrap()).unwrap());
        }
        assert_eq!(code, BRIDGE_RUNTIME_CODE);
    }

    /// The selector and the event topic embedded in the code are the ones the shared ABI
    /// declares.
    #[test]
    fn code_embeds_the_abi() {
        let code = BRIDGE_RUNTIME_CODE;
        let has = |needle: &[u8]| code.windows(needle.len()).any(|w| w == needle);
        assert!(has(&requestPegOutCall::SELECTOR));
        assert!(has(RequestPegOut::SIGNATURE_HASH.as_slice()));
        assert_eq!(
            RequestPegOut::SIGNATURE_HASH,
            keccak256("RequestPegOut(address,bytes,uint256)")
        );
    }
}
