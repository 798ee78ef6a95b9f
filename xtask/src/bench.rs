//! `cargo xtask bench`: run every criterion benchmark of the workspace, then print one table of
//! medians read back from `target/criterion`, so figures quoted in notes come from one command.
//!
//! Speed claims in this workspace are proven here, never by timed assertions in tests: the
//! machines are shared and noisy, and criterion's repeated sampling is what makes a median
//! worth quoting. A pair the goals name is judged by the p50s of its bench's interleaved
//! pass when the bench recorded them (see `pairs.rs`), criterion's medians printed beside.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;

use crate::pairs::{self, Interleaved};
use crate::stages::{Ctx, cargo, run};

/// Criterion settings for `--quick`: enough samples for a stable median on a 2-core machine
/// in a fraction of the default time.
const QUICK: [&str; 4] = ["--warm-up-time", "1", "--measurement-time", "3"];

/// Runs the benchmarks (all, or those whose id contains `filter`) and prints the summary.
///
/// `--bench '*'` selects the `[[bench]]` targets alone: with plain `--workspace` cargo also
/// runs every library's libtest bench harness, which refuses criterion's flags
/// ("Unrecognized option: 'warm-up-time'").
pub(crate) fn bench(ctx: &Ctx, quick: bool, filter: Option<&str>) -> Result<(), String> {
    let mut cmd =
        cargo(ctx, &["bench", "--workspace", "--all-features", "--locked", "--bench", "*", "--"]);
    if quick {
        cmd.args(QUICK);
    }
    if let Some(filter) = filter {
        cmd.arg(filter);
    }
    let criterion = ctx.root.join("target").join("criterion");
    // Only this run's interleaved medians count: the records of a bench a filter left out
    // must not be judged as if they were fresh.
    let interleaved = criterion.join(INTERLEAVED);
    if interleaved.exists() {
        fs::remove_dir_all(&interleaved).map_err(|e| format!("{}: {e}", interleaved.display()))?;
    }
    fs::create_dir_all(&interleaved).map_err(|e| format!("{}: {e}", interleaved.display()))?;
    cmd.env(pairs::DIR_ENV, &interleaved);
    let started = SystemTime::now();
    run(cmd)?;
    summary(&criterion, Some(started))
}

/// Where, under `target/criterion`, the benches record their interleaved medians.
const INTERLEAVED: &str = "interleaved";

/// How a pair is judged against its goal.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Goal {
    /// `ours / theirs` at most this.
    Ratio(f64),
    /// `ours − theirs` at most this many ns.
    Overhead(f64),
}

/// A comparison the issues set a goal for: both sides run in one criterion group of one
/// bench binary, so a drifting machine moves both.
struct Pair {
    ours: String,
    theirs: String,
    goal: Goal,
}

/// The pairs `cargo xtask bench` judges (P2): the client against a raw POST of the same bytes
/// (≤ 1.05×), validation against alloy's bare convert + hash (≤ 1.00×), the actor against the
/// port called directly (≤ 20 µs more): through the Chain's line, the path the Chain's build
/// and commit take, and through the mailbox, where other callers' Chain requests go.
fn pairs() -> Vec<Pair> {
    let pair = |ours: String, theirs: String, goal| Pair { ours, theirs, goal };
    let mut pairs = Vec::new();
    for method in ["new_payload", "get_payload"] {
        for size in ["empty", "1000_txs"] {
            pairs.push(pair(
                format!("engine_call/{method}/client/{size}"),
                format!("engine_call/{method}/raw_reqwest/{size}"),
                Goal::Ratio(1.05),
            ));
        }
    }
    for txs in [0, 100, 1_000, 10_000] {
        pairs.push(pair(
            format!("payload/engine_validation/{txs}"),
            format!("payload/alloy_convert_hash/{txs}"),
            Goal::Ratio(1.00),
        ));
    }
    for side in ["line_port", "actor_port"] {
        pairs.push(pair(
            format!("in_process/{side}"),
            "in_process/direct_port".to_owned(),
            Goal::Overhead(20_000.0),
        ));
    }
    pairs
}

