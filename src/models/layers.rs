//! Building blocks shared by the backbones, each creating its variables under
//! the given path with timm's names (`weight`, `bias`, `running_mean`, ...).
//!
//! Why own layers instead of `tch::nn`'s: TF "same" padding, drop-path and a
//! `train` flag that reaches batch norm need a forward signature `tch::nn`
//! does not have for convolutions.

use tch::nn::{self, Init};
use tch::{Kind, Tensor};

/// How a convolution pads its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pad {
    /// Symmetric padding of `((stride - 1) + (k - 1)) / 2`, PyTorch's usual
    /// choice (timm's default `pad_type=''`).
    Symmetric,
    /// Explicit symmetric padding.
    Fixed(i64),
    /// TensorFlow "same": output `ceil(in / stride)`, the extra pixel on the
    /// bottom/right (timm's `pad_type='same'`).
    TfSame,
}

/// A 2-d convolution with timm's variable names.
#[derive(Debug)]
pub struct Conv2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    kernel: i64,
    stride: i64,
    groups: i64,
    pad: Pad,
}

/// Options of [`conv2d`] beyond channel counts and kernel size.
#[derive(Debug, Clone, Copy)]
pub struct ConvOpts {
    pub stride: i64,
    pub groups: i64,
    pub bias: bool,
    pub pad: Pad,
    /// Normal init with this std (timm's trunc-normal for ConvNeXt) instead
    /// of Kaiming fan-out.
    pub init_std: Option<f64>,
}

impl Default for ConvOpts {
    fn default() -> Self {
        Self {
            stride: 1,
            groups: 1,
            bias: false,
            pad: Pad::Symmetric,
            init_std: None,
        }
    }
}

pub fn conv2d(p: &nn::Path, cin: i64, cout: i64, kernel: i64, o: ConvOpts) -> Conv2d {
    // Why fan-out normal over `cout / groups`: timm's init for CNN
    // convolutions (`_init_weight_goog`; torchvision's Kaiming fan-out for
    // ungrouped ones), which keeps depthwise filters at a useful scale.
    let stdev = o.init_std.unwrap_or_else(|| {
        let fan_out = (cout / o.groups.max(1)) * kernel * kernel;
        (2.0 / fan_out.max(1) as f64).sqrt()
    });
    let init = Init::Randn { mean: 0.0, stdev };
    let weight = p.var("weight", &[cout, cin / o.groups, kernel, kernel], init);
    let bias = o.bias.then(|| p.var("bias", &[cout], Init::Const(0.0)));
    Conv2d {
        weight,
        bias,
        kernel,
        stride: o.stride,
        groups: o.groups,
        pad: o.pad,
    }
}

/// Total padding TF "same" needs along one axis of length `size`.
fn tf_same_pad(size: i64, kernel: i64, stride: i64) -> i64 {
    let out = (size + stride - 1) / stride;
    ((out - 1) * stride + kernel - size).max(0)
}

impl Conv2d {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let y = self.conv(x);
        if super::flops::counting() {
            let cin_per_group = self.weight.size().get(1).copied().unwrap_or(0);
            super::flops::add_output(&y, cin_per_group * self.kernel * self.kernel);
        }
        y
    }

    fn conv(&self, x: &Tensor) -> Tensor {
        let (k, s) = (self.kernel, self.stride);
        match self.pad {
            Pad::Symmetric => {
                let pad = ((s - 1) + (k - 1)) / 2;
                x.conv2d(
                    &self.weight,
                    self.bias.as_ref(),
                    [s, s],
                    [pad, pad],
                    [1, 1],
                    self.groups,
                )
            }
            Pad::Fixed(pad) => x.conv2d(
                &self.weight,
                self.bias.as_ref(),
                [s, s],
                [pad, pad],
                [1, 1],
                self.groups,
            ),
            Pad::TfSame => {
                let size = x.size();
                let (h, w) = (size[size.len() - 2], size[size.len() - 1]);
                let ph = tf_same_pad(h, k, s);
                let pw = tf_same_pad(w, k, s);
                // Why the static branch: symmetric padding needs no extra copy.
                if ph % 2 == 0 && pw % 2 == 0 {
                    x.conv2d(
                        &self.weight,
                        self.bias.as_ref(),
                        [s, s],
                        [ph / 2, pw / 2],
                        [1, 1],
                        self.groups,
                    )
                } else {
                    let padded = x.constant_pad_nd([pw / 2, pw - pw / 2, ph / 2, ph - ph / 2]);
                    padded.conv2d(
                        &self.weight,
                        self.bias.as_ref(),
                        [s, s],
                        [0, 0],
                        [1, 1],
                        self.groups,
                    )
                }
            }
        }
    }
}

/// Batch norm with timm's variable names; statistics update only when `train`.
#[derive(Debug)]
pub struct BatchNorm {
    inner: nn::BatchNorm,
    eps: f64,
    momentum: f64,
}

pub fn batch_norm(p: &nn::Path, dim: i64, eps: f64, momentum: f64) -> BatchNorm {
    let cfg = nn::BatchNormConfig {
        eps,
        momentum,
        ..Default::default()
    };
    BatchNorm {
        inner: nn::batch_norm2d(p, dim, cfg),
        eps,
        momentum,
    }
}

