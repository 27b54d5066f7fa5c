// Helpers shared by the pybind11 modules swagfast._C and swagfast._C_cuda.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

#include "swagfast/segment_pool.h"

namespace swagfast::bindings {

inline Reduce parse_reduce(const std::string& name) {
  if (name == "mean") return Reduce::Mean;
  if (name == "sum") return Reduce::Sum;
  if (name == "min") return Reduce::Min;
  if (name == "max") return Reduce::Max;
  if (name == "l1") return Reduce::L1;
  if (name == "l2") return Reduce::L2;
  if (name == "var") return Reduce::Var;
  if (name == "std") return Reduce::Std;
  throw pybind11::value_error("reduce must be one of mean, sum, min, max, l1, l2, var, std; got '" + name + "'");
}

}  // namespace swagfast::bindings
