//! Stage identity: a blake3 hash of exactly the settings a stage reads, its
//! dependencies' hashes and the program version.

use serde::Serialize;

/// Incremental stage hasher. Every part is length-prefixed and tagged so two
/// different inputs never feed the same bytes.
pub struct StageHasher(blake3::Hasher);

impl StageHasher {
    /// Start a hash for a stage of `kind`.
    pub fn new(kind: &str) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(b"exp-stage-v1\0");
        h.update(crate::VERSION.as_bytes());
        h.update(b"\0");
        h.update(kind.as_bytes());
        Self(h)
    }

    /// A named setting, serialised as canonical JSON.
    pub fn setting<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> &mut Self {
        // Why JSON: spec types are plain serde data whose field order is fixed
        // by their definitions, so the encoding is stable for a given version.
        let bytes = serde_json::to_vec(value).unwrap_or_default();
        self.part(b"s", name.as_bytes());
        self.part(b"v", &bytes);
        self
    }

    /// A dependency's hash.
    pub fn dep(&mut self, hash: &str) -> &mut Self {
        self.part(b"d", hash.as_bytes());
        self
    }

    fn part(&mut self, tag: &[u8], bytes: &[u8]) {
        self.0.update(tag);
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    /// Hex digest.
    pub fn finish(&self) -> String {
        self.0.finalize().to_hex().to_string()
    }
}
