// segment_pool on CUDA. Same contract as swagfast::cpu::segment_pool, on device pointers,
// enqueued on `stream` (a cudaStream_t passed as void* so callers need no CUDA headers).
// Labels are validated by the caller (the kernels assume 0 <= label < n_seg).
#pragma once

#include <cstdint>

#include "swagfast/segment_pool.h"

namespace swagfast::cuda {

// workspace: [B, n_seg, kAccWidth] doubles, device memory owned by the caller.
template <typename T>
void segment_pool(const T* values, const int32_t* labels, int64_t B, int64_t N, int64_t n_seg, Reduce reduce,
                  T* seg_out, T* map_out, double* workspace, void* stream);

// Number of visible devices; on failure, -1 and the CUDA error string in `error`.
int device_count(const char** error);

}  // namespace swagfast::cuda
