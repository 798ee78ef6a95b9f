//! `cargo xtask`: the one entry point for the checks of the Alys engine workspace, so that
//! CI and a contributor run the same thing and nobody has to remember a long cargo line.
//!
//! ```text
//! cargo xtask ci [--only <stage>]... [--skip <stage>]...
//!   fmt -> dag -> diet -> deny -> layered -> clippy -> test -> doc -> fuzz -> containers
//!   (stops at the first failure)
//! cargo xtask bench [--quick] [--summary] [<filter>]
//!   every criterion bench, then one table of medians
//! cargo xtask images
//!   builds the EthereumJS image the containers stage runs (npm + docker import)
//! cargo xtask fuzz [--seconds N] [<target>]
//!   every fuzz target of fuzz/ (cargo-fuzz) for N seconds each
//! cargo xtask soak --blocks N [--tolerance PCT] [--slot-time DUR] [--no-build]
//!   the release node on its devnet for N blocks; fails if its RSS grows with uptime
//! ```
//!
//! xtask depends on no workspace crate (see the DAG in `shared/DESIGN.md`), so it still
//! builds, and reports, when a crate it checks is broken.

// Every normal dependency is used by the library itself (test builds see the
// dev-dependencies too, so the check is off there).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod bench;
mod dag;
mod deny;
mod diet;
mod fuzz;
mod images;
// `record` is the benches' end: they include this file by `#[path]`.
#[allow(dead_code)]
mod pairs;
mod soak;
mod stages;

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use stages::{Ctx, Stage};

/// Exit code for a command line that cannot be run (as with most Unix tools).
const USAGE_ERROR: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stages = stages::all();
    match parse(&args, &stages) {
        Ok(Command::Help) => {
            print!("{}", usage(&stages));
            ExitCode::SUCCESS
        }
        Ok(Command::Ci(selected)) => ci(&stages, &selected),
        Ok(Command::Bench { quick, summary_only, filter }) => {
            let ctx = ctx();
            let result = if summary_only {
                bench::summary(&ctx.root.join("target").join("criterion"), None)
            } else {
                bench::bench(&ctx, quick, filter.as_deref())
            };
            result.map_or_else(
                |message| {
                    eprintln!("error: {message}");
                    ExitCode::FAILURE
                },
                |()| ExitCode::SUCCESS,
            )
        }
        Ok(Command::Fuzz { seconds, target }) => {
            fuzz::fuzz(&ctx(), fuzz::Build::Release, seconds, target.as_deref()).map_or_else(
                |message| {
                    eprintln!("error: {message}");
                    ExitCode::FAILURE
                },
                |()| ExitCode::SUCCESS,
            )
        }
        Ok(Command::Soak(args)) => soak::soak(&ctx(), &args).map_or_else(
            |message| {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            },
            |()| ExitCode::SUCCESS,
        ),
        Ok(Command::Images) => images::images(&ctx()).map_or_else(
            |message| {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            },
            |()| ExitCode::SUCCESS,
        ),
        Err(message) => {
            eprintln!("error: {message}\n\n{}", usage(&stages));
            ExitCode::from(USAGE_ERROR)
        }
    }
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    /// Print usage.
    Help,
    /// Run these stages, by name, in pipeline order.
    Ci(Vec<&'static str>),
    /// Run the criterion benchmarks and summarize them.
    Bench {
        /// Shorter warm-up and measurement.
        quick: bool,
        /// Only print the table of the last results.
        summary_only: bool,
        /// Only benchmarks whose id contains this.
        filter: Option<String>,
    },
    /// Build the container images the `containers` stage needs.
    Images,
    /// Run the node on its devnet and check that its memory stays flat.
    Soak(soak::SoakArgs),
    /// Run the fuzz targets.
    Fuzz {
        /// Seconds per target.
        seconds: u64,
        /// Only this target.
        target: Option<String>,
    },
}

fn parse(args: &[String], stages: &[Stage]) -> Result<Command, String> {
    let mut args = args.iter().map(String::as_str);
    match args.next() {
        Some("ci") => {}
        Some("bench") => return parse_bench(args),
        Some("fuzz") => return parse_fuzz(args),
        Some("soak") => return Ok(soak::parse(args)?.map_or(Command::Help, Command::Soak)),
        Some("images") => {
            return match args.next() {
                None => Ok(Command::Images),
                Some("--help" | "-h") => Ok(Command::Help),
                Some(other) => Err(format!("images takes no argument, `{other}` given")),
            };
        }
        Some("help" | "--help" | "-h") => return Ok(Command::Help),
        Some(other) => return Err(format!("unknown command `{other}`")),
        None => return Err("no command given".to_owned()),
    }
    let mut only = Vec::new();
    let mut skip = Vec::new();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value)),
            None => (arg, None),
        };
        let list = match flag {
            "--help" | "-h" => return Ok(Command::Help),
            "--only" => &mut only,
            "--skip" => &mut skip,
            _ => return Err(format!("unknown argument `{arg}`")),
        };
        let value =
            inline.or_else(|| args.next()).ok_or_else(|| format!("{flag} needs a stage"))?;
        if !stages.iter().any(|s| s.name == value) {
            return Err(format!("unknown stage `{value}`"));
        }
        list.push(value.to_owned());
    }
    let selected: Vec<&'static str> = stages
        .iter()
        .map(|s| s.name)
        .filter(|name| only.is_empty() || only.iter().any(|o| o == name))
        .filter(|name| !skip.iter().any(|s| s == name))
        .collect();
    if selected.is_empty() {
        return Err("--only and --skip leave no stage to run".to_owned());
    }
    Ok(Command::Ci(selected))
}

