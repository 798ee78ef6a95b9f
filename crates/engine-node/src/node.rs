//! One run of the node, start to stop.
//!
//! ```text
//!  bind the operator and transaction ports ─> metrics recorder ─> data directory checks
//!  ─> execution layer: embedded devnet (back from its journal) | real clients (probed)
//!  ─> engine port (engine-client's pool) ─> actors (the V2 supervision tree) ─> servers
//!  ─> until SIGINT/SIGTERM, the block limit, the root supervisor giving up, or a server
//!     failing
//!  ─> stop producing (the slot in flight finishes) ─> flush storage ─> stop the tree (the
//!     actors in reverse start order) ─> stop the servers ─> stop the devnet
//! ```

use crate::{
    actors::chain::{
        ChainCmd, ChainShared, ProductionConfig,
        queue::{self, PegInQueue, QueueError},
    },
    error::NodeError,
    metrics, preflight,
    rpc::RpcClient,
    server::{self, task::ServerTask},
    settings::{ElMode, Settings},
    shutdown::Shutdown,
    sim::Simulator,
    store::{DB_FILE_NAME, ExecutionStore},
    tree::{Tree, TreeArgs},
};
use engine_actor::{EngineActorConfig, EngineArgs, ExecutionPort};
use engine_devnet::{JOURNAL_FILE_NAME, rpc_server::ElPorts};
use std::{path::Path, sync::Arc};

/// The operator server, in messages.
const OPERATOR: &str = "the operator server";
/// The transaction endpoint, in messages.
const TRANSACTIONS: &str = "the transaction endpoint";

