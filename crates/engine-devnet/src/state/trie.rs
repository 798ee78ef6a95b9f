//! A Merkle-Patricia trie over 32-byte hashed keys that keeps its node hashes, so that a
//! root after a few changes costs the changed paths, not every key again.
//!
//! The trie is persistent: a [`Trie`] is a pointer to its root node, a clone shares every
//! node, and an update copies only the nodes on the changed key's path (in place where this
//! trie is their only owner, as within one block). Each node caches its RLP reference
//! ([`RlpNode`]: the encoding, or its hash from 32 bytes up), and an update drops the caches
//! of exactly the nodes it copies. So every block's state keeps its own trie at the cost of
//! the paths it changed, and hashing it rehashes only those paths.
//!
//! The node encodings are alloy-trie's ([`LeafNodeRef`], [`ExtensionNodeRef`],
//! [`BranchNodeRef`]), the same ones its one-shot `HashBuilder` uses; the tests pin every
//! root to `HashBuilder` over the same keys, through inserts, overwrites and removals.
//! Keys all have 64 nibbles, so a branch never holds a value, and a branch left with one
//! child after a removal folds into that child, as in Geth's `trie/trie.go` (`delete`).
//!
//! Hand-built, not a library: alloy-trie only builds a root from every sorted leaf at once,
//! and the incremental tries that exist (Reth's `reth-trie-sparse`, Geth's `trie`) come
//! with their node stores and crates around them.

use alloy_primitives::{B256, keccak256};
use alloy_trie::{
    EMPTY_ROOT_HASH, Nibbles, TrieMask,
    nodes::{BranchNodeRef, ExtensionNodeRef, LeafNodeRef, RlpNode},
};
use std::sync::{Arc, OnceLock};

/// A persistent Merkle-Patricia trie of `key → value` (values non-empty RLP strings).
#[derive(Clone, Default)]
pub(crate) struct Trie {
    root: Option<Arc<Node>>,
}

impl std::fmt::Debug for Trie {
    /// The root's kind only: a state's trie holds every account.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let root = self.root.as_ref().map(|node| match node.kind {
            Kind::Leaf { .. } => "leaf",
            Kind::Extension { .. } => "extension",
            Kind::Branch { .. } => "branch",
        });
        f.debug_struct("Trie").field("root", &root).finish()
    }
}

#[derive(Debug, Clone)]
struct Node {
    kind: Kind,
    /// The node's RLP reference, computed once until the node is next changed.
    rlp: OnceLock<RlpNode>,
}

#[derive(Debug, Clone)]
enum Kind {
    /// The rest of a key, and its value.
    Leaf { path: Nibbles, value: Box<[u8]> },
    /// A path shared by every key below, and the branch where they part.
    Extension { path: Nibbles, child: Arc<Node> },
    /// At least two children, by the next nibble.
    Branch { children: Box<[Option<Arc<Node>>; 16]> },
}

/// What a removal did to the node it was applied to.
enum Removed {
    /// The node changed (and may have folded into a leaf or an extension).
    Changed,
    /// The node is gone: it was the removed key's leaf.
    Emptied,
}

impl Trie {
    /// Sets `key` to `value` (an RLP string; an empty value would not be a key of the trie,
    /// so callers [`remove`](Self::remove) instead).
    pub(crate) fn insert(&mut self, key: &B256, value: Box<[u8]>) {
        let path = Nibbles::unpack(key);
        match &mut self.root {
            Some(root) => insert(root, path, value),
            None => self.root = Some(leaf(path, value)),
        }
    }

    /// Removes `key`; a key that is not there changes nothing (and copies no node).
    pub(crate) fn remove(&mut self, key: &B256) {
        let path = Nibbles::unpack(key);
        if !self.contains(&path) {
            return;
        }
        if let Some(root) = &mut self.root
            && let Removed::Emptied = remove(root, &path)
        {
            self.root = None;
        }
    }

    /// The root hash: [`EMPTY_ROOT_HASH`] for no keys. Hashes only the nodes changed since
    /// they were last hashed.
    pub(crate) fn root(&self) -> B256 {
        let Some(root) = &self.root else {
            return EMPTY_ROOT_HASH;
        };
        let rlp = root.rlp(&mut Vec::with_capacity(600));
        rlp.as_hash().unwrap_or_else(|| keccak256(&rlp))
    }

    fn contains(&self, path: &Nibbles) -> bool {
        let mut node = self.root.as_ref();
        let mut at = 0;
        while let Some(here) = node {
            match &here.kind {
                Kind::Leaf { path: rest, .. } => return *rest == path.slice(at..),
                Kind::Extension { path: shared, child } => {
                    if !path.slice(at..).starts_with(shared) {
                        return false;
                    }
                    at += shared.len();
                    node = Some(child);
                }
                Kind::Branch { children } => {
                    node = children[nibble(path, at)].as_ref();
                    at += 1;
                }
            }
        }
        false
    }
}