fn parse_bench<'a>(args: impl Iterator<Item = &'a str>) -> Result<Command, String> {
    let (mut quick, mut summary_only, mut filter) = (false, false, None);
    for arg in args {
        match arg {
            "--help" | "-h" => return Ok(Command::Help),
            "--quick" => quick = true,
            "--summary" => summary_only = true,
            flag if flag.starts_with('-') => return Err(format!("unknown argument `{flag}`")),
            name if filter.is_none() => filter = Some(name.to_owned()),
            extra => return Err(format!("only one filter is taken, `{extra}` is extra")),
        }
    }
    Ok(Command::Bench { quick, summary_only, filter })
}

fn parse_fuzz<'a>(mut args: impl Iterator<Item = &'a str>) -> Result<Command, String> {
    let (mut seconds, mut target) = (fuzz::DEFAULT_SECONDS, None);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value)),
            None => (arg, None),
        };
        match flag {
            "--help" | "-h" => return Ok(Command::Help),
            "--seconds" => {
                let value = inline.or_else(|| args.next()).ok_or("--seconds needs a number")?;
                seconds =
                    value.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        format!("--seconds takes a positive number, `{value}` given")
                    })?;
            }
            flag if flag.starts_with('-') => return Err(format!("unknown argument `{flag}`")),
            name if target.is_none() => {
                if !fuzz::TARGETS.contains(&name) {
                    return Err(format!(
                        "unknown fuzz target `{name}` (targets: {})",
                        fuzz::TARGETS.join(", ")
                    ));
                }
                target = Some(name.to_owned());
            }
            extra => return Err(format!("only one target is taken, `{extra}` is extra")),
        }
    }
    Ok(Command::Fuzz { seconds, target })
}

fn usage(stages: &[Stage]) -> String {
    let mut text = String::from(
        "usage: cargo xtask ci [--only <stage>]... [--skip <stage>]...\n\
         \x20      cargo xtask bench [--quick] [--summary] [<filter>]\n\
         \x20      cargo xtask images\n\
         \x20      cargo xtask fuzz [--seconds N] [<target>]\n\
         \x20      cargo xtask soak --blocks N [--tolerance PCT] [--slot-time DUR] [--no-build]\n\
         \n\
         Runs the CI stages below in order, stopping at the first that fails.\n\
         With no flags every stage runs; this is what CI runs.\n\
         \n\
         \x20 --only <stage>  run only this stage (repeatable; pipeline order is kept)\n\
         \x20 --skip <stage>  skip this stage (repeatable)\n\
         \x20 -h, --help      print this help\n\
         \n\
         stages:\n",
    );
    for stage in stages {
        text.push_str(&format!("  {:<10} {}\n", stage.name, stage.about));
    }
    text.push_str("\nWith the CI environment variable set, tests use the nextest `ci` profile.\n");
    text.push_str(
        "\nbench runs every criterion benchmark (all features), then prints the median and\n\
         mean of each from target/criterion. --quick: 1 s warm-up, 3 s measurement;\n\
         --summary: only print the last results; <filter>: only matching benchmark ids.\n",
    );
    text.push_str(&format!(
        "\nfuzz builds the targets of fuzz/ with cargo-fuzz (libFuzzer, stable toolchain) and\n\
         runs each for N seconds (default {}; the ci stage runs {} s each). It fails if a\n\
         target crashes, naming the input (under fuzz/artifacts/<target>/). Targets: {}.\n",
        fuzz::DEFAULT_SECONDS,
        fuzz::CI_SECONDS,
        fuzz::TARGETS.join(", ")
    ));
    text.push_str(&format!(
        "\nsoak builds the release node and runs it on its embedded devnet for N blocks\n\
         (slot {}, peg-ins, peg-outs and finality on), printing VmRSS at every 10 %; it\n\
         fails if RSS at 100 % exceeds RSS at 10 % by more than PCT percent (default {}).\n",
        soak::DEFAULT_SLOT_TIME,
        soak::DEFAULT_TOLERANCE_PCT
    ));
    text.push_str(
        "\nimages builds the EthereumJS image of the containers stage (npm install of\n\
         @ethereumjs/client into target/, then docker import); it needs npm and a running\n\
         Docker daemon, and does nothing when the image is present.\n",
    );
    text
}

