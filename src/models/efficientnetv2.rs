//! EfficientNetV2 (Tan & Le, 2021) as timm builds it (`efficientnetv2_s`,
//! `tf_efficientnetv2_s`), with timm's variable names: `conv_stem`, `bn1`,
//! `blocks.{stage}.{block}.{conv,conv_exp,conv_pw,conv_dw,se.conv_reduce,
//! se.conv_expand,conv_pwl,bn1..bn3}`, `conv_head`, `bn2`.
//!
//! The `tf_` variant differs only in TF "same" padding and batch-norm eps
//! 1e-3 (the ported TensorFlow weights need them). Why momentum 0.1 for both:
//! timm's `tf_efficientnetv2_s` factory sets only `bn_eps` and `pad_type`,
//! so its batch norms keep PyTorch's default momentum.

use super::layers::{batch_norm, conv2d, drop_path, BatchNorm, Conv2d, ConvOpts, Pad};
use super::Backbone;
use tch::{nn, Kind, Tensor};

/// Block type of a stage, in timm's arch-string letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// `cn`: conv + BN + act, optional skip.
    ConvBnAct,
    /// `er`: fused MBConv (k×k expansion conv, 1×1 projection).
    EdgeResidual,
    /// `ir`: MBConv (1×1 expansion, depthwise k×k, squeeze-excite, 1×1 projection).
    InvertedResidual,
}

/// One stage of the arch definition (timm's `decode_arch_def` strings).
#[derive(Debug, Clone, PartialEq)]
pub struct StageDef {
    pub kind: BlockKind,
    pub repeats: usize,
    pub kernel: i64,
    pub stride: i64,
    pub expand: f64,
    pub out: i64,
    /// Squeeze-excite ratio relative to the block's input channels (0 = none).
    pub se: f64,
    /// `cn` blocks only: residual when shapes allow (`_skip` suffix).
    pub skip: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EfficientNetV2Config {
    pub stem: i64,
    pub stages: Vec<StageDef>,
    pub num_features: i64,
    pub tf_same: bool,
    pub bn_eps: f64,
    pub bn_momentum: f64,
}

const fn st(
    kind: BlockKind,
    repeats: usize,
    stride: i64,
    expand: f64,
    out: i64,
    se: f64,
) -> StageDef {
    StageDef {
        kind,
        repeats,
        kernel: 3,
        stride,
        expand,
        out,
        se,
        skip: false,
    }
}

impl EfficientNetV2Config {
    /// timm's `_gen_efficientnetv2_s` arch definition.
    pub fn s(tf: bool) -> Self {
        use BlockKind::*;
        let mut cn = st(ConvBnAct, 2, 1, 1.0, 24, 0.0);
        cn.skip = true;
        Self {
            stem: 24,
            stages: vec![
                cn,
                st(EdgeResidual, 4, 2, 4.0, 48, 0.0),
                st(EdgeResidual, 4, 2, 4.0, 64, 0.0),
                st(InvertedResidual, 6, 2, 4.0, 128, 0.25),
                st(InvertedResidual, 9, 1, 6.0, 160, 0.25),
                st(InvertedResidual, 15, 2, 6.0, 256, 0.25),
            ],
            num_features: 1280,
            tf_same: tf,
            bn_eps: if tf { 1e-3 } else { 1e-5 },
            bn_momentum: 0.1,
        }
    }
    /// Tiny network with every block kind, for tests.
    pub fn test(tf: bool) -> Self {
        use BlockKind::*;
        let mut cn = st(ConvBnAct, 1, 1, 1.0, 16, 0.0);
        cn.skip = true;
        Self {
            stem: 16,
            stages: vec![
                cn,
                st(EdgeResidual, 2, 2, 4.0, 24, 0.0),
                st(EdgeResidual, 1, 2, 4.0, 32, 0.0),
                st(InvertedResidual, 2, 2, 4.0, 48, 0.25),
                st(InvertedResidual, 1, 1, 6.0, 64, 0.25),
                st(InvertedResidual, 2, 2, 6.0, 80, 0.25),
            ],
            num_features: 128,
            tf_same: tf,
            bn_eps: if tf { 1e-3 } else { 1e-5 },
            bn_momentum: 0.1,
        }
    }
}

/// timm's `make_divisible(v, 8)`: nearest multiple of 8, not below 90 % of `v`.
fn make_divisible(v: f64) -> i64 {
    let divisor = 8.0;
    let mut new = ((v + divisor / 2.0) / divisor).floor() * divisor;
    new = new.max(divisor);
    if new < 0.9 * v {
        new += divisor;
    }
    new as i64
}

#[derive(Debug)]
struct SqueezeExcite {
    reduce: Conv2d,
    expand: Conv2d,
}

impl SqueezeExcite {
    fn forward(&self, x: &Tensor) -> Tensor {
        let s = x.mean_dim([2i64, 3].as_slice(), true, None::<Kind>);
        let s = self.expand.forward(&self.reduce.forward(&s).silu());
        x * s.sigmoid()
    }
}

/// Convolution, batch norm and whether SiLU follows.
#[derive(Debug)]
struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm,
    act: bool,
}

impl ConvBn {
    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let y = self.bn.forward(&self.conv.forward(x), train);
        if self.act {
            y.silu()
        } else {
            y
        }
    }
}

#[derive(Debug)]
struct Block {
    /// In order; the squeeze-excite runs before the last entry.
    layers: Vec<ConvBn>,
    se: Option<SqueezeExcite>,
    residual: bool,
    drop_path: f64,
}

