//! ResNet-18/34/50 (He et al., 2016) with timm's (= torchvision's) variable
//! names: `conv1`, `bn1`, `layer{1..4}.{i}.{conv,bn}{1..3}`,
//! `layer{i}.0.downsample.{0,1}`. The stride of a bottleneck sits on its 3×3
//! convolution ("ResNet v1.5"), as in timm.

use super::layers::{
    batch_norm, batch_norm_zero_gamma, conv2d, drop_path, BatchNorm, Conv2d, ConvOpts, Pad,
};
use super::Backbone;
use tch::{nn, Tensor};

/// Shape of a ResNet.
#[derive(Debug, Clone, PartialEq)]
pub struct ResNetConfig {
    /// Bottleneck blocks (expansion 4) instead of basic blocks.
    pub bottleneck: bool,
    /// Blocks per stage.
    pub depths: [usize; 4],
    /// Base width of each stage (before expansion).
    pub widths: [i64; 4],
    /// Output channels of the stem convolution.
    pub stem: i64,
}

impl ResNetConfig {
    pub fn resnet18() -> Self {
        Self {
            bottleneck: false,
            depths: [2, 2, 2, 2],
            widths: [64, 128, 256, 512],
            stem: 64,
        }
    }
    pub fn resnet34() -> Self {
        Self {
            bottleneck: false,
            depths: [3, 4, 6, 3],
            widths: [64, 128, 256, 512],
            stem: 64,
        }
    }
    pub fn resnet50() -> Self {
        Self {
            bottleneck: true,
            depths: [3, 4, 6, 3],
            widths: [64, 128, 256, 512],
            stem: 64,
        }
    }
    /// Tiny network of the same structure for tests and the quickstart.
    /// Why a 64-wide stem: timm's plain stem is always 64 channels, so the
    /// timm model this mirrors (for parity tests) has it too.
    pub fn test() -> Self {
        Self {
            bottleneck: false,
            depths: [1, 1, 1, 1],
            widths: [8, 16, 32, 64],
            stem: 64,
        }
    }
    fn expansion(&self) -> i64 {
        if self.bottleneck {
            4
        } else {
            1
        }
    }
    pub fn feature_dim(&self) -> i64 {
        self.widths[3] * self.expansion()
    }
}

const BN_EPS: f64 = 1e-5;
const BN_MOMENTUM: f64 = 0.1;

#[derive(Debug)]
struct Block {
    convs: Vec<(Conv2d, BatchNorm)>,
    downsample: Option<(Conv2d, BatchNorm)>,
    drop_path: f64,
}

impl Block {
    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let last = self.convs.len() - 1;
        let mut y = x.shallow_clone();
        for (i, (conv, bn)) in self.convs.iter().enumerate() {
            y = bn.forward(&conv.forward(&y), train);
            if i != last {
                y = y.relu_();
            }
        }
        let shortcut = match &self.downsample {
            Some((conv, bn)) => bn.forward(&conv.forward(x), train),
            None => x.shallow_clone(),
        };
        (drop_path(&y, self.drop_path, train) + shortcut).relu_()
    }
}

/// A ResNet returning globally average-pooled features.
#[derive(Debug)]
pub struct ResNet {
    conv1: Conv2d,
    bn1: BatchNorm,
    stages: Vec<Vec<Block>>,
    dim: i64,
}

impl ResNet {
    pub fn new(p: &nn::Path, cfg: &ResNetConfig, drop_path_rate: f64) -> Self {
        let conv1 = conv2d(
            &(p / "conv1"),
            3,
            cfg.stem,
            7,
            ConvOpts {
                stride: 2,
                pad: Pad::Fixed(3),
                ..Default::default()
            },
        );
        let bn1 = batch_norm(&(p / "bn1"), cfg.stem, BN_EPS, BN_MOMENTUM);
        let total: usize = cfg.depths.iter().sum();
        let exp = cfg.expansion();
        let mut cin = cfg.stem;
        let mut index = 0usize;
        let mut stages = Vec::new();
        for (s, (&depth, &width)) in cfg.depths.iter().zip(cfg.widths.iter()).enumerate() {
            let sp = p / format!("layer{}", s + 1);
            let mut blocks = Vec::new();
            for b in 0..depth {
                let bp = &sp / b.to_string();
                let stride = if s > 0 && b == 0 { 2 } else { 1 };
                let cout = width * exp;
                let opts = |stride| ConvOpts {
                    stride,
                    ..Default::default()
                };
                let convs = if cfg.bottleneck {
                    vec![
                        (
                            conv2d(&(&bp / "conv1"), cin, width, 1, opts(1)),
                            batch_norm(&(&bp / "bn1"), width, BN_EPS, BN_MOMENTUM),
                        ),
                        (
                            conv2d(&(&bp / "conv2"), width, width, 3, opts(stride)),
                            batch_norm(&(&bp / "bn2"), width, BN_EPS, BN_MOMENTUM),
                        ),
                        (
                            conv2d(&(&bp / "conv3"), width, cout, 1, opts(1)),
                            batch_norm_zero_gamma(&(&bp / "bn3"), cout, BN_EPS, BN_MOMENTUM),
                        ),
                    ]
                } else {
                    vec![
                        (
                            conv2d(&(&bp / "conv1"), cin, width, 3, opts(stride)),
                            batch_norm(&(&bp / "bn1"), width, BN_EPS, BN_MOMENTUM),
                        ),
                        (
                            conv2d(&(&bp / "conv2"), width, cout, 3, opts(1)),
                            batch_norm_zero_gamma(&(&bp / "bn2"), cout, BN_EPS, BN_MOMENTUM),
                        ),
                    ]
                };
                let downsample = (stride != 1 || cin != cout).then(|| {
                    let dp = &bp / "downsample";
                    (
                        conv2d(&(&dp / "0"), cin, cout, 1, opts(stride)),
                        batch_norm(&(&dp / "1"), cout, BN_EPS, BN_MOMENTUM),
                    )
                });
                // Why (total - 1): timm scales the rate by block index over the
                // last index so the final block gets the full rate.
                let rate = if total > 1 {
                    drop_path_rate * index as f64 / (total - 1) as f64
                } else {
                    0.0
                };
                blocks.push(Block {
                    convs,
                    downsample,
                    drop_path: rate,
                });
                cin = cout;
                index += 1;
            }
            stages.push(blocks);
        }
        Self {
            conv1,
            bn1,
            stages,
            dim: cfg.feature_dim(),
        }
    }
}

impl Backbone for ResNet {
    fn forward_features(&self, x: &Tensor, train: bool) -> Tensor {
        let mut x = self.bn1.forward(&self.conv1.forward(x), train).relu_();
        x = x.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        for stage in &self.stages {
            for block in stage {
                x = block.forward(&x, train);
            }
        }
        x.mean_dim([2i64, 3].as_slice(), false, None::<tch::Kind>)
    }
    fn feature_dim(&self) -> i64 {
        self.dim
    }
    fn layer_id(&self, name: &str) -> Option<usize> {
        if name.starts_with("conv1.") || name.starts_with("bn1.") {
            return Some(0);
        }
        let rest = name.strip_prefix("layer")?;
        let digit = rest.chars().next()?.to_digit(10)? as usize;
        (1..=4).contains(&digit).then_some(digit)
    }
    fn num_layers(&self) -> usize {
        5
    }
}
