//! torch.distributed (c10d) through the C++ shim (`csrc/dist.cpp`): the
//! process group one data-parallel cell trains in, libtorch's DDP reducer,
//! and SyncBatchNorm. docs/distributed.md describes the whole design.
//!
//! One process trains one cell, so the group is also published process-wide
//! ([`active`]) for the one layer that needs it inside a forward pass:
//! batch norm under `sync_bn = true`.

use crate::models::runtime::check;
use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::{Arc, Mutex};
use tch::Tensor;

extern "C" {
    fn exp_dist_init(
        host: *const c_char,
        port: c_int,
        rank: c_int,
        world: c_int,
        cuda: c_int,
        loopback: c_int,
        timeout_ms: i64,
        out: *mut *mut c_void,
    ) -> *mut c_char;
    fn exp_dist_free(d: *mut c_void);
    fn exp_dist_broadcast(
        d: *mut c_void,
        ts: *const *const c_void,
        n: i64,
        root: c_int,
    ) -> *mut c_char;
    fn exp_dist_allreduce(
        d: *mut c_void,
        ts: *const *const c_void,
        n: i64,
        op: c_int,
    ) -> *mut c_char;
    fn exp_dist_reducer_new(
        d: *mut c_void,
        params: *const *const c_void,
        n: i64,
        out: *mut *mut c_void,
    ) -> *mut c_char;
    fn exp_dist_reducer_free(r: *mut c_void);
    fn exp_dist_reducer_pre_forward(r: *mut c_void) -> *mut c_char;
    fn exp_dist_reducer_pre_backward(r: *mut c_void) -> *mut c_char;
    fn exp_dist_reducer_timings(
        r: *mut c_void,
        compute: *mut i64,
        comm: *mut i64,
        overlap: *mut i64,
    );
    #[allow(clippy::too_many_arguments)]
    fn exp_dist_sync_batch_norm(
        d: *mut c_void,
        x: *const c_void,
        weight: *const c_void,
        bias: *const c_void,
        running_mean: *const c_void,
        running_var: *const c_void,
        momentum: f64,
        eps: f64,
        out: *mut *mut c_void,
    ) -> *mut c_char;
}

/// Where this process sits in a data-parallel cell (from the launcher's
/// environment, `exec::ddp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistSpec {
    pub rank: usize,
    pub world: usize,
    /// Rank 0's host, which serves the rendezvous store.
    pub master_addr: String,
    pub master_port: u16,
    /// How long a collective (and the rendezvous) may wait for the others.
    pub timeout_s: u64,
}

impl DistSpec {
    /// Every rank on this machine: Gloo then talks over 127.0.0.1.
    pub fn loopback(&self) -> bool {
        matches!(self.master_addr.as_str(), "127.0.0.1" | "localhost" | "::1")
    }
}

fn tensor_ptrs(ts: &[&Tensor]) -> Vec<*const c_void> {
    ts.iter().map(|t| t.as_ptr().cast()).collect()
}

/// A joined process group: Gloo for CPU tensors, NCCL for CUDA tensors.
pub struct Group {
    raw: *mut c_void,
    pub rank: usize,
    pub world: usize,
    pub sync_bn: bool,
}

// SAFETY: c10d process groups are made to be called from any thread (torch
// DDP's reducer calls them from autograd threads); exp issues collectives
// from one thread at a time.
unsafe impl Send for Group {}
// SAFETY: see above.
unsafe impl Sync for Group {}

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: `raw` came from exp_dist_init and is freed once.
        unsafe { exp_dist_free(self.raw) };
    }
}

