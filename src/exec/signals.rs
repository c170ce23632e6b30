//! Signals of `exp run`: stop cleanly, never orphan a child.
//!
//! - **SIGINT / SIGTERM** (Ctrl-C, `kill`, `scancel`): the first one sets the
//!   flag returned by [`stop_flag`], which the executor hands to the trainer
//!   (`train::StopSignal`); the trainer writes a checkpoint at the next step
//!   and returns, the executor marks the cell `interrupted`, starts no other
//!   cell, prints how to resume and exits with 128 + the signal (130 / 143).
//!   A second one exits at once. Both are forwarded to the child processes
//!   of `--jobs` / `--gpus`, which do the same; the parent waits for them.
//! - **SIGUSR1** keeps its Slurm meaning, "checkpoint and requeue": Slurm
//!   sends it 90 s before the time limit (`#SBATCH --signal=USR1@90`) or on
//!   `scancel --signal=USR1`. It sets the same flag; once the executor calls
//!   [`checkpointed`], a watcher thread asks Slurm to requeue this task
//!   (`scontrol requeue $SLURM_JOB_ID`) and exits (at most
//!   [`CHECKPOINT_GRACE`] later, in case the cell is not training); the
//!   requeued task resumes from that checkpoint.
//!
//! Children run in their own process group (so a terminal's Ctrl-C reaches
//! them once, through the parent, rather than twice) and ask the kernel for
//! SIGUSR2 when the parent dies ([`crate::process::die_with_parent`]), which
//! they take as a SIGTERM, so even `kill -9` of the parent leaves nothing
//! training. Why not SIGTERM itself: the kernel sends the parent-death
//! signal again each time the child is handed to another thread of the
//! dying parent, and a second SIGTERM means "exit at once"; repeated SIGUSR2
//! are one request.

use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();
static CHECKPOINTED: AtomicBool = AtomicBool::new(false);
/// The first stop signal received (0: none yet).
static FIRST: AtomicI32 = AtomicI32::new(0);
/// Child processes to forward signals to (pids).
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Env var naming the parent's pid in a child process (see [`child_setup`]).
pub const PARENT_PID_ENV: &str = "EXP_PARENT_PID";

/// How long the watcher waits for the trainer's checkpoint before requeueing
/// anyway (Slurm's warning comes 90 s before the kill).
pub const CHECKPOINT_GRACE: Duration = Duration::from_secs(60);

/// Exit status of a task that asked to be requeued (128 + SIGUSR1).
pub const REQUEUED_EXIT: i32 = 138;

/// The flag the handlers set, for `train::StopSignal`.
pub fn stop_flag() -> Arc<AtomicBool> {
    Arc::clone(flag())
}

fn flag() -> &'static Arc<AtomicBool> {
    STOP.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// True once a stop signal arrived (stop at the next step, start nothing new).
pub fn stop_requested() -> bool {
    flag().load(Ordering::Relaxed)
}

/// The first stop signal received, if any.
pub fn stop_signal() -> Option<i32> {
    match FIRST.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// `SIGINT`, `SIGTERM`, `SIGUSR1` or `signal N`.
pub fn signal_name(sig: i32) -> String {
    match sig {
        SIGINT => "SIGINT".into(),
        SIGTERM => "SIGTERM".into(),
        SIGUSR1 => "SIGUSR1".into(),
        s => format!("signal {s}"),
    }
}

/// Exit status after stopping for `sig`: 128 + the signal, as a shell reports it.
pub fn exit_status(sig: i32) -> i32 {
    128 + sig
}

/// Called once the executor stopped (with a checkpoint when it was training)
/// after SIGUSR1: lets the watcher requeue the Slurm task.
pub fn checkpointed() {
    CHECKPOINTED.store(true, Ordering::SeqCst);
}

/// Install the handlers of `exp run`: SIGINT and SIGTERM always, SIGUSR1
/// when `usr1` (a `--cell` run, i.e. a Slurm task or a `--jobs` child) and,
/// inside a Slurm job, the requeue watcher; the parent-death signal in a
/// child of `--jobs` (`child`). One call per process.
pub fn install(usr1: bool, child: bool) -> std::io::Result<()> {
    let mut wanted = vec![SIGINT, SIGTERM];
    if usr1 {
        wanted.push(SIGUSR1);
    }
    if child {
        wanted.push(SIGUSR2);
    }
    let mut signals = signal_hook::iterator::Signals::new(&wanted)?;
    std::thread::Builder::new()
        .name("exp-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                on_signal(sig);
            }
        })?;
    if usr1 {
        if let Ok(job) = std::env::var("SLURM_JOB_ID") {
            std::thread::Builder::new()
                .name("exp-usr1".into())
                .spawn(move || requeue_watcher(&job))?;
        }
    }
    Ok(())
}

