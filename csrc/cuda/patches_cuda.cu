#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "patches_cuda.h"

namespace swagfast::cuda {
namespace {

template <typename T>
__global__ void patches_kernel(const T* maps, const int64_t* offsets, int64_t B, PatchGrid g, T* J, T* C) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int64_t cells = g.T * g.H * g.W;
  if (i >= B * cells) return;
  const int64_t b = i / cells, c = i % cells;
  const int64_t x = c % g.W, y = (c / g.W) % g.H, z = c / (g.W * g.H);
  gather_cell(maps + b * g.P * g.t * g.h * g.w, offsets, g, z, y, x, J + i, C + i);
}

}  // namespace

template <typename T>
void accumulate_patches(const T* maps, const int64_t* offsets, int64_t B, const PatchGrid& g, T* J, T* C,
                        void* stream) {
  const int64_t n = B * g.T * g.H * g.W;
  if (n == 0) return;
  constexpr int threads = 256;
  patches_kernel<T><<<static_cast<unsigned>((n + threads - 1) / threads), threads, 0,
                      static_cast<cudaStream_t>(stream)>>>(maps, offsets, B, g, J, C);
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("swagfast accumulate_patches kernel launch: ") + cudaGetErrorString(err));
}

template void accumulate_patches<float>(const float*, const int64_t*, int64_t, const PatchGrid&, float*, float*,
                                        void*);
template void accumulate_patches<double>(const double*, const int64_t*, int64_t, const PatchGrid&, double*,
                                         double*, void*);

}  // namespace swagfast::cuda
