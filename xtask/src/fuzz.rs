//! `cargo xtask fuzz` and the `fuzz` stage of `cargo xtask ci`: the coverage-guided fuzz
//! targets of `fuzz/` (cargo-fuzz, libFuzzer), each for a fixed time.
//!
//! ```text
//! fuzz/fuzz_targets/<target>.rs   one target per parser of outside input (see fuzz/README.md)
//! fuzz/corpus/<target>/           committed seeds, read only
//! fuzz/target/corpus/<target>/    what a run learned (kept between runs, not committed)
//! fuzz/artifacts/<target>/        inputs that crashed, written by libFuzzer
//! fuzz/target/logs/<target>.log   a run's libFuzzer output
//! ```
//!
//! The targets are built without a sanitizer (`-s none`): the code under test is safe Rust,
//! whose failures are panics, overflows (debug assertions are on) and runaway memory or time,
//! which libFuzzer reports itself; AddressSanitizer would halve the executions for nothing.
//! That also keeps the build on the stable toolchain (no `-Z` flag is passed).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::SystemTime;

use crate::stages::{Ctx, cargo, cargo_plugin, plugin_answers, run};

/// Every fuzz target, in the order they run; kept equal to the `[[bin]]`s of
/// `fuzz/Cargo.toml` (a test checks it).
pub(crate) const TARGETS: [&str; 7] = [
    "rpc_response",
    "engine_status",
    "state_file",
    "config_toml",
    "jwt_secret",
    "tx_admission",
    "payload",
];

/// Seconds per target of `cargo xtask fuzz` without `--seconds`.
pub(crate) const DEFAULT_SECONDS: u64 = 60;

/// Seconds per target in the CI stage. Measured on two shared cores: a cold `--dev` build is
/// about 11.5 min of CPU (some 6 min of wall time when the cores are free), so seven targets
/// at 15 s keep the stage near its budget of about eight minutes.
pub(crate) const CI_SECONDS: u64 = 15;

/// How the targets are built: the options shared by `cargo fuzz build` and `cargo fuzz run`
/// (so that a run reuses the build). Both have no sanitizer (see the module documentation)
/// and debug assertions and overflow checks on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Build {
    /// The CI stage: `--dev`, which fuzz/Cargo.toml's `[profile.dev]` makes `opt-level = 1`.
    /// Measured: a cold build takes about 80% of the CPU of [`Build::Release`] and runs
    /// about 70% as many inputs a second (`opt-level = 0` builds faster still but runs 20
    /// times fewer).
    Quick,
    /// Long runs: release (`opt-level = 3`) with 16 codegen units (cargo-fuzz's default of
    /// 1 doubles the build for a few percent more executions).
    Release,
}

impl Build {
    const fn options(self) -> &'static [&'static str] {
        match self {
            Self::Quick => &["-s", "none", "--debug-assertions", "--dev"],
            Self::Release => &["-s", "none", "--debug-assertions", "--codegen-units", "16"],
        }
    }
}

/// Largest input libFuzzer generates, in bytes: above the largest seed (a payload response
/// of a few KiB), below what would slow every target down.
const MAX_LEN: u32 = 64 * 1024;

/// Longest one input may run, in seconds, before libFuzzer reports it as a hang: every
/// parser here answers in microseconds, so this only catches a runaway.
const INPUT_TIMEOUT_SECS: u32 = 10;

/// Memory one target may use, in MiB, before libFuzzer reports it.
const RSS_LIMIT_MB: u32 = 2048;

/// The `fuzz` stage of `cargo xtask ci`: every target for [`CI_SECONDS`]. Without
/// cargo-fuzz it fails in CI and is skipped (saying so) elsewhere.
pub(crate) fn stage(ctx: &Ctx) -> Result<(), String> {
    if !cargo_plugin(ctx, "fuzz", "fuzz")? {
        return Ok(());
    }
    fuzz(ctx, Build::Quick, CI_SECONDS, None)
}

/// Builds the targets, then runs `only` (or every target) for `seconds` each; fails at the
/// end if any target found a crash, naming the input that caused it.
pub(crate) fn fuzz(
    ctx: &Ctx,
    build_as: Build,
    seconds: u64,
    only: Option<&str>,
) -> Result<(), String> {
    if !plugin_answers(ctx, "fuzz") {
        return Err("cargo-fuzz is not installed: `cargo install --locked cargo-fuzz`".to_owned());
    }
    let targets: Vec<&str> = match only {
        Some(name) if TARGETS.contains(&name) => vec![name],
        Some(name) => {
            return Err(format!("unknown fuzz target `{name}` (targets: {})", TARGETS.join(", ")));
        }
        None => TARGETS.to_vec(),
    };
    let dir = ctx.root.join("fuzz");
    // cargo-fuzz has no `--locked`: check the committed lock file first, so that CI never
    // fuzzes dependencies other than the reviewed ones.
    let mut locked = cargo(ctx, &["metadata", "--locked", "--format-version", "1"]);
    locked.arg("--manifest-path").arg(dir.join("Cargo.toml")).stdout(Stdio::null());
    run(locked)?;
    let mut build = cargo(ctx, &["fuzz", "build"]);
    build.args(build_as.options()).current_dir(&dir);
    run(build)?;
    let mut failures = Vec::new();
    for target in targets {
        match run_target(ctx, &dir, build_as, target, seconds)? {
            Outcome::Clean { runs } => {
                println!("{target}: {runs} executions in {seconds} s, no crash")
            }
            Outcome::Crashed { inputs, log } => {
                let shown: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
                failures.push(format!(
                    "{target} crashed; input(s): {}\n  log: {}\n  reproduce: cd fuzz && cargo \
                     fuzz run {} {target} <input>",
                    if shown.is_empty() { "(none written)".to_owned() } else { shown.join(", ") },
                    log.display(),
                    build_as.options().join(" "),
                ));
            }
        }
    }
    if failures.is_empty() { Ok(()) } else { Err(failures.join("\n")) }
}

