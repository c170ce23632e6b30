//! Device-side switches tch does not expose — deterministic algorithms, bf16
//! autocast on CUDA, channels-last memory format — reached through the small
//! C++ shim in `csrc/shim.cpp` (compiled by `build.rs` against libtorch's
//! headers).

use std::ffi::{c_char, c_int, c_void, CStr};
use tch::{nn, Tensor};

/// c10's `ScalarType::BFloat16`.
const SCALAR_TYPE_BF16: c_int = 15;
/// c10's `ScalarType::Half`.
const SCALAR_TYPE_F16: c_int = 5;

/// The half-precision dtype of an autocast region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Half {
    Bf16,
    F16,
}

impl Half {
    fn scalar_type(self) -> c_int {
        match self {
            Half::Bf16 => SCALAR_TYPE_BF16,
            Half::F16 => SCALAR_TYPE_F16,
        }
    }
}

// The C-side tensor type is `at::Tensor`, the same object tch's raw pointers
// point at.
extern "C" {
    fn exp_shim_free_error(err: *mut c_char);
    fn exp_shim_set_deterministic(on: c_int) -> *mut c_char;
    fn exp_shim_deterministic_enabled() -> c_int;
    fn exp_shim_autocast_enter(
        dtype: c_int,
        prev_enabled: *mut c_int,
        prev_dtype: *mut c_int,
    ) -> *mut c_char;
    fn exp_shim_amp_unscale(
        grads: *const *const c_void,
        n: i64,
        found_inf: *mut c_void,
        inv_scale: *const c_void,
    ) -> *mut c_char;
    fn exp_shim_autocast_exit(prev_enabled: c_int, prev_dtype: c_int) -> *mut c_char;
    fn exp_shim_autocast_enabled_cuda() -> c_int;
    fn exp_shim_autocast_dtype_cuda() -> c_int;
    fn exp_shim_channels_last(t: *const c_void, out: *mut *mut c_void) -> *mut c_char;
    fn exp_shim_is_channels_last(t: *const c_void) -> c_int;
    fn exp_shim_empty_u8(
        dims: *const i64,
        ndims: i64,
        pinned: c_int,
        out: *mut *mut c_void,
    ) -> *mut c_char;
    fn exp_shim_clear_grads(ts: *const *const c_void, n: i64) -> *mut c_char;
    fn exp_shim_fused_sgd(
        params: *const *const c_void,
        grads: *const *const c_void,
        bufs: *const *const c_void,
        n: i64,
        lr: f64,
        lr_t: *const c_void,
        weight_decay: f64,
        momentum: f64,
        nesterov: c_int,
        first_step: c_int,
    ) -> *mut c_char;
    fn exp_shim_rmsprop(
        params: *const *const c_void,
        grads: *const *const c_void,
        square_avgs: *const *const c_void,
        bufs: *const *const c_void,
        n: i64,
        lr: f64,
        lr_t: *const c_void,
        alpha: f64,
        eps: f64,
        weight_decay: f64,
        momentum: f64,
        tf_style: c_int,
    ) -> *mut c_char;
    fn exp_shim_fused_adam(
        params: *const *const c_void,
        grads: *const *const c_void,
        exp_avgs: *const *const c_void,
        exp_avg_sqs: *const *const c_void,
        steps: *const *const c_void,
        n: i64,
        lr: f64,
        lr_t: *const c_void,
        beta1: f64,
        beta2: f64,
        weight_decay: f64,
        eps: f64,
        decoupled: c_int,
    ) -> *mut c_char;
}

