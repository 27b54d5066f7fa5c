// segment_pool on the CPU (OpenMP over the batch).
#pragma once

#include <cstdint>

#include "swagfast/segment_pool.h"

namespace swagfast::cpu {

// values     [B, N]   float or double, C-contiguous
// labels     [B, N]   int32, each in [0, n_seg)
// seg_out    [B, n_seg]  (written)
// map_out    [B, N] or nullptr: each pixel set to its segment's value
// Returns -1 when every label is valid, else the flat index of the first bad label found.
template <typename T>
int64_t segment_pool(const T* values, const int32_t* labels, int64_t B, int64_t N, int64_t n_seg,
                     Reduce reduce, T* seg_out, T* map_out);


}  // namespace swagfast::cpu
