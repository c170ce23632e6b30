//! Model zoo: timm-exact backbones on tch. (Being built: issue 4. The
//! signatures below are the contract the trainer codes against.)

use crate::spec::{BackboneSpec, Dropout, Family};
use tch::{nn, Tensor};

/// Every architecture the zoo builds: (name, family, feature width, default
/// input size). `*_test` variants are tiny networks of the same structure
/// for tests and the quickstart. `dinov2_vits14` is an alias of
/// `vit_small_patch14_dinov2`.
pub const ARCHS: &[(&str, Family, i64, u32)] = &[
    ("resnet18", Family::ResNet, 512, 224),
    ("resnet34", Family::ResNet, 512, 224),
    ("resnet50", Family::ResNet, 2048, 224),
    ("resnet_test", Family::ResNet, 64, 64),
    ("convnextv2_atto", Family::ConvNeXtV2, 320, 224),
    ("convnextv2_femto", Family::ConvNeXtV2, 384, 224),
    ("convnextv2_pico", Family::ConvNeXtV2, 512, 224),
    ("convnextv2_nano", Family::ConvNeXtV2, 640, 224),
    ("convnextv2_tiny", Family::ConvNeXtV2, 768, 224),
    ("convnextv2_base", Family::ConvNeXtV2, 1024, 224),
    ("convnextv2_test", Family::ConvNeXtV2, 64, 64),
    ("efficientnetv2_s", Family::EfficientNetV2, 1280, 288),
    ("tf_efficientnetv2_s", Family::EfficientNetV2, 1280, 300),
    ("efficientnetv2_test", Family::EfficientNetV2, 128, 64),
    ("vit_small_patch14_dinov2", Family::Vit, 384, 518),
    ("dinov2_vits14", Family::Vit, 384, 518),
    ("vit_test", Family::Vit, 64, 56),
];

/// Device-side switches tch does not expose (bf16 autocast, channels-last,
/// deterministic algorithms), reached through a small C++ shim.
pub mod runtime {
    use tch::Tensor;

    /// `torch.use_deterministic_algorithms(on)` plus cuDNN determinism.
    pub fn set_deterministic(_on: bool) {}

    /// Run `f` under CUDA autocast with bf16 when `enabled`.
    pub fn autocast_bf16<T>(_enabled: bool, f: impl FnOnce() -> T) -> T {
        f()
    }

    /// A copy of an NCHW tensor in channels-last memory format.
    pub fn to_channels_last(t: &Tensor) -> Tensor {
        t.shallow_clone()
    }
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ModelError {
    #[error("{0}")]
    #[diagnostic(code(exp::model::other))]
    Other(String),
}

/// Backbone features → optional metadata MLP → concat → dropout → classifier.
/// Backbone variables live under `backbone.` (timm keys below it), the
/// metadata branch under `meta.`, the classifier under `head.`.
pub struct BakeoffModel {
    _private: (),
}

pub struct HeadConfig {
    pub num_classes: i64,
    pub metadata_dim: i64,
    pub metadata_hidden: i64,
    pub dropout: Dropout,
}

impl BakeoffModel {
    /// Build under `root` (the VarStore root). `image_size` is the input size
    /// (ViT position embeddings are interpolated to it).
    pub fn new(_root: &nn::Path, _backbone: &BackboneSpec, _image_size: u32, _head: &HeadConfig) -> Result<Self, ModelError> {
        Err(ModelError::Other("model zoo not built yet".into()))
    }
    /// Logits `[B, C]`. `train` toggles dropout, drop-path and batch-norm
    /// statistics; with `frozen_backbone`, norm layers of the backbone stay in
    /// eval mode and no graph is recorded through the backbone.
    pub fn forward(&self, _images: &Tensor, _metadata: &Tensor, _train: bool, _frozen_backbone: bool) -> Tensor {
        unimplemented!("model zoo not built yet")
    }
    /// Layer id of a backbone variable for layer-wise lr decay (0 = stem,
    /// `num_layers()` = head); `None` for non-backbone variables.
    pub fn layer_id(&self, _var_name: &str) -> Option<usize> {
        None
    }
    pub fn num_layers(&self) -> usize {
        0
    }
}

/// Load pretrained backbone weights (safetensors file or HF cache) into the
/// variables under `backbone.`; the checkpoint's classifier head is ignored.
pub fn load_pretrained(_vs: &mut nn::VarStore, _weights: &crate::spec::Weights) -> Result<(), ModelError> {
    Err(ModelError::Other("model zoo not built yet".into()))
}

pub fn cmd_embed(_a: &crate::cli::EmbedArgs) -> miette::Result<std::process::ExitCode> {
    Err(miette::miette!("`exp embed` is not built yet"))
}
