//! SIGUSR1 as "checkpoint and requeue" for Slurm tasks.
//!
//! Slurm sends USR1 90 s before the time limit (`#SBATCH --signal=USR1@90`)
//! or when a user runs `scancel --signal=USR1`. The signal handler sets the
//! flag returned by [`stop_flag`], which the executor hands to the trainer
//! (`train::StopSignal`): the trainer writes a checkpoint at the next step
//! and returns, and the executor calls [`checkpointed`]. A watcher thread
//! waits for that (at most [`CHECKPOINT_GRACE`], in case the cell is not
//! training but preparing or scoring), asks Slurm to requeue this task
//! (`scontrol requeue $SLURM_JOB_ID`) and exits; the requeued task starts
//! `exp run --cell` again, which resumes from that checkpoint.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();
static CHECKPOINTED: AtomicBool = AtomicBool::new(false);

/// How long the watcher waits for the trainer's checkpoint before requeueing
/// anyway (Slurm's warning comes 90 s before the kill).
pub const CHECKPOINT_GRACE: Duration = Duration::from_secs(60);

/// The flag the SIGUSR1 handler sets, for `train::StopSignal`.
pub fn stop_flag() -> Arc<AtomicBool> {
    Arc::clone(flag())
}

/// Called once the trainer stopped with a checkpoint after SIGUSR1.
pub fn checkpointed() {
    CHECKPOINTED.store(true, Ordering::SeqCst);
}

fn flag() -> &'static Arc<AtomicBool> {
    STOP.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// True once SIGUSR1 arrived (for the trainer: stop at the next step).
pub fn stop_requested() -> bool {
    flag().load(Ordering::Relaxed)
}

/// Install the USR1 handler and, inside a Slurm job, the requeue watcher.
/// Idempotent enough for one call per process.
pub fn install_requeue_on_usr1() -> std::io::Result<()> {
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, Arc::clone(flag()))?;
    let Ok(job) = std::env::var("SLURM_JOB_ID") else {
        return Ok(());
    };
    std::thread::Builder::new().name("exp-usr1".into()).spawn(move || loop {
        if stop_requested() {
            let asked = std::time::Instant::now();
            while !CHECKPOINTED.load(Ordering::SeqCst) && asked.elapsed() < CHECKPOINT_GRACE {
                std::thread::sleep(Duration::from_millis(100));
            }
            eprintln!("exp: SIGUSR1 received: requeueing Slurm job {job}; the requeued task resumes from the latest checkpoint");
            match std::process::Command::new("scontrol").args(["requeue", &job]).status() {
                Ok(s) if s.success() => std::process::exit(REQUEUED_EXIT),
                Ok(s) => eprintln!("exp: `scontrol requeue {job}` failed ({s}); continuing until the time limit"),
                Err(e) => eprintln!("exp: cannot run scontrol ({e}); continuing until the time limit"),
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    })?;
    Ok(())
}

/// Exit status of a task that asked to be requeued (128 + SIGUSR1).
pub const REQUEUED_EXIT: i32 = 138;
