// Patch accumulation for Jitter-CAM (thesis chapter 5, METHODS.md §4), shared by CPU and CUDA.
//
// P patch maps of shape [t, h, w] sit in an output grid [T, H, W] at integer offsets
// (oz, oy, ox); J sums the maps over the patches covering each cell, C counts them. Both
// backends gather per output cell over the patches in increasing p, so their sums round alike.
#pragma once

#include <cstdint>

#include "swagfast/common.h"

namespace swagfast {

struct PatchGrid {
  int64_t P, t, h, w;  // patches and patch-map shape
  int64_t T, H, W;     // output shape
};

// J and C at output cell (z, y, x) of one item; maps [P, t, h, w], offsets [P, 3].
template <typename T>
SWAGFAST_HD void gather_cell(const T* maps, const int64_t* offsets, const PatchGrid& g, int64_t z, int64_t y,
                             int64_t x, T* J, T* C) {
  T sum = 0, count = 0;
  for (int64_t p = 0; p < g.P; ++p) {
    const int64_t dz = z - offsets[3 * p], dy = y - offsets[3 * p + 1], dx = x - offsets[3 * p + 2];
    if (dz < 0 || dz >= g.t || dy < 0 || dy >= g.h || dx < 0 || dx >= g.w) continue;
    sum += maps[((p * g.t + dz) * g.h + dy) * g.w + dx];
    count += 1;
  }
  *J = sum;
  *C = count;
}

}  // namespace swagfast
