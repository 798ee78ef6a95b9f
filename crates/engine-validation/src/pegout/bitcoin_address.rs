//! Is a string a well-formed bitcoin address of a given network?
//!
//! Segwit addresses (BIP-173/350): HRP `bc` (mainnet), `tb` (testnet, signet), `bcrt`
//! (regtest); witness version 0 with a 20- or 32-byte program under the bech32 checksum,
//! versions 1–16 under bech32m. Legacy addresses: base58check of a version byte and a 20-byte
//! hash — P2PKH `0x00` / P2SH `0x05` on mainnet, `0x6f` / `0xc4` elsewhere.
//!
//! Uses the `bech32` and `bs58` crates rather than `bitcoin`: both are small and dependency-free
//! (`bs58`'s checksum takes `sha2`, already in the tree), whereas `bitcoin` brings secp256k1
//! and its own hash stack for two string formats. The text is checked as given: no trimming,
//! no case folding beyond what BIP-173 allows (all lower or all upper).

use bech32::{Hrp, hrp};
use engine_types::config::BitcoinNetwork;

/// Why a string is not a payable bitcoin address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BitcoinAddressError {
    /// The string is empty.
    #[error("empty address")]
    Empty,
    /// A segwit address for another network.
    #[error("segwit address for `{got}`, expected `{expected}`")]
    WrongHrp {
        /// The network's HRP.
        expected: &'static str,
        /// The address's HRP.
        got: String,
    },
    /// Not valid bech32/bech32m segwit (checksum, characters, version, program length).
    #[error("invalid segwit address: {0}")]
    Segwit(String),
    /// Not valid base58check (characters or checksum).
    #[error("invalid base58check address: {0}")]
    Base58(String),
    /// base58check payload that is not a version byte and a 20-byte hash.
    #[error("base58 payload is {got} bytes, expected 21")]
    Base58Length {
        /// Decoded length (version byte included).
        got: usize,
    },
    /// A legacy version byte that is not P2PKH or P2SH of the network.
    #[error("version byte {got:#04x} is not P2PKH or P2SH on {network:?}")]
    WrongVersion {
        /// The configured network.
        network: BitcoinNetwork,
        /// The address's version byte.
        got: u8,
    },
}

const fn segwit_hrp(network: BitcoinNetwork) -> (Hrp, &'static str) {
    match network {
        BitcoinNetwork::Mainnet => (hrp::BC, "bc"),
        BitcoinNetwork::Testnet | BitcoinNetwork::Signet => (hrp::TB, "tb"),
        BitcoinNetwork::Regtest => (hrp::BCRT, "bcrt"),
    }
}

/// P2PKH and P2SH version bytes.
const fn base58_versions(network: BitcoinNetwork) -> [u8; 2] {
    match network {
        BitcoinNetwork::Mainnet => [0x00, 0x05],
        BitcoinNetwork::Testnet | BitcoinNetwork::Signet | BitcoinNetwork::Regtest => [0x6f, 0xc4],
    }
}