/// Prints each pair found in `rows` (criterion) or `interleaved` beside its goal, judged by
/// the interleaved p50s when there are some, else by criterion's medians. With `since`, only
/// criterion results written since then count (criterion keeps earlier runs' files): a pair
/// with a side missing or older (a filter left it out) and no interleaved record is not
/// printed.
fn print_pairs(rows: &[Row], interleaved: &[Interleaved], since: Option<SystemTime>) {
    let median = |id: &str| {
        rows.iter()
            .find(|r| r.id == id && since.is_none_or(|t| r.written.is_some_and(|w| w >= t)))
            .map(|r| r.median_ns)
    };
    let pairs = pairs();
    let judged: Vec<_> = pairs
        .iter()
        .filter_map(|p| {
            let criterion = median(&p.ours).zip(median(&p.theirs));
            let alternated = interleaved
                .iter()
                .find(|r| r.ours == p.ours && r.theirs == p.theirs)
                .map(|r| (r.ours_ns, r.theirs_ns));
            (criterion.is_some() || alternated.is_some()).then_some((p, criterion, alternated))
        })
        .collect();
    if judged.is_empty() {
        return;
    }
    let width = judged.iter().map(|(p, ..)| p.ours.len()).max().unwrap_or(0);
    println!(
        "\n{:<width$}  {:>11}  {:>11}  {:>10}  {:>11}  {:>11}  {:>10}  {:>9}  verdict",
        "pair (ours)",
        "ours",
        "theirs",
        "criterion",
        "ours p50",
        "theirs p50",
        "interleaved",
        "goal"
    );
    let figures = |sides: Option<(f64, f64)>, goal| match sides {
        Some((ours, theirs)) => (human(ours), human(theirs), judge(goal, ours, theirs).0),
        None => ("-".into(), "-".into(), "-".into()),
    };
    for (pair, criterion, alternated) in judged {
        let (c_ours, c_theirs, c_measured) = figures(criterion, pair.goal);
        let (i_ours, i_theirs, i_measured) = figures(alternated, pair.goal);
        let (met, by) = decide(pair.goal, criterion, alternated);
        let goal = pair.goal.label();
        let verdict = if met { "met" } else { "MISSED" };
        println!(
            "{:<width$}  {c_ours:>11}  {c_theirs:>11}  {c_measured:>10}  {i_ours:>11}  {i_theirs:>11}  {i_measured:>10}  {goal:>9}  {verdict} ({by})",
            pair.ours,
        );
    }
}

/// Whether a pair meets `goal`, and by which measurement: the interleaved p50s when there
/// are some (they alternate the sides, so drift hits both), else criterion's medians.
fn decide(
    goal: Goal,
    criterion: Option<(f64, f64)>,
    alternated: Option<(f64, f64)>,
) -> (bool, &'static str) {
    match (alternated, criterion) {
        (Some((ours, theirs)), _) => (judge(goal, ours, theirs).2, "interleaved"),
        (None, Some((ours, theirs))) => (judge(goal, ours, theirs).2, "criterion"),
        (None, None) => (false, "no measurement"),
    }
}

impl Goal {
    /// The goal as the table prints it.
    fn label(self) -> String {
        match self {
            Self::Ratio(max) => format!("≤ {max:.2}x"),
            Self::Overhead(max_ns) => format!("≤ {}", human(max_ns)),
        }
    }
}

/// The measured figure, the goal, and whether it is met.
fn judge(goal: Goal, ours: f64, theirs: f64) -> (String, String, bool) {
    let (measured, met) = match goal {
        Goal::Ratio(max) => {
            let ratio = ours / theirs.max(f64::MIN_POSITIVE);
            (format!("{ratio:.3}x"), ratio <= max)
        }
        Goal::Overhead(max_ns) => {
            let extra = ours - theirs;
            (format!("+{}", human(extra.max(0.0))), extra <= max_ns)
        }
    };
    (measured, goal.label(), met)
}

