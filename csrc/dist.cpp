// torch.distributed (c10d) for data-parallel training of one cell: the
// TCPStore rendezvous, a process group with Gloo for CPU tensors and NCCL for
// CUDA tensors, coalesced broadcasts and all-reduces, libtorch's DDP reducer
// (gradient buckets all-reduced while the backward pass still runs) with its
// logger's timings, and SyncBatchNorm.
//
// Why libtorch's reducer rather than our own bucketing: it is the code every
// torch DDP run uses (bucket order rebuilt from the first backward's
// gradient order, autograd hooks on the gradient accumulators, the final
// callback that waits for the buckets), and its logger measures how much of
// the communication the backward hid. Hooks of our own would need the same
// C++ here with none of that testing behind it.
//
// Every function catches C++ exceptions so none crosses the C boundary;
// errors come back as a heap string the caller frees (exp_shim_free_error).
#define USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#ifdef EXP_NCCL
#define USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/comm.hpp>
#include <torch/csrc/distributed/c10d/logger.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>

#include <chrono>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "error.h"

namespace {
std::vector<at::Tensor> gather(const at::Tensor *const *ts, int64_t n) {
  std::vector<at::Tensor> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    out.push_back(*ts[i]);
  }
  return out;
}

// Default bucket sizes of torch DDP: a small first bucket so the
// all-reduce starts early in the backward, then 25 MiB.
constexpr int64_t kFirstBucketBytes = 1024 * 1024;
constexpr int64_t kBucketBytes = 25 * 1024 * 1024;
}  // namespace

struct ExpDist {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  std::chrono::milliseconds timeout;
};

struct ExpReducer {
  std::shared_ptr<c10d::Reducer> reducer;
  std::shared_ptr<c10d::Logger> logger;
};

namespace {
// SyncBatchNorm: batch statistics over every rank's samples. Forward
// all-reduces (sum, sum of squares, count) per channel; backward all-reduces
// (Σdy, Σdy·(x−μ)) for the input gradient, while the weight and bias
// gradients stay local sums (the reducer averages them with the rest), as
// torch.nn.SyncBatchNorm. Statistics are computed in f32 whatever the input
// dtype; the output has the input's dtype.
struct SyncBn : public torch::autograd::Function<SyncBn> {
  static at::Tensor forward(torch::autograd::AutogradContext *ctx, const at::Tensor &x,
                            const at::Tensor &weight, const at::Tensor &bias,
                            at::Tensor running_mean, at::Tensor running_var, double momentum,
                            double eps, int64_t dist_ptr) {
    auto *d = reinterpret_cast<ExpDist *>(dist_ptr);
    const auto xf = x.to(at::kFloat);
    const int64_t c = x.size(1);
    std::vector<int64_t> dims = {0};
    for (int64_t i = 2; i < x.dim(); ++i) {
      dims.push_back(i);
    }
    const double local = static_cast<double>(x.numel() / std::max<int64_t>(c, 1));
    auto stats = at::cat({xf.sum(dims), (xf * xf).sum(dims),
                          at::full({1}, local, xf.options())});
    std::vector<at::Tensor> buf = {stats};
    d->pg->allreduce(buf)->wait(d->timeout);
    const auto count = stats.narrow(0, 2 * c, 1);
    const auto mean = stats.narrow(0, 0, c) / count;
    const auto var = (stats.narrow(0, c, c) / count - mean * mean).clamp_min(0.0);
    const auto invstd = (var + eps).rsqrt();
    {
      at::NoGradGuard no_grad;
      // On the device: no host sync per layer.
      const auto unbiased = var * (count / (count - 1.0).clamp_min(1.0));
      running_mean.mul_(1.0 - momentum).add_(mean.to(running_mean.scalar_type()), momentum);
      running_var.mul_(1.0 - momentum).add_(unbiased.to(running_var.scalar_type()), momentum);
    }
    std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
    shape[1] = c;
    const auto xhat = (xf - mean.view(shape)) * invstd.view(shape);
    const auto y = xhat * weight.to(at::kFloat).view(shape) + bias.to(at::kFloat).view(shape);
    ctx->save_for_backward({xhat, weight, invstd, count});
    ctx->saved_data["dist"] = dist_ptr;
    return y.to(x.scalar_type());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &xhat = saved[0];
    const auto &weight = saved[1];
    const auto &invstd = saved[2];
    const auto &count = saved[3];
    auto *d = reinterpret_cast<ExpDist *>(ctx->saved_data["dist"].toInt());
    const auto dy = grads[0].to(at::kFloat);
    const int64_t c = xhat.size(1);
    std::vector<int64_t> dims = {0};
    for (int64_t i = 2; i < xhat.dim(); ++i) {
      dims.push_back(i);
    }
    std::vector<int64_t> shape(static_cast<size_t>(xhat.dim()), 1);
    shape[1] = c;
    const auto sum_dy = dy.sum(dims);
    const auto sum_dy_xhat = (dy * xhat).sum(dims);
    // Local: the reducer averages these across ranks with the other grads.
    const auto grad_weight = sum_dy_xhat.to(weight.scalar_type());
    const auto grad_bias = sum_dy.to(weight.scalar_type());
    auto both = at::cat({sum_dy, sum_dy_xhat});
    std::vector<at::Tensor> buf = {both};
    d->pg->allreduce(buf)->wait(d->timeout);
    const auto mean_dy = (both.narrow(0, 0, c) / count).view(shape);
    const auto mean_dy_xhat = (both.narrow(0, c, c) / count).view(shape);
    const auto scale = (weight.to(at::kFloat) * invstd).view(shape);
    const auto dx = (dy - mean_dy - xhat * mean_dy_xhat) * scale;
    return {dx.to(grads[0].scalar_type()), grad_weight, grad_bias, at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor()};
  }
};
}  // namespace

