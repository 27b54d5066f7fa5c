// accumulate_patches on the CPU (OpenMP over batch x output rows).
#pragma once

#include <cstdint>

#include "swagfast/patches.h"

namespace swagfast::cpu {

// maps [B, P, t, h, w], offsets [P, 3] -> J, C [B, T, H, W].
template <typename T>
void accumulate_patches(const T* maps, const int64_t* offsets, int64_t B, const PatchGrid& g, T* J, T* C);

}  // namespace swagfast::cpu
