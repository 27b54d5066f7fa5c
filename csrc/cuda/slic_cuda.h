// Gradient-augmented SLIC on CUDA: same maths (swagfast/slic.h) as the CPU kernels, one thread
// per voxel for the assignment and per voxel (atomics) for the centre sums. Connectivity and
// renumbering: the raster rule on the host (swagfast::cpu::relabel), or the order-free rule on
// the device (connectivity_cuda.h).
#pragma once

#include <cstdint>

namespace swagfast::cuda {

void rgb_to_lab(const float* rgb, int64_t n, float* lab, int64_t stride, void* stream);

// workspace: B * n_centres * (2 * F + 7) doubles of device memory (centres and sums).
// Returns the number of grid centres per item.
int64_t slic_iterate(const float* feat, const float* weights, int64_t B, int64_t Z, int64_t Y, int64_t X, int F,
                     int64_t n_segments, double sz, double sy, double sx, int max_iter, int32_t* labels,
                     double* workspace, void* stream);

// Grid centres per item for these sizes (so the caller can size the workspace).
int64_t slic_centres(int64_t Z, int64_t Y, int64_t X, int F, int64_t n_segments, double sz, double sy, double sx);

}  // namespace swagfast::cuda
