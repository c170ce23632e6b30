//! What users run: every shipped pipeline and stdlib module checks cleanly,
//! every example in docs/language.md checks, and the `exp check` / `exp plan`
//! / `exp explain` commands give the documented output and exit codes.

use exp::driver::{check_path, check_std_module, check_text, CheckOptions};
use exp::lang::{diag, stdlib};
use std::path::Path;
use std::process::Command;

fn exp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_exp"))
}

#[test]
fn every_pipeline_checks_without_errors() {
    let mut n = 0;
    for entry in std::fs::read_dir("pipelines").expect("pipelines dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "exp") {
            continue;
        }
        n += 1;
        let o = check_path(&path, &[], CheckOptions::default()).expect("readable");
        let text = diag::render_all(&o.diagnostics, &o.sources, 100);
        assert!(!o.has_errors(), "{}:\n{text}", path.display());
        let p = o.pipeline.expect("pipeline");
        assert!(
            p.sweeps.values().all(|s| !s.cells.is_empty()),
            "{}",
            path.display()
        );
    }
    assert!(n >= 3);
}

#[test]
fn bakeoff_is_the_reports_round_one() {
    let p = exp::driver::load(Path::new("pipelines/backbone_bakeoff.exp"), &[]).expect("valid");
    let s = &p.sweeps["round1"];
    assert_eq!(s.cells.len(), 8);
    assert_eq!(s.axes, vec!["backbone", "recipe"]);
    assert_eq!(
        s.baseline.as_deref(),
        Some("round1/resnet50-rmsprop_baseline-s17")
    );
    assert!(s
        .cells
        .iter()
        .any(|c| c.id == "round1/convnextv2_tiny-adamw_screen-s17"));
    let c = &s.cells[0];
    assert_eq!(
        (c.budget.train_samples, c.budget.val_samples),
        (Some(24_000), Some(4_000))
    );
    assert_eq!((c.budget.frozen_epochs, c.budget.finetune_epochs), (1, 4));
    assert_eq!(c.data.metadata, vec!["age", "sex", "site"]);
    assert_eq!(c.data.image_size, 224);
    assert_eq!(c.score.split, "test");
    assert_eq!(c.seed, 17);
    assert_eq!(c.axis_values["seed"], "17");
    assert_eq!(c.axis_values["data"], "derm");
    for c in &s.cells {
        let r = &c.recipe;
        assert_eq!(r.warmup, exp::spec::Warmup::Steps(200), "{}", c.id);
        match r.name.as_str() {
            "rmsprop_baseline" => {
                assert!(matches!(
                    r.optimizer.kind,
                    exp::spec::OptimizerKind::RmsProp { .. }
                ));
                assert_eq!((r.optimizer.lr, r.optimizer.finetune_lr), (2e-3, 1e-3));
            }
            "adamw_screen" => {
                assert_eq!(
                    (r.optimizer.finetune_lr, r.optimizer.weight_decay),
                    (1e-4, 0.05)
                );
                // Round B changed only the optimizer and lr: no cosine.
                assert_eq!(r.schedule, exp::spec::Schedule::Constant);
            }
            other => panic!("recipe {other}"),
        }
        assert!(c.backbone.pretrained.is_some(), "{}: pretrained", c.id);
    }
}

#[test]
fn full_budget_is_the_reports_decisive_runs() {
    let p = exp::driver::load(Path::new("pipelines/full_budget.exp"), &[]).expect("valid");
    let base = &p.sweeps["full_convnext_base"].cells;
    assert_eq!(base.len(), 1);
    let b = &base[0];
    assert_eq!(b.backbone.name, "convnextv2_base");
    assert_eq!(b.recipe.optimizer.finetune_lr, 1e-4);
    assert_eq!(b.recipe.optimizer.weight_decay, 0.1);
    assert_eq!(
        b.recipe.schedule,
        exp::spec::Schedule::Cosine { min_lr_ratio: 0.0 }
    );
    assert_eq!(b.recipe.augment.len(), 5);
    let runs = &p.sweeps["full_runs"].cells;
    let ids: Vec<&str> = runs.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "full_runs/convnextv2_tiny-adamw_cosine_es-s17",
            "full_runs/resnet50-adamw_cosine_es-s17",
            "full_runs/resnet50-rmsprop_baseline_es-s17"
        ]
    );
    for c in base.iter().chain(runs) {
        assert_eq!(c.seed, 17);
        assert_eq!(c.budget.train_samples, None, "every training image");
        assert_eq!(c.score.split, "test");
        assert!(c.backbone.pretrained.is_some());
        // ConvNeXt-V2 Base took ~15 h in the report: the cap must not cut it.
        assert!(c.budget.time_limit_s.is_some_and(|t| t >= 15 * 3600));
        if c.recipe.name.starts_with("adamw") {
            assert_eq!(c.recipe.optimizer.finetune_lr, 1e-4);
            assert_eq!(
                c.recipe.schedule,
                exp::spec::Schedule::Cosine { min_lr_ratio: 0.0 }
            );
        }
    }
}

