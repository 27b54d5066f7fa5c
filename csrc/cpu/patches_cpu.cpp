#include "patches_cpu.h"
#include "threads.h"

namespace swagfast::cpu {

template <typename T>
void accumulate_patches(const T* maps, const int64_t* offsets, int64_t B, const PatchGrid& g, T* J, T* C) {
  const int64_t rows = B * g.T * g.H, per_item = g.P * g.t * g.h * g.w;
#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t b = r / (g.T * g.H), z = (r / g.H) % g.T, y = r % g.H;
    for (int64_t x = 0; x < g.W; ++x) {
      const int64_t i = r * g.W + x;
      gather_cell(maps + b * per_item, offsets, g, z, y, x, J + i, C + i);
    }
  }
}

template void accumulate_patches<float>(const float*, const int64_t*, int64_t, const PatchGrid&, float*, float*);
template void accumulate_patches<double>(const double*, const int64_t*, int64_t, const PatchGrid&, double*,
                                         double*);

}  // namespace swagfast::cpu