fn on_signal(sig: i32) {
    if sig == SIGUSR2 {
        // The parent died: stop as for SIGTERM, however often it comes.
        if FIRST
            .compare_exchange(0, SIGTERM, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            flag().store(true, Ordering::SeqCst);
            eprintln!(
                "exp: the parent exp run is gone: stopping at the next step with a checkpoint"
            );
        }
        return;
    }
    let first = FIRST
        .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok();
    if first {
        flag().store(true, Ordering::SeqCst);
        if sig != SIGUSR1 {
            let again = if sig == SIGINT {
                "Ctrl-C".to_string()
            } else {
                signal_name(sig)
            };
            eprintln!(
                "exp: {} received: stopping at the next step with a checkpoint (a second {again} exits at once)",
                signal_name(sig)
            );
        }
        forward(sig);
        return;
    }
    if sig == SIGUSR1 {
        return;
    }
    // Why forward again: the children exit at once too rather than finish
    // their step; a child that outlived us would get SIGTERM from the kernel.
    forward(sig);
    eprintln!("exp: second {}: exiting now", signal_name(sig));
    signal_hook::low_level::exit(exit_status(sig));
}

fn forward(sig: i32) {
    let kids = CHILDREN.lock().unwrap_or_else(|p| p.into_inner());
    for &pid in kids.iter() {
        crate::process::send_signal(pid, sig);
    }
}

fn requeue_watcher(job: &str) {
    loop {
        if FIRST.load(Ordering::SeqCst) == SIGUSR1 {
            let asked = std::time::Instant::now();
            while !CHECKPOINTED.load(Ordering::SeqCst) && asked.elapsed() < CHECKPOINT_GRACE {
                std::thread::sleep(Duration::from_millis(100));
            }
            eprintln!("exp: SIGUSR1 received: requeueing Slurm job {job}; the requeued task resumes from the latest checkpoint");
            match std::process::Command::new("scontrol")
                .args(["requeue", job])
                .status()
            {
                Ok(s) if s.success() => std::process::exit(REQUEUED_EXIT),
                Ok(s) => eprintln!(
                    "exp: `scontrol requeue {job}` failed ({s}); continuing until the time limit"
                ),
                Err(e) => {
                    eprintln!("exp: cannot run scontrol ({e}); continuing until the time limit")
                }
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Start a child process of `--jobs` / `--gpus`: in its own process group,
/// told its parent's pid, and registered for signal forwarding. `Ok(None)`
/// once a stop was requested (nothing new starts). Call [`child_ended`] after
/// waiting for it.
pub fn spawn_child(cmd: &mut Command) -> std::io::Result<Option<Child>> {
    use std::os::unix::process::CommandExt;
    // Why under the lock: a signal arriving between the check and the
    // registration would otherwise miss this child.
    let mut kids = CHILDREN.lock().unwrap_or_else(|p| p.into_inner());
    if stop_requested() {
        return Ok(None);
    }
    cmd.process_group(0)
        .env(PARENT_PID_ENV, std::process::id().to_string());
    let child = cmd.spawn()?;
    kids.push(child.id());
    Ok(Some(child))
}

/// Stop forwarding signals to `pid` (it was waited for).
pub fn child_ended(pid: u32) {
    CHILDREN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|&p| p != pid);
}

/// In a child process: ask for SIGUSR2 when the parent dies. Returns false
/// when the parent is already gone (then the child should not start).
pub fn child_setup() -> bool {
    let Some(parent) = std::env::var(PARENT_PID_ENV)
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
    else {
        return true;
    };
    crate::process::die_with_parent(SIGUSR2, parent)
}
