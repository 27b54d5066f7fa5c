// swagfast._C: the native CPU kernels. Arrays arrive through the buffer protocol without
// copies (numpy arrays, or torch CPU tensors via .numpy()); the Python layer validates shapes
// and dtypes first, these checks only guard against misuse of the private API.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <tuple>

#include "../cpu/connectivity_cpu.h"
#include "../cpu/patches_cpu.h"
#include "../cpu/segment_pool_cpu.h"
#include "../cpu/slic_cpu.h"
#include "../cpu/threads.h"
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

void require_c_array(const py::array& a, const py::dtype& dt, const char* name) {
  // the message only on failure: py::str(dtype) is a Python call (microseconds on every check)
  if (!((a.flags() & py::array::c_style) && a.dtype().is(dt)))
    throw py::value_error(std::string(name) + " must be a C-contiguous " + std::string(py::str(dt)) + " array");
}

void rgb_to_lab(py::array rgb, py::array out) {
  const bool u8 = rgb.dtype().is(py::dtype::of<uint8_t>());
  require_c_array(rgb, u8 ? py::dtype::of<uint8_t>() : py::dtype::of<float>(), "rgb");
  require_c_array(out, py::dtype::of<float>(), "out");
  require(rgb.ndim() >= 1 && rgb.shape(rgb.ndim() - 1) == 3, "rgb must have 3 channels last");
  const int64_t n = rgb.size() / 3;
  require(out.ndim() >= 1 && out.shape(out.ndim() - 1) >= 3 && out.size() / out.shape(out.ndim() - 1) == n &&
              out.writeable(),
          "out must be writeable, with as many pixels as rgb and at least 3 channels");
  float* dst = static_cast<float*>(out.mutable_data());
  const int64_t stride = out.shape(out.ndim() - 1);
  const void* src = rgb.data();
  py::gil_scoped_release release;
  if (u8)
    cpu::rgb_to_lab_u8(static_cast<const uint8_t*>(src), n, dst, stride);
  else
    cpu::rgb_to_lab(static_cast<const float*>(src), n, dst, stride);
}

bool rescale_gradient(py::array grad, py::array out) {
  require_c_array(grad, py::dtype::of<float>(), "gradient");
  require_c_array(out, py::dtype::of<float>(), "out");
  require(grad.ndim() >= 1 && out.ndim() == grad.ndim() + 1 && out.writeable(),
          "out must be writeable, shaped as the gradient plus a channel axis");
  for (py::ssize_t d = 0; d < grad.ndim(); ++d) require(out.shape(d) == grad.shape(d), "out must match the gradient");
  const int64_t B = grad.shape(0), n = B > 0 ? grad.size() / B : 0, C = out.shape(out.ndim() - 1);
  const float* g = static_cast<const float*>(grad.data());
  float* o = static_cast<float*>(out.mutable_data());
  py::gil_scoped_release release;
  return cpu::rescale_gradient(g, B, n, o, C, C - 1);
}

int64_t slic_iterate(py::array feat, py::array weights, int64_t n_segments, std::tuple<double, double, double> spacing,
                     int max_iter, py::array labels) {
  require_c_array(feat, py::dtype::of<float>(), "features");
  require_c_array(weights, py::dtype::of<float>(), "weights");
  require_c_array(labels, py::dtype::of<int32_t>(), "labels");
  require(feat.ndim() == 5, "features must be [B, Z, Y, X, F]");
  const int64_t B = feat.shape(0), Z = feat.shape(1), Y = feat.shape(2), X = feat.shape(3);
  const int F = static_cast<int>(feat.shape(4));
  require(F >= 1 && F <= 4 && weights.size() == F, "features must have 1 to 4 channels, one weight each");
  require(labels.ndim() == 4 && labels.shape(0) == B && labels.shape(1) == Z && labels.shape(2) == Y &&
              labels.shape(3) == X && labels.writeable(),
          "labels must be a writeable [B, Z, Y, X] int32 array");
  require(n_segments >= 1 && max_iter >= 0, "n_segments must be >= 1 and max_iter >= 0");
  const float* f = static_cast<const float*>(feat.data());
  const float* w = static_cast<const float*>(weights.data());
  int32_t* l = static_cast<int32_t*>(labels.mutable_data());
  auto [sz, sy, sx] = spacing;
  py::gil_scoped_release release;
  return cpu::slic_iterate(f, w, B, Z, Y, X, F, n_segments, sz, sy, sx, max_iter, l);
}

void require_relabel_arrays(const py::array& labels, const py::array& counts) {
  require_c_array(labels, py::dtype::of<int32_t>(), "labels");
  require_c_array(counts, py::dtype::of<int32_t>(), "counts");
  require(labels.ndim() == 4 && labels.writeable(), "labels must be a writeable [B, Z, Y, X] array");
  require(counts.ndim() == 1 && counts.shape(0) == labels.shape(0) && counts.writeable(),
          "counts must be a writeable [B] array");
}

void relabel(py::array labels, int64_t n_centres, double min_size_factor, double max_size_factor, bool connect,
             py::array counts) {
  require_relabel_arrays(labels, counts);
  int32_t* l = static_cast<int32_t*>(labels.mutable_data());
  int32_t* c = static_cast<int32_t*>(counts.mutable_data());
  const int64_t B = labels.shape(0), Z = labels.shape(1), Y = labels.shape(2), X = labels.shape(3);
  py::gil_scoped_release release;
  cpu::relabel(l, B, Z, Y, X, n_centres, min_size_factor, max_size_factor, connect, c);
}

