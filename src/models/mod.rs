//! Model zoo: timm-exact backbones on tch. (Being built: issue 4.)

pub fn cmd_embed(_a: &crate::cli::EmbedArgs) -> miette::Result<std::process::ExitCode> {
    Err(miette::miette!("`exp embed` is not built yet"))
}
