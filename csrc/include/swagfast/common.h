// Shared by the CPU (.cpp) and CUDA (.cu) kernels: one host/device macro.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define SWAGFAST_HD __host__ __device__ __forceinline__
#else
#define SWAGFAST_HD inline
#endif

namespace swagfast {

// NaN-propagating min/max: once a NaN enters, it stays (like torch.amin/amax).
template <typename T> SWAGFAST_HD T min_nan(T acc, T v) { return (v < acc || v != v) ? v : acc; }
template <typename T> SWAGFAST_HD T max_nan(T acc, T v) { return (v > acc || v != v) ? v : acc; }

}  // namespace swagfast
