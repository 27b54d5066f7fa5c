// The order-free connectivity rule ("parallel"), one function per step and per voxel, shared by
// the CUDA kernels (one thread per voxel) and the CPU (the same steps in loops, one item at a
// time), so both give identical labels. For one item of N = Z * Y * X voxels (raster index i):
//
//  1. Components: 6-connected runs of equal labels (4-connected when Z = 1). Each component's
//     root is its lowest index: union-find, always hooking the higher root under the lower, so
//     the roots do not depend on the order the unions come in.
//  2. A component smaller than min_size whose root r is not voxel 0 merges into the component
//     of the voxel before r: r - 1 along x when x > 0, else along y, else along z. That voxel has
//     a lower index than r, so its component's root is lower too, and chains of merges end.
//  3. Segments are the components that did not merge (large ones, and voxel 0's), numbered by
//     root in raster order: the order of first appearance, as the raster ("BFS") rule numbers.
//
// The raster rule (csrc/cpu/slic_cpu.cpp, relabel_one) instead grows components breadth-first
// from the first unvisited voxel, merges a small one into the last differently labelled segment
// its search met, also merges a small first component, and cuts components at max_size; each
// of those depends on the visiting order, which is why the device does not follow it.
#pragma once

#include <algorithm>
#include <cstdint>

#include "swagfast/common.h"

namespace swagfast::connectivity {

// Components under this many voxels merge (both rules): min_size_factor times the mean segment
// size N / n_centres, truncated, and at most N + 1 (then every component is small).
inline int64_t min_size(int64_t N, int64_t n_centres, double min_size_factor) {
  const double segment_size = static_cast<double>(N) / static_cast<double>(std::max<int64_t>(n_centres, 1));
  return static_cast<int64_t>(std::min(min_size_factor * segment_size, static_cast<double>(N + 1)));
}

struct Dims {
  int32_t Z, Y, X;
  SWAGFAST_HD int32_t voxels() const { return Z * Y * X; }
};

// A read of another voxel's parent. On the device it skips the L1 cache (which other SMs'
// writes do not reach); a stale value is still an ancestor, and union() retries on it.
SWAGFAST_HD int32_t load(const int32_t* p) {
#if defined(__CUDA_ARCH__)
  return __ldcg(p);
#else
  return *p;
#endif
}

SWAGFAST_HD int32_t find(const int32_t* parent, int32_t i) {
  for (int32_t p = load(parent + i); p != i; p = load(parent + i)) i = p;
  return i;
}

// Join the sets of a and b. `atomic_min(p, v)` sets *p = min(*p, v) and returns the old value.
template <typename AtomicMin>
SWAGFAST_HD void unite(int32_t* parent, int32_t a, int32_t b, AtomicMin atomic_min) {
  for (;;) {
    a = find(parent, a), b = find(parent, b);
    if (a == b) return;
    if (a < b) {
      const int32_t t = a;
      a = b, b = t;
    }
    const int32_t old = atomic_min(parent + a, b);  // hook root a under the lower root b
    if (old == a) return;
    a = old;  // a was hooked elsewhere meanwhile: join from there
  }
}

// Step 1a: each voxel its own set.
SWAGFAST_HD void init(int32_t* parent, int32_t i) { parent[i] = i; }

// Step 1b: unite voxel i with its lower neighbours (x - 1, y - 1, z - 1) of equal label.
template <typename AtomicMin>
SWAGFAST_HD void join(const int32_t* labels, int32_t* parent, Dims d, int32_t i, AtomicMin atomic_min) {
  const int32_t x = i % d.X, y = (i / d.X) % d.Y, z = i / (d.X * d.Y);
  const int32_t l = labels[i];
  if (x > 0 && labels[i - 1] == l) unite(parent, i, i - 1, atomic_min);
  if (y > 0 && labels[i - d.X] == l) unite(parent, i, i - d.X, atomic_min);
  if (z > 0 && labels[i - d.X * d.Y] == l) unite(parent, i, i - d.X * d.Y, atomic_min);
}

// Step 1c (after every join): parent[i] becomes i's root.
SWAGFAST_HD void flatten(int32_t* parent, int32_t i) { parent[i] = find(parent, i); }

// The voxel before root r (step 2); r > 0.
SWAGFAST_HD int32_t before(Dims d, int32_t r) {
  const int32_t x = r % d.X, y = (r / d.X) % d.Y;
  return x > 0 ? r - 1 : (y > 0 ? r - d.X : r - d.X * d.Y);
}

// Step 2 at a root r (parent flat, size[r] its component's size): target[r] is r itself when
// its component stays a segment, else the root it merges into.
SWAGFAST_HD void choose(const int32_t* parent, const int32_t* size, int32_t* target, Dims d, int32_t r,
                        int32_t min_size) {
  target[r] = (r > 0 && size[r] < min_size) ? parent[before(d, r)] : r;
}

// Step 2, chains (after every choose): the segment root a root ends in.
SWAGFAST_HD int32_t segment_of(const int32_t* target, int32_t r) {
  for (int32_t t = target[r]; t != r; t = target[r]) r = t;
  return r;
}

}  // namespace swagfast::connectivity
