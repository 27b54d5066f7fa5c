// Gradient-augmented SLIC on the CPU (OpenMP across the batch, or within an image when the
// batch is smaller than the thread count). See csrc/include/swagfast/slic.h for the maths.
#pragma once

#include <cstdint>

namespace swagfast::cpu {

// rgb [n, 3] in [0, 1] -> Lab written to lab[i * stride + 0..2].
void rgb_to_lab(const float* rgb, int64_t n, float* lab, int64_t stride);
void rgb_to_lab_u8(const uint8_t* rgb, int64_t n, float* lab, int64_t stride);

// feat [B, Z, Y, X, F], weights [F]; writes labels [B, Z, Y, X] = index of the nearest centre
// after max_iter assignment/update rounds (not yet connected or renumbered).
// Returns the number of grid centres per item.
int64_t slic_iterate(const float* feat, const float* weights, int64_t B, int64_t Z, int64_t Y, int64_t X, int F,
                     int64_t n_segments, double sz, double sy, double sx, int max_iter, int32_t* labels);

// labels [B, Z, Y, X] in place -> every label one 4-connected (2-D) / 6-connected (3-D)
// component, components under min_size_factor * N / n_centres voxels merged into an adjacent
// segment, components grown no larger than max_size_factor * N / n_centres, labels renumbered
// 0..n-1 in raster order of first appearance. With connect = false only the renumbering.
// counts[B] receives n for each item.
void relabel(int32_t* labels, int64_t B, int64_t Z, int64_t Y, int64_t X, int64_t n_centres, double min_size_factor,
             double max_size_factor, bool connect, int32_t* counts);

// The functions above run one of two builds of slic_cpu.cpp: the x86-64 baseline (SSE2) or, on
// x86-64 processors that have it, AVX2 (without FMA, so both round alike and give identical
// labels). slic_isa() names the one in use; SWAGFAST_CPU_ISA=baseline in the environment (read
// once) forces the baseline. The dispatch is in slic_dispatch.cpp.
const char* slic_isa();

namespace baseline {
void rgb_to_lab(const float* rgb, int64_t n, float* lab, int64_t stride);
void rgb_to_lab_u8(const uint8_t* rgb, int64_t n, float* lab, int64_t stride);
int64_t slic_iterate(const float* feat, const float* weights, int64_t B, int64_t Z, int64_t Y, int64_t X, int F,
                     int64_t n_segments, double sz, double sy, double sx, int max_iter, int32_t* labels);
void relabel(int32_t* labels, int64_t B, int64_t Z, int64_t Y, int64_t X, int64_t n_centres, double min_size_factor,
             double max_size_factor, bool connect, int32_t* counts);
}  // namespace baseline

namespace avx2 {
void rgb_to_lab(const float* rgb, int64_t n, float* lab, int64_t stride);
void rgb_to_lab_u8(const uint8_t* rgb, int64_t n, float* lab, int64_t stride);
int64_t slic_iterate(const float* feat, const float* weights, int64_t B, int64_t Z, int64_t Y, int64_t X, int F,
                     int64_t n_segments, double sz, double sy, double sx, int max_iter, int32_t* labels);
void relabel(int32_t* labels, int64_t B, int64_t Z, int64_t Y, int64_t X, int64_t n_centres, double min_size_factor,
             double max_size_factor, bool connect, int32_t* counts);
}  // namespace avx2

}  // namespace swagfast::cpu
