//! The harness: one running client container of any [`ElKind`], on host networking with
//! loopback ports chosen here, its genesis and JWT secret bind-mounted from a temp dir.

use super::{
    availability::{Availability, availability},
    error::ContainerError,
    kind::{CONTAINER_FILES_DIR, ElKind, split_image},
};
use crate::{error::TestkitError, jwt::JwtSecret};
use alloy_genesis::Genesis;
use std::{
    borrow::Cow,
    fmt,
    marker::PhantomData,
    net::{Ipv4Addr, SocketAddr, TcpListener},
    os::unix::fs::PermissionsExt,
    path::Path,
    time::{Duration, Instant},
};
use tempfile::TempDir;
use testcontainers::{
    ContainerAsync, Image, ImageExt,
    core::{AccessMode, Mount, WaitFor, logs::LogFrame},
    runners::AsyncRunner,
};

/// How long a client may take to print its ready line (EthereumJS needs about two seconds;
/// an image pull, when allowed, takes longer).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(180);
/// How long the RPC ports may take to accept connections after the ready line.
const PORTS_TIMEOUT: Duration = Duration::from_secs(30);
/// Between two connection attempts while waiting for a port.
const PORT_POLL: Duration = Duration::from_millis(50);

/// The host loopback ports of one client (host networking: the same inside and outside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElPorts {
    /// Public JSON-RPC (`eth_*`), no authentication.
    pub rpc: u16,
    /// Engine API, JWT-authenticated.
    pub engine: u16,
    /// devp2p listener (no peers are allowed; it only has to be a port nobody else uses).
    pub p2p: u16,
}

impl ElPorts {
    /// Three distinct free ports on `127.0.0.1`: bound together at port 0, read back, closed.
    ///
    /// Closing before the client binds leaves a small window in which another process could
    /// take a port; the client would then fail to start with an error naming it.
    pub fn free() -> Result<Self, TestkitError> {
        let bind = || {
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .and_then(|l| Ok((l.local_addr()?.port(), l)))
                .map_err(|e| TestkitError::io("bind 127.0.0.1:0 to pick a port", e))
        };
        // All three listeners stay open until the end of this function, so the ports differ.
        let ((rpc, _a), (engine, _b), (p2p, _c)) = (bind()?, bind()?, bind()?);
        Ok(Self { rpc, engine, p2p })
    }
}

/// The testcontainers image of one client run: name, tag, command line, mounts and ready line.
#[derive(Debug, Clone)]
struct ElImage {
    name: String,
    tag: String,
    ready_line: &'static str,
    entrypoint: Option<&'static str>,
    cmd: Vec<String>,
    mounts: Vec<Mount>,
}

impl Image for ElImage {
    fn name(&self) -> &str {
        &self.name
    }

    fn tag(&self) -> &str {
        &self.tag
    }

    fn ready_conditions(&self) -> Vec<WaitFor> {
        vec![WaitFor::message_on_either_std(self.ready_line)]
    }

    fn mounts(&self) -> impl IntoIterator<Item = &Mount> {
        &self.mounts
    }

    fn entrypoint(&self) -> Option<&str> {
        self.entrypoint
    }

    fn cmd(&self) -> impl IntoIterator<Item = impl Into<Cow<'_, str>>> {
        self.cmd.iter().map(String::as_str)
    }
}

/// A running execution client of kind `K`; the container is removed when this is dropped.
pub struct ElContainer<K: ElKind> {
    container: ContainerAsync<ElImage>,
    ports: ElPorts,
    image: String,
    /// The genesis and JWT files mounted into the container; must outlive it.
    _files: TempDir,
    kind: PhantomData<K>,
}

impl<K: ElKind> fmt::Debug for ElContainer<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ElContainer")
            .field("client", &K::NAME)
            .field("image", &self.image)
            .field("id", &self.container.id())
            .field("ports", &self.ports)
            .finish_non_exhaustive()
    }
}

impl<K: ElKind> ElContainer<K> {
    /// Start `K` if it can run here; otherwise print one line saying why and how to enable
    /// it, and return `None` (in CI a missing daemon or locally built image is an error
    /// instead, see [`availability`]).
    pub async fn start_or_skip(
        genesis: &Genesis,
        jwt: &JwtSecret,
    ) -> Result<Option<Self>, ContainerError> {
        match availability::<K>().await? {
            Availability::Ready => Self::start(genesis, jwt).await.map(Some),
            Availability::Skip(reason) => {
                eprintln!("SKIPPED {reason}");
                Ok(None)
            }
        }
    }

