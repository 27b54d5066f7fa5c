// Segment pooling maths (thesis Table 3.6), shared by CPU and CUDA kernels.
//
// Per (batch item, segment) an accumulator holds, in double precision:
//   [count, sum, sum|x|, sum x^2, min, max, sum (x - mean)^2, index of the max]
// finalize() turns it into the requested reduction. Empty segments give 0 (argmax: -1).
#pragma once

#include <cmath>
#include <cstdint>

#include "swagfast/common.h"

namespace swagfast {

enum class Reduce : int { Mean = 0, Sum = 1, Min = 2, Max = 3, L1 = 4, L2 = 5, Var = 6, Std = 7, Argmax = 8 };

constexpr int kAccWidth = 8;
enum AccSlot : int { kCount = 0, kSum = 1, kAbs = 2, kSq = 3, kMin = 4, kMax = 5, kM2 = 6, kArg = 7 };

// The names of the reductions and of the accumulator slots, in enum order: the one list that the
// bindings parse, and that swagfast._C exports (REDUCTIONS, ACC_SLOTS) to the Python wrapper and
// the Numba kernels. A new reduction is an enum value, its name here, and its finaliser below.
constexpr int kNumReduce = 9;
constexpr const char* kReduceNames[kNumReduce] = {"mean", "sum", "min", "max", "l1", "l2", "var", "std", "argmax"};
constexpr const char* kAccSlotNames[kAccWidth] = {"count", "sum", "abs", "sq", "min", "max", "m2", "arg"};

// Variance and std are population statistics (ddof = 0), computed two-pass (mean first, then
// squared deviations) for accuracy. Argmax finds the maximum first, then the smallest index that
// holds it, so the result does not depend on the order of the first pass (CUDA's atomics).
SWAGFAST_HD bool needs_second_pass(Reduce r) {
  return r == Reduce::Var || r == Reduce::Std || r == Reduce::Argmax;
}

SWAGFAST_HD void acc_init(double* acc) {
  acc[kCount] = 0.0;
  acc[kSum] = 0.0;
  acc[kAbs] = 0.0;
  acc[kSq] = 0.0;
  acc[kMin] = INFINITY;
  acc[kMax] = -INFINITY;
  acc[kM2] = 0.0;
  acc[kArg] = INFINITY;  // above every index; its bits order like the indices (CUDA's atomic min)
}

// Serial first-pass update (CPU). The CUDA kernel does the same with atomics.
SWAGFAST_HD void acc_add(double* acc, double v, Reduce r) {
  acc[kCount] += 1.0;
  switch (r) {
    case Reduce::Min: acc[kMin] = min_nan(acc[kMin], v); break;
    case Reduce::Max:
    case Reduce::Argmax: acc[kMax] = max_nan(acc[kMax], v); break;
    case Reduce::L1: acc[kAbs] += fabs(v); break;
    case Reduce::L2: acc[kSq] += v * v; break;
    default: acc[kSum] += v; break;  // mean, sum, var, std
  }
}

SWAGFAST_HD double acc_mean(const double* acc) {
  return acc[kCount] > 0.0 ? acc[kSum] / acc[kCount] : 0.0;
}

// Serial second-pass update of voxel i (of its item) with value v (CPU; CUDA uses atomics).
SWAGFAST_HD void acc_add_second(double* acc, double v, int64_t i, Reduce r) {
  if (r == Reduce::Argmax) {
    const double m = acc[kMax];
    if ((v == m || (v != v && m != m)) && static_cast<double>(i) < acc[kArg]) acc[kArg] = static_cast<double>(i);
    return;
  }
  const double d = v - acc_mean(acc);
  acc[kM2] += d * d;
}

SWAGFAST_HD double acc_finalize(const double* acc, Reduce r) {
  const double n = acc[kCount];
  if (n <= 0.0) return r == Reduce::Argmax ? -1.0 : 0.0;
  switch (r) {
    case Reduce::Mean: return acc[kSum] / n;
    case Reduce::Sum: return acc[kSum];
    case Reduce::Min: return acc[kMin];
    case Reduce::Max: return acc[kMax];
    case Reduce::L1: return acc[kAbs];
    case Reduce::L2: return sqrt(acc[kSq]);
    case Reduce::Var: return acc[kM2] / n;
    case Reduce::Std: return sqrt(acc[kM2] / n);
    case Reduce::Argmax: return acc[kArg];
  }
  return 0.0;
}

}  // namespace swagfast
