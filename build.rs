//! Link-time settings for libtorch taken from PyPI's `torch` wheel.
//!
//! Why: torch-sys finds the libraries but leaves the runtime search path to the
//! user; an rpath makes `target/*/exp` runnable without `LD_LIBRARY_PATH`, and
//! `--no-as-needed` keeps `libtorch_cuda` linked although no symbol of it is
//! referenced directly, otherwise CUDA looks absent at run time.
use std::path::PathBuf;
use std::process::Command;

fn torch_lib_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("LIBTORCH") {
        return Some(PathBuf::from(dir).join("lib"));
    }
    let python = std::env::var("PYTHON_SYS_EXECUTABLE").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .args([
            "-c",
            "import torch, os; print(os.path.dirname(torch.__file__))",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = String::from_utf8(out.stdout).ok()?;
    Some(PathBuf::from(dir.trim()).join("lib"))
}

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=PYTHON_SYS_EXECUTABLE");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=csrc/shim.cpp");
    // Why: the front alone (`--no-default-features`) needs no torch at all.
    if std::env::var_os("CARGO_FEATURE_RUNTIME").is_none() {
        return;
    }
    let Some(lib) = torch_lib_dir() else { return };
    compile_shim(&lib);
    record_cuda_arch_list();
    // Why per target: the front binary `exp` must not load libtorch (it
    // checks in milliseconds); only what runs tensors gets these arguments.
    for target in [
        "rustc-link-arg-bin=exp-runtime=",
        "rustc-link-arg-tests=",
        "rustc-link-arg-benches=",
    ] {
        println!("cargo:{target}-Wl,-rpath,{}", lib.display());
        if lib.join("libtorch_cuda.so").exists() {
            println!("cargo:{target}-Wl,--no-as-needed");
            println!("cargo:{target}-L{}", lib.display());
            println!("cargo:{target}-ltorch_cuda");
            println!("cargo:{target}-Wl,--as-needed");
        }
    }
}

/// Record the GPU architectures the torch wheel has kernels for (its
/// `torch.cuda.get_arch_list()`, which works without a GPU through
/// `_cuda_getArchFlags`) as `EXP_TORCH_CUDA_ARCHS`, so `exp run` can refuse a
/// GPU the wheel cannot run on before training. Nothing is recorded when
/// libtorch comes from `LIBTORCH` or the wheel is CPU-only.
fn record_cuda_arch_list() {
    if std::env::var_os("LIBTORCH").is_some() {
        return;
    }
    let python = std::env::var("PYTHON_SYS_EXECUTABLE").unwrap_or_else(|_| "python3".into());
    let Ok(out) = Command::new(python)
        .args([
            "-c",
            "import torch; print(torch._C._cuda_getArchFlags() if torch.version.cuda else '')",
        ])
        .output()
    else {
        return;
    };
    let flags = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && !flags.is_empty() {
        println!("cargo:rustc-env=EXP_TORCH_CUDA_ARCHS={flags}");
    }
}

/// Compile `csrc/shim.cpp` (device switches tch does not bind) against the
/// same libtorch headers torch-sys uses.
///
/// Why the same flags as torch-sys: a different C++ ABI setting would link
/// against symbols libtorch does not export.
fn compile_shim(lib: &std::path::Path) {
    let Some(torch_dir) = lib.parent() else {
        return;
    };
    let include = torch_dir.join("include");
    cc::Build::new()
        .cpp(true)
        .file("csrc/shim.cpp")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .flag_if_supported("-Wno-unused-parameter")
        .warnings(false)
        .compile("exp_shim");
}