/// Whether `address` is a well-formed address of `network`.
pub fn check_bitcoin_address(
    address: &str,
    network: BitcoinNetwork,
) -> Result<(), BitcoinAddressError> {
    if address.is_empty() {
        return Err(BitcoinAddressError::Empty);
    }
    let lower = address.to_ascii_lowercase();
    // Any segwit HRP routes to bech32, so a segwit address of the wrong network says so
    // instead of failing as bad base58 ('b', 'c' and '1' are base58 characters too).
    if ["bc1", "tb1", "bcrt1"].iter().any(|p| lower.starts_with(p)) {
        let (got, _, _) = bech32::segwit::decode(address)
            .map_err(|e| BitcoinAddressError::Segwit(e.to_string()))?;
        let (expected, name) = segwit_hrp(network);
        if got != expected {
            return Err(BitcoinAddressError::WrongHrp { expected: name, got: got.to_lowercase() });
        }
        return Ok(());
    }
    let payload = bs58::decode(address)
        .with_check(None)
        .into_vec()
        .map_err(|e| BitcoinAddressError::Base58(e.to_string()))?;
    match payload.split_first() {
        Some((&version, hash)) if hash.len() == 20 => {
            if base58_versions(network).contains(&version) {
                Ok(())
            } else {
                Err(BitcoinAddressError::WrongVersion { network, got: version })
            }
        }
        _ => Err(BitcoinAddressError::Base58Length { got: payload.len() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BitcoinNetwork::*;

    // Vectors from BIP-173, BIP-350 and well-known addresses.
    const P2WPKH_MAIN: &str = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
    const P2WSH_TEST: &str = "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7";
    const P2TR_MAIN: &str = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0";
    const P2WPKH_REGTEST: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
    const P2PKH_MAIN: &str = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2";
    const P2SH_MAIN: &str = "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy";
    const P2PKH_TEST: &str = "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn";
    const P2SH_TEST: &str = "2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc";

    /// Each network accepts its own address kinds.
    #[test]
    fn accepts_each_networks_addresses() {
        for a in [P2WPKH_MAIN, P2TR_MAIN, P2PKH_MAIN, P2SH_MAIN] {
            check_bitcoin_address(a, Mainnet).unwrap();
        }
        check_bitcoin_address(&P2WPKH_MAIN.to_uppercase(), Mainnet).unwrap();
        for a in [P2WSH_TEST, P2PKH_TEST, P2SH_TEST] {
            check_bitcoin_address(a, Testnet).unwrap();
            check_bitcoin_address(a, Signet).unwrap();
        }
        for a in [P2WPKH_REGTEST, P2PKH_TEST, P2SH_TEST] {
            check_bitcoin_address(a, Regtest).unwrap();
        }
    }

    /// Mainnet addresses are refused on regtest and the reverse, naming the mismatch.
    #[test]
    fn refuses_other_networks() {
        assert_eq!(
            check_bitcoin_address(P2WPKH_MAIN, Regtest),
            Err(BitcoinAddressError::WrongHrp { expected: "bcrt", got: "bc".into() })
        );
        assert_eq!(
            check_bitcoin_address(P2WPKH_REGTEST, Mainnet),
            Err(BitcoinAddressError::WrongHrp { expected: "bc", got: "bcrt".into() })
        );
        assert_eq!(
            check_bitcoin_address(P2PKH_MAIN, Regtest),
            Err(BitcoinAddressError::WrongVersion { network: Regtest, got: 0 })
        );
        assert_eq!(
            check_bitcoin_address(P2SH_TEST, Mainnet),
            Err(BitcoinAddressError::WrongVersion { network: Mainnet, got: 0xc4 })
        );
    }

    /// Checksum errors, the wrong checksum variant, mixed case, bad lengths and junk fail.
    #[test]
    fn refuses_malformed_addresses() {
        let bad_checksum = P2WPKH_MAIN.replace("t4", "t5");
        // BIP-350: a v0 program under bech32m, and v1 under bech32, are invalid.
        let v0_bech32m = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh";
        let v1_bech32 =
            "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx";
        let mixed = "bc1qW508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
        for a in [bad_checksum.as_str(), v0_bech32m, v1_bech32, mixed, "bc1", "bc1qqqqq"] {
            assert!(
                matches!(check_bitcoin_address(a, Mainnet), Err(BitcoinAddressError::Segwit(_))),
                "{a}"
            );
        }
        let bad_b58 = P2PKH_MAIN.replace("N2", "N3");
        assert!(matches!(
            check_bitcoin_address(&bad_b58, Mainnet),
            Err(BitcoinAddressError::Base58(_))
        ));
        assert!(matches!(
            check_bitcoin_address("0OIl", Mainnet),
            Err(BitcoinAddressError::Base58(_))
        ));
        let short = bs58::encode([0u8; 10]).with_check().into_string();
        assert_eq!(
            check_bitcoin_address(&short, Mainnet),
            Err(BitcoinAddressError::Base58Length { got: 10 })
        );
        assert_eq!(check_bitcoin_address("", Mainnet), Err(BitcoinAddressError::Empty));
        let padded = format!(" {P2PKH_MAIN}");
        assert!(check_bitcoin_address(&padded, Mainnet).is_err());
    }
}
