//! The process's heap: glibc's allocator is told to keep at most [`ARENA_MAX`] arenas.
//!
//! glibc gives each thread that meets a locked arena a new one, up to eight per core, and
//! memory freed into an arena stays with it. The node's threads (the main runtime's workers,
//! the engine pool's and the devnet's) allocate and free per block in different arenas, so
//! the resident set kept creeping up long after the live heap stopped growing. Measured with
//! `cargo xtask soak` and heaptrack on this machine (2 cores, 1 ms slots): the live heap
//! peaked at 57.10 MiB by block 10,000 and 57.15 MiB by block 25,000, while the RSS went
//! 78 → 88 MiB over the same blocks; with two arenas it held 80.7 → 82.0 MiB, and with
//! jemalloc (`LD_PRELOAD`, Reth's allocator) it started higher and still crept
//! (98.9 → 106.9 MiB). Lighthouse's `malloc_utils` makes the same call at startup.
//!
//! An operator's own `MALLOC_ARENA_MAX` wins: glibc has read it before `main`, and
//! [`tune`] then leaves the setting alone.

/// Arenas glibc may keep: two serve the node's handful of runtime threads without the lock
/// contention a single arena would bring.
pub(crate) const ARENA_MAX: i32 = 2;

/// Applies [`ARENA_MAX`] unless `MALLOC_ARENA_MAX` is set. Call it first in `main`, before any
/// thread exists: the cap applies to arenas created after it. Whether it applied, for the log.
pub(crate) fn tune() -> Tuned {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return Tuned::ByEnvironment;
    }
    set_arena_max()
}

/// What [`tune`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tuned {
    /// glibc keeps at most [`ARENA_MAX`] arenas.
    Capped,
    /// `MALLOC_ARENA_MAX` was set: glibc follows it.
    ByEnvironment,
    /// glibc refused the setting (it returned 0).
    Refused,
    /// Not glibc: nothing to tune.
    #[cfg_attr(all(target_os = "linux", target_env = "gnu"), allow(dead_code))]
    NotGlibc,
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_arena_max() -> Tuned {
    // SAFETY: `mallopt` takes two integers and only changes allocator parameters under
    // glibc's own lock; it touches no memory of ours and is safe to call at any time.
    let applied = unsafe { libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX) };
    if applied == 1 { Tuned::Capped } else { Tuned::Refused }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
const fn set_arena_max() -> Tuned {
    Tuned::NotGlibc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On glibc the cap is taken (the test binary does not set `MALLOC_ARENA_MAX` unless the
    /// person running it did, and then `tune` must leave it be).
    #[test]
    fn caps_the_arenas() {
        let expected = if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            Tuned::ByEnvironment
        } else if cfg!(all(target_os = "linux", target_env = "gnu")) {
            Tuned::Capped
        } else {
            Tuned::NotGlibc
        };
        assert_eq!(tune(), expected);
    }
}
