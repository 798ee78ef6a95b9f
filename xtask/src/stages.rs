//! The stages of `cargo xtask ci`, in the order they run, and the helpers they share.
//!
//! A stage is a name, a line for `--help`, and a function; adding one is one entry in
//! [`all`]. Stages go cheapest and most likely to fail first, so a mistake is reported in
//! seconds rather than after a full build.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use cargo_metadata::MetadataCommand;

use crate::{dag, deny, diet, fuzz, images};

/// What every stage needs to know about where and how it runs.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// The cargo that launched xtask (`$CARGO`), so that every stage uses one toolchain.
    pub(crate) cargo: OsString,
    /// The workspace root; every command runs there.
    pub(crate) root: PathBuf,
    /// Running in CI (the `CI` environment variable is set): selects CI profiles.
    pub(crate) ci: bool,
}

/// Whether `cargo <subcommand>` (a cargo plugin such as `deny` or `fuzz`) is installed.
/// When it is not: in CI an error naming the crate to install (`.ci/run` installs it);
/// elsewhere `Ok(false)` after printing that `stage` was skipped.
pub(crate) fn cargo_plugin(ctx: &Ctx, subcommand: &str, stage: &str) -> Result<bool, String> {
    if plugin_answers(ctx, subcommand) {
        return Ok(true);
    }
    let why = format!(
        "cargo-{subcommand} is not installed (`cargo install --locked cargo-{subcommand}`; \
         .ci/run installs it)"
    );
    if ctx.ci {
        return Err(why);
    }
    println!("SKIPPED {stage} stage: {why}");
    Ok(false)
}

