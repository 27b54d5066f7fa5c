#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "segment_pool_cuda.h"

namespace swagfast::cuda {
namespace {

constexpr int kThreads = 256;

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}

inline unsigned blocks_for(int64_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

template <bool IsMin>
__device__ void atomic_minmax(double* addr, double v) {
  auto* a = reinterpret_cast<unsigned long long*>(addr);
  unsigned long long old = *a, assumed;
  do {
    assumed = old;
    const double cur = __longlong_as_double(static_cast<long long>(assumed));
    const double next = IsMin ? min_nan(cur, v) : max_nan(cur, v);
    if (__double_as_longlong(next) == __double_as_longlong(cur)) return;
    old = atomicCAS(a, assumed, static_cast<unsigned long long>(__double_as_longlong(next)));
  } while (assumed != old);
}

__global__ void init_kernel(double* acc, int64_t count) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < count) acc_init(acc + i * kAccWidth);
}

template <typename T>
__global__ void accumulate_kernel(const T* values, const int32_t* labels, int64_t B, int64_t N, int64_t n_seg,
                                  Reduce reduce, double* acc, bool second_pass) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= B * N) return;
  const int64_t b = i / N;
  double* a = acc + (b * n_seg + labels[i]) * kAccWidth;
  const double v = static_cast<double>(values[i]);
  if (second_pass) {
    if (reduce == Reduce::Argmax) {  // non-negative doubles order like their bits
      const double m = a[kMax];
      if (v == m || (v != v && m != m))
        atomicMin(reinterpret_cast<unsigned long long*>(a + kArg),
                  static_cast<unsigned long long>(__double_as_longlong(static_cast<double>(i % N))));
      return;
    }
    const double d = v - acc_mean(a);
    atomicAdd(a + kM2, d * d);
    return;
  }
  atomicAdd(a + kCount, 1.0);
  switch (reduce) {
    case Reduce::Min: atomic_minmax<true>(a + kMin, v); break;
    case Reduce::Max:
    case Reduce::Argmax: atomic_minmax<false>(a + kMax, v); break;
    case Reduce::L1: atomicAdd(a + kAbs, fabs(v)); break;
    case Reduce::L2: atomicAdd(a + kSq, v * v); break;
    default: atomicAdd(a + kSum, v); break;
  }
}

template <typename T>
__global__ void finalize_kernel(const double* acc, int64_t count, Reduce reduce, T* seg_out) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < count) seg_out[i] = static_cast<T>(acc_finalize(acc + i * kAccWidth, reduce));
}

template <typename T>
__global__ void scatter_kernel(const int32_t* labels, int64_t B, int64_t N, int64_t n_seg, const T* seg_out,
                               T* map_out) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < B * N) map_out[i] = seg_out[(i / N) * n_seg + labels[i]];
}

}  // namespace

template <typename T>
void segment_pool(const T* values, const int32_t* labels, int64_t B, int64_t N, int64_t n_seg, Reduce reduce,
                  T* seg_out, T* map_out, double* workspace, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  const int64_t n_acc = B * n_seg;
  if (n_acc == 0) return;
  init_kernel<<<blocks_for(n_acc), kThreads, 0, s>>>(workspace, n_acc);
  if (B * N > 0) {
    accumulate_kernel<T><<<blocks_for(B * N), kThreads, 0, s>>>(values, labels, B, N, n_seg, reduce, workspace,
                                                                false);
    if (needs_second_pass(reduce))
      accumulate_kernel<T><<<blocks_for(B * N), kThreads, 0, s>>>(values, labels, B, N, n_seg, reduce,
                                                                  workspace, true);
  }
  finalize_kernel<T><<<blocks_for(n_acc), kThreads, 0, s>>>(workspace, n_acc, reduce, seg_out);
  if (map_out != nullptr && B * N > 0)
    scatter_kernel<T><<<blocks_for(B * N), kThreads, 0, s>>>(labels, B, N, n_seg, seg_out, map_out);
  check(cudaGetLastError(), "swagfast segment_pool kernel launch");
}

template void segment_pool<float>(const float*, const int32_t*, int64_t, int64_t, int64_t, Reduce, float*, float*,
                                  double*, void*);
template void segment_pool<double>(const double*, const int32_t*, int64_t, int64_t, int64_t, Reduce, double*,
                                   double*, double*, void*);

int device_count(const char** error) {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    *error = cudaGetErrorString(err);
    return -1;
  }
  *error = nullptr;
  return n;
}

}  // namespace swagfast::cuda
