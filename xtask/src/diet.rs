//! The `diet` stage: packages a crate's normal dependency tree must not contain, found in the
//! output of `cargo tree -p <crate> -e normal --prefix depth`.
//!
//! `cargo tree -p` resolves features for that one package, as a downstream user taking only
//! that crate would; `cargo metadata`'s resolve graph unifies features across the whole
//! workspace and would blame a crate for what a sibling switched on.

/// Packages each crate's normal dependency tree (default features, host platform) must not
/// contain: the "must NOT pull in" column of the crate table in `shared/DESIGN.md`, minus the
/// internal crates, which the DAG table already rules out, plus engine-node's "devnet EL
/// only, no test kit, no containers". Keep the two in step.
pub(crate) const BANNED: &[(&str, &[&str])] = &[
    ("engine-types", &["tokio", "ractor", "reqwest", "hyper", "revm"]),
    ("engine-client", &["ractor", "revm", "testcontainers"]),
    ("engine-validation", &["tokio", "ractor", "reqwest"]),
    ("engine-supervision", &["reqwest", "revm"]),
    ("engine-actor", &["revm", "testcontainers"]),
    // The embedded execution layer serves; it never calls out or runs actors.
    ("engine-devnet", &["reqwest", "ractor", "testcontainers"]),
    // The shipped binary embeds the devnet (engine-devnet) but never the test kit nor the
    // container machinery, which only its dev-dependencies bring in.
    ("engine-node", &["engine-testkit", "testcontainers"]),
];

/// One package in a `cargo tree --prefix depth` listing.
#[derive(Debug, PartialEq, Eq)]
struct Line<'a> {
    depth: usize,
    name: &'a str,
}

/// Parses one line such as `3alloy-primitives v1.7.3` or `0engine-types v0.1.0 (/path)`.
/// Blank lines (between roots) give `None`; package names cannot start with a digit, so the
/// depth prefix ends at the first non-digit.
fn parse_line(line: &str) -> Result<Option<Line<'_>>, String> {
    let line = line.trim_end();
    if line.is_empty() {
        return Ok(None);
    }
    let digits = line.find(|c: char| !c.is_ascii_digit()).unwrap_or(line.len());
    let depth = line[..digits]
        .parse()
        .map_err(|_| format!("cargo tree line without a depth prefix: {line:?}"))?;
    let name = line[digits..]
        .split_whitespace()
        .next()
        .ok_or_else(|| format!("cargo tree line without a package: {line:?}"))?;
    Ok(Some(Line { depth, name }))
}

/// A banned package found in a tree, and how it gets there.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Hit {
    /// The banned package.
    pub(crate) package: String,
    /// Package names from the root down to it: `engine-types -> alloy-foo -> tokio`.
    pub(crate) path: String,
}

/// Every occurrence of a banned package in a depth-prefixed tree. A package that `cargo tree`
/// shows once and then elides with `(*)` is still reported on each path, since each path is
/// an edge someone has to cut.
pub(crate) fn find_banned(tree: &str, banned: &[&str]) -> Result<Vec<Hit>, String> {
    let mut ancestors: Vec<&str> = Vec::new();
    let mut hits: Vec<Hit> = Vec::new();
    for raw in tree.lines() {
        let Some(line) = parse_line(raw)? else { continue };
        if line.depth > ancestors.len() {
            return Err(format!("cargo tree line deeper than its parent: {raw:?}"));
        }
        ancestors.truncate(line.depth);
        ancestors.push(line.name);
        if line.depth > 0 && banned.contains(&line.name) {
            let path = ancestors.join(" -> ");
            if !hits.iter().any(|hit| hit.path == path) {
                hits.push(Hit { package: line.name.to_owned(), path });
            }
        }
    }
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from a real `cargo tree -p engine-client -e normal --prefix depth --format {p}`,
    /// with tokio reachable twice (once elided with `(*)`) and a second root after a blank line.
    const SAMPLE: &str = "\
0engine-client v0.1.0 (/work/main/crates/engine-client)
1engine-types v0.1.0 (/work/main/crates/engine-types)
2alloy-primitives v1.7.3
3bytes v1.12.2
2serde v1.0.229
1reqwest v0.13.1
2hyper v1.12.0
3tokio v1.54.0
4pin-project-lite v0.2.16
2tokio v1.54.0 (*)
1serde v1.0.229 (*)

0engine-types v0.1.0 (/work/main/crates/engine-types)
1alloy-primitives v1.7.3
";

    /// Each line gives its depth and the package name, whatever follows the name.
    #[test]
    fn parses_depth_and_name() {
        assert_eq!(
            parse_line("0engine-types v0.1.0 (/p)"),
            Ok(Some(Line { depth: 0, name: "engine-types" }))
        );
        assert_eq!(parse_line("12syn v2.0.119 (*)"), Ok(Some(Line { depth: 12, name: "syn" })));
        assert_eq!(
            parse_line("5serde_derive v1.0.229 (proc-macro)"),
            Ok(Some(Line { depth: 5, name: "serde_derive" }))
        );
        assert_eq!(parse_line(""), Ok(None));
        assert!(parse_line("tokio v1").is_err());
    }

    /// Every path to a banned package is named from the root down.
    #[test]
    fn reconstructs_paths_to_banned() {
        let paths = |hits: Vec<Hit>| hits.into_iter().map(|hit| hit.path).collect::<Vec<_>>();
        assert_eq!(
            paths(find_banned(SAMPLE, &["tokio", "hyper"]).unwrap()),
            [
                "engine-client -> reqwest -> hyper",
                "engine-client -> reqwest -> hyper -> tokio",
                "engine-client -> reqwest -> tokio",
            ]
        );
    }

    /// A clean tree reports nothing, and a root is never reported against itself.
    #[test]
    fn clean_tree_reports_nothing() {
        assert_eq!(find_banned(SAMPLE, &["ractor", "revm"]).unwrap(), []);
        assert_eq!(
            find_banned(SAMPLE, &["engine-types"]).unwrap(),
            [Hit {
                package: "engine-types".to_owned(),
                path: "engine-client -> engine-types".to_owned()
            }]
        );
    }

    /// Output that is not a depth-prefixed tree is an error, not a silent pass.
    #[test]
    fn malformed_tree_is_an_error() {
        assert!(find_banned("0a v1\n2b v1\n", &["b"]).is_err());
        assert!(find_banned("├── tokio v1\n", &["tokio"]).is_err());
    }
}