/// What one timed run of a target found.
#[derive(Debug)]
enum Outcome {
    /// No crash; `runs` inputs were executed.
    Clean { runs: u64 },
    /// libFuzzer stopped on a failure; `inputs` are the artifacts it wrote.
    Crashed { inputs: Vec<PathBuf>, log: PathBuf },
}

fn run_target(
    ctx: &Ctx,
    dir: &Path,
    build_as: Build,
    target: &str,
    seconds: u64,
) -> Result<Outcome, String> {
    let work = dir.join("target").join("corpus").join(target);
    let artifacts = dir.join("artifacts").join(target);
    let logs = dir.join("target").join("logs");
    for d in [&work, &artifacts, &logs] {
        fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    let log = logs.join(format!("{target}.log"));
    let log_file =
        fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let started = SystemTime::now();
    let mut fuzz = cargo(ctx, &["fuzz", "run"]);
    fuzz.args(build_as.options())
        .arg(target)
        // New inputs go to the first directory; the committed seeds are only read.
        .arg(&work)
        .arg(dir.join("corpus").join(target))
        .arg("--")
        .args(libfuzzer_args(seconds, &artifacts))
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(log_file);
    println!(
        "$ cargo fuzz run {} {target} … ({seconds} s, log: {})",
        build_as.options().join(" "),
        log.display()
    );
    let status = fuzz.status().map_err(|e| format!("could not start cargo fuzz run: {e}"))?;
    let text = fs::read_to_string(&log).unwrap_or_default();
    if status.success() {
        return executed_units(&text).map(|runs| Outcome::Clean { runs }).ok_or_else(|| {
            format!("{target}: libFuzzer printed no final stats; see {}", log.display())
        });
    }
    eprintln!("--- last lines of {} ---", log.display());
    let lines: Vec<&str> = text.lines().collect();
    for line in &lines[lines.len().saturating_sub(40)..] {
        eprintln!("{line}");
    }
    Ok(Outcome::Crashed { inputs: written_since(&artifacts, started), log })
}

/// The libFuzzer options of a timed run.
fn libfuzzer_args(seconds: u64, artifacts: &Path) -> Vec<String> {
    vec![
        format!("-max_total_time={seconds}"),
        format!("-max_len={MAX_LEN}"),
        format!("-timeout={INPUT_TIMEOUT_SECS}"),
        format!("-rss_limit_mb={RSS_LIMIT_MB}"),
        // cargo-fuzz also passes a prefix; the last one given wins.
        format!("-artifact_prefix={}/", artifacts.display()),
        "-print_final_stats=1".to_owned(),
    ]
}

/// `stat::number_of_executed_units` from libFuzzer's final stats.
fn executed_units(log: &str) -> Option<u64> {
    log.lines()
        .filter_map(|line| line.strip_prefix("stat::number_of_executed_units:"))
        .next_back()
        .and_then(|n| n.trim().parse().ok())
}

/// The files of `dir` modified at or after `since`: the inputs a failed run wrote.
fn written_since(dir: &Path, since: SystemTime) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t >= since))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of targets is the `[[bin]]` list of fuzz/Cargo.toml, in any order.
    #[test]
    fn targets_match_the_fuzz_manifest() {
        let manifest = include_str!("../../fuzz/Cargo.toml");
        let mut bins: Vec<&str> = manifest
            .lines()
            .filter_map(|l| l.strip_prefix("name = \""))
            .filter_map(|l| l.strip_suffix('"'))
            .filter(|name| *name != "alys-engine-fuzz")
            .collect();
        bins.sort_unstable();
        let mut targets = TARGETS.to_vec();
        targets.sort_unstable();
        assert_eq!(bins, targets);
        for target in TARGETS {
            let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
            assert!(
                fs::read_dir(&seeds).is_ok_and(|mut d| d.next().is_some()),
                "{target} has no committed seeds in {}",
                seeds.display()
            );
        }
    }

    /// A failed run names the inputs written during it, not older ones.
    #[test]
    fn names_only_the_inputs_a_run_wrote() {
        let dir = std::env::temp_dir().join(format!("xtask-fuzz-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("crash-old"), b"x").unwrap();
        let old = SystemTime::now() - std::time::Duration::from_secs(3600);
        fs::File::options()
            .write(true)
            .open(dir.join("crash-old"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let started = SystemTime::now() - std::time::Duration::from_secs(1);
        fs::write(dir.join("crash-new"), b"y").unwrap();
        assert_eq!(written_since(&dir, started), vec![dir.join("crash-new")]);
        assert!(written_since(&dir.join("missing"), started).is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// The execution count is read from libFuzzer's final stats.
    #[test]
    fn reads_the_final_stats() {
        let log = "#1024 pulse cov: 10 ft: 12 corp: 3/30b exec/s: 512 rss: 40Mb\n\
                   Done 61234 runs in 21 second(s)\n\
                   stat::number_of_executed_units: 61234\n\
                   stat::average_exec_per_sec:     2916\n";
        assert_eq!(executed_units(log), Some(61_234));
        assert_eq!(executed_units("==1== ERROR: libFuzzer: deadly signal\n"), None);
    }
}