/// Turn a shim error string into a `Result`, freeing it.
pub(crate) fn check(err: *mut c_char) -> Result<(), String> {
    if err.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null return is a NUL-terminated string malloc'ed by the
    // shim, freed exactly once here.
    let msg = unsafe { CStr::from_ptr(err) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: see above.
    unsafe { exp_shim_free_error(err) };
    Err(msg)
}

/// `torch.use_deterministic_algorithms(on)` plus cuDNN determinism (and
/// cuDNN benchmarking and TF32 for f32 CUDA matmuls/convolutions off while
/// on, both on otherwise, as timm trains). Also sets `CUBLAS_WORKSPACE_CONFIG`,
/// which deterministic cuBLAS needs, unless the user set it.
pub fn try_set_deterministic(on: bool) -> Result<(), String> {
    if on && std::env::var_os("CUBLAS_WORKSPACE_CONFIG").is_none() {
        // Why here: cuBLAS reads it when its handle is created, i.e. before
        // the first CUDA matmul, which has not happened when this is called.
        std::env::set_var("CUBLAS_WORKSPACE_CONFIG", ":4096:8");
    }
    // SAFETY: plain call, no pointers.
    check(unsafe { exp_shim_set_deterministic(c_int::from(on)) })
}

/// `torch.use_deterministic_algorithms(on)` plus cuDNN determinism.
pub fn set_deterministic(on: bool) {
    if let Err(e) = try_set_deterministic(on) {
        // Why not fail: determinism is a reproducibility aid; libtorch only
        // throws here when it is built without the feature.
        eprintln!("exp: warning: cannot set deterministic algorithms: {e}");
    }
}

/// Whether deterministic algorithms are on.
pub fn deterministic_enabled() -> bool {
    // SAFETY: plain call, no pointers.
    unsafe { exp_shim_deterministic_enabled() != 0 }
}

/// Restores the CUDA autocast state on drop (also when `f` panics).
struct AutocastGuard {
    prev_enabled: c_int,
    prev_dtype: c_int,
}

impl Drop for AutocastGuard {
    fn drop(&mut self) {
        // SAFETY: plain call, no pointers.
        if let Err(e) = check(unsafe { exp_shim_autocast_exit(self.prev_enabled, self.prev_dtype) })
        {
            eprintln!("exp: warning: cannot leave autocast: {e}");
        }
    }
}

/// Run `f` under CUDA autocast with `half` (what `torch.autocast("cuda",
/// dtype=...)` does); `None` runs it as it is. CPU tensors are unaffected, so
/// on CPU this is f32 whatever `half` says.
pub fn autocast<T>(half: Option<Half>, f: impl FnOnce() -> T) -> T {
    let Some(half) = half else {
        return f();
    };
    let (mut prev_enabled, mut prev_dtype) = (0, 0);
    // SAFETY: both out-pointers point at live locals.
    if let Err(e) = check(unsafe {
        exp_shim_autocast_enter(half.scalar_type(), &mut prev_enabled, &mut prev_dtype)
    }) {
        eprintln!("exp: warning: cannot enter {half:?} autocast, running in f32: {e}");
        return f();
    }
    let _guard = AutocastGuard {
        prev_enabled,
        prev_dtype,
    };
    f()
}

/// `autocast` with bf16 when `enabled`.
pub fn autocast_bf16<T>(enabled: bool, f: impl FnOnce() -> T) -> T {
    autocast(enabled.then_some(Half::Bf16), f)
}

/// The dtype of the CUDA autocast region we are in, if any (tests, logs).
pub fn autocast_active() -> Option<Half> {
    // SAFETY: plain calls, no pointers.
    let (on, dtype) = unsafe {
        (
            exp_shim_autocast_enabled_cuda() != 0,
            exp_shim_autocast_dtype_cuda(),
        )
    };
    match dtype {
        SCALAR_TYPE_BF16 if on => Some(Half::Bf16),
        SCALAR_TYPE_F16 if on => Some(Half::F16),
        _ => None,
    }
}

/// Whether CUDA autocast is on with bf16 (for tests and logs).
pub fn autocast_bf16_active() -> bool {
    autocast_active() == Some(Half::Bf16)
}

/// GradScaler's unscale step: multiply every tensor of `grads` by
/// `inv_scale` (a one-element f32 tensor) in place and set `found_inf` (a
/// one-element f32 tensor, zeroed by the caller) to 1 when any value is inf
/// or NaN — libtorch's fused `_amp_foreach_non_finite_check_and_unscale_`,
/// on CPU as on CUDA. Never synchronises with the device.
pub fn amp_unscale(
    grads: &[&Tensor],
    found_inf: &Tensor,
    inv_scale: &Tensor,
) -> Result<(), String> {
    if grads.is_empty() {
        return Ok(());
    }
    let ptrs = tensor_ptrs(grads);
    tch::no_grad(|| {
        // SAFETY: every pointer is a live at::Tensor borrowed for the call;
        // `found_inf` is written in place through its at::Tensor handle.
        check(unsafe {
            exp_shim_amp_unscale(
                ptrs.as_ptr(),
                ptrs.len() as i64,
                found_inf.as_ptr().cast_mut().cast(),
                inv_scale.as_ptr().cast(),
            )
        })
    })
}

/// A copy of an NCHW tensor in channels-last memory format (other ranks are
/// returned as they are).
pub fn to_channels_last(t: &Tensor) -> Tensor {
    let mut out: *mut c_void = std::ptr::null_mut();
    // SAFETY: `t.as_ptr()` is a live at::Tensor; `out` receives a new heap
    // at::Tensor whose ownership passes to the returned tch Tensor.
    match check(unsafe { exp_shim_channels_last(t.as_ptr().cast(), &mut out) }) {
        // SAFETY: `out` is the fresh at::Tensor the shim allocated.
        Ok(()) if !out.is_null() => unsafe { Tensor::from_ptr(out.cast()) },
        Ok(()) => t.shallow_clone(),
        Err(e) => {
            eprintln!("exp: warning: channels-last conversion failed, keeping NCHW: {e}");
            t.shallow_clone()
        }
    }
}

/// A CPU uint8 tensor of shape `dims` holding `bytes`, in page-locked
/// memory when `pinned` (for asynchronous copies to CUDA).
///
/// Why not `Tensor::from_slice`: it zero-fills the new tensor with an ATen
/// kernel first (and pinning copies it again); from a loader worker thread
/// such a kernel starts an OpenMP thread team of that thread's own, which
/// competes for the cores with the training step. Here nothing runs but one
/// `memcpy`.
pub fn u8_tensor(bytes: &[u8], dims: &[i64], pinned: bool) -> Result<Tensor, String> {
    let numel: i64 = dims.iter().product();
    if numel < 0 || numel as usize != bytes.len() {
        return Err(format!(
            "{} bytes do not fill a tensor of shape {dims:?}",
            bytes.len()
        ));
    }
    let mut out: *mut c_void = std::ptr::null_mut();
    // SAFETY: `dims` is a live slice of `ndims` values; `out` receives a new
    // heap at::Tensor whose ownership passes to the returned tch Tensor.
    check(unsafe {
        exp_shim_empty_u8(
            dims.as_ptr(),
            dims.len() as i64,
            c_int::from(pinned),
            &mut out,
        )
    })?;
    if out.is_null() {
        return Err("libtorch returned no tensor".into());
    }
    // SAFETY: `out` is the fresh at::Tensor the shim allocated.
    let t = unsafe { Tensor::from_ptr(out.cast()) };
    if !bytes.is_empty() {
        // SAFETY: the tensor is contiguous uint8 with exactly `bytes.len()`
        // elements, freshly allocated, so the ranges do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), t.data_ptr().cast::<u8>(), bytes.len());
        }
    }
    Ok(t)
}

