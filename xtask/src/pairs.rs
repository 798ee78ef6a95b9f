//! The medians of the benches' interleaved passes, handed to `cargo xtask bench` to judge the
//! P2 pairs by. Criterion samples one side and then the other, so load that comes and goes
//! on a shared host lands on one side (newPayload empty read 1.37× under criterion and 1.03×
//! interleaved in one run); the interleaved pass alternates the sides call by call, and its
//! p50 is the median the goals name.
//!
//! One file for both ends: compiled into xtask, and by `#[path]` into the benches that run an
//! interleaved pass of a judged pair (engine-client `engine_call`, engine-validation
//! `validate`, engine-actor `cycle`). Standard library only.

use std::{fs, path::Path, time::Duration};

/// The directory `cargo xtask bench` gives the benches for their records; a bench run without
/// it records nothing.
pub(crate) const DIR_ENV: &str = "ALYS_BENCH_PAIRS";

/// One pair's medians from an interleaved pass.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Interleaved {
    /// Our side's criterion id (`group/function/parameter`).
    pub(crate) ours: String,
    /// Their side's criterion id.
    pub(crate) theirs: String,
    /// Our side's p50, in ns.
    pub(crate) ours_ns: f64,
    /// Their side's p50, in ns.
    pub(crate) theirs_ns: f64,
}

/// Records a pair's p50s when `cargo xtask bench` asked for them (see [`DIR_ENV`]); a record
/// that cannot be written is said on stderr, and the table then judges that pair by
/// criterion alone.
pub(crate) fn record(ours: &str, theirs: &str, ours_p50: Duration, theirs_p50: Duration) {
    if let Some(dir) = std::env::var_os(DIR_ENV) {
        record_in(Path::new(&dir), ours, theirs, ours_p50, theirs_p50);
    }
}

/// [`record`] into `dir`.
pub(crate) fn record_in(
    dir: &Path,
    ours: &str,
    theirs: &str,
    ours_p50: Duration,
    theirs_p50: Duration,
) {
    let line = format!("{ours}\t{theirs}\t{}\t{}\n", ours_p50.as_nanos(), theirs_p50.as_nanos());
    let path = dir.join(format!("{}.tsv", ours.replace('/', "__")));
    if let Err(e) = fs::write(&path, line) {
        eprintln!("interleaved medians not recorded in {}: {e}", path.display());
    }
}

/// Every record in `dir` (none when it does not exist); a line that is not a record is an
/// error naming its file.
pub(crate) fn read(dir: &Path) -> Result<Vec<Interleaved>, String> {
    let Ok(entries) = fs::read_dir(dir) else { return Ok(Vec::new()) };
    let mut records = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "tsv") {
            continue;
        }
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        for line in text.lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            let parsed = match fields.as_slice() {
                [ours, theirs, o, t] => {
                    o.parse().ok().zip(t.parse().ok()).map(|(o, t)| Interleaved {
                        ours: (*ours).to_owned(),
                        theirs: (*theirs).to_owned(),
                        ours_ns: o,
                        theirs_ns: t,
                    })
                }
                _ => None,
            };
            records.push(parsed.ok_or_else(|| {
                format!("{}: not an interleaved record: {line:?}", path.display())
            })?);
        }
    }
    Ok(records)
}
