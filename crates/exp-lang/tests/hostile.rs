//! Hostile input: huge nesting and huge files give a diagnostic, never a
//! crash; arbitrary input never panics and every span lies inside its file.

use exp_lang::driver::{check_text, CheckOptions};
use exp_lang::lang::parse::parse_file;
use proptest::prelude::*;
use std::path::Path;

fn codes(src: &str) -> Vec<String> {
    let o = check_text(
        "hostile.exp",
        src,
        Path::new("."),
        &[],
        CheckOptions::default(),
    );
    o.diagnostics.iter().map(|d| d.code()).collect()
}

#[test]
fn hundred_thousand_nested_brackets_give_a_depth_diagnostic() {
    let src = format!(
        "recipe r {{ augment = {}{} }}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert_eq!(codes(&src), vec!["exp::parse::too_deep"]);
    let unclosed = format!("data d {{ x = {}", "(".repeat(100_000));
    assert_eq!(codes(&unclosed), vec!["exp::parse::too_deep"]);
}

#[test]
fn ten_megabyte_file_gives_a_size_diagnostic() {
    let line = "// padding padding padding padding padding padding padding padding\n";
    let src = line.repeat(10 * 1024 * 1024 / line.len() + 1);
    assert!(src.len() >= 10 * 1024 * 1024);
    assert_eq!(codes(&src), vec!["exp::parse::too_large"]);
}

#[test]
fn many_declarations_with_errors_are_all_reported() {
    let mut src = String::new();
    for i in 0..200 {
        src.push_str(&format!("budget b{i} {{ finetune = {i} deg }}\n"));
    }
    let c = codes(&src);
    assert_eq!(c.len(), 200);
    assert!(c.iter().all(|c| c == "exp::check::wrong_unit"));
}

/// Fragments that make up plausible and implausible files.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("data d { manifest = \"m.csv\" }\n".to_string()),
        Just("recipe r extends adamw_cosine { batch = 8 }\n".to_string()),
        Just("use std.recipes\n".to_string()),
        Just("use std.backbones\n".to_string()),
        Just("budget b { finetune = 2 epochs }\n".to_string()),
        Just(
            "sweep s { data = d backbone = [resnet50] recipe = r budget = b score = full_test }\n"
                .to_string()
        ),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("\"".to_string()),
        Just("///doc\n".to_string()),
        Just("= 1e-4 %".to_string()),
        "[a-z_]{1,8}".prop_map(|s| format!("{s} ")),
        "[ -~\n]{0,16}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_input_never_panics_and_spans_are_in_bounds(parts in prop::collection::vec(fragment(), 0..24)) {
        let src: String = parts.concat();
        let (_, diags) = parse_file(&src);
        for d in &diags {
            if let Some(l) = d.primary() {
                prop_assert!(l.offset() + l.len() <= src.len());
            }
        }
        let o = check_text("p.exp", &src, Path::new("."), &[], CheckOptions::default());
        for d in &o.diagnostics {
            let len = o.sources.get(d.file).map_or(0, |f| f.text.len());
            if let Some(l) = d.primary() {
                prop_assert!(l.offset() + l.len() <= len, "{} out of bounds", d.code());
            }
            prop_assert!(d.code().starts_with("exp::"));
        }
        // The pipeline exists exactly when there are no errors.
        prop_assert_eq!(o.pipeline.is_some(), !o.has_errors());
    }

    #[test]
    fn valid_budgets_round_trip(frozen in 0u32..5, finetune in 1u32..50, train in 1u64..1_000_000) {
        let src = format!("budget b {{ frozen = {frozen} epochs finetune = {finetune} epochs train = {train} samples }}");
        let o = check_text("b.exp", &src, Path::new("."), &[], CheckOptions::default());
        let p = o.pipeline.expect("valid budget");
        let b = &p.budgets["b"];
        prop_assert_eq!((b.frozen_epochs, b.finetune_epochs, b.train_samples), (frozen, finetune, Some(train)));
    }
}

/// Every error as (code, file name, line, column), columns in characters.
fn errors_at(o: &exp_lang::driver::Outcome) -> Vec<(String, String, usize, usize)> {
    o.diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            let j = d.to_json(&o.sources);
            let file = Path::new(&j.file)
                .file_name()
                .map_or(j.file.clone(), |n| n.to_string_lossy().into_owned());
            (j.code, file, j.line, j.column)
        })
        .collect()
}

fn check(src: &str, sets: &[String]) -> exp_lang::driver::Outcome {
    check_text(
        "hostile.exp",
        src,
        Path::new("."),
        sets,
        CheckOptions::default(),
    )
}

const TAIL: &str = "use std.backbones\nuse std.scores\n\
    data d { manifest = \"m.csv\" }\nbudget b { finetune = 1 epoch }\n";

