//! ConvNeXt-V2 (Woo et al., 2023) with timm's variable names: `stem.{0,1}`,
//! `stages.{i}.downsample.{0,1}`, `stages.{i}.blocks.{j}.{conv_dw,norm,mlp.fc1,
//! mlp.grn,mlp.fc2}`, `head.norm`.
//!
//! timm builds atto–nano with 1×1 convolutions in the MLP (`conv_mlp=True`,
//! weights `[out, in, 1, 1]`, channels-first GRN) and tiny and larger with
//! linear layers on NHWC (weights `[out, in]`); both are reproduced so the
//! checkpoints load unchanged.

use super::layers::{conv2d, drop_path, grn, layer_norm, Conv2d, ConvOpts, Grn, LayerNorm, Pad};
use super::Backbone;
use tch::nn::{self, Init};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, PartialEq)]
pub struct ConvNeXtV2Config {
    pub depths: [usize; 4],
    pub dims: [i64; 4],
    /// 1×1 convolutions instead of linear layers in the block MLP.
    pub conv_mlp: bool,
}

impl ConvNeXtV2Config {
    fn small(depths: [usize; 4], dims: [i64; 4]) -> Self {
        Self {
            depths,
            dims,
            conv_mlp: true,
        }
    }
    pub fn atto() -> Self {
        Self::small([2, 2, 6, 2], [40, 80, 160, 320])
    }
    pub fn femto() -> Self {
        Self::small([2, 2, 6, 2], [48, 96, 192, 384])
    }
    pub fn pico() -> Self {
        Self::small([2, 2, 6, 2], [64, 128, 256, 512])
    }
    pub fn nano() -> Self {
        Self::small([2, 2, 8, 2], [80, 160, 320, 640])
    }
    pub fn tiny() -> Self {
        Self {
            depths: [3, 3, 9, 3],
            dims: [96, 192, 384, 768],
            conv_mlp: false,
        }
    }
    pub fn base() -> Self {
        Self {
            depths: [3, 3, 27, 3],
            dims: [128, 256, 512, 1024],
            conv_mlp: false,
        }
    }
    /// Tiny network of the same structure (atto-like) for tests.
    pub fn test() -> Self {
        Self::small([1, 1, 2, 1], [8, 16, 32, 64])
    }
}

const LN_EPS: f64 = 1e-6;
/// timm initialises ConvNeXt convolutions and linears with trunc-normal(0.02).
const INIT_STD: f64 = 0.02;

/// The MLP's two projections: 1×1 convolutions (NCHW) or linear layers (NHWC).
#[derive(Debug)]
enum Proj {
    Conv(Conv2d),
    Linear { weight: Tensor, bias: Tensor },
}