/// The nibble of `path` at `at` as a child index. Every path handled here is a suffix of a
/// 64-nibble key, and `at` is below its length where this is called (a leaf or extension
/// path ends no later than the key does), so the index is in bounds.
fn nibble(path: &Nibbles, at: usize) -> usize {
    usize::from(path.get_unchecked(at))
}

fn leaf(path: Nibbles, value: Box<[u8]>) -> Arc<Node> {
    Arc::new(Node::new(Kind::Leaf { path, value }))
}

/// A branch of `children`, behind an extension of `shared` unless that is empty.
fn branch_under(shared: Nibbles, children: Box<[Option<Arc<Node>>; 16]>) -> Kind {
    let branch = Kind::Branch { children };
    if shared.is_empty() {
        branch
    } else {
        Kind::Extension { path: shared, child: Arc::new(Node::new(branch)) }
    }
}

/// `prefix` followed by the node `child`: a leaf or an extension absorbs the prefix, a
/// branch gets an extension above it.
fn prefixed(prefix: Nibbles, child: &Arc<Node>) -> Kind {
    match &child.kind {
        Kind::Leaf { path, value } => Kind::Leaf { path: prefix.join(path), value: value.clone() },
        Kind::Extension { path, child } => {
            Kind::Extension { path: prefix.join(path), child: Arc::clone(child) }
        }
        Kind::Branch { .. } => Kind::Extension { path: prefix, child: Arc::clone(child) },
    }
}

fn insert(node: &mut Arc<Node>, path: Nibbles, value: Box<[u8]>) {
    let node = Node::writable(node);
    let kind = match &mut node.kind {
        Kind::Leaf { path: here, value: old } => {
            if *here == path {
                *old = value;
                return;
            }
            let at = here.common_prefix_length(&path);
            let mut children = Box::new([const { None }; 16]);
            children[nibble(here, at)] = Some(leaf(here.slice(at + 1..), std::mem::take(old)));
            children[nibble(&path, at)] = Some(leaf(path.slice(at + 1..), value));
            branch_under(path.slice(..at), children)
        }
        Kind::Extension { path: shared, child } => {
            let at = shared.common_prefix_length(&path);
            if at == shared.len() {
                insert(child, path.slice(at..), value);
                return;
            }
            let rest = shared.slice(at + 1..);
            let old = if rest.is_empty() {
                Arc::clone(child)
            } else {
                Arc::new(Node::new(Kind::Extension { path: rest, child: Arc::clone(child) }))
            };
            let mut children = Box::new([const { None }; 16]);
            children[nibble(shared, at)] = Some(old);
            children[nibble(&path, at)] = Some(leaf(path.slice(at + 1..), value));
            branch_under(path.slice(..at), children)
        }
        Kind::Branch { children } => {
            let slot = &mut children[nibble(&path, 0)];
            match slot {
                Some(child) => insert(child, path.slice(1..), value),
                None => *slot = Some(leaf(path.slice(1..), value)),
            }
            return;
        }
    };
    node.kind = kind;
}

/// Removes `path`, which [`Trie::contains`] found below `node`.
fn remove(node: &mut Arc<Node>, path: &Nibbles) -> Removed {
    if let Kind::Leaf { .. } = node.kind {
        return Removed::Emptied;
    }
    let node = Node::writable(node);
    let kind = match &mut node.kind {
        Kind::Leaf { .. } => return Removed::Emptied,
        Kind::Extension { path: shared, child } => {
            // The child is a branch of at least two: it changes but never empties.
            if let Removed::Emptied = remove(child, &path.slice(shared.len()..)) {
                return Removed::Emptied;
            }
            match child.kind {
                Kind::Branch { .. } => return Removed::Changed,
                _ => prefixed(*shared, child),
            }
        }
        Kind::Branch { children } => {
            let index = nibble(path, 0);
            if let Some(child) = &mut children[index] {
                match remove(child, &path.slice(1..)) {
                    Removed::Changed => return Removed::Changed,
                    Removed::Emptied => children[index] = None,
                }
            }
            let mut left = children.iter().enumerate().filter_map(|(i, c)| Some((i, c.as_ref()?)));
            let (Some((index, only)), None) = (left.next(), left.next()) else {
                return Removed::Changed;
            };
            // A branch left with one child folds into it. `index` < 16, a nibble.
            let index = u8::try_from(index).unwrap_or_default();
            prefixed(Nibbles::from_nibbles_unchecked([index]), only)
        }
    };
    node.kind = kind;
    Removed::Changed
}

impl Node {
    fn new(kind: Kind) -> Self {
        Self { kind, rlp: OnceLock::new() }
    }