/// Whether `cargo <subcommand> --version` succeeds.
pub(crate) fn plugin_answers(ctx: &Ctx, subcommand: &str) -> bool {
    cargo(ctx, &[subcommand, "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// One step of `cargo xtask ci`.
#[derive(Debug)]
pub(crate) struct Stage {
    /// The name given to `--only` and `--skip`.
    pub(crate) name: &'static str,
    /// What the stage checks, for `--help`.
    pub(crate) about: &'static str,
    /// Runs the stage; `Err` carries what failed, ready to print.
    pub(crate) run: fn(&Ctx) -> Result<(), String>,
}

/// Every stage, in the order `cargo xtask ci` runs them.
pub(crate) fn all() -> Vec<Stage> {
    vec![
        Stage { name: "fmt", about: "cargo fmt --check on the whole workspace", run: fmt },
        Stage {
            name: "dag",
            about: "internal dependencies follow the crate table (xtask/src/dag.rs)",
            run: dag,
        },
        Stage {
            name: "diet",
            about: "light crates do not pull in runtime crates (xtask/src/diet.rs)",
            run: diet,
        },
        Stage {
            name: "deny",
            about: "cargo deny: licenses, duplicate versions, sources (deny.toml; no advisories)",
            run: deny::stage,
        },
        Stage {
            name: "layered",
            about: "cargo check of each crate alone, dependencies first",
            run: layered,
        },
        Stage { name: "clippy", about: "clippy on all targets with -D warnings", run: clippy },
        Stage {
            name: "test",
            about: "cargo nextest (or cargo test without it), then doctests",
            run: test,
        },
        Stage { name: "doc", about: "rustdoc of the workspace with -D warnings", run: doc },
        Stage {
            name: "fuzz",
            about: "every fuzz target of fuzz/ for a few seconds (cargo-fuzz; see `xtask fuzz`)",
            run: fuzz::stage,
        },
        Stage {
            name: "containers",
            about: "container_* tests against real execution clients (needs Docker + images)",
            run: containers,
        },
    ]
}

fn fmt(ctx: &Ctx) -> Result<(), String> {
    run(cargo(ctx, &["fmt", "--all", "--", "--check"]))
}

fn dag(ctx: &Ctx) -> Result<(), String> {
    println!("$ cargo metadata --format-version 1 --no-deps");
    let workspace = workspace(ctx)?;
    dag::check(&workspace)?;
    println!(
        "{} crates, {} internal edges, all allowed",
        workspace.members.len(),
        workspace.edges.len()
    );
    Ok(())
}

fn diet(ctx: &Ctx) -> Result<(), String> {
    let workspace = workspace(ctx)?;
    let mut violations = Vec::new();
    for (krate, banned) in diet::BANNED {
        if !workspace.members.contains(*krate) {
            return Err(format!(
                "the diet table (xtask/src/diet.rs) names `{krate}`, which is not a workspace \
                 member: rename or remove its entry"
            ));
        }
        let tree = output(cargo(
            ctx,
            &[
                "tree", "--locked", "-p", krate, "-e", "normal", "--prefix", "depth", "--format",
                "{p}",
            ],
        ))?;
        for hit in diet::find_banned(&tree, banned)? {
            violations.push(format!("{krate} must not pull in {}: {}", hit.package, hit.path));
        }
    }
    if violations.is_empty() {
        println!("{} crates checked, no banned packages", diet::BANNED.len());
        Ok(())
    } else {
        Err(violations.join("\n"))
    }
}

fn layered(ctx: &Ctx) -> Result<(), String> {
    // One crate per invocation: `-p` resolves features for that crate alone, so a crate that
    // compiles only because a sibling enables a feature of a shared dependency fails here.
    for krate in dag::build_order(&workspace(ctx)?)? {
        run(cargo(ctx, &["check", "--locked", "-p", &krate]))?;
    }
    Ok(())
}

fn clippy(ctx: &Ctx) -> Result<(), String> {
    run(cargo(ctx, &["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"]))
}

fn test(ctx: &Ctx) -> Result<(), String> {
    if !has_nextest(ctx) {
        println!("cargo-nextest not found: falling back to cargo test");
        return run(cargo(ctx, &["test", "--workspace", "--locked"]));
    }
    // `--no-tests=warn`: a workspace of new crates may have none yet, which is not a failure.
    let mut nextest = cargo(ctx, &["nextest", "run", "--workspace", "--locked", "--no-tests=warn"]);
    if ctx.ci {
        nextest.args(["--profile", "ci"]);
    }
    run(nextest)?;
    // nextest does not run doctests.
    run(cargo(ctx, &["test", "--workspace", "--doc", "--locked"]))
}

fn doc(ctx: &Ctx) -> Result<(), String> {
    let mut flags = std::env::var_os("RUSTDOCFLAGS").unwrap_or_default();
    if !flags.is_empty() {
        flags.push(" ");
    }
    flags.push("-D warnings");
    let mut doc = cargo(ctx, &["doc", "--workspace", "--no-deps", "--locked"]);
    doc.env("RUSTDOCFLAGS", flags);
    run(doc)
}

/// The features that turn the container tests on: engine-testkit's wire-level ones,
/// engine-actor's actor-level scenarios and engine-node's run of the binary.
const CONTAINER_FEATURES: &str =
    "engine-testkit/containers,engine-actor/container-tests,engine-node/container-tests";

/// The packages whose container tests run, as `-p` arguments.
const CONTAINER_PACKAGES: [&str; 6] =
    ["-p", "engine-testkit", "-p", "engine-actor", "-p", "engine-node"];

/// The container tests: engine-testkit with its `containers` feature, engine-actor and
/// engine-node with their `container-tests`, which no other stage turns on (so `test` never needs Docker). In CI
/// a missing daemon or image fails the stage; elsewhere it is skipped with one line saying how
/// to enable it.
fn containers(ctx: &Ctx) -> Result<(), String> {
    let missing = images::docker_ready().err().or_else(|| {
        (!images::image_present(images::ETHEREUMJS_IMAGE)).then(|| {
            format!("{} is not present: run `cargo xtask images`", images::ETHEREUMJS_IMAGE)
        })
    });
    if let Some(why) = missing {
        if ctx.ci {
            return Err(why);
        }
        println!(
            "SKIPPED containers stage: {why}\n(run `cargo xtask images` with a running dockerd \
             to enable it; .ci/run sets both up)"
        );
        return Ok(());
    }
    // The feature's code is not linted by the `clippy` stage, which leaves it off.
    let mut clippy = cargo(ctx, &["clippy"]);
    clippy.args(CONTAINER_PACKAGES).args([
        "--features",
        CONTAINER_FEATURES,
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]);
    run(clippy)?;
    // Tests of a client whose image is absent are not run: the runner counts them as skipped
    // (they would otherwise return early and count as passed).
    let skipped = images::report_optional();
    if !has_nextest(ctx) {
        println!("cargo-nextest not found: falling back to cargo test");
        let mut test = cargo(ctx, &["test"]);
        test.args(CONTAINER_PACKAGES).args([
            "--features",
            CONTAINER_FEATURES,
            "--locked",
            "container_",
        ]);
        if !skipped.is_empty() {
            test.arg("--");
            for client in &skipped {
                test.args(["--skip", &format!("container_{client}_")]);
            }
        }
        return run(test);
    }
    let mut nextest = cargo(ctx, &["nextest", "run"]);
    nextest.args(CONTAINER_PACKAGES);
    // Only the container test binaries: the summary's "skipped" then counts exactly the
    // container tests left out above, not every other test of the three packages.
    for target in container_test_targets(ctx)? {
        nextest.args(["--test", &target]);
    }
    nextest.args([
        "--features",
        CONTAINER_FEATURES,
        "--locked",
        "--no-tests=fail",
        "-E",
        &images::container_filter(&skipped),
    ]);
    if ctx.ci {
        nextest.args(["--profile", "ci"]);
    }
    run(nextest)
}

/// The workspace's integration-test targets named `container_…` (each a file of container
/// tests), from `cargo metadata --no-deps`.
fn container_test_targets(ctx: &Ctx) -> Result<Vec<String>, String> {
    let targets: Vec<String> = metadata(ctx)?
        .workspace_packages()
        .into_iter()
        .flat_map(|package| &package.targets)
        .filter(|target| target.is_test() && target.name.starts_with("container_"))
        .map(|target| target.name.clone())
        .collect();
    if targets.is_empty() {
        return Err("no `container_…` test target in the workspace".to_owned());
    }
    Ok(targets)
}

/// Members and internal edges of the workspace.
fn workspace(ctx: &Ctx) -> Result<dag::Workspace, String> {
    dag::Workspace::from_metadata(&metadata(ctx)?)
}

/// `cargo metadata --no-deps`: the workspace's own packages and targets.
fn metadata(ctx: &Ctx) -> Result<cargo_metadata::Metadata, String> {
    MetadataCommand::new()
        .cargo_path(&ctx.cargo)
        .current_dir(&ctx.root)
        .no_deps()
        .exec()
        .map_err(|e| format!("cargo metadata failed: {e}"))
}

fn has_nextest(ctx: &Ctx) -> bool {
    cargo(ctx, &["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

pub(crate) fn cargo(ctx: &Ctx, args: &[&str]) -> Command {
    let mut cmd = Command::new(&ctx.cargo);
    cmd.args(args).current_dir(&ctx.root);
    cmd
}

/// The command as a user would type it, for logs and error messages.
fn shown(cmd: &Command) -> String {
    let env = cmd.get_envs().filter_map(|(key, value)| {
        value.map(|v| format!("{}={:?}", key.to_string_lossy(), v.to_string_lossy()))
    });
    // `$CARGO` is a full toolchain path; `cargo` is what a reader would type.
    let args = cmd.get_args().map(|arg| arg.to_string_lossy().into_owned());
    env.chain(std::iter::once("cargo".to_owned())).chain(args).collect::<Vec<_>>().join(" ")
}

/// Runs a command with its output going straight to the terminal.
pub(crate) fn run(mut cmd: Command) -> Result<(), String> {
    let shown = shown(&cmd);
    println!("$ {shown}");
    let status = cmd.status().map_err(|e| format!("could not start `{shown}`: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("`{shown}` failed ({status})")) }
}

/// Runs a command for its stdout; its stderr (progress, errors) still goes to the terminal.
fn output(mut cmd: Command) -> Result<String, String> {
    let shown = shown(&cmd);
    println!("$ {shown}");
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    if !out.status.success() {
        return Err(format!("`{shown}` failed ({})", out.status));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("`{shown}` printed non-UTF-8: {e}"))
}
