#include "connectivity_cpu.h"

#include <algorithm>
#include <vector>

#include "swagfast/connectivity.h"
#include "parallel.h"
#include "threads.h"

namespace swagfast::cpu {

namespace {

namespace cc = swagfast::connectivity;

// One item, the steps of swagfast/connectivity.h in order (each a loop over the voxels, as the
// CUDA kernels are a launch each); the sets are joined one union at a time.
int32_t relabel_parallel_one(int32_t* labels, cc::Dims d, int32_t min_size) {
  const int32_t N = d.voxels();
  std::vector<int32_t> parent(N), size(N, 0), target(N), rank(N, -1);
  auto atomic_min = [](int32_t* p, int32_t v) {
    const int32_t old = *p;
    *p = std::min(old, v);
    return old;
  };
  for (int32_t i = 0; i < N; ++i) cc::init(parent.data(), i);
  for (int32_t i = 0; i < N; ++i) cc::join(labels, parent.data(), d, i, atomic_min);
  for (int32_t i = 0; i < N; ++i) cc::flatten(parent.data(), i);
  for (int32_t i = 0; i < N; ++i) ++size[parent[i]];
  for (int32_t r = 0; r < N; ++r)
    if (parent[r] == r) cc::choose(parent.data(), size.data(), target.data(), d, r, min_size);
  int32_t segments = 0;
  for (int32_t r = 0; r < N; ++r)
    if (parent[r] == r && target[r] == r) rank[r] = segments++;
  for (int32_t i = 0; i < N; ++i) labels[i] = rank[cc::segment_of(target.data(), parent[i])];
  return segments;
}

}  // namespace

void relabel_parallel(int32_t* labels, int64_t B, int64_t Z, int64_t Y, int64_t X, int64_t n_centres,
                      double min_size_factor, int32_t* counts) {
  const int64_t N = Z * Y * X;
  const auto min_size = static_cast<int32_t>(cc::min_size(N, n_centres, min_size_factor));
  const cc::Dims d{static_cast<int32_t>(Z), static_cast<int32_t>(Y), static_cast<int32_t>(X)};
  FirstError error;
#pragma omp parallel for schedule(dynamic, 1) if (B > 1) num_threads(cpu::num_threads())
  for (int64_t b = 0; b < B; ++b) error.run([&] { counts[b] = relabel_parallel_one(labels + b * N, d, min_size); });
  error.rethrow();
}

}  // namespace swagfast::cpu
