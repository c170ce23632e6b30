//! The bake-off model: backbone features → optional metadata MLP branch →
//! concatenation → dropout → linear classifier.

use super::layers::{linear, Linear};
use super::{build_backbone, check_image_size, Backbone, ModelError};
use crate::spec::{BackboneSpec, Dropout};
use tch::{nn, Tensor};

/// Variable-name prefix of the backbone inside a [`BakeoffModel`]'s VarStore;
/// what follows it is the timm key.
pub const BACKBONE_PREFIX: &str = "backbone.";

/// The classifier side of a [`BakeoffModel`].
#[derive(Debug, Clone, PartialEq)]
pub struct HeadConfig {
    pub num_classes: i64,
    /// Number of metadata columns (0 = no metadata branch).
    pub metadata_dim: i64,
    /// Hidden width of the metadata branch.
    pub metadata_hidden: i64,
    pub dropout: Dropout,
}

/// Backbone features → optional metadata MLP → concat → dropout → classifier.
/// Backbone variables live under `backbone.` (timm keys below it), the
/// metadata branch under `meta.fc`, the classifier under `head.fc`.
#[derive(Debug)]
pub struct BakeoffModel {
    backbone: Box<dyn Backbone>,
    meta: Option<Linear>,
    head: Linear,
    dropout: Dropout,
}

impl BakeoffModel {
    /// Build under `root` (the VarStore root). `image_size` is the input size
    /// (ViT position embeddings are interpolated to it).
    pub fn new(
        root: &nn::Path,
        backbone: &BackboneSpec,
        image_size: u32,
        head: &HeadConfig,
    ) -> Result<Self, ModelError> {
        check_image_size(&backbone.arch, image_size)?;
        let bb = build_backbone(&(root / "backbone"), &backbone.arch, backbone.drop_path)?;
        let with_meta = head.metadata_dim > 0 && head.metadata_hidden > 0;
        let meta = with_meta.then(|| {
            linear(
                &(root / "meta" / "fc"),
                head.metadata_dim,
                head.metadata_hidden,
            )
        });
        let fused = bb.feature_dim() + if with_meta { head.metadata_hidden } else { 0 };
        let head_fc = linear(&(root / "head" / "fc"), fused, head.num_classes);
        Ok(Self {
            backbone: bb,
            meta,
            head: head_fc,
            dropout: head.dropout,
        })
    }

    /// Logits `[B, C]`. `train` toggles dropout, drop-path and batch-norm
    /// statistics; with `frozen_backbone`, norm layers of the backbone stay in
    /// eval mode and no graph is recorded through the backbone.
    /// `metadata` is `[B, metadata_dim]` (ignored without a metadata branch).
    pub fn forward(
        &self,
        images: &Tensor,
        metadata: &Tensor,
        train: bool,
        frozen_backbone: bool,
    ) -> Tensor {
        let features = self.features(images, train, frozen_backbone);
        let fused = match &self.meta {
            Some(fc) => {
                let m = fc.forward(&metadata.to_kind(fc.weight.kind())).gelu("none");
                let m = m
                    .dropout(self.dropout.metadata, train)
                    .to_kind(features.kind());
                Tensor::cat(&[features, m], 1)
            }
            None => features,
        };
        self.head.forward(&fused.dropout(self.dropout.head, train))
    }

    /// Pooled backbone features `[B, D]` (what `exp embed` writes).
    pub fn features(&self, images: &Tensor, train: bool, frozen_backbone: bool) -> Tensor {
        if frozen_backbone {
            tch::no_grad(|| self.backbone.forward_features(images, false))
        } else {
            self.backbone.forward_features(images, train)
        }
    }

    pub fn feature_dim(&self) -> i64 {
        self.backbone.feature_dim()
    }

    /// Layer id of a variable for layer-wise lr decay: backbone groups are
    /// `0..num_layers()` (0 = stem); `None` for the metadata branch and the
    /// classifier, which take the full learning rate (id `num_layers()`).
    pub fn layer_id(&self, var_name: &str) -> Option<usize> {
        self.backbone
            .layer_id(var_name.strip_prefix(BACKBONE_PREFIX)?)
    }

    /// Number of layer-decay groups below the head: the scale of group `i`
    /// is `decay^(num_layers() - i)`.
    pub fn num_layers(&self) -> usize {
        self.backbone.num_layers() + 1
    }

    /// Whether a variable belongs to the backbone (frozen in the first phase).
    pub fn is_backbone_var(var_name: &str) -> bool {
        var_name.starts_with(BACKBONE_PREFIX)
    }
}

/// timm's weight-decay exemption: biases, norm and LayerScale/GRN parameters
/// (every tensor of rank ≤ 1) and ViT's position embedding and class token.
pub fn is_no_decay(var_name: &str, shape: &[i64]) -> bool {
    shape.len() <= 1 || var_name.ends_with("pos_embed") || var_name.ends_with("cls_token")
}
