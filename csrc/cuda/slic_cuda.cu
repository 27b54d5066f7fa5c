#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "slic_cuda.h"
#include "swagfast/lab.h"
#include "swagfast/slic.h"

namespace swagfast::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxWeights = kMaxFeatures;

inline unsigned blocks_for(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

struct Weights {
  float w[kMaxWeights];
};

__global__ void lab_kernel(const float* rgb, int64_t n, float* lab, int64_t stride) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) swagfast::rgb_to_lab(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2], lab + i * stride);
}

__global__ void init_kernel(const float* feat, Weights w, SlicGrid g, int64_t B, double* centres, int32_t* labels) {
  const int64_t K = g.centres(), N = g.voxels();
  const int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (t < B * K) {
    const int64_t b = t / K, k = t % K;
    init_centre(feat + b * N * g.F, w.w, g, k, centres + t * (g.F + 3));
  }
  if (t < B * N) {
    const int64_t i = t % N;
    const int64_t x = i % g.X, y = (i / g.X) % g.Y, z = i / (g.X * g.Y);
    labels[t] = static_cast<int32_t>((cell_of(z, g.Z, g.gz) * g.gy + cell_of(y, g.Y, g.gy)) * g.gx +
                                     cell_of(x, g.X, g.gx));
  }
}

// Sum of v over the lanes of the warp where `in` holds (a butterfly: every lane gets the total).
__device__ double warp_sum(double v, bool in) {
  double s = in ? v : 0.0;
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  return s;
}

// Assignment, then the voxel's features, position and count added to its centre's sums. The
// lanes of a warp mostly share one or two centres (a warp is 32 neighbouring voxels of a row), so
// they are summed within the warp first and one lane per distinct centre does the atomic adds:
// with one thread per voxel adding straight into ~120 centres per clip, the atomics serialised
// on a few addresses. No lane returns early: every lane takes part in the warp's shuffles.
__global__ void assign_kernel(const float* feat, Weights w, SlicGrid g, int64_t B, const double* centres,
                              int32_t* labels, double* sums) {
  const int64_t N = g.voxels(), K = g.centres();
  const int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const bool valid = t < B * N;
  int64_t key = -1;  // this voxel's row of `sums` (b * K + label)
  int64_t z = 0, y = 0, x = 0;
  const float* f = feat;
  if (valid) {
    const int64_t b = t / N, i = t % N;
    x = i % g.X, y = (i / g.X) % g.Y, z = i / (g.X * g.Y);
    f = feat + t * g.F;
    const int32_t l = assign_voxel(f, w.w, g, centres + b * K * (g.F + 3), z, y, x, labels[t]);
    labels[t] = l;
    key = b * K + l;
  }
  const int lane = static_cast<int>(threadIdx.x & 31);
  unsigned remaining = 0xffffffffu;  // lanes whose key has not been summed yet (warp-uniform)
  while (remaining != 0u) {
    const int first = __ffs(remaining) - 1;
    const int64_t k = __shfl_sync(0xffffffffu, key, first);
    const bool mine = key == k;
    remaining &= ~__ballot_sync(0xffffffffu, mine);
    if (k < 0) continue;  // the lanes past the end of the batch
    double* s = sums + k * (g.F + 4);
    for (int c = 0; c < g.F; ++c) {
      const double total = warp_sum(static_cast<double>(f[c]), mine);
      if (lane == first) atomicAdd(s + c, total);
    }
    const double tz = warp_sum(static_cast<double>(z), mine);
    const double ty = warp_sum(static_cast<double>(y), mine);
    const double tx = warp_sum(static_cast<double>(x), mine);
    const double n = warp_sum(1.0, mine);
    if (lane == first) {
      atomicAdd(s + g.F, tz);
      atomicAdd(s + g.F + 1, ty);
      atomicAdd(s + g.F + 2, tx);
      atomicAdd(s + g.F + 3, n);
    }
  }
}

__global__ void update_kernel(SlicGrid g, int64_t B, double* centres, double* sums) {
  const int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (t >= B * g.centres()) return;
  double* s = sums + t * (g.F + 4);
  update_centre(s, g.F, centres + t * (g.F + 3));
  for (int c = 0; c < g.F + 4; ++c) s[c] = 0.0;
}

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

}  // namespace

void rgb_to_lab(const float* rgb, int64_t n, float* lab, int64_t stride, void* stream) {
  if (n == 0) return;
  lab_kernel<<<blocks_for(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(rgb, n, lab, stride);
  check(cudaGetLastError(), "swagfast rgb_to_lab kernel launch");
}

int64_t slic_centres(int64_t Z, int64_t Y, int64_t X, int F, int64_t n_segments, double sz, double sy, double sx) {
  return make_grid(Z, Y, X, F, n_segments, sz, sy, sx).centres();
}

int64_t slic_iterate(const float* feat, const float* weights, int64_t B, int64_t Z, int64_t Y, int64_t X, int F,
                     int64_t n_segments, double sz, double sy, double sx, int max_iter, int32_t* labels,
                     double* workspace, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  const SlicGrid g = make_grid(Z, Y, X, F, n_segments, sz, sy, sx);
  if (F > kMaxWeights) throw std::invalid_argument("swagfast slic: at most 4 features per voxel");
  Weights w{};
  for (int i = 0; i < F; ++i) w.w[i] = weights[i];  // host copy of the weights (passed by value)
  const int64_t K = g.centres(), N = g.voxels();
  if (B == 0) return K;
  double* centres = workspace;
  double* sums = workspace + B * K * (F + 3);
  check(cudaMemsetAsync(sums, 0, sizeof(double) * B * K * (F + 4), s), "swagfast slic memset");
  const int64_t n_init = B * (K > N ? K : N);
  init_kernel<<<blocks_for(n_init), kThreads, 0, s>>>(feat, w, g, B, centres, labels);
  for (int it = 0; it < max_iter; ++it) {
    assign_kernel<<<blocks_for(B * N), kThreads, 0, s>>>(feat, w, g, B, centres, labels, sums);
    update_kernel<<<blocks_for(B * K), kThreads, 0, s>>>(g, B, centres, sums);
  }
  check(cudaGetLastError(), "swagfast slic kernel launch");
  return K;
}

}  // namespace swagfast::cuda
