//! Per-cell and per-sweep lock files (`flock`), so two `exp run` processes
//! (two terminals, two Slurm tasks) never write the same cell at once.
//!
//! Why flock: the kernel drops the lock when the holder dies (even on
//! `kill -9`), so a crashed run never leaves a stale lock behind.

use fs4::fs_std::FileExt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// A held exclusive lock; released on drop (or when the process dies).
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    fn open(path: &Path) -> io::Result<File> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
    }

    /// Take the lock if free; `Ok(None)` when another process holds it.
    pub fn try_acquire(path: &Path) -> io::Result<Option<FileLock>> {
        let file = Self::open(path)?;
        if file.try_lock_exclusive()? {
            Ok(Some(FileLock {
                file,
                path: path.to_path_buf(),
            }))
        } else {
            Ok(None)
        }
    }

    /// Wait until the lock is free, then take it.
    pub fn acquire(path: &Path) -> io::Result<FileLock> {
        let file = Self::open(path)?;
        file.lock_exclusive()?;
        Ok(FileLock {
            file,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.file);
    }
}

/// Whether some process holds the lock at `path` right now (for `exp status`).
pub fn is_held(path: &Path) -> bool {
    if !path.exists() {
        return false;
    }
    match FileLock::try_acquire(path) {
        Ok(Some(_released_on_drop)) => false,
        Ok(None) => true,
        Err(_) => false,
    }
}

/// The lock file of a cell directory.
pub fn cell_lock_path(cell_dir: &Path) -> PathBuf {
    cell_dir.join(".lock")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_until_release() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cell/.lock");
        let first = FileLock::try_acquire(&p).unwrap().expect("free lock");
        // flock locks belong to the open file description, so a second open in
        // the same process contends like another process would.
        assert!(FileLock::try_acquire(&p).unwrap().is_none());
        assert!(is_held(&p));
        drop(first);
        assert!(!is_held(&p));
        assert!(FileLock::try_acquire(&p).unwrap().is_some());
    }
}