/// Prints the median and mean of every benchmark criterion has recorded under `dir`, then the
/// pairs (of results written since `since`, when given).
pub(crate) fn summary(dir: &Path, since: Option<SystemTime>) -> Result<(), String> {
    let mut rows = Vec::new();
    collect(dir, &mut rows)?;
    if rows.is_empty() {
        return Err(format!("no criterion results under {}", dir.display()));
    }
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    let width = rows.iter().map(|r| r.id.len()).max().unwrap_or(0);
    println!("\n{:<width$}  {:>12}  {:>12}", "benchmark", "median", "mean");
    for r in &rows {
        println!("{:<width$}  {:>12}  {:>12}", r.id, human(r.median_ns), human(r.mean_ns));
    }
    print_pairs(&rows, &pairs::read(&dir.join(INTERLEAVED))?, since);
    Ok(())
}

/// One recorded benchmark.
#[derive(Debug, PartialEq)]
struct Row {
    id: String,
    median_ns: f64,
    mean_ns: f64,
    /// When criterion wrote it.
    written: Option<SystemTime>,
}

fn collect(dir: &Path, rows: &mut Vec<Row>) -> Result<(), String> {
    let Ok(entries) = fs::read_dir(dir) else { return Ok(()) };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let new = path.join("new");
        if new.join("estimates.json").is_file() && new.join("benchmark.json").is_file() {
            rows.push(read_row(&new)?);
        } else if path.file_name().is_some_and(|n| n != "report") {
            collect(&path, rows)?;
        }
    }
    Ok(())
}

fn read_row(new: &Path) -> Result<Row, String> {
    let estimates = read_json(new.join("estimates.json"))?;
    let benchmark = read_json(new.join("benchmark.json"))?;
    let point = |key: &str| estimates[key]["point_estimate"].as_f64();
    let written = fs::metadata(new.join("estimates.json")).and_then(|m| m.modified()).ok();
    match (benchmark["full_id"].as_str(), point("median"), point("mean")) {
        (Some(id), Some(median_ns), Some(mean_ns)) => {
            Ok(Row { id: id.to_owned(), median_ns, mean_ns, written })
        }
        _ => Err(format!("unexpected criterion files in {}", new.display())),
    }
}

