//! The process's heap: glibc's allocator is told to keep at most [`ARENA_MAX`] arenas and
//! to map blocks of [`MMAP_THRESHOLD`] and more on their own.
//!
//! Measured with `cargo xtask soak` (1 ms slots) and heaptrack: once the node's windows are
//! full (block ~10,000) its live heap is flat, yet glibc's resident set kept creeping.
//! - glibc gives each thread that meets a locked arena a new one, up to eight per core, and
//!   memory freed into an arena stays there. Blocks 10k → 30k: 78 → 88 MiB by default,
//!   80.7 → 82.0 MiB with two arenas.
//! - Tables over 100 KiB come and go (the devnet's indices, its account bases; it used to copy
//!   its whole account table every block). After the first such block is freed glibc raises
//!   its mmap threshold to that size (the dynamic threshold) and later ones are cut from the
//!   arenas; a fixed threshold keeps them mapped on their own.
//!
//! What is left is slow: +7 to +9 % over the 50,000 blocks after block 10,000, then flat.
//! It is not the devnet's churn: once the devnet stopped copying its account table every
//! block (its state is layered, see engine-testkit's `devnet::state`) RSS at block 10,000
//! fell from 59.9 to 45.0 MiB and the creep stayed (44.9 → 48.9 MiB over 100,000 blocks).
//! `malloc_info` read by gdb shows why: with one arena, from block 8.5k to 58k, memory in
//! use rose 0.9 MiB while free chunks inside the arena grew from 1.5 to 3.9 MiB, most of
//! them 4.1–4.5 KiB and 12–52 KiB long: mostly fragmentation. It comes from the devnet's
//! window of 8,448 kept blocks, each made of dozens of allocations that live exactly one
//! window: a node built to keep 1,024 blocks soaked flat (32.3 → 33.0 MiB, +2.2 % from
//! block 10k to 100k, and 16 MiB smaller). Allocator settings measured against it: one
//! arena (47.5 → 50.1 MiB, +5.5 % at 75k), no fastbins (`mxfast=0`: +7.9 % at 85k),
//! mimalloc 2.0 (54 → 59 MiB, +9 % at 41k), a 1 MiB redb cache (the same curve to block
//! 18k); a `malloc_trim(0)` a minute changed nothing; jemalloc and mimalloc 3 held 80–108
//! MiB.
//! So the node sizes the embedded devnet's window by what it reads (settings'
//! `actor_section`: `index_recovery_depth` + 256 blocks, default depth 1,024 there): the
//! 100,000-block soak then went 30.6 MiB at block 10,000 → 30.9 MiB at block 100,000
//! (+0.9 %). Keeping old blocks compactly (one allocation each) would let a deep window stay
//! flat too.
//!
//! Lighthouse's `malloc_utils` makes the same kind of call at startup.
//!
//! An operator's own `MALLOC_ARENA_MAX` or `MALLOC_MMAP_THRESHOLD_` (or the same setting in
//! `GLIBC_TUNABLES`) wins: glibc has read it before `main`, and [`tune`] leaves it alone.

/// Arenas glibc may keep: two serve the node's handful of runtime threads without the lock
/// contention a single arena would bring.
pub(crate) const ARENA_MAX: i32 = 2;

/// Blocks this large or larger are mapped on their own and returned to the system when freed
/// (glibc's initial default, made fixed).
pub(crate) const MMAP_THRESHOLD: i32 = 128 * 1024;

/// Applies [`ARENA_MAX`] and [`MMAP_THRESHOLD`], each unless the environment sets it. Call it
/// first in `main`, before any thread exists: the cap applies to arenas created after it.
/// What it did with each, for the log.
pub(crate) fn tune() -> [Tuned; 2] {
    tune_with(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
}

/// [`tune`] with the environment read through `env`.
fn tune_with(env: impl Fn(&str) -> Option<String>) -> [Tuned; 2] {
    let tunables = env("GLIBC_TUNABLES").unwrap_or_default();
    let set = |variable: &str, tunable: &str, param| {
        if env(variable).is_some() || tunables.contains(tunable) {
            Tuned::ByEnvironment
        } else {
            set_param(param)
        }
    };
    [
        set("MALLOC_ARENA_MAX", "glibc.malloc.arena_max", Param::ArenaMax),
        set("MALLOC_MMAP_THRESHOLD_", "glibc.malloc.mmap_threshold", Param::MmapThreshold),
    ]
}

/// A glibc allocator setting [`tune`] applies.
#[derive(Debug, Clone, Copy)]
enum Param {
    ArenaMax,
    MmapThreshold,
}

/// What [`tune`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tuned {
    /// glibc took our value.
    #[cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code))]
    Applied,
    /// The environment variable was set: glibc follows it.
    ByEnvironment,
    /// glibc refused the setting (it returned 0).
    #[cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code))]
    Refused,
    /// Not glibc: nothing to tune.
    #[cfg_attr(all(target_os = "linux", target_env = "gnu"), allow(dead_code))]
    NotGlibc,
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_param(param: Param) -> Tuned {
    let (key, value) = match param {
        Param::ArenaMax => (libc::M_ARENA_MAX, ARENA_MAX),
        Param::MmapThreshold => (libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD),
    };
    // SAFETY: `mallopt` takes two integers and only changes allocator parameters under
    // glibc's own lock; it touches no memory of ours and is safe to call at any time.
    let applied = unsafe { libc::mallopt(key, value) };
    if applied == 1 { Tuned::Applied } else { Tuned::Refused }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
const fn set_param(_: Param) -> Tuned {
    Tuned::NotGlibc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With nothing set both settings are taken (on glibc); a variable or a
    /// `GLIBC_TUNABLES` entry for one leaves that one to the operator.
    #[test]
    fn applies_what_the_environment_leaves() {
        let ours = if cfg!(all(target_os = "linux", target_env = "gnu")) {
            Tuned::Applied
        } else {
            Tuned::NotGlibc
        };
        assert_eq!(tune_with(|_| None), [ours, ours]);
        let arenas = |name: &str| (name == "MALLOC_ARENA_MAX").then(|| "4".to_owned());
        assert_eq!(tune_with(arenas), [Tuned::ByEnvironment, ours]);
        let tunables = |name: &str| {
            (name == "GLIBC_TUNABLES").then(|| "glibc.malloc.mmap_threshold=65536".to_owned())
        };
        assert_eq!(tune_with(tunables), [ours, Tuned::ByEnvironment]);
    }
}