void relabel_parallel(py::array labels, int64_t n_centres, double min_size_factor, py::array counts) {
  require_relabel_arrays(labels, counts);
  require(labels.shape(1) * labels.shape(2) * labels.shape(3) < (int64_t{1} << 31),
          "labels must have fewer than 2^31 voxels per item");
  int32_t* l = static_cast<int32_t*>(labels.mutable_data());
  int32_t* c = static_cast<int32_t*>(counts.mutable_data());
  const int64_t B = labels.shape(0), Z = labels.shape(1), Y = labels.shape(2), X = labels.shape(3);
  py::gil_scoped_release release;
  cpu::relabel_parallel(l, B, Z, Y, X, n_centres, min_size_factor, c);
}

template <typename T>
void patches_typed(const py::array& maps, const py::array& offsets, const PatchGrid& g, py::array& J, py::array& C) {
  const T* mp = static_cast<const T*>(maps.data());
  const int64_t* off = static_cast<const int64_t*>(offsets.data());
  T* j = static_cast<T*>(J.mutable_data());
  T* c = static_cast<T*>(C.mutable_data());
  const int64_t B = maps.shape(0);
  py::gil_scoped_release release;
  cpu::accumulate_patches<T>(mp, off, B, g, j, c);
}

void accumulate_patches(py::array maps, py::array offsets, py::array J, py::array C) {
  require(maps.ndim() == 5 && (maps.flags() & py::array::c_style), "maps must be a C-contiguous [B, P, t, h, w] array");
  require_c_array(offsets, py::dtype::of<int64_t>(), "offsets");
  require(offsets.ndim() == 2 && offsets.shape(0) == maps.shape(1) && offsets.shape(1) == 3, "offsets must be [P, 3]");
  for (const py::array* a : {&J, &C})
    require(a->ndim() == 4 && a->shape(0) == maps.shape(0) && (a->flags() & py::array::c_style) &&
                a->dtype().is(maps.dtype()) && a->writeable(),
            "J and C must be writeable C-contiguous [B, T, H, W] arrays of the maps' dtype");
  const PatchGrid g{maps.shape(1), maps.shape(2), maps.shape(3), maps.shape(4), J.shape(1), J.shape(2), J.shape(3)};
  if (maps.dtype().is(py::dtype::of<float>())) return patches_typed<float>(maps, offsets, g, J, C);
  if (maps.dtype().is(py::dtype::of<double>())) return patches_typed<double>(maps, offsets, g, J, C);
  throw py::type_error("maps must be float32 or float64");
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "swagfast native CPU kernels (C++17, OpenMP)";
  bindings::export_enumerations(m);
  m.def("segment_pool", &segment_pool, py::arg("values"), py::arg("labels"), py::arg("n_seg"), py::arg("reduce"),
        py::arg("seg_out"), py::arg("map_out"),
        "Pool [B, N] values into [B, n_seg] segments; returns -1, or the flat index of an invalid label.");
  m.def("rgb_to_lab", &rgb_to_lab, py::arg("rgb"), py::arg("out"),
        "sRGB [..., 3] (float32 in [0, 1] or uint8) -> CIELAB written to the first 3 channels of out [..., C]");
  m.def("rescale_gradient", &rescale_gradient, py::arg("gradient"), py::arg("out"),
        "Each item of gradient [B, ...] min-max rescaled to [0, 100] into the last channel of out [B, ..., C]; "
        "False (nothing written) if any value is not finite");
  m.def("slic_iterate", &slic_iterate, py::arg("features"), py::arg("weights"), py::arg("n_segments"),
        py::arg("spacing"), py::arg("max_iter"), py::arg("labels"),
        "SLIC assignment/update rounds; writes centre indices to labels, returns the centres per item");
  m.def("relabel", &relabel, py::arg("labels"), py::arg("n_centres"), py::arg("min_size_factor"),
        py::arg("max_size_factor"), py::arg("connect"), py::arg("counts"),
        "Enforce connectivity (optional) and renumber labels 0..n-1 in place; counts[b] = n");
  m.def("relabel_parallel", &relabel_parallel, py::arg("labels"), py::arg("n_centres"), py::arg("min_size_factor"),
        py::arg("counts"), "Enforce connectivity by the order-free rule of the CUDA kernels; counts[b] = n");
  m.def("accumulate_patches", &accumulate_patches, py::arg("maps"), py::arg("offsets"), py::arg("J"), py::arg("C"),
        "Sum [B, P, t, h, w] patch maps at [P, 3] offsets into J [B, T, H, W], counts into C");
  m.def("num_threads", &cpu::num_threads);
  m.def("set_num_threads", &cpu::set_num_threads, py::arg("n"));
  m.def("set_thread_num_threads", &cpu::set_thread_num_threads, py::arg("n"),
        "This thread's own count (0 clears it); also its OpenMP count, which torch's ops use");
  m.def("has_openmp", &cpu::has_openmp);
  m.def("slic_isa", &cpu::slic_isa, "The SLIC kernels' instruction set in use: 'avx2' or 'baseline'");
}