/// Keep freed tensor buffers in the process instead of handing them back to
/// the kernel after every step. Call once, first thing in `main`.
///
/// Why: libtorch's CPU allocator is glibc's malloc. With its defaults every
/// activation larger than the (adaptive) mmap threshold is a fresh `mmap`,
/// and the heap top is trimmed whenever it shrinks, so each training step
/// page-faults its activations in again (the kernel zeroes every page). A
/// fixed 32 MiB mmap threshold (glibc's maximum), no trimming and a 64 MiB
/// top pad let the heap keep those buffers: the ConvNeXt-V2-atto forward at
/// 64 px on 2 cores went from about 84 to 74 ms (docs/benchmarks.md).
/// The cost is resident memory that stays at its peak, which a training
/// process reaches in its first step anyway.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_TRIM_THRESHOLD: c_int = -1;
        const M_TOP_PAD: c_int = -2;
        const M_MMAP_THRESHOLD: c_int = -3;
        extern "C" {
            fn mallopt(param: c_int, value: c_int) -> c_int;
        }
        // SAFETY: mallopt only sets allocator parameters; called before any
        // other thread exists.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 32 << 20);
            mallopt(M_TRIM_THRESHOLD, c_int::MAX);
            mallopt(M_TOP_PAD, 64 << 20);
        }
    }
}

