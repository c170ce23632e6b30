//! `exp run FILE`: train and score every cell (runs in the runtime).

use exp_lang::options::{
    Backend, DeviceRequest, RunOptions, DDP_TIMEOUT_DEFAULT_S, TB_EVERY_DEFAULT,
};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    pub file: PathBuf,
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    /// auto | cpu | cuda | cuda:N
    #[arg(long, default_value = "auto")]
    pub device: DeviceRequest,
    /// Deterministic kernels (bit-identical reruns on CPU).
    #[arg(long)]
    pub deterministic: bool,
    /// Run every training step eagerly, never as a captured CUDA graph
    /// (the recipe's `cuda_graphs = off` for every cell).
    #[arg(long)]
    pub no_cuda_graphs: bool,
    /// Run only this cell (id as printed by `exp plan`).
    #[arg(long)]
    pub cell: Option<String>,
    /// Run only this sweep.
    #[arg(long)]
    pub sweep: Option<String>,
    /// Cells run at once on CPU.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// GPUs to spread cells over, e.g. `0,1`.
    #[arg(long, value_delimiter = ',')]
    pub gpus: Vec<usize>,
    /// Loader worker threads (default: available cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Log the training loss to each cell's TensorBoard event file every N
    /// steps (0: per-epoch scalars only).
    #[arg(long, value_name = "N", default_value_t = TB_EVERY_DEFAULT)]
    pub tb_every: u64,
    /// Train each cell on N data-parallel processes (one GPU each on CUDA,
    /// Gloo on the CPU); with `--gpus`, cells × ranks are packed onto the
    /// listed GPUs. Under `--on slurm`: ranks per node on the CPU.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub ddp: usize,
    /// Seconds a data-parallel collective waits for the other ranks before
    /// the cell fails.
    #[arg(long, value_name = "SECS", default_value_t = DDP_TIMEOUT_DEFAULT_S)]
    pub ddp_timeout: u64,
    /// Slurm: nodes per data-parallel cell.
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub nodes: usize,
    /// Slurm: GPUs per node, one rank each.
    #[arg(long, value_name = "G")]
    pub gpus_per_node: Option<usize>,
    #[arg(long, value_enum, default_value_t)]
    pub on: On,
    #[arg(long)]
    pub partition: Option<String>,
    #[arg(long)]
    pub gres: Option<String>,
    #[arg(long)]
    pub time: Option<String>,
    #[arg(long)]
    pub account: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum On {
    #[default]
    Local,
    Slurm,
}

impl Args {
    pub fn into_options(self) -> RunOptions {
        RunOptions {
            file: self.file,
            sets: self.sets,
            out: self.out,
            device: self.device,
            deterministic: self.deterministic,
            no_cuda_graphs: self.no_cuda_graphs,
            cell: self.cell,
            sweep: self.sweep,
            jobs: self.jobs,
            gpus: self.gpus,
            workers: self.workers,
            tb_every: self.tb_every,
            ddp: self.ddp,
            ddp_timeout_s: self.ddp_timeout,
            nodes: self.nodes,
            gpus_per_node: self.gpus_per_node,
            on: match self.on {
                On::Local => Backend::Local,
                On::Slurm => Backend::Slurm,
            },
            partition: self.partition,
            gres: self.gres,
            time: self.time,
            account: self.account,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::{Cli, Command};
    use clap::Parser;

    fn options(argv: &[&str]) -> exp_lang::options::RunOptions {
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Run(a) => (*a).into_options(),
            _ => unreachable!("a run command"),
        }
    }

    #[test]
    fn every_flag_reaches_the_options() {
        let o = options(&[
            "exp",
            "run",
            "f.exp",
            "--set",
            "seed=4",
            "--out",
            "/r",
            "--device",
            "cuda:1",
            "--deterministic",
            "--jobs",
            "2",
            "--gpus",
            "0,1",
            "--on",
            "slurm",
            "--time",
            "1:00:00",
            "--ddp",
            "2",
            "--ddp-timeout",
            "60",
            "--nodes",
            "3",
            "--gpus-per-node",
            "4",
        ]);
        assert_eq!(
            (o.ddp, o.ddp_timeout_s, o.nodes, o.gpus_per_node),
            (2, 60, 3, Some(4))
        );
        assert_eq!(o.world_size(), 12);
        assert_eq!(o.sets, ["seed=4"]);
        assert_eq!(o.device, exp_lang::options::DeviceRequest::Cuda(1));
        assert_eq!(
            (o.jobs, o.gpus.as_slice(), o.deterministic),
            (2, &[0, 1][..], true)
        );
        assert_eq!(o.on, exp_lang::options::Backend::Slurm);
        assert_eq!(o.time.as_deref(), Some("1:00:00"));
        let d = options(&["exp", "run", "f.exp"]);
        assert_eq!(d, exp_lang::options::RunOptions::new("f.exp"));
    }

    #[test]
    fn a_bad_device_is_refused_by_the_parser_with_what_to_write() {
        let e = Cli::try_parse_from(["exp", "run", "f.exp", "--device", "tpu"]).unwrap_err();
        assert!(
            e.to_string().contains("write auto, cpu, cuda or cuda:N"),
            "{e}"
        );
    }
}
