#!/usr/bin/env bash
# Sourced by the README's commands: makes sure libtorch (PyPI torch==2.11.0, the
# version tch 0.24.0 is built for) is installed in a virtual environment and
# exports what torch-sys needs to find it.
#
# Why a shared venv under ~/.cache: torch with its CUDA libraries is several GB;
# every clone on this machine reuses one copy instead of downloading it again.
#
# Why no `set -euo pipefail` here: this file is sourced into the user's
# interactive shell, where those options would outlive it (the next failing
# command would close the terminal). It changes nothing but the variables it
# exports; callers (scripts/test.sh, scripts/quickstart.sh) set their own options.
# Why torch is never imported: importing it prints a NumPy warning and takes
# seconds; the installed version and the library folder are read from metadata.

_exp_env() {
  local venv="${EXP_VENV:-$HOME/.cache/exp/venv-torch-2.11.0}"
  local py="$venv/bin/python"
  local probe='import importlib.metadata as m, importlib.util as u, os, sys
v = m.version("torch").split("+")[0]
if v != "2.11.0": sys.exit(1)
print(os.path.join(os.path.dirname(u.find_spec("torch").origin), "lib"))'
  local lib
  if ! lib="$("$py" -c "$probe" 2>/dev/null)"; then
    echo "exp: installing torch==2.11.0 into $venv (one time)" >&2
    python3 -m venv "$venv" &&
      "$py" -m pip install --quiet --no-cache-dir --upgrade pip &&
      "$py" -m pip install --quiet --no-cache-dir torch==2.11.0 &&
      lib="$("$py" -c "$probe")" || {
      echo "exp: could not install torch==2.11.0 into $venv; see the messages above" >&2
      return 1
    }
  fi
  # Why CCCL: NCCL's header includes cuda_fp16.h, which needs CCCL's
  # `nv/target`; without it exp builds with Gloo only (no multi-GPU DDP).
  # Headers only, 18 MB, the CUDA 13.0 release torch's wheels pin.
  if [ ! -e "$(dirname "$lib")/../nvidia/cu13/include/nv/target" ] &&
    [ -d "$(dirname "$lib")/../nvidia/cu13/include" ]; then
    echo "exp: installing CUDA's CCCL headers into $venv (one time, for NCCL)" >&2
    "$py" -m pip install --quiet --no-cache-dir --no-deps nvidia-cuda-cccl==13.0.85 ||
      echo "exp: warning: no CCCL headers; exp builds without NCCL" >&2
  fi
  export EXP_VENV="$venv"
  export PATH="$venv/bin:$HOME/.cargo/bin:$PATH"
  export LIBTORCH_USE_PYTORCH=1
  export PYTHON_SYS_EXECUTABLE="$py"
  export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}
# Why `return` then `exit`: `return` ends a sourced file; run as a program, it
# fails and `exit` reports the status instead.
if _exp_env; then
  unset -f _exp_env
  return 0 2>/dev/null || exit 0
fi
unset -f _exp_env
return 1 2>/dev/null || exit 1
