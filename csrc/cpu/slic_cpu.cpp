#include "slic_cpu.h"

#include <algorithm>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "swagfast/lab.h"
#include "swagfast/slic.h"

// Built once per instruction set (see slic_cpu.h): SWAGFAST_CPU_ISA names the namespace.
#ifndef SWAGFAST_CPU_ISA
#define SWAGFAST_CPU_ISA baseline
#endif

namespace swagfast::cpu::SWAGFAST_CPU_ISA {

namespace {

constexpr int64_t kInnerParallelVoxels = 150000;

int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// First voxel of grid cell j along an axis (inverse of cell_of): ceil(j * extent / cells).
inline int64_t cell_start(int64_t j, int64_t extent, int64_t cells) { return (j * extent + cells - 1) / cells; }

// One assignment round, centre-major: each centre k scans the voxels of its own and the
// neighbouring grid cells that lie in its 2S window. This visits exactly the (voxel, centre)
// pairs of the pixel-parallel assign_voxel() and evaluates the same expression, in increasing
// k with a strict '<', so it gives the same labels (ties to the lowest k) while reading each
// centre once and streaming along rows.
// The hot loop: one centre against the voxels [z0, z1) x [y0, y1) x [x0, x1) of its window
// (features as planes [F, N]); rows outside the 2S window are skipped with the exact test of
// assign_voxel(). 32-bit x: SSE2 converts int32 (not int64) to float in vector registers.
struct Window {
  int64_t z0, z1, y0, y1;
  int32_t x0, x1;
};

template <int F>
__attribute__((noinline)) void scan_window(const float* __restrict planes, float* __restrict dist,
                                           int32_t* __restrict labels, const SlicGrid& g, const double* c,
                                           const Window& win, const float* wf_in, int32_t k) {
  const int64_t N = g.voxels(), X = g.X, Y = g.Y;
  const float sxf = g.sxf, syf = g.syf, szf = g.szf, inv_S2f = g.inv_S2f;
  const double S = g.S, sz = g.sz, sy = g.sy;
  float wf[F], cf[F];
  for (int q = 0; q < F; ++q) wf[q] = wf_in[q], cf[q] = static_cast<float>(c[q]);
  const float czf = static_cast<float>(c[F]), cyf = static_cast<float>(c[F + 1]);
  const float cxf = static_cast<float>(c[F + 2]);
  for (int64_t z = win.z0; z < win.z1; ++z) {
    if (fabs(sz * (static_cast<double>(z) - c[F])) > S) continue;
    const float pzf = szf * (static_cast<float>(z) - czf);
    for (int64_t y = win.y0; y < win.y1; ++y) {
      if (fabs(sy * (static_cast<double>(y) - c[F + 1])) > S) continue;
      const float pyf = syf * (static_cast<float>(y) - cyf);
      const float pzy = pzf * pzf + pyf * pyf;
      const int64_t base = (z * Y + y) * X;
      float* __restrict drow = dist + base;
      int32_t* __restrict lrow = labels + base;
      const float* __restrict p0 = planes + base;
      for (int32_t x = win.x0; x < win.x1; ++x) {
        const float px = sxf * (static_cast<float>(x) - cxf);
        float d = (pzy + px * px) * inv_S2f;
        for (int q = 0; q < F; ++q) {
          const float diff = p0[q * N + x] - cf[q];
          d += wf[q] * diff * diff;
        }
        const float old = drow[x];
        const int32_t old_k = lrow[x];
        const bool better = (d < old) | ((d == old) & (k < old_k));
        drow[x] = better ? d : old;
        lrow[x] = better ? k : old_k;
      }
    }
  }
}

template <int F>
void assign_centre_major(const float* planes, const float* w, const SlicGrid g, const double* centres, float* dist,
                         int32_t* labels, bool inner) {
  const int64_t N = g.voxels();
  constexpr int stride = F + 3;
  float wf[F];
  for (int q = 0; q < F; ++q) wf[q] = w[q];
  std::fill(dist, dist + N, INFINITY);
  // The winner at each voxel is the lexicographic minimum of (distance, k), which does not depend
  // on the order the centres are visited in: serially they go in raster order (neighbouring
  // windows overlap, so the features stay in cache); in parallel, centres whose cell rows
  // (iz, iy) agree mod 3 touch disjoint voxel rows, so each of 9 phases runs its rows at once.
  auto scan_cell_row = [&](int64_t iz, int64_t iy) {
    for (int64_t ix = 0; ix < g.gx; ++ix) {
      const int64_t k = (iz * g.gy + iy) * g.gx + ix;
      const double* c = centres + k * stride;
      Window win{cell_start(std::max<int64_t>(iz - 1, 0), g.Z, g.gz),
                 cell_start(std::min<int64_t>(iz + 2, g.gz), g.Z, g.gz),
                 cell_start(std::max<int64_t>(iy - 1, 0), g.Y, g.gy),
                 cell_start(std::min<int64_t>(iy + 2, g.gy), g.Y, g.gy), 0, 0};
      int64_t x0 = cell_start(std::max<int64_t>(ix - 1, 0), g.X, g.gx);
      int64_t x1 = cell_start(std::min<int64_t>(ix + 2, g.gx), g.X, g.gx);
      // Narrow [x0, x1) to the window with the exact test assign_voxel() applies per voxel.
      auto outside_x = [&](int64_t x) { return fabs(g.sx * (static_cast<double>(x) - c[F + 2])) > g.S; };
      while (x0 < x1 && outside_x(x0)) ++x0;
      while (x1 > x0 && outside_x(x1 - 1)) --x1;
      win.x0 = static_cast<int32_t>(x0), win.x1 = static_cast<int32_t>(x1);
      scan_window<F>(planes, dist, labels, g, c, win, wf, static_cast<int32_t>(k));
    }
  };
  if (!inner) {
    for (int64_t iz = 0; iz < g.gz; ++iz)
      for (int64_t iy = 0; iy < g.gy; ++iy) scan_cell_row(iz, iy);
    return;
  }
  for (int phase = 0; phase < 9; ++phase) {
    const int64_t pz = phase / 3, py = phase % 3;
    const int64_t nz = (g.gz - pz + 2) / 3, ny = (g.gy - py + 2) / 3;
#pragma omp parallel for schedule(static)
    for (int64_t row = 0; row < nz * ny; ++row) scan_cell_row(pz + 3 * (row / ny), py + 3 * (row % ny));
  }
}

void assign_round(const float* planes, const float* w, const SlicGrid g, const double* centres, float* dist,
                  int32_t* labels, bool inner) {
  switch (g.F) {
    case 1: return assign_centre_major<1>(planes, w, g, centres, dist, labels, inner);
    case 3: return assign_centre_major<3>(planes, w, g, centres, dist, labels, inner);
    case 4: return assign_centre_major<4>(planes, w, g, centres, dist, labels, inner);
    default: return assign_centre_major<2>(planes, w, g, centres, dist, labels, inner);
  }
}

// Centre sums [F features, z, y, x, count] over runs of equal labels along each row: a run is
// summed in registers, then added once (the Numba kernel sums in the same order).
template <int F>
void accumulate_sums(const float* feat, const int32_t* labels, const SlicGrid g, double* sums) {
  std::fill(sums, sums + g.centres() * (F + 4), 0.0);
  for (int64_t z = 0; z < g.Z; ++z)
    for (int64_t y = 0; y < g.Y; ++y) {
      const int64_t base = (z * g.Y + y) * g.X;
      int64_t x = 0;
      while (x < g.X) {
        const int32_t l = labels[base + x];
        double f[F] = {};
        const int64_t start = x;
        for (; x < g.X && labels[base + x] == l; ++x)
          for (int q = 0; q < F; ++q) f[q] += feat[(base + x) * F + q];
        const double n = static_cast<double>(x - start);
        double* s = sums + static_cast<int64_t>(l) * (F + 4);
        for (int q = 0; q < F; ++q) s[q] += f[q];
        s[F] += static_cast<double>(z) * n;
        s[F + 1] += static_cast<double>(y) * n;
        // start + ... + (x - 1) in closed form (as the Numba kernel): an integer below 2^53, so
        // exactly the double that adding the coordinates one by one gave.
        s[F + 2] += static_cast<double>((start + x - 1) * (x - start) / 2);
        s[F + 3] += n;
      }
    }
}

void accumulate_round(const float* feat, const int32_t* labels, const SlicGrid g, double* sums) {
  switch (g.F) {
    case 1: return accumulate_sums<1>(feat, labels, g, sums);
    case 3: return accumulate_sums<3>(feat, labels, g, sums);
    case 4: return accumulate_sums<4>(feat, labels, g, sums);
    default: return accumulate_sums<2>(feat, labels, g, sums);
  }
}

// One item. `inner` parallelises within the item (used when the batch is smaller than the threads).
void slic_one(const float* feat, const float* w, const SlicGrid g, int max_iter, int32_t* labels, bool inner) {
  const int64_t K = g.centres(), N = g.voxels();
  const int stride = g.F + 3, acc_stride = g.F + 4;
  std::vector<double> centres(K * stride), sums(K * acc_stride);
  std::vector<float> dist(N), planes(static_cast<size_t>(N) * g.F);  // planes: features as [F, N]
  for (int64_t i = 0; i < N; ++i)
    for (int q = 0; q < g.F; ++q) planes[q * N + i] = feat[i * g.F + q];
  for (int64_t k = 0; k < K; ++k) init_centre(feat, w, g, k, &centres[k * stride]);
  // Before the first assignment every voxel belongs to its own grid cell (cells per coordinate
  // computed once per axis: no division per voxel).
  std::vector<int32_t> cx(g.X);
  for (int64_t x = 0; x < g.X; ++x) cx[x] = static_cast<int32_t>(cell_of(x, g.X, g.gx));
  for (int64_t z = 0; z < g.Z; ++z)
    for (int64_t y = 0; y < g.Y; ++y) {
      const int32_t row = static_cast<int32_t>((cell_of(z, g.Z, g.gz) * g.gy + cell_of(y, g.Y, g.gy)) * g.gx);
      int32_t* l = labels + (z * g.Y + y) * g.X;
      for (int64_t x = 0; x < g.X; ++x) l[x] = row + cx[x];
    }
  for (int it = 0; it < max_iter; ++it) {
    assign_round(planes.data(), w, g, centres.data(), dist.data(), labels, inner);
    accumulate_round(feat, labels, g, sums.data());
    for (int64_t k = 0; k < K; ++k) update_centre(&sums[k * acc_stride], g.F, &centres[k * stride]);
  }
}

// Connected components of equal labels, small ones merged into an adjacent segment
// (as skimage's _enforce_label_connectivity_cython, with the first component also merged).
int32_t relabel_one(int32_t* labels, int64_t Z, int64_t Y, int64_t X, int64_t min_size, int64_t max_size,
                    bool connect) {
  const int64_t N = Z * Y * X;
  std::vector<int32_t> out(N, -1);
  int32_t next = 0;
  if (!connect) {
    std::vector<int32_t> map;
    for (int64_t i = 0; i < N; ++i) {
      const int32_t l = labels[i];
      if (l >= static_cast<int32_t>(map.size())) map.resize(l + 1, -1);
      if (map[l] < 0) map[l] = next++;
      labels[i] = map[l];
    }
    return next;
  }
  // The queue holds (index, z, y, x) so no division is needed per visited voxel.
  struct Voxel {
    int64_t i;
    int32_t z, y, x;
  };
  std::vector<Voxel> queue(static_cast<size_t>(std::min(N, max_size) + 1));  // a component stops at max_size
  const int32_t offsets[6][3] = {{0, 0, -1}, {0, 0, 1}, {0, -1, 0}, {0, 1, 0}, {-1, 0, 0}, {1, 0, 0}};
  const int n_nb = Z > 1 ? 6 : 4;
  int64_t first_size = 0;
  int32_t sz = 0, sy = 0, sx = -1;  // coordinates of `start`, advanced in raster order
  for (int64_t start = 0; start < N; ++start) {
    if (++sx == X) sx = 0, (++sy == Y) ? (sy = 0, ++sz) : 0;
    if (out[start] >= 0) continue;
    const int32_t label = labels[start];
    int32_t adjacent = -1;
    int64_t size = 1, head = 0;
    queue[0] = {start, sz, sy, sx};
    out[start] = next;
    // Neighbours in the order x-1, x+1, y-1, y+1, z-1, z+1 (as the Numba kernel): `adjacent` is
    // the last differently labelled neighbour seen, so the order is part of the result.
    // (a macro, not a lambda: the component's state stays in registers)
#define SWAGFAST_VISIT(J, ZZ, YY, XX)        \
  {                                          \
    const int64_t j = (J);                   \
    const int32_t o = out[j];                \
    if (o < 0 && labels[j] == label) {       \
      out[j] = next;                         \
      queue[size++] = {j, ZZ, YY, XX};       \
      if (size >= max_size) break;           \
    } else if (o >= 0 && o != next) {        \
      adjacent = o;                          \
    }                                        \
  }
    while (head < size && size < max_size) {
      const Voxel v = queue[head++];
      if (v.x > 0) SWAGFAST_VISIT(v.i - 1, v.z, v.y, v.x - 1)
      if (v.x < X - 1) SWAGFAST_VISIT(v.i + 1, v.z, v.y, v.x + 1)
      if (v.y > 0) SWAGFAST_VISIT(v.i - X, v.z, v.y - 1, v.x)
      if (v.y < Y - 1) SWAGFAST_VISIT(v.i + X, v.z, v.y + 1, v.x)
      if (v.z > 0) SWAGFAST_VISIT(v.i - X * Y, v.z - 1, v.y, v.x)
      if (v.z < Z - 1) SWAGFAST_VISIT(v.i + X * Y, v.z + 1, v.y, v.x)
    }
#undef SWAGFAST_VISIT
    if (size < min_size && adjacent >= 0) {
      for (int64_t q = 0; q < size; ++q) out[queue[q].i] = adjacent;
    } else {
      if (next == 0) first_size = size;
      ++next;
    }
  }
  // The first component has no labelled neighbour when it is found: merge it now if small.
  if (first_size < min_size && next > 1) {
    int32_t adjacent = -1;
    for (int64_t i = 0; i < N && adjacent < 0; ++i) {
      if (out[i] != 0) continue;
      const int64_t x = i % X, y = (i / X) % Y, z = i / (X * Y);
      for (int n = 0; n < n_nb; ++n) {
        const int64_t zz = z + offsets[n][0], yy = y + offsets[n][1], xx = x + offsets[n][2];
        if (zz < 0 || zz >= Z || yy < 0 || yy >= Y || xx < 0 || xx >= X) continue;
        const int32_t o = out[(zz * Y + yy) * X + xx];
        if (o != 0) {
          adjacent = o;
          break;
        }
      }
    }
    if (adjacent > 0) {
      for (int64_t i = 0; i < N; ++i) out[i] = out[i] == 0 ? adjacent - 1 : out[i] - 1;
      --next;
    }
  }
  // Renumber in raster order of first appearance (merging the first component reorders).
  std::vector<int32_t> map(next, -1);
  int32_t k = 0;
  for (int64_t i = 0; i < N; ++i) {
    if (map[out[i]] < 0) map[out[i]] = k++;
    labels[i] = map[out[i]];
  }
  return k;
}

}  // namespace

namespace {

// Lab of `n` linear-RGB pixels (planar) into lab[i * stride + 0..2]; the math loop vectorises.
void linear_block_to_lab(const float* R, const float* G, const float* B, int64_t n, float* lab, int64_t stride) {
  constexpr int64_t kBlock = 256;
  float L[kBlock], A[kBlock], Bb[kBlock];
  for (int64_t i = 0; i < n; ++i) linear_rgb_to_lab(R[i], G[i], B[i], L[i], A[i], Bb[i]);
  for (int64_t i = 0; i < n; ++i) {
    float* o = lab + i * stride;
    o[0] = L[i], o[1] = A[i], o[2] = Bb[i];
  }
}

template <typename Linearise>
void rgb_to_lab_blocks(int64_t n, float* lab, int64_t stride, Linearise linearise) {
  constexpr int64_t kBlock = 256;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t start = blk * kBlock, m = std::min(kBlock, n - start);
    float R[kBlock], G[kBlock], B[kBlock];
    for (int64_t i = 0; i < m; ++i) linearise(start + i, R[i], G[i], B[i]);
    linear_block_to_lab(R, G, B, m, lab + start * stride, stride);
  }
}

}  // namespace

