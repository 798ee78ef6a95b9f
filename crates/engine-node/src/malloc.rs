//! The process's heap: glibc's allocator is told to keep at most [`ARENA_MAX`] arenas and
//! to map blocks of [`MMAP_THRESHOLD`] and more on their own.
//!
//! glibc gives each thread that meets a locked arena a new one, up to eight per core, and
//! memory freed into an arena stays with it. The node's threads (the main runtime's workers,
//! the engine pool's and the devnet's) allocate and free per block in different arenas, so
//! the resident set kept creeping up long after the live heap stopped growing. Measured with
//! `cargo xtask soak` and heaptrack on this machine (2 cores, 1 ms slots): the live heap
//! peaked at 57.10 MiB by block 10,000 and 57.15 MiB by block 25,000, while the RSS went
//! 78 → 88 MiB over the same blocks; with two arenas it held 80.7 → 82.0 MiB, and with
//! jemalloc (`LD_PRELOAD`, Reth's allocator) it started higher and still crept
//! (98.9 → 106.9 MiB). Lighthouse's `malloc_utils` makes the same kind of call at startup.
//!
//! The devnet clones its account table (over 100 KiB) for every block and frees the one
//! that falls out of its window. glibc maps such a block on its own, but after the first
//! free it raises its mmap threshold to that size (the "dynamic threshold"), and from then
//! on these tables are cut from the arenas and freed in a different order than they were
//! allocated: the heap holes grow. A fixed threshold keeps them mapped and unmapped; it
//! also turns the dynamic adjustment off. Soak, two arenas, RSS from the first tenth on:
//! +5.1 % by block 100,000 with the dynamic threshold, +2.3 to +3.0 % to block 35,000 with
//! 128 KiB fixed (`MALLOC_MMAP_THRESHOLD_=131072`).
//!
//! An operator's own `MALLOC_ARENA_MAX` or `MALLOC_MMAP_THRESHOLD_` (or the same setting in
//! `GLIBC_TUNABLES`) wins: glibc has read it before `main`, and [`tune`] then leaves that
//! setting alone.
//!
//! What is left is slow: from block 10,000 (when the node's windows are full) the RSS still
//! rises about 8 % over the next 50,000 blocks and then holds (soak, 1 ms slots: 59.2, 61.8,
//! 61.8, 63.5, 64.1, 64.0, 64.4 MiB at each further tenth) while heaptrack's timeline shows
//! the live heap flat (median 41.45 MiB per 20 s from block ~10,000 to 30,000). A
//! `malloc_trim(0)` every minute changed none of these figures and was dropped; mimalloc 3
//! was flatter but held 80–108 MiB. The cure is less churn (the devnet clones its account
//! table every block), not more allocator settings.

/// Arenas glibc may keep: two serve the node's handful of runtime threads without the lock
/// contention a single arena would bring.
pub(crate) const ARENA_MAX: i32 = 2;

/// Blocks this large or larger are mapped on their own and returned to the system when freed
/// (glibc's initial default, made fixed).
pub(crate) const MMAP_THRESHOLD: i32 = 128 * 1024;

/// Applies [`ARENA_MAX`] unless `MALLOC_ARENA_MAX` (or `glibc.malloc.arena_max` in
/// `GLIBC_TUNABLES`) is set, and [`MMAP_THRESHOLD`] unless `MALLOC_MMAP_THRESHOLD_` (or
/// `glibc.malloc.mmap_threshold`) is. Call it first in `main`, before any thread exists: the cap
/// applies to arenas created after it. What it did with each, for the log.
pub(crate) fn tune() -> [Tuned; 2] {
    let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    let set = |variable: &str, tunable: &str, param| {
        if std::env::var_os(variable).is_some() || tunables.contains(tunable) {
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

    /// On glibc both settings are taken (the test binary does not set the variables unless
    /// the person running it did, and then `tune` must leave that one be).
    #[test]
    fn applies_both_settings() {
        let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
        let expected = |variable: &str, tunable: &str| {
            if std::env::var_os(variable).is_some() || tunables.contains(tunable) {
                Tuned::ByEnvironment
            } else if cfg!(all(target_os = "linux", target_env = "gnu")) {
                Tuned::Applied
            } else {
                Tuned::NotGlibc
            }
        };
        assert_eq!(
            tune(),
            [
                expected("MALLOC_ARENA_MAX", "glibc.malloc.arena_max"),
                expected("MALLOC_MMAP_THRESHOLD_", "glibc.malloc.mmap_threshold")
            ]
        );
    }
}