/// The at::Tensor pointers of `tensors`, for a shim call taking a list.
fn tensor_ptrs(tensors: &[&Tensor]) -> Vec<*const c_void> {
    tensors.iter().map(|t| t.as_ptr().cast()).collect()
}

/// Drop the gradients of `tensors`, as `zero_grad(set_to_none=True)`.
///
/// Why not zeroing: the next backward would add its gradients into the
/// zeros (a fill and an add pass over every gradient each step); with no
/// gradient it hands its fresh buffer over. The values are identical.
pub fn clear_grads(tensors: &[&Tensor]) -> Result<(), String> {
    let ptrs = tensor_ptrs(tensors);
    // SAFETY: every pointer is a live at::Tensor borrowed for the call.
    check(unsafe { exp_shim_clear_grads(ptrs.as_ptr(), ptrs.len() as i64) })
}

/// The tensors of one fused Adam/AdamW call: a parameter group on one
/// device, of one dtype, sharing lr and weight decay.
pub struct AdamGroup<'a> {
    pub params: Vec<&'a Tensor>,
    pub grads: Vec<&'a Tensor>,
    pub exp_avgs: Vec<&'a Tensor>,
    pub exp_avg_sqs: Vec<&'a Tensor>,
    /// One-element f32 step counters on the parameters' device, incremented by the call.
    pub steps: Vec<&'a Tensor>,
}

/// The learning rate of one optimizer call: a host number baked into the
/// launch, or a device tensor the kernels read (capturable: a CUDA graph
/// replays with whatever lr the tensor holds).
#[derive(Debug, Clone, Copy)]
pub enum Lr<'a> {
    Host(f64),
    /// A 0-dim f32 tensor on the parameters' device.
    Device(&'a Tensor),
}

impl Lr<'_> {
    fn parts(self) -> (f64, *const c_void) {
        match self {
            Lr::Host(lr) => (lr, std::ptr::null()),
            Lr::Device(t) => (f64::NAN, t.as_ptr().cast()),
        }
    }
}

/// Adam/AdamW hyper-parameters of one fused call.
#[derive(Debug, Clone, Copy)]
pub struct AdamHyper<'a> {
    pub lr: Lr<'a>,
    pub beta1: f64,
    pub beta2: f64,
    pub weight_decay: f64,
    pub eps: f64,
    /// AdamW's decoupled decay (`p *= 1 − lr·wd`) rather than Adam's L2 term.
    pub decoupled: bool,
}

