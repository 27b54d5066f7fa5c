#include "segment_pool_cpu.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "parallel.h"
#include "threads.h"

namespace swagfast::cpu {

namespace {

// First pass over one item with the reduction fixed at compile time (no switch per pixel).
// Returns -1, or the index of the first label outside [0, n_seg).
template <Reduce R, typename T>
int64_t accumulate(const T* v, const int32_t* lab, int64_t N, int64_t n_seg, double* acc) {
  for (int64_t i = 0; i < N; ++i) {
    const int32_t l = lab[i];
    if (l < 0 || l >= n_seg) return i;
    acc_add(acc + l * kAccWidth, static_cast<double>(v[i]), R);
  }
  return -1;
}

// One item: returns -1, or the index (within the item) of its first label outside [0, n_seg).
template <typename T>
int64_t pool_item(const T* v, const int32_t* lab, int64_t N, int64_t n_seg, Reduce reduce, T* out, T* map) {
  std::vector<double> acc(static_cast<size_t>(n_seg) * kAccWidth);
  for (int64_t s = 0; s < n_seg; ++s) acc_init(&acc[s * kAccWidth]);
  int64_t first_bad = -1;
  switch (reduce) {
#define SWAGFAST_POOL_CASE(R)                                     \
  case R: first_bad = accumulate<R>(v, lab, N, n_seg, acc.data()); \
    break;
    SWAGFAST_POOL_CASE(Reduce::Mean)
    SWAGFAST_POOL_CASE(Reduce::Sum)
    SWAGFAST_POOL_CASE(Reduce::Min)
    SWAGFAST_POOL_CASE(Reduce::Max)
    SWAGFAST_POOL_CASE(Reduce::L1)
    SWAGFAST_POOL_CASE(Reduce::L2)
    SWAGFAST_POOL_CASE(Reduce::Var)
    SWAGFAST_POOL_CASE(Reduce::Std)
    SWAGFAST_POOL_CASE(Reduce::Argmax)
#undef SWAGFAST_POOL_CASE
  }
  if (first_bad >= 0) return first_bad;
  if (needs_second_pass(reduce))
    for (int64_t i = 0; i < N; ++i) acc_add_second(&acc[lab[i] * kAccWidth], static_cast<double>(v[i]), i, reduce);
  for (int64_t s = 0; s < n_seg; ++s) out[s] = static_cast<T>(acc_finalize(&acc[s * kAccWidth], reduce));
  if (map != nullptr)
    for (int64_t i = 0; i < N; ++i) map[i] = out[lab[i]];
  return -1;
}

}  // namespace

template <typename T>
int64_t segment_pool(const T* values, const int32_t* labels, int64_t B, int64_t N, int64_t n_seg,
                     Reduce reduce, T* seg_out, T* map_out) {
  int64_t bad = std::numeric_limits<int64_t>::max();
  FirstError error;  // the tables are allocated per item, inside the region
#pragma omp parallel for schedule(dynamic, 1) reduction(min : bad) num_threads(num_threads())
  for (int64_t b = 0; b < B; ++b) {
    int64_t item_bad = -1;
    error.run([&] {
      item_bad = pool_item<T>(values + b * N, labels + b * N, N, n_seg, reduce, seg_out + b * n_seg,
                              map_out != nullptr ? map_out + b * N : nullptr);
    });
    if (item_bad >= 0) bad = std::min(bad, item_bad + b * N);
  }
  error.rethrow();
  return bad == std::numeric_limits<int64_t>::max() ? -1 : bad;
}

template int64_t segment_pool<float>(const float*, const int32_t*, int64_t, int64_t, int64_t, Reduce, float*,
                                     float*);
template int64_t segment_pool<double>(const double*, const int32_t*, int64_t, int64_t, int64_t, Reduce,
                                      double*, double*);

}  // namespace swagfast::cpu
