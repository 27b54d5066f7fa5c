// swagfast._C_cuda: the CUDA kernels. Each op has the name and the arguments of its swagfast._C
// counterpart, with device arrays in place of host arrays (anything exposing
// __cuda_array_interface__: torch CUDA tensors, CuPy, Numba), followed by the device workspace it
// needs (if any) and the stream to enqueue on (torch's current stream, as an integer). No torch or
// CUDA headers are needed here. The Python layer validates everything first; these checks only
// guard against misuse of the private API.
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

// A C-contiguous device array, read from its __cuda_array_interface__ (version 2 or later).
struct DeviceArray {
  void* data = nullptr;
  std::vector<int64_t> shape;
  std::string typestr;  // "<f4", "<f8", "<i4", "<i8"
  bool readonly = false;

  int ndim() const { return static_cast<int>(shape.size()); }
  int64_t size() const {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    return n;
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }
};

void require(bool ok, const std::string& msg) {
  if (!ok) throw py::value_error(msg);
}

int64_t itemsize(const std::string& typestr) { return typestr.size() >= 3 ? std::stoll(typestr.substr(2)) : 0; }

DeviceArray device_array(const py::handle& obj, const char* name, bool writeable = false) {
  if (!py::hasattr(obj, "__cuda_array_interface__"))
    throw py::type_error(std::string(name) + " must be a device array (__cuda_array_interface__), got " +
                         std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
  const py::dict cai = obj.attr("__cuda_array_interface__");
  DeviceArray a;
  const auto data = cai["data"].cast<std::tuple<std::uintptr_t, bool>>();
  a.data = reinterpret_cast<void*>(std::get<0>(data));
  a.readonly = std::get<1>(data);
  a.shape = cai["shape"].cast<std::vector<int64_t>>();
  a.typestr = cai["typestr"].cast<std::string>();
  if (cai.contains("strides") && !cai["strides"].is_none()) {  // contiguous ones may be spelt out
    const auto strides = cai["strides"].cast<std::vector<int64_t>>();
    int64_t expect = itemsize(a.typestr);
    for (int d = a.ndim() - 1; d >= 0; --d) {
      require(a.shape[d] == 1 || strides[d] == expect, std::string(name) + " must be C-contiguous");
      expect *= a.shape[d];
    }
  }
  require(!(writeable && a.readonly), std::string(name) + " must be writeable");
  return a;
}

void require_type(const DeviceArray& a, const char* typestr, const char* name) {
  if (a.typestr != typestr) throw py::type_error(std::string(name) + " must have typestr " + typestr + ", got " + a.typestr);
}

// A device array of one element type ("<f4", "<i4", ...).
DeviceArray typed_array(const py::handle& obj, const char* name, const char* typestr, bool writeable = false) {
  DeviceArray a = device_array(obj, name, writeable);
  require_type(a, typestr, name);
  return a;
}

// The element type of a float32 / float64 array, as a tag for the typed kernels.
template <typename F>
void with_float(const DeviceArray& a, const char* name, F&& f) {
  if (a.typestr == "<f4") return f(float{});
  if (a.typestr == "<f8") return f(double{});
  throw py::type_error(std::string(name) + " must be float32 or float64, got typestr " + a.typestr);
}

void* as_stream(std::uintptr_t stream) { return reinterpret_cast<void*>(stream); }

int64_t segment_pool(const py::object& values, const py::object& labels, int64_t n_seg, const std::string& reduce_name,
                     const py::object& seg_out, const py::object& map_out, const py::object& workspace,
                     std::uintptr_t stream) {
  const Reduce reduce = bindings::parse_reduce(reduce_name);
  const DeviceArray v = device_array(values, "values"), l = typed_array(labels, "labels", "<i4");
  const DeviceArray s = device_array(seg_out, "seg_out", true), ws = typed_array(workspace, "workspace", "<f8", true);
  require(v.ndim() == 2 && l.shape == v.shape, "labels must be shaped like the [B, N] values");
  const int64_t B = v.shape[0], N = v.shape[1];
  require(s.shape == std::vector<int64_t>{B, n_seg} && s.typestr == v.typestr,
          "seg_out must be a [B, n_seg] array of the values' dtype");
  require(ws.size() >= B * n_seg * kAccWidth, "workspace must hold B * n_seg * len(ACC_SLOTS) doubles");
  DeviceArray m;
  if (!map_out.is_none()) {
    m = device_array(map_out, "map_out", true);
    require(m.shape == v.shape && m.typestr == v.typestr, "map_out must be shaped and typed like values");
  }
  with_float(v, "values", [&](auto tag) {
    using T = decltype(tag);
    cuda::segment_pool<T>(v.as<const T>(), l.as<const int32_t>(), B, N, n_seg, reduce, s.as<T>(), m.as<T>(),
                          ws.as<double>(), as_stream(stream));
  });
  return -1;  // labels are range-checked by the caller on the device, before the call
}

void rgb_to_lab(const py::object& rgb, const py::object& out, std::uintptr_t stream) {
  const DeviceArray r = typed_array(rgb, "rgb", "<f4"), o = typed_array(out, "out", "<f4", true);
  require(r.ndim() >= 1 && r.shape.back() == 3, "rgb must have 3 channels last");
  const int64_t n = r.size() / 3;
  require(o.ndim() >= 1 && o.shape.back() >= 3 && o.size() / o.shape.back() == n,
          "out must have as many pixels as rgb and at least 3 channels");
  cuda::rgb_to_lab(r.as<const float>(), n, o.as<float>(), o.shape.back(), as_stream(stream));
}

int64_t slic_iterate(const py::object& features, const std::vector<float>& weights, int64_t n_segments,
                     std::tuple<double, double, double> spacing, int max_iter, const py::object& labels,
                     const py::object& workspace, std::uintptr_t stream) {
  const DeviceArray f = typed_array(features, "features", "<f4"), l = typed_array(labels, "labels", "<i4", true);
  const DeviceArray ws = typed_array(workspace, "workspace", "<f8", true);
  require(f.ndim() == 5, "features must be [B, Z, Y, X, F]");
  const int64_t B = f.shape[0], Z = f.shape[1], Y = f.shape[2], X = f.shape[3];
  const int F = static_cast<int>(f.shape[4]);
  require(F >= 1 && F <= 4 && static_cast<int>(weights.size()) == F, "features must have 1 to 4 channels, one weight each");
  require(l.shape == std::vector<int64_t>{B, Z, Y, X}, "labels must be a [B, Z, Y, X] array");
  require(n_segments >= 1 && max_iter >= 0, "n_segments must be >= 1 and max_iter >= 0");
  auto [sz, sy, sx] = spacing;
  require(ws.size() >= B * cuda::slic_centres(Z, Y, X, F, n_segments, sz, sy, sx) * (2 * F + 7),
          "workspace must hold B * slic_centres(...) * (2F + 7) doubles");
  return cuda::slic_iterate(f.as<const float>(), weights.data(), B, Z, Y, X, F, n_segments, sz, sy, sx, max_iter,
                            l.as<int32_t>(), ws.as<double>(), as_stream(stream));
}

void relabel_parallel(const py::object& labels, int64_t n_centres, double min_size_factor, const py::object& counts,
                      const py::object& workspace, std::uintptr_t stream) {
  const DeviceArray l = typed_array(labels, "labels", "<i4", true), c = typed_array(counts, "counts", "<i4", true);
  const DeviceArray ws = typed_array(workspace, "workspace", "<i4", true);
  require(l.ndim() == 4, "labels must be a [B, Z, Y, X] array");
  const int64_t B = l.shape[0], Z = l.shape[1], Y = l.shape[2], X = l.shape[3];
  require(c.shape == std::vector<int64_t>{B}, "counts must be a [B] array");
  require(ws.size() >= cuda::relabel_workspace(B, Z, Y, X), "workspace must hold relabel_workspace(...) int32s");
  cuda::relabel_parallel(l.as<int32_t>(), B, Z, Y, X, n_centres, min_size_factor, c.as<int32_t>(), ws.as<int32_t>(),
                         as_stream(stream));
}

void accumulate_patches(const py::object& maps, const py::object& offsets, const py::object& J, const py::object& C,
                        std::uintptr_t stream) {
  const DeviceArray mp = device_array(maps, "maps"), off = typed_array(offsets, "offsets", "<i8");
  const DeviceArray j = device_array(J, "J", true), c = device_array(C, "C", true);
  require(mp.ndim() == 5, "maps must be a [B, P, t, h, w] array");
  require(off.shape == std::vector<int64_t>{mp.shape[1], 3}, "offsets must be [P, 3]");
  require(j.ndim() == 4 && j.shape[0] == mp.shape[0] && c.shape == j.shape && j.typestr == mp.typestr &&
              c.typestr == mp.typestr,
          "J and C must be [B, T, H, W] arrays of the maps' dtype");
  const PatchGrid g{mp.shape[1], mp.shape[2], mp.shape[3], mp.shape[4], j.shape[1], j.shape[2], j.shape[3]};
  with_float(mp, "maps", [&](auto tag) {
    using T = decltype(tag);
    cuda::accumulate_patches<T>(mp.as<const T>(), off.as<const int64_t>(), mp.shape[0], g, j.as<T>(), c.as<T>(),
                                as_stream(stream));
  });
}

py::tuple device_count() {
  const char* err = nullptr;
  const int n = cuda::device_count(&err);
  return py::make_tuple(n, err ? py::str(err) : py::str(""));
}

}  // namespace

