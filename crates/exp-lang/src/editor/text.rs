//! Byte offsets ↔ LSP positions (line, UTF-16 code unit), and `file://` URIs.

use lsp_types::{Position, Range, Uri};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Start offsets of the lines of one text.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
    len: usize,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            starts,
            len: text.len(),
        }
    }

    /// The position of byte `offset` (clamped into the text and back onto a
    /// character boundary).
    pub fn position(&self, text: &str, offset: usize) -> Position {
        let mut offset = offset.min(self.len);
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let character: usize = text[start..offset].chars().map(char::len_utf16).sum();
        Position {
            line: line as u32,
            character: character as u32,
        }
    }

    pub fn range(&self, text: &str, span: std::ops::Range<usize>) -> Range {
        Range {
            start: self.position(text, span.start),
            end: self.position(text, span.end),
        }
    }

    /// The byte offset of `pos`; past the end of a line means its end.
    pub fn offset(&self, text: &str, pos: Position) -> usize {
        let Some(&start) = self.starts.get(pos.line as usize) else {
            return self.len;
        };
        let end = self
            .starts
            .get(pos.line as usize + 1)
            .map_or(self.len, |&e| e);
        let line = &text[start..end];
        let mut units = 0u32;
        for (i, c) in line.char_indices() {
            if units >= pos.character || c == '\n' {
                return start + i;
            }
            units += c.len_utf16() as u32;
        }
        end
    }
}

/// `file://` URI of an absolute path (non-ASCII and reserved bytes escaped).
pub fn path_to_uri(path: &Path) -> Option<Uri> {
    let abs = std::path::absolute(path).ok()?;
    let mut s = String::from("file://");
    for b in abs.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    Uri::from_str(&s).ok()
}

/// The path of a `file://` URI.
pub fn uri_to_path(uri: &Uri) -> Option<PathBuf> {
    let s = uri.as_str().strip_prefix("file://")?;
    let s = s.strip_prefix("localhost").unwrap_or(s);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    Some(PathBuf::from(String::from_utf8(out).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_columns_on_non_ascii_lines() {
        let text = "a = 1 // naïve 😀 x\nb = 2\n";
        let idx = LineIndex::new(text);
        let x = text.find(" x").expect("test input") + 1;
        // "a = 1 // naïve " is 15 units, 😀 is 2 more, then a space.
        assert_eq!(
            idx.position(text, x),
            Position {
                line: 0,
                character: 18
            }
        );
        assert_eq!(
            idx.offset(
                text,
                Position {
                    line: 0,
                    character: 18
                }
            ),
            x
        );
        assert_eq!(
            idx.offset(
                text,
                Position {
                    line: 1,
                    character: 99
                }
            ),
            text.len() - 1
        );
        assert_eq!(
            idx.position(text, text.len()),
            Position {
                line: 2,
                character: 0
            }
        );
    }

    #[test]
    fn uris_round_trip() {
        let p = PathBuf::from("/tmp/a dir/naïve.exp");
        let uri = path_to_uri(&p).expect("test input");
        assert_eq!(uri.as_str(), "file:///tmp/a%20dir/na%C3%AFve.exp");
        assert_eq!(uri_to_path(&uri).expect("test input"), p);
    }
}
