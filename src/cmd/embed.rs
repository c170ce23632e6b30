//! `exp embed --backbone ARCH --out FILE IMAGE...`: pooled backbone features
//! (runs in the runtime).

use exp_lang::options::{DeviceRequest, EmbedOptions};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub backbone: String,
    #[arg(long)]
    pub weights: Option<PathBuf>,
    #[arg(long)]
    pub image_size: Option<u32>,
    /// Shorter side images are resized to before the centre crop, as a data
    /// set's `cache_size` (default round(image_size × 8/7)).
    #[arg(long)]
    pub cache_size: Option<u32>,
    #[arg(long)]
    pub out: PathBuf,
    /// auto | cpu | cuda | cuda:N
    #[arg(long, default_value = "auto")]
    pub device: DeviceRequest,
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

impl Args {
    pub fn into_options(self) -> EmbedOptions {
        EmbedOptions {
            backbone: self.backbone,
            weights: self.weights,
            image_size: self.image_size,
            cache_size: self.cache_size,
            out: self.out,
            device: self.device,
            images: self.images,
        }
    }
}
