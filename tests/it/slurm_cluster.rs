//! `exp run --on slurm` against a real one-node Slurm cluster started by
//! scripts/slurm_test_cluster.sh (Debian's slurmctld, slurmd and munge; run
//! as root, as CI does; scripts/ci_deps.sh installs the packages):
//! a 4-cell CPU sweep submitted as a job array gives the same results.csv as
//! a local run, a task sent SIGUSR1 requeues itself and finishes with the
//! same metrics as an uninterrupted run, a 2-rank data-parallel cell
//! (`--ddp 2`, Gloo) started by `srun` matches the local `--ddp 2` run, and
//! cells already queued are never submitted twice.
#![allow(clippy::unwrap_used)]

use crate::run_support::{metric_columns, read, text};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const SWEEP: &str = r#"use std.backbones
seed 4

data tiny {
  source = generated(classes = 3, train = 96 samples, val = 48 samples, test = 60 samples,
                     size = 32, seed = 5, image_signal = 0.9, metadata_signal = 0.0)
  root = "data/tiny"
  image_size = 32
}

recipe fast {
  optimizer = adamw(lr = 1e-2, finetune_lr = 3e-3, weight_decay = 0.01)
  schedule  = constant
  warmup    = 0 steps
  batch     = 16
}

recipe slow extends fast {
  optimizer.finetune_lr = 1e-3
}

budget short {
  frozen   = 1 epoch
  finetune = 2 epochs
}

budget long {
  frozen   = 1 epoch
  finetune = 12 epochs
  checkpoint_every = 2 steps
}

score test {
  split   = "test"
  metrics = [top1, top3, auc]
}

sweep four {
  data     = tiny
  backbone = [resnet_test, convnextv2_test]
  recipe   = [fast, slow]
  budget   = short
  score    = test
}

sweep requeue {
  data     = tiny
  backbone = [resnet_test]
  recipe   = [fast]
  budget   = long
  score    = test
}
"#;

/// A global batch of 32 for two ranks of 16.
const DP: &str = r#"
recipe wide extends fast {
  batch = 32
}

sweep dp {
  data     = tiny
  backbone = [convnextv2_test]
  recipe   = [wide]
  budget   = short
  score    = test
}
"#;

/// The cluster, stopped on drop.
struct Cluster {
    dir: PathBuf,
    conf: String,
}

impl Cluster {
    fn start(dir: &Path) -> Cluster {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm_test_cluster.sh");
        let port = 20000 + (std::process::id() % 20000) * 2;
        let out = Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(dir)
            .env("EXP_SLURM_PORT", port.to_string())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "the test cluster did not start (needs root and the slurmctld, slurmd, slurm-client and munge packages):\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let conf = text
            .lines()
            .find_map(|l| l.strip_prefix("export SLURM_CONF="))
            .unwrap()
            .to_string();
        Cluster {
            dir: dir.to_path_buf(),
            conf,
        }
    }

    fn cmd(&self, prog: &str, args: &[&str]) -> Output {
        Command::new(prog)
            .args(args)
            .env("SLURM_CONF", &self.conf)
            .output()
            .unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm_test_cluster.sh");
        let _ = Command::new("bash")
            .arg(script)
            .arg("stop")
            .arg(&self.dir)
            .output();
    }
}

fn exp(dir: &Path, conf: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exp"))
        .args(args)
        .current_dir(dir)
        .env("EXP_CACHE", dir.join("cache"))
        .env("SLURM_CONF", conf)
        .output()
        .unwrap()
}

fn job_id(submit: &Output) -> String {
    let t = text(submit);
    assert_eq!(submit.status.code(), Some(0), "{t}");
    let line = t
        .lines()
        .find(|l| l.starts_with("submitted Slurm job array"))
        .unwrap_or_else(|| panic!("{t}"));
    line.trim_start_matches("submitted Slurm job array ")
        .split(':')
        .next()
        .unwrap()
        .trim()
        .to_string()
}

