//! Fuzz the parser and checker: any bytes must give diagnostics, never a
//! panic, and every primary span must lie inside its source.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let src = String::from_utf8_lossy(data);
    let (_, diags) = exp_lang::lang::parse::parse_file(&src);
    for d in &diags {
        if let Some(l) = d.primary() {
            assert!(l.offset() + l.len() <= src.len());
        }
    }
    let o = exp_lang::driver::check_text("fuzz.exp", &src, Path::new("."), &[], Default::default());
    for d in &o.diagnostics {
        let len = o.sources.get(d.file).map_or(0, |f| f.text.len());
        if let Some(l) = d.primary() {
            assert!(l.offset() + l.len() <= len);
        }
    }
    assert_eq!(o.pipeline.is_some(), !o.has_errors());
});
