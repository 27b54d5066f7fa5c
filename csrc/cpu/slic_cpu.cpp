#include "slic_cpu.h"

#include <algorithm>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "swagfast/connectivity.h"
#include "swagfast/lab.h"
#include "swagfast/slic.h"
#include "parallel.h"
#include "threads.h"

// Built once per instruction set (see slic_cpu.h): SWAGFAST_CPU_ISA names the namespace.
#ifndef SWAGFAST_CPU_ISA
#define SWAGFAST_CPU_ISA baseline
#endif

namespace swagfast::cpu::SWAGFAST_CPU_ISA {

namespace {

// Threads within one item only from this size. Measured on a 2-core VM in a process that has just
// run torch (as SWAG-V's supervoxels follow guided backprop), rounds on one / two threads:
// 16x112x112 9.0 / 15.0 ms, 32x112x112 26.6 / 28.1, 16x224x224 51.1 / 40.1, 64x256x256 364 / 210.
constexpr int64_t kInnerParallelVoxels = int64_t{1} << 19;

// First voxel of grid cell j along an axis (inverse of cell_of): ceil(j * extent / cells).
inline int64_t cell_start(int64_t j, int64_t extent, int64_t cells) { return (j * extent + cells - 1) / cells; }

// kLanes voxels of a row, x .. x + kLanes - 1, as GCC/Clang vector types: eight in the AVX2
// build, four in the SSE2 baseline (a wider type there is split poorly). The same float32
// operations in the same order as the scalar expression of voxel_distance(), so the labels do
// not depend on the width.
#ifdef __AVX2__
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif
typedef float LaneF __attribute__((vector_size(kLanes * sizeof(float))));
typedef int32_t LaneI __attribute__((vector_size(kLanes * sizeof(int32_t))));

template <int F>
inline void scan_chunk(const float* __restrict p0, int64_t N, float* __restrict drow, int32_t* __restrict lrow,
                       int32_t x, float pzy, float sxf, float cxf, float inv_S2f, const float* wf, const float* cf,
                       int32_t k) {
  LaneF steps;
  for (int i = 0; i < kLanes; ++i) steps[i] = static_cast<float>(i);
  const LaneF px = sxf * ((static_cast<float>(x) + steps) - cxf);  // x + i is exact in float below 2^24
  LaneF d = (pzy + px * px) * inv_S2f;
  for (int q = 0; q < F; ++q) {
    LaneF p;
    __builtin_memcpy(&p, p0 + q * N + x, sizeof p);
    const LaneF diff = p - cf[q];
    d += wf[q] * diff * diff;
  }
  LaneF old;
  LaneI old_k;
  __builtin_memcpy(&old, drow + x, sizeof old);
  __builtin_memcpy(&old_k, lrow + x, sizeof old_k);
  const LaneI better = (d < old) | ((d == old) & (k < old_k));
  const LaneF nd = better ? d : old;
  const LaneI nk = better ? k : old_k;
  __builtin_memcpy(drow + x, &nd, sizeof nd);
  __builtin_memcpy(lrow + x, &nk, sizeof nk);
}

// One assignment round, row by row: each voxel row (z, y) meets the centres of its own and the
// neighbouring grid cells whose 2S window holds it, each over the span of x its window allows.
// These are exactly the (voxel, centre) pairs of the pixel-parallel assign_voxel(), with the
// same float32 expression, and the winner at a voxel is the lexicographic minimum of
// (distance, k), which does not depend on the order the centres come in: so the labels are
// those of assign_voxel(). Rows go in blocks of kBlockRows within a plane: a block's features
// (a few KB per row) stay in L1 while its centres pass over it, a centre's constants are set
// up once per block, and blocks are independent, so the parallel version simply splits them.
//
// Per centre and round, the window as integer ranges: [z0, z1) x [y0, y1) x [x0, x1), the
// cells' bounds narrowed with the exact per-voxel test of assign_voxel().
// (cf holds the F <= 4 feature values; one type for every F, so the caller can allocate the
// windows before its parallel region, where an allocation failure could not be reported.)
struct CentreWindow {
  int32_t z0, z1, y0, y1, x0, x1;
  float cz, cy, cx, cf[4];
};

// The span [lo, hi) of cell `cell` and its neighbours along an axis, narrowed to |s (p - c)| <= S.
inline void axis_window(int64_t cell, int64_t extent, int64_t cells, double s, double c, double S, int32_t& lo,
                        int32_t& hi) {
  int64_t a = cell_start(std::max<int64_t>(cell - 1, 0), extent, cells);
  int64_t b = cell_start(std::min<int64_t>(cell + 2, cells), extent, cells);
  auto outside = [&](int64_t p) { return fabs(s * (static_cast<double>(p) - c)) > S; };
  while (a < b && outside(a)) ++a;
  while (b > a && outside(b - 1)) --b;
  lo = static_cast<int32_t>(a), hi = static_cast<int32_t>(b);
}

// One row (z, y) against centre k over [x0, x1): chunks of kLanes and, when the span is not a
// multiple, a last chunk that ends at x1 and overlaps the one before (meeting a voxel twice with
// the same centre changes nothing: the update keeps the minimum of (distance, k)). Spans
// shorter than kLanes (very small segments) go voxel by voxel.
template <int F>
inline void scan_row(const float* __restrict p0, int64_t N, float* __restrict drow, int32_t* __restrict lrow,
                     const CentreWindow& w, float pzy, float sxf, float inv_S2f, const float* wf, int32_t k) {
  const int32_t x0 = w.x0, x1 = w.x1;
  if (x1 - x0 >= kLanes) {
    for (int32_t x = x0; x + kLanes <= x1; x += kLanes)
      scan_chunk<F>(p0, N, drow, lrow, x, pzy, sxf, w.cx, inv_S2f, wf, w.cf, k);
    if ((x1 - x0) % kLanes != 0) scan_chunk<F>(p0, N, drow, lrow, x1 - kLanes, pzy, sxf, w.cx, inv_S2f, wf, w.cf, k);
    return;
  }
  for (int32_t x = x0; x < x1; ++x) {
    const float px = sxf * (static_cast<float>(x) - w.cx);
    float d = (pzy + px * px) * inv_S2f;
    for (int q = 0; q < F; ++q) {
      const float diff = p0[q * N + x] - w.cf[q];
      d += wf[q] * diff * diff;
    }
    const float old = drow[x];
    const int32_t old_k = lrow[x];
    const bool better = (d < old) | ((d == old) & (k < old_k));
    drow[x] = better ? d : old;
    lrow[x] = better ? k : old_k;
  }
}

constexpr int64_t kBlockRows = 8;

template <int F>
void assign_rows(const float* planes, const float* w, const SlicGrid g, const double* centres, float* dist,
                 int32_t* labels, bool inner, CentreWindow* wins) {
  const int64_t N = g.voxels(), K = g.centres();
  constexpr int stride = F + 3;
  float wf[F];
  for (int q = 0; q < F; ++q) wf[q] = w[q];
  for (int64_t k = 0; k < K; ++k) {
    const double* c = centres + k * stride;
    const int64_t ix = k % g.gx, iy = (k / g.gx) % g.gy, iz = k / (g.gx * g.gy);
    CentreWindow& cw = wins[k];
    axis_window(iz, g.Z, g.gz, g.sz, c[F], g.S, cw.z0, cw.z1);
    axis_window(iy, g.Y, g.gy, g.sy, c[F + 1], g.S, cw.y0, cw.y1);
    axis_window(ix, g.X, g.gx, g.sx, c[F + 2], g.S, cw.x0, cw.x1);
    cw.cz = static_cast<float>(c[F]), cw.cy = static_cast<float>(c[F + 1]), cw.cx = static_cast<float>(c[F + 2]);
    for (int q = 0; q < F; ++q) cw.cf[q] = static_cast<float>(c[q]);
  }
  const CentreWindow* wp = wins;
  const int64_t blocks_per_plane = (g.Y + kBlockRows - 1) / kBlockRows;
  auto block = [&](int64_t z, int64_t yb, int64_t ye) {
    for (int64_t y = yb; y < ye; ++y) std::fill(dist + (z * g.Y + y) * g.X, dist + (z * g.Y + y + 1) * g.X, INFINITY);
    const int64_t cz = cell_of(z, g.Z, g.gz);
    const int64_t iy_lo = std::max<int64_t>(cell_of(yb, g.Y, g.gy) - 1, 0);
    const int64_t iy_hi = std::min(cell_of(ye - 1, g.Y, g.gy) + 1, g.gy - 1);
    for (int64_t iz = std::max<int64_t>(cz - 1, 0); iz <= std::min(cz + 1, g.gz - 1); ++iz)
      for (int64_t iy = iy_lo; iy <= iy_hi; ++iy)
        for (int64_t ix = 0; ix < g.gx; ++ix) {
          const int64_t k = (iz * g.gy + iy) * g.gx + ix;
          const CentreWindow& cw = wp[k];
          if (z < cw.z0 || z >= cw.z1) continue;
          const float pz = g.szf * (static_cast<float>(z) - cw.cz);
          for (int64_t y = std::max<int64_t>(yb, cw.y0); y < std::min<int64_t>(ye, cw.y1); ++y) {
            const float py = g.syf * (static_cast<float>(y) - cw.cy);
            const int64_t base = (z * g.Y + y) * g.X;
            scan_row<F>(planes + base, N, dist + base, labels + base, cw, pz * pz + py * py, g.sxf, g.inv_S2f, wf,
                        static_cast<int32_t>(k));
          }
        }
  };
  const int64_t blocks = g.Z * blocks_per_plane;
  auto run = [&](int64_t i) {
    const int64_t z = i / blocks_per_plane, yb = (i % blocks_per_plane) * kBlockRows;
    block(z, yb, std::min(yb + kBlockRows, g.Y));
  };
  if (inner) {  // called by every thread of slic_one's region: the blocks are shared out
#pragma omp for schedule(static)
    for (int64_t i = 0; i < blocks; ++i) run(i);
  } else {
    for (int64_t i = 0; i < blocks; ++i) run(i);
  }
}

void assign_round(const float* planes, const float* w, const SlicGrid g, const double* centres, float* dist,
                  int32_t* labels, bool inner, CentreWindow* wins) {
  switch (g.F) {
    case 1: return assign_rows<1>(planes, w, g, centres, dist, labels, inner, wins);
    case 3: return assign_rows<3>(planes, w, g, centres, dist, labels, inner, wins);
    case 4: return assign_rows<4>(planes, w, g, centres, dist, labels, inner, wins);
    default: return assign_rows<2>(planes, w, g, centres, dist, labels, inner, wins);
  }
}

// Centre sums [F features, z, y, x, count]. Voxel by voxel, each into one of eight tables by
// x mod 8 (a slot of 8 doubles per centre: features zero-padded to 4, then z, y, x, 1), so
// nearby voxels of one label rarely wait on each other's store; the tables are then added in
// order, ((T0 + T1) + T2) + ... + T7 (the Numba kernel sums in the same order). Labels come in
// short runs (about 3 voxels in an I+G clip), where summing runs in registers mispredicts
// once per run.
typedef double Slot4 __attribute__((vector_size(32)));
constexpr int kTables = 8;

template <int F>
inline void add_voxel(const float* feat, const int32_t* labels, int64_t K, int64_t base, int64_t x, Slot4 pos,
                      double* tables) {
  double* t = tables + ((x & (kTables - 1)) * K + labels[base + x]) * 8;
  const float* f = feat + (base + x) * F;
  Slot4 fv = {};
  for (int q = 0; q < F; ++q) fv[q] = f[q];
  Slot4 a, b;
  __builtin_memcpy(&a, t, sizeof a);
  __builtin_memcpy(&b, t + 4, sizeof b);
  a += fv, b += pos;
  __builtin_memcpy(t, &a, sizeof a);
  __builtin_memcpy(t + 4, &b, sizeof b);
}

// The voxels whose x mod 8 falls in [lo, hi) added into their tables (zeroed first), in raster
// order: each table's sums come out the same whichever thread adds them.
template <int F>
void accumulate_tables(const float* feat, const int32_t* labels, const SlicGrid g, double* tables, int64_t lo,
                       int64_t hi) {
  const int64_t K = g.centres();
  std::fill(tables + lo * K * 8, tables + hi * K * 8, 0.0);
  for (int64_t z = 0; z < g.Z; ++z)
    for (int64_t y = 0; y < g.Y; ++y) {
      const int64_t base = (z * g.Y + y) * g.X;
      if (lo == 0 && hi == kTables) {  // one thread: positions by increment (measured ~5% faster)
        Slot4 pos = {static_cast<double>(z), static_cast<double>(y), 0.0, 1.0};
        const Slot4 step = {0.0, 0.0, 1.0, 0.0};
        for (int64_t x = 0; x < g.X; ++x, pos += step) add_voxel<F>(feat, labels, K, base, x, pos, tables);
      } else {
        for (int64_t x0 = 0; x0 < g.X; x0 += kTables)
          for (int64_t x = x0 + lo; x < std::min(x0 + hi, g.X); ++x)
            add_voxel<F>(feat, labels, K, base, x,
                         Slot4{static_cast<double>(z), static_cast<double>(y), static_cast<double>(x), 1.0}, tables);
      }
    }
}

void accumulate_round(const float* feat, const int32_t* labels, const SlicGrid g, double* tables, int64_t lo,
                      int64_t hi) {
  switch (g.F) {
    case 1: return accumulate_tables<1>(feat, labels, g, tables, lo, hi);
    case 3: return accumulate_tables<3>(feat, labels, g, tables, lo, hi);
    case 4: return accumulate_tables<4>(feat, labels, g, tables, lo, hi);
    default: return accumulate_tables<2>(feat, labels, g, tables, lo, hi);
  }
}

// Centre sums [F features, z, y, x, count] from the eight tables, added in order.
void combine_tables(const double* tables, const SlicGrid g, double* sums) {
  const int64_t K = g.centres();
  const int F = g.F;
  for (int64_t k = 0; k < K; ++k) {
    double* s = sums + k * (F + 4);
    for (int q = 0; q < 8; ++q) {
      if (q >= F && q < 4) continue;
      double v = tables[k * 8 + q];
      for (int t = 1; t < kTables; ++t) v += tables[(t * K + k) * 8 + q];
      s[q < 4 ? q : F + q - 4] = v;
    }
  }
}

// One item. `inner` parallelises within the item (used when the batch is smaller than the threads).
void slic_one(const float* feat, const float* w, const SlicGrid g, int max_iter, int32_t* labels, bool inner) {
  const int64_t K = g.centres(), N = g.voxels();
  const int stride = g.F + 3, acc_stride = g.F + 4;
  std::vector<double> centres(K * stride), sums(K * acc_stride), tables(kTables * K * 8);
  std::vector<float> dist(N), planes(static_cast<size_t>(N) * g.F);  // planes: features as [F, N]
  for (int64_t i = 0; i < N; ++i)
    for (int q = 0; q < g.F; ++q) planes[q * N + i] = feat[i * g.F + q];
  for (int64_t k = 0; k < K; ++k) init_centre(feat, w, g, k, &centres[k * stride]);
  // Before the first assignment every voxel belongs to its own grid cell (cells per coordinate
  // computed once per axis: no division per voxel).
  std::vector<int32_t> cx(g.X);
  // Each thread's centre windows, allocated here: nothing inside the region below allocates.
  const int team_max = inner ? cpu::num_threads() : 1;
  std::vector<CentreWindow> wins(static_cast<size_t>(K) * team_max);
  for (int64_t x = 0; x < g.X; ++x) cx[x] = static_cast<int32_t>(cell_of(x, g.X, g.gx));
  for (int64_t z = 0; z < g.Z; ++z)
    for (int64_t y = 0; y < g.Y; ++y) {
      const int32_t row = static_cast<int32_t>((cell_of(z, g.Z, g.gz) * g.gy + cell_of(y, g.Y, g.gy)) * g.gx);
      int32_t* l = labels + (z * g.Y + y) * g.X;
      for (int64_t x = 0; x < g.X; ++x) l[x] = row + cx[x];
    }
  // With `inner`, all rounds run in one parallel region (a region per round was slower than one
  // thread on the 2-core VM: the team was woken every round): the blocks of rows are shared out,
  // and each thread adds the voxels of its own sum tables, so every table is summed in raster
  // order and the labels do not depend on the thread count.
#pragma omp parallel if (inner) num_threads(team_max)
  {
    int64_t lo = 0, hi = kTables, id = 0;  // this thread's tables
#ifdef _OPENMP
    const int64_t team = omp_get_num_threads();
    id = omp_get_thread_num();
    lo = id * kTables / team, hi = (id + 1) * kTables / team;
#endif
    CentreWindow* own = wins.data() + id * K;
    for (int it = 0; it < max_iter; ++it) {
      assign_round(planes.data(), w, g, centres.data(), dist.data(), labels, inner, own);
      accumulate_round(feat, labels, g, tables.data(), lo, hi);
#pragma omp barrier
#pragma omp single
      {
        combine_tables(tables.data(), g, sums.data());
        for (int64_t k = 0; k < K; ++k) update_centre(&sums[k * acc_stride], g.F, &centres[k * stride]);
      }
    }
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
#pragma omp parallel for schedule(static) num_threads(cpu::num_threads())
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

bool rescale_gradient(const float* grad, int64_t B, int64_t n, float* out, int64_t stride, int64_t channel) {
  std::vector<float> lo(B), hi(B);
  bool finite = true;
  for (int64_t b = 0; b < B; ++b) {
    const float* g = grad + b * n;
    float mn = INFINITY, mx = -INFINITY, bad = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      mn = std::min(mn, g[i]), mx = std::max(mx, g[i]);
      bad += g[i] - g[i];  // NaN for NaN and infinities, else 0
    }
    lo[b] = mn, hi[b] = mx, finite = finite && bad == 0.0f;
  }
  if (!finite) return false;
#pragma omp parallel for schedule(static) if (B > 1) num_threads(cpu::num_threads())
  for (int64_t b = 0; b < B; ++b) {
    const float span = hi[b] - lo[b], low = lo[b];
    const float scale = span > 0.0f ? (1.0f / span) * 100.0f : 0.0f;
    const float* g = grad + b * n;
    float* o = out + b * n * stride + channel;
    for (int64_t i = 0; i < n; ++i) o[i * stride] = (g[i] - low) * scale;
  }
  return true;
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
  // Threads across the batch; within an item only for large items (see kInnerParallelVoxels).
  const bool outer = B >= cpu::num_threads() || N < kInnerParallelVoxels;
  FirstError error;
#pragma omp parallel for schedule(dynamic, 1) if (outer && B > 1) num_threads(cpu::num_threads())
  for (int64_t b = 0; b < B; ++b)
    error.run([&] { slic_one(feat + b * N * F, weights, g, max_iter, labels + b * N, !outer); });
  error.rethrow();
  return g.centres();
}

void relabel(int32_t* labels, int64_t B, int64_t Z, int64_t Y, int64_t X, int64_t n_centres, double min_size_factor,
             double max_size_factor, bool connect, int32_t* counts) {
  const int64_t N = Z * Y * X;
  const double segment_size = static_cast<double>(N) / static_cast<double>(std::max<int64_t>(n_centres, 1));
  const int64_t min_size = connectivity::min_size(N, n_centres, min_size_factor);
  const int64_t max_size = std::max<int64_t>(static_cast<int64_t>(max_size_factor * segment_size), 1);
  FirstError error;
#pragma omp parallel for schedule(dynamic, 1) if (B > 1) num_threads(cpu::num_threads())
  for (int64_t b = 0; b < B; ++b)
    error.run([&] { counts[b] = relabel_one(labels + b * N, Z, Y, X, min_size, max_size, connect); });
  error.rethrow();
}

}  // namespace swagfast::cpu::SWAGFAST_CPU_ISA
