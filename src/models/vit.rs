//! Vision Transformer with DINOv2's settings (Oquab et al., 2023) as timm's
//! `vit_small_patch14_dinov2`: patch 14, LayerScale, class token, no register
//! tokens, pre-norm blocks, final norm, class-token pooling. Variable names
//! are timm's: `cls_token`, `pos_embed`, `patch_embed.proj`,
//! `blocks.{i}.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,mlp.fc1,mlp.fc2,ls2.gamma}`,
//! `norm`.
//!
//! The position embedding keeps the checkpoint's grid; at another input size
//! it is resampled on the fly with antialiased bicubic interpolation, as timm
//! does with `dynamic_img_size=True` (`resample_abs_pos_embed`).

use super::layers::{drop_path, layer_norm, linear, LayerNorm, Linear};
use super::Backbone;
use tch::nn::{self, Init};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, PartialEq)]
pub struct VitConfig {
    pub patch: i64,
    pub dim: i64,
    pub depth: usize,
    pub heads: i64,
    pub mlp_ratio: f64,
    /// Side of the position-embedding grid (input size / patch at creation).
    pub grid: i64,
    /// Initial LayerScale value.
    pub init_values: f64,
}

impl VitConfig {
    pub fn small_dinov2() -> Self {
        Self {
            patch: 14,
            dim: 384,
            depth: 12,
            heads: 6,
            mlp_ratio: 4.0,
            grid: 37,
            init_values: 1e-5,
        }
    }
    /// Tiny network of the same structure for tests (56 px → 4×4 patches).
    pub fn test() -> Self {
        Self {
            patch: 14,
            dim: 64,
            depth: 2,
            heads: 2,
            mlp_ratio: 4.0,
            grid: 4,
            init_values: 1e-5,
        }
    }
}

const LN_EPS: f64 = 1e-6;

#[derive(Debug)]
struct Block {
    norm1: LayerNorm,
    qkv: Linear,
    proj: Linear,
    ls1: Tensor,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    ls2: Tensor,
    heads: i64,
    drop_path: f64,
}

impl Block {
    fn new(p: &nn::Path, cfg: &VitConfig, drop_path: f64) -> Self {
        let hidden = (cfg.dim as f64 * cfg.mlp_ratio) as i64;
        let d = cfg.dim;
        Self {
            norm1: layer_norm(&(p / "norm1"), d, LN_EPS),
            qkv: linear(&(p / "attn" / "qkv"), d, 3 * d),
            proj: linear(&(p / "attn" / "proj"), d, d),
            ls1: (p / "ls1").var("gamma", &[d], Init::Const(cfg.init_values)),
            norm2: layer_norm(&(p / "norm2"), d, LN_EPS),
            fc1: linear(&(p / "mlp" / "fc1"), d, hidden),
            fc2: linear(&(p / "mlp" / "fc2"), hidden, d),
            ls2: (p / "ls2").var("gamma", &[d], Init::Const(cfg.init_values)),
            heads: cfg.heads,
            drop_path,
        }
    }

    fn attention(&self, x: &Tensor) -> Tensor {
        let size = x.size();
        let (b, n, c) = (size[0], size[1], size[2]);
        let head_dim = c / self.heads;
        let qkv = self
            .qkv
            .forward(x)
            .reshape([b, n, 3, self.heads, head_dim])
            .permute([2, 0, 3, 1, 4]);
        let (q, k, v) = (qkv.get(0), qkv.get(1), qkv.get(2));
        // Why SDPA: it dispatches to flash / memory-efficient kernels on CUDA.
        let y = Tensor::scaled_dot_product_attention(
            &q,
            &k,
            &v,
            None::<Tensor>,
            0.0,
            false,
            None,
            false,
        );
        // q·kᵀ and its product with v: n × n × head_dim multiply-adds each.
        super::flops::add_output(&y, 2 * n);
        self.proj.forward(&y.transpose(1, 2).reshape([b, n, c]))
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let y = self.attention(&self.norm1.forward(x)) * &self.ls1;
        let x = drop_path(&y, self.drop_path, train) + x;
        let y = self
            .fc2
            .forward(&self.fc1.forward(&self.norm2.forward(&x)).gelu("none"))
            * &self.ls2;
        drop_path(&y, self.drop_path, train) + x
    }
}

/// A DINOv2-style ViT returning the final-normed class token.
#[derive(Debug)]
pub struct Vit {
    cls_token: Tensor,
    pos_embed: Tensor,
    proj_w: Tensor,
    proj_b: Tensor,
    blocks: Vec<Block>,
    norm: LayerNorm,
    cfg: VitConfig,
}

