//! Text rendering of a tree, static ([`SupervisorSpec`]) or live ([`SupervisorStatus`]):
//!
//! ```text
//! AlysSystem (root)         strategy: one-for-one
//! ├── ConsensusSupervisor   priority: consensus, strategy: one-for-all
//! │   ├── ChainActor        priority: consensus
//! ```

use std::fmt;

use super::SupervisorSpec;
use crate::{
    policy::{Priority, RestartKind},
    supervisor::{ChildStart, ChildStatus, SupervisorStatus},
};

/// One line of the picture and the lines under it.
struct Node {
    label: String,
    /// Declared policy, shown as `key: value, …`.
    notes: Vec<String>,
    /// Live state, shown in brackets after the notes.
    live: Vec<String>,
    children: Vec<Self>,
}

impl Node {
    fn text(&self) -> String {
        let mut text = self.notes.join(", ");
        if !self.live.is_empty() {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&format!("[{}]", self.live.join(", ")));
        }
        text
    }
}

/// Notes shared by specs and statuses: only what differs from the defaults.
fn policy_notes(priority: Priority, restart: RestartKind) -> Vec<String> {
    let mut notes = Vec::new();
    if priority != Priority::Normal {
        notes.push(format!("priority: {priority}"));
    }
    if restart != RestartKind::Permanent {
        notes.push(format!("restart: {restart}"));
    }
    notes
}

fn spec_node(spec: &SupervisorSpec, label: String, mut notes: Vec<String>) -> Node {
    notes.push(format!("strategy: {}", spec.policy.strategy));
    let children = spec
        .children
        .iter()
        .map(|child| {
            let notes = policy_notes(child.policy.priority, child.policy.restart);
            match &child.start {
                ChildStart::Supervisor(nested) => spec_node(nested, child.name.clone(), notes),
                ChildStart::Actor(_) => {
                    Node { label: child.name.clone(), notes, live: vec![], children: vec![] }
                }
            }
        })
        .collect();
    Node { label, notes, live: vec![], children }
}

fn status_node(status: &SupervisorStatus, label: String, mut notes: Vec<String>) -> Node {
    notes.push(format!("strategy: {}", status.strategy));
    let children = status.children.iter().map(child_status_node).collect();
    Node { label, notes, live: vec![], children }
}

fn child_status_node(child: &ChildStatus) -> Node {
    let notes = policy_notes(child.priority, child.restart);
    let mut live = vec![child.state.to_string(), format!("restarts: {}", child.restarts)];
    match &child.supervisor {
        Some(nested) => {
            live.push(format!("in window: {}", nested.restarts_in_window));
            let mut node = status_node(nested, child.name.clone(), notes);
            node.live = live;
            node
        }
        None => Node { label: child.name.clone(), notes, live, children: vec![] },
    }
}

/// Flattens the tree into `(prefix + label, text)` lines.
fn lines(node: &Node, prefix: &str, out: &mut Vec<(String, String)>) {
    for (i, child) in node.children.iter().enumerate() {
        let last = i + 1 == node.children.len();
        let (branch, indent) = if last { ("└── ", "    ") } else { ("├── ", "│   ") };
        out.push((format!("{prefix}{branch}{}", child.label), child.text()));
        lines(child, &format!("{prefix}{indent}"), out);
    }
}

fn write_tree(f: &mut fmt::Formatter<'_>, root: &Node) -> fmt::Result {
    let mut out = vec![(root.label.clone(), root.text())];
    lines(root, "", &mut out);
    let width = out.iter().map(|(left, _)| left.chars().count()).max().unwrap_or(0) + 3;
    for (left, text) in out {
        if text.is_empty() {
            writeln!(f, "{left}")?;
        } else {
            let pad = width - left.chars().count();
            writeln!(f, "{left}{:pad$}{text}", "")?;
        }
    }
    Ok(())
}

/// Renders a declared tree.
pub(super) fn render_spec(f: &mut fmt::Formatter<'_>, root: &SupervisorSpec) -> fmt::Result {
    write_tree(f, &spec_node(root, format!("{} (root)", root.name), vec![]))
}

impl fmt::Display for SupervisorStatus {
    /// The live tree: each child with its state and restart count; nested supervisors are
    /// expanded when collected with [`collect_status`](crate::supervisor::collect_status).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut root = status_node(self, format!("{} (root)", self.name), vec![]);
        root.live = vec![format!("in window: {}", self.restarts_in_window)];
        write_tree(f, &root)
    }
}
