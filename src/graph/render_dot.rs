//! `snapplan plan --format dot`: the graph for Graphviz (`dot -Tsvg`).
//! Solid edges are execution order (bold when the step needs the earlier
//! one to succeed), dashed red edges are rollback, dashed boxes run only on
//! failure, red boxes destroy backups.

use std::fmt::Write;

use super::compiled::{CompiledPlan, Dependency, Edge};
use petgraph::visit::EdgeRef;

/// Renders the plan as a DOT digraph (ends with a newline).
pub fn render(compiled: &CompiledPlan) -> String {
    let g = compiled.graph();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "digraph {} {{",
        quote(&format!("snapplan {}", compiled.plan().name))
    );
    out.push_str("  rankdir=TB;\n");
    out.push_str("  node [shape=box, fontname=\"monospace\"];\n");
    let all = compiled.all_steps();
    for &ix in &all {
        let node = compiled.node(ix);
        let mut attrs = vec![format!(
            "label={}",
            quote(&format!("{} {}", compiled.position(ix) + 1, node.step.id()))
        )];
        if node.on_failure_only {
            attrs.push("style=dashed".into());
        }
        if node.step.is_destructive() {
            attrs.push("color=red".into());
        }
        let _ = writeln!(out, "  {} [{}];", quote(&node.step.id()), attrs.join(", "));
    }
    // Edges in a stable order: by source, then target position.
    let mut edges: Vec<_> = g
        .edge_references()
        .map(|e| {
            (
                compiled.position(e.source()),
                compiled.position(e.target()),
                *e.weight(),
            )
        })
        .collect();
    edges.sort_by_key(|&(s, t, w)| (s, t, matches!(w, Edge::Rollback)));
    for (s, t, weight) in edges {
        let attrs = match weight {
            Edge::Order(Dependency::Needs) => " [style=bold]",
            Edge::Order(Dependency::After) => "",
            Edge::Rollback => " [style=dashed, color=red, constraint=false, label=\"undo\"]",
        };
        let _ = writeln!(
            out,
            "  {} -> {}{attrs};",
            quote(&compiled.step(all[s]).id()),
            quote(&compiled.step(all[t]).id())
        );
    }
    out.push_str("}\n");
    out
}

/// A DOT double-quoted string.
fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            // Shown as an escape, never acted on by a terminal or Graphviz.
            c if crate::printable::is_unsafe(c) => {
                out.push_str(&crate::printable::escape(&c.to_string()).replace('\\', "\\\\"))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{PhaseSet, compile, test_plans};

    #[test]
    fn home_server_dot() {
        let c = compile(
            &test_plans::home_server(),
            &test_plans::two_hooks(),
            &PhaseSet::from_args(&[]),
        );
        insta::assert_snapshot!(render(&c));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn one_node_per_step_and_dashed_rollback_edges() {
        let c = compile(
            &test_plans::home_server(),
            &test_plans::two_hooks(),
            &PhaseSet::from_args(&[]),
        );
        let dot = render(&c);
        assert!(dot.starts_with("digraph ") && dot.ends_with("}\n"));
        assert_eq!(dot.matches("[label=").count(), c.all_steps().len());
        let rollbacks = c
            .graph()
            .edge_weights()
            .filter(|w| **w == Edge::Rollback)
            .count();
        assert_eq!(dot.matches("style=dashed, color=red").count(), rollbacks);
        assert!(dot.contains("\"snapshot:vcr\" -> \"remove-snapshot:vcr\" [style=dashed"));
    }
}
