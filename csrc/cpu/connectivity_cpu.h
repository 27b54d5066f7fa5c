// The order-free ("parallel") connectivity rule on the CPU: the steps of
// swagfast/connectivity.h, which the CUDA kernels run one launch per step, so both backends give
// the same labels. The raster rule (relabel in slic_cpu_api.inc) stays the CPU's default.
#pragma once

#include <cstdint>

namespace swagfast::cpu {

// labels [B, Z, Y, X] in place (Z * Y * X < 2^31) -> every label one 6-connected (4-connected
// when Z = 1) component, components under min_size_factor * N / n_centres voxels merged into
// the segment of the voxel before their first voxel, numbered 0..n-1 in raster order of first
// appearance; counts[b] receives n.
void relabel_parallel(int32_t* labels, int64_t B, int64_t Z, int64_t Y, int64_t X, int64_t n_centres,
                      double min_size_factor, int32_t* counts);

}  // namespace swagfast::cpu
