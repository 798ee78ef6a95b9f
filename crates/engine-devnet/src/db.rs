//! revm's view of the state while a block (or a call) executes: the parent's [`WorldState`]
//! with this block's changes on top, collected into a [`StateDiff`].

use super::state::{Account, StateDiff, WorldState};
use alloy_primitives::{Address, B256, U256, map::AddressMap};
use alloy_trie::KECCAK_EMPTY;
use revm::{
    Database, DatabaseCommit,
    bytecode::Bytecode,
    primitives::{StorageKey, StorageValue, hardfork::SpecId},
    state::{Account as EvmAccount, AccountInfo},
};
use std::{convert::Infallible, sync::Arc};

/// Looks up the hash of an ancestor block by number for `BLOCKHASH` (the EVM only asks for
/// the 256 most recent ones).
pub(crate) type BlockHashLookup<'a> = &'a dyn Fn(u64) -> Option<B256>;

/// The parent state plus the changes made so far.
pub(crate) struct OverlayDb<'a> {
    base: &'a WorldState,
    diff: StateDiff,
    spec: SpecId,
    block_hashes: BlockHashLookup<'a>,
}

impl std::fmt::Debug for OverlayDb<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OverlayDb")
            .field("changed_accounts", &self.diff.accounts.len())
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl<'a> OverlayDb<'a> {
    /// An overlay with no changes yet.
    pub(crate) fn new(
        base: &'a WorldState,
        spec: SpecId,
        block_hashes: BlockHashLookup<'a>,
    ) -> Self {
        Self { base, diff: StateDiff::default(), spec, block_hashes }
    }

    /// The account at `address` as of the changes so far.
    pub(crate) fn account(&self, address: &Address) -> Option<&Account> {
        match self.diff.accounts.get(address) {
            Some(changed) => changed.as_ref(),
            None => self.base.account(address),
        }
    }

    /// Credit `wei` to `address` (withdrawals). Zero credits nothing: an empty account
    /// touched with zero would be removed again by EIP-161.
    pub(crate) fn add_balance(&mut self, address: Address, wei: U256) {
        if wei.is_zero() {
            return;
        }
        let mut account =
            self.account(&address).cloned().unwrap_or_else(|| Account::empty(&address));
        account.balance = account.balance.saturating_add(wei);
        self.diff.accounts.insert(address, Some(account));
    }

    /// The changes collected so far.
    pub(crate) fn into_diff(self) -> StateDiff {
        self.diff
    }

    fn commit_account(&mut self, address: Address, account: EvmAccount) {
        if !account.is_touched() {
            return;
        }
        if account.is_selfdestructed() || account.state_clear_aware_is_empty(self.spec) {
            self.diff.accounts.insert(address, None);
            return;
        }
        let mut next = match (account.is_created(), self.account(&address)) {
            (false, Some(existing)) => existing.clone(),
            // A new contract starts from empty storage, whatever was there before.
            _ => Account::empty(&address),
        };
        next.nonce = account.info.nonce;
        next.balance = account.info.balance;
        next.code_hash = account.info.code_hash;
        if let Some(code) = &account.info.code
            && account.info.code_hash != KECCAK_EMPTY
            && self.code(&account.info.code_hash).is_none()
        {
            self.diff.code.insert(account.info.code_hash, code.clone());
        }
        let mut changed = account.changed_storage_slots().peekable();
        if changed.peek().is_some() {
            let storage = Arc::make_mut(&mut next.storage);
            for (slot, value) in changed {
                storage.set(*slot, value.present_value);
            }
        }
        self.diff.accounts.insert(address, Some(next));
    }

    fn code(&self, hash: &B256) -> Option<&Bytecode> {
        self.diff.code.get(hash).or_else(|| self.base.code(hash))
    }
}

impl Database for OverlayDb<'_> {
    type Error = Infallible;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        Ok(self.account(&address).map(|a| {
            let code = self.code(&a.code_hash).cloned().unwrap_or_default();
            AccountInfo::new(a.balance, a.nonce, a.code_hash, code)
        }))
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        Ok(self.code(&code_hash).cloned().unwrap_or_default())
    }

    fn storage(
        &mut self,
        address: Address,
        index: StorageKey,
    ) -> Result<StorageValue, Self::Error> {
        Ok(self.account(&address).map(|a| a.storage.get(&index)).unwrap_or_default())
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Self::Error> {
        Ok((self.block_hashes)(number).unwrap_or_default())
    }
}

impl DatabaseCommit for OverlayDb<'_> {
    fn commit(&mut self, changes: AddressMap<EvmAccount>) {
        for (address, account) in changes {
            self.commit_account(address, account);
        }
    }
}
