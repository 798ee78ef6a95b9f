//! Real execution clients in containers (feature `containers`): EthereumJS from an image built
//! locally by `cargo xtask images`, and Geth and Reth from their published images for users
//! who have them. Mocks agree with us by construction; these do not.
//!
//! ```text
//!  test ──► ElContainer::<EthereumJs>::start_or_skip(&genesis, &jwt)
//!             │ 1. docker reachable? image present?  (no: skip outside CI, error in CI)
//!             │ 2. genesis.json + jwt.hex in a temp dir, bind-mounted read-only at /alys
//!             │ 3. three free loopback ports (rpc, engine, p2p) passed on the command line
//!             │ 4. `docker run --network host …` until the client's ready line, then until
//!             │    both RPC ports accept connections
//!             ▼
//!           http://127.0.0.1:<engine>  (JWT)      http://127.0.0.1:<rpc>  (eth_*)
//! ```
//!
//! Design choices:
//! - **Host networking, ports chosen by the test.** The client binds `127.0.0.1:<port>` on the
//!   host's loopback, so the test talks to loopback only and no bridge network (or iptables)
//!   is needed in the daemon. The ports come from binding `127.0.0.1:0` and closing the socket
//!   before the client starts: another process could take a port in between. That race is
//!   small (the kernel hands out ephemeral ports round-robin) and shows as a start failure
//!   naming the port, never as a wrong result.
//! - **Never dev or auto-mining mode.** Every client runs an externally driven post-merge chain
//!   (a genesis from [`GenesisBuilder`](crate::fixtures::GenesisBuilder):
//!   `terminalTotalDifficulty: 0`, Shanghai from genesis) and builds blocks only when asked
//!   through the Engine API, exactly as under Alys.
//! - **Skipping is loud and never silent in CI.** Outside CI a missing daemon or image skips
//!   the test with one line saying how to enable it; with `CI` set it is an error. Geth and
//!   Reth are optional everywhere: they run when their image is present locally (or
//!   [`PULL_ENV`] allows pulling) and are reported as skipped otherwise.
//! - **One container per test.** nextest runs every test in its own process, so sharing a
//!   container between tests would need containers that outlive their test (and its cleanup);
//!   EthereumJS starts in about two seconds, so each test gets a fresh chain instead.

mod availability;
mod error;
mod harness;
mod kind;

pub use availability::{Availability, PULL_ENV, availability, in_ci};
pub use error::ContainerError;
pub use harness::{ElContainer, ElPorts};
pub use kind::{
    CONTAINER_DATA_DIR, CONTAINER_FILES_DIR, ElKind, EthereumJs, EthereumJsAsDocumented, Geth, Reth,
};
