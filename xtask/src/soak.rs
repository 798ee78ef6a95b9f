//! `cargo xtask soak --blocks N`: run the node on its embedded devnet for N blocks as fast as
//! it goes, with peg-ins, peg-outs and finality on, and check that its memory does not grow
//! with uptime.
//!
//! ```text
//!  cargo build --release -p engine-node
//!  engine-node --slot-time 1ms --blocks N --stay-up … (fresh data dir, free ports)
//!     stdout: one `block <n> 0x…` line per block ──> at 10 %, 20 %, … 100 % of N:
//!                                                     VmRSS of /proc/<pid>/status
//!  SIGTERM ──> RSS(100 %) ≤ RSS(10 %) × (1 + tolerance)  or exit 1
//! ```
//!
//! Each tenth also prints its blocks/s and the node's CPU time per block (user + system, all
//! threads, from `/proc/<pid>/stat`), and at the end the rate over blocks 1,000–2,000 and
//! over the last 1,000 blocks are printed beside P2's goals (≥ 500 blocks/s, the end within
//! 10 % of the start), with the CPU time per block over the same two windows. They are
//! reported, not enforced, since a shared machine's speed varies far more than its memory.
//! The CPU time per block counts the node's work and not its waiting, so it is a second
//! reading of whether a block costs more as the chain grows; it is not immune to the host's
//! load either (a neighbour on the same core's caches or hyperthread slows the node's
//! instructions): one 100,000-block run on a loaded host read 1.8–3.0 ms per block across its
//! tenths, beside 403–505 blocks/s.
//!
//! The baseline is taken at 10 %, not at start: by then the devnet's windows (blocks kept
//! below the tip, states below the finalized block) are full, and allocators have reached
//! their working size. With a short run the windows are still filling at 10 % and the
//! check reports that growth; it is meant for N of 100,000 and more (the devnet keeps 8,448
//! blocks).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::stages::{Ctx, cargo, run};

/// Default allowed growth of RSS from 10 % to 100 % of the run, in percent.
pub(crate) const DEFAULT_TOLERANCE_PCT: u32 = 5;

/// Default slot time: the shortest `--slot-time` the node accepts is 1 ms; a slot that
/// outlasts it starts the next one as soon as it ends (the tick that came meanwhile), so
/// blocks follow each other back to back, as fast as they can be made.
pub(crate) const DEFAULT_SLOT_TIME: &str = "1ms";

/// How long the node may go without producing a block before the soak gives up on it.
const STALL: Duration = Duration::from_secs(120);

/// How long the node has to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(60);

/// How many warning and error lines of the node are echoed (the rest are counted).
const ECHOED_PROBLEMS: usize = 20;

/// What `cargo xtask soak` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SoakArgs {
    /// Blocks to produce.
    pub(crate) blocks: u64,
    /// Allowed growth of RSS from 10 % to 100 %, in whole percent.
    pub(crate) tolerance_pct: u32,
    /// The node's `--slot-time`.
    pub(crate) slot_time: String,
    /// Run the release binary already built instead of building it first.
    pub(crate) no_build: bool,
}

/// Parses the arguments after `soak`; `Ok(None)` asks for help.
pub(crate) fn parse<'a>(
    mut args: impl Iterator<Item = &'a str>,
) -> Result<Option<SoakArgs>, String> {
    let (mut blocks, mut tolerance_pct, mut slot_time, mut no_build) =
        (None, DEFAULT_TOLERANCE_PCT, DEFAULT_SLOT_TIME.to_owned(), false);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value)),
            None => (arg, None),
        };
        if matches!(flag, "--help" | "-h") {
            return Ok(None);
        }
        if flag == "--no-build" {
            no_build = true;
            continue;
        }
        let value =
            inline.or_else(|| args.next()).ok_or_else(|| format!("{flag} needs a value"))?;
        match flag {
            "--blocks" => {
                let n: u64 = value.parse().map_err(|_| format!("--blocks {value}: not a count"))?;
                if n < 10 {
                    return Err(format!("--blocks {n}: at least 10 (the baseline is at 10 %)"));
                }
                blocks = Some(n);
            }
            "--tolerance" => {
                tolerance_pct = value
                    .parse()
                    .map_err(|_| format!("--tolerance {value}: not a whole percentage"))?;
            }
            "--slot-time" => value.clone_into(&mut slot_time),
            _ => return Err(format!("unknown argument `{arg}`")),
        }
    }
    let blocks = blocks.ok_or("soak needs --blocks N")?;
    Ok(Some(SoakArgs { blocks, tolerance_pct, slot_time, no_build }))
}