fn ctx() -> Ctx {
    Ctx {
        cargo: std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
        // xtask lives one level below the workspace root.
        root: Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new(".")).to_owned(),
        ci: std::env::var_os("CI").is_some_and(|v| !v.is_empty()),
    }
}

fn ci(stages: &[Stage], selected: &[&str]) -> ExitCode {
    let ctx = ctx();
    let started = Instant::now();
    let mut timings = Vec::new();
    for stage in stages.iter().filter(|s| selected.contains(&s.name)) {
        println!("\n==> {}", stage.name);
        let stage_started = Instant::now();
        let result = (stage.run)(&ctx);
        let elapsed = stage_started.elapsed();
        match result {
            Ok(()) => {
                println!("<== {} ok in {}", stage.name, secs(elapsed));
                timings.push(format!("{} {}", stage.name, secs(elapsed)));
            }
            Err(message) => {
                println!("<== {} FAILED in {}", stage.name, secs(elapsed));
                eprintln!("\nerror: stage `{}` failed:\n{message}", stage.name);
                return ExitCode::FAILURE;
            }
        }
    }
    println!("\nci ok in {} ({})", secs(started.elapsed()), timings.join(", "));
    ExitCode::SUCCESS
}

fn secs(elapsed: Duration) -> String {
    format!("{:.1}s", elapsed.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_args(args: &[&str]) -> Result<Command, String> {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        parse(&args, &stages::all())
    }

    /// No flags runs every stage in pipeline order.
    #[test]
    fn ci_runs_everything() {
        let all: Vec<&str> = stages::all().iter().map(|s| s.name).collect();
        assert_eq!(parse_args(&["ci"]), Ok(Command::Ci(all)));
    }

    /// `--only` and `--skip` narrow the run; pipeline order wins over flag order.
    #[test]
    fn only_and_skip_select() {
        assert_eq!(
            parse_args(&["ci", "--only", "diet", "--only=dag"]),
            Ok(Command::Ci(vec!["dag", "diet"]))
        );
        let rest = parse_args(&[
            "ci",
            "--skip",
            "test",
            "--skip=doc",
            "--skip",
            "clippy",
            "--skip",
            "containers",
            "--skip",
            "fuzz",
        ]);
        assert_eq!(rest, Ok(Command::Ci(vec!["fmt", "dag", "diet", "deny", "layered"])));
    }

    /// Help is asked for, not an error.
    #[test]
    fn help_anywhere() {
        assert_eq!(parse_args(&["--help"]), Ok(Command::Help));
        assert_eq!(parse_args(&["ci", "--skip", "fmt", "-h"]), Ok(Command::Help));
    }

    /// `bench` takes --quick, --summary and one filter.
    #[test]
    fn bench_args() {
        assert_eq!(
            parse_args(&["bench", "--quick", "devnet"]),
            Ok(Command::Bench { quick: true, summary_only: false, filter: Some("devnet".into()) })
        );
        assert_eq!(
            parse_args(&["bench", "--summary"]),
            Ok(Command::Bench { quick: false, summary_only: true, filter: None })
        );
        assert!(parse_args(&["bench", "a", "b"]).is_err());
        assert!(parse_args(&["bench", "--fast"]).is_err());
    }

    /// `images` takes no arguments beyond help.
    #[test]
    fn images_command() {
        assert_eq!(parse_args(&["images"]), Ok(Command::Images));
        assert!(parse_args(&["images", "geth"]).is_err());
        assert_eq!(
            parse_args(&["ci", "--only", "containers"]),
            Ok(Command::Ci(vec!["containers"]))
        );
    }

    /// `fuzz` takes --seconds and one known target.
    #[test]
    fn fuzz_args() {
        assert_eq!(
            parse_args(&["fuzz"]),
            Ok(Command::Fuzz { seconds: fuzz::DEFAULT_SECONDS, target: None })
        );
        assert_eq!(
            parse_args(&["fuzz", "--seconds", "600", "payload"]),
            Ok(Command::Fuzz { seconds: 600, target: Some("payload".into()) })
        );
        assert_eq!(
            parse_args(&["fuzz", "--seconds=5"]),
            Ok(Command::Fuzz { seconds: 5, target: None })
        );
        assert!(parse_args(&["fuzz", "--seconds", "0"]).is_err());
        assert!(parse_args(&["fuzz", "--seconds"]).is_err());
        assert!(parse_args(&["fuzz", "nonesuch"]).is_err());
        assert!(parse_args(&["fuzz", "payload", "jwt_secret"]).is_err());
    }

    /// Anything unknown is a usage error rather than a silently different run.
    #[test]
    fn unknown_input_rejected() {
        assert!(parse_args(&[]).is_err());
        assert!(parse_args(&["lint"]).is_err());
        assert!(parse_args(&["ci", "--fast"]).is_err());
        assert!(parse_args(&["ci", "--only", "container"]).is_err());
        assert!(parse_args(&["ci", "--skip"]).is_err());
        assert!(parse_args(&["ci", "--only", "fmt", "--skip", "fmt"]).is_err());
    }
}
