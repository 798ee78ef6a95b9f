//! The execution clients the harness knows: which image, how to start it on an externally
//! driven post-merge chain, and which log line says it is up.

use super::harness::ElPorts;
use std::fmt;

/// Where the genesis and the JWT secret are mounted (read-only) inside the container.
pub const CONTAINER_FILES_DIR: &str = "/alys";
/// The client's database inside the container; it goes away with the container.
pub const CONTAINER_DATA_DIR: &str = "/tmp/el-data";

const GENESIS: &str = "/alys/genesis.json";
const JWT: &str = "/alys/jwt.hex";

/// One kind of execution client: everything the harness needs to run it.
///
/// The arguments bind every listener to `127.0.0.1` on the ports the test chose, disable peer
/// discovery and peers, and never enable a dev or auto-mining mode: blocks are built only when
/// the test asks through the Engine API.
pub trait ElKind: fmt::Debug + Send + Sync + 'static {
    /// Short name for logs and skip lines.
    const NAME: &'static str;
    /// The image (`name:tag`) used unless [`IMAGE_ENV`](Self::IMAGE_ENV) names another.
    const DEFAULT_IMAGE: &'static str;
    /// Environment variable that overrides the image, e.g. `ALYS_GETH_IMAGE`.
    const IMAGE_ENV: &'static str;
    /// Built locally (by `cargo xtask images`) rather than pulled from a registry: a missing
    /// local image is a failure in CI, a missing published image is a skip.
    const LOCAL: bool;
    /// A line the client prints once its RPC servers are up.
    const READY_LINE: &'static str;

    /// The entrypoint, when the image's own is not the client binary with our arguments.
    fn entrypoint() -> Option<&'static str> {
        None
    }

    /// The command line given to the entrypoint.
    fn args(ports: &ElPorts, chain_id: u64) -> Vec<String>;

    /// The image to run: the override from [`IMAGE_ENV`](Self::IMAGE_ENV) if set, else
    /// [`DEFAULT_IMAGE`](Self::DEFAULT_IMAGE).
    fn image() -> String {
        std::env::var(Self::IMAGE_ENV)
            .ok()
            .filter(|image| !image.trim().is_empty())
            .unwrap_or_else(|| Self::DEFAULT_IMAGE.to_owned())
    }
}

