//! Per-cell and per-sweep lock files (`flock`), so two `exp run` processes
//! (two terminals, two Slurm tasks) never write the same cell at once.
//!
//! Why flock: the kernel drops the lock when the holder dies (even on
//! `kill -9`), so a crashed run never leaves a stale lock behind.

use fs4::fs_std::FileExt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

/// Who holds a cell lock: written into the lock file by the holder, read by
/// `exp status` and by other runs ("running elsewhere (pid, host)").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {}, host {}", self.pid, self.host)
    }
}

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

    /// Write this process's pid and host into the lock file (see [`holder`]).
    pub fn record_holder(&self) -> io::Result<()> {
        let me = Holder {
            pid: std::process::id(),
            host: crate::process::host_name().to_string(),
        };
        let mut bytes = serde_json::to_vec(&me).map_err(io::Error::other)?;
        bytes.push(b'\n');
        self.file.set_len(0)?;
        std::os::unix::fs::FileExt::write_all_at(&self.file, &bytes, 0)
    }
}

/// The process holding the lock at `path`, as it recorded itself; `None` when
/// the lock is free or the holder did not say (yet).
pub fn holder(path: &Path) -> Option<Holder> {
    if !is_held(path) {
        return None;
    }
    serde_json::from_slice(&fs::read(path).ok()?).ok()
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

    #[test]
    fn the_holder_is_named_while_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cell/.lock");
        let l = FileLock::try_acquire(&p).unwrap().unwrap();
        l.record_holder().unwrap();
        let h = holder(&p).unwrap();
        assert_eq!(h.pid, std::process::id());
        assert_eq!(
            h.to_string(),
            format!("pid {}, host {}", h.pid, crate::process::host_name())
        );
        drop(l);
        assert_eq!(holder(&p), None, "a released lock has no holder");
    }
}
