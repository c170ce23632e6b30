//! Stopping `exp run` through the real binary: SIGINT and SIGTERM at seeded
//! random moments of an `exp run --jobs 2`, a double Ctrl-C and `kill -9` of
//! the parent leave no process behind, and resuming gives the results of an
//! uninterrupted run, byte for byte. Also: files follow a 0002 umask (a group
//! can read and extend the results), and a closed stdout ends `exp` quietly.
#![allow(clippy::unwrap_used)]

use crate::run_support::{
    cmd, metric_columns, processes_in, read, run_ok, text, tiny_pipeline, wait_for, wait_none_left,
};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

const SIGINT: i32 = 2;
const SIGKILL: i32 = 9;
const SIGTERM: i32 = 15;

/// Two cells checkpointing every 2 steps.
fn pipeline(dir: &Path) -> PathBuf {
    let sweep = r#"
sweep s {
  data     = tiny
  backbone = [resnet_test, convnextv2_test]
  recipe   = [fast]
  budget   = short
  score    = test
}
"#;
    tiny_pipeline(dir, "two.exp", "  checkpoint_every = 2 steps\n", sweep)
}

fn run_args<'a>(file: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        file,
        "--out",
        out,
        "--device",
        "cpu",
        "--deterministic",
        "--jobs",
        "2",
    ]
}

fn start(d: &Path, file: &str, out: &str) -> Child {
    cmd(d, &run_args(file, out))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(pid: u32, sig: i32) {
    let ok = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap()
        .success();
    // The process may have ended on its own just before.
    let _ = ok;
}

/// The seeded moments: xorshift, so the test is the same on every machine.
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo)
    }
}

fn files_named(dir: &Path, pred: &dyn Fn(&str) -> bool, found: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_named(&p, pred, found);
        } else if p.file_name().and_then(|s| s.to_str()).is_some_and(pred) {
            found.push(p);
        }
    }
}

const CELLS: [&str; 2] = ["s/resnet_test-fast-s3", "s/convnextv2_test-fast-s3"];

/// When each cell's checkpoint was last written.
fn checkpoint_times(d: &Path, out: &str) -> Vec<Option<std::time::SystemTime>> {
    CELLS
        .iter()
        .map(|c| {
            std::fs::metadata(d.join(out).join(c).join("ckpt/last.safetensors"))
                .and_then(|m| m.modified())
                .ok()
        })
        .collect()
}

/// Start a run and wait until one of its children wrote a new checkpoint (it
/// is past its start and training), then `extra_ms` more. Returns the
/// child, and whether that moment came before the run ended by itself.
fn start_and_wait_for_training(d: &Path, extra_ms: u64) -> (Child, bool) {
    let before = checkpoint_times(d, "sig");
    let mut child = start(d, "two.exp", "sig");
    let training = wait_for(&mut child, || {
        processes_in(d).len() >= 2 && checkpoint_times(d, "sig") != before
    });
    std::thread::sleep(Duration::from_millis(extra_ms));
    (child, training)
}

fn assert_stopped(o: &Output, sig: i32, moment: &str) {
    let t = text(o);
    if o.status.signal() == Some(sig) {
        // It arrived before `exp run` installed its handlers: nothing ran yet.
        return;
    }
    let code = o.status.code();
    assert!(
        code == Some(128 + sig) || code == Some(0),
        "{moment}: exit {code:?} after signal {sig}:\n{t}"
    );
    if code == Some(128 + sig) {
        assert!(
            t.contains(
                "resume with: exp run two.exp --out sig --device cpu --deterministic --jobs 2"
            ),
            "{moment}: {t}"
        );
    }
}

