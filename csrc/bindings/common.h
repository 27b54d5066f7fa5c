// Helpers shared by the pybind11 modules swagfast._C and swagfast._C_cuda.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

#include "swagfast/segment_pool.h"

namespace swagfast::bindings {

inline Reduce parse_reduce(const std::string& name) {
  for (int i = 0; i < kNumReduce; ++i)
    if (name == kReduceNames[i]) return static_cast<Reduce>(i);
  std::string all;
  for (int i = 0; i < kNumReduce; ++i) all += std::string(i ? ", " : "") + kReduceNames[i];
  throw pybind11::value_error("reduce must be one of " + all + "; got '" + name + "'");
}

// swagfast._C.REDUCTIONS (names in enum order) and ACC_SLOTS (slot name -> index).
inline void export_enumerations(pybind11::module_& m) {
  pybind11::tuple names(kNumReduce);
  for (int i = 0; i < kNumReduce; ++i) names[i] = pybind11::str(kReduceNames[i]);
  m.attr("REDUCTIONS") = names;
  pybind11::dict slots;
  for (int i = 0; i < kAccWidth; ++i) slots[pybind11::str(kAccSlotNames[i])] = i;
  m.attr("ACC_SLOTS") = slots;
}

}  // namespace swagfast::bindings
