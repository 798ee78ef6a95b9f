//! The Grafana dashboard in `dashboards/` stays in step with the metrics the code exports.

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
    let mut known = BTreeSet::new();
    for krate in ["engine-actor", "engine-client", "engine-supervision", "engine-node"] {
        known.extend(declared(krate));
    }
    let unknown: Vec<_> = used.difference(&known).collect();
    assert!(unknown.is_empty(), "the dashboard queries undeclared metrics: {unknown:?}");
    let missing: Vec<_> =
        declared("engine-node").into_iter().filter(|m| !used.contains(m)).collect();
    assert!(missing.is_empty(), "node metrics missing from the dashboard: {missing:?}");
    assert!(declared("engine-node").len() >= 10);
}