    /// The node to change in place: copied first unless this trie is its only owner, and
    /// without its cached hash either way.
    fn writable(node: &mut Arc<Self>) -> &mut Self {
        let node = Arc::make_mut(node);
        node.rlp.take();
        node
    }

    /// The node's RLP reference, from the cache or computed (children first) and cached.
    fn rlp(&self, buf: &mut Vec<u8>) -> RlpNode {
        self.rlp
            .get_or_init(|| match &self.kind {
                Kind::Leaf { path, value } => {
                    buf.clear();
                    LeafNodeRef::new(path, value).rlp(buf)
                }
                Kind::Extension { path, child } => {
                    let child = child.rlp(buf);
                    buf.clear();
                    ExtensionNodeRef::new(path, &child).rlp(buf)
                }
                Kind::Branch { children } => {
                    let mut stack = Vec::with_capacity(16);
                    let mut mask = TrieMask::default();
                    for (index, child) in (0u8..).zip(children.iter()) {
                        if let Some(child) = child {
                            stack.push(child.rlp(buf));
                            mask.set_bit(index);
                        }
                    }
                    buf.clear();
                    BranchNodeRef::new(&stack, mask).rlp(buf)
                }
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::U256;
    use alloy_trie::HashBuilder;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// alloy-trie's one-shot root over every key, the reference.
    fn reference(keys: &BTreeMap<B256, Vec<u8>>) -> B256 {
        let mut hb = HashBuilder::default();
        for (key, value) in keys {
            hb.add_leaf(Nibbles::unpack(key), value);
        }
        hb.root()
    }

    fn value(n: u64) -> Vec<u8> {
        alloy_rlp::encode(U256::from(n))
    }

    /// Keys that share long prefixes, so that extensions form, split and fold, and some
    /// spread as hashed keys are.
    fn key(seed: u8, tail: u8) -> B256 {
        if seed >= 0xf0 {
            return keccak256([tail]);
        }
        let mut key = B256::repeat_byte(seed & 0x3);
        key[31] = tail;
        key[30] = tail & 0x1;
        key
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u8, u64),
        Remove(u8, u8),
        /// Take a copy of the trie here: later changes must leave it as it is.
        Snapshot,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<u8>(), any::<u8>(), 1..1_000_000u64).prop_map(|(s, t, v)| Op::Insert(s, t, v)),
            2 => (any::<u8>(), any::<u8>()).prop_map(|(s, t)| Op::Remove(s, t)),
            1 => Just(Op::Snapshot),
        ]
    }

    proptest! {
        /// Through any inserts, overwrites and removals the root equals alloy-trie's over the
        /// same keys, including when it is asked between changes (so cached hashes must be
        /// dropped exactly where a change passes); and a copy taken earlier keeps its root.
        #[test]
        fn agrees_with_the_hash_builder(ops in proptest::collection::vec(op(), 1..120)) {
            let mut trie = Trie::default();
            let mut keys = BTreeMap::new();
            let mut snapshots = Vec::new();
            for (i, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Insert(seed, tail, n) => {
                        trie.insert(&key(seed, tail), value(n).into());
                        keys.insert(key(seed, tail), value(n));
                    }
                    Op::Remove(seed, tail) => {
                        trie.remove(&key(seed, tail));
                        keys.remove(&key(seed, tail));
                    }
                    Op::Snapshot => snapshots.push((trie.clone(), reference(&keys))),
                }
                if i % 3 == 0 {
                    prop_assert_eq!(trie.root(), reference(&keys));
                }
            }
            prop_assert_eq!(trie.root(), reference(&keys));
            for (snapshot, root) in snapshots {
                prop_assert_eq!(snapshot.root(), root);
            }
        }
    }

    /// Removing every key, in an order other than insertion, leaves the empty root and no
    /// node; removing a missing key changes nothing.
    #[test]
    fn emptied_and_missing_keys() {
        let mut trie = Trie::default();
        let keys: Vec<B256> = (0..200u64).map(|n| keccak256(n.to_be_bytes())).collect();
        for (n, key) in (0u64..).zip(&keys) {
            trie.insert(key, value(n + 1).into());
        }
        let full = trie.root();
        trie.remove(&B256::repeat_byte(0xee));
        assert_eq!(trie.root(), full);
        for key in keys.iter().rev().step_by(2).chain(keys.iter().step_by(2)) {
            trie.remove(key);
        }
        assert_eq!(trie.root(), EMPTY_ROOT_HASH);
        assert!(trie.root.is_none());
    }

    /// A key inserted twice keeps its last value.
    #[test]
    fn overwrite_keeps_the_last_value() {
        let mut trie = Trie::default();
        let k = keccak256([1u8]);
        trie.insert(&k, value(1).into());
        let first = trie.root();
        trie.insert(&k, value(2).into());
        assert_ne!(trie.root(), first);
        assert_eq!(trie.root(), reference(&BTreeMap::from([(k, value(2))])));
    }
}
