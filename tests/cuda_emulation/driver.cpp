// Runs the CUDA entry points of csrc/cuda on the CPU under cuda_runtime.h (see there), on inputs
// and outputs in raw binary files, for tests/test_cuda_emulation.py:
//
//   driver relabel IN OUT B Z Y X N_CENTRES MIN_SIZE_FACTOR     int32 labels -> labels, counts
//   driver slic IN OUT B Z Y X F N_SEGMENTS SZ SY SX MAX_ITER W...
//                                                              float32 features -> int32 labels
//   driver lab IN OUT N                                        float32 RGB -> float32 Lab (N, 3)
//   driver pool IN OUT B N N_SEG REDUCE      float64 values then int32 labels -> segments, map
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "connectivity_cuda.h"
#include "segment_pool_cuda.h"
#include "slic_cuda.h"

namespace {

template <typename T>
std::vector<T> read(const char* path, size_t n) {
  std::vector<T> v(n);
  FILE* f = std::fopen(path, "rb");
  if (!f || std::fread(v.data(), sizeof(T), n, f) != n) {
    std::fprintf(stderr, "driver: cannot read %zu values from %s\n", n, path);
    std::exit(2);
  }
  std::fclose(f);
  return v;
}

template <typename T>
void write(const char* path, const T* data, size_t n, const char* mode = "wb") {
  FILE* f = std::fopen(path, mode);
  if (!f || std::fwrite(data, sizeof(T), n, f) != n) {
    std::fprintf(stderr, "driver: cannot write %s\n", path);
    std::exit(2);
  }
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: driver relabel|slic|lab|pool IN OUT ...\n");
    return 2;
  }
  const std::string cmd = argv[1];
  const char *in = argv[2], *out = argv[3];
  auto arg = [&](int i) { return std::atof(argv[i]); };
  if (cmd == "relabel" && argc == 10) {
    const int64_t B = std::atoll(argv[4]), Z = std::atoll(argv[5]), Y = std::atoll(argv[6]), X = std::atoll(argv[7]);
    auto labels = read<int32_t>(in, B * Z * Y * X);
    std::vector<int32_t> ws(swagfast::cuda::relabel_workspace(B, Z, Y, X), -7), counts(B, -7);
    swagfast::cuda::relabel_parallel(labels.data(), B, Z, Y, X, std::atoll(argv[8]), arg(9), counts.data(), ws.data(),
                                     nullptr);
    write(out, labels.data(), labels.size());
    write(out, counts.data(), B, "ab");
    return 0;
  }
  if (cmd == "slic" && argc >= 14) {
    const int64_t B = std::atoll(argv[4]), Z = std::atoll(argv[5]), Y = std::atoll(argv[6]), X = std::atoll(argv[7]);
    const int F = std::atoi(argv[8]);
    if (argc != 14 + F) return 2;
    const int64_t n_segments = std::atoll(argv[9]);
    const int max_iter = std::atoi(argv[13]);
    std::vector<float> w(F);
    for (int f = 0; f < F; ++f) w[f] = static_cast<float>(arg(14 + f));
    auto feat = read<float>(in, B * Z * Y * X * F);
    const int64_t K = swagfast::cuda::slic_centres(Z, Y, X, F, n_segments, arg(10), arg(11), arg(12));
    std::vector<double> ws(B * K * (2 * F + 7));
    std::vector<int32_t> labels(B * Z * Y * X);
    swagfast::cuda::slic_iterate(feat.data(), w.data(), B, Z, Y, X, F, n_segments, arg(10), arg(11), arg(12),
                                 max_iter, labels.data(), ws.data(), nullptr);
    write(out, labels.data(), labels.size());
    return 0;
  }
  if (cmd == "lab" && argc == 5) {
    const int64_t n = std::atoll(argv[4]);
    auto rgb = read<float>(in, n * 3);
    std::vector<float> lab(n * 3);
    swagfast::cuda::rgb_to_lab(rgb.data(), n, lab.data(), 3, nullptr);
    write(out, lab.data(), lab.size());
    return 0;
  }
  if (cmd == "pool" && argc == 8) {
    const int64_t B = std::atoll(argv[4]), N = std::atoll(argv[5]), n_seg = std::atoll(argv[6]);
    FILE* f = std::fopen(in, "rb");
    std::vector<double> values(B * N);
    std::vector<int32_t> labels(B * N);
    if (!f || std::fread(values.data(), sizeof(double), B * N, f) != size_t(B * N) ||
        std::fread(labels.data(), sizeof(int32_t), B * N, f) != size_t(B * N))
      return 2;
    std::fclose(f);
    std::vector<double> seg(B * n_seg), map(B * N), ws(B * n_seg * swagfast::kAccWidth);
    swagfast::cuda::segment_pool<double>(values.data(), labels.data(), B, N, n_seg,
                                         static_cast<swagfast::Reduce>(std::atoi(argv[7])), seg.data(), map.data(),
                                         ws.data(), nullptr);
    write(out, seg.data(), seg.size());
    write(out, map.data(), map.size(), "ab");
    return 0;
  }
  std::fprintf(stderr, "driver: bad arguments for %s\n", cmd.c_str());
  return 2;
}
