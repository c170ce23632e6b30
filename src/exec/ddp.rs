//! Data-parallel cells: `exp run FILE --ddp N` starts N rank processes per
//! cell (`exp run FILE --cell ID` with `EXP_DIST_*` in their environment),
//! watches them, and reports the cell from rank 0's files. The Slurm script
//! (`exec::slurm`) starts the same processes with `srun`. docs/distributed.md.
//!
//! Rank 0 runs the cell as any child does (the lock, training, scoring, the
//! outputs); the other ranks only train ([`follow`]) and write nothing but
//! their log, `run.rankR.log`.

use crate::dist::DistSpec;
use crate::exec::signals;
use crate::exec::ExecError;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub const RANK_ENV: &str = "EXP_DIST_RANK";
pub const WORLD_ENV: &str = "EXP_DIST_WORLD";
pub const ADDR_ENV: &str = "EXP_DIST_ADDR";
pub const PORT_ENV: &str = "EXP_DIST_PORT";
pub const TIMEOUT_ENV: &str = "EXP_DIST_TIMEOUT";

/// Once one rank has ended, how long the others get to end on their own
/// (their next collective fails at once when a peer's sockets close)
/// before they are killed.
const GRACE: Duration = Duration::from_secs(30);

/// This process's rank, from the launcher's environment: `EXP_DIST_RANK`,
/// or under `srun` Slurm's `SLURM_PROCID`. `None` outside a data-parallel
/// cell. The second value is the rank's GPU on its node under Slurm
/// (`SLURM_LOCALID`).
pub fn from_env() -> Result<Option<(DistSpec, Option<usize>)>, ExecError> {
    let Ok(world) = std::env::var(WORLD_ENV) else {
        return Ok(None);
    };
    let bad = |what: &str, v: &str| {
        ExecError::Ddp {
        reason: format!("{what} is `{v}` in this rank's environment"),
        help: "data-parallel ranks are started by `exp run --ddp N` or its Slurm script; unset EXP_DIST_* to train in one process".into(),
    }
    };
    let num = |name: &str| -> Result<Option<u64>, ExecError> {
        match std::env::var(name) {
            Ok(v) => v.trim().parse::<u64>().map(Some).map_err(|_| bad(name, &v)),
            Err(_) => Ok(None),
        }
    };
    let world: usize = world.trim().parse().map_err(|_| bad(WORLD_ENV, &world))?;
    let slurm_rank = num("SLURM_PROCID")?;
    let rank = num(RANK_ENV)?
        .or(slurm_rank)
        .ok_or_else(|| bad(RANK_ENV, "unset"))? as usize;
    let local = num("SLURM_LOCALID")?.map(|v| v as usize);
    let master_addr = std::env::var(ADDR_ENV).map_err(|_| bad(ADDR_ENV, "unset"))?;
    let port = num(PORT_ENV)?.ok_or_else(|| bad(PORT_ENV, "unset"))?;
    let master_port = u16::try_from(port).map_err(|_| bad(PORT_ENV, &port.to_string()))?;
    let timeout_s = num(TIMEOUT_ENV)?.unwrap_or(crate::options::DDP_TIMEOUT_DEFAULT_S);
    if world == 0 || rank >= world {
        return Err(bad(RANK_ENV, &format!("{rank} of {world}")));
    }
    let spec = DistSpec {
        rank,
        world,
        master_addr,
        master_port,
        timeout_s,
    };
    Ok(Some((spec, local)))
}

