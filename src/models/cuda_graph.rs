//! A CUDA graph (libtorch's `at::cuda::CUDAGraph`) through the C++ shim
//! (`csrc/cuda_graph.cpp`). Builds without the CUDA runtime headers have
//! the type but every call fails with "CUDA graphs unavailable in this
//! build"; `built()` says which build this is.

use super::runtime::check;
use std::ffi::{c_char, c_int, c_void};
use std::panic::AssertUnwindSafe;

extern "C" {
    fn exp_shim_cuda_graphs_built() -> c_int;
    fn exp_shim_graph_new(out: *mut *mut c_void) -> *mut c_char;
    fn exp_shim_graph_free(g: *mut c_void);
    fn exp_shim_graph_side_begin(g: *mut c_void) -> *mut c_char;
    fn exp_shim_graph_side_end(g: *mut c_void) -> *mut c_char;
    fn exp_shim_graph_capture_begin(g: *mut c_void) -> *mut c_char;
    fn exp_shim_graph_capture_end(g: *mut c_void) -> *mut c_char;
    fn exp_shim_graph_replay(g: *mut c_void) -> *mut c_char;
}

/// Whether this build of exp can capture CUDA graphs at all.
pub fn built() -> bool {
    // SAFETY: no arguments, no state.
    unsafe { exp_shim_cuda_graphs_built() != 0 }
}

/// One capturable graph with its own side stream and private memory pool.
pub struct CudaGraph {
    ptr: *mut c_void,
}

impl CudaGraph {
    pub fn new() -> Result<Self, String> {
        let mut ptr = std::ptr::null_mut();
        // SAFETY: `ptr` is a live out-pointer; on success it holds a graph
        // owned by the returned value and freed in `drop`.
        check(unsafe { exp_shim_graph_new(&mut ptr) })?;
        if ptr.is_null() {
            return Err("the shim returned no CUDA graph".into());
        }
        Ok(Self { ptr })
    }

    /// Run `f` (eager warm-up steps) on the graph's side stream, waiting
    /// for the device before and after.
    pub fn on_side_stream<T>(&mut self, f: impl FnOnce() -> T) -> Result<T, String> {
        // SAFETY: `self.ptr` is a live graph (see `new`).
        check(unsafe { exp_shim_graph_side_begin(self.ptr) })?;
        let out = f();
        // SAFETY: as above.
        check(unsafe { exp_shim_graph_side_end(self.ptr) })?;
        Ok(out)
    }

    /// Record the kernels `f` launches (nothing runs) into the graph; on any
    /// error, including one `f` returns or a tch panic in `f` (an op that
    /// syncs with the host fails during capture), the partial capture is
    /// dropped and the error returned.
    pub fn capture<T>(&mut self, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
        // SAFETY: `self.ptr` is a live graph (see `new`).
        check(unsafe { exp_shim_graph_capture_begin(self.ptr) })?;
        let out = std::panic::catch_unwind(AssertUnwindSafe(f))
            .unwrap_or_else(|p| Err(panic_message(&*p)));
        // SAFETY: as above; ending also restores the previous stream.
        let end = check(unsafe { exp_shim_graph_capture_end(self.ptr) });
        let out = out?;
        end?;
        Ok(out)
    }

    /// Launch the recorded kernels again on the current stream (no host sync).
    pub fn replay(&mut self) -> Result<(), String> {
        // SAFETY: `self.ptr` is a live graph (see `new`).
        check(unsafe { exp_shim_graph_replay(self.ptr) })
    }
}

impl Drop for CudaGraph {
    fn drop(&mut self) {
        // SAFETY: `self.ptr` came from `exp_shim_graph_new` and is freed once.
        unsafe { exp_shim_graph_free(self.ptr) }
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "a panic during capture".into())
}