void rgb_to_lab_u8(const uint8_t* rgb, int64_t n, float* lab, int64_t stride) {
  // uint8 input: linearise through a 256-entry table of exactly what the float path computes
  // for v / 255.0f, so both paths give identical Lab values.
  static const auto table = [] {
    std::vector<float> t(256);
    for (int v = 0; v < 256; ++v) t[v] = srgb_to_linear(static_cast<float>(v) / 255.0f);
    return t;
  }();
  const float* tab = table.data();
  rgb_to_lab_blocks(n, lab, stride, [&](int64_t i, float& r, float& g, float& b) {
    r = tab[rgb[3 * i]], g = tab[rgb[3 * i + 1]], b = tab[rgb[3 * i + 2]];
  });
}

void rgb_to_lab(const float* rgb, int64_t n, float* lab, int64_t stride) {
  rgb_to_lab_blocks(n, lab, stride, [&](int64_t i, float& r, float& g, float& b) {
    r = srgb_to_linear(rgb[3 * i]), g = srgb_to_linear(rgb[3 * i + 1]), b = srgb_to_linear(rgb[3 * i + 2]);
  });
}

int64_t slic_iterate(const float* feat, const float* weights, int64_t B, int64_t Z, int64_t Y, int64_t X, int F,
                     int64_t n_segments, double sz, double sy, double sx, int max_iter, int32_t* labels) {
  const SlicGrid g = make_grid(Z, Y, X, F, n_segments, sz, sy, sx);
  const int64_t N = g.voxels();
  // Threads across the batch; within an item only for large items (a region per phase and
  // iteration costs more than it saves on a 224x224 image).
  const bool outer = B >= max_threads() || N < kInnerParallelVoxels;
#pragma omp parallel for schedule(dynamic, 1) if (outer && B > 1)
  for (int64_t b = 0; b < B; ++b) slic_one(feat + b * N * F, weights, g, max_iter, labels + b * N, !outer);
  return g.centres();
}

void relabel(int32_t* labels, int64_t B, int64_t Z, int64_t Y, int64_t X, int64_t n_centres, double min_size_factor,
             double max_size_factor, bool connect, int32_t* counts) {
  const int64_t N = Z * Y * X;
  const double segment_size = static_cast<double>(N) / static_cast<double>(std::max<int64_t>(n_centres, 1));
  const int64_t min_size = static_cast<int64_t>(min_size_factor * segment_size);
  const int64_t max_size = std::max<int64_t>(static_cast<int64_t>(max_size_factor * segment_size), 1);
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t b = 0; b < B; ++b) counts[b] = relabel_one(labels + b * N, Z, Y, X, min_size, max_size, connect);
}

}  // namespace swagfast::cpu::SWAGFAST_CPU_ISA