/// Runs the node until it is told to stop; `Ok` on a clean stop.
pub(crate) async fn run(mut settings: Settings) -> Result<(), NodeError> {
    let shutdown = Shutdown::install().map_err(|e| NodeError::Runtime {
        reason: format!("cannot install the signal handlers: {e}"),
    })?;
    let run = settings.run.clone();
    let operator = server::bind(run.metrics_addr, OPERATOR, "--metrics-addr").await?;
    let tx_listener = server::bind(run.tx_addr, TRANSACTIONS, "--tx-addr").await?;
    let operator_addr = local_addr(&operator)?;
    let tx_addr = local_addr(&tx_listener)?;
    server::listen::warn_if_exposed(operator_addr, OPERATOR, "--metrics-addr");
    server::listen::warn_if_exposed(tx_addr, TRANSACTIONS, "--tx-addr");
    let prometheus = metrics::install().map_err(|reason| NodeError::Telemetry { reason })?;
    // The operator server comes up first, so that /healthz answers (and /readyz says why
    // not) while the node waits for an execution client.
    let (stop_servers, servers_stopped) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        // An error means the sender is gone: the node is ending either way.
        let _ = rx.wait_for(|s| *s).await;
    };
    // Watched from here on: a server that fails ends the node (`ServerTask::ended`).
    let mut operator_task = ServerTask::spawn(
        OPERATOR,
        server::serve_operator(
            operator,
            prometheus,
            settings.server,
            stopped(servers_stopped.clone()),
        ),
    );
    tracing::info!(addr = %operator_addr, "operator server listening: /metrics /healthz /readyz /status");

    let engine_state = check_engine_state(&run.data_dir, run.start_fresh)?;
    let store = Arc::new(open_store(&run.data_dir, run.start_fresh)?);
    let queue = load_queue(&run.data_dir, run.start_fresh)?;

    let mut devnet = None;
    match &settings.mode {
        ElMode::Devnet { genesis } => {
            let el = crate::devnet::start(
                (**genesis).clone(),
                settings.engine_actor.index_recovery_depth(true),
                &store,
                &run.data_dir,
                engine_state.as_ref(),
            )
            .await?;
            if let Some(head) = engine_state.map(|s| s.heads.head).filter(|h| !h.is_unset())
                && el.block(&head.hash).is_none()
            {
                engine_ahead_of_devnet(
                    &run.data_dir,
                    run.start_fresh,
                    head.number,
                    el.head().number,
                )?;
            }
            settings.use_devnet(el.engine_url(), el.public_url(), el.jwt_secret_path())?;
            devnet = Some(el);
        }
        ElMode::External { endpoints } => {
            if settings.config.engine.build_lookahead.is_zero() {
                tracing::warn!(
                    "engine.build_lookahead is 0: each block is collected as soon as its build \
                     starts; Geth and Reth then return it empty (they fill blocks in the \
                     background). Set --build-lookahead, e.g. a third of the slot"
                );
            }
            // Waiting for a client may take long: the operator server is watched meanwhile.
            let proceed = tokio::select! {
                proceed = preflight::wait_for_clients(
                    endpoints,
                    settings.config.chain.chain_id,
                    &settings.chain_source,
                    run.fail_fast,
                    async {
                        shutdown.wait().await;
                    },
                ) => proceed?,
                failed = operator_task.ended() => return Err(failed),
            };
            if !proceed {
                tracing::info!("interrupted before an execution client answered");
                // An error means every receiver is gone: the server has stopped already.
                let _ = stop_servers.send(true);
                operator_task.join().await;
                return Ok(());
            }
        }
    }

    let port = engine_actor::port::PoolPort::from_config(
        &settings.config.engine,
        settings.config.chain.fork_schedule,
    )
    .map_err(|e| NodeError::Config {
        source_name: "of the execution clients".into(),
        reason: e.to_string(),
    })?;
    let port: Arc<dyn ExecutionPort> = Arc::new(port);
    let mut engine_config = EngineActorConfig::new(settings.config.chain, &run.data_dir);
    engine_config.payload_cache = settings.config.engine.payload_cache;
    engine_config.start_fresh = run.start_fresh;
    settings.engine_actor.apply(&mut engine_config, devnet.is_some());
    let mut peers = engine_actor::tree::registry_addresses::<
        engine_actor::peers::BurnEventsDetected,
        crate::actors::storage::StorageMsg,
    >(true, true, true);
    // The engine tells the Chain when it moves its head by itself (peg-ins returned).
    peers.chain_events = Some(engine_actor::tree::registry_chain_events::<ChainCmd>());
    let timeouts = settings.chain_timeouts()?;

    let sim = match &devnet {
        Some(el) if run.peg_ins_per_slot > 0 || run.peg_out_every > 0 => Some(
            Simulator::new(
                run.peg_ins_per_slot,
                run.peg_out_every,
                settings.config.chain.chain_id,
                RpcClient::new(&el.public_url(), "devnet-public", None)
                    .map_err(|e| NodeError::Runtime { reason: e.to_string() })?,
                RpcClient::new(&format!("http://{tx_addr}"), "tx-endpoint", None)
                    .map_err(|e| NodeError::Runtime { reason: e.to_string() })?,
                engine_config.rate_limit,
            )
            .map_err(|reason| NodeError::Runtime { reason })?,
        ),
        _ => None,
    };
    let chain = ChainShared::new(
        ProductionConfig {
            slot: settings.config.chain.slot_duration,
            blocks: run.blocks,
            finalize_every: run.finalize_every,
            timeouts,
            build_lookahead: settings.config.engine.build_lookahead,
        },
        sim,
        run.summary_every,
        queue,
    );
    let mut progress = chain.subscribe();
    let line = chain.line();
    let mut tree = Tree::start(TreeArgs {
        chain,
        engine: EngineArgs { config: engine_config, port, peers, line },
        store: Arc::clone(&store),
        supervision: settings.supervision.clone(),
    })
    .await?;

    let mut tx_task = ServerTask::spawn(
        TRANSACTIONS,
        server::serve_transactions(tx_listener, settings.server, stopped(servers_stopped)),
    );
    tracing::info!(addr = %tx_addr, "transaction endpoint listening: eth_sendRawTransaction");

    let outcome = tokio::select! {
        signal = shutdown.wait() => {
            tracing::info!(signal, "stopping: finishing the slot in flight");
            Ok(())
        }
        () = wait_finished(&mut progress, run.stay_up, &shutdown) => Ok(()),
        cause = tree.exited() => Err(NodeError::Runtime {
            reason: format!(
                "{cause}. Fix that cause, then start the node again (the limits are \
                 [supervision] in the config file)"
            ),
        }),
        failed = operator_task.ended() => Err(failed),
        failed = tx_task.ended() => Err(failed),
        reason = devnet_failed(devnet.as_ref()) => Err(NodeError::Runtime {
            reason: format!("the embedded devnet execution layer failed: {reason}"),
        }),
    };
    let produced = tree.stop().await;
    // An error means every receiver is gone: the servers have stopped already.
    let _ = stop_servers.send(true);
    operator_task.join().await;
    tx_task.join().await;
    if let Some(el) = devnet {
        el.shutdown().await;
    }
    tracing::info!(blocks = produced, data_dir = %run.data_dir.display(), "stopped");
    outcome
}

