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
    println!("cargo:rerun-if-changed=csrc/cuda_graph.cpp");
    println!("cargo:rerun-if-changed=csrc/dist.cpp");
    println!("cargo:rerun-if-changed=csrc/error.h");
    println!("cargo:rerun-if-changed=csrc/gloo_decls");
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    println!("cargo:rerun-if-env-changed=NCCL_HOME");
    // Why: the front alone (`--no-default-features`) needs no torch at all.
    if std::env::var_os("CARGO_FEATURE_RUNTIME").is_none() {
        return;
    }
    let Some(lib) = torch_lib_dir() else { return };
    let cuda_graphs = compile_shim(&lib);
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
        if cuda_graphs {
            // The shim's CUDA-graph code calls into c10_cuda.
            println!("cargo:{target}-Wl,--no-as-needed");
            println!("cargo:{target}-lc10_cuda");
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
///
/// Returns whether the CUDA-graph code was compiled in (it then needs c10_cuda).
fn compile_shim(lib: &std::path::Path) -> bool {
    let Some(torch_dir) = lib.parent() else {
        return false;
    };
    let include = torch_dir.join("include");
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .file("csrc/shim.cpp")
        .file("csrc/cuda_graph.cpp")
        .file("csrc/dist.cpp")
        // Why: the wheel has c10d's headers but not gloo's (README there).
        .include("csrc/gloo_decls")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .flag_if_supported("-Wno-unused-parameter")
        .warnings(false);
    let cuda_include = cuda_include_dir(torch_dir);
    let has_cuda_libs =
        lib.join("libtorch_cuda.so").exists() && lib.join("libc10_cuda.so").exists();
    match (&cuda_include, has_cuda_libs) {
        (Some((dir, crt)), true) => {
            build.include(dir).define("EXP_CUDA_GRAPHS", None);
            if let Some(crt) = crt {
                build.flag(format!("-idirafter{}", crt.display()));
            }
            // Why `nv/target`: nccl.h includes cuda_fp16.h, which needs
            // CCCL (scripts/env.sh installs it next to the CUDA headers).
            match nccl_include_dir(torch_dir) {
                Some(nccl) if dir.join("nv/target").exists() => {
                    build.include(nccl).define("EXP_NCCL", None);
                }
                found => println!(
                    "cargo:warning=NCCL unavailable in this build: {} (data-parallel training on CUDA will refuse to start)",
                    if found.is_some() { "no CCCL headers (nv/target)" } else { "no nccl.h found" }
                ),
            }
        }
        _ => println!(
            "cargo:warning=CUDA graphs unavailable in this build: {}",
            if has_cuda_libs {
                "no cuda_runtime_api.h found (set CUDA_HOME)"
            } else {
                "libtorch has no CUDA libraries"
            }
        ),
    }
    build.compile("exp_shim");
    cuda_include.is_some() && has_cuda_libs
}

/// A folder holding `nccl.h`: `$NCCL_HOME/include` or the `nvidia-nccl`
/// wheel next to torch (the NCCL libtorch_cuda itself loads).
fn nccl_include_dir(torch_dir: &std::path::Path) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(home) = std::env::var_os("NCCL_HOME") {
        candidates.push(PathBuf::from(home).join("include"));
    }
    if let Some(site) = torch_dir.parent() {
        candidates.push(site.join("nvidia/nccl/include"));
    }
    candidates.push(PathBuf::from("/usr/include"));
    candidates.into_iter().find(|d| d.join("nccl.h").exists())
}

/// A folder holding `cuda_runtime_api.h` for the CUDA-graph part of the
/// shim: `$CUDA_HOME/include`, the CUDA wheels next to torch
/// (`site-packages/nvidia/*/include`), or `/usr/local/cuda/include`; with a
/// second folder to search last for `crt/host_config.h` when the first lacks
/// it (the `nvidia-cuda-runtime` wheel does; Triton's bundled CUDA headers
/// next to torch have it, and the host-only code here needs only its macros).
fn cuda_include_dir(torch_dir: &std::path::Path) -> Option<(PathBuf, Option<PathBuf>)> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(home) = std::env::var_os("CUDA_HOME") {
        candidates.push(PathBuf::from(home).join("include"));
    }
    if let Some(site) = torch_dir.parent() {
        // Why sorted: the first match must not depend on directory order.
        let mut wheels: Vec<PathBuf> = std::fs::read_dir(site.join("nvidia"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("include"))
            .collect();
        wheels.sort();
        candidates.extend(wheels);
    }
    candidates.push(PathBuf::from("/usr/local/cuda/include"));
    let runtime = candidates
        .iter()
        .find(|d| d.join("cuda_runtime_api.h").exists())?
        .clone();
    if runtime.join("crt/host_config.h").exists() {
        return Some((runtime, None));
    }
    if let Some(site) = torch_dir.parent() {
        candidates.push(site.join("triton/backends/nvidia/include"));
    }
    let crt = candidates
        .into_iter()
        .find(|d| d.join("crt/host_config.h").exists());
    crt.map(|c| (runtime, Some(c)))
}
