//! `[engine_actor]` in the config file: the engine actor's own bounds
//! (`engine_actor::EngineActorConfig`), which engine-types' `Config` does not carry. Every
//! value has engine-actor's default and an upper bound far above any useful setting, so that
//! a typo cannot size a queue past memory or tokio's limits.
//!
//! `index_recovery_depth` is also how much history the embedded devnet keeps: the devnet
//! holds its blocks in memory, and the index recovery is what reads furthest back, so the
//! devnet keeps that depth plus the 256 blocks a head may lag the tip
//! ([`crate::devnet::retention`]). Its default therefore depends on the execution layer:
//! engine-actor's 8,192 against execution clients (their history is on disk), 1,024 on the
//! embedded devnet. Measured with `cargo xtask soak --blocks 100000`: an 8,448-block window
//! costs 16 MiB more and its FIFO of small blocks fragments glibc's heap, so RSS crept 8.9 %
//! from block 10,000 to 100,000; with 1,280 blocks it stays flat (see [`crate::malloc`]).

use engine_actor::{
    EngineActorConfig,
    config::{DEFAULT_INDEX_RECOVERY_DEPTH, DEFAULT_JOB_QUEUE, DEFAULT_MAX_TASKS},
};
use serde::{Deserialize, Serialize};
use std::num::NonZeroUsize;

/// Largest [`EngineActorSettings::job_queue`]: over an hour of one-second slots.
pub(crate) const MAX_JOB_QUEUE: usize = 4096;
/// Largest [`EngineActorSettings::max_tasks`].
pub(crate) const MAX_TASKS: usize = 65_536;
/// Largest [`EngineActorSettings::index_recovery_depth`]: about 2 KiB of devnet memory per
/// block on the embedded devnet, so 2 GiB at most; against execution clients, a walk of a
/// million `eth_getBlockByHash` calls, far past any useful search.
pub(crate) const MAX_INDEX_RECOVERY_DEPTH: u64 = 1 << 20;
/// The default [`EngineActorSettings::index_recovery_depth`] on the embedded devnet (see
/// the module docs for why it is smaller than engine-actor's).
pub(crate) const DEVNET_INDEX_RECOVERY_DEPTH: u64 = 1024;

// A bounded tokio channel or semaphore panics above this.
const _: () = assert!(MAX_JOB_QUEUE <= tokio::sync::Semaphore::MAX_PERMITS);
const _: () = assert!(MAX_TASKS <= tokio::sync::Semaphore::MAX_PERMITS);

/// The engine actor's queue bounds, as the config file sets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct EngineActorSettings {
    /// Forkchoice jobs that may wait behind the one the worker runs (`job_queue`; a request
    /// beyond it is refused as busy). 1 to [`MAX_JOB_QUEUE`].
    pub(crate) job_queue: NonZeroUsize,
    /// Query and transaction-admission tasks running at once (`max_tasks`; one more is
    /// refused as busy). 1 to [`MAX_TASKS`].
    pub(crate) max_tasks: NonZeroUsize,
    /// How far back the withdrawal index is searched when it must be recovered from the
    /// chain, and so how much history the embedded devnet keeps; up to
    /// [`MAX_INDEX_RECOVERY_DEPTH`]. Unset: [`DEFAULT_INDEX_RECOVERY_DEPTH`] against
    /// execution clients, [`DEVNET_INDEX_RECOVERY_DEPTH`] on the embedded devnet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) index_recovery_depth: Option<u64>,
}

impl Default for EngineActorSettings {
    fn default() -> Self {
        Self {
            job_queue: DEFAULT_JOB_QUEUE,
            max_tasks: DEFAULT_MAX_TASKS,
            index_recovery_depth: None,
        }
    }
}