#[test]
fn stdlib_recipes_match_the_report() {
    let o = check_std_module("std.recipes").expect("module");
    assert!(o.diagnostics.is_empty(), "{:?}", o.diagnostics);
    let p = o.pipeline.expect("pipeline");
    let rms = &p.recipes["rmsprop_baseline"];
    assert_eq!(
        (rms.optimizer.lr, rms.optimizer.finetune_lr, rms.batch),
        (2e-3, 1e-3, 64)
    );
    assert_eq!(rms.warmup, exp::spec::Warmup::Steps(200));
    let aw = &p.recipes["adamw_cosine"];
    assert_eq!(
        (
            aw.optimizer.lr,
            aw.optimizer.finetune_lr,
            aw.optimizer.weight_decay
        ),
        (2e-3, 1e-4, 0.05)
    );
    assert_eq!(
        aw.schedule,
        exp::spec::Schedule::Cosine { min_lr_ratio: 0.0 }
    );
    assert_eq!(aw.warmup, exp::spec::Warmup::Steps(200));
    let sr = &p.recipes["strong_reg"];
    assert_eq!(sr.optimizer.weight_decay, 0.1);
    assert_eq!(sr.optimizer.finetune_lr, 1e-4);
    assert_eq!(sr.augment.len(), 5);
    assert_eq!(
        sr.dropout,
        exp::spec::Dropout {
            head: 0.5,
            metadata: 0.3
        }
    );
}

#[test]
fn every_stdlib_module_checks_and_backbones_cover_the_zoo() {
    for name in stdlib::names() {
        let o = check_std_module(name).expect("module");
        assert!(o.diagnostics.is_empty(), "{name}: {:?}", o.diagnostics);
    }
    let p = check_std_module("std.backbones")
        .and_then(|o| o.pipeline)
        .expect("backbones");
    for (arch, _, _, size) in exp::models::ARCHS {
        let b = p
            .backbones
            .get(*arch)
            .unwrap_or_else(|| panic!("no std backbone {arch}"));
        if *arch == "efficientnetv2_s" {
            // The report's name: its checkpoint is the TensorFlow port.
            assert_eq!(b.arch, "tf_efficientnetv2_s");
            continue;
        }
        assert_eq!(b.arch, *arch);
        assert_eq!(b.input_size, *size, "{arch}");
    }
    assert_eq!(p.backbones["tf_efficientnetv2_s"].mean, [0.5; 3]);
    assert_eq!(p.backbones["resnet50"].std, [0.229, 0.224, 0.225]);
}