/// One step of `torch.optim.Adam(W)(fused=True)` over a group: the step
/// counters are incremented, then libtorch's fused kernel updates every
/// parameter and moment in a single pass per tensor. Runs under `no_grad`;
/// never synchronises with the device.
///
/// Why fused: the per-tensor update is six elementwise passes and two
/// temporaries per parameter (and on CUDA, six kernel launches); the fused
/// kernel reads and writes each tensor once.
pub fn fused_adam(group: &AdamGroup<'_>, h: AdamHyper<'_>) -> Result<(), String> {
    let n = group.params.len();
    if [
        &group.grads,
        &group.exp_avgs,
        &group.exp_avg_sqs,
        &group.steps,
    ]
    .iter()
    .any(|v| v.len() != n)
    {
        return Err("fused Adam: tensor lists of different lengths".into());
    }
    if n == 0 {
        return Ok(());
    }
    let (p, g, m, v, s) = (
        tensor_ptrs(&group.params),
        tensor_ptrs(&group.grads),
        tensor_ptrs(&group.exp_avgs),
        tensor_ptrs(&group.exp_avg_sqs),
        tensor_ptrs(&group.steps),
    );
    let (lr, lr_t) = h.lr.parts();
    tch::no_grad(|| {
        // SAFETY: every pointer is a live at::Tensor borrowed for the call;
        // the lists all have `n` entries.
        check(unsafe {
            exp_shim_fused_adam(
                p.as_ptr(),
                g.as_ptr(),
                m.as_ptr(),
                v.as_ptr(),
                s.as_ptr(),
                n as i64,
                lr,
                lr_t,
                h.beta1,
                h.beta2,
                h.weight_decay,
                h.eps,
                c_int::from(h.decoupled),
            )
        })
    })
}

/// SGD hyper-parameters of one fused call (dampening is 0).
#[derive(Debug, Clone, Copy)]
pub struct SgdHyper<'a> {
    pub lr: Lr<'a>,
    pub weight_decay: f64,
    pub momentum: f64,
    pub nesterov: bool,
    /// The buffers are new: the kernel sets them to the gradient.
    pub first_step: bool,
}

/// One step of `torch.optim.SGD(fused=True)` over a group of parameters
/// sharing device, dtype, lr and weight decay; `bufs` holds one momentum
/// buffer per parameter (ignored when `momentum == 0`). Runs under `no_grad`.
pub fn fused_sgd(
    params: &[&Tensor],
    grads: &[&Tensor],
    bufs: &[&Tensor],
    h: SgdHyper<'_>,
) -> Result<(), String> {
    let n = params.len();
    if grads.len() != n || (h.momentum != 0.0 && bufs.len() != n) {
        return Err("fused SGD: tensor lists of different lengths".into());
    }
    if n == 0 {
        return Ok(());
    }
    let (p, g, b) = (tensor_ptrs(params), tensor_ptrs(grads), tensor_ptrs(bufs));
    let (lr, lr_t) = h.lr.parts();
    tch::no_grad(|| {
        // SAFETY: every pointer is a live at::Tensor borrowed for the call;
        // `params` and `grads` have `n` entries, and so does `bufs` whenever
        // the shim reads it (momentum != 0).
        check(unsafe {
            exp_shim_fused_sgd(
                p.as_ptr(),
                g.as_ptr(),
                b.as_ptr(),
                n as i64,
                lr,
                lr_t,
                h.weight_decay,
                h.momentum,
                c_int::from(h.nesterov),
                c_int::from(h.first_step),
            )
        })
    })
}

/// RMSprop hyper-parameters of one multi-tensor call.
#[derive(Debug, Clone, Copy)]
pub struct RmsPropHyper<'a> {
    pub lr: Lr<'a>,
    pub alpha: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub momentum: f64,
    /// timm's `RMSpropTF` (ε inside the root, lr folded into the momentum buffer).
    pub tf_style: bool,
}

/// One RMSprop step over a group with multi-tensor `_foreach_*` ops
/// (torch.optim.RMSprop's `foreach` path; the same op sequence as a
/// per-tensor loop, so CPU results are identical to it). `square_avgs` and,
/// when `momentum > 0`, `bufs` hold one existing buffer per parameter. Runs
/// under `no_grad`; never synchronises with the device.
pub fn rmsprop(
    params: &[&Tensor],
    grads: &[&Tensor],
    square_avgs: &[&Tensor],
    bufs: &[&Tensor],
    h: RmsPropHyper<'_>,
) -> Result<(), String> {
    let n = params.len();
    if grads.len() != n || square_avgs.len() != n || (h.momentum > 0.0 && bufs.len() != n) {
        return Err("RMSprop: tensor lists of different lengths".into());
    }
    if n == 0 {
        return Ok(());
    }
    let (p, g, sq, b) = (
        tensor_ptrs(params),
        tensor_ptrs(grads),
        tensor_ptrs(square_avgs),
        tensor_ptrs(bufs),
    );
    let (lr, lr_t) = h.lr.parts();
    tch::no_grad(|| {
        // SAFETY: every pointer is a live at::Tensor borrowed for the call;
        // `params`, `grads` and `square_avgs` have `n` entries, and so does
        // `bufs` whenever the shim reads it (momentum > 0).
        check(unsafe {
            exp_shim_rmsprop(
                p.as_ptr(),
                g.as_ptr(),
                sq.as_ptr(),
                b.as_ptr(),
                n as i64,
                lr,
                lr_t,
                h.alpha,
                h.eps,
                h.weight_decay,
                h.momentum,
                c_int::from(h.tf_style),
            )
        })
    })
}

