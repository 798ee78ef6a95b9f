//! The Grafana dashboard and the Prometheus alert rules in `dashboards/` stay in step with
//! the metrics the code exports.

use std::{collections::BTreeSet, path::Path};

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().parent().unwrap()
}

/// Every `engine_*` name in `text` (Prometheus suffixes of histograms removed).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("engine_") {
        let start = i + at;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_lowercase() || bytes[end] == b'_') {
            end += 1;
        }
        let name = &text[start..end];
        let name =
            ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
        names.insert(name.to_string());
        i = end;
    }
    names
}

/// The metric names declared as `pub const …: &str = "engine_…"` in a crate's metrics.rs.
fn declared(krate: &str) -> BTreeSet<String> {
    let text =
        std::fs::read_to_string(workspace().join("crates").join(krate).join("src/metrics.rs"))
            .unwrap();
    text.lines()
        .filter(|l| l.contains("const ") && l.contains(": &str = \"engine_"))
        .flat_map(|l| metric_names(l.split('"').nth(1).unwrap()))
        .collect()
}

/// The dashboard queries only metrics some crate declares, and shows every metric of the
/// node itself.
#[test]
fn dashboard_uses_declared_metrics() {
    let dashboard =
        std::fs::read_to_string(workspace().join("dashboards/engine-node.json")).unwrap();
    let used = metric_names(&dashboard);
    let known = known_metrics();
    let unknown: Vec<_> = used.difference(&known).collect();
    assert!(unknown.is_empty(), "the dashboard queries undeclared metrics: {unknown:?}");
    let missing: Vec<_> =
        declared("engine-node").into_iter().filter(|m| !used.contains(m)).collect();
    assert!(missing.is_empty(), "node metrics missing from the dashboard: {missing:?}");
    assert!(declared("engine-node").len() >= 10);
}

/// Known metrics: those every crate the node runs declares.
fn known_metrics() -> BTreeSet<String> {
    ["engine-actor", "engine-client", "engine-supervision", "engine-node"]
        .into_iter()
        .flat_map(declared)
        .collect()
}

/// The text of `key` in a YAML mapping, if it is a non-empty string.
fn text<'a>(node: &'a yaml_rust2::Yaml, key: &str) -> Option<&'a str> {
    node[key].as_str().filter(|s| !s.trim().is_empty())
}

/// `dashboards/alerts.yml` is a Prometheus rule file: groups with a name and rules, each
/// rule with `alert`, `expr`, `for`, `labels.severity` and `annotations.summary`; its
/// expressions query only declared metrics, among them the ones operators page on (no
/// blocks, an endpoint offline, an open breaker, supervision restarts, finality lagging).
#[test]
fn alert_rules_are_well_formed_and_use_declared_metrics() {
    let path = workspace().join("dashboards/alerts.yml");
    let source = std::fs::read_to_string(&path).unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&source).expect("alerts.yml is YAML");
    assert_eq!(docs.len(), 1, "one document");
    let groups = docs[0]["groups"].as_vec().expect("a `groups` list");
    assert!(!groups.is_empty());
    let known = known_metrics();
    let mut used = BTreeSet::new();
    let mut alerts = BTreeSet::new();
    for group in groups {
        assert!(text(group, "name").is_some(), "a group without a name: {group:?}");
        let rules = group["rules"].as_vec().expect("a group's `rules` list");
        assert!(!rules.is_empty());
        for rule in rules {
            let alert = text(rule, "alert").unwrap_or_else(|| panic!("no alert name: {rule:?}"));
            assert!(alerts.insert(alert.to_string()), "{alert} twice");
            let expr = text(rule, "expr").unwrap_or_else(|| panic!("{alert}: no expr"));
            let duration = text(rule, "for").unwrap_or_else(|| panic!("{alert}: no `for`"));
            assert!(
                duration.ends_with(['s', 'm', 'h'])
                    && duration[..duration.len() - 1].chars().all(|c| c.is_ascii_digit()),
                "{alert}: `for: {duration}` is not a Prometheus duration"
            );
            let severity = text(&rule["labels"], "severity")
                .unwrap_or_else(|| panic!("{alert}: no labels.severity"));
            assert!(["critical", "warning"].contains(&severity), "{alert}: severity {severity}");
            assert!(
                text(&rule["annotations"], "summary").is_some(),
                "{alert}: no annotations.summary"
            );
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{alert}: `{expr}` queries no engine metric");
            let unknown: Vec<_> = names.difference(&known).collect();
            assert!(unknown.is_empty(), "{alert} queries undeclared metrics: {unknown:?}");
            used.extend(names);
        }
    }
    for needed in [
        "engine_node_blocks_total",
        "engine_client_endpoint_state",
        "engine_client_breaker_state",
        "engine_supervision_restarts_total",
        "engine_actor_finalized_number",
        "engine_actor_head_number",
        "engine_actor_peg_outs_owed",
    ] {
        assert!(used.contains(needed), "no alert on {needed}");
    }
    promtool_check(&path);
}

/// `promtool check rules` when Prometheus' tool is installed (Debian: `prometheus`);
/// otherwise says it was skipped (the structure test above still ran), except under `CI`.
fn promtool_check(path: &Path) {
    match std::process::Command::new("promtool").arg("check").arg("rules").arg(path).output() {
        Ok(out) => assert!(
            out.status.success(),
            "promtool check rules failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        // CI installs promtool (.ci/run), so there its absence is a failure, not a skip.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && std::env::var_os("CI").is_none() => {
            println!("SKIPPED: promtool check rules (promtool is not installed)");
        }
        Err(e) => panic!("cannot run promtool: {e}"),
    }
}
