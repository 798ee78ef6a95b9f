//! Why a containerized execution client could not be run.

use crate::error::TestkitError;
use engine_types::Severity;

/// Everything that can go wrong while preparing or starting a client container.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerError {
    /// No Docker daemon answers (only an error in CI; elsewhere the test is skipped).
    #[error(
        "no Docker daemon answers ({reason}); start one (e.g. `dockerd --bridge=none \
         --iptables=false &`) or run `.ci/run`, which does"
    )]
    DockerUnavailable {
        /// What the daemon (or the attempt to reach it) said.
        reason: String,
    },
    /// The image is not present locally (only an error in CI for a locally built image).
    #[error("image {image} is not present locally; {hint}")]
    ImageMissing {
        /// The image reference.
        image: String,
        /// How to get it.
        hint: String,
    },
    /// The container could not be created, started or did not print its ready line.
    #[error("{client} container ({image}) did not start: {source}")]
    Start {
        /// The client kind.
        client: &'static str,
        /// The image reference.
        image: String,
        /// What testcontainers reported (boxed: it is large and this path is cold).
        #[source]
        source: Box<testcontainers::TestcontainersError>,
    },
    /// A running client container could not be stopped or started again.
    #[error("could not {action} the {client} container {id}: {source}")]
    Lifecycle {
        /// The client kind.
        client: &'static str,
        /// The Docker container id.
        id: String,
        /// What was asked of it.
        action: &'static str,
        /// What testcontainers reported.
        #[source]
        source: Box<testcontainers::TestcontainersError>,
    },
    /// The genesis could not be built or written.
    #[error("invalid genesis for the container: {0}")]
    Genesis(String),
    /// Files, ports or waiting failed.
    #[error(transparent)]
    Testkit(#[from] TestkitError),
}

impl ContainerError {
    /// What a caller should do about this error: a missing daemon or image and a bad genesis
    /// need a human; a start that failed may be the port race and is worth one more try.
    pub fn severity(&self) -> Severity {
        match self {
            Self::DockerUnavailable { .. } | Self::ImageMissing { .. } | Self::Genesis(_) => {
                Severity::Fatal
            }
            Self::Start { .. } | Self::Lifecycle { .. } => Severity::Retry,
            Self::Testkit(e) => e.severity(),
        }
    }
}