/// Builds the node, runs the soak and checks the memory; `Err` says why it failed.
pub(crate) fn soak(ctx: &Ctx, args: &SoakArgs) -> Result<(), String> {
    if !args.no_build {
        run(cargo(ctx, &["build", "--release", "--locked", "-p", "engine-node"]))?;
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| ctx.root.join("target"), PathBuf::from);
    let binary = target.join("release").join("engine-node");
    let data_dir = std::env::temp_dir().join(format!("alys-soak-{}", std::process::id()));
    let result = soak_with(&binary, &data_dir, args);
    // The data dir is scratch; a failure to remove it is worth a line, not a failed soak.
    if let Err(e) = std::fs::remove_dir_all(&data_dir) {
        eprintln!("warning: could not remove {}: {e}", data_dir.display());
    }
    let samples = result?;
    verdict(&samples, args.tolerance_pct)
}

/// One RSS reading.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    /// The block just produced.
    block: u64,
    /// Percent of the run.
    pct: u64,
    /// Since the node started.
    elapsed: Duration,
    /// Resident set size in KiB.
    rss_kib: u64,
    /// The node's CPU time so far (`None`: unreadable).
    cpu: Option<Duration>,
}

impl Sample {
    /// Where this sample stands, for a node started at `started`.
    fn mark(&self, started: Instant) -> Mark {
        Mark { n: self.block, at: started + self.elapsed, cpu: self.cpu }
    }
}

/// Blocks per second early in the run and at its end, over windows of the same length: the
/// rate at block 100,000 is judged against the rate at block 1,000 (P2: within 10 %). Beside
/// each rate, the node's CPU time per block over the same window (its work, not its waits).
#[derive(Debug, Clone, PartialEq)]
struct Rates {
    /// Blocks per window: 1,000, or a tenth of a shorter run.
    window: u64,
    /// Total blocks of the run.
    blocks: u64,
    /// Where the early window opened and where the late one opened.
    early_start: Option<Mark>,
    late_start: Option<Mark>,
    /// What each window measured.
    early: Option<Window>,
    late: Option<Window>,
}

/// Block `n` was produced at `at`, when the node had used `cpu` (user + system, all threads;
/// `None` when it could not be read).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Mark {
    n: u64,
    at: Instant,
    cpu: Option<Duration>,
}

/// One window's readings.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Window {
    /// Blocks per second of wall time.
    rate: f64,
    /// The node's CPU time per block, in milliseconds.
    cpu_ms: Option<f64>,
}

impl Mark {
    /// What the blocks from `self` to `end` measured; `None` for an empty window.
    fn to(self, end: Self) -> Option<Window> {
        let blocks = end.n.checked_sub(self.n).filter(|b| *b > 0)? as f64;
        let secs = end.at.saturating_duration_since(self.at).as_secs_f64();
        let cpu_ms = match (self.cpu, end.cpu) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a).as_secs_f64() * 1e3 / blocks),
            _ => None,
        };
        (secs > 0.0).then_some(Window { rate: blocks / secs, cpu_ms })
    }
}

/// The widest rate window, in blocks.
const RATE_WINDOW: u64 = 1_000;

/// The lowest rate the embedded devnet should sustain (P2), blocks/s.
const RATE_GOAL: f64 = 500.0;

/// How far the rate at the end may fall below the early rate (P2), in percent.
const RATE_DRIFT_PCT: f64 = 10.0;

impl Rates {
    fn new(blocks: u64) -> Self {
        let window = RATE_WINDOW.min(blocks / 10).max(1);
        Self { window, blocks, early_start: None, late_start: None, early: None, late: None }
    }

    /// Block `n` was produced at `at`; `cpu` reads the node's CPU time, and is called only
    /// where a window opens or closes. The early window runs from block `window` to
    /// `2 × window` (past the start-up), the late one over the last `window` blocks.
    fn block(&mut self, n: u64, at: Instant, cpu: &mut impl FnMut() -> Option<Duration>) {
        let mut mark = None;
        let mut here = || *mark.get_or_insert_with(|| Mark { n, at, cpu: cpu() });
        if self.early_start.is_none() && n >= self.window {
            self.early_start = Some(here());
        }
        if self.early.is_none()
            && let Some(start) = self.early_start
            && n >= start.n + self.window
        {
            self.early = start.to(here());
        }
        if self.late_start.is_none() && n >= self.blocks.saturating_sub(self.window) {
            self.late_start = Some(here());
        }
        if self.late.is_none()
            && let Some(start) = self.late_start
            && n >= self.blocks
        {
            self.late = start.to(here());
        }
    }

