//! Reading image files safely: regular files only, bounded in size. One home
//! for the rule: the decoder and the content hashes both read through here.

use std::path::Path;

/// Largest accepted file size (bytes).
pub const MAX_FILE_BYTES: u64 = 512 << 20;

/// Open `path` for reading if it is a regular file (after following
/// symlinks); a FIFO, device, socket or directory is an error naming what it
/// is. Why: opening a FIFO blocks forever, and a device such as `/dev/zero`
/// never ends.
pub fn open_regular(path: &Path) -> Result<std::fs::File, String> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let kind = |t: std::fs::FileType| -> Option<&'static str> {
        if t.is_file() {
            None
        } else if t.is_dir() {
            Some("a directory")
        } else if t.is_fifo() {
            Some("a FIFO (named pipe)")
        } else if t.is_socket() {
            Some("a socket")
        } else if t.is_char_device() || t.is_block_device() {
            Some("a device")
        } else {
            Some("not a regular file")
        }
    };
    let special = |what: &str| format!("{what}, not a regular file; only regular files are read");
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if let Some(what) = kind(meta.file_type()) {
        return Err(special(what));
    }
    // O_NONBLOCK: should the path be swapped for a FIFO after the check above,
    // the open still returns at once, and the check below catches it.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if let Some(what) = kind(meta.file_type()) {
        return Err(special(what));
    }
    Ok(file)
}

/// The bytes of an image file: a regular file only, at most
/// [`MAX_FILE_BYTES`], the limit enforced while reading (not from metadata,
/// which a special file or a growing file does not report truthfully).
pub fn read_image_file(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let file = open_regular(path)?;
    let hint = file.metadata().map_or(0, |m| m.len()).min(MAX_FILE_BYTES);
    let mut bytes = Vec::with_capacity(hint as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("file is over the {MAX_FILE_BYTES}-byte limit"));
    }
    Ok(bytes)
}

/// Lower-cased file extensions of every format the decoder reads (what an
/// image-folder layout picks up).
pub fn image_extensions() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = image::ImageFormat::all()
        .filter(|f| f.reading_enabled())
        .flat_map(|f| f.extensions_str().iter().copied())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}
