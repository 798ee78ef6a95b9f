//! The `deny` stage of `cargo xtask ci`: `cargo deny` on the workspace and on the fuzz crate
//! (its own lock file), with the policy of `deny.toml` at the root: licenses from an
//! allow-list, duplicate versions, crates.io as the only source.
//!
//! Advisories are not checked: the RustSec database is a git clone these machines cannot
//! fetch, and a check that needs the network would fail for reasons unrelated to the
//! change under test. Run `cargo deny check advisories` where the network is open.

use crate::stages::{Ctx, cargo, cargo_plugin, run};

/// The checks the stage runs (everything but advisories, see the module documentation).
const CHECKS: [&str; 3] = ["licenses", "bans", "sources"];

/// The manifests checked, relative to the root: the workspace, then the fuzz crate.
const MANIFESTS: [&str; 2] = ["Cargo.toml", "fuzz/Cargo.toml"];

/// Runs the checks on every manifest; without cargo-deny it fails in CI and is skipped
/// (saying so) elsewhere.
pub(crate) fn stage(ctx: &Ctx) -> Result<(), String> {
    if !cargo_plugin(ctx, "deny", "deny")? {
        return Ok(());
    }
    let config = ctx.root.join("deny.toml");
    for manifest in MANIFESTS {
        // cargo-deny reads every package's manifest and license files, including those of
        // crates built only for other platforms, which no build here downloads: fetch them
        // (from crates.io, as any build does) so the offline check sees the whole graph
        // instead of logging a fetch error and checking less.
        run(cargo(ctx, &["fetch", "--locked", "--manifest-path", manifest]))?;
        let mut deny = cargo(ctx, &["deny", "--locked", "--offline", "--manifest-path", manifest]);
        deny.arg("--config").arg(&config).arg("check").args(CHECKS);
        run(deny)?;
    }
    Ok(())
}