/// The report's checkpoints, by the names its Round 1 uses.
#[test]
fn stdlib_backbones_load_the_reports_checkpoints() {
    let p = check_std_module("std.backbones")
        .and_then(|o| o.pipeline)
        .expect("backbones");
    let repo = |name: &str| match &p.backbones[name].pretrained {
        Some(exp::spec::Weights::Hf { repo, .. }) => repo.clone(),
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(repo("resnet50"), "timm/resnet50.tv2_in1k");
    assert_eq!(
        repo("efficientnetv2_s"),
        "timm/tf_efficientnetv2_s.in21k_ft_in1k"
    );
    assert_eq!(
        repo("convnextv2_tiny"),
        "timm/convnextv2_tiny.fcmae_ft_in22k_in1k"
    );
    assert_eq!(
        repo("convnextv2_base"),
        "timm/convnextv2_base.fcmae_ft_in22k_in1k"
    );
    assert_eq!(
        repo("dinov2_vits14"),
        "timm/vit_small_patch14_dinov2.lvd142m"
    );
    let e = &p.backbones["efficientnetv2_s"];
    assert_eq!((e.input_size, e.mean), (300, [0.5; 3]));
}

/// Acceptance: with an empty Hugging Face cache, `exp check --data` on the
/// Round-1 pipeline names all four backbones as missing, each with the
/// command that fetches its checkpoint.
#[test]
fn check_data_with_an_empty_hf_cache_lists_every_round_one_backbone() {
    let empty = tempfile::tempdir().expect("tempdir");
    let out = exp()
        .args([
            "check",
            "--data",
            "--format",
            "json",
            "pipelines/backbone_bakeoff.exp",
        ])
        .env("HF_HOME", empty.path())
        .env("HOME", empty.path())
        .env_remove("HF_HUB_CACHE")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "missing weights are errors");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let missing: Vec<&serde_json::Value> = v
        .as_array()
        .expect("list")
        .iter()
        .filter(|d| d["code"] == "exp::lint::missing_weights")
        .collect();
    let expected = [
        ("resnet50", "timm/resnet50.tv2_in1k"),
        (
            "convnextv2_tiny",
            "timm/convnextv2_tiny.fcmae_ft_in22k_in1k",
        ),
        ("efficientnetv2_s", "timm/tf_efficientnetv2_s.in21k_ft_in1k"),
        ("dinov2_vits14", "timm/vit_small_patch14_dinov2.lvd142m"),
    ];
    assert_eq!(missing.len(), expected.len(), "{v:#}");
    for (backbone, repo) in expected {
        let d = missing
            .iter()
            .find(|d| {
                d["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(&format!("`{backbone}`")))
            })
            .unwrap_or_else(|| panic!("{backbone} not reported: {v:#}"));
        let help = d["help"].as_str().expect("help");
        assert!(
            help.contains(&format!("hf download {repo} model.safetensors")),
            "{backbone}: {help}"
        );
        assert_eq!(d["file"], "pipelines/backbone_bakeoff.exp");
    }
}

#[test]
fn every_example_in_the_language_docs_checks() {
    let doc = std::fs::read_to_string("docs/language.md").expect("docs/language.md");
    let mut n = 0;
    let mut rest = doc.as_str();
    while let Some(start) = rest.find("```exp\n") {
        let body_start = start + "```exp\n".len();
        let end = rest[body_start..].find("```").expect("closed code block") + body_start;
        let code = &rest[body_start..end];
        let o = check_text(
            "docs-example.exp",
            code,
            Path::new("docs"),
            &[],
            CheckOptions::default(),
        );
        let text = diag::render_all(&o.diagnostics, &o.sources, 100);
        assert!(
            !o.has_errors(),
            "example {n} of docs/language.md:\n{code}\n{text}"
        );
        n += 1;
        rest = &rest[end + 3..];
    }
    assert!(n >= 10, "only {n} examples");
}

#[test]
fn set_overrides_are_checked_like_source() {
    let p = exp::driver::load(
        Path::new("pipelines/quickstart.exp"),
        &["budget.short.finetune=3epochs".into(), "seed=5".into()],
    )
    .expect("valid override");
    assert!(p.sweeps["quick"]
        .cells
        .iter()
        .all(|c| c.budget.finetune_epochs == 3 && c.seed == 5));
    let p = exp::driver::load(
        Path::new("pipelines/quickstart.exp"),
        &["quick_adamw.optimizer.finetune_lr=5e-5".into()],
    )
    .expect("dotted override");
    assert_eq!(p.recipes["quick_adamw"].optimizer.finetune_lr, 5e-5);
    let err = exp::driver::load(
        Path::new("pipelines/quickstart.exp"),
        &["budget.short.finetune=3deg".into()],
    )
    .expect_err("wrong unit");
    let text = format!("{err:?}");
    assert!(text.contains("exp::check::wrong_unit"), "{text}");
}

#[test]
fn check_exit_codes_and_json() {
    let ok = exp()
        .args(["check", "pipelines/quickstart.exp"])
        .output()
        .expect("run");
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let bad = exp()
        .args([
            "check",
            "--format",
            "json",
            "tests/fixtures/invalid/unknown_field.exp",
        ])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).expect("json");
    let d = &v[0];
    assert_eq!(d["severity"], "error");
    assert_eq!(d["code"], "exp::check::unknown_field");
    assert_eq!(d["line"], 4);
    assert_eq!(d["column"], 3);
    assert_eq!(d["end_line"], 4);
    assert_eq!(d["end_column"], 14);
    assert!(
        d["help"]
            .as_str()
            .is_some_and(|h| h.contains("`optimizer.weight_decay = ...`")),
        "{}",
        d["help"]
    );
    assert_eq!(d["file"], "tests/fixtures/invalid/unknown_field.exp");

    let human = exp()
        .args(["check", "tests/fixtures/invalid/unknown_field.exp"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&human.stderr);
    assert!(
        stderr.contains("unknown field `weight_decy`")
            && stderr.contains("optimizer argument `weight_decay`"),
        "{stderr}"
    );

    let missing = exp()
        .args(["check", "no/such/file.exp"])
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(2));

    let warn_only = exp()
        .args([
            "check",
            "tests/fixtures/invalid/lint_unused_declaration.exp",
        ])
        .output()
        .expect("run");
    assert_eq!(
        warn_only.status.code(),
        Some(0),
        "warnings do not fail the check"
    );
}