/// Whether `t` is contiguous in channels-last order.
pub fn is_channels_last(t: &Tensor) -> bool {
    // SAFETY: `t.as_ptr()` is a live at::Tensor.
    unsafe { exp_shim_is_channels_last(t.as_ptr().cast()) != 0 }
}

/// Whether to run convolutions in channels-last layout on `device`.
///
/// Why CUDA only: it is a cuDNN/tensor-core optimisation, and libtorch 2.11's
/// CPU backward of 1×1 convolutions on channels-last inputs (oneDNN) crashes.
pub fn use_channels_last(device: tch::Device) -> bool {
    device.is_cuda()
}

/// Put every 4-d variable of `vs` (convolution weights) in channels-last
/// layout, so cuDNN runs NHWC kernels end to end with channels-last inputs.
pub fn vs_to_channels_last(vs: &nn::VarStore) {
    tch::no_grad(|| {
        for (_, mut var) in vs.variables() {
            if var.dim() == 4 {
                let cl = to_channels_last(&var);
                var.set_data(&cl);
            }
        }
    });
}

/// The GPU architectures the linked libtorch has kernels for, as libtorch
/// reports them (`torch.cuda.get_arch_list()`, e.g. `sm_75 sm_80 ... sm_120`),
/// recorded by `build.rs` from the torch it builds against. `None` when
/// unknown (libtorch given by `LIBTORCH`, or a CPU-only build).
///
/// Why from the build: libtorch keeps this list only in its Python module;
/// the C++ library has no call that returns it.
pub fn cuda_arch_list() -> Option<Vec<String>> {
    let flags = option_env!("EXP_TORCH_CUDA_ARCHS")?;
    let archs: Vec<String> = flags
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
        .filter(|a| a.starts_with("sm_") || a.starts_with("compute_"))
        .map(str::to_string)
        .collect();
    (!archs.is_empty()).then_some(archs)
}

/// A CUDA device as the driver describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CudaDeviceInfo {
    pub name: String,
    /// Compute capability (major, minor), e.g. (6, 1) for a Pascal TITAN X.
    pub capability: (u32, u32),
}

