// swagfast._C: the native CPU kernels. Arrays arrive through the buffer protocol without
// copies (numpy arrays, or torch CPU tensors via .numpy()); the Python layer validates shapes
// and dtypes first, these checks only guard against misuse of the private API.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "../cpu/segment_pool_cpu.h"
#include "common.h"

namespace py = pybind11;
using namespace swagfast;

namespace {

void require(bool ok, const std::string& msg) {
  if (!ok) throw py::value_error(msg);
}

template <typename T>
int64_t pool_typed(const py::array& values, const py::array& labels, int64_t n_seg, Reduce reduce,
                   py::array& seg_out, const py::object& map_out) {
  const int64_t B = values.shape(0), N = values.shape(1);
  T* map_ptr = nullptr;
  if (!map_out.is_none()) {
    auto m = map_out.cast<py::array>();
    require(m.dtype().is(values.dtype()) && m.ndim() == 2 && m.shape(0) == B && m.shape(1) == N &&
                (m.flags() & py::array::c_style) && m.writeable(),
            "map_out must be a writeable C-contiguous array like values");
    map_ptr = static_cast<T*>(m.mutable_data());
  }
  const T* v = static_cast<const T*>(values.data());
  const int32_t* l = static_cast<const int32_t*>(labels.data());
  T* out = static_cast<T*>(seg_out.mutable_data());
  py::gil_scoped_release release;
  return cpu::segment_pool<T>(v, l, B, N, n_seg, reduce, out, map_ptr);
}

int64_t segment_pool(py::array values, py::array labels, int64_t n_seg, const std::string& reduce_name,
                     py::array seg_out, py::object map_out) {
  const Reduce reduce = bindings::parse_reduce(reduce_name);
  require(values.ndim() == 2 && (values.flags() & py::array::c_style), "values must be a C-contiguous [B, N] array");
  require(labels.ndim() == 2 && labels.shape(0) == values.shape(0) && labels.shape(1) == values.shape(1) &&
              (labels.flags() & py::array::c_style) && labels.dtype().is(py::dtype::of<int32_t>()),
          "labels must be a C-contiguous int32 array shaped like values");
  require(seg_out.ndim() == 2 && seg_out.shape(0) == values.shape(0) && seg_out.shape(1) == n_seg &&
              (seg_out.flags() & py::array::c_style) && seg_out.dtype().is(values.dtype()) && seg_out.writeable(),
          "seg_out must be a writeable C-contiguous [B, n_seg] array of the values' dtype");
  if (values.dtype().is(py::dtype::of<float>())) return pool_typed<float>(values, labels, n_seg, reduce, seg_out, map_out);
  if (values.dtype().is(py::dtype::of<double>()))
    return pool_typed<double>(values, labels, n_seg, reduce, seg_out, map_out);
  throw py::type_error("values must be float32 or float64");
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "swagfast native CPU kernels (C++17, OpenMP)";
  m.def("segment_pool", &segment_pool, py::arg("values"), py::arg("labels"), py::arg("n_seg"), py::arg("reduce"),
        py::arg("seg_out"), py::arg("map_out"),
        "Pool [B, N] values into [B, n_seg] segments; returns -1, or the flat index of an invalid label.");
  m.def("num_threads", &cpu::num_threads);
  m.def("set_num_threads", &cpu::set_num_threads, py::arg("n"));
  m.def("has_openmp", &cpu::has_openmp);
}