/// Wait until `squeue` lists no task of `job`.
fn wait_gone(c: &Cluster, job: &str, limit: Duration) {
    let start = Instant::now();
    loop {
        let q = c.cmd("squeue", &["-h", "-j", job, "-o", "%i %T"]);
        if String::from_utf8_lossy(&q.stdout).trim().is_empty() {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "job {job} still queued: {}",
            String::from_utf8_lossy(&q.stdout)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn slurm_array_matches_a_local_run_and_usr1_requeues_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("sweeps.exp"), format!("{SWEEP}{DP}")).unwrap();
    let cluster = Cluster::start(&d.join("cluster"));
    let conf = cluster.conf.clone();
    let base = ["run", "sweeps.exp", "--device", "cpu", "--deterministic"];

    // 1. The 4-cell sweep, locally and as a job array.
    let local = exp(
        d,
        &conf,
        &[&base[..], &["--sweep", "four", "--out", "local"]].concat(),
    );
    assert_eq!(local.status.code(), Some(0), "{}", text(&local));
    let submit = exp(
        d,
        &conf,
        &[
            &base[..],
            &["--sweep", "four", "--out", "slurm", "--on", "slurm"],
        ]
        .concat(),
    );
    let job = job_id(&submit);
    assert!(text(&submit).contains("4 task(s)"), "{}", text(&submit));
    let script = std::fs::read_dir(d.join("slurm/.exp/slurm"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".sbatch"));
    assert!(
        script.is_some(),
        "the sbatch script is kept next to the results"
    );
    wait_gone(&cluster, &job, Duration::from_secs(600));
    assert_eq!(
        read(&d.join("slurm/four/results.csv")),
        read(&d.join("local/four/results.csv")),
        "Slurm and local results.csv differ"
    );
    let st = exp(d, &conf, &["status", "sweeps.exp", "--out", "slurm"]);
    let st_text = text(&st);
    assert_eq!(
        st_text
            .lines()
            // `unstable` ran to the end too (a tiny cell's best epoch can be
            // its frozen one).
            .filter(|l| l.starts_with("four/") && (l.contains(" done") || l.contains(" unstable")))
            .count(),
        4,
        "{st_text}"
    );
    // Everything cached: nothing is submitted again.
    let again = exp(
        d,
        &conf,
        &[
            &base[..],
            &["--sweep", "four", "--out", "slurm", "--on", "slurm"],
        ]
        .concat(),
    );
    assert!(
        text(&again).contains("nothing to submit"),
        "{}",
        text(&again)
    );

    // 2. USR1 → requeue → resume from the checkpoint → same result as uninterrupted.
    let local = exp(
        d,
        &conf,
        &[&base[..], &["--sweep", "requeue", "--out", "local"]].concat(),
    );
    assert_eq!(local.status.code(), Some(0), "{}", text(&local));
    let job = job_id(&exp(
        d,
        &conf,
        &[
            &base[..],
            &["--sweep", "requeue", "--out", "slurm", "--on", "slurm"],
        ]
        .concat(),
    ));
    let task = format!("{job}_0");
    let cell = d.join("slurm/requeue/resnet_test-fast-s4");
    let start = Instant::now();
    while !cell.join("ckpt").exists()
        || std::fs::read_dir(cell.join("ckpt")).map_or(0, |r| r.count()) == 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let sig = cluster.cmd("scancel", &["--signal=USR1", &task]);
    assert!(
        sig.status.success(),
        "{}",
        String::from_utf8_lossy(&sig.stderr)
    );
    // Slurm holds a requeued job ~2 minutes (BeginTime); release it at once.
    let start = Instant::now();
    let mut requeued = false;
    while start.elapsed() < Duration::from_secs(120) {
        let show =
            String::from_utf8_lossy(&cluster.cmd("scontrol", &["show", "job", &task]).stdout)
                .to_string();
        if show.contains("Restarts=1") {
            requeued = true;
            let _ = cluster.cmd(
                "scontrol",
                &["update", &format!("jobid={task}"), "StartTime=now"],
            );
            break;
        }
        if show.contains("JobState=COMPLETED") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(requeued, "the task was not requeued after SIGUSR1");
    wait_gone(&cluster, &job, Duration::from_secs(600));
    let log = std::fs::read_dir(d.join("slurm/.exp/slurm"))
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{job}_"))
        })
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<String>();
    assert!(log.contains("SIGUSR1 received: requeueing"), "{log}");
    assert!(log.contains("restart 1"), "{log}");
    for f in ["scores.json", "predictions.csv"] {
        assert_eq!(
            read(&cell.join(f)),
            read(&d.join("local/requeue/resnet_test-fast-s4").join(f)),
            "{f}: the requeued task's result differs from an uninterrupted run"
        );
    }
    assert_eq!(
        read(&d.join("slurm/requeue/results.csv")),
        read(&d.join("local/requeue/results.csv"))
    );

    // 3. One cell on two ranks: `srun` starts them on the node, rank 0's
    //    host serves the rendezvous; the result is the local --ddp 2 run's.
    let ddp = ["--sweep", "dp", "--ddp", "2"];
    let local = exp(d, &conf, &[&base[..], &ddp, &["--out", "local"]].concat());
    assert_eq!(local.status.code(), Some(0), "{}", text(&local));
    let submit = exp(
        d,
        &conf,
        &[&base[..], &ddp, &["--out", "slurm", "--on", "slurm"]].concat(),
    );
    let job = job_id(&submit);
    wait_gone(&cluster, &job, Duration::from_secs(600));
    let cell = "dp/convnextv2_test-wide-s4";
    // Both ranks write to the task's log: each reports the overlap.
    let task_log =
        std::fs::read_to_string(d.join("slurm/.exp/slurm").join(format!("{job}_0.log"))).unwrap();
    assert!(
        task_log.matches("data-parallel backward").count() >= 2,
        "{task_log}"
    );
    let (slurm, local) = (d.join("slurm").join(cell), d.join("local").join(cell));
    assert_eq!(
        metric_columns(&slurm.join("metrics.csv")),
        metric_columns(&local.join("metrics.csv")),
        "metrics: Slurm and local --ddp 2 differ"
    );
    for f in ["predictions.csv", "scores.json"] {
        assert!(
            read(&slurm.join(f)) == read(&local.join(f)),
            "{f}: Slurm and local --ddp 2 differ"
        );
    }

    // 4. No duplicate submission. With the node drained the tasks stay
    //    queued: submitting again submits nothing; after one task is
    //    cancelled, only its cell. The hint repeats --out and --set.
    let node = String::from_utf8_lossy(&cluster.cmd("sinfo", &["-h", "-o", "%N"]).stdout)
        .trim()
        .to_string();
    let nodearg = format!("nodename={node}");
    let drain = cluster.cmd(
        "scontrol",
        &["update", &nodearg, "state=drain", "reason=exp-test"],
    );
    assert!(
        drain.status.success(),
        "{}",
        String::from_utf8_lossy(&drain.stderr)
    );
    let dup = [
        &base[..],
        &[
            "--sweep",
            "four",
            "--out",
            "dup",
            "--on",
            "slurm",
            "--set",
            "budget.short.finetune=1epoch",
        ],
    ]
    .concat();
    let first = exp(d, &conf, &dup);
    let job = job_id(&first);
    let t = text(&first);
    assert!(t.contains("4 task(s)"), "{t}");
    assert!(
        t.contains(
            "follow with: exp status sweeps.exp --out dup --set budget.short.finetune=1epoch"
        ),
        "{t}"
    );
    let tasks = |job: &str| -> Vec<String> {
        String::from_utf8_lossy(
            &cluster
                .cmd("squeue", &["-h", "-r", "-j", job, "-o", "%i"])
                .stdout,
        )
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
    };
    assert_eq!(tasks(&job).len(), 4, "queued while the node is drained");
    let again = exp(d, &conf, &dup);
    let t = text(&again);
    assert_eq!(again.status.code(), Some(0), "{t}");
    assert!(
        t.contains("4 cell(s) already queued or running in Slurm, not submitted again")
            && t.contains("nothing to submit")
            && !t.contains("submitted Slurm job array"),
        "{t}"
    );
    let cancel = cluster.cmd("scancel", &[&format!("{job}_1")]);
    assert!(
        cancel.status.success(),
        "{}",
        String::from_utf8_lossy(&cancel.stderr)
    );
    let start = Instant::now();
    while tasks(&job).len() != 3 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{:?}",
            tasks(&job)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let third = exp(d, &conf, &dup);
    let job2 = job_id(&third);
    let t = text(&third);
    assert!(
        t.contains("1 task(s)") && t.contains("3 already queued or running"),
        "{t}"
    );
    assert!(
        !t.contains(&format!("task {job}_1 ")),
        "the cancelled task's cell is submitted again: {t}"
    );
    let resume = cluster.cmd("scontrol", &["update", &nodearg, "state=resume"]);
    assert!(
        resume.status.success(),
        "{}",
        String::from_utf8_lossy(&resume.stderr)
    );
    wait_gone(&cluster, &job, Duration::from_secs(600));
    wait_gone(&cluster, &job2, Duration::from_secs(600));
    let st = exp(
        d,
        &conf,
        &[
            "status",
            "sweeps.exp",
            "--out",
            "dup",
            "--set",
            "budget.short.finetune=1epoch",
        ],
    );
    let st_text = text(&st);
    assert_eq!(
        st_text
            .lines()
            // `unstable` ran to the end too (a tiny cell's best epoch can be
            // its frozen one).
            .filter(|l| l.starts_with("four/") && (l.contains(" done") || l.contains(" unstable")))
            .count(),
        4,
        "each cell ran once and finished:\n{st_text}"
    );
}