impl Block {
    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let last = self.layers.len() - 1;
        let mut y = x.shallow_clone();
        for (i, layer) in self.layers.iter().enumerate() {
            if i == last && i > 0 {
                if let Some(se) = &self.se {
                    y = se.forward(&y);
                }
            }
            y = layer.forward(&y, train);
        }
        if self.residual {
            drop_path(&y, self.drop_path, train) + x
        } else {
            y
        }
    }
}

/// An EfficientNetV2 returning average-pooled features after the head conv.
#[derive(Debug)]
pub struct EfficientNetV2 {
    stem: ConvBn,
    blocks: Vec<Vec<Block>>,
    head: ConvBn,
    dim: i64,
    num_stages: usize,
}

impl EfficientNetV2 {
    pub fn new(p: &nn::Path, cfg: &EfficientNetV2Config, drop_path_rate: f64) -> Self {
        let pad = if cfg.tf_same {
            Pad::TfSame
        } else {
            Pad::Symmetric
        };
        let (eps, mom) = (cfg.bn_eps, cfg.bn_momentum);
        let cbn = |cp: nn::Path,
                   bp: nn::Path,
                   cin: i64,
                   cout: i64,
                   k: i64,
                   stride: i64,
                   groups: i64,
                   act: bool| ConvBn {
            conv: conv2d(
                &cp,
                cin,
                cout,
                k,
                ConvOpts {
                    stride,
                    groups,
                    bias: false,
                    pad,
                    init_std: None,
                },
            ),
            bn: batch_norm(&bp, cout, eps, mom),
            act,
        };
        let stem = cbn(p / "conv_stem", p / "bn1", 3, cfg.stem, 3, 2, 1, true);
        let total: usize = cfg.stages.iter().map(|s| s.repeats).sum();
        let mut index = 0usize;
        let mut cin = cfg.stem;
        let mut blocks = Vec::new();
        for (s, def) in cfg.stages.iter().enumerate() {
            let mut stage = Vec::new();
            for b in 0..def.repeats {
                let bp = p / "blocks" / s.to_string() / b.to_string();
                let stride = if b == 0 { def.stride } else { 1 };
                let cout = def.out;
                let k = def.kernel;
                let mut se = None;
                let layers = match def.kind {
                    BlockKind::ConvBnAct => vec![cbn(
                        &bp / "conv",
                        &bp / "bn1",
                        cin,
                        cout,
                        k,
                        stride,
                        1,
                        true,
                    )],
                    BlockKind::EdgeResidual => {
                        let mid = make_divisible(cin as f64 * def.expand);
                        vec![
                            cbn(&bp / "conv_exp", &bp / "bn1", cin, mid, k, stride, 1, true),
                            cbn(&bp / "conv_pwl", &bp / "bn2", mid, cout, 1, 1, 1, false),
                        ]
                    }
                    BlockKind::InvertedResidual => {
                        let mid = make_divisible(cin as f64 * def.expand);
                        if def.se > 0.0 {
                            // Why from the input width: timm divides the ratio by the
                            // expansion (`se_from_exp=False`), i.e. rd = in * se.
                            let rd = (mid as f64 * (def.se / def.expand)).round() as i64;
                            let sp = &bp / "se";
                            let o = ConvOpts {
                                bias: true,
                                pad: Pad::Fixed(0),
                                ..Default::default()
                            };
                            se = Some(SqueezeExcite {
                                reduce: conv2d(&(&sp / "conv_reduce"), mid, rd, 1, o),
                                expand: conv2d(&(&sp / "conv_expand"), rd, mid, 1, o),
                            });
                        }
                        vec![
                            cbn(&bp / "conv_pw", &bp / "bn1", cin, mid, 1, 1, 1, true),
                            cbn(&bp / "conv_dw", &bp / "bn2", mid, mid, k, stride, mid, true),
                            cbn(&bp / "conv_pwl", &bp / "bn3", mid, cout, 1, 1, 1, false),
                        ]
                    }
                };
                let shapes_match = stride == 1 && cin == cout;
                let residual = match def.kind {
                    BlockKind::ConvBnAct => def.skip && shapes_match,
                    _ => shapes_match,
                };
                // Why index / total: timm's builder scales by the running block
                // index over the block count (the last block stays below the rate).
                let rate = drop_path_rate * index as f64 / total as f64;
                stage.push(Block {
                    layers,
                    se,
                    residual,
                    drop_path: rate,
                });
                cin = cout;
                index += 1;
            }
            blocks.push(stage);
        }
        let head = cbn(
            p / "conv_head",
            p / "bn2",
            cin,
            cfg.num_features,
            1,
            1,
            1,
            true,
        );
        Self {
            stem,
            blocks,
            head,
            dim: cfg.num_features,
            num_stages: cfg.stages.len(),
        }
    }
}

impl Backbone for EfficientNetV2 {
    fn forward_features(&self, x: &Tensor, train: bool) -> Tensor {
        let mut x = self.stem.forward(x, train);
        for stage in &self.blocks {
            for block in stage {
                x = block.forward(&x, train);
            }
        }
        self.head
            .forward(&x, train)
            .mean_dim([2i64, 3].as_slice(), false, None::<Kind>)
    }
    fn feature_dim(&self) -> i64 {
        self.dim
    }
    fn layer_id(&self, name: &str) -> Option<usize> {
        if name.starts_with("conv_stem.") || name.starts_with("bn1.") {
            return Some(0);
        }
        if name.starts_with("conv_head.") || name.starts_with("bn2.") {
            return Some(self.num_layers());
        }
        let rest = name.strip_prefix("blocks.")?;
        let s: usize = rest.split('.').next()?.parse().ok()?;
        (s < self.num_stages).then_some(s + 1)
    }
    fn num_layers(&self) -> usize {
        self.num_stages + 1
    }
}
