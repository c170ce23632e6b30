//! The architecture catalog as plain data: every backbone the zoo builds,
//! with its family, feature width, default input size and normalisation.
//! Why here and not beside the models: the checker, the language server and
//! `exp embed` all read these facts, and the checker must not load libtorch.

use crate::spec::Family;

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

/// Why an input size does not suit an architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SizeProblem {
    UnknownArch,
    /// Below the smallest input the network can run.
    TooSmall {
        arch: &'static str,
        min: u32,
    },
    /// Not a multiple of the ViT patch size.
    NotMultiple {
        arch: &'static str,
        multiple: u32,
    },
}

/// Check that `image_size` suits `arch`: at least its smallest input, and
/// for a ViT a multiple of the patch size. `exp run` refuses the same sizes
/// the checker's `exp::lint::image_size_for_arch` reports.
pub fn check_image_size(arch: &str, image_size: u32) -> Result<(), SizeProblem> {
    let info = arch_info(arch).ok_or(SizeProblem::UnknownArch)?;
    if image_size < info.min_size {
        return Err(SizeProblem::TooSmall {
            arch: info.name,
            min: info.min_size,
        });
    }
    if image_size == 0 || image_size % info.size_multiple != 0 {
        return Err(SizeProblem::NotMultiple {
            arch: info.name,
            multiple: info.size_multiple,
        });
    }
    Ok(())
}
