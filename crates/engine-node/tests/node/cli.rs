//! The command line a new user meets first.

use crate::harness::{Node, base_args, block_numbers};

/// `--help` explains the flags with their defaults and environment variables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_shows_defaults_and_variables() {
    let (exit, _, lines) = Node::spawn(&["--help"]).exit().await;
    assert!(exit.success());
    let help = lines.join("\n");
    for needle in [
        "--engine-url",
        "--jwt-secret",
        "[default: 127.0.0.1:9100]",
        "[env: ALYS_ENGINE_METRICS_ADDR=]",
        "[default: alys-engine-data]",
        "--fail-fast",
        "config",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
}

/// `config print-default` writes a file the node runs with, and the file's slot duration
/// applies unless a flag overrides it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printed_default_config_runs() {
    let (exit, _, lines) = Node::spawn(&["config", "print-default"]).exit().await;
    assert!(exit.success());
    let text = lines.join("\n").replace("slot_duration = \"2s\"", "slot_duration = \"100ms\"");
    assert!(text.contains("[engine.timeouts]") && text.contains("# jwt_secret_file"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("engine.toml");
    std::fs::write(&config, text).unwrap();
    let mut args = base_args(&dir.path().join("data"));
    args.extend(["--config".to_string(), config.display().to_string()]);
    args.extend(["--blocks", "2"].map(String::from));
    let (exit, stderr, lines) = Node::spawn(&args).exit().await;
    assert!(exit.success(), "{exit}: {stderr}");
    assert_eq!(block_numbers(&lines), [1, 2]);
    assert!(
        lines.iter().any(|l| l.contains("producing a block every slot") && l.contains("100ms"))
    );
}

/// `ALYS_ENGINE_*` variables set what their flags set, and a flag wins over its variable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_variables_override_defaults_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = base_args(dir.path());
    args.extend(["--blocks", "2"].map(String::from));
    let env = [("ALYS_ENGINE_BLOCKS", "5"), ("ALYS_ENGINE_SLOT_TIME", "100ms")];
    let (exit, stderr, lines) = Node::spawn_with_env(&args, &env).exit().await;
    assert!(exit.success(), "{exit}: {stderr}");
    assert_eq!(block_numbers(&lines), [1, 2], "--blocks 2 beats ALYS_ENGINE_BLOCKS=5");
    assert!(
        lines.iter().any(|l| l.contains("producing a block every slot") && l.contains("100ms"))
    );
}

/// `--log-format json` prints one JSON object per line, progress lines included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = base_args(dir.path());
    args.extend(
        ["--blocks", "1", "--slot-time", "100ms", "--log-format", "json"].map(String::from),
    );
    let (exit, stderr, lines) = Node::spawn(&args).exit().await;
    assert!(exit.success(), "{exit}: {stderr}");
    let objects: Vec<serde_json::Value> =
        lines.iter().map(|l| serde_json::from_str(l).expect(l)).collect();
    assert!(objects.iter().all(|o| o["level"].is_string() && o["message"].is_string()));
    assert!(objects.iter().any(|o| o["message"].as_str().unwrap().starts_with("block 1 0x")));
}

/// Slots that follow each other back to back (each starts as the one before it ends, at
/// `--slot-time 1ms`) are each their own span under the Chain actor's, never inside the
/// slot before: a chain of nested spans would grow every log line and keep every span
/// alive for as long as the node runs.
#[tokio::test]
async fn back_to_back_slots_are_sibling_spans() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = base_args(dir.path());
    args.extend(["--blocks", "40", "--slot-time", "1ms", "--log-format", "json"].map(String::from));
    let debug = [("RUST_LOG", "info,engine_node=debug")];
    let (exit, stderr, lines) = Node::spawn_with_env(&args, &debug).exit().await;
    assert!(exit.success(), "{exit}: {stderr}");
    let mut in_slots = 0;
    for line in &lines {
        let object: serde_json::Value = serde_json::from_str(line).expect(line);
        let Some(spans) = object["spans"].as_array() else { continue };
        let slots = spans.iter().filter(|s| s["name"] == "slot").count();
        assert!(slots <= 1, "a slot span inside another: {line}");
        in_slots += slots;
    }
    assert!(in_slots > 40, "too few lines logged in slots to tell: {in_slots}");
}