/// Batch norm whose scale starts at zero, so a residual block starts as the
/// identity (timm's `zero_init_last` for ResNets).
pub fn batch_norm_zero_gamma(p: &nn::Path, dim: i64, eps: f64, momentum: f64) -> BatchNorm {
    let cfg = nn::BatchNormConfig {
        eps,
        momentum,
        ws_init: Init::Const(0.0),
        ..Default::default()
    };
    BatchNorm {
        inner: nn::batch_norm2d(p, dim, cfg),
        eps,
        momentum,
    }
}

impl BatchNorm {
    /// Training statistics come from this rank's batch, or from every
    /// rank's under `sync_bn = true` in a data-parallel cell
    /// (`crate::dist::active`).
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        if train {
            if let (Some(g), Some(w), Some(b)) = (
                crate::dist::active(),
                self.inner.ws.as_ref(),
                self.inner.bs.as_ref(),
            ) {
                match g.sync_batch_norm(
                    x,
                    w,
                    b,
                    &self.inner.running_mean,
                    &self.inner.running_var,
                    self.momentum,
                    self.eps,
                ) {
                    Ok(y) => return y,
                    // Why not a panic: the step's gradient all-reduce fails
                    // next and ends training with this same cause.
                    Err(e) => crate::dist::record_failure(e),
                }
            }
        }
        nn::ModuleT::forward_t(&self.inner, x, train)
    }
}

/// Layer norm over the last dimension.
#[derive(Debug)]
pub struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    dim: i64,
    eps: f64,
}

pub fn layer_norm(p: &nn::Path, dim: i64, eps: f64) -> LayerNorm {
    LayerNorm {
        weight: p.var("weight", &[dim], Init::Const(1.0)),
        bias: p.var("bias", &[dim], Init::Const(0.0)),
        dim,
        eps,
    }
}

impl LayerNorm {
    /// Normalise the last dimension.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.layer_norm(
            [self.dim],
            Some(&self.weight),
            Some(&self.bias),
            self.eps,
            true,
        )
    }
    /// Normalise the channel dimension of an NCHW tensor (timm's `LayerNorm2d`).
    pub fn forward_nchw(&self, x: &Tensor) -> Tensor {
        self.forward(&x.permute([0, 2, 3, 1])).permute([0, 3, 1, 2])
    }
}

/// A dense layer `y = x Wᵀ + b` with timm's names and trunc-normal(0.02)
/// weights.
#[derive(Debug)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
}

pub fn linear(p: &nn::Path, cin: i64, cout: i64) -> Linear {
    Linear {
        weight: p.var(
            "weight",
            &[cout, cin],
            Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
        ),
        bias: p.var("bias", &[cout], Init::Const(0.0)),
    }
}

impl Linear {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let y = x.linear(&self.weight, Some(&self.bias));
        if super::flops::counting() {
            super::flops::add_output(&y, self.weight.size().get(1).copied().unwrap_or(0));
        }
        y
    }
}

/// Stochastic depth: zero whole samples of a residual branch with probability
/// `p` and rescale the rest by `1 / (1 - p)`; identity when not training.
pub fn drop_path(x: &Tensor, p: f64, train: bool) -> Tensor {
    if !train || p <= 0.0 {
        return x.shallow_clone();
    }
    let keep = 1.0 - p;
    let mut shape = vec![x.size()[0]];
    shape.resize(x.dim(), 1);
    let mask = Tensor::rand(shape.as_slice(), (Kind::Float, x.device()))
        .lt(keep)
        .to_kind(x.kind());
    x * mask / keep
}

/// ConvNeXt-V2's global response normalisation (Woo et al., 2023).
///
/// Why not timm's expression: `x + b + w·(x·n)` as written costs three
/// full-size passes; the same value as `b + x·(1 + w·n)` is one `addcmul`
/// over `x` after a reduction, which is what makes it the fast path on GPU.
#[derive(Debug)]
pub struct Grn {
    pub weight: Tensor,
    pub bias: Tensor,
    channels_last: bool,
}

pub fn grn(p: &nn::Path, dim: i64, channels_last: bool) -> Grn {
    Grn {
        weight: p.var("weight", &[dim], Init::Const(0.0)),
        bias: p.var("bias", &[dim], Init::Const(0.0)),
        channels_last,
    }
}

impl Grn {
    pub fn forward(&self, x: &Tensor) -> Tensor {
        const EPS: f64 = 1e-6;
        let (spatial, channel, shape): (&[i64], i64, &[i64]) = if self.channels_last {
            (&[1, 2], -1, &[1, 1, 1, -1])
        } else {
            (&[2, 3], 1, &[1, -1, 1, 1])
        };
        let gx = x.norm_scalaropt_dim(2.0, spatial, true);
        let nx = &gx / (gx.mean_dim(channel, true, None::<Kind>) + EPS);
        let w = self.weight.view(shape);
        let b = self.bias.view(shape);
        let scale = nx * w + 1.0;
        b.addcmul(x, &scale)
    }
}