impl Proj {
    fn new(p: &nn::Path, cin: i64, cout: i64, conv: bool) -> Self {
        if conv {
            Proj::Conv(conv2d(
                p,
                cin,
                cout,
                1,
                ConvOpts {
                    init_std: Some(INIT_STD),
                    bias: true,
                    pad: Pad::Fixed(0),
                    ..Default::default()
                },
            ))
        } else {
            // Why trunc-normal-like 0.02: timm's init for ConvNeXt linears.
            Proj::Linear {
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
    }
    fn forward(&self, x: &Tensor) -> Tensor {
        match self {
            Proj::Conv(c) => c.forward(x),
            Proj::Linear { weight, bias } => {
                let y = x.linear(weight, Some(bias));
                if super::flops::counting() {
                    super::flops::add_output(&y, weight.size().get(1).copied().unwrap_or(0));
                }
                y
            }
        }
    }
}

#[derive(Debug)]
struct Block {
    conv_dw: Conv2d,
    norm: LayerNorm,
    fc1: Proj,
    grn: Grn,
    fc2: Proj,
    conv_mlp: bool,
    drop_path: f64,
}

impl Block {
    fn new(p: &nn::Path, dim: i64, conv_mlp: bool, drop_path: f64) -> Self {
        let mlp = p / "mlp";
        Self {
            conv_dw: conv2d(
                &(p / "conv_dw"),
                dim,
                dim,
                7,
                ConvOpts {
                    init_std: Some(INIT_STD),
                    groups: dim,
                    bias: true,
                    pad: Pad::Fixed(3),
                    ..Default::default()
                },
            ),
            norm: layer_norm(&(p / "norm"), dim, LN_EPS),
            fc1: Proj::new(&(&mlp / "fc1"), dim, 4 * dim, conv_mlp),
            grn: grn(&(&mlp / "grn"), 4 * dim, !conv_mlp),
            fc2: Proj::new(&(&mlp / "fc2"), 4 * dim, dim, conv_mlp),
            conv_mlp,
            drop_path,
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let y = self.conv_dw.forward(x);
        let y = if self.conv_mlp {
            let y = self.norm.forward_nchw(&y);
            let y = self.fc1.forward(&y).gelu("none");
            self.fc2.forward(&self.grn.forward(&y))
        } else {
            let y = self.norm.forward(&y.permute([0, 2, 3, 1]));
            let y = self.fc1.forward(&y).gelu("none");
            self.fc2
                .forward(&self.grn.forward(&y))
                .permute([0, 3, 1, 2])
        };
        drop_path(&y, self.drop_path, train) + x
    }
}

#[derive(Debug)]
struct Stage {
    downsample: Option<(LayerNorm, Conv2d)>,
    blocks: Vec<Block>,
}

/// A ConvNeXt-V2 returning pooled, head-normalised features.
#[derive(Debug)]
pub struct ConvNeXtV2 {
    stem_conv: Conv2d,
    stem_norm: LayerNorm,
    stages: Vec<Stage>,
    head_norm: LayerNorm,
    dim: i64,
}

impl ConvNeXtV2 {
    pub fn new(p: &nn::Path, cfg: &ConvNeXtV2Config, drop_path_rate: f64) -> Self {
        let stem = p / "stem";
        let stem_conv = conv2d(
            &(&stem / "0"),
            3,
            cfg.dims[0],
            4,
            ConvOpts {
                init_std: Some(INIT_STD),
                stride: 4,
                bias: true,
                pad: Pad::Fixed(0),
                ..Default::default()
            },
        );
        let stem_norm = layer_norm(&(&stem / "1"), cfg.dims[0], LN_EPS);
        let total: usize = cfg.depths.iter().sum();
        let mut index = 0usize;
        let mut stages = Vec::new();
        for s in 0..4 {
            let sp = p / "stages" / s.to_string();
            let dim = cfg.dims[s];
            let downsample = (s > 0).then(|| {
                let dp = &sp / "downsample";
                let prev = cfg.dims[s - 1];
                (
                    layer_norm(&(&dp / "0"), prev, LN_EPS),
                    conv2d(
                        &(&dp / "1"),
                        prev,
                        dim,
                        2,
                        ConvOpts {
                            init_std: Some(INIT_STD),
                            stride: 2,
                            bias: true,
                            pad: Pad::Fixed(0),
                            ..Default::default()
                        },
                    ),
                )
            });
            let mut blocks = Vec::new();
            for b in 0..cfg.depths[s] {
                // Why linspace over all blocks: timm's per-block drop-path rates.
                let rate = if total > 1 {
                    drop_path_rate * index as f64 / (total - 1) as f64
                } else {
                    0.0
                };
                blocks.push(Block::new(
                    &(&sp / "blocks" / b.to_string()),
                    dim,
                    cfg.conv_mlp,
                    rate,
                ));
                index += 1;
            }
            stages.push(Stage { downsample, blocks });
        }
        let head_norm = layer_norm(&(p / "head" / "norm"), cfg.dims[3], LN_EPS);
        Self {
            stem_conv,
            stem_norm,
            stages,
            head_norm,
            dim: cfg.dims[3],
        }
    }
}

impl Backbone for ConvNeXtV2 {
    fn forward_features(&self, x: &Tensor, train: bool) -> Tensor {
        let mut x = self.stem_norm.forward_nchw(&self.stem_conv.forward(x));
        for stage in &self.stages {
            if let Some((norm, conv)) = &stage.downsample {
                x = conv.forward(&norm.forward_nchw(&x));
            }
            for block in &stage.blocks {
                x = block.forward(&x, train);
            }
        }
        // timm's NormMlpClassifierHead with pre_logits: pool, then norm.
        self.head_norm
            .forward(&x.mean_dim([2i64, 3].as_slice(), false, None::<Kind>))
    }
    fn feature_dim(&self) -> i64 {
        self.dim
    }
    fn layer_id(&self, name: &str) -> Option<usize> {
        if name.starts_with("stem.") {
            return Some(0);
        }
        if name.starts_with("head.") {
            return Some(5);
        }
        let rest = name.strip_prefix("stages.")?;
        let s: usize = rest.split('.').next()?.parse().ok()?;
        (s < 4).then_some(s + 1)
    }
    fn num_layers(&self) -> usize {
        5
    }
}
