//! `cargo xtask images`: build the container images the `containers` tests run, from what is
//! installable here (no image can be pulled on these machines).
//!
//! EthereumJS comes from npm; the image is a root filesystem assembled by hand and imported
//! with `docker import`, so no base image, Dockerfile or network access inside Docker is
//! needed:
//!
//! ```text
//! target/ethereumjs-<version>/rootfs/
//!   usr/bin/node                         the host's node (self-contained on these machines)
//!   lib/…, lib64/ld-linux-x86-64.so.2    every library ldd lists for node and native addons
//!   app/node_modules/                    npm install @ethereumjs/client@<version>
//!   etc/passwd, etc/group, tmp/          what node and the client expect to find
//! ```
//!
//! Idempotent: an image already present is left alone, and the npm install is cached in
//! `target/`, so a second run costs one `docker image inspect`.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::stages::Ctx;

/// The `@ethereumjs/client` release the image carries (pinned: its Engine API behaviour is
/// what the tests were written against).
pub(crate) const ETHEREUMJS_VERSION: &str = "0.10.5";
/// The image tag; `engine_testkit::containers::EthereumJs` runs exactly this.
pub(crate) const ETHEREUMJS_IMAGE: &str = "alys-engine-testkit/ethereumjs:0.10.5";
/// Where the client's entry point lands inside the image.
const ETHEREUMJS_CLI: &str = "/app/node_modules/@ethereumjs/client/dist/esm/bin/cli.js";

/// Published images the container tests also run when they are present locally: client,
/// override variable, default. Kept equal to `engine_testkit::containers::{Geth, Reth}`.
const OPTIONAL_IMAGES: [(&str, &str, &str); 2] = [
    ("geth", "ALYS_GETH_IMAGE", "ethereum/client-go:stable"),
    ("reth", "ALYS_RETH_IMAGE", "ghcr.io/paradigmxyz/reth:latest"),
];

/// Says which optional clients the container tests will run and which they skip, and
/// returns the skipped clients' names (`geth`, `reth`): the stage leaves their tests out with
/// a nextest filter, so the runner reports them as skipped instead of passed.
pub(crate) fn report_optional() -> Vec<&'static str> {
    let pull = std::env::var("ALYS_PULL_IMAGES").is_ok_and(|v| v == "1");
    let mut skipped = Vec::new();
    for (client, env, default) in OPTIONAL_IMAGES {
        let image = std::env::var(env).ok().filter(|i| !i.trim().is_empty());
        let image = image.as_deref().unwrap_or(default);
        if image_present(image) {
            println!("{client}: {image} is present, its container tests run");
        } else if pull {
            println!("{client}: {image} will be pulled (ALYS_PULL_IMAGES=1)");
        } else {
            println!(
                "SKIPPED {client} container tests: {image} is not present locally \
                 (`docker pull {image}`, ALYS_PULL_IMAGES=1, or {env}=<image>)"
            );
            skipped.push(client);
        }
    }
    skipped
}

/// The nextest filter of the container tests: every `container_` test but those of the
/// `skipped` clients (named `container_<client>_…`).
pub(crate) fn container_filter(skipped: &[&str]) -> String {
    let mut filter = "test(/container_/)".to_owned();
    for client in skipped {
        filter.push_str(&format!(" - test(/container_{client}_/)"));
    }
    filter
}

/// Builds every image that is missing.
pub(crate) fn images(ctx: &Ctx) -> Result<(), String> {
    docker_ready()?;
    if image_present(ETHEREUMJS_IMAGE) {
        println!("{ETHEREUMJS_IMAGE} is present; nothing to build");
        return Ok(());
    }
    let cache = ctx.root.join("target").join(format!("ethereumjs-{ETHEREUMJS_VERSION}"));
    let rootfs = cache.join("rootfs");
    npm_install(&cache, &rootfs.join("app"))?;
    let node = find_in_path("node").ok_or(
        "`node` is not on PATH: install Node.js (the image reuses the host's node binary)",
    )?;
    assemble(&rootfs, &node)?;
    import(&rootfs)?;
    if !image_present(ETHEREUMJS_IMAGE) {
        return Err(format!("docker import reported success but {ETHEREUMJS_IMAGE} is missing"));
    }
    println!("built {ETHEREUMJS_IMAGE}");
    Ok(())
}

