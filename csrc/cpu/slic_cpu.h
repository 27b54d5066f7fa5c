// Gradient-augmented SLIC on the CPU (OpenMP across the batch, or within an image when the
// batch is smaller than the thread count). See csrc/include/swagfast/slic.h for the maths.
#pragma once

#include <cstdint>

namespace swagfast::cpu {

#include "slic_cpu_api.inc"

// The functions above run one of two builds of slic_cpu.cpp: the x86-64 baseline (SSE2) or, on
// x86-64 processors that have it, AVX2 (without FMA, so both round alike and give identical
// labels). slic_isa() names the one in use; SWAGFAST_CPU_ISA=baseline in the environment (read
// once) forces the baseline. The dispatch is in slic_dispatch.cpp.
const char* slic_isa();

namespace baseline {
#include "slic_cpu_api.inc"
}  // namespace baseline

namespace avx2 {
#include "slic_cpu_api.inc"
}  // namespace avx2

}  // namespace swagfast::cpu
