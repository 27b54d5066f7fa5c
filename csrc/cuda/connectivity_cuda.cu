#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "connectivity_cuda.h"
#include "swagfast/connectivity.h"

namespace swagfast::cuda {
namespace {

namespace cc = swagfast::connectivity;

constexpr int kThreads = 256;  // a multiple of 32: the rank kernel counts warp by warp

struct DeviceMin {
  __device__ int32_t operator()(int32_t* p, int32_t v) const { return atomicMin(p, v); }
};

// Every kernel: blockIdx.y is the item, blockIdx.x * kThreads + threadIdx.x the voxel in it;
// the item's arrays start at b * N.
struct Arrays {
  int32_t* labels;
  int32_t* parent;
  int32_t* size;    // component sizes, later the rank of each segment root
  int32_t* target;  // per root: itself, or the root it merges into
  int32_t* blocks;  // per item and block: segment roots in the block, then their running offset
  int32_t* counts;  // per item: segments
};

struct Item {
  int32_t i;  // voxel in the item; i < N when valid
  int64_t base;
};

__device__ Item item_of(cc::Dims d) {
  return {static_cast<int32_t>(blockIdx.x * kThreads + threadIdx.x), static_cast<int64_t>(blockIdx.y) * d.voxels()};
}

__global__ void init_kernel(Arrays a, cc::Dims d) {
  const Item v = item_of(d);
  if (v.i >= d.voxels()) return;
  cc::init(a.parent + v.base, v.i);
  a.size[v.base + v.i] = 0;
}

__global__ void join_kernel(Arrays a, cc::Dims d) {
  const Item v = item_of(d);
  if (v.i < d.voxels()) cc::join(a.labels + v.base, a.parent + v.base, d, v.i, DeviceMin{});
}

__global__ void flatten_kernel(Arrays a, cc::Dims d) {
  const Item v = item_of(d);
  if (v.i < d.voxels()) cc::flatten(a.parent + v.base, v.i);
}

__global__ void size_kernel(Arrays a, cc::Dims d) {
  const Item v = item_of(d);
  if (v.i < d.voxels()) atomicAdd(a.size + v.base + a.parent[v.base + v.i], 1);
}

__global__ void choose_kernel(Arrays a, cc::Dims d, int32_t min_size) {
  const Item v = item_of(d);
  if (v.i < d.voxels() && a.parent[v.base + v.i] == v.i)
    cc::choose(a.parent + v.base, a.size + v.base, a.target + v.base, d, v.i, min_size);
}

__device__ bool is_segment_root(const Arrays& a, cc::Dims d, const Item& v) {
  return v.i < d.voxels() && a.parent[v.base + v.i] == v.i && a.target[v.base + v.i] == v.i;
}

__global__ void count_kernel(Arrays a, cc::Dims d) {
  const Item v = item_of(d);
  const int n = __syncthreads_count(is_segment_root(a, d, v));
  if (threadIdx.x == 0) a.blocks[static_cast<int64_t>(blockIdx.y) * gridDim.x + blockIdx.x] = n;
}

// One thread per item: the blocks' counts become exclusive running offsets (in raster order).
__global__ void offsets_kernel(Arrays a, int64_t B, int32_t blocks_per_item) {
  const int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (b >= B) return;
  int32_t* c = a.blocks + b * blocks_per_item;
  int32_t total = 0;
  for (int32_t k = 0; k < blocks_per_item; ++k) {
    const int32_t n = c[k];
    c[k] = total;
    total += n;
  }
  a.counts[b] = total;
}

// Each segment root's number: its block's offset plus the segment roots before it in the block.
__global__ void rank_kernel(Arrays a, cc::Dims d) {
  __shared__ int32_t warp_counts[kThreads / 32];
  const Item v = item_of(d);
  const bool root = is_segment_root(a, d, v);
  const unsigned ballot = __ballot_sync(0xffffffffu, root);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_counts[warp] = __popc(ballot);
  __syncthreads();
  if (!root) return;
  int32_t before = a.blocks[static_cast<int64_t>(blockIdx.y) * gridDim.x + blockIdx.x];
  for (int w = 0; w < warp; ++w) before += warp_counts[w];
  before += __popc(ballot & ((1u << lane) - 1u));
  a.size[v.base + v.i] = before;
}

__global__ void label_kernel(Arrays a, cc::Dims d) {
  const Item v = item_of(d);
  if (v.i >= d.voxels()) return;
  const int32_t r = cc::segment_of(a.target + v.base, a.parent[v.base + v.i]);
  a.labels[v.base + v.i] = a.size[v.base + r];
}

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

}  // namespace

int64_t relabel_workspace(int64_t B, int64_t Z, int64_t Y, int64_t X) {
  const int64_t N = Z * Y * X;
  return B * (3 * N + (N + kThreads - 1) / kThreads);
}

void relabel_parallel(int32_t* labels, int64_t B, int64_t Z, int64_t Y, int64_t X, int64_t n_centres,
                      double min_size_factor, int32_t* counts, int32_t* workspace, void* stream) {
  const int64_t N = Z * Y * X;
  if (B == 0 || N == 0) return;
  if (N >= (int64_t{1} << 31) || B > 65535)
    throw std::invalid_argument("swagfast relabel: at most 2^31 - 1 voxels per item and 65535 items");
  auto s = static_cast<cudaStream_t>(stream);
  const cc::Dims d{static_cast<int32_t>(Z), static_cast<int32_t>(Y), static_cast<int32_t>(X)};
  const auto blocks_per_item = static_cast<int32_t>((N + kThreads - 1) / kThreads);
  Arrays a{labels, workspace, workspace + B * N, workspace + 2 * B * N, workspace + 3 * B * N,
           counts};
  const auto min_size = static_cast<int32_t>(cc::min_size(N, n_centres, min_size_factor));
  const dim3 grid(static_cast<unsigned>(blocks_per_item), static_cast<unsigned>(B));
  init_kernel<<<grid, kThreads, 0, s>>>(a, d);
  join_kernel<<<grid, kThreads, 0, s>>>(a, d);
  flatten_kernel<<<grid, kThreads, 0, s>>>(a, d);
  size_kernel<<<grid, kThreads, 0, s>>>(a, d);
  choose_kernel<<<grid, kThreads, 0, s>>>(a, d, min_size);
  count_kernel<<<grid, kThreads, 0, s>>>(a, d);
  offsets_kernel<<<static_cast<unsigned>((B + kThreads - 1) / kThreads), kThreads, 0, s>>>(a, B, blocks_per_item);
  rank_kernel<<<grid, kThreads, 0, s>>>(a, d);
  label_kernel<<<grid, kThreads, 0, s>>>(a, d);
  check(cudaGetLastError(), "swagfast relabel kernel launch");
}

}  // namespace swagfast::cuda
