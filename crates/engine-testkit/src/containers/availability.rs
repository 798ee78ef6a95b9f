//! Can this client run here? The answer decides between running, skipping loudly, and (in
//! CI) failing: CI must never pass because the containers it was meant to test were absent.

use super::{error::ContainerError, kind::ElKind};
use testcontainers::bollard::{Docker, errors::Error as DockerError};

/// Set to `1` to let the harness pull a missing published image (Geth, Reth); without it a
/// missing published image skips the test, so no test reaches a registry by surprise.
pub const PULL_ENV: &str = "ALYS_PULL_IMAGES";

/// Whether a client can be run, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// The daemon answers and the image is present (or may be pulled).
    Ready,
    /// The test should be skipped, for this reason (one line, saying how to enable it).
    Skip(String),
}

/// Whether the `CI` environment variable is set (to anything but empty), as `cargo xtask ci`
/// and `.ci/run` see it.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Can `K` run here? In CI a missing daemon, or a missing image that `cargo xtask images`
/// builds, is an error; a missing published image (Geth, Reth) is a skip everywhere unless
/// [`PULL_ENV`] allows pulling it.
pub async fn availability<K: ElKind>() -> Result<Availability, ContainerError> {
    let image = K::image();
    let docker = match Docker::connect_with_defaults() {
        Ok(docker) => docker,
        Err(e) => return no_daemon::<K>(e.to_string()),
    };
    if let Err(e) = docker.ping().await {
        return no_daemon::<K>(e.to_string());
    }
    match docker.inspect_image(&image).await {
        Ok(_) => Ok(Availability::Ready),
        Err(DockerError::DockerResponseServerError { status_code: 404, .. }) => {
            missing_image::<K>(image)
        }
        Err(e) => no_daemon::<K>(format!("inspecting {image} failed: {e}")),
    }
}

fn no_daemon<K: ElKind>(reason: String) -> Result<Availability, ContainerError> {
    if in_ci() {
        return Err(ContainerError::DockerUnavailable { reason });
    }
    Ok(Availability::Skip(format!(
        "{} container test: no Docker daemon answers ({reason}); to run it, start dockerd \
         (`dockerd --bridge=none --iptables=false &` as root) and run `cargo xtask images`",
        K::NAME
    )))
}

fn missing_image<K: ElKind>(image: String) -> Result<Availability, ContainerError> {
    if K::LOCAL {
        let hint = "build it with `cargo xtask images` (needs npm and a running dockerd)";
        if in_ci() {
            return Err(ContainerError::ImageMissing { image, hint: hint.to_owned() });
        }
        return Ok(Availability::Skip(format!(
            "{} container test: {image} is not present; {hint}",
            K::NAME
        )));
    }
    if std::env::var(PULL_ENV).is_ok_and(|v| v == "1") {
        // testcontainers pulls an image it cannot find when it creates the container.
        return Ok(Availability::Ready);
    }
    Ok(Availability::Skip(format!(
        "{} container test: {image} is not present locally; `docker pull {image}` (or set \
         {PULL_ENV}=1, or {}=<image> for another tag) to run it",
        K::NAME,
        K::IMAGE_ENV
    )))
}
