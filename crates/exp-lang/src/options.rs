//! What each command was asked to do, as plain data. The command layer
//! (`src/cmd/`) fills these from the command line; the library never sees
//! the argument parser. Why here: the front binary and the runtime binary
//! both read them, and only this crate is shared by both without libtorch.

use std::fmt;
use std::path::PathBuf;

/// Default of `exp run --tb-every` (Lightning's `log_every_n_steps`).
pub const TB_EVERY_DEFAULT: u64 = 50;

/// `--device auto|cpu|cuda|cuda:N`, parsed once here and resolved against
/// the machine by the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceRequest {
    /// The first GPU when one is visible, else the CPU.
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
}

impl DeviceRequest {
    /// Parse a `--device` value; the error says what is wrong with it.
    pub fn parse(spec: &str) -> Result<Self, String> {
        match spec.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            s => match s.strip_prefix("cuda:") {
                Some(n) => n.parse().map(Self::Cuda).map_err(|_| {
                    format!("the GPU index after `cuda:` in `{spec}` is not a number (write e.g. `cuda:0`)")
                }),
                None => Err(format!(
                    "unknown device `{spec}`: write auto, cpu, cuda or cuda:N"
                )),
            },
        }
    }
}

impl std::str::FromStr for DeviceRequest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

impl fmt::Display for DeviceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// Output of `exp check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CheckFormat {
    #[default]
    Human,
    Json,
}

/// Where `exp run` executes cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    #[default]
    Local,
    Slurm,
}

/// Default of `exp run --ddp-timeout`: long enough for a slow first step
/// (cuDNN autotuning, a cold decode cache), short enough that a hung rank
/// cannot hold a node for long. A rank that dies is noticed at once (its
/// sockets close); the timeout is for one that stops answering.
pub const DDP_TIMEOUT_DEFAULT_S: u64 = 300;

/// `exp run`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    pub file: PathBuf,
    /// `--set PATH=VALUE` overrides, in order.
    pub sets: Vec<String>,
    pub out: PathBuf,
    pub device: DeviceRequest,
    /// Deterministic kernels (bit-identical reruns on CPU).
    pub deterministic: bool,
    /// Run every training step eagerly, never as a captured CUDA graph.
    pub no_cuda_graphs: bool,
    pub cell: Option<String>,
    pub sweep: Option<String>,
    /// Cells run at once on CPU.
    pub jobs: usize,
    /// GPUs to spread cells over.
    pub gpus: Vec<usize>,
    /// Loader worker threads (`None`: available cores).
    pub workers: Option<usize>,
    /// Training-loss TensorBoard scalars every N steps (0: per epoch only).
    pub tb_every: u64,
    /// Data-parallel ranks per cell on this machine (`--ddp N`; 1: off).
    /// Under Slurm: ranks per node on the CPU.
    pub ddp: usize,
    /// Seconds a data-parallel collective may wait for the other ranks.
    pub ddp_timeout_s: u64,
    /// Slurm: nodes per data-parallel cell (`--nodes K`).
    pub nodes: usize,
    /// Slurm: GPUs (one rank each) per node (`--gpus-per-node G`).
    pub gpus_per_node: Option<usize>,
    pub on: Backend,
    pub partition: Option<String>,
    pub gres: Option<String>,
    pub time: Option<String>,
    pub account: Option<String>,
}

impl RunOptions {
    /// Ranks one cell trains on: `--nodes` × (`--gpus-per-node` or `--ddp`).
    pub fn world_size(&self) -> usize {
        self.nodes.max(1) * self.gpus_per_node.unwrap_or(self.ddp).max(1)
    }

    /// The options of `exp run FILE` with every flag at its default.
    pub fn new(file: impl Into<PathBuf>) -> Self {
        RunOptions {
            file: file.into(),
            sets: Vec::new(),
            out: PathBuf::from("runs"),
            device: DeviceRequest::Auto,
            deterministic: false,
            no_cuda_graphs: false,
            cell: None,
            sweep: None,
            jobs: 1,
            gpus: Vec::new(),
            workers: None,
            tb_every: TB_EVERY_DEFAULT,
            ddp: 1,
            ddp_timeout_s: DDP_TIMEOUT_DEFAULT_S,
            nodes: 1,
            gpus_per_node: None,
            on: Backend::Local,
            partition: None,
            gres: None,
            time: None,
            account: None,
        }
    }
}

/// `exp status`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusOptions {
    pub file: PathBuf,
    pub out: PathBuf,
    pub sets: Vec<String>,
}

/// `exp score`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreOptions {
    /// A cell directory (runs/SWEEP/CELL) or a sweep directory (runs/SWEEP).
    pub dir: PathBuf,
    pub split: Option<String>,
    /// `FILE.exp:NAME`: score on this data declaration.
    pub data: Option<String>,
    pub device: DeviceRequest,
    pub workers: Option<usize>,
}

/// `exp embed`.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedOptions {
    pub backbone: String,
    pub weights: Option<PathBuf>,
    pub image_size: Option<u32>,
    pub cache_size: Option<u32>,
    pub out: PathBuf,
    pub device: DeviceRequest,
    pub images: Vec<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_print_back() {
        for (s, d) in [
            ("auto", DeviceRequest::Auto),
            ("CPU", DeviceRequest::Cpu),
            ("cuda", DeviceRequest::Cuda(0)),
            ("gpu", DeviceRequest::Cuda(0)),
            ("cuda:3", DeviceRequest::Cuda(3)),
        ] {
            assert_eq!(DeviceRequest::parse(s), Ok(d));
            assert_eq!(DeviceRequest::parse(&d.to_string()), Ok(d));
        }
        assert!(DeviceRequest::parse("cuda:x").is_err_and(|e| e.contains("not a number")));
        assert!(DeviceRequest::parse("tpu").is_err_and(|e| e.contains("unknown device")));
    }
}
