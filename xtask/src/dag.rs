//! The `dag` stage: the internal dependency edges allowed between workspace crates, checked
//! against the manifests as `cargo metadata` reports them, and the build order they imply.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use cargo_metadata::{DependencyKind, Metadata};

/// Every workspace crate and the internal crates it may depend on (normal and build
/// dependencies), as drawn in the "Crates and the dependency DAG" section of
/// `shared/DESIGN.md`. Keep the two in step.
///
/// A crate missing from this table fails the check, so adding a crate to the workspace forces
/// a decision about where it sits. `engine-node` is listed before it exists for that reason.
pub(crate) const ALLOWED: &[(&str, &[&str])] = &[
    ("engine-types", &[]),
    ("engine-client", &["engine-types"]),
    ("engine-validation", &["engine-types"]),
    ("engine-supervision", &["engine-types"]),
    ("engine-devnet", &["engine-types"]),
    ("engine-testkit", &["engine-types", "engine-devnet"]),
    ("engine-actor", &["engine-types", "engine-client", "engine-validation", "engine-supervision"]),
    ("engine-node", &["engine-types", "engine-actor", "engine-devnet"]),
    ("xtask", &[]),
];

/// The crate every crate may take as a dev-dependency, on top of its allowed edges: test
/// doubles and fixtures live there.
pub(crate) const TESTKIT: &str = "engine-testkit";

/// Crates that may not dev-depend on [`TESTKIT`]: the testkit itself, and `engine-types` and
/// `engine-devnet`, which the testkit depends on (a dev edge back would make a cycle of two
/// builds of that crate).
pub(crate) const NO_TESTKIT_DEV: &[&str] = &["engine-types", "engine-devnet", "engine-testkit"];

/// How one crate depends on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// `[dependencies]`
    Normal,
    /// `[build-dependencies]`
    Build,
    /// `[dev-dependencies]`
    Dev,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Normal => "normal",
            Self::Build => "build",
            Self::Dev => "dev",
        })
    }
}

/// One declared dependency of a workspace crate on another workspace crate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Edge {
    /// The depending crate.
    pub(crate) from: String,
    /// The crate depended on.
    pub(crate) to: String,
    /// Which dependency table declares it.
    pub(crate) kind: Kind,
}

impl Edge {
    #[cfg(test)]
    fn new(from: &str, to: &str, kind: Kind) -> Self {
        Self { from: from.to_owned(), to: to.to_owned(), kind }
    }
}

/// The workspace as the checks see it: member names and the internal edges between them.
#[derive(Debug, Default)]
pub(crate) struct Workspace {
    /// Names of the workspace members.
    pub(crate) members: BTreeSet<String>,
    /// Declared dependencies between members, optional and target-specific ones included.
    pub(crate) edges: BTreeSet<Edge>,
}

impl Workspace {
    /// Extracts members and internal edges from `cargo metadata` (`--no-deps` is enough:
    /// declared dependencies are listed either way).
    pub(crate) fn from_metadata(metadata: &Metadata) -> Result<Self, String> {
        let packages = metadata.workspace_packages();
        let members: BTreeSet<String> = packages.iter().map(|p| p.name.to_string()).collect();
        let mut edges = BTreeSet::new();
        for package in packages {
            for dep in &package.dependencies {
                // `dep.name` is the package name even when the dependency is renamed.
                if !members.contains(&dep.name) {
                    continue;
                }
                let kind = match dep.kind {
                    DependencyKind::Normal => Kind::Normal,
                    DependencyKind::Build => Kind::Build,
                    DependencyKind::Development => Kind::Dev,
                    other => {
                        return Err(format!(
                            "{} -> {}: unknown dependency kind {other:?}",
                            package.name, dep.name
                        ));
                    }
                };
                edges.insert(Edge { from: package.name.to_string(), to: dep.name.clone(), kind });
            }
        }
        Ok(Self { members, edges })
    }
}

