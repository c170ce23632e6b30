//! Sweep expansion into cells (done by the checker, see
//! [`crate::lang::check`]) and the stage graph ([`graph::StageGraph`]):
//! `exp plan` prints both.

pub mod graph;
pub mod hash;
pub mod store;

use crate::plan::store::StageState;
use crate::spec::Pipeline;
use graph::StageGraph;
use serde_json::json;

fn state_name(s: StageState) -> &'static str {
    match s {
        StageState::Cached => "cached",
        StageState::Pending => "pending",
    }
}

/// Cells (with axis values) and stages as readable text; `states[i]` is
/// whether stage `i` is already in the output directory's stage store.
pub fn render_text(p: &Pipeline, g: &StageGraph, states: &[StageState]) -> String {
    let mut out = String::new();
    for s in p.sweeps.values() {
        out.push_str(&format!("sweep {} — {} cells", s.name, s.cells.len()));
        if !s.axes.is_empty() {
            out.push_str(&format!(" (axes: {})", s.axes.join(", ")));
        }
        out.push('\n');
        for c in &s.cells {
            let base = if s.baseline.as_deref() == Some(c.id.as_str()) {
                "  [baseline]"
            } else {
                ""
            };
            let vals: Vec<String> = c
                .axis_values
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            out.push_str(&format!("  {}  {}{base}\n", c.id, vals.join(" ")));
        }
    }
    let cached = states.iter().filter(|s| **s == StageState::Cached).count();
    out.push_str(&format!(
        "\nstages ({}, {cached} cached):\n",
        g.stages.len()
    ));
    for (i, st) in g.stages.iter().enumerate() {
        let state = states.get(i).copied().unwrap_or(StageState::Pending);
        let deps = if st.deps.is_empty() {
            String::new()
        } else {
            format!("  ← {}", st.deps.join(", "))
        };
        out.push_str(&format!(
            "  {}  {:<7}  {}{deps}\n",
            &st.hash[..12],
            state_name(state),
            st.id
        ));
    }
    out
}

/// `{"cells": [...], "stages": [...]}`; each stage carries `"state"`.
pub fn render_json(p: &Pipeline, g: &StageGraph, states: &[StageState]) -> String {
    let cells: Vec<serde_json::Value> = p
        .sweeps
        .values()
        .flat_map(|s| s.cells.iter())
        .map(|c| {
            let mut obj = serde_json::Map::new();
            obj.insert("id".into(), json!(c.id));
            obj.insert("sweep".into(), json!(c.sweep));
            for (k, v) in &c.axis_values {
                obj.insert(k.clone(), json!(v));
            }
            serde_json::Value::Object(obj)
        })
        .collect();
    let stages: Vec<serde_json::Value> = g
        .stages
        .iter()
        .enumerate()
        .map(|(i, st)| {
            let state = states.get(i).copied().unwrap_or(StageState::Pending);
            let mut v = json!(st);
            if let Some(obj) = v.as_object_mut() {
                obj.insert("state".into(), json!(state_name(state)));
            }
            v
        })
        .collect();
    let v = json!({ "cells": cells, "stages": stages });
    format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default())
}