#[test]
fn sigint_sigterm_and_kill_9_of_jobs_2_leave_nothing_behind_and_resume_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    pipeline(d);
    run_ok(d, &run_args("two.exp", "clean"));

    // 1. SIGINT / SIGTERM at seeded moments — one while the run starts,
    //    the others a seeded while after a child's checkpoint, mid-training.
    //    The parent waits for its children, so nothing may be left the
    //    moment it exits.
    let mut moments = Moments(0x5eed_0019);
    let mut stopped = 0;
    for (i, sig) in [SIGTERM, SIGINT, SIGTERM].into_iter().enumerate() {
        let ms = moments.next_ms(0, 400);
        let child = if i == 0 {
            let c = start(d, "two.exp", "sig");
            std::thread::sleep(Duration::from_millis(ms));
            c
        } else {
            start_and_wait_for_training(d, ms).0
        };
        let pid = child.id();
        signal(pid, sig);
        let o = child.wait_with_output().unwrap();
        let moment = format!("moment {i} (signal {sig}, {ms} ms)");
        eprintln!("{moment}: {:?}\n{}", o.status, text(&o));
        assert_stopped(&o, sig, &moment);
        if o.status.code() != Some(0) {
            stopped += 1;
        }
        assert_eq!(processes_in(d), Vec::<u32>::new(), "{moment}: left behind");
    }
    assert!(stopped >= 2, "at least two runs were stopped by a signal");

    // 2. A double Ctrl-C while the children train: out at once, and the
    //    children, sent the second one too, follow.
    let (mut child, training) = start_and_wait_for_training(d, moments.next_ms(0, 400));
    let pid = child.id();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut err = Vec::new();
    if training {
        signal(pid, SIGINT);
        // The second once the first was taken (two at once may merge).
        for line in rx.iter() {
            let first_taken = line.contains("SIGINT received");
            err.push(line);
            if first_taken {
                signal(pid, SIGINT);
                break;
            }
        }
    }
    let o = child.wait_with_output().unwrap();
    reader.join().unwrap();
    err.extend(rx.try_iter());
    let t = format!("{}{}", String::from_utf8_lossy(&o.stdout), err.join("\n"));
    eprintln!("double Ctrl-C: {:?}\n{t}", o.status);
    assert!(
        matches!(o.status.code(), Some(0) | Some(130)),
        "double Ctrl-C: {:?}\n{t}",
        o.status
    );
    if training {
        // Out at once, unless the first had already stopped everything.
        assert!(
            t.contains("exp: second SIGINT: exiting now") || t.contains("exp: stopped by SIGINT"),
            "{t}"
        );
    }
    wait_none_left(d, "double Ctrl-C");

    // 3. kill -9 of the parent once a child has checkpointed: the children
    //    get SIGTERM from the kernel, checkpoint and exit.
    let log_sizes: Vec<usize> = CELLS
        .iter()
        .map(|c| std::fs::read(d.join("sig").join(c).join("run.log")).map_or(0, |b| b.len()))
        .collect();
    let (mut child, trained) = start_and_wait_for_training(d, moments.next_ms(0, 400));
    if trained {
        signal(child.id(), SIGKILL);
    }
    let _ = child.wait();
    wait_none_left(d, "kill -9 of the parent");
    if trained {
        // What the children of this run wrote.
        let all: String = CELLS
            .iter()
            .zip(&log_sizes)
            .map(|(c, &n)| {
                let log = read(&d.join("sig").join(c).join("run.log"));
                String::from_utf8_lossy(&log[n.min(log.len())..]).into_owned()
            })
            .collect();
        let unfinished = CELLS
            .iter()
            .any(|c| !d.join("sig").join(c).join("scores.json").exists());
        eprintln!("kill -9: unfinished {unfinished}; logs:\n{all}");
        assert!(
            !unfinished || all.contains("the parent exp run is gone"),
            "an orphaned child was told to stop:\n{all}"
        );
        assert!(
            !all.contains("exiting now"),
            "and stopped with a checkpoint:\n{all}"
        );
    }

    // 4. Resume: the results of the uninterrupted run, byte for byte.
    let t = run_ok(d, &run_args("two.exp", "sig"));
    assert!(t.contains("2 cell(s)"), "{t}");
    for f in ["s/results.csv"].into_iter().map(String::from).chain(
        CELLS
            .iter()
            .flat_map(|c| ["scores.json", "predictions.csv"].map(|f| format!("{c}/{f}"))),
    ) {
        assert_eq!(
            read(&d.join("sig").join(&f)),
            read(&d.join("clean").join(&f)),
            "{f} differs after the interruptions"
        );
    }
    for c in CELLS {
        assert_eq!(
            metric_columns(&d.join("sig").join(c).join("metrics.csv")),
            metric_columns(&d.join("clean").join(c).join("metrics.csv")),
            "{c}/metrics.csv differs after the interruptions"
        );
        assert!(!d.join("sig").join(c).join("interrupted.json").exists());
    }
    let mut temps = Vec::new();
    files_named(&d.join("sig"), &|n| n.ends_with(".tmp"), &mut temps);
    assert_eq!(
        temps,
        Vec::<PathBuf>::new(),
        "stale temp files were removed"
    );
}

/// Every file and directory under `dir`, with its mode bits.
fn modes(dir: &Path, found: &mut Vec<(PathBuf, u32, bool)>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        let is_dir = meta.is_dir();
        found.push((p.clone(), meta.permissions().mode() & 0o7777, is_dir));
        if is_dir {
            modes(&p, found);
        }
    }
}

#[test]
fn umask_0002_gives_group_readable_and_writable_results() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let sweep = r#"
sweep s {
  data     = tiny
  backbone = [resnet_test]
  recipe   = [fast]
  budget   = short
  score    = test
}
"#;
    tiny_pipeline(d, "one.exp", "", sweep);
    let exe = env!("CARGO_BIN_EXE_exp");
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 0002 && exec \"$0\" \"$@\"")
        .arg(exe)
        .args([
            "run",
            "one.exp",
            "--out",
            "runs",
            "--device",
            "cpu",
            "--set",
            "budget.short.finetune=1epoch",
        ])
        .current_dir(d)
        .env("EXP_CACHE", d.join("cache"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut all = Vec::new();
    for top in ["runs", "data", "cache"] {
        modes(&d.join(top), &mut all);
    }
    assert!(all.iter().any(|(p, _, _)| p.ends_with("results.csv")));
    assert!(all.iter().any(|(p, _, _)| p.ends_with("best.safetensors")));
    let wrong: Vec<String> = all
        .iter()
        .filter(|(_, mode, is_dir)| *mode != if *is_dir { 0o775 } else { 0o664 })
        .map(|(p, mode, _)| format!("{:o} {}", mode, p.display()))
        .collect();
    assert!(
        wrong.is_empty(),
        "with umask 0002 files are 0664 and directories 0775:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn a_closed_stdout_ends_exp_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    pipeline(d);
    for args in [
        vec!["run", "two.exp", "--out", "runs", "--device", "cpu"],
        vec!["status", "two.exp"],
        vec!["plan", "two.exp"],
    ] {
        // A pipe whose reading end is already closed, like `exp … | head -1`
        // once head has its line.
        let mut reader = std::process::Command::new("true")
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let pipe = reader.stdin.take().unwrap();
        reader.wait().unwrap();
        let o = cmd(d, &args)
            .stdout(Stdio::from(pipe))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("panicked"), "exp {args:?}: {err}");
        assert_eq!(o.status.code(), Some(141), "exp {args:?}: {err}");
    }
    assert!(
        !d.join("runs/s/resnet_test-fast-s3/metrics.csv").exists(),
        "exp run ended at its first line, before training"
    );
}
