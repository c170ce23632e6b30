//! The commands `exp run` tells the user to type next ("resume with: …",
//! "follow with: …"), rebuilt from the arguments of this run.
//!
//! Why every flag: a hint that drops `--set` or `--out` points at other
//! cells (other keys, another directory), so following it shows every cell as
//! pending or trains the wrong configuration.

use crate::exec::slurm::sh_quote;
use crate::options::{Backend, DeviceRequest, RunOptions as RunArgs};
use std::path::Path;

fn path(p: &Path) -> String {
    sh_quote(&p.to_string_lossy())
}

fn push(cmd: &mut String, flag: &str, value: &str) {
    cmd.push_str(&format!(" --{flag} {}", sh_quote(value)));
}

/// `exp status FILE --out DIR [--set …]`: the status of this run's cells.
pub fn status_command(a: &RunArgs) -> String {
    let mut cmd = format!("exp status {} --out {}", path(&a.file), path(&a.out));
    for s in &a.sets {
        push(&mut cmd, "set", s);
    }
    cmd
}

/// The `exp run` command line of this run, every flag the user gave (flags
/// at their default value are left out: they change nothing).
pub fn run_command(a: &RunArgs) -> String {
    let mut cmd = format!("exp run {} --out {}", path(&a.file), path(&a.out));
    for s in &a.sets {
        push(&mut cmd, "set", s);
    }
    if let Some(s) = &a.sweep {
        push(&mut cmd, "sweep", s);
    }
    if let Some(c) = &a.cell {
        push(&mut cmd, "cell", c);
    }
    if a.device != DeviceRequest::Auto {
        push(&mut cmd, "device", &a.device.to_string());
    }
    if a.deterministic {
        cmd.push_str(" --deterministic");
    }
    if a.no_cuda_graphs {
        cmd.push_str(" --no-cuda-graphs");
    }
    if a.jobs != 1 {
        push(&mut cmd, "jobs", &a.jobs.to_string());
    }
    if !a.gpus.is_empty() {
        let g: Vec<String> = a.gpus.iter().map(usize::to_string).collect();
        push(&mut cmd, "gpus", &g.join(","));
    }
    if let Some(w) = a.workers {
        push(&mut cmd, "workers", &w.to_string());
    }
    if a.ddp != 1 {
        push(&mut cmd, "ddp", &a.ddp.to_string());
    }
    if a.ddp_timeout_s != crate::options::DDP_TIMEOUT_DEFAULT_S {
        push(&mut cmd, "ddp-timeout", &a.ddp_timeout_s.to_string());
    }
    if a.nodes != 1 {
        push(&mut cmd, "nodes", &a.nodes.to_string());
    }
    if let Some(g) = a.gpus_per_node {
        push(&mut cmd, "gpus-per-node", &g.to_string());
    }
    if a.on == Backend::Slurm {
        cmd.push_str(" --on slurm");
    }
    for (flag, v) in [
        ("partition", &a.partition),
        ("gres", &a.gres),
        ("time", &a.time),
        ("account", &a.account),
    ] {
        if let Some(v) = v {
            push(&mut cmd, flag, v);
        }
    }
    cmd
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// The options `exp run` would get from `argv` (its flags, as the
    /// command layer maps them; `src/cmd/run.rs` tests that mapping).
    fn args(argv: &[&str]) -> RunArgs {
        let mut a = RunArgs::new(argv[2]);
        let mut it = argv[3..].iter();
        while let Some(flag) = it.next() {
            let mut value = || it.next().unwrap().to_string();
            match *flag {
                "--set" => a.sets.push(value()),
                "--out" => a.out = PathBuf::from(value()),
                "--jobs" => a.jobs = value().parse().unwrap(),
                "--deterministic" => a.deterministic = true,
                "--device" => a.device = value().parse().unwrap(),
                "--sweep" => a.sweep = Some(value()),
                "--on" => {
                    a.on = if value() == "slurm" {
                        Backend::Slurm
                    } else {
                        Backend::Local
                    }
                }
                "--partition" => a.partition = Some(value()),
                "--gres" => a.gres = Some(value()),
                "--time" => a.time = Some(value()),
                other => unreachable!("flag {other}"),
            }
        }
        a
    }

    #[test]
    fn hints_repeat_every_flag_given() {
        let a = args(&[
            "exp",
            "run",
            "my file.exp",
            "--set",
            "budget.b.finetune=2epochs",
            "--set",
            "seed=4",
            "--out",
            "/scratch/runs",
            "--jobs",
            "2",
            "--deterministic",
            "--device",
            "cpu",
            "--sweep",
            "round1",
        ]);
        assert_eq!(
            run_command(&a),
            "exp run 'my file.exp' --out /scratch/runs --set budget.b.finetune=2epochs --set seed=4 --sweep round1 --device cpu --deterministic --jobs 2"
        );
        assert_eq!(
            status_command(&a),
            "exp status 'my file.exp' --out /scratch/runs --set budget.b.finetune=2epochs --set seed=4"
        );
        // Re-parsing the hint gives the same run.
        let again = run_command(&a).replace("'my file.exp'", "my_file.exp");
        let b = args(&again.split(' ').collect::<Vec<_>>());
        assert_eq!((b.sets, b.jobs, b.out), (a.sets, a.jobs, a.out));
    }

    #[test]
    fn slurm_flags_are_repeated() {
        let a = args(&[
            "exp",
            "run",
            "f.exp",
            "--on",
            "slurm",
            "--partition",
            "gpu",
            "--gres",
            "gpu:1",
            "--time",
            "04:00:00",
        ]);
        assert_eq!(
            run_command(&a),
            "exp run f.exp --out runs --on slurm --partition gpu --gres gpu:1 --time 04:00:00"
        );
    }
}
