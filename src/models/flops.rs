//! Forward FLOPs per image of a zoo model, counted by one forward pass of a
//! single image through the zoo's own layers: while counting is on, every
//! convolution, dense layer and attention adds 2 × its multiply-adds to a
//! thread-local counter (norms, activations and pooling are not counted, as
//! in the usual MFU convention). Plus the bf16 dense peak of known GPUs, for
//! MFU = training FLOPs per image × img/s ÷ peak (docs/benchmarks.md).

use super::BakeoffModel;
use std::cell::Cell;
use tch::{Device, Kind, Tensor};

thread_local! {
    static COUNT: Cell<Option<f64>> = const { Cell::new(None) };
}

/// Whether a count is running on this thread (the layers skip the
/// arithmetic otherwise).
pub(crate) fn counting() -> bool {
    COUNT.with(|c| c.get().is_some())
}

/// Add `flops` to the running count, if any.
pub(crate) fn add(flops: f64) {
    COUNT.with(|c| {
        if let Some(n) = c.get() {
            c.set(Some(n + flops));
        }
    });
}

/// FLOPs of a dense or convolution output `out` whose every element took
/// `macs_per_output` multiply-adds.
pub(crate) fn add_output(out: &Tensor, macs_per_output: i64) {
    if counting() {
        add(2.0 * out.numel() as f64 * macs_per_output as f64);
    }
}

/// Forward FLOPs of one `image_size` image (and `metadata_dim` metadata
/// values) through `model`, whose variables live on `device`.
pub fn forward_flops_per_image(
    model: &BakeoffModel,
    image_size: u32,
    metadata_dim: i64,
    device: Device,
) -> f64 {
    let s = i64::from(image_size);
    let x = Tensor::zeros([1, 3, s, s], (Kind::Float, device));
    let m = Tensor::zeros([1, metadata_dim], (Kind::Float, device));
    COUNT.with(|c| c.set(Some(0.0)));
    tch::no_grad(|| {
        let _ = model.forward(&x, &m, false, false);
    });
    COUNT.with(|c| c.take()).unwrap_or(0.0)
}

/// Training FLOPs per image: forward and backward (≈ 2 × forward) in the
/// finetune phase; the forward alone in the frozen phase, whose backward
/// stops at the head.
pub fn train_flops_per_image(forward: f64, frozen: bool) -> f64 {
    if frozen {
        forward
    } else {
        3.0 * forward
    }
}

/// Dense bf16 tensor-core peak (TFLOP/s, no sparsity) of a GPU by its CUDA
/// device name; `None` for GPUs not in the table (docs/benchmarks.md).
pub fn bf16_peak_tflops(device_name: &str) -> Option<f64> {
    // Why most specific first: "H100 PCIe" must not match the SXM entry.
    const TABLE: &[(&str, f64)] = &[
        ("GB200", 2500.0),
        ("B200", 2250.0),
        ("GH200", 989.4),
        ("H200", 989.4),
        ("H100 PCIE", 756.0),
        ("H100 NVL", 835.5),
        ("H100", 989.4),
        ("H800", 989.4),
        ("A100", 312.0),
        ("A800", 312.0),
        ("L40S", 362.1),
        ("L40", 181.0),
        ("L4", 121.0),
        ("A40", 149.7),
        ("A10G", 70.0),
        ("A10", 125.0),
        ("RTX 6000 ADA", 364.2),
        ("RTX 4090", 165.2),
        ("RTX 3090", 71.0),
        ("A6000", 154.8),
    ];
    let name = device_name.to_uppercase();
    TABLE
        .iter()
        .find(|(key, _)| name.contains(key))
        .map(|&(_, peak)| peak)
}

/// Model FLOPs utilisation of `img_per_s` images per second at
/// `flops_per_image` training FLOPs each on a GPU of `peak_tflops`.
pub fn mfu(flops_per_image: f64, img_per_s: f64, peak_tflops: f64) -> f64 {
    flops_per_image * img_per_s / (peak_tflops * 1e12)
}
