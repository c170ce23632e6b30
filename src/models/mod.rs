//! Model zoo: timm-exact backbones on tch, pretrained weights from safetensors
//! files and the local Hugging Face cache, and the bake-off model (backbone →
//! optional metadata branch → concatenation → dropout → classifier).
//!
//! Every backbone names its variables exactly as timm's `state_dict` keys, so
//! a timm checkpoint loads with no renaming (see `docs/models.md`).

pub mod convnextv2;
pub mod cuda_graph;
pub mod efficientnetv2;
mod embed;
mod error;
pub mod flops;
mod head;
pub mod hf_cache;
pub mod layers;
pub mod resnet;
pub mod runtime;
pub mod vit;
pub mod weights;

pub use embed::cmd_embed;
pub use error::ModelError;
pub use head::{is_no_decay, BakeoffModel, HeadConfig, ParamInfo, BACKBONE_PREFIX};
pub use weights::{load_pretrained, load_safetensors};

use crate::spec::Family;
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

/// ImageNet mean/std, the normalisation of every timm model here except the
/// TensorFlow ports.
pub const IMAGENET_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f64; 3] = [0.229, 0.224, 0.225];
/// Inception normalisation (`[-1, 1]`) of timm's `tf_` EfficientNets.
pub const INCEPTION_MEAN: [f64; 3] = [0.5, 0.5, 0.5];
pub const INCEPTION_STD: [f64; 3] = [0.5, 0.5, 0.5];

/// Facts about one architecture: what the checker and `exp embed` need.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchInfo {
    /// Canonical name (aliases resolved).
    pub name: &'static str,
    pub family: Family,
    /// Width of the pooled features.
    pub feature_dim: i64,
    /// Default input size (pixels, square).
    pub input_size: u32,
    /// Normalisation of `[0, 1]` pixels.
    pub mean: [f64; 3],
    pub std: [f64; 3],
    /// Input sizes must be a multiple of this (ViT patch size), else 1.
    pub size_multiple: u32,
    /// Smallest input the network can run: ConvNeXt's unpadded stem (4×)
    /// and three 2× downsamplings need 32 pixels; a ViT one patch; the
    /// padded ResNet / EfficientNet convolutions any size.
    pub min_size: u32,
}

/// The canonical name of an architecture (resolves `dinov2_vits14`).
pub fn canonical_arch(name: &str) -> Option<&'static str> {
    let name = if name == "dinov2_vits14" {
        "vit_small_patch14_dinov2"
    } else {
        name
    };
    ARCHS.iter().find(|a| a.0 == name).map(|a| a.0)
}

/// Facts about `name` (or its alias); `None` for unknown names.
pub fn arch_info(name: &str) -> Option<ArchInfo> {
    let canonical = canonical_arch(name)?;
    let &(_, family, feature_dim, input_size) = ARCHS.iter().find(|a| a.0 == canonical)?;
    let (mean, std) = if canonical.starts_with("tf_") {
        (INCEPTION_MEAN, INCEPTION_STD)
    } else {
        (IMAGENET_MEAN, IMAGENET_STD)
    };
    let size_multiple = if family == Family::Vit { 14 } else { 1 };
    let min_size = match family {
        Family::ConvNeXtV2 => 32,
        Family::Vit => 14,
        _ => 1,
    };
    Some(ArchInfo {
        name: canonical,
        family,
        feature_dim,
        input_size,
        mean,
        std,
        size_multiple,
        min_size,
    })
}

/// A backbone: images `[B, 3, H, W]` (normalised) → pooled features `[B, D]`,
/// timm's `forward_features` + `forward_head(pre_logits=True)`.
pub trait Backbone: Send + std::fmt::Debug {
    /// `train` enables drop-path and batch-norm statistics updates.
    fn forward_features(&self, x: &Tensor, train: bool) -> Tensor;
    fn feature_dim(&self) -> i64;
    /// Layer-decay group of a variable (name relative to the backbone root):
    /// 0 = stem, `num_layers()` = the last group (head norm / final norm).
    fn layer_id(&self, name: &str) -> Option<usize>;
    fn num_layers(&self) -> usize;
}

