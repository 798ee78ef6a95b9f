//! `[engine_actor]` in the config file: the engine actor's own bounds
//! (`engine_actor::EngineActorConfig`), which engine-types' `Config` does not carry. Every
//! value has engine-actor's default and an upper bound far above any useful setting, so that
//! a typo cannot size a queue past memory or tokio's limits.

use engine_actor::{
    EngineActorConfig,
    config::{DEFAULT_JOB_QUEUE, DEFAULT_MAX_TASKS},
};
use serde::{Deserialize, Serialize};
use std::num::NonZeroUsize;

/// Largest [`EngineActorSettings::job_queue`]: over an hour of one-second slots.
pub(crate) const MAX_JOB_QUEUE: usize = 4096;
/// Largest [`EngineActorSettings::max_tasks`].
pub(crate) const MAX_TASKS: usize = 65_536;

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
}

impl Default for EngineActorSettings {
    fn default() -> Self {
        Self { job_queue: DEFAULT_JOB_QUEUE, max_tasks: DEFAULT_MAX_TASKS }
    }
}

impl EngineActorSettings {
    /// Every problem, named `engine_actor.<field>`; empty when usable. Zero is refused when
    /// the section is read (the fields are `NonZeroUsize`).
    pub(crate) fn problems(&self) -> Vec<String> {
        [("job_queue", self.job_queue, MAX_JOB_QUEUE), ("max_tasks", self.max_tasks, MAX_TASKS)]
            .into_iter()
            .filter(|(_, value, max)| value.get() > *max)
            .map(|(name, value, max)| {
                format!("engine_actor.{name}: {value} is over the limit of {max}")
            })
            .collect()
    }

    /// Sets these bounds in the engine actor's configuration.
    pub(crate) const fn apply(&self, config: &mut EngineActorConfig) {
        config.job_queue = self.job_queue;
        config.max_tasks = self.max_tasks;
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
        at_max.apply(&mut config);
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
}