PYBIND11_MODULE(_C_cuda, m) {
  m.doc() = "swagfast CUDA kernels: swagfast._C's ops on device arrays, plus a workspace and a stream";
  bindings::export_enumerations(m);
  m.def("segment_pool", &segment_pool, py::arg("values"), py::arg("labels"), py::arg("n_seg"), py::arg("reduce"),
        py::arg("seg_out"), py::arg("map_out"), py::arg("workspace"), py::arg("stream"),
        "As _C.segment_pool; workspace: [B, n_seg, len(ACC_SLOTS)] float64. Returns -1 (labels are checked "
        "by the caller)");
  m.def("rgb_to_lab", &rgb_to_lab, py::arg("rgb"), py::arg("out"), py::arg("stream"),
        "As _C.rgb_to_lab, for float32 rgb");
  m.def("slic_iterate", &slic_iterate, py::arg("features"), py::arg("weights"), py::arg("n_segments"),
        py::arg("spacing"), py::arg("max_iter"), py::arg("labels"), py::arg("workspace"), py::arg("stream"),
        "As _C.slic_iterate; workspace: B * slic_centres(...) * (2F + 7) float64");
  m.def("relabel_parallel", &relabel_parallel, py::arg("labels"), py::arg("n_centres"), py::arg("min_size_factor"),
        py::arg("counts"), py::arg("workspace"), py::arg("stream"),
        "As _C.relabel_parallel, counts on the device; workspace: relabel_workspace(...) int32");
  m.def("accumulate_patches", &accumulate_patches, py::arg("maps"), py::arg("offsets"), py::arg("J"), py::arg("C"),
        py::arg("stream"), "As _C.accumulate_patches");
  m.def("slic_centres", &cuda::slic_centres, py::arg("Z"), py::arg("Y"), py::arg("X"), py::arg("F"),
        py::arg("n_segments"), py::arg("sz"), py::arg("sy"), py::arg("sx"),
        "Grid centres per item (sizes slic_iterate's workspace)");
  m.def("relabel_workspace", &cuda::relabel_workspace, py::arg("B"), py::arg("Z"), py::arg("Y"), py::arg("X"),
        "int32 elements of device workspace relabel_parallel needs");
  m.def("device_count", &device_count, "(count, error): count is -1 when the CUDA runtime reports an error");
}