/// Build the backbone `arch` with its variables directly under `p` (timm's
/// keys relative to `p`).
pub fn build_backbone(
    p: &nn::Path,
    arch: &str,
    drop_path: f64,
) -> Result<Box<dyn Backbone>, ModelError> {
    use convnextv2::{ConvNeXtV2, ConvNeXtV2Config as C};
    use efficientnetv2::{EfficientNetV2, EfficientNetV2Config as E};
    use resnet::{ResNet, ResNetConfig as R};
    use vit::{Vit, VitConfig as V};
    let Some(name) = canonical_arch(arch) else {
        return Err(ModelError::unknown_arch(arch));
    };
    let b: Box<dyn Backbone> = match name {
        "resnet18" => Box::new(ResNet::new(p, &R::resnet18(), drop_path)),
        "resnet34" => Box::new(ResNet::new(p, &R::resnet34(), drop_path)),
        "resnet50" => Box::new(ResNet::new(p, &R::resnet50(), drop_path)),
        "resnet_test" => Box::new(ResNet::new(p, &R::test(), drop_path)),
        "convnextv2_atto" => Box::new(ConvNeXtV2::new(p, &C::atto(), drop_path)),
        "convnextv2_femto" => Box::new(ConvNeXtV2::new(p, &C::femto(), drop_path)),
        "convnextv2_pico" => Box::new(ConvNeXtV2::new(p, &C::pico(), drop_path)),
        "convnextv2_nano" => Box::new(ConvNeXtV2::new(p, &C::nano(), drop_path)),
        "convnextv2_tiny" => Box::new(ConvNeXtV2::new(p, &C::tiny(), drop_path)),
        "convnextv2_base" => Box::new(ConvNeXtV2::new(p, &C::base(), drop_path)),
        "convnextv2_test" => Box::new(ConvNeXtV2::new(p, &C::test(), drop_path)),
        "efficientnetv2_s" => Box::new(EfficientNetV2::new(p, &E::s(false), drop_path)),
        "tf_efficientnetv2_s" => Box::new(EfficientNetV2::new(p, &E::s(true), drop_path)),
        "efficientnetv2_test" => Box::new(EfficientNetV2::new(p, &E::test(false), drop_path)),
        "vit_small_patch14_dinov2" => Box::new(Vit::new(p, &V::small_dinov2(), drop_path)),
        "vit_test" => Box::new(Vit::new(p, &V::test(), drop_path)),
        other => return Err(ModelError::unknown_arch(other)),
    };
    Ok(b)
}

/// Check that `image_size` suits `arch`: at least its smallest input, and
/// for a ViT a multiple of the patch size. The checker runs the same rule
/// (`exp::lint::image_size_for_arch`) before anything trains.
pub fn check_image_size(arch: &str, image_size: u32) -> Result<(), ModelError> {
    let info = arch_info(arch).ok_or_else(|| ModelError::unknown_arch(arch))?;
    if image_size < info.min_size {
        return Err(ModelError::ImageTooSmall {
            arch: info.name.to_string(),
            size: image_size,
            min: info.min_size,
        });
    }
    if image_size == 0 || image_size % info.size_multiple != 0 {
        return Err(ModelError::BadImageSize {
            arch: info.name.to_string(),
            size: image_size,
            multiple: info.size_multiple,
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_test_arch_runs_at_its_smallest_size_and_refuses_below_it() {
        for &(name, ..) in ARCHS {
            if !name.ends_with("_test") {
                continue;
            }
            let info = arch_info(name).unwrap();
            let min = i64::from(info.min_size.max(info.size_multiple));
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let b = build_backbone(&vs.root(), name, 0.0).unwrap();
            let x = Tensor::zeros([1, 3, min, min], (tch::Kind::Float, tch::Device::Cpu));
            let y = tch::no_grad(|| b.forward_features(&x, false));
            assert_eq!(y.size(), vec![1, b.feature_dim()], "{name} at {min}");
            assert!(check_image_size(name, min as u32).is_ok(), "{name}");
            if info.min_size > 1 {
                assert!(check_image_size(name, info.min_size - 1).is_err(), "{name}");
            }
        }
    }

    #[test]
    fn every_arch_builds_with_its_declared_width() {
        for &(name, _, dim, size) in ARCHS {
            if !name.ends_with("_test") {
                continue;
            }
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let b = build_backbone(&vs.root(), name, 0.0).expect("known arch");
            assert_eq!(b.feature_dim(), dim, "{name}");
            let x = Tensor::zeros(
                [2, 3, size as i64, size as i64],
                (tch::Kind::Float, tch::Device::Cpu),
            );
            let y = b.forward_features(&x, false);
            assert_eq!(y.size(), vec![2, dim], "{name}");
        }
    }

    #[test]
    fn alias_resolves_and_unknown_names_suggest() {
        assert_eq!(
            canonical_arch("dinov2_vits14"),
            Some("vit_small_patch14_dinov2")
        );
        let err = build_backbone(
            &nn::VarStore::new(tch::Device::Cpu).root(),
            "convnextv2_tny",
            0.0,
        )
        .unwrap_err();
        assert!(err.to_string().contains("convnextv2_tny"));
        assert!(format!("{:?}", miette::Report::new(err)).contains("convnextv2_tiny"));
    }
}