fn read_json(path: PathBuf) -> Result<Value, String> {
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A duration in ns, in the unit that keeps three significant digits readable.
fn human(ns: f64) -> String {
    match ns {
        ns if ns < 1e3 => format!("{ns:.0} ns"),
        ns if ns < 1e6 => format!("{:.2} µs", ns / 1e3),
        ns if ns < 1e9 => format!("{:.2} ms", ns / 1e6),
        ns => format!("{:.2} s", ns / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Durations print in the unit a reader expects.
    #[test]
    fn human_units() {
        assert_eq!(human(512.0), "512 ns");
        assert_eq!(human(1_500.0), "1.50 µs");
        assert_eq!(human(2_340_000.0), "2.34 ms");
        assert_eq!(human(3e9), "3.00 s");
    }

    /// Every P2 pair is judged, under the ids the benches record.
    #[test]
    fn pairs_name_the_bench_ids() {
        let pairs = pairs();
        assert_eq!(pairs.len(), 10);
        let has =
            |ours: &str, theirs: &str| pairs.iter().any(|p| p.ours == ours && p.theirs == theirs);
        assert!(has(
            "engine_call/get_payload/client/1000_txs",
            "engine_call/get_payload/raw_reqwest/1000_txs"
        ));
        assert!(has("payload/engine_validation/10000", "payload/alloy_convert_hash/10000"));
        assert!(has("in_process/actor_port", "in_process/direct_port"));
        assert!(has("in_process/line_port", "in_process/direct_port"));
    }

    /// Ratios and differences are judged against their goal, inclusive.
    #[test]
    fn pairs_are_judged() {
        assert_eq!(
            judge(Goal::Ratio(1.05), 105.0, 100.0),
            ("1.050x".into(), "≤ 1.05x".into(), true)
        );
        assert!(!judge(Goal::Ratio(1.00), 101.0, 100.0).2);
        assert_eq!(
            judge(Goal::Overhead(20_000.0), 70_000.0, 45_000.0),
            ("+25.00 µs".into(), "≤ 20.00 µs".into(), false)
        );
        assert!(judge(Goal::Overhead(20_000.0), 40_000.0, 45_000.0).2);
    }

    /// What a bench records, xtask reads back; a stray line is an error naming its file.
    #[test]
    fn records_round_trip() {
        let dir = std::env::temp_dir().join(format!("xtask-pairs-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let (ours, theirs) = ("in_process/line_port", "in_process/direct_port");
        pairs::record_in(
            &dir,
            ours,
            theirs,
            std::time::Duration::from_nanos(30_500),
            std::time::Duration::from_nanos(9_000),
        );
        pairs::record_in(
            &dir,
            "payload/x/1",
            "payload/y/1",
            std::time::Duration::from_micros(2),
            std::time::Duration::ZERO,
        );
        fs::write(dir.join("other.txt"), "not a record").unwrap();
        let mut read_back = pairs::read(&dir).unwrap();
        read_back.sort_by(|a, b| a.ours.cmp(&b.ours));
        assert_eq!(
            read_back,
            [
                Interleaved {
                    ours: ours.into(),
                    theirs: theirs.into(),
                    ours_ns: 30_500.0,
                    theirs_ns: 9_000.0
                },
                Interleaved {
                    ours: "payload/x/1".into(),
                    theirs: "payload/y/1".into(),
                    ours_ns: 2_000.0,
                    theirs_ns: 0.0
                },
            ]
        );
        fs::write(dir.join("bad.tsv"), "a\tb\tnot-a-number\t1\n").unwrap();
        let err = pairs::read(&dir).unwrap_err();
        fs::remove_dir_all(&dir).unwrap();
        assert!(err.contains("bad.tsv") && err.contains("not an interleaved record"), "{err}");
        assert_eq!(pairs::read(&dir).unwrap(), [], "a missing directory holds no records");
    }

    /// The interleaved p50s decide when a bench recorded them; criterion's medians otherwise.
    #[test]
    fn interleaved_medians_decide() {
        let goal = Goal::Ratio(1.05);
        let (drifted, alternated) = (Some((137.0, 100.0)), Some((103.0, 100.0)));
        assert_eq!(decide(goal, drifted, alternated), (true, "interleaved"));
        assert_eq!(decide(goal, alternated, Some((110.0, 100.0))), (false, "interleaved"));
        assert_eq!(decide(goal, drifted, None), (false, "criterion"));
        assert_eq!(decide(goal, None, None), (false, "no measurement"));
    }

    /// Results are found at any depth (criterion nests groups and parameters) and the report
    /// folder is not mistaken for a benchmark.
    #[test]
    fn reads_nested_results() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
        let new = dir.join("group").join("case").join("new");
        fs::create_dir_all(&new).unwrap();
        fs::create_dir_all(dir.join("report")).unwrap();
        fs::write(
            new.join("estimates.json"),
            r#"{"mean":{"point_estimate":2000.0},"median":{"point_estimate":1000.0}}"#,
        )
        .unwrap();
        fs::write(new.join("benchmark.json"), r#"{"full_id":"group/case"}"#).unwrap();
        let mut rows = Vec::new();
        collect(&dir, &mut rows).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].id.as_str(), rows[0].median_ns, rows[0].mean_ns),
            ("group/case", 1000.0, 2000.0)
        );
        assert!(rows[0].written.is_some());
    }
}