/// A free TCP port on the loopback interface for rank 0's store. Why not
/// a fixed port: two cells (or two users) on one machine would collide.
/// The port is released before rank 0 binds it; a process taking it in
/// between makes the cell fail with the rendezvous error, and a rerun
/// resumes it.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The devices of each slot that trains one cell at a time: `ranks`
/// entries each. On CUDA with `--gpus`, the listed GPUs in groups of
/// `ranks`; on CUDA without, GPUs 0..ranks; on the CPU, `jobs` slots.
pub fn slots(
    ranks: usize,
    jobs: usize,
    gpus: &[usize],
    device: tch::Device,
    visible_gpus: usize,
) -> Result<Vec<Vec<String>>, ExecError> {
    let too_few = |have: usize, listed: bool| ExecError::Ddp {
        reason: format!(
            "--ddp {ranks} needs {ranks} GPU(s) per cell (one per rank), and {have} {}",
            if listed {
                "are listed in --gpus"
            } else {
                "are visible"
            }
        ),
        help: if listed {
            format!("list a multiple of {ranks} GPUs in --gpus, or lower --ddp")
        } else {
            format!("lower --ddp to at most {have}, or run the ranks on the CPU with --device cpu")
        },
    };
    if !gpus.is_empty() {
        if gpus.len() < ranks || gpus.len() % ranks != 0 {
            return Err(too_few(gpus.len(), true));
        }
        return Ok(gpus
            .chunks(ranks)
            .map(|c| c.iter().map(|g| format!("cuda:{g}")).collect())
            .collect());
    }
    if device.is_cuda() {
        if visible_gpus < ranks {
            return Err(too_few(visible_gpus, false));
        }
        return Ok(vec![(0..ranks).map(|g| format!("cuda:{g}")).collect()]);
    }
    Ok(vec![vec!["cpu".to_string(); ranks]; jobs.max(1)])
}

/// How one rank process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankEnd {
    pub rank: usize,
    /// Exit code; `None` when a signal killed it.
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl RankEnd {
    fn clean(&self) -> bool {
        self.code == Some(0)
    }

    pub fn describe(&self, world: usize) -> String {
        let how = match (self.code, self.signal) {
            (_, Some(libc::SIGKILL)) => "was killed by SIGKILL".to_string(),
            (_, Some(s)) => format!("was killed by {}", signals::signal_name(s)),
            (Some(c), None) => format!("exited with status {c}"),
            (None, None) => "ended".to_string(),
        };
        format!("rank {} of {world} {how}", self.rank)
    }
}

/// How a data-parallel cell's ranks ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RanksEnded {
    /// Every rank, in rank order.
    pub ends: Vec<RankEnd>,
    /// The first rank to end abnormally, if any: the likely cause.
    pub first_bad: Option<RankEnd>,
}

/// The log file of rank `rank` in the cell directory.
pub fn rank_log(dir: &Path, rank: usize) -> std::path::PathBuf {
    if rank == 0 {
        dir.join("run.log")
    } else {
        dir.join(format!("run.rank{rank}.log"))
    }
}