#[test]
fn ten_thousand_deep_extends_chain_stops_at_the_limit() {
    // About 400 KB: the shape that overflowed the stack (SIGABRT).
    let mut src = String::from("recipe r0 { optimizer = adamw(lr = 1e-3) }\n");
    for i in 1..10_000 {
        src.push_str(&format!(
            "recipe r{i} extends r{} {{ batch = {i} }}\n",
            i - 1
        ));
    }
    src.push_str(TAIL);
    src.push_str(
        "sweep s { data = d backbone = resnet50 recipe = r9999 budget = b score = full_test }\n",
    );
    let o = check(&src, &[]);
    let limit = exp_lang::lang::resolve::MAX_EXTENDS_DEPTH;
    // `recipe r65 extends r64`: the parent name starts at column 20.
    assert_eq!(
        errors_at(&o),
        vec![(
            "exp::resolve::extends_too_deep".to_string(),
            "hostile.exp".to_string(),
            limit + 2,
            20
        )]
    );
}

#[test]
fn long_use_chain_stops_at_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = exp_lang::lang::resolve::MAX_USE_DEPTH + 6;
    for i in 0..n {
        let text = format!(
            "use \"f{}.exp\"\nbudget b{i} {{ finetune = 1 epoch }}\n",
            i + 1
        );
        std::fs::write(dir.path().join(format!("f{i}.exp")), text).expect("write");
    }
    std::fs::write(dir.path().join(format!("f{n}.exp")), "").expect("write");
    let o = exp_lang::driver::check_path(&dir.path().join("f0.exp"), &[], CheckOptions::default())
        .expect("readable");
    // The 64th file of the chain (f63) may not load a 65th.
    let last = exp_lang::lang::resolve::MAX_USE_DEPTH - 1;
    assert_eq!(
        errors_at(&o),
        vec![(
            "exp::resolve::use_too_deep".to_string(),
            format!("f{last}.exp"),
            1,
            5
        )]
    );
}

/// A sweep of `n` backbones × `n` recipes × `m` budgets.
fn big_sweep(n: usize, m: usize) -> String {
    let mut src = String::from("use std.recipes\n");
    src.push_str(TAIL);
    let names = |p: &str, k: usize| {
        (0..k)
            .map(|i| format!("{p}{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    src.push_str(&format!(
        "sweep big {{ data = d backbone = [{}] recipe = [{}] budget = [{}] score = full_test }}\n",
        names("bb", n),
        names("rr", n),
        names("bu", m)
    ));
    for i in 0..n {
        src.push_str(&format!(
            "backbone bb{i} extends resnet50 {{ drop_path = 0.{i:03} }}\n"
        ));
        src.push_str(&format!(
            "recipe rr{i} extends adamw_cosine {{ batch = {} }}\n",
            i + 8
        ));
    }
    for i in 0..m {
        src.push_str(&format!("budget bu{i} {{ finetune = {} epochs }}\n", i + 1));
    }
    src
}

#[test]
fn a_sweep_of_a_million_cells_is_refused_before_expanding() {
    // 100 × 100 × 120 = 1.2 M cells (took 24 s and 6.5 GB before the limit).
    let o = check(&big_sweep(100, 120), &[]);
    assert_eq!(
        errors_at(&o),
        vec![(
            "exp::check::too_many_cells".to_string(),
            "hostile.exp".to_string(),
            6,
            7
        )]
    );
    let d = o.diagnostics.iter().find(|d| d.is_error()).expect("error");
    assert!(d.message().contains("1200000 cells"), "{}", d.message());
    // At the limit (100 × 100 × 1) the sweep expands.
    let o = check(&big_sweep(100, 1), &[]);
    assert_eq!(errors_at(&o), vec![]);
    assert_eq!(o.checked.pipeline.sweeps["big"].cells.len(), 10_000);
}

#[test]
fn use_outside_the_pipeline_tree_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inner = dir.path().join("pipelines");
    std::fs::create_dir(&inner).expect("mkdir");
    std::fs::write(dir.path().join("secret.exp"), "SECRET-BYTES-1234 {").expect("write");
    let src = "use std.recipes\nuse \"../secret.exp\"\n";
    let o = check_text("p.exp", src, &inner, &[], CheckOptions::default());
    assert_eq!(
        errors_at(&o),
        vec![(
            "exp::resolve::use_outside_tree".to_string(),
            "p.exp".to_string(),
            2,
            5
        )]
    );
    let rendered = exp_lang::lang::diag::render_all(&o.diagnostics, &o.sources, 100);
    assert!(!rendered.contains("SECRET-BYTES"), "{rendered}");
    assert!(rendered.contains("use \"../secret.exp\""), "{rendered}");
    assert!(o.sources.files.iter().all(|f| !f.text.contains("SECRET")));
    // The same for an absolute path, and for a path that does not exist.
    for target in [
        "/etc/passwd",
        "../../../../../../../../../etc/passwd",
        "../nope.exp",
    ] {
        let src = format!("use \"{target}\"\n");
        let o = check_text("p.exp", &src, &inner, &[], CheckOptions::default());
        let codes: Vec<String> = errors_at(&o).into_iter().map(|e| e.0).collect();
        assert_eq!(codes, vec!["exp::resolve::use_outside_tree"], "{target}");
    }
}

