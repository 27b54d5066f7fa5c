// The order-free connectivity rule (swagfast/connectivity.h) on the device: one launch per
// step, all items at once, no copy to the host. The CPU runs the same steps
// (csrc/cpu/connectivity_cpu.h), so both give the same labels.
#pragma once

#include <cstdint>

namespace swagfast::cuda {

// int32 elements of device workspace relabel_parallel needs.
int64_t relabel_workspace(int64_t B, int64_t Z, int64_t Y, int64_t X);

// labels [B, Z, Y, X] on the device, in place: as swagfast::cpu::relabel_parallel; counts[b]
// (device memory) is the number of segments of item b.
void relabel_parallel(int32_t* labels, int64_t B, int64_t Z, int64_t Y, int64_t X, int64_t n_centres,
                      double min_size_factor, int32_t* counts, int32_t* workspace, void* stream);

}  // namespace swagfast::cuda