/// `Ok` when a Docker daemon answers `docker info`; otherwise what to do about it.
pub(crate) fn docker_ready() -> Result<(), String> {
    let out = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `docker` ({e}): install the Docker CLI and daemon (`apt-get install docker.io`)"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "no Docker daemon answers `docker info` ({}): start one, e.g. `dockerd --bridge=none \
         --iptables=false &` as root (.ci/run does this)",
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// Whether the daemon has `image` locally.
pub(crate) fn image_present(image: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs the client into `app` unless a previous run completed; installs into a scratch
/// folder first so an interrupted install is never mistaken for a finished one.
fn npm_install(cache: &Path, app: &Path) -> Result<(), String> {
    let done = app.join("node_modules/@ethereumjs/client/package.json");
    if done.is_file() {
        println!("npm install cached in {}", app.display());
        return Ok(());
    }
    if find_in_path("npm").is_none() {
        return Err(
            "`npm` is not on PATH: install Node.js and npm (`apt-get install nodejs npm`)".into()
        );
    }
    let scratch = cache.join("app.partial");
    remove_dir(&scratch)?;
    remove_dir(app)?;
    fs::create_dir_all(&scratch).map_err(|e| format!("create {}: {e}", scratch.display()))?;
    let package = format!("@ethereumjs/client@{ETHEREUMJS_VERSION}");
    let mut npm = Command::new("npm");
    npm.args(["install", "--no-audit", "--no-fund", "--omit=dev", "--prefix"])
        .arg(&scratch)
        .arg(&package);
    run(npm)?;
    let parent = app.parent().ok_or("the app folder has no parent")?;
    fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
    fs::rename(&scratch, app)
        .map_err(|e| format!("move {} to {}: {e}", scratch.display(), app.display()))
}

/// Puts node, its libraries and the minimal files next to `rootfs/app`.
fn assemble(rootfs: &Path, node: &Path) -> Result<(), String> {
    let node = fs::canonicalize(node).map_err(|e| format!("resolve {}: {e}", node.display()))?;
    copy_into(rootfs, &node, Path::new("/usr/bin/node"))?;
    let mut libraries = ldd(&node)?;
    // Native addons (classic-level's LevelDB binding) link against more libraries than node.
    for addon in native_addons(&rootfs.join("app/node_modules"))? {
        libraries.extend(ldd(&addon).unwrap_or_default());
    }
    for library in &libraries {
        copy_into(rootfs, library, library)?;
    }
    println!("copied node and {} libraries into {}", libraries.len(), rootfs.display());
    let etc = rootfs.join("etc");
    fs::create_dir_all(&etc).map_err(|e| format!("create {}: {e}", etc.display()))?;
    for (name, contents) in [
        ("passwd", "root:x:0:0:root:/root:/sbin/nologin\n"),
        ("group", "root:x:0:\n"),
        ("nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n"),
        ("hosts", "127.0.0.1 localhost\n"),
    ] {
        write(&etc.join(name), contents)?;
    }
    for dir in ["tmp", "root"] {
        let path = rootfs.join(dir);
        fs::create_dir_all(&path).map_err(|e| format!("create {}: {e}", path.display()))?;
    }
    // A world-writable, sticky /tmp as everywhere else: the client keeps its database there.
    let tmp = rootfs.join("tmp");
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777))
        .map_err(|e| format!("chmod {}: {e}", tmp.display()))
}