    /// The rates beside P2's goals, and the CPU time per block over the same windows
    /// (printed, not enforced: a shared machine's speed varies more than memory does).
    fn report(&self) -> Option<String> {
        let (early, late) = (self.early?, self.late?);
        let drop_pct = (1.0 - late.rate / early.rate) * 100.0;
        let met = |ok: bool| if ok { "met" } else { "MISSED" };
        let drift = if drop_pct >= 0.0 {
            format!("{drop_pct:.1} % slower")
        } else {
            format!("{:.1} % faster", -drop_pct)
        };
        let mut report = format!(
            "blocks/s over {w} blocks: {:.0} from block {w}, {:.0} at the end (\
             {drift}; goal ≤ {RATE_DRIFT_PCT} % slower: {}); goal ≥ {RATE_GOAL} \
             blocks/s: {}",
            early.rate,
            late.rate,
            met(drop_pct <= RATE_DRIFT_PCT),
            met(early.rate.min(late.rate) >= RATE_GOAL),
            w = self.window,
        );
        if let (Some(a), Some(b)) = (early.cpu_ms, late.cpu_ms) {
            let grew_pct = (b / a - 1.0) * 100.0;
            report.push_str(&format!(
                "\nnode CPU per block over the same windows: {a:.3} ms, {b:.3} ms at the end \
                 ({grew_pct:+.1} %; goal ≤ {RATE_DRIFT_PCT} %: {})",
                met(grew_pct <= RATE_DRIFT_PCT)
            ));
        }
        Some(report)
    }
}

/// What the node's stdout said.
#[derive(Debug)]
enum Line {
    /// Block `n` was produced.
    Block(u64),
    /// A warning or an error, to echo.
    Problem(String),
    /// Anything else.
    Other,
}

