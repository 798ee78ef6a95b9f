//! Keccak-256, the same function as alloy's [`keccak256`](alloy_primitives::keccak256), for
//! the hashing payload validation does in bulk (the transactions and withdrawals tries, the
//! header).
//!
//! Why not alloy's: hashing is about 70 % of validating a payload, and alloy's `keccak256`
//! (RustCrypto's `sha3` on its portable `keccak` backend) takes about a fifth longer than this
//! on the bench machine: 370 ns against 300 ns for a 123-byte transaction trie leaf, 1.36 µs
//! against 1.17 µs for a 532-byte branch node. It goes through a buffered generic sponge, and
//! its permutation does 25 NOTs a round. Here a message is absorbed straight from its bytes,
//! and the permutation uses the *lane complementing* transform of the Keccak team's optimized
//! implementations (Keccak implementation overview, §2.2): six lanes are kept complemented
//! between rounds, which leaves 5 NOTs a round. Nothing else differs. (alloy's `asm-keccak`
//! feature would switch the whole workspace to C assembly; SIMD needs `unsafe`, which this
//! workspace denies.)
//!
//! A bug here would make computed hashes differ from the true ones, so valid payloads would be
//! refused, loudly. The dangerous kind, input bytes left out of the hash (two payloads sharing
//! a hash), is what `tests` rule out: every length from 0 to 4 blocks, arbitrary inputs and
//! any one changed byte, against alloy's function.

use alloy_primitives::B256;

/// Bytes absorbed per permutation by Keccak-256 (1600 bits less twice the 256-bit output).
const RATE: usize = 136;

/// The round constants of Keccak-f[1600] (iota), one per round.
const RC: [u64; 24] = [
    0x0000_0000_0000_0001,
    0x0000_0000_0000_8082,
    0x8000_0000_0000_808a,
    0x8000_0000_8000_8000,
    0x0000_0000_0000_808b,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8009,
    0x0000_0000_0000_008a,
    0x0000_0000_0000_0088,
    0x0000_0000_8000_8009,
    0x0000_0000_8000_000a,
    0x0000_0000_8000_808b,
    0x8000_0000_0000_008b,
    0x8000_0000_0000_8089,
    0x8000_0000_0000_8003,
    0x8000_0000_0000_8002,
    0x8000_0000_0000_0080,
    0x0000_0000_0000_800a,
    0x8000_0000_8000_000a,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8080,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8008,
];

/// The lanes kept complemented inside [`permute`], as indices `x + 5y`: (x, y) = (1, 0),
/// (2, 0), (3, 1), (2, 2), (2, 3) and (0, 4).
const COMPLEMENTED: [usize; 6] = [1, 2, 8, 12, 17, 20];

/// Keccak-256 of `data` (the original Keccak padding, as Ethereum uses, not SHA3-256's).
pub(crate) fn keccak256(data: &[u8]) -> B256 {
    let mut state = [0u64; 25];
    let (blocks, rest) = data.as_chunks::<RATE>();
    for block in blocks {
        absorb(&mut state, block);
        permute(&mut state);
    }
    // The last, partial block is absorbed in place: its whole words, then the word holding
    // the rest of the message and the first padding byte (0x01); the padding's last bit goes
    // into the last byte of the block. `rest` is shorter than a block, so all of it fits.
    let (words, tail) = rest.as_chunks::<8>();
    for (lane, word) in state.iter_mut().zip(words) {
        *lane ^= u64::from_le_bytes(*word);
    }
    let last_word = tail.iter().rev().fold(1u64, |word, &byte| (word << 8) | u64::from(byte));
    if let Some(lane) = state.get_mut(words.len()) {
        *lane ^= last_word;
    }
    state[RATE / 8 - 1] ^= 0x80 << 56;
    permute(&mut state);

    let mut out = [0u8; 32];
    for (bytes, lane) in out.as_chunks_mut::<8>().0.iter_mut().zip(&state) {
        *bytes = lane.to_le_bytes();
    }
    B256::new(out)
}

/// XOR one block into the first `RATE / 8` lanes (little-endian, as Keccak specifies).
#[inline(always)]
fn absorb(state: &mut [u64; 25], block: &[u8; RATE]) {
    for (lane, bytes) in state.iter_mut().zip(block.as_chunks::<8>().0) {
        *lane ^= u64::from_le_bytes(*bytes);
    }
}

/// Keccak-f[1600]: 24 rounds, two per iteration so that no state is copied between rounds.
#[inline(never)]
fn permute(state: &mut [u64; 25]) {
    let mut a = *state;
    for i in COMPLEMENTED {
        a[i] = !a[i];
    }
    for rc in RC.as_chunks::<2>().0 {
        let e = round(&a, rc[0]);
        a = round(&e, rc[1]);
    }
    for i in COMPLEMENTED {
        a[i] = !a[i];
    }
    *state = a;
}

