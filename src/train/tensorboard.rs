//! TensorBoard event files beside each cell's metrics.csv, so
//! `tensorboard --logdir runs/` shows a sweep's cells side by side.
//!
//! The format is TensorFlow's: a file named `events.out.tfevents.*` holding
//! TFRecords (length, masked CRC-32C of the length, an `Event` protobuf,
//! masked CRC-32C of the data). The first event names the file version;
//! each scalar is an `Event { wall_time, step, summary { value { tag,
//! simple_value } } }`. Why written here rather than with a crate: the
//! `tensorboard-rs` crate is unmaintained (protobuf 2, last release years
//! ago) and pulls an image stack; the three messages need ~40 lines, and the
//! CRC comes from the maintained `crc32c` crate.
//!
//! Tags: per epoch (step = 1-based global epoch) `epoch/train_loss`,
//! `epoch/val_loss`, `epoch/val_top1`, `epoch/lr`, `epoch/img_per_s`,
//! `epoch/data_wait`; every N training steps (step = global step)
//! `step/train_loss`, N from `exp run --tb-every N` (0: none).

use super::history::EpochRow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// One open event file.
pub struct EventWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited protobuf field.
fn bytes_field(field: u32, data: &[u8], out: &mut Vec<u8>) {
    varint(u64::from(field << 3 | 2), out);
    varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

/// `Event` with `wall_time` (1, double), `step` (2, int64) and either
/// `file_version` (3, string) or `summary` (5) holding one scalar value.
fn event(wall_time: f64, step: i64, what: EventBody<'_>) -> Vec<u8> {
    let mut e = Vec::new();
    e.push(1 << 3 | 1);
    e.extend_from_slice(&wall_time.to_le_bytes());
    e.push(2 << 3);
    varint(step as u64, &mut e);
    match what {
        EventBody::FileVersion(v) => bytes_field(3, v.as_bytes(), &mut e),
        EventBody::Scalar(tag, value) => {
            // Summary.Value { tag = 1; simple_value = 2 (float) }
            let mut v = Vec::new();
            bytes_field(1, tag.as_bytes(), &mut v);
            v.push(2 << 3 | 5);
            v.extend_from_slice(&value.to_le_bytes());
            // Summary { repeated Value value = 1 }
            let mut s = Vec::new();
            bytes_field(1, &v, &mut s);
            bytes_field(5, &s, &mut e);
        }
    }
    e
}

enum EventBody<'a> {
    FileVersion(&'a str),
    Scalar(&'a str, f32),
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl EventWriter {
    /// Start a new event file in `dir`. Why a new file per start: a resumed
    /// cell appends its own file; TensorBoard merges a run's files and drops
    /// points a restart repeats.
    pub fn create(dir: &Path) -> std::io::Result<Self> {
        let wall = now();
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "exp".into());
        let name = format!(
            "events.out.tfevents.{}.{host}.{}",
            wall as u64,
            std::process::id()
        );
        let path = dir.join(name);
        let mut w = EventWriter {
            out: BufWriter::new(File::create(&path)?),
            path,
        };
        w.record(&event(wall, 0, EventBody::FileVersion("brain.Event:2")))?;
        w.out.flush()?;
        Ok(w)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn record(&mut self, data: &[u8]) -> std::io::Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        self.out.write_all(&len)?;
        self.out.write_all(&masked_crc(&len).to_le_bytes())?;
        self.out.write_all(data)?;
        self.out.write_all(&masked_crc(data).to_le_bytes())
    }

    /// One scalar point; a NaN (no value) is skipped.
    pub fn scalar(&mut self, tag: &str, step: u64, value: f64) -> std::io::Result<()> {
        if value.is_nan() {
            return Ok(());
        }
        self.record(&event(
            now(),
            step as i64,
            EventBody::Scalar(tag, value as f32),
        ))
    }

    /// The per-epoch scalars of one metrics.csv row, flushed to disk.
    pub fn epoch(&mut self, row: &EpochRow) -> std::io::Result<()> {
        let step = u64::from(row.epoch);
        for (tag, v) in [
            ("epoch/train_loss", row.train_loss),
            ("epoch/val_loss", row.val_loss),
            ("epoch/val_top1", row.val_top1),
            ("epoch/lr", row.lr),
            ("epoch/img_per_s", row.img_per_s),
            ("epoch/data_wait", row.data_wait),
        ] {
            self.scalar(tag, step, v)?;
        }
        self.out.flush()
    }

    /// The training loss of one step.
    pub fn step_loss(&mut self, step: u64, loss: f64) -> std::io::Result<()> {
        self.scalar("step/train_loss", step, loss)
    }
}

/// Delete the event files of `dir` (a cell retrained from scratch must not
/// show the old configuration's curves).
pub fn remove_event_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name()
            .to_string_lossy()
            .starts_with("events.out.tfevents.")
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The training loop's hook: the event file of one cell run, and how often
/// to log the step loss. A write failure is kept and returned at the next
/// epoch end, so the per-step path stays infallible.
pub struct CellLog {
    /// `None` on data-parallel ranks other than 0: one event file per cell.
    writer: Option<EventWriter>,
    every: u64,
    failed: Option<std::io::Error>,
}

impl CellLog {
    pub fn create(cell_dir: &Path, every: u64) -> std::io::Result<Self> {
        Ok(CellLog {
            writer: Some(EventWriter::create(cell_dir)?),
            every,
            failed: None,
        })
    }

    /// A log that writes nothing (a data-parallel rank other than 0).
    pub fn off() -> Self {
        CellLog {
            writer: None,
            every: 0,
            failed: None,
        }
    }

    /// The loss of global step `step` (logged every `every` steps).
    pub fn step(&mut self, step: u64, loss: f64) {
        if self.every == 0 || step % self.every != 0 || self.failed.is_some() {
            return;
        }
        if let Some(Err(e)) = self.writer.as_mut().map(|w| w.step_loss(step, loss)) {
            self.failed = Some(e);
        }
    }

    /// The epoch's scalars; also reports a failed step write.
    pub fn epoch(&mut self, row: &EpochRow) -> std::io::Result<()> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.writer.as_mut().map_or(Ok(()), |w| w.epoch(row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_and_record_layout_match_tensorflow() {
        // CRC-32C check value of "123456789" (RFC 3720).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        let dir = tempfile::tempdir().expect("tmp");
        let w = EventWriter::create(dir.path()).expect("create");
        let bytes = std::fs::read(w.path()).expect("read");
        let len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
        assert_eq!(bytes.len(), 8 + 4 + len + 4);
        let crc = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        assert_eq!(crc, masked_crc(&bytes[..8]));
        assert!(String::from_utf8_lossy(&bytes).contains("brain.Event:2"));
    }
}