fn soak_with(binary: &Path, data_dir: &Path, args: &SoakArgs) -> Result<Vec<Sample>, String> {
    let node_args: Vec<String> = [
        "--data-dir",
        &data_dir.to_string_lossy(),
        "--slot-time",
        &args.slot_time,
        "--blocks",
        &args.blocks.to_string(),
        "--stay-up",
        "--peg-ins-per-slot",
        "2",
        "--peg-out-every",
        "5",
        "--finalize-every",
        "4",
        "--summary-every",
        "0",
        "--log-format",
        "json",
        "--metrics-addr",
        "127.0.0.1:0",
        "--tx-addr",
        "127.0.0.1:0",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    println!("$ {} {}", binary.display(), node_args.join(" "));
    let mut child = Command::new(binary)
        .args(&node_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", binary.display()))?;
    let started = Instant::now();
    let lines = read_lines(&mut child)?;
    let sampled = sample(&child, &lines, args.blocks, started);
    let stopped = stop(&mut child);
    let (samples, rates) = sampled?;
    stopped?;
    if let Some(report) = rates.report() {
        println!("{report}");
    }
    Ok(samples)
}

/// Reads the node's stdout on a thread, parsed line by line.
fn read_lines(child: &mut Child) -> Result<mpsc::Receiver<Line>, String> {
    let stdout = child.stdout.take().ok_or("the node's stdout is not piped")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(parse_line(&line)).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

/// Waits for each tenth of the run and reads the RSS there.
fn sample(
    child: &Child,
    lines: &mpsc::Receiver<Line>,
    blocks: u64,
    started: Instant,
) -> Result<(Vec<Sample>, Rates), String> {
    let milestones: Vec<(u64, u64)> =
        (1..=10).map(|tenth| (tenth * 10, blocks * tenth / 10)).collect();
    let mut next = 0;
    let mut samples = Vec::new();
    let mut problems = 0usize;
    let mut rates = Rates::new(blocks);
    println!(
        "{:>9} {:>4} {:>10} {:>12} {:>10} {:>13}",
        "block", "%", "elapsed", "VmRSS", "blocks/s", "CPU ms/block"
    );
    let pid = child.id();
    let mut last_block = Instant::now();
    while next < milestones.len() {
        let left = STALL.saturating_sub(last_block.elapsed());
        let line = lines.recv_timeout(left).map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => {
                format!("the node produced no block for {}s", STALL.as_secs())
            }
            mpsc::RecvTimeoutError::Disconnected => "the node stopped early".to_owned(),
        })?;
        match line {
            Line::Block(n) => {
                last_block = Instant::now();
                rates.block(n, last_block, &mut || cpu_time(pid));
                while next < milestones.len() && n >= milestones[next].1 {
                    let rss_kib = rss_kib(pid)?;
                    let s = Sample {
                        block: n,
                        pct: milestones[next].0,
                        elapsed: started.elapsed(),
                        rss_kib,
                        cpu: cpu_time(pid),
                    };
                    // The tenth's window, from the last sample (or the node's start).
                    let from = samples.last().map_or(
                        Mark { n: 0, at: started, cpu: Some(Duration::ZERO) },
                        |p: &Sample| p.mark(started),
                    );
                    let tenth = from.to(s.mark(started));
                    let rate = tenth.map_or(0.0, |w| w.rate);
                    let cpu = tenth
                        .and_then(|w| w.cpu_ms)
                        .map_or_else(|| "?".to_owned(), |ms| format!("{ms:.3}"));
                    println!(
                        "{:>9} {:>4} {:>9.0}s {:>8.1} MiB {rate:>10.0} {cpu:>13}",
                        s.block,
                        s.pct,
                        s.elapsed.as_secs_f64(),
                        mib(s.rss_kib)
                    );
                    samples.push(s);
                    next += 1;
                }
            }
            Line::Problem(text) => {
                problems += 1;
                if problems <= ECHOED_PROBLEMS {
                    println!("  node: {text}");
                }
            }
            Line::Other => {}
        }
    }
    if problems > ECHOED_PROBLEMS {
        println!("  node: {} more warning/error lines not shown", problems - ECHOED_PROBLEMS);
    }
    Ok((samples, rates))
}

/// SIGTERM, then wait (a kill after [`STOP_GRACE`]).
fn stop(child: &mut Child) -> Result<(), String> {
    if child.try_wait().map_err(|e| format!("the node: {e}"))?.is_some() {
        return Ok(());
    }
    // std has no signal API; `kill` sends the SIGTERM the node stops cleanly on.
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if child.try_wait().map_err(|e| format!("the node: {e}"))?.is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!("the node did not stop within {}s of SIGTERM", STOP_GRACE.as_secs()))
}

/// Compares the last sample with the one at 10 %.
fn verdict(samples: &[Sample], tolerance_pct: u32) -> Result<(), String> {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return Err("no RSS sample was taken".to_owned());
    };
    let ratio = last.rss_kib as f64 / first.rss_kib.max(1) as f64;
    let growth_pct = (ratio - 1.0) * 100.0;
    let line = format!(
        "RSS at {} %: {:.1} MiB, at {} %: {:.1} MiB, ratio {ratio:.3} ({growth_pct:+.1} %, \
         tolerance {tolerance_pct} %)",
        last.pct,
        mib(last.rss_kib),
        first.pct,
        mib(first.rss_kib)
    );
    if growth_pct > f64::from(tolerance_pct) {
        Err(format!("memory grew with uptime: {line}"))
    } else {
        println!("soak ok: {line}");
        Ok(())
    }
}

/// The `VmRSS` of process `pid`, in KiB.
fn rss_kib(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    parse_vm_rss(&status).ok_or_else(|| format!("{path} has no VmRSS line"))
}

/// The CPU time process `pid` has used, all its threads, user and system; `None` when
/// `/proc` or the clock-tick rate cannot be read (the soak then prints `?` for it).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = parse_cpu_ticks(&stat)?;
    Some(Duration::from_secs_f64(ticks as f64 / clock_ticks()? as f64))
}

/// The clock ticks per second `/proc` counts times in (`getconf CLK_TCK`), read once.
fn clock_ticks() -> Option<u64> {
    static TICKS: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        let out = Command::new("getconf").arg("CLK_TCK").output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok().filter(|t| *t > 0)
    })
}

