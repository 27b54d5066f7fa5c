#include "threads.h"

#include <atomic>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace swagfast::cpu {

namespace {
std::atomic<int> g_threads{0};  // 0: not set
thread_local int t_threads = 0;
}  // namespace

int num_threads() {
  if (t_threads > 0) return t_threads;
  const int g = g_threads.load(std::memory_order_relaxed);
  if (g > 0) return g;
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

void set_num_threads(int n) { g_threads.store(n, std::memory_order_relaxed); }

void set_thread_num_threads(int n) {
  t_threads = n;
#ifdef _OPENMP
  if (n > 0) omp_set_num_threads(n);
#endif
}

bool has_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace swagfast::cpu
