//! Fuzz the language core: any bytes must give diagnostics, never a panic.
//! Checked: every primary span lies inside its source; a pipeline exists
//! exactly when there is no error; the formatter's output re-formats to
//! itself and keeps the file's verdict (a file fmt accepts checks the same
//! after formatting).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    // Bytes as `exp check` reads them: a non-UTF-8 byte is a diagnostic.
    let (src, not_utf8) = exp_lang::lang::parse::decode(data, 0);
    if let Some(d) = &not_utf8 {
        let l = d.primary().expect("not_utf8 has a position");
        assert!(l.offset() <= data.len());
    }
    let (_, diags) = exp_lang::lang::parse::parse_file(&src);
    for d in &diags {
        if let Some(l) = d.primary() {
            assert!(l.offset() + l.len() <= src.len());
        }
    }
    let check = |text: &str| {
        exp_lang::driver::check_text("fuzz.exp", text, Path::new("."), &[], Default::default())
    };
    let o = check(&src);
    for d in &o.diagnostics {
        let len = o.sources.get(d.file).map_or(0, |f| f.text.len());
        if let Some(l) = d.primary() {
            assert!(l.offset() + l.len() <= len);
        }
    }
    assert_eq!(o.pipeline.is_some(), !o.has_errors());
    if let Ok(formatted) = exp_lang::editor::format::format_source(&src) {
        let again = exp_lang::editor::format::format_source(&formatted)
            .expect("formatted output parses");
        assert_eq!(again, formatted, "formatting is idempotent");
        assert_eq!(check(&formatted).has_errors(), o.has_errors());
    }
});