/// `utime + stime` (fields 14 and 15) of a `/proc/<pid>/stat`, in clock ticks. The fields
/// are counted after the last `)`, since the command name (field 2) may hold spaces and
/// parentheses.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // `rest` begins with field 3 (the state), so field 14 is its twelfth.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    utime.checked_add(stime)
}

/// The `VmRSS:   1234 kB` line of a `/proc/<pid>/status`.
fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line.split_whitespace().skip(1);
    let value = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(value)
}

/// A line of the node's stdout: JSON (`--log-format json`) or text.
fn parse_line(line: &str) -> Line {
    let json: Option<Value> = serde_json::from_str(line).ok();
    // A text line is `<time> <LEVEL> <target>: <message>`.
    let text_message = || line.split_once(": ").map_or(line, |(_, message)| message);
    // tracing's JSON lines carry the message at the top (flattened) or under `fields`.
    let message = json
        .as_ref()
        .and_then(|v| v.get("message").or_else(|| v.pointer("/fields/message")))
        .and_then(Value::as_str)
        .unwrap_or_else(text_message);
    if let Some(n) = block_number(message) {
        return Line::Block(n);
    }
    let level = json.as_ref().and_then(|v| v.get("level")).and_then(Value::as_str);
    let problem = match level {
        Some(level) => matches!(level, "WARN" | "ERROR"),
        None => line.contains(" WARN ") || line.contains(" ERROR "),
    };
    if problem { Line::Problem(line.to_owned()) } else { Line::Other }
}