/// Resolves when the embedded devnet's server failed (a call's task panicked); never
/// without an embedded devnet.
async fn devnet_failed(devnet: Option<&engine_devnet::DevnetEl>) -> String {
    match devnet {
        Some(el) => el.server().failed().await,
        None => std::future::pending().await,
    }
}

/// Waits until the block limit is reached; with `stay_up`, then until a signal.
async fn wait_finished(
    progress: &mut tokio::sync::watch::Receiver<crate::actors::chain::ChainProgress>,
    stay_up: bool,
    shutdown: &Shutdown,
) {
    if progress.wait_for(|p| p.finished).await.is_err() {
        // The chain's shared state is gone, which only happens as the node ends.
        return std::future::pending().await;
    }
    if stay_up {
        tracing::info!("block limit reached; still serving until Ctrl-C or SIGTERM");
        shutdown.wait().await;
    }
}

fn local_addr(listener: &tokio::net::TcpListener) -> Result<std::net::SocketAddr, NodeError> {
    listener
        .local_addr()
        .map_err(|e| NodeError::Runtime { reason: format!("listening address: {e}") })
}

/// Refuses a corrupt engine state file before anything starts (the engine would otherwise
/// fail at every restart); with `start_fresh` it is set aside.
fn check_engine_state(
    dir: &Path,
    start_fresh: bool,
) -> Result<Option<engine_actor::persist::PersistedState>, NodeError> {
    engine_actor::persist::StateStore::new(dir, start_fresh)
        .load()
        .map_err(|e| NodeError::CorruptState { dir: dir.to_path_buf(), reason: e.to_string() })
}

/// The engine state names a head the devnet lacks. The devnet writes every block to its
/// journal before it answers `newPayload`, and the engine records a head only after that,
/// so a crash cannot cause this: the two files come from different moments (restored from
/// different backups, one of them replaced). Without the block the devnet can never reach
/// that head, so the engine would wait forever; say so, or with `start_fresh` set the
/// engine state aside so the engine starts from the devnet's head.
fn engine_ahead_of_devnet(
    dir: &Path,
    start_fresh: bool,
    engine_head: u64,
    devnet_head: u64,
) -> Result<(), NodeError> {
    let store = engine_actor::persist::StateStore::new(dir, start_fresh);
    let reason = format!(
        "{} is at block {engine_head}, but the devnet's journal ({JOURNAL_FILE_NAME}) comes \
         back at block {devnet_head} without it (the two files do not come from the same \
         moment: one was restored or replaced)",
        store.path().display()
    );
    if !start_fresh {
        return Err(NodeError::CorruptState { dir: dir.to_path_buf(), reason });
    }
    let aside = store
        .set_aside()
        .map_err(|e| NodeError::DataDir { dir: dir.to_path_buf(), reason: e.to_string() })?;
    let aside = aside.map(|p| p.display().to_string()).unwrap_or_default();
    tracing::warn!(%reason, %aside, "engine state set aside; continuing from the devnet's head");
    Ok(())
}

/// Loads the Chain's peg-in queue; with `start_fresh` a corrupt one is set aside.
fn load_queue(dir: &Path, start_fresh: bool) -> Result<PegInQueue, NodeError> {
    PegInQueue::load(dir, start_fresh, queue::DEFAULT_CAPACITY).map_err(|e| match e {
        QueueError::Write { reason, .. } => NodeError::DataDir { dir: dir.to_path_buf(), reason },
        other => NodeError::CorruptState { dir: dir.to_path_buf(), reason: other.to_string() },
    })
}

/// Opens the execution database; with `start_fresh` a corrupt one is set aside.
fn open_store(dir: &Path, start_fresh: bool) -> Result<ExecutionStore, NodeError> {
    match ExecutionStore::open(dir) {
        Err(NodeError::CorruptState { reason, .. }) if start_fresh => {
            let path = dir.join(DB_FILE_NAME);
            let aside =
                engine_actor::persist::files::set_aside(&path).map_err(|e| NodeError::DataDir {
                    dir: dir.to_path_buf(),
                    reason: format!("cannot set {} aside: {e}", path.display()),
                })?;
            tracing::warn!(path = %path.display(), aside = %aside.display(), %reason,
                "corrupt execution database set aside; starting fresh");
            ExecutionStore::open(dir)
        }
        other => other,
    }
}
