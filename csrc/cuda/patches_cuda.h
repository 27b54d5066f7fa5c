// accumulate_patches on CUDA: one thread per output cell, same gather as the CPU kernel.
#pragma once

#include <cstdint>

#include "swagfast/patches.h"

namespace swagfast::cuda {

template <typename T>
void accumulate_patches(const T* maps, const int64_t* offsets, int64_t B, const PatchGrid& g, T* J, T* C,
                        void* stream);

}  // namespace swagfast::cuda