impl Group {
    /// Rendezvous with the other ranks (rank 0 serves the store) and build
    /// the group; `cuda` adds NCCL for CUDA tensors; `sync_bn` makes batch
    /// norm synchronise over it while [`Activation`] publishes it.
    pub fn join(spec: &DistSpec, cuda: bool, sync_bn: bool) -> Result<Group, String> {
        let host = CString::new(spec.master_addr.clone())
            .map_err(|_| format!("bad rendezvous host `{}`", spec.master_addr))?;
        let mut raw: *mut c_void = std::ptr::null_mut();
        let timeout_ms = (spec.timeout_s.max(1) * 1000) as i64;
        // SAFETY: `host` outlives the call; `raw` receives an owned handle.
        check(unsafe {
            exp_dist_init(
                host.as_ptr(),
                c_int::from(spec.master_port),
                spec.rank as c_int,
                spec.world as c_int,
                c_int::from(cuda),
                c_int::from(spec.loopback()),
                timeout_ms,
                &mut raw,
            )
        })
        .map_err(|e| {
            format!(
                "rank {} of {} could not join the group at {}:{}: {e}",
                spec.rank, spec.world, spec.master_addr, spec.master_port
            )
        })?;
        Ok(Group {
            raw,
            rank: spec.rank,
            world: spec.world,
            sync_bn,
        })
    }

    fn failed(&self, what: &str, e: String) -> String {
        format!(
            "rank {} of {}: {what} with the other ranks failed (is a rank gone? see its run.rank*.log): {e}",
            self.rank, self.world
        )
    }

    /// Overwrite `ts` everywhere with rank `root`'s values.
    pub fn broadcast(&self, ts: &[&Tensor], root: usize) -> Result<(), String> {
        let ptrs = tensor_ptrs(ts);
        // SAFETY: `ptrs` are live at::Tensor pointers for the call.
        check(unsafe {
            exp_dist_broadcast(self.raw, ptrs.as_ptr(), ptrs.len() as i64, root as c_int)
        })
        .map_err(|e| self.failed("a broadcast", e))
    }

    /// Sum `ts` (one dtype and device) over the ranks, in place.
    pub fn all_reduce_sum(&self, ts: &[&Tensor]) -> Result<(), String> {
        self.all_reduce(ts, 0)
    }

    /// The maximum of `ts` over the ranks, in place.
    pub fn all_reduce_max(&self, ts: &[&Tensor]) -> Result<(), String> {
        self.all_reduce(ts, 1)
    }

    fn all_reduce(&self, ts: &[&Tensor], op: c_int) -> Result<(), String> {
        let ptrs = tensor_ptrs(ts);
        // SAFETY: `ptrs` are live at::Tensor pointers for the call.
        check(unsafe { exp_dist_allreduce(self.raw, ptrs.as_ptr(), ptrs.len() as i64, op) })
            .map_err(|e| self.failed("an all-reduce", e))
    }

    /// Whether any rank has `flag` set (one small all-reduce).
    pub fn any(&self, flags: &[bool]) -> Result<Vec<bool>, String> {
        let v: Vec<i64> = flags.iter().map(|&f| i64::from(f)).collect();
        let t = Tensor::from_slice(&v);
        self.all_reduce_max(&[&t])?;
        let mut out = vec![0i64; v.len()];
        t.copy_data(&mut out, v.len());
        Ok(out.into_iter().map(|x| x != 0).collect())
    }

    /// Batch norm (training) with statistics over all ranks' samples; the
    /// running statistics are updated in place, identically on every rank.
    #[allow(clippy::too_many_arguments)]
    pub fn sync_batch_norm(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        running_mean: &Tensor,
        running_var: &Tensor,
        momentum: f64,
        eps: f64,
    ) -> Result<Tensor, String> {
        let mut out: *mut c_void = std::ptr::null_mut();
        // SAFETY: live at::Tensor pointers; `out` receives a new tensor
        // whose ownership passes to the returned tch Tensor.
        check(unsafe {
            exp_dist_sync_batch_norm(
                self.raw,
                x.as_ptr().cast(),
                weight.as_ptr().cast(),
                bias.as_ptr().cast(),
                running_mean.as_ptr().cast(),
                running_var.as_ptr().cast(),
                momentum,
                eps,
                &mut out,
            )
        })
        .map_err(|e| self.failed("SyncBatchNorm", e))?;
        // SAFETY: `out` is the fresh at::Tensor the shim allocated.
        Ok(unsafe { Tensor::from_ptr(out.cast()) })
    }
}