    /// Start `K` on `genesis` with the engine port authenticated by `jwt`, and wait until it
    /// printed its ready line and both RPC ports accept connections.
    pub async fn start(genesis: &Genesis, jwt: &JwtSecret) -> Result<Self, ContainerError> {
        let files = write_files(genesis, jwt)?;
        let ports = ElPorts::free()?;
        let image = K::image();
        let (name, tag) = split_image(&image);
        let source = files.path().to_string_lossy().into_owned();
        let el = ElImage {
            name: name.to_owned(),
            tag: tag.to_owned(),
            ready_line: K::READY_LINE,
            entrypoint: K::entrypoint(),
            cmd: K::args(&ports, genesis.config.chain_id),
            mounts: vec![
                Mount::bind_mount(source, CONTAINER_FILES_DIR)
                    .with_access_mode(AccessMode::ReadOnly),
            ],
        };
        let container = el
            .with_network("host")
            .with_startup_timeout(STARTUP_TIMEOUT)
            // The client's log goes to the test's stderr, which nextest shows when it fails.
            .with_log_consumer(|frame: &LogFrame| {
                eprint!("[{}] {}", K::NAME, String::from_utf8_lossy(frame.bytes()));
            })
            .start()
            .await
            .map_err(|source| ContainerError::Start {
                client: K::NAME,
                image: image.clone(),
                source: Box::new(source),
            })?;
        for port in [ports.rpc, ports.engine] {
            wait_for_port(port).await?;
        }
        Ok(Self { container, ports, image, _files: files, kind: PhantomData })
    }

    /// `http://127.0.0.1:<engine>`: the JWT-authenticated Engine API.
    pub fn engine_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.engine)
    }

    /// `http://127.0.0.1:<rpc>`: the public JSON-RPC (`eth_*`).
    pub fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.rpc)
    }

    /// The ports the client listens on.
    pub const fn ports(&self) -> ElPorts {
        self.ports
    }

    /// The image that runs.
    pub fn image(&self) -> &str {
        &self.image
    }

    /// The Docker container id.
    pub fn id(&self) -> &str {
        self.container.id()
    }

    /// Stops the client: SIGTERM, and SIGKILL if it is still running after `grace` (a zero
    /// grace is a crash). Its chain database stays in the container for
    /// [`restart`](Self::restart).
    pub async fn stop(&self, grace: Duration) -> Result<(), ContainerError> {
        let seconds = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        self.container
            .stop_with_timeout(Some(seconds))
            .await
            .map_err(|source| self.lifecycle("stop", source))
    }

    /// Starts a stopped client again, with the same command line, ports, genesis, secret
    /// and chain database, and returns once both RPC ports accept connections.
    pub async fn restart(&self) -> Result<(), ContainerError> {
        self.container.start().await.map_err(|source| self.lifecycle("start again", source))?;
        for port in [self.ports.rpc, self.ports.engine] {
            wait_for_port(port).await?;
        }
        Ok(())
    }

    fn lifecycle(
        &self,
        action: &'static str,
        source: testcontainers::TestcontainersError,
    ) -> ContainerError {
        ContainerError::Lifecycle {
            client: K::NAME,
            id: self.id().to_owned(),
            action,
            source: Box::new(source),
        }
    }
}

/// `genesis.json` and `jwt.hex` in a fresh temp dir, readable by the container's user.
fn write_files(genesis: &Genesis, jwt: &JwtSecret) -> Result<TempDir, ContainerError> {
    let io = |what: &str, path: &Path| {
        let what = format!("{what} {}", path.display());
        move |e| TestkitError::io(what, e)
    };
    let dir = tempfile::Builder::new()
        .prefix("alys-el-")
        .tempdir()
        .map_err(|e| TestkitError::io("create a temp dir for the container files", e))?;
    // Images may run their client as a non-root user, which the default 0700 would lock out.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(io("make readable", dir.path()))?;
    let json = serde_json::to_vec_pretty(genesis)
        .map_err(|e| ContainerError::Genesis(format!("cannot serialize: {e}")))?;
    for (name, contents) in [("genesis.json", json), ("jwt.hex", jwt.to_hex().into_bytes())] {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).map_err(io("write", &path))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
            .map_err(io("make readable", &path))?;
    }
    Ok(dir)
}

/// Poll until `127.0.0.1:port` accepts a connection, for at most [`PORTS_TIMEOUT`].
async fn wait_for_port(port: u16) -> Result<(), TestkitError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let started = Instant::now();
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if started.elapsed() > PORTS_TIMEOUT {
            return Err(TestkitError::Timeout {
                what: format!("the client to accept connections on {addr}"),
                after: PORTS_TIMEOUT,
            });
        }
        tokio::time::sleep(PORT_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The three ports are distinct and free to bind again once picked.
    #[test]
    fn free_ports_are_distinct_and_bindable() {
        let ports = ElPorts::free().unwrap();
        assert!(ports.rpc != ports.engine && ports.engine != ports.p2p && ports.rpc != ports.p2p);
        for port in [ports.rpc, ports.engine, ports.p2p] {
            TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
        }
    }

    /// The mounted files are the genesis JSON and the secret's hex, readable by any user.
    #[test]
    fn files_for_the_container() {
        let jwt = JwtSecret::from_bytes([7; 32]);
        let dir = write_files(&Genesis::default(), &jwt).unwrap();
        let hex = std::fs::read_to_string(dir.path().join("jwt.hex")).unwrap();
        assert_eq!(JwtSecret::from_hex(&hex).unwrap(), jwt);
        let text = std::fs::read_to_string(dir.path().join("genesis.json")).unwrap();
        let back: Genesis = serde_json::from_str(&text).unwrap();
        assert_eq!(back, Genesis::default());
        let mode = std::fs::metadata(dir.path().join("jwt.hex")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }
}