impl EngineActorSettings {
    /// Every problem, named `engine_actor.<field>`; empty when usable. Zero is refused when
    /// the section is read (the fields are `NonZeroUsize`).
    pub(crate) fn problems(&self) -> Vec<String> {
        let depth = self.index_recovery_depth.unwrap_or_default();
        [
            ("job_queue", self.job_queue.get() as u64, MAX_JOB_QUEUE as u64),
            ("max_tasks", self.max_tasks.get() as u64, MAX_TASKS as u64),
            ("index_recovery_depth", depth, MAX_INDEX_RECOVERY_DEPTH),
        ]
        .into_iter()
        .filter(|(_, value, max)| value > max)
        .map(|(name, value, max)| {
            format!("engine_actor.{name}: {value} is over the limit of {max}")
        })
        .collect()
    }

    /// The index recovery depth, on the embedded devnet or not (see the module docs).
    pub(crate) fn index_recovery_depth(&self, embedded_devnet: bool) -> u64 {
        let default = if embedded_devnet {
            DEVNET_INDEX_RECOVERY_DEPTH
        } else {
            DEFAULT_INDEX_RECOVERY_DEPTH
        };
        self.index_recovery_depth.unwrap_or(default)
    }

    /// Sets these bounds in the engine actor's configuration.
    pub(crate) fn apply(&self, config: &mut EngineActorConfig, embedded_devnet: bool) {
        config.job_queue = self.job_queue;
        config.max_tasks = self.max_tasks;
        config.index_recovery_depth = self.index_recovery_depth(embedded_devnet);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<EngineActorSettings, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| e.to_string())
    }

    /// The defaults are engine-actor's; values up to each bound are taken and applied, one
    /// past it or zero is refused with the field named.
    #[test]
    fn bounds_are_checked_and_applied() {
        let defaults = EngineActorSettings::default();
        assert_eq!(defaults.problems(), Vec::<String>::new());
        let mut config = EngineActorConfig::new(Default::default(), "/unused");
        assert_eq!((config.job_queue, config.max_tasks), (defaults.job_queue, defaults.max_tasks));

        let at_max =
            parse(&format!("job_queue = {MAX_JOB_QUEUE}\nmax_tasks = {MAX_TASKS}\n")).unwrap();
        assert_eq!(at_max.problems(), Vec::<String>::new());
        at_max.apply(&mut config, false);
        assert_eq!(config.job_queue.get(), MAX_JOB_QUEUE);
        assert_eq!(config.max_tasks.get(), MAX_TASKS);

        let over =
            parse(&format!("job_queue = {}\nmax_tasks = {}\n", MAX_JOB_QUEUE + 1, usize::MAX >> 3))
                .unwrap();
        let problems = over.problems().join("\n");
        assert!(problems.contains("engine_actor.job_queue: 4097 is over the limit"), "{problems}");
        assert!(problems.contains("engine_actor.max_tasks"), "{problems}");

        for field in ["job_queue", "max_tasks"] {
            let err = parse(&format!("{field} = 0\n")).unwrap_err();
            assert!(err.contains(field) && err.contains("nonzero"), "{err}");
        }
    }

    /// Unset, the index recovery depth is engine-actor's against execution clients and the
    /// smaller devnet one on the embedded devnet; set, it is taken on both, up to its bound.
    #[test]
    fn index_recovery_depth_defaults_by_execution_layer() {
        let mut config = EngineActorConfig::new(Default::default(), "/unused");
        let unset = EngineActorSettings::default();
        unset.apply(&mut config, false);
        assert_eq!(config.index_recovery_depth, DEFAULT_INDEX_RECOVERY_DEPTH);
        unset.apply(&mut config, true);
        assert_eq!(config.index_recovery_depth, DEVNET_INDEX_RECOVERY_DEPTH);

        let at_max =
            parse(&format!("index_recovery_depth = {MAX_INDEX_RECOVERY_DEPTH}\n")).unwrap();
        assert_eq!(at_max.problems(), Vec::<String>::new());
        for devnet in [false, true] {
            at_max.apply(&mut config, devnet);
            assert_eq!(config.index_recovery_depth, MAX_INDEX_RECOVERY_DEPTH);
        }
        let over =
            parse(&format!("index_recovery_depth = {}\n", MAX_INDEX_RECOVERY_DEPTH + 1)).unwrap();
        let problems = over.problems().join("\n");
        assert!(
            problems.contains("engine_actor.index_recovery_depth: 1048577 is over the limit"),
            "{problems}"
        );
    }
}
