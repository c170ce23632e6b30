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

use tch::{nn, Tensor};

pub use exp_lang::catalog::{
    arch_info, canonical_arch, ArchInfo, ARCHS, IMAGENET_MEAN, IMAGENET_STD, INCEPTION_MEAN,
    INCEPTION_STD,
};

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

/// Check that `image_size` suits `arch` ([`exp_lang::catalog::check_image_size`],
/// the rule the checker's `exp::lint::image_size_for_arch` runs too).
pub fn check_image_size(arch: &str, image_size: u32) -> Result<(), ModelError> {
    use exp_lang::catalog::SizeProblem;
    match exp_lang::catalog::check_image_size(arch, image_size) {
        Ok(()) => Ok(()),
        Err(SizeProblem::UnknownArch) => Err(ModelError::unknown_arch(arch)),
        Err(SizeProblem::TooSmall { arch, min }) => Err(ModelError::ImageTooSmall {
            arch: arch.to_string(),
            size: image_size,
            min,
        }),
        Err(SizeProblem::NotMultiple { arch, multiple }) => Err(ModelError::BadImageSize {
            arch: arch.to_string(),
            size: image_size,
            multiple,
        }),
    }
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