/// Name and compute capability of CUDA device `index` (as libtorch numbers
/// them, i.e. after `CUDA_VISIBLE_DEVICES`), asked of the CUDA driver
/// (`libcuda.so.1`); `None` when there is no driver or no such device.
///
/// Why the driver API through `dlopen`: libtorch's device properties need
/// the CUDA toolkit headers to call, and the driver is present wherever a
/// GPU is usable at all.
pub fn cuda_device_info(index: usize) -> Option<CudaDeviceInfo> {
    extern "C" {
        fn dlopen(filename: *const c_char, flag: c_int) -> *mut c_void;
        fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    }
    const RTLD_NOW: c_int = 2;
    const ATTR_MAJOR: c_int = 75;
    const ATTR_MINOR: c_int = 76;
    type CuInit = unsafe extern "C" fn(u32) -> c_int;
    type CuDeviceGet = unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
    type CuAttr = unsafe extern "C" fn(*mut c_int, c_int, c_int) -> c_int;
    type CuName = unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int;
    let ordinal = c_int::try_from(index).ok()?;
    // SAFETY: dlopen/dlsym with NUL-terminated names; each symbol is cast to
    // the signature the CUDA driver API documents for it, and called with
    // pointers to live locals.
    unsafe {
        let lib = dlopen(c"libcuda.so.1".as_ptr(), RTLD_NOW);
        if lib.is_null() {
            return None;
        }
        let sym = |name: &CStr| {
            let p = dlsym(lib, name.as_ptr());
            (!p.is_null()).then_some(p)
        };
        let init: CuInit = std::mem::transmute::<*mut c_void, CuInit>(sym(c"cuInit")?);
        let get: CuDeviceGet =
            std::mem::transmute::<*mut c_void, CuDeviceGet>(sym(c"cuDeviceGet")?);
        let attr: CuAttr =
            std::mem::transmute::<*mut c_void, CuAttr>(sym(c"cuDeviceGetAttribute")?);
        let name_of: CuName = std::mem::transmute::<*mut c_void, CuName>(sym(c"cuDeviceGetName")?);
        if init(0) != 0 {
            return None;
        }
        let mut dev: c_int = 0;
        if get(&mut dev, ordinal) != 0 {
            return None;
        }
        let (mut major, mut minor) = (0, 0);
        if attr(&mut major, ATTR_MAJOR, dev) != 0 || attr(&mut minor, ATTR_MINOR, dev) != 0 {
            return None;
        }
        let mut buf = [0 as c_char; 256];
        let name = if name_of(buf.as_mut_ptr(), buf.len() as c_int, dev) == 0 {
            CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned()
        } else {
            format!("CUDA device {index}")
        };
        Some(CudaDeviceInfo {
            name,
            capability: (u32::try_from(major).ok()?, u32::try_from(minor).ok()?),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn channels_last_copy_keeps_values_and_changes_strides() {
        let t = Tensor::arange(2 * 3 * 4 * 5, (Kind::Float, Device::Cpu)).reshape([2, 3, 4, 5]);
        assert!(!is_channels_last(&t));
        let cl = to_channels_last(&t);
        assert!(is_channels_last(&cl));
        assert_eq!(cl.stride(), vec![60, 1, 15, 3]);
        assert_eq!(f64::try_from((&cl - &t).abs().max()).unwrap(), 0.0);
    }

    #[test]
    fn fp16_autocast_region_reports_its_dtype() {
        assert_eq!(autocast(Some(Half::F16), autocast_active), Some(Half::F16));
        assert_eq!(autocast_active(), None);
    }

    #[test]
    fn amp_unscale_unscales_and_flags_non_finite_gradients_on_cpu() {
        let a = Tensor::from_slice(&[2.0f32, 4.0]);
        let b = Tensor::from_slice(&[8.0f32]);
        let found = Tensor::zeros([1], (Kind::Float, Device::Cpu));
        let inv = Tensor::from_slice(&[0.5f32]);
        amp_unscale(&[&a, &b], &found, &inv).unwrap();
        assert_eq!(Vec::<f32>::try_from(&a).unwrap(), [1.0, 2.0]);
        assert_eq!(Vec::<f32>::try_from(&b).unwrap(), [4.0]);
        assert_eq!(found.double_value(&[0]), 0.0);
        let c = Tensor::from_slice(&[1.0f32, f32::INFINITY]);
        amp_unscale(&[&a, &c], &found, &inv).unwrap();
        assert_eq!(found.double_value(&[0]), 1.0);
    }

    #[test]
    fn autocast_region_sets_bf16_and_restores_the_previous_state() {
        assert!(!autocast_bf16_active());
        let inside = autocast_bf16(true, autocast_bf16_active);
        assert!(inside);
        assert!(!autocast_bf16_active());
        assert!(!autocast_bf16(false, autocast_bf16_active));
    }

    #[test]
    fn deterministic_switch_round_trips() {
        set_deterministic(true);
        assert!(deterministic_enabled());
        set_deterministic(false);
        assert!(!deterministic_enabled());
    }
}
