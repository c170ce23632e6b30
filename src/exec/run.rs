//! `exp run`: select cells, check them before anything trains, then run them
//! here (one after another; cells with equal data, budget and seed share one
//! prepared data set), in child processes (`--jobs`, `--gpus`) or on Slurm
//! (`--on slurm`), and print the summary.

use super::children::run_children;
use super::children::CHILD_ENV;
use super::executor::Libtorch;
use super::preflight::missing_weights;
use super::runner::{
    finalize_sweep, print_report_line, summary_line, tidy_cell_dir, write_sweep_json_locked,
    CellReport, Runner,
};
use crate::exec::outputs::{self};
use crate::exec::{atomic, device, signals, suggest, CellStatus, ExecError};
use crate::spec::{Cell, Pipeline, SweepSpec};
use crate::train::TrainOptions;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

/// The cells selected by `--sweep` / `--cell`, in file order.
pub fn select<'p>(
    p: &'p Pipeline,
    sweep: Option<&str>,
    cell: Option<&str>,
) -> Result<Vec<&'p SweepSpec>, ExecError> {
    if p.sweeps.is_empty() {
        return Err(ExecError::NoSweep);
    }
    if let Some(name) = sweep {
        if !p.sweeps.contains_key(name) {
            return Err(ExecError::UnknownSweep {
                name: name.into(),
                suggestion: suggest(name, p.sweeps.keys().map(String::as_str)),
            });
        }
    }
    if let Some(id) = cell {
        let found = p.sweeps.values().flat_map(|s| &s.cells).any(|c| c.id == id);
        if !found {
            let ids = p
                .sweeps
                .values()
                .flat_map(|s| &s.cells)
                .map(|c| c.id.as_str());
            return Err(ExecError::UnknownCell {
                id: id.into(),
                suggestion: suggest(id, ids),
            });
        }
    }
    Ok(p.sweeps
        .values()
        .filter(|s| sweep.is_none_or(|n| s.name == n))
        .filter(|s| cell.is_none_or(|id| s.cells.iter().any(|c| c.id == id)))
        .collect())
}