#[test]
fn plan_json_lists_cells_and_stages() {
    let out = exp()
        .args(["plan", "--format", "json", "pipelines/quickstart.exp"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let cells = v["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 4);
    assert_eq!(cells[0]["id"], "quick/resnet_test-quick_rmsprop-s17");
    assert_eq!(cells[0]["backbone"], "resnet_test");
    let stages = v["stages"].as_array().expect("stages");
    let kinds: Vec<&str> = stages
        .iter()
        .map(|s| s["kind"].as_str().expect("kind"))
        .collect();
    for k in [
        "decode",
        "subset",
        "train.frozen",
        "train.finetune",
        "score",
        "compare",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    assert!(stages
        .iter()
        .all(|s| s["hash"].as_str().is_some_and(|h| h.len() == 64)));
    let dot = exp()
        .args(["plan", "--format", "dot", "pipelines/quickstart.exp"])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&dot.stdout).starts_with("digraph plan {"));
}

#[test]
fn explain_prints_rule_docs() {
    let out = exp()
        .args(["explain", "exp::lint::diverging_recipe"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("## What it does")
            && text.contains("## Why is this bad")
            && text.contains("## Example")
    );
    let short = exp()
        .args(["explain", "unknown_field"])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&short.stdout).contains("exp::check::unknown_field"));
    let bad = exp()
        .args(["explain", "exp::lint::nope"])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
}

/// Every code written in `src/`: the `code(exp::…)` attribute of each error
/// enum variant and each `"exp::…"` string (lint rule codes, codes chosen at
/// run time), read from the definitions themselves rather than the docs.
fn codes_in_source() -> std::collections::BTreeSet<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read src").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    // The runtime and the command line, then the language core.
    walk(std::path::Path::new("src"), &mut files);
    walk(std::path::Path::new("crates/exp-lang/src"), &mut files);
    let mut codes = std::collections::BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read source");
        for (i, _) in text.match_indices("exp::") {
            let before = &text[..i];
            let quoted = before.ends_with('"');
            if !(quoted || before.ends_with("code(")) {
                continue;
            }
            let rest = &text[i..];
            let end = rest
                .find(|c: char| !(c.is_ascii_lowercase() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let code = &rest[..end];
            let closes = rest[end..].starts_with(if quoted { '"' } else { ')' });
            if closes && code.matches("::").count() == 2 {
                codes.insert(code.to_string());
            }
        }
    }
    codes
}

#[test]
fn every_code_in_the_source_has_explain_docs() {
    let codes = codes_in_source();
    assert!(codes.len() > 60, "found only {} codes", codes.len());
    assert!(codes.contains("exp::data::bad_image") && codes.contains("exp::check::failed"));
    let missing: Vec<&String> = codes
        .iter()
        .filter(|c| exp::lint::explain(c).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "`exp explain` knows nothing of {missing:?}: add them to crates/exp-lang/src/runtime_codes.rs \
         (or the phase's docs table) and docs/diagnostics.md"
    );
    // What the user sees for a runtime code.
    let out = exp()
        .args(["explain", "exp::data::bad_image"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("on_bad_image = skip"));
}

#[test]
fn diagnostics_doc_lists_every_code() {
    let doc = std::fs::read_to_string("docs/diagnostics.md").expect("docs/diagnostics.md");
    let mut codes = codes_in_source();
    codes.extend(exp::lint::all_codes().into_iter().map(String::from));
    for code in codes {
        assert!(
            doc.contains(&format!("### `{code}`")),
            "docs/diagnostics.md lacks {code}"
        );
    }
}

/// `exp check --format json` prints a JSON array even when a file cannot be
/// read (exit 2), with the readable files' diagnostics alongside.
#[test]
fn check_json_is_an_array_even_for_unreadable_files() {
    let out = exp()
        .args([
            "check",
            "--format",
            "json",
            "no/such/file.exp",
            "pipelines/quickstart.exp",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let items = v.as_array().expect("an array");
    assert_eq!(items[0]["code"], "exp::io::unreadable");
    assert_eq!(items[0]["file"], "no/such/file.exp");
    assert_eq!(items[0]["severity"], "error");
    assert!(items[0]["message"]
        .as_str()
        .is_some_and(|m| m.contains("no/such/file.exp")));
}

/// Field names documented in docs/language.md (the field tables of each
/// declaration section, and the fields of the data sources table) and in
/// docs/data.md (`name = value` examples and "`name` of the data
/// declaration"): each is a field the checker accepts.
#[test]
fn every_field_in_the_docs_is_accepted_by_the_checker() {
    fn ident(s: &str) -> Option<&str> {
        let end = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        (end > 0 && s.as_bytes()[0].is_ascii_alphabetic()).then(|| &s[..end])
    }
    fn backticked(s: &str) -> Vec<&str> {
        s.split('`').skip(1).step_by(2).collect()
    }
    let mut found: Vec<(String, String, String)> = Vec::new(); // (kind, field, where)
    let lang = std::fs::read_to_string("docs/language.md").expect("docs/language.md");
    let (mut kind, mut column) = (None::<String>, None::<usize>);
    for (n, line) in lang.lines().enumerate() {
        if let Some(h) = line.strip_prefix("## ") {
            kind = backticked(h).first().map(|k| k.to_string());
            column = None;
            continue;
        }
        let Some(row) = line.strip_prefix('|') else {
            column = None;
            continue;
        };
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        if column.is_none() {
            // A table's header: which column names fields.
            column = match cells.first().copied() {
                Some("field") => Some(0),
                Some("source") => Some(1),
                _ => Some(usize::MAX),
            };
            continue;
        }
        let (Some(k), Some(c)) = (kind.as_ref(), column) else {
            continue;
        };
        if cells.iter().all(|c| c.starts_with("---") || c.is_empty()) {
            continue;
        }
        for tick in cells.get(c).map(|c| backticked(c)).unwrap_or_default() {
            if let Some(f) = ident(tick) {
                found.push((
                    k.clone(),
                    f.to_string(),
                    format!("docs/language.md:{}", n + 1),
                ));
            }
        }
    }
    let data = std::fs::read_to_string("docs/data.md").expect("docs/data.md");
    for (n, line) in data.lines().enumerate() {
        let ticks = backticked(line);
        for (i, tick) in ticks.iter().enumerate() {
            let assignment = tick.contains(" = ")
                && ident(tick).is_some_and(|f| tick.starts_with(&format!("{f} = ")));
            let named = line
                .split('`')
                .nth(2 * i + 2)
                .is_some_and(|after| after.starts_with(" of the data declaration"));
            if assignment || named {
                let f = ident(tick).expect("a name");
                found.push((
                    "data".into(),
                    f.to_string(),
                    format!("docs/data.md:{}", n + 1),
                ));
            }
        }
    }
    let kinds: std::collections::BTreeSet<&str> = found.iter().map(|(k, ..)| k.as_str()).collect();
    assert!(
        ["data", "backbone", "recipe", "budget", "score", "sweep"]
            .iter()
            .all(|k| kinds.contains(k)),
        "the docs parser found fields of {kinds:?} only"
    );
    assert!(found.len() > 40, "only {} fields found", found.len());
    assert!(found.iter().any(|(k, f, _)| k == "data" && f == "cache"));
    let mut bad = Vec::new();
    for (kind, field, place) in &found {
        let src = format!("{kind} x {{\n  {field} = none\n}}\n");
        let out = check_text("t.exp", &src, Path::new("."), &[], CheckOptions::default());
        if out
            .diagnostics
            .iter()
            .any(|d| d.code() == "exp::check::unknown_field")
        {
            bad.push(format!("{place}: {kind}.{field}"));
        }
    }
    assert!(
        bad.is_empty(),
        "documented but rejected by the checker: {bad:?}"
    );
    // The test can fail: the name docs/data.md used to give the cache folder.
    let out = check_text(
        "t.exp",
        "data x {\n  cache_dir = \"c\"\n}\n",
        Path::new("."),
        &[],
        CheckOptions::default(),
    );
    assert!(out
        .diagnostics
        .iter()
        .any(|d| d.code() == "exp::check::unknown_field"));
}

#[test]
fn the_front_checks_without_libtorch_on_the_library_path() {
    // Why: `exp check` must not load libtorch (docs/architecture.md); a
    // torch library among the front's needed libraries would fail to load
    // here, where only exp-runtime carries an rpath to torch.
    let out = exp()
        .args(["check", "pipelines/quickstart.exp"])
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