/// Checks every member against [`ALLOWED`], returning one line per violation.
pub(crate) fn check(workspace: &Workspace) -> Result<(), String> {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut violations = Vec::new();
    for member in &workspace.members {
        if !allowed.contains_key(member.as_str()) {
            violations.push(format!(
                "workspace member `{member}` is not in the DAG table (xtask/src/dag.rs): \
                 decide which internal crates it may depend on and add it"
            ));
        }
    }
    for edge in &workspace.edges {
        // An unknown `from` was reported above; its edges would only repeat it.
        let Some(targets) = allowed.get(edge.from.as_str()) else { continue };
        let ok = targets.contains(&edge.to.as_str())
            || (edge.kind == Kind::Dev
                && edge.to == TESTKIT
                && !NO_TESTKIT_DEV.contains(&edge.from.as_str()));
        if !ok {
            violations
                .push(format!("illegal {} dependency: {} -> {}", edge.kind, edge.from, edge.to));
        }
    }
    if violations.is_empty() { Ok(()) } else { Err(violations.join("\n")) }
}

/// Orders the members so that each comes after the crates it depends on (normal and build
/// edges; dev edges do not constrain a library build). Ties go alphabetically so the order
/// is stable from run to run.
pub(crate) fn build_order(workspace: &Workspace) -> Result<Vec<String>, String> {
    let mut waiting_on: BTreeMap<&str, BTreeSet<&str>> =
        workspace.members.iter().map(|m| (m.as_str(), BTreeSet::new())).collect();
    for edge in workspace.edges.iter().filter(|e| e.kind != Kind::Dev) {
        if let Some(deps) = waiting_on.get_mut(edge.from.as_str()) {
            deps.insert(edge.to.as_str());
        }
    }
    let mut order = Vec::with_capacity(waiting_on.len());
    while !waiting_on.is_empty() {
        let Some(next) = waiting_on.iter().find(|(_, deps)| deps.is_empty()).map(|(m, _)| *m)
        else {
            let stuck: Vec<&str> = waiting_on.keys().copied().collect();
            return Err(format!("dependency cycle among {}", stuck.join(", ")));
        };
        waiting_on.remove(next);
        for deps in waiting_on.values_mut() {
            deps.remove(next);
        }
        order.push(next.to_owned());
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace(members: &[&str], edges: &[Edge]) -> Workspace {
        Workspace {
            members: members.iter().map(|m| (*m).to_owned()).collect(),
            edges: edges.iter().cloned().collect(),
        }
    }

    fn all_members() -> Vec<&'static str> {
        ALLOWED.iter().map(|(name, _)| *name).collect()
    }

    /// The edges of the design itself pass.
    #[test]
    fn allowed_edges_pass() {
        let edges: Vec<Edge> = ALLOWED
            .iter()
            .flat_map(|(from, tos)| tos.iter().map(|to| Edge::new(from, to, Kind::Normal)))
            .collect();
        assert_eq!(check(&workspace(&all_members(), &edges)), Ok(()));
    }

    /// A build dependency is held to the same table as a normal one.
    #[test]
    fn build_edge_is_checked_like_normal() {
        let ws = workspace(
            &all_members(),
            &[
                Edge::new("engine-actor", "engine-client", Kind::Build),
                Edge::new("engine-client", "engine-validation", Kind::Build),
            ],
        );
        let err = check(&ws).unwrap_err();
        assert_eq!(err, "illegal build dependency: engine-client -> engine-validation");
    }

    /// The types crate depending on the client is named, with its kind.
    #[test]
    fn types_on_client_fails_naming_edge() {
        let ws = workspace(
            &all_members(),
            &[
                Edge::new("engine-client", "engine-types", Kind::Normal),
                Edge::new("engine-types", "engine-client", Kind::Normal),
            ],
        );
        let err = check(&ws).unwrap_err();
        assert!(err.contains("engine-types -> engine-client"), "{err}");
        assert!(err.contains("normal"), "{err}");
        assert!(!err.contains("engine-client -> engine-types"), "{err}");
    }

    /// Any crate but the types crate and the testkit may dev-depend on the testkit.
    #[test]
    fn dev_edge_to_testkit_allowed() {
        let ws = workspace(
            &all_members(),
            &[
                Edge::new("engine-client", "engine-testkit", Kind::Dev),
                Edge::new("engine-actor", "engine-testkit", Kind::Dev),
                Edge::new("engine-actor", "engine-client", Kind::Dev),
                Edge::new("xtask", "engine-testkit", Kind::Dev),
            ],
        );
        assert_eq!(check(&ws), Ok(()));
    }

    /// The types crate may not dev-depend on the testkit, which depends on it.
    #[test]
    fn dev_edge_from_types_to_testkit_rejected() {
        let ws =
            workspace(&all_members(), &[Edge::new("engine-types", "engine-testkit", Kind::Dev)]);
        assert_eq!(
            check(&ws),
            Err("illegal dev dependency: engine-types -> engine-testkit".to_owned())
        );
    }

    /// The node ships the devnet but takes the test kit only for its tests; the devnet, which
    /// the test kit wraps, may not take the test kit even for its tests.
    #[test]
    fn the_node_ships_the_devnet_and_not_the_testkit() {
        let ws = workspace(
            &all_members(),
            &[
                Edge::new("engine-node", "engine-devnet", Kind::Normal),
                Edge::new("engine-node", "engine-testkit", Kind::Dev),
                Edge::new("engine-testkit", "engine-devnet", Kind::Normal),
            ],
        );
        assert_eq!(check(&ws), Ok(()));
        let shipped =
            workspace(&all_members(), &[Edge::new("engine-node", "engine-testkit", Kind::Normal)]);
        assert_eq!(
            check(&shipped),
            Err("illegal normal dependency: engine-node -> engine-testkit".to_owned())
        );
        let cycle =
            workspace(&all_members(), &[Edge::new("engine-devnet", "engine-testkit", Kind::Dev)]);
        assert_eq!(
            check(&cycle),
            Err("illegal dev dependency: engine-devnet -> engine-testkit".to_owned())
        );
    }

    /// The dev exception covers the testkit only, not any other crate.
    #[test]
    fn dev_edge_outside_table_rejected() {
        let ws =
            workspace(&all_members(), &[Edge::new("engine-client", "engine-actor", Kind::Dev)]);
        assert_eq!(
            check(&ws),
            Err("illegal dev dependency: engine-client -> engine-actor".to_owned())
        );
    }

    /// A member the table does not know fails, so a new crate forces a decision.
    #[test]
    fn unknown_member_rejected() {
        let ws = workspace(
            &["engine-types", "engine-gadget"],
            &[Edge::new("engine-gadget", "engine-types", Kind::Normal)],
        );
        let err = check(&ws).unwrap_err();
        assert!(err.contains("`engine-gadget` is not in the DAG table"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }

    /// Dependencies come first; ties are alphabetical; dev edges do not constrain the order.
    #[test]
    fn build_order_is_topological() {
        let ws = workspace(
            &[
                "xtask",
                "engine-actor",
                "engine-client",
                "engine-supervision",
                "engine-testkit",
                "engine-types",
                "engine-validation",
            ],
            &[
                Edge::new("engine-actor", "engine-client", Kind::Normal),
                Edge::new("engine-actor", "engine-supervision", Kind::Normal),
                Edge::new("engine-actor", "engine-validation", Kind::Build),
                Edge::new("engine-actor", "engine-types", Kind::Normal),
                Edge::new("engine-actor", "engine-testkit", Kind::Dev),
                Edge::new("engine-client", "engine-types", Kind::Normal),
                Edge::new("engine-client", "engine-testkit", Kind::Dev),
                Edge::new("engine-supervision", "engine-types", Kind::Normal),
                Edge::new("engine-testkit", "engine-types", Kind::Normal),
                Edge::new("engine-validation", "engine-types", Kind::Normal),
            ],
        );
        assert_eq!(
            build_order(&ws).unwrap(),
            [
                "engine-types",
                "engine-client",
                "engine-supervision",
                "engine-testkit",
                "engine-validation",
                "engine-actor",
                "xtask",
            ]
        );
    }

    /// A cycle is reported instead of looping or dropping crates.
    #[test]
    fn build_order_reports_cycle() {
        let ws = workspace(
            &["a", "b", "c"],
            &[Edge::new("a", "b", Kind::Normal), Edge::new("b", "a", Kind::Build)],
        );
        assert_eq!(build_order(&ws), Err("dependency cycle among a, b".to_owned()));
    }
}
