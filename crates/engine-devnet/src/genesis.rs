//! The genesis block and state, from the same geth-style genesis JSON that real execution
//! clients take (alloy's [`Genesis`]).

mod builder;

pub use builder::GenesisBuilder;

use super::{bridge::bridge_genesis_account, error::DevnetError, state::WorldState};
use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, Header};
use alloy_eips::{eip1559::INITIAL_BASE_FEE, eip7685::EMPTY_REQUESTS_HASH};
use alloy_genesis::Genesis;
use alloy_primitives::{B64, B256, U256};
use alloy_trie::EMPTY_ROOT_HASH;
use engine_types::{
    Fork, ForkSchedule,
    constants::{BRIDGE_ADDRESS, CHAIN_ID_DEV},
};

/// Wei each development account holds in [`dev_genesis`]: one million ether.
pub const DEV_ACCOUNT_WEI: u128 = 1_000_000 * 1_000_000_000_000_000_000;

/// The genesis a development devnet starts from: chain id
/// [`CHAIN_ID_DEV`](engine_types::constants::CHAIN_ID_DEV), the forks of `forks`, every
/// development key ([`keys`](crate::keys)) funded with
/// [`DEV_ACCOUNT_WEI`], and the bridge contract deployed at
/// [`BRIDGE_ADDRESS`](engine_types::constants::BRIDGE_ADDRESS).
pub fn dev_genesis(forks: ForkSchedule) -> Result<Genesis, DevnetError> {
    GenesisBuilder::new(CHAIN_ID_DEV)
        .forks(forks)
        .fund_dev_accounts(U256::from(DEV_ACCOUNT_WEI))?
        .account(BRIDGE_ADDRESS, bridge_genesis_account())
        .build()
}

/// What the devnet takes from the genesis `config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChainSpec {
    /// `config.chainId`.
    pub(crate) chain_id: u64,
    /// `shanghaiTime`, `cancunTime`, `pragueTime`.
    pub(crate) forks: ForkSchedule,
}

impl ChainSpec {
    /// Read and check the fork configuration: Shanghai must be active at genesis (the devnet
    /// speaks the Engine API from V2 on), Cancun may follow at any time, and forks this
    /// devnet does not implement must be absent.
    pub(crate) fn from_genesis(genesis: &Genesis) -> Result<Self, DevnetError> {
        let c = &genesis.config;
        let bad = |reason: String| Err(DevnetError::Genesis { reason });
        match c.shanghai_time {
            Some(t) if t <= genesis.timestamp => {}
            Some(t) => {
                return bad(format!(
                    "shanghaiTime {t} is after the genesis timestamp {}: the devnet needs \
                     Shanghai active from genesis",
                    genesis.timestamp
                ));
            }
            None => {
                return bad("shanghaiTime is missing: the devnet needs Shanghai at genesis".into());
            }
        }
        for (name, at) in [
            ("pragueTime", c.prague_time),
            ("osakaTime", c.osaka_time),
            ("amsterdamTime", c.amsterdam_time),
            ("bogotaTime", c.bogota_time),
        ] {
            if let Some(t) = at {
                return bad(format!(
                    "{name} {t} is set, but the devnet implements Shanghai and Cancun only"
                ));
            }
        }
        let forks = ForkSchedule { shanghai: c.shanghai_time, cancun: c.cancun_time, prague: None };
        if let Some(problem) = forks.problems().into_iter().next() {
            return bad(problem);
        }
        Ok(Self { chain_id: c.chain_id, forks })
    }

    /// The fork of a block with this timestamp.
    pub(crate) fn fork_at(&self, timestamp: u64) -> Fork {
        self.forks.fork_at(timestamp)
    }
}

/// The genesis state from `alloc`: balances, nonces, code and storage.
pub(crate) fn genesis_state(genesis: &Genesis) -> WorldState {
    WorldState::from_alloc(&genesis.alloc)
}