/// `exp run`.
pub fn cmd_run(a: &crate::options::RunOptions) -> miette::Result<ExitCode> {
    let dist = super::ddp::from_env()?;
    let mut device = device::resolve(a.device)?;
    if let (Some((_, Some(local))), tch::Device::Cuda(_), crate::options::DeviceRequest::Auto) =
        (&dist, device, a.device)
    {
        // A Slurm rank: one GPU per rank on its node.
        device = device::resolve(crate::options::DeviceRequest::Cuda(*local))?;
    }
    let dist = dist.map(|(spec, _)| spec);
    let gpu_count = if a.gpus.is_empty() {
        0
    } else {
        device::cuda_count()
    };
    for g in &a.gpus {
        device::resolve_with(device::DeviceRequest::Cuda(*g), gpu_count)?;
    }
    // Why before loading anything: a GPU the wheel has no kernels for would
    // otherwise fail every cell with libtorch's raw error.
    device::check_kernels(device)?;
    for g in &a.gpus {
        device::check_kernels(tch::Device::Cuda(*g))?;
    }
    let mut pipeline = match crate::driver::load(&a.file, &a.sets) {
        Ok(p) => p,
        Err(report) => {
            eprintln!("{report:?}");
            return Ok(ExitCode::from(1));
        }
    };
    // Why the errors are dropped: a data set that cannot be read fails each
    // of its cells when prepared, with the full diagnostic there.
    let _unreadable = crate::data::fill_content_keys(&mut pipeline);
    let sweeps = select(&pipeline, a.sweep.as_deref(), a.cell.as_deref())?;
    let cells: Vec<&Cell> = sweeps
        .iter()
        .flat_map(|s| s.cells.iter())
        .filter(|c| a.cell.as_deref().is_none_or(|id| c.id == id))
        .collect();
    // Why before Slurm too: there a missing file would otherwise surface
    // only after the array tasks have waited in the queue.
    if let Some(err) = missing_weights(&a.out, &cells) {
        eprintln!("{:?}", miette::Report::new(err));
        return Ok(ExitCode::from(1));
    }
    if a.on == crate::options::Backend::Local
        && dist.is_none()
        && (a.nodes != 1 || a.gpus_per_node.is_some())
    {
        return Err(ExecError::Ddp {
            reason: "--nodes and --gpus-per-node place the ranks of a Slurm job".into(),
            help: format!(
                "add `--on slurm`, or on this machine use `--ddp {}`",
                a.gpus_per_node.unwrap_or(a.ddp.max(2))
            ),
        }
        .into());
    }
    let world = dist.as_ref().map_or(a.world_size(), |d| d.world);
    if world > 1 {
        // Why before anything starts: a batch that does not split would
        // fail every rank of every cell after the data is prepared.
        if let Some(c) = cells.iter().find(|c| c.recipe.rank_share(world).is_none()) {
            return Err(ExecError::Ddp {
                reason: format!(
                    "cell `{}` has a global batch of {} (batch × accumulate), which does not split over {world} ranks",
                    c.id,
                    c.recipe.effective_batch()
                ),
                help: format!(
                    "use a batch divisible by {world} (e.g. `--set recipe.{}.batch={}`), or another number of ranks",
                    c.recipe.name,
                    (c.recipe.batch as usize).div_ceil(world) * world
                ),
            }
            .into());
        }
    }
    if a.on == crate::options::Backend::Slurm {
        return crate::exec::slurm::submit(a, &sweeps, &cells);
    }
    let is_child = std::env::var_os(CHILD_ENV).is_some();
    // Why here: before, nothing is worth a checkpoint and the default
    // action (exit at once) is what Ctrl-C should do.
    signals::install(a.cell.is_some(), is_child).map_err(ExecError::io("signal handlers"))?;
    if is_child && !signals::child_setup() {
        eprintln!("exp: the parent exp run is gone; not starting");
        return Ok(ExitCode::from(signals::exit_status(libc::SIGTERM) as u8));
    }
    // Tidy what dead writers left where no single lock covers the writers.
    for d in [
        crate::exec::store::stages_dir(&a.out),
        a.out.join(".exp").join("slurm"),
    ] {
        atomic::remove_stale_temps(&d, false);
    }
    for s in &sweeps {
        write_sweep_json_locked(&a.out, s)?;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let slots = if a.gpus.is_empty() {
        a.jobs.max(1)
    } else {
        a.gpus.len()
    };
    let ranks = if dist.is_some() { 1 } else { a.ddp.max(1) };
    // Loader threads: the cores shared by every process that trains at once.
    let procs = if a.gpus.is_empty() {
        slots * ranks
    } else {
        a.gpus.len()
    };
    let workers = a.workers.unwrap_or((cores / procs.max(1)).max(1));
    crate::models::runtime::set_deterministic(a.deterministic);
    let opts = TrainOptions {
        device,
        deterministic: a.deterministic,
        workers,
        progress: std::io::stderr().is_terminal(),
        tb_every: a.tb_every,
        cuda_graphs: !a.no_cuda_graphs,
        dist: dist.clone(),
    };
    if let Some(spec) = dist.as_ref().filter(|d| d.rank > 0) {
        return Ok(super::ddp::follow(spec, &cells, opts, &a.out));
    }
    let exec = Libtorch { opts };
    let runner = Runner::new(&exec, &a.out);
    println!(
        "exp run: {} cell(s) in {} sweep(s) on {} → {}",
        cells.len(),
        sweeps.len(),
        device::to_arg(device),
        a.out.display()
    );

    let data_parallel = dist.is_none() && a.ddp > 1;
    let reports = if data_parallel || (slots > 1 && cells.len() > 1) {
        let (cached, todo): (Vec<&Cell>, Vec<&Cell>) =
            cells.iter().copied().partition(|c| runner.is_cached(c));
        let mut reports: Vec<CellReport> = cached
            .iter()
            .map(|c| {
                let dir = outputs::cell_dir(&a.out, c);
                tidy_cell_dir(&dir);
                let r = CellReport {
                    cell: c.id.clone(),
                    status: CellStatus::Cached,
                    top1: outputs::read_scores(&dir).and_then(|s| s.top1),
                    message: None,
                };
                print_report_line(&r, 0.0);
                r
            })
            .collect();
        let devices: Vec<Vec<String>> = if data_parallel {
            let visible = if device.is_cuda() && a.gpus.is_empty() {
                device::cuda_count()
            } else {
                a.gpus.len()
            };
            super::ddp::slots(a.ddp, a.jobs, &a.gpus, device, visible)?
        } else if a.gpus.is_empty() {
            vec![vec![device::to_arg(device)]; slots]
        } else {
            a.gpus.iter().map(|g| vec![format!("cuda:{g}")]).collect()
        };
        reports.extend(run_children(a, &a.out, &todo, &devices, workers)?);
        reports
    } else {
        let mut started = Instant::now();
        runner.run_all(&cells, |r| {
            print_report_line(r, started.elapsed().as_secs_f64());
            started = Instant::now();
        })
    };

    let stopped = signals::stop_signal();
    if stopped == Some(libc::SIGUSR1) {
        return Ok(requeue_after_usr1(&reports));
    }
    if !is_child {
        for s in &sweeps {
            if let Some(table) = finalize_sweep(&a.out, s)? {
                println!("\n{table}");
            }
            println!(
                "results: {}",
                outputs::sweep_dir(&a.out, &s.name)
                    .join("results.csv")
                    .display()
            );
        }
        let mut line = summary_line(&reports);
        if reports.len() < cells.len() {
            line.push_str(&format!(", {} not started", cells.len() - reports.len()));
        }
        println!("{line}");
    }
    if let Some(sig) = stopped {
        let n = reports
            .iter()
            .filter(|r| r.status == CellStatus::Interrupted)
            .count();
        eprintln!(
            "exp: stopped by {}: {n} cell(s) interrupted (they resume from their checkpoints), {} not started\nresume with: {}",
            signals::signal_name(sig),
            cells.len() - reports.len(),
            crate::exec::hints::run_command(a)
        );
        return Ok(ExitCode::from(signals::exit_status(sig) as u8));
    }
    let failed = reports.iter().any(|r| r.status == CellStatus::Failed);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// After SIGUSR1 (a Slurm task near its time limit, or `scancel
/// --signal=USR1`): the cell stopped with a checkpoint; let the watcher
/// requeue the Slurm task, or outside Slurm exit with status 138.
fn requeue_after_usr1(reports: &[CellReport]) -> ExitCode {
    for r in reports
        .iter()
        .filter(|r| r.status == CellStatus::Interrupted)
    {
        eprintln!(
            "exp: {}: {}; `exp run` resumes from it",
            r.cell,
            r.message.as_deref().unwrap_or("stopped")
        );
    }
    signals::checkpointed();
    if std::env::var_os("SLURM_JOB_ID").is_some() {
        // Why wait here: the watcher thread requeues the task and exits the
        // process; nothing of this run is left to write.
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
    ExitCode::from(signals::REQUEUED_EXIT as u8)
}