/// Graphviz; cached stages are drawn grey.
pub fn render_dot(g: &StageGraph, states: &[StageState]) -> String {
    let mut out = String::from(
        "digraph plan {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    for (i, s) in g.stages.iter().enumerate() {
        let style = match states.get(i) {
            Some(StageState::Cached) => ", style=filled, fillcolor=\"#dddddd\"",
            _ => "",
        };
        out.push_str(&format!(
            "  \"{}\" [label=\"{}\\n{}\"{style}];\n",
            s.id,
            s.id,
            &s.hash[..12]
        ));
        for d in &s.deps {
            out.push_str(&format!("  \"{d}\" -> \"{}\";\n", s.id));
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::graph::StageKind;
    use super::*;

    fn plan(src: &str) -> (Pipeline, StageGraph) {
        let dir = std::env::temp_dir();
        let o = crate::driver::check_text("t.exp", src, &dir, &[], Default::default());
        let p = crate::driver::into_result(o).expect("valid pipeline");
        let g = StageGraph::build(&p);
        (p, g)
    }

    const SRC: &str = r#"
use std.backbones
use std.recipes
use std.scores
data d { source = generated(classes = 3, size = 56) root = "gen" }
budget b { frozen = 1 epoch finetune = 1 epoch }
sweep s { data = d backbone = [resnet_test, vit_test] recipe = adamw_cosine budget = b score = full_test }
"#;

    #[test]
    fn shared_stages_appear_once_and_deps_precede() {
        let (_, g) = plan(SRC);
        let kinds: Vec<&str> = g.stages.iter().map(|s| s.kind.as_str()).collect();
        assert_eq!(kinds.iter().filter(|k| **k == "decode").count(), 1);
        assert_eq!(kinds.iter().filter(|k| **k == "subset").count(), 1);
        assert_eq!(kinds.iter().filter(|k| **k == "train.frozen").count(), 2);
        assert_eq!(kinds.iter().filter(|k| **k == "compare").count(), 1);
        for (i, s) in g.stages.iter().enumerate() {
            for d in &s.deps {
                assert!(
                    g.stages[..i].iter().any(|p| &p.id == d),
                    "{} before {}",
                    d,
                    s.id
                );
            }
        }
    }

    #[test]
    fn adding_a_backbone_keeps_existing_hashes() {
        let (_, g1) = plan(SRC);
        let (_, g2) = plan(&SRC.replace(
            "[resnet_test, vit_test]",
            "[resnet_test, vit_test, convnextv2_test]",
        ));
        for s in g1.stages.iter().filter(|s| s.kind != StageKind::Compare) {
            assert_eq!(g2.get(&s.id).map(|x| &x.hash), Some(&s.hash), "{}", s.id);
        }
    }

    #[test]
    fn changing_finetune_changes_only_later_stages() {
        let (_, g1) = plan(SRC);
        let (_, g2) = plan(&SRC.replace("finetune = 1 epoch", "finetune = 2 epochs"));
        let same = |id: &str| g1.get(id).map(|s| &s.hash) == g2.get(id).map(|s| &s.hash);
        assert!(same("decode/d"));
        assert!(same("subset/d-b-s0"));
        assert!(same("train.frozen/s/resnet_test-s0"));
        assert!(!same("train.finetune/s/resnet_test-s0"));
        assert!(!same("score/s/resnet_test-s0"));
    }

    #[test]
    fn store_keys_are_the_plan_hashes_and_plan_shows_cached_stages() {
        let (p, g) = plan(SRC);
        let cell = &p.sweeps["s"].cells[0];
        let keys = crate::plan::store::cell_stages(cell);
        let plan_hashes: Vec<&str> = g.cell_stages(&cell.id).map(|s| s.hash.as_str()).collect();
        assert_eq!(
            plan_hashes,
            [
                keys.train_frozen.as_str(),
                keys.train_finetune.as_str(),
                keys.score.as_str()
            ]
        );
        assert_eq!(
            g.get("decode/d").map(|s| s.hash.as_str()),
            Some(keys.decode.as_str())
        );

        let out = tempfile::tempdir().expect("tempdir");
        crate::plan::store::write_marker(
            out.path(),
            &crate::plan::store::StageMarker {
                stage: "decode".into(),
                key: keys.decode.clone(),
                owner: "d".into(),
                location: ".".into(),
                exp_version: crate::VERSION.into(),
                detail: serde_json::Value::Null,
            },
        )
        .expect("marker");
        let states: Vec<StageState> = g
            .stages
            .iter()
            .map(|s| crate::plan::store::stage_state(out.path(), &s.hash))
            .collect();
        let text = render_text(&p, &g, &states);
        let line = |id: &str| {
            text.lines()
                .find(|l| l.ends_with(id) || l.contains(&format!("{id}  ")))
                .unwrap_or_default()
                .to_string()
        };
        assert!(line("decode/d").contains("cached"), "{text}");
        assert!(line("subset/d-b-s0").contains("pending"), "{text}");
        assert!(text.contains("1 cached"), "{text}");
        let json = render_json(&p, &g, &states);
        assert!(json.contains("\"state\": \"cached\""), "{json}");
    }
}