/// The genesis header: the state root of `alloc`, empty bodies, base fee from the genesis
/// (1 gwei by default), and the Shanghai / Cancun fields when those forks are active at
/// genesis.
pub(crate) fn genesis_header(
    genesis: &Genesis,
    spec: &ChainSpec,
    state: &WorldState,
) -> Result<Header, DevnetError> {
    let fork = spec.fork_at(genesis.timestamp);
    let base_fee = genesis.base_fee_per_gas.unwrap_or(u128::from(INITIAL_BASE_FEE));
    let base_fee = u64::try_from(base_fee).map_err(|_| DevnetError::Genesis {
        reason: format!("baseFeePerGas {base_fee} does not fit in 64 bits"),
    })?;
    if genesis.gas_limit == 0 {
        return Err(DevnetError::Genesis { reason: "gasLimit is zero".into() });
    }
    let cancun = fork >= Fork::Cancun;
    Ok(Header {
        parent_hash: genesis.parent_hash.unwrap_or_default(),
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: genesis.coinbase,
        state_root: state.root(),
        transactions_root: EMPTY_ROOT_HASH,
        receipts_root: EMPTY_ROOT_HASH,
        logs_bloom: Default::default(),
        difficulty: genesis.difficulty,
        number: genesis.number.unwrap_or_default(),
        gas_limit: genesis.gas_limit,
        gas_used: 0,
        timestamp: genesis.timestamp,
        extra_data: genesis.extra_data.clone(),
        mix_hash: genesis.mix_hash,
        nonce: B64::from(genesis.nonce),
        base_fee_per_gas: Some(base_fee),
        withdrawals_root: (fork >= Fork::Shanghai).then_some(EMPTY_ROOT_HASH),
        blob_gas_used: cancun.then(|| genesis.blob_gas_used.unwrap_or_default()),
        excess_blob_gas: cancun.then(|| genesis.excess_blob_gas.unwrap_or_default()),
        parent_beacon_block_root: cancun.then_some(B256::ZERO),
        requests_hash: (fork >= Fork::Prague).then_some(EMPTY_REQUESTS_HASH),
        ..Header::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_genesis::GenesisAccount;
    use alloy_primitives::{Address, Bytes};

    fn genesis(json: &str) -> Genesis {
        serde_json::from_str(json).unwrap()
    }

    const SHANGHAI: &str = r#"{
        "config": {"chainId": 121212, "londonBlock": 0, "terminalTotalDifficulty": 0,
                   "shanghaiTime": 0},
        "gasLimit": "0x1c9c380", "difficulty": "0x0", "timestamp": "0x0", "alloc": {}
    }"#;

    /// Shanghai at genesis gives an empty withdrawals root, no Cancun fields, 1 gwei base fee.
    #[test]
    fn shanghai_genesis_header() {
        let g = genesis(SHANGHAI);
        let spec = ChainSpec::from_genesis(&g).unwrap();
        assert_eq!(spec.chain_id, 121_212);
        let state = genesis_state(&g);
        let h = genesis_header(&g, &spec, &state).unwrap();
        assert_eq!(h.withdrawals_root, Some(EMPTY_ROOT_HASH));
        assert_eq!(h.base_fee_per_gas, Some(1_000_000_000));
        assert_eq!(h.parent_beacon_block_root, None);
        assert_eq!(h.state_root, EMPTY_ROOT_HASH);
    }

    /// Cancun at genesis adds the blob fields and a zero parent beacon root.
    #[test]
    fn cancun_genesis_header() {
        let mut g = genesis(SHANGHAI);
        g.config.cancun_time = Some(0);
        let spec = ChainSpec::from_genesis(&g).unwrap();
        let h = genesis_header(&g, &spec, &genesis_state(&g)).unwrap();
        assert_eq!(h.blob_gas_used, Some(0));
        assert_eq!(h.excess_blob_gas, Some(0));
        assert_eq!(h.parent_beacon_block_root, Some(B256::ZERO));
    }

    /// Alloc code and storage land in the state and in its root.
    #[test]
    fn alloc_with_code_and_storage() {
        let mut g = genesis(SHANGHAI);
        let a = Address::repeat_byte(0x42);
        let mut storage = std::collections::BTreeMap::new();
        storage.insert(B256::with_last_byte(1), B256::with_last_byte(9));
        g.alloc.insert(
            a,
            GenesisAccount::default()
                .with_balance(U256::from(3))
                .with_code(Some(Bytes::from_static(&[0x00])))
                .with_storage(Some(storage)),
        );
        let state = genesis_state(&g);
        assert_eq!(state.balance(&a), U256::from(3));
        assert_eq!(state.storage(&a, &U256::from(1)), U256::from(9));
        assert_eq!(state.code_at(&a), Bytes::from_static(&[0x00]));
        let expected = alloy_trie::root::state_root_unhashed(
            g.alloc.clone().into_iter().map(|(a, acc)| (a, acc.into_trie_account())),
        );
        assert_eq!(state.root(), expected);
    }

    /// Configurations the devnet cannot run are refused with the reason named.
    #[test]
    fn unsupported_configs_are_refused() {
        let mut g = genesis(SHANGHAI);
        g.config.shanghai_time = None;
        let err = ChainSpec::from_genesis(&g).unwrap_err().to_string();
        assert!(err.contains("shanghaiTime"), "{err}");
        let mut g = genesis(SHANGHAI);
        g.config.prague_time = Some(0);
        let err = ChainSpec::from_genesis(&g).unwrap_err().to_string();
        assert!(err.contains("pragueTime"), "{err}");
        let mut g = genesis(SHANGHAI);
        g.gas_limit = 0;
        let spec = ChainSpec::from_genesis(&g).unwrap();
        assert!(genesis_header(&g, &spec, &genesis_state(&g)).is_err());
    }
}
