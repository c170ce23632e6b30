// Whole-step CUDA graphs: libtorch's at::cuda::CUDAGraph, which tch does not
// bind. Built only when the CUDA runtime headers are found (EXP_CUDA_GRAPHS,
// set by build.rs); otherwise every call reports that this build has no CUDA
// graphs and the trainer runs eagerly.
//
// Every function catches C++ exceptions so none crosses the C boundary;
// errors are returned as a heap string freed with exp_shim_free_error.
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#ifdef EXP_CUDA_GRAPHS
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#include <optional>
#endif

#include "error.h"

namespace {
#ifdef EXP_CUDA_GRAPHS
// A graph and the stream it records on. Why a stream from the pool: CUDA
// cannot capture the legacy default stream, and the side stream keeps the
// capture's work apart from the loader's copies.
struct Graph {
  at::cuda::CUDAGraph graph;
  std::optional<c10::cuda::CUDAStream> side;
  std::optional<c10::cuda::CUDAStream> prev;
};

// Make a pool stream current (after all queued work is done); `prev` keeps
// the stream to return to.
void enter_side_stream(Graph *g) {
  c10::cuda::device_synchronize();
  g->prev = c10::cuda::getCurrentCUDAStream();
  if (!g->side) {
    g->side = c10::cuda::getStreamFromPool();
  }
  c10::cuda::setCurrentCUDAStream(*g->side);
}

void leave_side_stream(Graph *g) {
  c10::cuda::device_synchronize();
  if (g->prev) {
    c10::cuda::setCurrentCUDAStream(*g->prev);
    g->prev.reset();
  }
}
#endif
}  // namespace

extern "C" {

// 1 when this build can capture CUDA graphs.
int exp_shim_cuda_graphs_built() {
#ifdef EXP_CUDA_GRAPHS
  return 1;
#else
  return 0;
#endif
}

#ifdef EXP_CUDA_GRAPHS
char *exp_shim_graph_new(void **out) {
  try {
    *out = new Graph();
    return nullptr;
  } catch (const std::exception &e) {
    return exp_error(e.what());
  }
}

void exp_shim_graph_free(void *g) { delete static_cast<Graph *>(g); }

// Warm-up: run the next eager steps on the graph's side stream, as
// torch.cuda.graphs recommends (lazy allocations, cuDNN autotuning and
// cuBLAS workspaces then happen outside the capture).
char *exp_shim_graph_side_begin(void *g) {
  try {
    enter_side_stream(static_cast<Graph *>(g));
    return nullptr;
  } catch (const std::exception &e) {
    return exp_error(e.what());
  }
}

char *exp_shim_graph_side_end(void *g) {
  try {
    leave_side_stream(static_cast<Graph *>(g));
    return nullptr;
  } catch (const std::exception &e) {
    return exp_error(e.what());
  }
}

// Start recording on the side stream into a private memory pool. Why
// thread-local capture mode: the loader's worker threads allocate pinned
// host memory meanwhile, which global mode would count as an error.
char *exp_shim_graph_capture_begin(void *g) {
  auto *graph = static_cast<Graph *>(g);
  try {
    enter_side_stream(graph);
    graph->graph.capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
    return nullptr;
  } catch (const std::exception &e) {
    try {
      leave_side_stream(graph);
    } catch (const std::exception &) {
    }
    return exp_error(e.what());
  }
}

// Stop recording and instantiate the graph; on failure the partial capture
// is dropped and the stream restored, so eager steps can continue.
char *exp_shim_graph_capture_end(void *g) {
  auto *graph = static_cast<Graph *>(g);
  try {
    graph->graph.capture_end();
    leave_side_stream(graph);
    return nullptr;
  } catch (const std::exception &e) {
    std::string msg = e.what();
    try {
      graph->graph.reset();
      leave_side_stream(graph);
    } catch (const std::exception &) {
    }
    return exp_error(msg);
  }
}

// Replay on the current stream: no host sync.
char *exp_shim_graph_replay(void *g) {
  try {
    static_cast<Graph *>(g)->graph.replay();
    return nullptr;
  } catch (const std::exception &e) {
    return exp_error(e.what());
  }
}
#else
namespace {
char *unavailable() {
  return exp_error(
      "CUDA graphs unavailable in this build (the CUDA runtime headers were not found when "
      "exp was compiled)");
}
}  // namespace
char *exp_shim_graph_new(void **out) {
  *out = nullptr;
  return unavailable();
}
void exp_shim_graph_free(void *) {}
char *exp_shim_graph_side_begin(void *) { return unavailable(); }
char *exp_shim_graph_side_end(void *) { return unavailable(); }
char *exp_shim_graph_capture_begin(void *) { return unavailable(); }
char *exp_shim_graph_capture_end(void *) { return unavailable(); }
char *exp_shim_graph_replay(void *) { return unavailable(); }
#endif

}  // extern "C"
