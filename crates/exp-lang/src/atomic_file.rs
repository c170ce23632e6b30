//! Crash-safe file writes: temp file in the same directory, fsync, rename,
//! fsync of the directory.
//!
//! Why: a `kill -9` (or a Slurm preemption) can land at any instruction. With
//! write-then-rename a reader sees either the old file or the new one, never a
//! torn one, and the directory fsync makes the rename itself durable.
//! Every module that writes results or checkpoints uses [`write_atomic`]:
//! the executor's outputs and the trainer's checkpoints and metrics.
//!
//! Temp files are created with mode 0666 minus the umask, like any file the
//! shell creates, so the final file follows the umask: with `umask 0002` a
//! group shares a runs directory (docs/running.md). Their names say which
//! writer made them (`.NAME~PID@HOST~RANDOM.tmp`), so the next run of a
//! directory can remove those of dead writers ([`remove_stale_temps`]).

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Suffix of every temp file of [`write_atomic`].
const TEMP_SUFFIX: &str = ".tmp";

/// Write `bytes` to `path` atomically, creating parent directories.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// Like [`write_atomic`] but the content is produced by `fill` (for large
/// files written in pieces, e.g. safetensors checkpoints).
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let mut tmp = temp_file_in(
        dir,
        path.file_name().and_then(|n| n.to_str()).unwrap_or("tmp"),
    )?;
    fill(tmp.as_file_mut())?;
    tmp.as_file_mut().flush()?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// A temp file in `dir` for a file to be called `name`, named after its
/// writer (`.NAME~PID@HOST~RANDOM.tmp`) and created with mode 0666 minus the
/// umask, for writers that persist it themselves (the decode cache).
pub fn temp_file_in(dir: &Path, name: &str) -> io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(&format!(
            ".{name}~{}@{}~",
            std::process::id(),
            crate::process::host_name()
        ))
        .suffix(TEMP_SUFFIX)
        .permissions(fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
}

/// Remove the temp files [`write_atomic`] left in `dir` (not recursive) when
/// their writer is dead: its pid is gone on this host, or — with `owned`,
/// when the caller holds the lock every writer of `dir` takes — whoever made
/// them (then every `*.tmp` file goes, also those of writers that do not
/// name themselves). Returns how many were removed. Errors are ignored:
/// tidying up never fails a run.
///
/// Why not by age alone: a checkpoint of a large model can take a while to
/// write, and on a shared file system the writer may be on another node.
pub fn remove_stale_temps(dir: &Path, owned: bool) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let stale = match temp_writer(name) {
            Some(Some((pid, host))) => {
                owned || (host == crate::process::host_name() && !crate::process::is_alive(pid))
            }
            // A temp name of an older exp, or of another module's writer.
            Some(None) => owned,
            None => owned && name.ends_with(TEMP_SUFFIX),
        };
        if stale && e.file_type().is_ok_and(|t| t.is_file()) && fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// `Some(writer)` when `name` is a temp file of an atomic write: the writer's
/// `(pid, host)` when the name records it, `None` for unnamed writers.
fn temp_writer(name: &str) -> Option<Option<(u32, &str)>> {
    let stem = name.strip_prefix('.')?.strip_suffix(TEMP_SUFFIX)?;
    let mut parts = stem.rsplitn(3, '~');
    let (_random, who) = (parts.next()?, parts.next());
    let writer = who.and_then(|w| {
        let (pid, host) = w.split_once('@')?;
        Some((pid.parse().ok()?, host))
    });
    Some(writer)
}

/// fsync a directory so a rename inside it survives a power cut.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    // Why ignore errors: some file systems (network mounts) refuse to open or
    // fsync directories; the rename is still atomic there.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Serialise `value` as pretty JSON (trailing newline) and write it atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn writes_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/file.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("file.json")]);
    }

    #[test]
    fn files_follow_the_umask_not_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("shared.csv");
        write_atomic(&p, b"x").unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        // Whatever the test's umask, the file is 0666 minus it: never 0600
        // unless the umask says so.
        let probe = dir.path().join("probe");
        fs::write(&probe, b"").unwrap();
        let umasked = fs::metadata(&probe).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, umasked, "{mode:o} vs {umasked:o}");
    }

    #[test]
    fn stale_temps_of_dead_writers_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let host = crate::process::host_name();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let me = std::process::id();
        let names = [
            format!(".metrics.csv~{dead}@{host}~aB3xYz.tmp"),
            format!(".last.safetensors~{me}@{host}~Qw12er.tmp"),
            format!(".scores.json~{dead}@other-node.cluster~Zz9z9z.tmp"),
            ".config.json.Xy7Lk2.tmp".to_string(),
            "notes.tmp".to_string(),
            "results.csv".to_string(),
        ];
        for n in &names {
            fs::write(dir.path().join(n), b"").unwrap();
        }
        let left = |d: &Path| {
            let mut v: Vec<String> = fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            v.sort();
            v
        };
        assert_eq!(remove_stale_temps(dir.path(), false), 1);
        assert!(
            !left(dir.path()).contains(&names[0]),
            "dead writer's temp removed"
        );
        assert_eq!(
            left(dir.path()).len(),
            5,
            "live, remote and unnamed writers' kept"
        );
        // Under the directory's lock every atomic-write temp is stale.
        assert_eq!(remove_stale_temps(dir.path(), true), 4);
        assert_eq!(left(dir.path()), ["results.csv"]);
    }

    #[test]
    fn failed_fill_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_atomic(&p, b"old").unwrap();
        let err = write_atomic_with(&p, |f| {
            f.write_all(b"half")?;
            Err(io::Error::other("interrupted"))
        });
        assert!(err.is_err());
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