impl Vit {
    pub fn new(p: &nn::Path, cfg: &VitConfig, drop_path_rate: f64) -> Self {
        let d = cfg.dim;
        let pe = p / "patch_embed" / "proj";
        let fan_in = (3 * cfg.patch * cfg.patch) as f64;
        let bound = 1.0 / fan_in.sqrt();
        let blocks = (0..cfg.depth)
            .map(|i| {
                let rate = if cfg.depth > 1 {
                    drop_path_rate * i as f64 / (cfg.depth - 1) as f64
                } else {
                    0.0
                };
                Block::new(&(p / "blocks" / i.to_string()), cfg, rate)
            })
            .collect();
        Self {
            cls_token: p.var(
                "cls_token",
                &[1, 1, d],
                Init::Randn {
                    mean: 0.0,
                    stdev: 1e-6,
                },
            ),
            pos_embed: p.var(
                "pos_embed",
                &[1, 1 + cfg.grid * cfg.grid, d],
                Init::Randn {
                    mean: 0.0,
                    stdev: 0.02,
                },
            ),
            proj_w: pe.var(
                "weight",
                &[d, 3, cfg.patch, cfg.patch],
                Init::Uniform {
                    lo: -bound,
                    up: bound,
                },
            ),
            proj_b: pe.var("bias", &[d], Init::Const(0.0)),
            blocks,
            norm: layer_norm(&(p / "norm"), d, LN_EPS),
            cfg: cfg.clone(),
        }
    }

    /// The position embedding for an `h × w` patch grid (class token first).
    fn pos_embed_for(&self, h: i64, w: i64) -> Tensor {
        let g = self.cfg.grid;
        if h == g && w == g {
            return self.pos_embed.shallow_clone();
        }
        let d = self.cfg.dim;
        let device = self.pos_embed.device();
        let prefix = self.pos_embed.narrow(1, 0, 1);
        let kind = prefix.kind();
        // Why a matrix: the antialiased bicubic resize is linear, so it is
        // `M · P` with `M` the resize of each one-hot grid; the gradient then
        // flows through a matmul, which is deterministic on CUDA, whereas the
        // backward of the resize kernel is not (it would fail under
        // `set_deterministic(true)`).
        let m = resize_matrix(g, h, w, device);
        let grid = self
            .pos_embed
            .narrow(1, 1, g * g)
            .to_kind(Kind::Float)
            .reshape([g * g, d]);
        let grid = m.matmul(&grid).reshape([1, h * w, d]).to_kind(kind);
        Tensor::cat(&[prefix, grid], 1)
    }
}

/// `[h·w, g·g]` matrix of timm's position-embedding resize from a `g × g`
/// grid to `h × w` (bicubic, antialiased, `align_corners=False`): column `k`
/// is the resized one-hot grid of old position `k`.
fn resize_matrix(g: i64, h: i64, w: i64, device: tch::Device) -> Tensor {
    tch::no_grad(|| {
        let basis = Tensor::eye(g * g, (Kind::Float, device)).view([g * g, 1, g, g]);
        basis
            .internal_upsample_bicubic2d_aa([h, w], false, None, None)
            .view([g * g, h * w])
            .tr()
    })
}

impl Backbone for Vit {
    fn forward_features(&self, x: &Tensor, train: bool) -> Tensor {
        let p = self.cfg.patch;
        let x = x.conv2d(&self.proj_w, Some(&self.proj_b), [p, p], [0, 0], [1, 1], 1);
        super::flops::add_output(&x, 3 * p * p);
        let size = x.size();
        let (b, h, w) = (size[0], size[2], size[3]);
        let x = x.flatten(2, 3).transpose(1, 2);
        let cls = self
            .cls_token
            .expand([b, 1, self.cfg.dim], false)
            .to_kind(x.kind());
        let mut x = Tensor::cat(&[cls, x], 1) + self.pos_embed_for(h, w);
        for block in &self.blocks {
            x = block.forward(&x, train);
        }
        self.norm.forward(&x).select(1, 0)
    }
    fn feature_dim(&self) -> i64 {
        self.cfg.dim
    }
    fn layer_id(&self, name: &str) -> Option<usize> {
        if name.starts_with("cls_token")
            || name.starts_with("pos_embed")
            || name.starts_with("patch_embed.")
        {
            return Some(0);
        }
        if name.starts_with("norm.") {
            return Some(self.num_layers());
        }
        let rest = name.strip_prefix("blocks.")?;
        let i: usize = rest.split('.').next()?.parse().ok()?;
        (i < self.cfg.depth).then_some(i + 1)
    }
    fn num_layers(&self) -> usize {
        self.cfg.depth + 1
    }
}
