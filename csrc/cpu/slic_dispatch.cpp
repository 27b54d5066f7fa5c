// Run-time choice between the two builds of slic_cpu.cpp (see slic_cpu.h).
#include <cstdlib>
#include <cstring>

#include "slic_cpu.h"

namespace swagfast::cpu {

namespace {

bool use_avx2() {
#if defined(SWAGFAST_HAVE_AVX2_BUILD) && (defined(__GNUC__) || defined(__clang__))
  static const bool yes = [] {
    const char* forced = std::getenv("SWAGFAST_CPU_ISA");
    if (forced != nullptr && std::strcmp(forced, "baseline") == 0) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return yes;
#else
  return false;
#endif
}

}  // namespace

const char* slic_isa() { return use_avx2() ? "avx2" : "baseline"; }

#ifdef SWAGFAST_HAVE_AVX2_BUILD
#define SWAGFAST_DISPATCH(fn, ...) return use_avx2() ? avx2::fn(__VA_ARGS__) : baseline::fn(__VA_ARGS__)
#else
#define SWAGFAST_DISPATCH(fn, ...) return baseline::fn(__VA_ARGS__)
#endif

void rgb_to_lab(const float* rgb, int64_t n, float* lab, int64_t stride) {
  SWAGFAST_DISPATCH(rgb_to_lab, rgb, n, lab, stride);
}

void rgb_to_lab_u8(const uint8_t* rgb, int64_t n, float* lab, int64_t stride) {
  SWAGFAST_DISPATCH(rgb_to_lab_u8, rgb, n, lab, stride);
}

bool rescale_gradient(const float* grad, int64_t B, int64_t n, float* out, int64_t stride, int64_t channel) {
  SWAGFAST_DISPATCH(rescale_gradient, grad, B, n, out, stride, channel);
}

int64_t slic_iterate(const float* feat, const float* weights, int64_t B, int64_t Z, int64_t Y, int64_t X, int F,
                     int64_t n_segments, double sz, double sy, double sx, int max_iter, int32_t* labels) {
  SWAGFAST_DISPATCH(slic_iterate, feat, weights, B, Z, Y, X, F, n_segments, sz, sy, sx, max_iter, labels);
}

void relabel(int32_t* labels, int64_t B, int64_t Z, int64_t Y, int64_t X, int64_t n_centres, double min_size_factor,
             double max_size_factor, bool connect, int32_t* counts) {
  SWAGFAST_DISPATCH(relabel, labels, B, Z, Y, X, n_centres, min_size_factor, max_size_factor, connect, counts);
}

}  // namespace swagfast::cpu