#[test]
fn a_used_file_with_a_syntax_error_points_at_the_use_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("lib.exp"),
        "budget x {\n  finetune = = 1 epoch\n}\n",
    )
    .expect("write");
    let src = "use std.recipes\nuse \"lib.exp\"\n";
    let o = check_text("p.exp", src, dir.path(), &[], CheckOptions::default());
    let errors = errors_at(&o);
    assert!(
        errors.contains(&(
            "exp::resolve::broken_use".to_string(),
            "p.exp".to_string(),
            2,
            5
        )),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.0 == "exp::parse::syntax" && e.1 == "lib.exp" && e.2 == 2),
        "{errors:?}"
    );
}

#[test]
fn an_unknown_module_is_one_error() {
    let src = format!(
        "use std.backbone\nuse std.recipes\n{TAIL}\
         sweep s {{ data = d backbone = [resnet50, convnextv2_tiny] recipe = adamw_cosine budget = b score = full_test }}\n"
    );
    let o = check(&src, &[]);
    assert_eq!(
        errors_at(&o),
        vec![(
            "exp::resolve::unknown_module".to_string(),
            "hostile.exp".to_string(),
            1,
            5
        )]
    );
}

#[test]
fn a_misspelled_required_field_is_one_error() {
    let src = "backbone bb { arc = \"resnet50\" }\n";
    let o = check(src, &[]);
    assert_eq!(
        errors_at(&o),
        vec![(
            "exp::check::unknown_field".to_string(),
            "hostile.exp".to_string(),
            1,
            15
        )]
    );
    let d = o.diagnostics.iter().find(|d| d.is_error()).expect("error");
    assert_eq!(d.help().as_deref(), Some("did you mean `arch`?"));
    // The same for a required argument: `lrr` is unknown, `lr` not "missing".
    let src = "use std.recipes\nrecipe r extends adamw_cosine { optimizer = adamw(lrr = 1e-3) }\n";
    assert_eq!(
        errors_at(&check(src, &[])),
        vec![(
            "exp::check::unknown_argument".to_string(),
            "hostile.exp".to_string(),
            2,
            51
        )]
    );
}

#[test]
fn an_error_in_a_parent_is_reported_once_not_per_child() {
    let mut src =
        String::from("use std.recipes\nrecipe base extends adamw_cosine { schedule = bogus }\n");
    for i in 0..5 {
        src.push_str(&format!(
            "recipe c{i} extends base {{ batch = {} }}\n",
            8 + i
        ));
    }
    let o = check(&src, &[]);
    assert_eq!(
        errors_at(&o),
        vec![(
            "exp::check::unknown_variant".to_string(),
            "hostile.exp".to_string(),
            2,
            47
        )]
    );
}

#[test]
fn columns_count_characters_in_json_and_human_output() {
    let src = "data d { manifest = \"données.csv\" root = 3 }\n";
    let o = check(src, &[]);
    let errors = errors_at(&o);
    // `3` is character 42 (byte 43: `é` takes two bytes).
    assert_eq!(
        errors,
        vec![(
            "exp::check::type_mismatch".to_string(),
            "hostile.exp".to_string(),
            1,
            42
        )]
    );
    let d = o.diagnostics.iter().find(|d| d.is_error()).expect("error");
    let human = exp_lang::lang::diag::render(d, &o.sources, false, 100);
    assert!(human.contains("[hostile.exp:1:42]"), "{human}");
}

#[test]
fn set_without_equals_says_what_to_write() {
    let o = check("use std.recipes\n", &["adamw_cosine.lr".to_string()]);
    assert_eq!(
        errors_at(&o),
        vec![(
            "exp::check::bad_override".to_string(),
            "--set #1".to_string(),
            1,
            1
        )]
    );
    let d = &o.diagnostics.iter().find(|d| d.is_error()).expect("error");
    assert!(
        d.message().contains("--set adamw_cosine.lr"),
        "{}",
        d.message()
    );
    let help = d.help().unwrap_or_default();
    assert!(help.contains("`--set adamw_cosine.lr=VALUE`"), "{help}");
    assert!(help.contains("`--set recipe.lr=3e-4`"), "{help}");
}