/// Start the cell's ranks (`make(rank)` builds each command with its log
/// and device), then wait until all have ended. Once one ends, the others
/// get [`GRACE`] to end on their own, then are killed: nothing hangs.
/// `Ok(None)`: a stop signal came before all ranks started (those started
/// are stopped the same way).
pub fn run_ranks(
    world: usize,
    timeout_s: u64,
    mut make: impl FnMut(usize) -> Result<Command, ExecError>,
    spawn_error: impl Fn(std::io::Error) -> ExecError,
) -> Result<Option<RanksEnded>, ExecError> {
    let port = free_port().map_err(&spawn_error)?;
    let mut kids: Vec<(usize, Child)> = Vec::new();
    let mut stopped_early = false;
    for rank in 0..world {
        let mut cmd = make(rank)?;
        cmd.env(RANK_ENV, rank.to_string())
            .env(WORLD_ENV, world.to_string())
            .env(ADDR_ENV, "127.0.0.1")
            .env(PORT_ENV, port.to_string())
            .env(TIMEOUT_ENV, timeout_s.to_string());
        match signals::spawn_child(&mut cmd).map_err(&spawn_error)? {
            Some(c) => kids.push((rank, c)),
            None => {
                stopped_early = true;
                break;
            }
        }
    }
    if stopped_early {
        for (_, c) in &mut kids {
            // SAFETY: plain kill(2) of our own child's pid.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        }
    }
    let mut ends: Vec<RankEnd> = Vec::new();
    let mut first_bad: Option<RankEnd> = None;
    let mut deadline: Option<Instant> = None;
    while !kids.is_empty() {
        let mut i = 0;
        while i < kids.len() {
            match kids[i].1.try_wait() {
                Ok(Some(status)) => {
                    use std::os::unix::process::ExitStatusExt;
                    let (rank, child) = kids.remove(i);
                    signals::child_ended(child.id());
                    let end = RankEnd {
                        rank,
                        code: status.code(),
                        signal: status.signal(),
                    };
                    if !end.clean() && first_bad.is_none() {
                        first_bad = Some(end);
                    }
                    ends.push(end);
                    deadline.get_or_insert_with(|| Instant::now() + GRACE);
                }
                Ok(None) => i += 1,
                Err(e) => return Err(spawn_error(e)),
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            for (_, c) in &mut kids {
                let _ = c.kill();
            }
        }
        if !kids.is_empty() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    if stopped_early {
        return Ok(None);
    }
    ends.sort_by_key(|e| e.rank);
    Ok(Some(RanksEnded { ends, first_bad }))
}

/// A rank other than 0: prepare the cell's data and train it with the
/// others; rank 0 alone writes checkpoints, scores and results. Exit status
/// 0 when training ended, 1 on an error (printed, naming the rank), 128 +
/// the signal when a stop signal ended it.
pub fn follow(
    spec: &DistSpec,
    cells: &[&crate::spec::Cell],
    opts: crate::train::TrainOptions,
    out: &Path,
) -> std::process::ExitCode {
    use crate::exec::executor::{CellExecutor, Libtorch};
    let who = format!("rank {} of {}", spec.rank, spec.world);
    let fail = |e: String| {
        eprintln!("exp: {who}: {e}");
        std::process::ExitCode::from(1)
    };
    let [cell] = cells else {
        return fail(format!(
            "a data-parallel rank trains one cell (`--cell ID`), and {} were selected",
            cells.len()
        ));
    };
    let exec = Libtorch { opts };
    let data = match exec.prepare(cell) {
        Ok(d) => d,
        Err(e) => return fail(format!("preparing the data: {e}")),
    };
    let dir = crate::exec::outputs::cell_dir(out, cell);
    match exec.train(cell, &data, &dir) {
        Ok(crate::train::RunEnd::Finished(_)) => std::process::ExitCode::SUCCESS,
        Ok(crate::train::RunEnd::Interrupted { .. }) => {
            let sig = signals::stop_signal().unwrap_or(libc::SIGTERM);
            std::process::ExitCode::from(signals::exit_status(sig) as u8)
        }
        Err(e) => fail(format!("training: {e}")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn ranks_pack_onto_listed_gpus_in_groups_and_cpu_slots_follow_jobs() {
        let s = slots(2, 1, &[0, 1, 2, 3], Device::Cuda(0), 4).unwrap();
        assert_eq!(s, vec![vec!["cuda:0", "cuda:1"], vec!["cuda:2", "cuda:3"]]);
        let s = slots(4, 1, &[], Device::Cuda(0), 8).unwrap();
        assert_eq!(s, vec![vec!["cuda:0", "cuda:1", "cuda:2", "cuda:3"]]);
        let s = slots(2, 3, &[], Device::Cpu, 0).unwrap();
        assert_eq!(s, vec![vec!["cpu", "cpu"]; 3]);
    }

    #[test]
    fn too_few_gpus_are_refused_with_what_to_change() {
        let e = slots(2, 1, &[0, 1, 2], Device::Cuda(0), 4).unwrap_err();
        let ExecError::Ddp { reason, help } = e else {
            panic!("not a ddp error")
        };
        assert!(reason.contains("3 are listed in --gpus"), "{reason}");
        assert!(help.contains("multiple of 2"), "{help}");
        let e = slots(4, 1, &[], Device::Cuda(0), 2).unwrap_err();
        let ExecError::Ddp { reason, help } = e else {
            panic!("not a ddp error")
        };
        assert!(reason.contains("2 are visible"), "{reason}");
        assert!(help.contains("at most 2"), "{help}");
    }

    #[test]
    fn rank_ends_name_the_rank_and_how_it_ended() {
        let killed = RankEnd {
            rank: 1,
            code: None,
            signal: Some(libc::SIGKILL),
        };
        assert_eq!(killed.describe(2), "rank 1 of 2 was killed by SIGKILL");
        let failed = RankEnd {
            rank: 3,
            code: Some(1),
            signal: None,
        };
        assert_eq!(failed.describe(4), "rank 3 of 4 exited with status 1");
        assert_eq!(rank_log(Path::new("/c"), 0), Path::new("/c/run.log"));
        assert_eq!(rank_log(Path::new("/c"), 2), Path::new("/c/run.rank2.log"));
    }
}