/// One round on a lane-complemented state (lane `x + 5y` at index `x + 5y`); the result is
/// complemented the same way.
#[inline(always)]
fn round(a: &[u64; 25], rc: u64) -> [u64; 25] {
    // Theta, rho and pi only XOR and rotate, which carry complements along (a rotated
    // all-ones lane is all ones); chi below is written for the lanes that reach it complemented.
    let c = [
        a[0] ^ a[5] ^ a[10] ^ a[15] ^ a[20],
        a[1] ^ a[6] ^ a[11] ^ a[16] ^ a[21],
        a[2] ^ a[7] ^ a[12] ^ a[17] ^ a[22],
        a[3] ^ a[8] ^ a[13] ^ a[18] ^ a[23],
        a[4] ^ a[9] ^ a[14] ^ a[19] ^ a[24],
    ];
    let d = [
        c[4] ^ c[1].rotate_left(1),
        c[0] ^ c[2].rotate_left(1),
        c[1] ^ c[3].rotate_left(1),
        c[2] ^ c[4].rotate_left(1),
        c[3] ^ c[0].rotate_left(1),
    ];
    // Rho and pi: lane (x, y) rotated by its offset lands at (y, 2x + 3y).
    let b = [
        a[0] ^ d[0],
        (a[6] ^ d[1]).rotate_left(44),
        (a[12] ^ d[2]).rotate_left(43),
        (a[18] ^ d[3]).rotate_left(21),
        (a[24] ^ d[4]).rotate_left(14),
        (a[3] ^ d[3]).rotate_left(28),
        (a[9] ^ d[4]).rotate_left(20),
        (a[10] ^ d[0]).rotate_left(3),
        (a[16] ^ d[1]).rotate_left(45),
        (a[22] ^ d[2]).rotate_left(61),
        (a[1] ^ d[1]).rotate_left(1),
        (a[7] ^ d[2]).rotate_left(6),
        (a[13] ^ d[3]).rotate_left(25),
        (a[19] ^ d[4]).rotate_left(8),
        (a[20] ^ d[0]).rotate_left(18),
        (a[4] ^ d[4]).rotate_left(27),
        (a[5] ^ d[0]).rotate_left(36),
        (a[11] ^ d[1]).rotate_left(10),
        (a[17] ^ d[2]).rotate_left(15),
        (a[23] ^ d[3]).rotate_left(56),
        (a[2] ^ d[2]).rotate_left(62),
        (a[8] ^ d[3]).rotate_left(55),
        (a[14] ^ d[4]).rotate_left(39),
        (a[15] ^ d[0]).rotate_left(41),
        (a[21] ^ d[1]).rotate_left(2),
    ];
    // Chi, `b[x] ^ (!b[x + 1] & b[x + 2])` a row at a time, rewritten for the complemented
    // lanes (De Morgan), then iota. One NOT a row.
    let (n2, n9, n13, n18, n21) = (!b[2], !b[9], !b[13], !b[18], !b[21]);
    [
        b[0] ^ (b[1] | b[2]) ^ rc,
        b[1] ^ (n2 | b[3]),
        b[2] ^ (b[3] & b[4]),
        b[3] ^ (b[4] | b[0]),
        b[4] ^ (b[0] & b[1]),
        b[5] ^ (b[6] | b[7]),
        b[6] ^ (b[7] & b[8]),
        b[7] ^ (b[8] | n9),
        b[8] ^ (b[9] | b[5]),
        b[9] ^ (b[5] & b[6]),
        b[10] ^ (b[11] | b[12]),
        b[11] ^ (b[12] & b[13]),
        b[12] ^ (n13 & b[14]),
        n13 ^ (b[14] | b[10]),
        b[14] ^ (b[10] & b[11]),
        b[15] ^ (b[16] & b[17]),
        b[16] ^ (b[17] | b[18]),
        b[17] ^ (n18 | b[19]),
        n18 ^ (b[19] & b[15]),
        b[19] ^ (b[15] | b[16]),
        b[20] ^ (n21 & b[22]),
        n21 ^ (b[22] | b[23]),
        b[22] ^ (b[23] & b[24]),
        b[23] ^ (b[24] | b[20]),
        b[24] ^ (b[20] & b[21]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Deterministic, non-repeating bytes.
    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8).collect()
    }

    /// Known answers: the empty string and "abc" (Keccak-256, as Ethereum uses it).
    #[test]
    fn known_answers() {
        assert_eq!(keccak256(&[]), alloy_primitives::KECCAK256_EMPTY);
        assert_eq!(
            keccak256(b"abc"),
            alloy_primitives::b256!(
                "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
            )
        );
    }

    /// Every length up to four blocks and beyond, every padding case (one byte left, a full
    /// block, an empty last block) included, equals alloy's hash.
    #[test]
    fn every_length_agrees_with_alloy() {
        for len in 0..=4 * RATE + 1 {
            for seed in [0u8, 0xff] {
                let data = bytes(len, seed);
                assert_eq!(keccak256(&data), alloy_primitives::keccak256(&data), "length {len}");
            }
        }
        for len in [1000, 4096, 100_000] {
            let data = bytes(len, 7);
            assert_eq!(keccak256(&data), alloy_primitives::keccak256(&data), "length {len}");
        }
    }

    proptest! {
        /// Arbitrary inputs hash as with alloy; changing any one byte changes the hash.
        #[test]
        fn agrees_with_alloy(data in proptest::collection::vec(any::<u8>(), 0..700), at in any::<usize>(), flip in 1u8..) {
            let ours = keccak256(&data);
            prop_assert_eq!(ours, alloy_primitives::keccak256(&data));
            if !data.is_empty() {
                let mut changed = data.clone();
                changed[at % data.len()] ^= flip;
                prop_assert_ne!(keccak256(&changed), ours);
            }
        }
    }
}