/// Average backward timings of the sampled steps (torch DDP's logger).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Overlap {
    pub backward_ms: f64,
    pub all_reduce_ms: f64,
    /// Time the all-reduce ran while the backward still computed.
    pub overlapped_ms: f64,
}

impl Overlap {
    /// Share of the all-reduce hidden behind the backward pass.
    pub fn hidden(&self) -> f64 {
        if self.all_reduce_ms > 0.0 {
            (self.overlapped_ms / self.all_reduce_ms).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// libtorch's DDP reducer over one phase's trainable parameters: their
/// gradients are averaged over the ranks in buckets, each all-reduced as
/// soon as its gradients are ready while the backward pass goes on.
pub struct Reducer {
    raw: *mut c_void,
    /// Keeps the group alive as long as the reducer uses it.
    _group: Arc<Group>,
}

impl Drop for Reducer {
    fn drop(&mut self) {
        // SAFETY: `raw` came from exp_dist_reducer_new and is freed once.
        unsafe { exp_dist_reducer_free(self.raw) };
    }
}

impl Reducer {
    pub fn new(group: &Arc<Group>, params: &[&Tensor]) -> Result<Reducer, String> {
        let ptrs = tensor_ptrs(params);
        let mut raw: *mut c_void = std::ptr::null_mut();
        // SAFETY: live at::Tensor pointers; `raw` receives an owned handle.
        check(unsafe {
            exp_dist_reducer_new(group.raw, ptrs.as_ptr(), ptrs.len() as i64, &mut raw)
        })?;
        Ok(Reducer {
            raw,
            _group: Arc::clone(group),
        })
    }

    /// Before the forward pass whose backward all-reduces.
    pub fn pre_forward(&self) -> Result<(), String> {
        // SAFETY: `raw` is live.
        check(unsafe { exp_dist_reducer_pre_forward(self.raw) })
    }

    /// Between that forward and its backward.
    pub fn pre_backward(&self) -> Result<(), String> {
        // SAFETY: `raw` is live.
        check(unsafe { exp_dist_reducer_pre_backward(self.raw) })
    }

    pub fn overlap(&self) -> Option<Overlap> {
        let (mut compute, mut comm, mut overlap) = (-1i64, -1i64, -1i64);
        // SAFETY: `raw` is live; the outputs are plain integers.
        unsafe { exp_dist_reducer_timings(self.raw, &mut compute, &mut comm, &mut overlap) };
        if compute <= 0 || comm < 0 || overlap < 0 {
            return None;
        }
        let ms = |ns: i64| ns as f64 / 1e6;
        Some(Overlap {
            backward_ms: ms(compute),
            all_reduce_ms: ms(comm),
            overlapped_ms: ms(overlap),
        })
    }
}

static ACTIVE: Mutex<Option<Arc<Group>>> = Mutex::new(None);
static FAILURE: Mutex<Option<String>> = Mutex::new(None);

/// Keep the first collective failure seen where no error can be returned
/// (inside a forward pass); [`take_failure`] hands it to the training loop.
pub fn record_failure(e: String) {
    FAILURE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert(e);
}

pub fn take_failure() -> Option<String> {
    FAILURE.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// The group batch norm synchronises over, while a `sync_bn` cell trains.
pub fn active() -> Option<Arc<Group>> {
    ACTIVE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .filter(|g| g.sync_bn && g.world > 1)
        .cloned()
}

/// Publishes a group for [`active`] until dropped.
pub struct Activation;

impl Activation {
    pub fn new(group: &Arc<Group>) -> Activation {
        *ACTIVE.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(group));
        Activation
    }
}

impl Drop for Activation {
    fn drop(&mut self) {
        *ACTIVE.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}
