// swagfast._C_cuda: the CUDA kernels, driven by raw device pointers and torch's current
// stream (passed as integers), so no torch or CUDA headers are needed here.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "../cuda/connectivity_cuda.h"
#include "../cuda/patches_cuda.h"
#include "../cuda/segment_pool_cuda.h"
#include "../cuda/slic_cuda.h"
#include "common.h"

namespace py = pybind11;
using namespace swagfast;

namespace {

template <typename T>
T* ptr(std::uintptr_t p) {
  return reinterpret_cast<T*>(p);
}

void segment_pool(std::uintptr_t values, std::uintptr_t labels, int64_t B, int64_t N, int64_t n_seg,
                  const std::string& reduce_name, const std::string& dtype, std::uintptr_t seg_out,
                  std::uintptr_t map_out, std::uintptr_t workspace, std::uintptr_t stream) {
  const Reduce reduce = bindings::parse_reduce(reduce_name);
  auto* ws = ptr<double>(workspace);
  auto* s = reinterpret_cast<void*>(stream);
  if (dtype == "float32") {
    cuda::segment_pool<float>(ptr<const float>(values), ptr<const int32_t>(labels), B, N, n_seg, reduce,
                              ptr<float>(seg_out), ptr<float>(map_out), ws, s);
  } else if (dtype == "float64") {
    cuda::segment_pool<double>(ptr<const double>(values), ptr<const int32_t>(labels), B, N, n_seg, reduce,
                               ptr<double>(seg_out), ptr<double>(map_out), ws, s);
  } else {
    throw py::type_error("values must be float32 or float64, got " + dtype);
  }
}

void rgb_to_lab(std::uintptr_t rgb, int64_t n, std::uintptr_t lab, int64_t stride, std::uintptr_t stream) {
  cuda::rgb_to_lab(ptr<const float>(rgb), n, ptr<float>(lab), stride, reinterpret_cast<void*>(stream));
}

int64_t slic_iterate(std::uintptr_t feat, const std::vector<float>& weights, std::tuple<int64_t, int64_t, int64_t,
                     int64_t> shape, int64_t n_segments, std::tuple<double, double, double> spacing, int max_iter,
                     std::uintptr_t labels, std::uintptr_t workspace, std::uintptr_t stream) {
  auto [B, Z, Y, X] = shape;
  auto [sz, sy, sx] = spacing;
  return cuda::slic_iterate(ptr<const float>(feat), weights.data(), B, Z, Y, X, static_cast<int>(weights.size()),
                            n_segments, sz, sy, sx, max_iter, ptr<int32_t>(labels), ptr<double>(workspace),
                            reinterpret_cast<void*>(stream));
}

void relabel_parallel(std::uintptr_t labels, std::tuple<int64_t, int64_t, int64_t, int64_t> shape, int64_t n_centres,
                      double min_size_factor, std::uintptr_t workspace, std::uintptr_t stream) {
  auto [B, Z, Y, X] = shape;
  cuda::relabel_parallel(ptr<int32_t>(labels), B, Z, Y, X, n_centres, min_size_factor, ptr<int32_t>(workspace),
                         reinterpret_cast<void*>(stream));
}

void accumulate_patches(std::uintptr_t maps, std::uintptr_t offsets, std::tuple<int64_t, int64_t, int64_t, int64_t,
                        int64_t> maps_shape, std::tuple<int64_t, int64_t, int64_t> out_shape, const std::string& dtype,
                        std::uintptr_t J, std::uintptr_t C, std::uintptr_t stream) {
  auto [B, P, t, h, w] = maps_shape;
  auto [T, H, W] = out_shape;
  const PatchGrid g{P, t, h, w, T, H, W};
  auto* s = reinterpret_cast<void*>(stream);
  if (dtype == "float32")
    cuda::accumulate_patches<float>(ptr<const float>(maps), ptr<const int64_t>(offsets), B, g, ptr<float>(J),
                                    ptr<float>(C), s);
  else if (dtype == "float64")
    cuda::accumulate_patches<double>(ptr<const double>(maps), ptr<const int64_t>(offsets), B, g, ptr<double>(J),
                                     ptr<double>(C), s);
  else
    throw py::type_error("maps must be float32 or float64, got " + dtype);
}

py::tuple device_count() {
  const char* err = nullptr;
  const int n = cuda::device_count(&err);
  return py::make_tuple(n, err ? py::str(err) : py::str(""));
}

}  // namespace

PYBIND11_MODULE(_C_cuda, m) {
  m.doc() = "swagfast CUDA kernels";
  m.def("segment_pool", &segment_pool, py::arg("values"), py::arg("labels"), py::arg("B"), py::arg("N"),
        py::arg("n_seg"), py::arg("reduce"), py::arg("dtype"), py::arg("seg_out"), py::arg("map_out"),
        py::arg("workspace"), py::arg("stream"));
  m.def("rgb_to_lab", &rgb_to_lab, py::arg("rgb"), py::arg("n"), py::arg("lab"), py::arg("stride"),
        py::arg("stream"));
  m.def("slic_centres", &cuda::slic_centres, py::arg("Z"), py::arg("Y"), py::arg("X"), py::arg("F"),
        py::arg("n_segments"), py::arg("sz"), py::arg("sy"), py::arg("sx"));
  m.def("slic_iterate", &slic_iterate, py::arg("features"), py::arg("weights"), py::arg("shape"),
        py::arg("n_segments"), py::arg("spacing"), py::arg("max_iter"), py::arg("labels"), py::arg("workspace"),
        py::arg("stream"));
  m.def("relabel_workspace", &cuda::relabel_workspace, py::arg("B"), py::arg("Z"), py::arg("Y"), py::arg("X"),
        "int32 elements of device workspace relabel_parallel needs");
  m.def("relabel_parallel", &relabel_parallel, py::arg("labels"), py::arg("shape"), py::arg("n_centres"),
        py::arg("min_size_factor"), py::arg("workspace"), py::arg("stream"),
        "Connectivity by the order-free rule, on the device; segment counts in the workspace's last B");
  m.def("accumulate_patches", &accumulate_patches, py::arg("maps"), py::arg("offsets"), py::arg("maps_shape"),
        py::arg("out_shape"), py::arg("dtype"), py::arg("J"), py::arg("C"), py::arg("stream"));
  m.def("device_count", &device_count, "(count, error): count is -1 when the CUDA runtime reports an error");
}
