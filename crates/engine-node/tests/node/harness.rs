//! Spawns the node binary and watches it: log lines as they come, HTTP scrapes of its
//! operator server, signals, and its exit.

use engine_testkit::{
    Recording, Script,
    devnet::{DevnetConfig, DevnetEl, dev_genesis},
};
use engine_types::ForkSchedule;
use std::{
    net::SocketAddr,
    path::Path,
    process::{ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
    process::{Child, Command},
    sync::mpsc,
};

/// A devnet execution layer on fresh loopback ports, Shanghai from genesis.
pub(crate) async fn devnet() -> DevnetEl {
    DevnetEl::start(DevnetConfig::new(dev_genesis(ForkSchedule::default()).unwrap())).await.unwrap()
}

/// The same with a [`Script`] around its server: faults to inject, calls kept as `recording`
/// says.
pub(crate) async fn scripted_devnet(recording: Recording) -> (DevnetEl, Arc<Script>) {
    let script = Script::new(recording);
    let config = DevnetConfig {
        hook: Some(script.hook()),
        ..DevnetConfig::new(dev_genesis(ForkSchedule::default()).unwrap())
    };
    (DevnetEl::start(config).await.unwrap(), script)
}

/// How long a test waits for any line, answer or exit.
pub(crate) const DEADLINE: Duration = Duration::from_secs(60);

/// A running node process.
pub(crate) struct Node {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    seen: Arc<Mutex<Vec<String>>>,
    reader: tokio::task::JoinHandle<()>,
    stderr: tokio::task::JoinHandle<String>,
}

/// Flags every test run uses: free ports and the given data directory.
pub(crate) fn base_args(data_dir: &Path) -> Vec<String> {
    vec![
        "--metrics-addr".into(),
        "127.0.0.1:0".into(),
        "--tx-addr".into(),
        "127.0.0.1:0".into(),
        "--data-dir".into(),
        data_dir.display().to_string(),
    ]
}

impl Node {
    /// Starts the binary with `args` (and no `ALYS_ENGINE_*` from the test's environment).
    pub(crate) fn spawn<S: AsRef<str>>(args: &[S]) -> Self {
        Self::spawn_with_env(args, &[])
    }

    /// Starts the binary with `args` and the environment variables `env`.
    pub(crate) fn spawn_with_env<S: AsRef<str>>(args: &[S], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_engine-node"));
        command.args(args.iter().map(AsRef::as_ref));
        for (key, _) in std::env::vars() {
            if key.starts_with("ALYS_ENGINE_") {
                command.env_remove(key);
            }
        }
        command.envs(env.iter().copied());
        command.env("RUST_LOG", "info");
        command.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = command.spawn().expect("spawn engine-node");
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let all = Arc::clone(&seen);
        let reader = tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                all.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        Self { child, lines, seen, reader, stderr }
    }

    /// The next stdout line matching `pred` (earlier lines are skipped but kept in
    /// [`Self::seen`]).
    pub(crate) async fn wait_for_line(
        &mut self,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let found = tokio::time::timeout(DEADLINE, async {
            while let Some(line) = self.lines.recv().await {
                if pred(&line) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            _ => panic!("no line with {what}; output so far:\n{}", self.seen().join("\n")),
        }
    }

    /// Every stdout line so far.
    pub(crate) fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// The address an `addr=` field of the first line containing `marker` names.
    pub(crate) async fn logged_addr(&mut self, marker: &str) -> SocketAddr {
        let line = self.wait_for_line(marker, |l| l.contains(marker)).await;
        let addr = line.split("addr=").nth(1).unwrap().split_whitespace().next().unwrap();
        addr.parse().unwrap()
    }

    /// Sends SIGTERM.
    pub(crate) fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends `SIG<name>` (e.g. `INT`, what Ctrl-C sends).
    pub(crate) fn signal(&self, name: &str) {
        let pid = self.child.id().expect("still running");
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} {pid}");
    }

    /// Waits for the exit; the status and stderr.
    pub(crate) async fn exit(mut self) -> (ExitStatus, String, Vec<String>) {
        let status = tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .expect("the node did not exit in time")
            .unwrap();
        let stderr = self.stderr.await.unwrap();
        // The reader ends at the end of the pipe: then every line the process wrote is seen.
        self.reader.await.unwrap();
        let lines = self.seen.lock().unwrap().clone();
        (status, stderr, lines)
    }
}

/// Sends SIGTERM and checks the node exits 0 having produced blocks 1, 2, … with none
/// skipped or repeated; their numbers and every output line.
pub(crate) async fn terminate_cleanly(node: Node) -> (Vec<u64>, Vec<String>) {
    stop_cleanly(node, "TERM").await
}

/// [`terminate_cleanly`] with another signal.
pub(crate) async fn stop_cleanly(node: Node, signal: &str) -> (Vec<u64>, Vec<String>) {
    node.signal(signal);
    let (exit, stderr, lines) = node.exit().await;
    assert!(exit.success(), "{exit}: {stderr}");
    let produced = block_numbers(&lines);
    let last = produced.last().copied().unwrap_or_default();
    assert_eq!(produced, (1..=last).collect::<Vec<_>>(), "contiguous from 1");
    (produced, lines)
}

/// The progress lines (`block N 0x…`) in `lines`, as block numbers.
pub(crate) fn block_numbers(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|l| {
            let rest = &l[l.find("block ")? + "block ".len()..];
            let mut words = rest.split_whitespace();
            let number = words.next()?.parse().ok()?;
            words.next()?.starts_with("0x").then_some(number)
        })
        .collect()
}

/// `GET path` on `addr`: status code and body.
pub(crate) async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// The value of an unlabelled metric in a Prometheus scrape.
pub(crate) fn metric(scrape: &str, name: &str) -> Option<f64> {
    scrape.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Checks an exit with an error: non-zero code, the expected words on stderr, no panic.
pub(crate) fn assert_failed(status: ExitStatus, stderr: &str, words: &[&str]) {
    assert!(!status.success(), "expected a failure, got {status}; stderr: {stderr}");
    for word in words {
        assert!(stderr.contains(word), "stderr lacks {word:?}: {stderr}");
    }
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one paragraph: {stderr}");
}