extern "C" {

// Join the group: rank 0 serves the TCPStore on `host:port`, the others
// connect to it (retrying until `timeout_ms`). Collectives on CPU tensors
// go through Gloo; with `cuda` those on CUDA tensors go through NCCL (the
// default backend then). `loopback`: every rank is on this machine, so Gloo
// binds 127.0.0.1 instead of resolving the host name.
char *exp_dist_init(const char *host, int port, int rank, int world, int cuda, int loopback,
                    int64_t timeout_ms, ExpDist **out) {
  try {
    const auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(port);
    so.isServer = rank == 0;
    so.numWorkers = static_cast<size_t>(world);
    so.waitWorkers = true;
    so.timeout = timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(std::string(host), so);
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::PrefixStore>("exp", tcp);
    auto pg = c10::make_intrusive<c10d::ProcessGroup>(store, rank, world);
    auto gopts = c10d::ProcessGroupGloo::Options::create(timeout);
    gopts->devices.push_back(loopback != 0
                                 ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                 : c10d::ProcessGroupGloo::createDefaultDevice());
    auto gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(
        c10::make_intrusive<c10d::PrefixStore>("gloo", store), rank, world, gopts);
    pg->setBackend(c10::DeviceType::CPU, c10d::ProcessGroup::BackendType::GLOO, gloo);
    pg->setDefaultBackend(c10d::ProcessGroup::BackendType::GLOO);
    if (cuda != 0) {
#ifdef EXP_NCCL
      auto nopts = c10d::ProcessGroupNCCL::Options::create();
      nopts->timeout = timeout;
      auto nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(
          c10::make_intrusive<c10d::PrefixStore>("nccl", store), rank, world, nopts);
      pg->setBackend(c10::DeviceType::CUDA, c10d::ProcessGroup::BackendType::NCCL, nccl);
      pg->setDefaultBackend(c10d::ProcessGroup::BackendType::NCCL);
#else
      return exp_error("this exp was built without NCCL (no nccl.h found next to torch); "
                        "data-parallel training on CUDA needs it");
#endif
    }
    *out = new ExpDist{store, pg, timeout};
    return nullptr;
  } catch (const std::exception &e) {
    return exp_error(e.what());
  }
}

void exp_dist_free(ExpDist *d) { delete d; }

// Overwrite `ts` on every rank with rank `root`'s values, in coalesced
// buckets (torch DDP's module-state sync).
char *exp_dist_broadcast(ExpDist *d, const at::Tensor *const *ts, int64_t n, int root) {
  try {
    at::NoGradGuard no_grad;
    auto tensors = gather(ts, n);
    if (!tensors.empty()) {
      c10d::broadcast_coalesced(d->pg, tensors, static_cast<size_t>(kBucketBytes), root);
    }
    return nullptr;
  } catch (const std::exception &e) {
    return exp_error(e.what());
  }
}

// In-place all-reduce of `ts` (one dtype and device): op 0 sums, 1 takes the
// maximum. The tensors are flattened into one buffer: one collective.
char *exp_dist_allreduce(ExpDist *d, const at::Tensor *const *ts, int64_t n, int op) {
  try {
    at::NoGradGuard no_grad;
    auto tensors = gather(ts, n);
    if (tensors.empty()) {
      return nullptr;
    }
    std::vector<at::Tensor> flat_parts;
    for (const auto &t : tensors) {
      flat_parts.push_back(t.reshape({-1}));
    }
    std::vector<at::Tensor> buf = {at::cat(flat_parts)};
    c10d::AllreduceOptions o;
    o.reduceOp = op == 1 ? c10d::ReduceOp(c10d::ReduceOp::MAX) : c10d::ReduceOp(c10d::ReduceOp::SUM);
    o.timeout = d->timeout;
    d->pg->allreduce(buf, o)->wait(d->timeout);
    int64_t at = 0;
    for (auto &t : tensors) {
      const int64_t k = t.numel();
      t.copy_(buf[0].narrow(0, at, k).view(t.sizes()));
      at += k;
    }
    return nullptr;
  } catch (const std::exception &e) {
    return exp_error(e.what());
  }
}

// torch DDP's reducer over `params` (the phase's trainable parameters, all
// of which get a gradient every step), torch's default buckets, gradients
// averaged over the ranks, and its logger for the overlap timings.
char *exp_dist_reducer_new(ExpDist *d, const at::Tensor *const *params, int64_t n,
                           ExpReducer **out) {
  try {
    auto tensors = gather(params, n);
    std::vector<bool> sparse(tensors.size(), false);
    // As torch DDP without unused parameters: one bucket for the first
    // step, whose backward records the order gradients become ready; the
    // reducer then rebuilds the buckets in that order (1 MiB first, then
    // 25 MiB each), so each one is all-reduced as soon as it is complete.
    auto [buckets, limits] = c10d::compute_bucket_assignment_by_size(
        tensors, {std::numeric_limits<size_t>::max()}, sparse, {}, std::nullopt);
    (void)limits;
    std::reverse(buckets.begin(), buckets.end());
    std::unordered_map<size_t, std::string> names;
    auto reducer = std::make_shared<c10d::Reducer>(
        tensors, buckets, d->pg, sparse, kBucketBytes, /*find_unused_parameters=*/false,
        /*gradient_as_bucket_view=*/false, names, kFirstBucketBytes,
        /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false,
        /*bucket_bytes_cap_list=*/std::vector<int64_t>{});
    auto logger = std::make_shared<c10d::Logger>(reducer);
    logger->set_construction_data_and_log("exp", {}, -1, /*broadcast_buffers=*/true,
                                          /*has_sync_bn=*/false, /*static_graph=*/false);
    reducer->set_logger(logger);
    *out = new ExpReducer{reducer, logger};
    return nullptr;
  } catch (const std::exception &e) {
    return exp_error(e.what());
  }
}

void exp_dist_reducer_free(ExpReducer *r) { delete r; }

// Before the forward pass of a step whose backward all-reduces (torch DDP's
// _pre_forward): the last sampled step's timings, the iteration count, and
// the one-time bucket rebuild (a broadcast from rank 0).
char *exp_dist_reducer_pre_forward(ExpReducer *r) {
  try {
    r->logger->set_runtime_stats_and_log();
    r->reducer->prepare_for_forward();
    r->reducer->rebuild_buckets();
    return nullptr;
  } catch (const std::exception &e) {
    return exp_error(e.what());
  }
}

// After that forward: the next backward's gradient hooks all-reduce.
char *exp_dist_reducer_pre_backward(ExpReducer *r) {
  try {
    r->reducer->prepare_for_backward({});
    return nullptr;
  } catch (const std::exception &e) {
    return exp_error(e.what());
  }
}

// The logger's averages over the sampled steps, in nanoseconds: backward
// compute, all-reduce, and the time both ran at once. -1 when not measured.
void exp_dist_reducer_timings(ExpReducer *r, int64_t *compute, int64_t *comm, int64_t *overlap) {
  *compute = -1;
  *comm = -1;
  *overlap = -1;
  try {
    const auto data = r->logger->get_ddp_logging_data();
    auto get = [&](const char *k) -> int64_t {
      auto it = data.ints_map.find(k);
      return it == data.ints_map.end() ? -1 : it->second;
    };
    *compute = get("avg_backward_compute_time");
    *comm = get("avg_backward_comm_time");
    *overlap = get("avg_backward_compute_comm_overlap_time");
  } catch (const std::exception &) {
  }
}

// SyncBatchNorm's forward (training): a new tensor owned by the caller.
char *exp_dist_sync_batch_norm(ExpDist *d, const at::Tensor *x, const at::Tensor *weight,
                               const at::Tensor *bias, const at::Tensor *running_mean,
                               const at::Tensor *running_var, double momentum, double eps,
                               at::Tensor **out) {
  try {
    auto y = SyncBn::apply(*x, *weight, *bias, *running_mean, *running_var, momentum, eps,
                           reinterpret_cast<int64_t>(d));
    *out = new at::Tensor(y);
    return nullptr;
  } catch (const std::exception &e) {
    return exp_error(e.what());
  }
}

}  // extern "C"
