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
