// Gradient-augmented SLIC (thesis 3.4.1, METHODS.md §2), shared by the CPU and CUDA kernels.
//
// Every item is a volume [Z, Y, X] (2-D images have Z = 1) of F features per voxel: Lab colour
// (mode I, F = 3), the rescaled gradient map (mode G, F = 1) or both (I+G, F = 4). Each feature
// channel f has a weight w_f = 1 / w_c^2 (colour) or 1 / w_g^2 (gradient), so one formula
// serves all modes:
//
//   D^2 = sum_f w_f (x_f - c_f)^2 + sum_d (s_d (p_d - c_d))^2 / S^2
//
// with voxel spacing s_d and S = (physical volume / K)^(1 / dims). Centres start on a regular
// grid of gz x gy x gx cells (about K in all), each moved to the lowest-gradient voxel of its
// 3x3(x3) neighbourhood. Assignment is pixel-parallel: a voxel looks at the centres of its own
// and the neighbouring grid cells and takes the nearest one whose 2S window holds it (ties:
// the lowest centre index), or keeps its label when none does. Centres are then the means of
// their voxels. The same formulation runs on every backend, so their labels agree.
#pragma once

#include <cmath>
#include <cstdint>

#include "swagfast/common.h"

namespace swagfast {

constexpr int kMaxFeatures = 4;

struct SlicGrid {
  int64_t Z, Y, X;     // voxels
  int64_t gz, gy, gx;  // grid cells (centres) per dimension
  int F;               // features per voxel
  double S;            // grid interval in physical units
  double sz, sy, sx;   // spacing
  double inv_S2;
  // The distance itself is evaluated in float32 (same expression on every backend, so their
  // labels agree and the CPU loop vectorises); window tests and centres stay in double.
  float szf, syf, sxf, inv_S2f;
  SWAGFAST_HD int64_t centres() const { return gz * gy * gx; }
  SWAGFAST_HD int64_t voxels() const { return Z * Y * X; }
};

// Grid cells along an axis of n voxels of the given spacing: extent / S rounded, at least one
// and at most one per voxel (a very anisotropic spacing would otherwise ask for more cells
// than voxels; the clamp is done in double, before the cast, so no spacing overflows it).
SWAGFAST_HD int64_t grid_cells(int64_t n, double spacing, double S) {
  const double c = floor(static_cast<double>(n) * spacing / S + 0.5);
  return c < 1.0 ? 1 : (c > static_cast<double>(n) ? n : static_cast<int64_t>(c));
}

inline SlicGrid make_grid(int64_t Z, int64_t Y, int64_t X, int F, int64_t K, double sz, double sy, double sx) {
  SlicGrid g{};
  g.Z = Z, g.Y = Y, g.X = X, g.F = F, g.sz = sz, g.sy = sy, g.sx = sx;
  const bool vol = Z > 1;
  const double volume = (vol ? Z * sz : 1.0) * Y * sy * X * sx;
  g.S = vol ? cbrt(volume / static_cast<double>(K)) : sqrt(volume / static_cast<double>(K));
  g.gz = vol ? grid_cells(Z, sz, g.S) : 1;
  g.gy = grid_cells(Y, sy, g.S);
  g.gx = grid_cells(X, sx, g.S);
  g.inv_S2 = 1.0 / (g.S * g.S);
  g.szf = static_cast<float>(sz), g.syf = static_cast<float>(sy), g.sxf = static_cast<float>(sx);
  g.inv_S2f = static_cast<float>(g.inv_S2);
  return g;
}

// Grid cell of voxel coordinate p along an axis of `extent` voxels split into `cells`.
SWAGFAST_HD int64_t cell_of(int64_t p, int64_t extent, int64_t cells) {
  const int64_t c = p * cells / extent;
  return c < cells ? c : cells - 1;
}

// Voxel coordinate of the seed of cell i (the cell's centre, rounded down).
SWAGFAST_HD int64_t seed_of(int64_t i, int64_t extent, int64_t cells) {
  return static_cast<int64_t>((2 * i + 1) * extent / (2 * cells));
}

SWAGFAST_HD int64_t clamp_index(int64_t v, int64_t n) { return v < 0 ? 0 : (v >= n ? n - 1 : v); }

// Weighted squared feature gradient at a voxel (central differences, clamped at borders), used
// to move seeds off edges as in the original SLIC.
SWAGFAST_HD double feature_gradient(const float* feat, const float* w, const SlicGrid& g, int64_t z, int64_t y,
                                    int64_t x) {
  const int F = g.F;
  auto at = [&](int64_t zz, int64_t yy, int64_t xx) {
    return feat + ((clamp_index(zz, g.Z) * g.Y + clamp_index(yy, g.Y)) * g.X + clamp_index(xx, g.X)) * F;
  };
  double total = 0.0;
  for (int f = 0; f < F; ++f) {
    const double dx = at(z, y, x + 1)[f] - at(z, y, x - 1)[f];
    const double dy = at(z, y + 1, x)[f] - at(z, y - 1, x)[f];
    const double dz = g.Z > 1 ? at(z + 1, y, x)[f] - at(z - 1, y, x)[f] : 0.0;
    total += w[f] * (dx * dx + dy * dy + dz * dz);
  }
  return total;
}

// Centre k: [F features, z, y, x] (doubles) at its seed, moved to the lowest-gradient voxel
// of the 3x3 (3x3x3 for volumes) neighbourhood.
SWAGFAST_HD void init_centre(const float* feat, const float* w, const SlicGrid& g, int64_t k, double* centre) {
  const int64_t ix = k % g.gx, iy = (k / g.gx) % g.gy, iz = k / (g.gx * g.gy);
  const int64_t z0 = seed_of(iz, g.Z, g.gz), y0 = seed_of(iy, g.Y, g.gy), x0 = seed_of(ix, g.X, g.gx);
  int64_t bz = z0, by = y0, bx = x0;
  double best = feature_gradient(feat, w, g, z0, y0, x0);
  const int64_t rz = g.Z > 1 ? 1 : 0;
  for (int64_t dz = -rz; dz <= rz; ++dz)
    for (int64_t dy = -1; dy <= 1; ++dy)
      for (int64_t dx = -1; dx <= 1; ++dx) {
        const int64_t z = z0 + dz, y = y0 + dy, x = x0 + dx;
        if (z < 0 || z >= g.Z || y < 0 || y >= g.Y || x < 0 || x >= g.X) continue;
        const double grad = feature_gradient(feat, w, g, z, y, x);
        if (grad < best) best = grad, bz = z, by = y, bx = x;
      }
  const float* f = feat + ((bz * g.Y + by) * g.X + bx) * g.F;
  for (int i = 0; i < g.F; ++i) centre[i] = f[i];
  centre[g.F] = static_cast<double>(bz);
  centre[g.F + 1] = static_cast<double>(by);
  centre[g.F + 2] = static_cast<double>(bx);
}

// D^2 between a voxel (features f) and a centre, in float32, in this exact order of operations
// (the CPU kernel's vectorised loop evaluates the same expression).
SWAGFAST_HD float spatial_term(const SlicGrid& g, const double* c, int F, int64_t z, int64_t y, int64_t x) {
  const float pz = g.szf * (static_cast<float>(z) - static_cast<float>(c[F]));
  const float py = g.syf * (static_cast<float>(y) - static_cast<float>(c[F + 1]));
  const float px = g.sxf * (static_cast<float>(x) - static_cast<float>(c[F + 2]));
  return (pz * pz + py * py + px * px) * g.inv_S2f;
}

SWAGFAST_HD float voxel_distance(const float* f, const float* w, const SlicGrid& g, const double* c, int64_t z,
                                 int64_t y, int64_t x) {
  float d = spatial_term(g, c, g.F, z, y, x);
  for (int q = 0; q < g.F; ++q) {
    const float diff = f[q] - static_cast<float>(c[q]);
    d += w[q] * diff * diff;
  }
  return d;
}

// Nearest centre (within its 2S window) among those of the voxel's and neighbouring cells.
SWAGFAST_HD int32_t assign_voxel(const float* f, const float* w, const SlicGrid& g, const double* centres,
                                 int64_t z, int64_t y, int64_t x, int32_t current) {
  const int stride = g.F + 3;
  const int64_t cz = cell_of(z, g.Z, g.gz), cy = cell_of(y, g.Y, g.gy), cx = cell_of(x, g.X, g.gx);
  float best = INFINITY;
  int32_t label = current;
  for (int64_t iz = cz - 1; iz <= cz + 1; ++iz) {
    if (iz < 0 || iz >= g.gz) continue;
    for (int64_t iy = cy - 1; iy <= cy + 1; ++iy) {
      if (iy < 0 || iy >= g.gy) continue;
      for (int64_t ix = cx - 1; ix <= cx + 1; ++ix) {
        if (ix < 0 || ix >= g.gx) continue;
        const int64_t k = (iz * g.gy + iy) * g.gx + ix;
        const double* c = centres + k * stride;
        if (fabs(g.sz * (static_cast<double>(z) - c[g.F])) > g.S ||
            fabs(g.sy * (static_cast<double>(y) - c[g.F + 1])) > g.S ||
            fabs(g.sx * (static_cast<double>(x) - c[g.F + 2])) > g.S)
          continue;
        const float d = voxel_distance(f, w, g, c, z, y, x);
        if (d < best) best = d, label = static_cast<int32_t>(k);
      }
    }
  }
  return label;
}

// Centre update from sums [F features, z, y, x, count]; empty centres stay where they are.
SWAGFAST_HD void update_centre(const double* sums, int F, double* centre) {
  const double n = sums[F + 3];
  if (n <= 0.0) return;
  for (int i = 0; i < F + 3; ++i) centre[i] = sums[i] / n;
}

}  // namespace swagfast
