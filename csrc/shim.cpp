// Device switches libtorch has and tch does not expose: deterministic
// algorithms, CUDA autocast with a chosen dtype, channels-last copies.
//
// Why a shim: tch's C wrapper (libtch) only toggles autocast with the default
// fp16 dtype and has no memory-format argument; these few calls are stable
// public ATen API. Every function catches C++ exceptions so none crosses the
// C boundary; errors are returned as a heap string the caller frees.
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/autocast_mode.h>

#include <cstring>
#include <string>
#include <vector>

#include "error.h"

extern "C" {

void exp_shim_free_error(char *err) { std::free(err); }

// torch.use_deterministic_algorithms(on) + cudnn.deterministic = on and
// cudnn.benchmark = !on, and TF32 for f32 CUDA matmuls and convolutions
// unless deterministic (as timm's train.py sets it; CPU results are untouched).
char *exp_shim_set_deterministic(int on) {
  try {
    at::globalContext().setDeterministicAlgorithms(on != 0, /*warn_only=*/false);
    at::globalContext().setDeterministicCuDNN(on != 0);
    at::globalContext().setBenchmarkCuDNN(on == 0);
    const auto f32 = on != 0 ? at::Float32Precision::IEEE : at::Float32Precision::TF32;
    at::globalContext().setFloat32Precision(at::Float32Backend::CUDA, at::Float32Op::MATMUL, f32);
    at::globalContext().setFloat32Precision(at::Float32Backend::CUDA, at::Float32Op::CONV, f32);
    return nullptr;
  } catch (const std::exception &e) {
    return exp_error(e.what());
  }
}

int exp_shim_deterministic_enabled() {
  return at::globalContext().deterministicAlgorithms() ? 1 : 0;
}

// Enter a CUDA autocast region with `dtype` (c10 ScalarType: BFloat16 or
// Half); the previous state is written to `prev_enabled` / `prev_dtype` so
// `exp_shim_autocast_exit` can restore it.
char *exp_shim_autocast_enter(int dtype, int *prev_enabled, int *prev_dtype) {
  try {
    *prev_enabled = at::autocast::is_autocast_enabled(at::kCUDA) ? 1 : 0;
    *prev_dtype = static_cast<int>(at::autocast::get_autocast_dtype(at::kCUDA));
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::set_autocast_dtype(at::kCUDA, static_cast<at::ScalarType>(dtype));
    at::autocast::increment_nesting();
    return nullptr;
  } catch (const std::exception &e) {
    return exp_error(e.what());
  }
}

char *exp_shim_autocast_exit(int prev_enabled, int prev_dtype) {
  try {
    // Why: the cast cache lives as long as the outermost region, as in
    // torch.autocast.__exit__.
    if (at::autocast::decrement_nesting() == 0) {
      at::autocast::clear_cache();
    }
    at::autocast::set_autocast_enabled(at::kCUDA, prev_enabled != 0);
    at::autocast::set_autocast_dtype(at::kCUDA, static_cast<at::ScalarType>(prev_dtype));
    return nullptr;
  } catch (const std::exception &e) {
    return exp_error(e.what());
  }
}

int exp_shim_autocast_enabled_cuda() {
  return at::autocast::is_autocast_enabled(at::kCUDA) ? 1 : 0;
}

int exp_shim_autocast_dtype_cuda() {
  return static_cast<int>(at::autocast::get_autocast_dtype(at::kCUDA));
}

// A new tensor (owned by the caller, freed by tch's at_free) holding `t` in
// channels-last layout (4-d) or `t` itself for other ranks.
char *exp_shim_channels_last(const at::Tensor *t, at::Tensor **out) {
  try {
    if (t->dim() == 4) {
      *out = new at::Tensor(t->contiguous(at::MemoryFormat::ChannelsLast));
    } else {
      *out = new at::Tensor(*t);
    }
    return nullptr;
  } catch (const std::exception &e) {
    return exp_error(e.what());
  }
}

int exp_shim_is_channels_last(const at::Tensor *t) {
  return t->is_contiguous(at::MemoryFormat::ChannelsLast) ? 1 : 0;
}

// An uninitialised uint8 tensor of shape `dims`, in page-locked memory when
// `pinned` (CUDA's host staging buffers). No kernel runs: the loader's worker
// threads call this, and a fill or copy kernel there would start an OpenMP
// thread team per worker that competes with the training step's.
char *exp_shim_empty_u8(const int64_t *dims, int64_t ndims, int pinned, at::Tensor **out) {
  try {
    auto opts = at::TensorOptions().dtype(at::kByte).pinned_memory(pinned != 0);
    *out = new at::Tensor(at::empty(at::IntArrayRef(dims, ndims), opts));
    return nullptr;
  } catch (const std::exception &e) {
    return exp_error(e.what());
  }
}

// Drop the gradients of `n` tensors (PyTorch's `zero_grad(set_to_none=True)`):
// the next backward then writes fresh gradients instead of adding into
// zeroed ones, which saves a fill and an add pass over every gradient.
char *exp_shim_clear_grads(const at::Tensor *const *ts, int64_t n) {
  try {
    for (int64_t i = 0; i < n; ++i) {
      const_cast<at::Tensor *>(ts[i])->mutable_grad().reset();
    }
    return nullptr;
  } catch (const std::exception &e) {
    return exp_error(e.what());
  }
}

// One Adam/AdamW step over a parameter group (same device, dtype, lr and
// weight decay) with PyTorch's fused kernel, exactly as
// torch.optim.Adam(W)(fused=True) does: the step counters are incremented
// first, then one kernel updates every tensor in one pass. The caller holds
// no_grad. `params`, `grads`, `exp_avgs`, `exp_avg_sqs` and `steps` are `n`
// live at::Tensor pointers each. With `lr_t` (a one-element f32 tensor on the
// parameters' device) the kernel reads the lr from the device and `lr` is
// ignored: the call is then capturable in a CUDA graph and a new lr is a
// `fill_` of `lr_t`, not a re-capture.
char *exp_shim_fused_adam(const at::Tensor *const *params, const at::Tensor *const *grads,
                          const at::Tensor *const *exp_avgs,
                          const at::Tensor *const *exp_avg_sqs,
                          const at::Tensor *const *steps, int64_t n, double lr,
                          const at::Tensor *lr_t, double beta1, double beta2,
                          double weight_decay, double eps, int decoupled) {
  try {
    std::vector<at::Tensor> p, g, m, v, s;
    p.reserve(n);
    g.reserve(n);
    m.reserve(n);
    v.reserve(n);
    s.reserve(n);
    for (int64_t i = 0; i < n; ++i) {
      p.push_back(*params[i]);
      g.push_back(*grads[i]);
      m.push_back(*exp_avgs[i]);
      v.push_back(*exp_avg_sqs[i]);
      s.push_back(*steps[i]);
    }
    at::_foreach_add_(s, 1);
    if (lr_t != nullptr) {
      if (decoupled != 0) {
        at::_fused_adamw_(p, g, m, v, {}, s, *lr_t, beta1, beta2, weight_decay, eps,
                          /*amsgrad=*/false, /*maximize=*/false);
      } else {
        at::_fused_adam_(p, g, m, v, {}, s, *lr_t, beta1, beta2, weight_decay, eps,
                         /*amsgrad=*/false, /*maximize=*/false);
      }
    } else if (decoupled != 0) {
      at::_fused_adamw_(p, g, m, v, {}, s, lr, beta1, beta2, weight_decay, eps,
                        /*amsgrad=*/false, /*maximize=*/false);
    } else {
      at::_fused_adam_(p, g, m, v, {}, s, lr, beta1, beta2, weight_decay, eps,
                       /*amsgrad=*/false, /*maximize=*/false);
    }
    return nullptr;
  } catch (const std::exception &e) {
    return exp_error(e.what());
  }
}

// One SGD step over a parameter group with PyTorch's fused kernel, exactly
// as torch.optim.SGD(fused=True) does (dampening 0): L2 weight decay added to
// the gradient, then momentum (buffers set to the gradient on the first step)
// and the update, in one pass per tensor. With `momentum == 0` `bufs` is
// ignored. With `lr_t` (one-element f32 on the device) the lr is read from the
// device, as in exp_shim_fused_adam. The caller holds no_grad.
char *exp_shim_fused_sgd(const at::Tensor *const *params, const at::Tensor *const *grads,
                         const at::Tensor *const *bufs, int64_t n, double lr,
                         const at::Tensor *lr_t, double weight_decay, double momentum,
                         int nesterov, int first_step) {
  try {
    std::vector<at::Tensor> p, g, b;
    p.reserve(n);
    g.reserve(n);
    for (int64_t i = 0; i < n; ++i) {
      p.push_back(*params[i]);
      g.push_back(*grads[i]);
      if (momentum != 0.0) {
        b.push_back(*bufs[i]);
      }
    }
    if (lr_t != nullptr) {
      at::_fused_sgd_(p, g, b, weight_decay, momentum, *lr_t, /*dampening=*/0.0, nesterov != 0,
                      /*maximize=*/false, first_step != 0);
    } else {
      at::_fused_sgd_(p, g, b, weight_decay, momentum, lr, /*dampening=*/0.0, nesterov != 0,
                      /*maximize=*/false, first_step != 0);
    }
    return nullptr;
  } catch (const std::exception &e) {
    return exp_error(e.what());
  }
}

// One RMSprop step over a parameter group with multi-tensor (`_foreach_*`)
// ops: torch.optim.RMSprop, or timm's RMSpropTF with `tf_style` (lr folded
// into the momentum buffer). The op sequence is exactly the per-tensor one
// exp used before (same roundings, so CPU results are unchanged); on CUDA
// each op is one launch for the whole group instead of one per parameter.
// `square_avgs` (and `bufs` when `momentum > 0`) exist already. With `lr_t`
// (one-element f32 on the device) the lr is read from the device: the step
// is capturable. The caller holds no_grad.
char *exp_shim_rmsprop(const at::Tensor *const *params, const at::Tensor *const *grads,
                       const at::Tensor *const *square_avgs, const at::Tensor *const *bufs,
                       int64_t n, double lr, const at::Tensor *lr_t, double alpha, double eps,
                       double weight_decay, double momentum, int tf_style) {
  try {
    std::vector<at::Tensor> p, g, sq, b;
    p.reserve(n);
    g.reserve(n);
    sq.reserve(n);
    for (int64_t i = 0; i < n; ++i) {
      p.push_back(*params[i]);
      g.push_back(*grads[i]);
      sq.push_back(*square_avgs[i]);
      if (momentum > 0.0) {
        b.push_back(*bufs[i]);
      }
    }
    if (weight_decay != 0.0) {
      g = at::_foreach_add(g, at::_foreach_mul(p, weight_decay));
    }
    // g * s for an lr-like factor s: from the device tensor when capturable.
    auto times_lr = [&](const std::vector<at::Tensor> &xs, double sign) {
      if (lr_t != nullptr) {
        return at::_foreach_mul(xs, sign < 0 ? lr_t->neg() : *lr_t);
      }
      return at::_foreach_mul(xs, sign * lr);
    };
    std::vector<at::Tensor> avg;
    if (tf_style != 0) {
      // sq += (g² − sq)(1 − α); avg = √(sq + ε)
      auto d = at::_foreach_sub(at::_foreach_mul(g, g), sq);
      at::_foreach_mul_(d, 1.0 - alpha);
      at::_foreach_add_(sq, d);
      avg = at::_foreach_add(sq, eps);
      at::_foreach_sqrt_(avg);
    } else {
      // sq = α·sq + (1 − α)g²; avg = √sq + ε
      at::_foreach_mul_(sq, alpha);
      at::_foreach_addcmul_(sq, g, at::_foreach_mul(g, 1.0 - alpha));
      avg = at::_foreach_sqrt(sq);
      at::_foreach_add_(avg, eps);
    }
    if (momentum > 0.0) {
      at::_foreach_mul_(b, momentum);
      if (tf_style != 0) {
        at::_foreach_addcdiv_(b, times_lr(g, 1.0), avg);
        at::_foreach_sub_(p, b);
      } else {
        at::_foreach_addcdiv_(b, g, avg);
        at::_foreach_add_(p, times_lr(b, -1.0));
      }
    } else {
      at::_foreach_addcdiv_(p, times_lr(g, -1.0), avg);
    }
    return nullptr;
  } catch (const std::exception &e) {
    return exp_error(e.what());
  }
}

// GradScaler's unscale: multiply every gradient by `inv_scale` in place and
// set `found_inf` (one-element f32) to 1 if any holds an inf or NaN, with
// libtorch's fused kernel (torch.amp.GradScaler.unscale_). `grads` are `n`
// live at::Tensor pointers on the device of `found_inf` and `inv_scale`.
char *exp_shim_amp_unscale(const at::Tensor *const *grads, int64_t n, at::Tensor *found_inf,
                           const at::Tensor *inv_scale) {
  try {
    std::vector<at::Tensor> g;
    g.reserve(n);
    for (int64_t i = 0; i < n; ++i) {
      g.push_back(*grads[i]);
    }
    at::_amp_foreach_non_finite_check_and_unscale_(g, *found_inf, *inv_scale);
    return nullptr;
  } catch (const std::exception &e) {
    return exp_error(e.what());
  }
}

}  // extern "C"