/// Split `name:tag` (the tag defaults to `latest`; a `:` before the last `/` is a registry
/// port, not a tag).
pub(crate) fn split_image(image: &str) -> (&str, &str) {
    let name_start = image.rfind('/').map_or(0, |slash| slash + 1);
    match image[name_start..].rfind(':') {
        Some(colon) => (&image[..name_start + colon], &image[name_start + colon + 1..]),
        None => (image, "latest"),
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// EthereumJS 0.10.5, from the image `cargo xtask images` builds (npm package
/// `@ethereumjs/client`, run by the host's node binary); speaks Engine API V1–V4 with JWT.
#[derive(Debug, Clone, Copy, Default)]
pub struct EthereumJs;

impl ElKind for EthereumJs {
    const NAME: &'static str = "ethereumjs";
    // Kept equal to the tag `cargo xtask images` builds (xtask/src/images.rs).
    const DEFAULT_IMAGE: &'static str = "alys-engine-testkit/ethereumjs:0.10.5";
    const IMAGE_ENV: &'static str = "ALYS_ETHEREUMJS_IMAGE";
    const LOCAL: bool = true;
    const READY_LINE: &'static str = "Client started successfully";

    fn args(ports: &ElPorts, chain_id: u64) -> Vec<String> {
        let mut args = EthereumJsAsDocumented::args(ports, chain_id);
        // The client's own switch for a node without peers under a consensus client (it
        // still never mines by itself). Without it EthereumJS answers every
        // `eth_sendRawTransaction` with "no peer connection available" (after pooling the
        // transaction), `eth_syncing` with -32603 "no peer available for synchronization",
        // and, on an old genesis, deems itself never synchronized.
        args.extend(strings(&["--isSingleNode", "true"]));
        args
    }
}

/// EthereumJS 0.10.5 started the way its own README shows, without `--isSingleNode`: its
/// Engine API works, but `eth_syncing` answers -32603 "no peer available for
/// synchronization" (`packages/client/src/rpc/modules/eth.ts`, `syncing`) and it refuses
/// `eth_sendRawTransaction`. What a new user runs first; the engine must still produce on it.
#[derive(Debug, Clone, Copy, Default)]
pub struct EthereumJsAsDocumented;

impl ElKind for EthereumJsAsDocumented {
    const NAME: &'static str = "ethereumjs-as-documented";
    const DEFAULT_IMAGE: &'static str = EthereumJs::DEFAULT_IMAGE;
    const IMAGE_ENV: &'static str = EthereumJs::IMAGE_ENV;
    const LOCAL: bool = true;
    const READY_LINE: &'static str = EthereumJs::READY_LINE;

    fn args(ports: &ElPorts, _chain_id: u64) -> Vec<String> {
        let mut args = strings(&["--gethGenesis", GENESIS, "--dataDir", CONTAINER_DATA_DIR]);
        args.extend(strings(&["--rpc", "--rpcAddr", "127.0.0.1", "--rpcPort"]));
        args.push(ports.rpc.to_string());
        args.extend(strings(&["--rpcEngine", "--rpcEngineAddr", "127.0.0.1", "--rpcEnginePort"]));
        args.push(ports.engine.to_string());
        args.extend(strings(&["--jwtSecret", JWT, "--port"]));
        args.push(ports.p2p.to_string());
        args.extend(strings(&[
            "--maxPeers",
            "0",
            "--discDns",
            "false",
            "--discV4",
            "false",
            "--logFile",
            "false",
        ]));
        args
    }
}

/// Geth (`ethereum/client-go`). Geth needs `geth init` before its first start, so the
/// container runs a shell that initializes the datadir and then `exec`s the node.
#[derive(Debug, Clone, Copy, Default)]
pub struct Geth;

impl ElKind for Geth {
    const NAME: &'static str = "geth";
    const DEFAULT_IMAGE: &'static str = "ethereum/client-go:stable";
    const IMAGE_ENV: &'static str = "ALYS_GETH_IMAGE";
    const LOCAL: bool = false;
    // Printed for the HTTP and the authenticated engine server; the harness then waits for
    // both ports to accept connections.
    const READY_LINE: &'static str = "HTTP server started";

    fn entrypoint() -> Option<&'static str> {
        Some("/bin/sh")
    }

    fn args(ports: &ElPorts, chain_id: u64) -> Vec<String> {
        let data = CONTAINER_DATA_DIR;
        let script = format!(
            "geth init --datadir {data} {GENESIS} && exec geth --datadir {data} \
             --networkid {chain_id} --syncmode full \
             --http --http.addr 127.0.0.1 --http.port {rpc} --http.api eth,net,web3 \
             --authrpc.addr 127.0.0.1 --authrpc.port {engine} --authrpc.jwtsecret {JWT} \
             --port {p2p} --nodiscover --maxpeers 0 --ipcdisable",
            rpc = ports.rpc,
            engine = ports.engine,
            p2p = ports.p2p,
        );
        vec!["-c".to_owned(), script]
    }
}

/// Reth (`ghcr.io/paradigmxyz/reth`), whose image's entrypoint is the `reth` binary.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reth;

impl ElKind for Reth {
    const NAME: &'static str = "reth";
    const DEFAULT_IMAGE: &'static str = "ghcr.io/paradigmxyz/reth:latest";
    const IMAGE_ENV: &'static str = "ALYS_RETH_IMAGE";
    const LOCAL: bool = false;
    const READY_LINE: &'static str = "RPC auth server started";

    fn args(ports: &ElPorts, _chain_id: u64) -> Vec<String> {
        let mut args = strings(&["node", "--chain", GENESIS, "--datadir", CONTAINER_DATA_DIR]);
        args.extend(strings(&["--http", "--http.addr", "127.0.0.1", "--http.port"]));
        args.push(ports.rpc.to_string());
        args.extend(strings(&["--http.api", "eth,net,web3"]));
        args.extend(strings(&["--authrpc.addr", "127.0.0.1", "--authrpc.port"]));
        args.push(ports.engine.to_string());
        args.extend(strings(&["--authrpc.jwtsecret", JWT, "--port"]));
        args.push(ports.p2p.to_string());
        args.extend(strings(&[
            "--disable-discovery",
            "--max-outbound-peers",
            "0",
            "--max-inbound-peers",
            "0",
            "--ipcdisable",
        ]));
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTS: ElPorts = ElPorts { rpc: 1001, engine: 1002, p2p: 1003 };

    /// Image references split into name and tag, with registry ports left in the name.
    #[test]
    fn splits_images() {
        assert_eq!(split_image("ethereum/client-go:stable"), ("ethereum/client-go", "stable"));
        assert_eq!(split_image("ghcr.io/paradigmxyz/reth"), ("ghcr.io/paradigmxyz/reth", "latest"));
        assert_eq!(split_image("localhost:5000/reth:v1"), ("localhost:5000/reth", "v1"));
        assert_eq!(split_image("localhost:5000/reth"), ("localhost:5000/reth", "latest"));
    }

    /// Every client gets the test's ports, loopback addresses and no peers, and none is
    /// started in a dev or auto-mining mode.
    #[test]
    fn command_lines_use_the_ports_and_stay_local() {
        for args in [
            EthereumJs::args(&PORTS, 1).join(" "),
            Geth::args(&PORTS, 1).join(" "),
            Reth::args(&PORTS, 1).join(" "),
        ] {
            for port in ["1001", "1002", "1003", "127.0.0.1", GENESIS, JWT] {
                assert!(args.contains(port), "{port} missing from {args}");
            }
            assert!(!args.contains("--dev") && !args.contains("mine"), "dev mode in {args}");
            assert!(!args.contains("0.0.0.0"), "non-loopback listener in {args}");
        }
        assert!(Geth::args(&PORTS, 121_212)[1].contains("--networkid 121212"));
        let single = EthereumJs::args(&PORTS, 1).join(" ");
        let documented = EthereumJsAsDocumented::args(&PORTS, 1).join(" ");
        assert!(single.ends_with("--isSingleNode true"), "{single}");
        assert!(!documented.contains("isSingleNode"), "{documented}");
        assert!(single.starts_with(&documented), "the same client otherwise");
    }
}