/// `tar -C rootfs -c . | docker import --change ENTRYPOINT… - IMAGE`.
fn import(rootfs: &Path) -> Result<(), String> {
    let entrypoint = format!(r#"ENTRYPOINT ["/usr/bin/node", "{ETHEREUMJS_CLI}"]"#);
    println!(
        "$ tar -C {} -c . | docker import --change '{entrypoint}' - {ETHEREUMJS_IMAGE}",
        rootfs.display()
    );
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(rootfs)
        .args(["--numeric-owner", "--owner=0", "--group=0", "-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `tar`: {e}"))?;
    let tar_out = tar.stdout.take().ok_or("tar has no stdout")?;
    let import = Command::new("docker")
        .args(["import", "--change", &entrypoint, "-", ETHEREUMJS_IMAGE])
        .stdin(tar_out)
        .status()
        .map_err(|e| format!("cannot run `docker import`: {e}"))?;
    let tar = tar.wait().map_err(|e| format!("waiting for tar: {e}"))?;
    if !tar.success() {
        return Err(format!("tar of {} failed ({tar})", rootfs.display()));
    }
    if !import.success() {
        return Err(format!("docker import failed ({import})"));
    }
    Ok(())
}

/// The absolute paths of the shared libraries `ldd` lists for `binary`, including the
/// dynamic loader.
fn ldd(binary: &Path) -> Result<BTreeSet<PathBuf>, String> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| format!("cannot run `ldd` (part of libc-bin): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ldd {} failed: {}",
            binary.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(parse_ldd(&String::from_utf8_lossy(&out.stdout)))
}

/// Library paths from ldd output: `name => /path (addr)` and `/path/ld.so (addr)`; the vDSO
/// and unresolved names (`=> not found`, e.g. a musl build of an addon) are left out.
fn parse_ldd(text: &str) -> BTreeSet<PathBuf> {
    text.lines()
        .filter_map(|line| {
            let target = line.split_once("=>").map_or(line, |(_, target)| target).trim();
            let path = target.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// Every `*.node` addon built for this machine (e.g. linux-x64, glibc) under `node_modules`.
fn native_addons(node_modules: &Path) -> Result<Vec<PathBuf>, String> {
    // Prebuilds are named by node's platform and architecture (`linux-x64`, `linux-arm64`).
    let arch = match std::env::consts::ARCH {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        other => other,
    };
    let platform = format!("linux-{arch}");
    let mut found = Vec::new();
    let mut stack = vec![node_modules.to_owned()];
    while let Some(dir) = stack.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| format!("read {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                stack.push(path);
            } else if path.extension() == Some(OsStr::new("node"))
                && path.to_string_lossy().contains(&platform)
                && !path.to_string_lossy().contains("musl")
            {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Copies `source` (following symlinks) to `rootfs` + `at`, keeping its permissions.
fn copy_into(rootfs: &Path, source: &Path, at: &Path) -> Result<(), String> {
    let relative = at.strip_prefix("/").unwrap_or(at);
    let target = rootfs.join(relative);
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("create {}: {e}", parent.display()))?;
    }
    fs::copy(source, &target)
        .map(drop)
        .map_err(|e| format!("copy {} to {}: {e}", source.display(), target.display()))
}

fn write(path: &Path, contents: &str) -> Result<(), String> {
    fs::write(path, contents).map_err(|e| format!("write {}: {e}", path.display()))
}

fn remove_dir(path: &Path) -> Result<(), String> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("remove {}: {e}", path.display())),
    }
}

/// The first executable called `name` on `PATH` (what `command -v` finds).
fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| {
        fs::metadata(candidate).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Runs a (non-cargo) command with its output going to the terminal.
fn run(mut cmd: Command) -> Result<(), String> {
    let shown = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    println!("$ {shown}");
    let status = cmd.status().map_err(|e| format!("could not start `{shown}`: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("`{shown}` failed ({status})")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Absent clients' tests are filtered out by name; with none absent the filter is the
    /// plain one.
    #[test]
    fn the_filter_leaves_out_the_skipped_clients() {
        assert_eq!(container_filter(&[]), "test(/container_/)");
        assert_eq!(
            container_filter(&["geth", "reth"]),
            "test(/container_/) - test(/container_geth_/) - test(/container_reth_/)"
        );
    }

    /// ldd lines become library paths; the vDSO and unresolved libraries are left out.
    #[test]
    fn parses_ldd() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f)\n\
                    \tlibc.musl-x86_64.so.1 => not found\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        let paths: Vec<PathBuf> = parse_ldd(text).into_iter().collect();
        assert_eq!(
            paths,
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libstdc++.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2")
            ]
        );
    }

    /// Only glibc linux-x64 addons are picked, not other platforms' prebuilds.
    #[test]
    fn finds_native_addons_for_this_platform() {
        let dir = std::env::temp_dir().join(format!("xtask-addons-{}", std::process::id()));
        let prebuilds = dir.join("classic-level/prebuilds");
        for (sub, file) in [
            ("linux-x64", "classic-level.node"),
            ("linux-x64", "classic-level.musl.node"),
            ("darwin-x64+arm64", "classic-level.node"),
        ] {
            fs::create_dir_all(prebuilds.join(sub)).unwrap();
            fs::write(prebuilds.join(sub).join(file), b"").unwrap();
        }
        let found = native_addons(&dir).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found, [prebuilds.join("linux-x64/classic-level.node")]);
    }
}