/// `n` of a progress message `block <n> 0x…` (see engine-node's `progress.rs`).
fn block_number(message: &str) -> Option<u64> {
    let mut words = message.strip_prefix("block ")?.split_whitespace();
    let n = words.next()?.parse().ok()?;
    words.next()?.starts_with("0x").then_some(n)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Option<SoakArgs>, String> {
        parse(list.iter().copied())
    }

    /// `--blocks` is required; the tolerance and slot time have defaults; nonsense is refused.
    #[test]
    fn arguments() {
        assert_eq!(
            args(&["--blocks", "2000"]),
            Ok(Some(SoakArgs {
                blocks: 2000,
                tolerance_pct: DEFAULT_TOLERANCE_PCT,
                slot_time: DEFAULT_SLOT_TIME.into(),
                no_build: false,
            }))
        );
        let custom =
            args(&["--blocks=100000", "--tolerance", "2", "--slot-time=5ms", "--no-build"]);
        let want =
            SoakArgs { blocks: 100_000, tolerance_pct: 2, slot_time: "5ms".into(), no_build: true };
        assert_eq!(custom, Ok(Some(want)));
        assert_eq!(args(&["--blocks", "10", "-h"]), Ok(None));
        assert!(args(&[]).is_err());
        assert!(args(&["--blocks", "9"]).is_err());
        assert!(args(&["--blocks", "many"]).is_err());
        assert!(args(&["--blocks", "100", "--tolerance", "-1"]).is_err());
        assert!(args(&["--blocks", "100", "--tolerance", "2.5"]).is_err());
        assert!(args(&["--blocks"]).is_err());
        assert!(args(&["--blocks", "100", "--fast", "1"]).is_err());
    }

    /// Progress lines are found in JSON and text logs, and nothing else is taken for one.
    #[test]
    fn progress_lines() {
        let json = r#"{"timestamp":"t","level":"INFO","fields":{"message":"block 12 0x5c1f09a2… txs=1 peg-ins=2"},"target":"engine_node"}"#;
        assert!(matches!(parse_line(json), Line::Block(12)));
        let text = "2026-12-02T07:40:00Z  INFO engine_node::progress: block 7 0xab… txs=0";
        assert!(matches!(parse_line(text), Line::Block(7)));
        let limit =
            r#"{"level":"INFO","fields":{"message":"block limit reached; production stopped"}}"#;
        assert!(matches!(parse_line(limit), Line::Other));
        let warn = r#"{"level":"WARN","fields":{"message":"slot failed: block 3 0x12 refused"}}"#;
        assert!(matches!(parse_line(warn), Line::Problem(_)), "only a progress line counts");
        let text = "2026-12-02T07:40:00Z ERROR engine_node: the commit of block 9 0x1 failed";
        assert!(matches!(parse_line(text), Line::Problem(_)));
    }

    /// VmRSS is read in kB from /proc, and this process has one.
    #[test]
    fn rss_from_proc() {
        assert_eq!(parse_vm_rss("Name:\tx\nVmRSS:\t  123456 kB\nVmSwap: 0 kB\n"), Some(123_456));
        assert_eq!(parse_vm_rss("VmRSS:\t12 MB\n"), None);
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
        assert!(rss_kib(std::process::id()).unwrap() > 0);
    }

    /// CPU time is utime + stime of /proc's stat, counted past a command name that holds
    /// spaces and parentheses; this process has used some.
    #[test]
    fn cpu_from_proc() {
        let stat = "42 (engine (x) 1) S 1 42 42 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 5 0";
        assert_eq!(parse_cpu_ticks(stat), Some(280));
        assert_eq!(parse_cpu_ticks("42 (x) S 1 2"), None, "too few fields");
        assert_eq!(parse_cpu_ticks("no parenthesis"), None);
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {
            std::hint::spin_loop();
        }
        assert!(cpu_time(std::process::id()).unwrap() > Duration::ZERO);
    }

    fn at(pct: u64, rss_kib: u64) -> Sample {
        Sample { block: pct, pct, elapsed: Duration::ZERO, rss_kib, cpu: None }
    }

    /// The early window opens after the first `window` blocks and the late one covers the
    /// last `window`; both rates are reported beside the goals.
    #[test]
    fn rates_over_windows() {
        let t = Instant::now();
        let at = |ms: u64| t + Duration::from_millis(ms);
        let mut rates = Rates::new(100_000);
        assert_eq!(rates.window, 1_000);
        // The node's CPU clock, read only where a window opens or closes.
        let (mut reads, mut cpu_ms) = (0, 0);
        let mut block = |rates: &mut Rates, n, ms, cpu_now| {
            cpu_ms = cpu_now;
            rates.block(n, at(ms), &mut || {
                reads += 1;
                Some(Duration::from_millis(cpu_ms))
            });
        };
        block(&mut rates, 999, 0, 900);
        assert_eq!(rates.early_start, None);
        block(&mut rates, 1_000, 1_000, 1_000);
        block(&mut rates, 1_500, 2_000, 1_500);
        block(&mut rates, 2_000, 3_000, 3_000); // 1,000 blocks in 2 s, 2 ms of CPU each
        block(&mut rates, 99_000, 100_000, 190_000);
        assert_eq!(rates.report(), None, "no late rate yet");
        block(&mut rates, 100_000, 102_500, 192_100); // 1,000 blocks in 2.5 s, 2.1 ms each
        assert_eq!(reads, 4, "one read per window edge");
        let rate = |w: Option<Window>| w.map(|w| w.rate);
        assert_eq!((rate(rates.early), rate(rates.late)), (Some(500.0), Some(400.0)));
        assert_eq!(
            rates.report().unwrap(),
            "blocks/s over 1000 blocks: 500 from block 1000, 400 at the end (20.0 % slower; \
             goal ≤ 10 % slower: MISSED); goal ≥ 500 blocks/s: MISSED\n\
             node CPU per block over the same windows: 2.000 ms, 2.100 ms at the end \
             (+5.0 %; goal ≤ 10 %: met)"
        );
        assert_eq!(Rates::new(2_000).window, 200, "a tenth of a short run");
        // A run that ends faster than it began says so, rather than "-25.0 % slower".
        let faster = Rates {
            early: Some(Window { rate: 400.0, cpu_ms: None }),
            late: Some(Window { rate: 500.0, cpu_ms: None }),
            ..Rates::new(100_000)
        };
        assert_eq!(
            faster.report().unwrap(),
            "blocks/s over 1000 blocks: 400 from block 1000, 500 at the end (25.0 % faster; \
             goal ≤ 10 % slower: met); goal ≥ 500 blocks/s: MISSED"
        );
    }

    /// Growth within the tolerance passes; beyond it the soak fails, naming both readings.
    #[test]
    fn verdicts() {
        assert!(verdict(&[at(10, 100_000), at(100, 104_000)], 5).is_ok());
        assert!(verdict(&[at(10, 100_000), at(100, 90_000)], 5).is_ok(), "shrinking is fine");
        let err = verdict(&[at(10, 100_000), at(50, 103_000), at(100, 106_000)], 5).unwrap_err();
        assert!(err.contains("ratio 1.060") && err.contains("at 10 %"), "{err}");
        assert!(verdict(&[], 5).is_err());
    }
}
