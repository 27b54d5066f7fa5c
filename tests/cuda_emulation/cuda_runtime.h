// A CPU stand-in for the CUDA runtime, so the .cu sources of csrc/cuda run on machines without a
// GPU (tests/test_cuda_emulation.py). Every CUDA thread of a block is a fiber (ucontext) on one
// OS thread; blocks run one after another. A fiber runs until it reaches a collective
// (__syncthreads, __syncthreads_count, __ballot_sync, __shfl_sync, __shfl_xor_sync), which waits
// for the whole block or for the 32 lanes of its warp; the fibers resume in turn. A kernel where
// a thread skips a collective its block or warp reaches (undefined behaviour on a GPU) stops here
// with "deadlock" instead of passing by luck.
//
// Not a model of the hardware: threads interleave only at collectives (so races between them
// elsewhere, e.g. the union-find's, are not exercised: the GPU tests do that), there are no
// memory spaces (the "device" pointers are host memory) and no timing. The test rewrites
// `k<<<grid, block, 0, s>>>(...)` into `swagfast_emu::launch(k, grid, block, ...)` and compiles
// the .cu file as C++ with this header first and __CUDA_ARCH__ defined, so code meant for the
// device takes its device paths.
#pragma once

#include <ucontext.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static  // blocks run one at a time: one copy serves every block

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

typedef int cudaError_t;
typedef void* cudaStream_t;
constexpr cudaError_t cudaSuccess = 0;
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char* cudaGetErrorString(cudaError_t) { return "no error"; }
inline cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t) {
  std::memset(p, v, n);
  return cudaSuccess;
}

inline dim3 threadIdx, blockIdx, blockDim, gridDim;  // threadIdx: set as each fiber resumes

namespace swagfast_emu {

struct Fiber {
  ucontext_t ctx;
  std::unique_ptr<char[]> stack;
  unsigned id = 0;
  bool done = false, waiting = false;
};

constexpr size_t kStack = 256 * 1024;

struct Scheduler {
  ucontext_t main;
  std::vector<Fiber> fibers;
  Fiber* current = nullptr;
  std::function<void()> body;
};

inline Scheduler sched;

// Fibers meeting n at a time; the last to arrive releases the others.
class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait() {
    Fiber* me = sched.current;
    if (++arrived_ == n_) {
      arrived_ = 0;
      for (Fiber* f : waiting_) f->waiting = false;
      waiting_.clear();
      return;
    }
    me->waiting = true;
    waiting_.push_back(me);
    swapcontext(&me->ctx, &sched.main);
  }

 private:
  int n_, arrived_ = 0;
  std::vector<Fiber*> waiting_;
};

// Lanes exchange 8 bytes each: write, meet, read all, meet again (so no lane overwrites its slot
// before every lane has read it).
struct Group {
  explicit Group(int n) : barrier(n), slots(n) {}
  Barrier barrier;
  std::vector<uint64_t> slots;
  std::vector<uint64_t> exchange(int lane, uint64_t mine) {
    slots[lane] = mine;
    barrier.wait();
    std::vector<uint64_t> all = slots;
    barrier.wait();
    return all;
  }
};

struct Block {
  explicit Block(int threads) : all(threads) {
    for (int w = 0; w < (threads + 31) / 32; ++w) warps.emplace_back(new Group(std::min(32, threads - 32 * w)));
  }
  Group all;
  std::vector<std::unique_ptr<Group>> warps;
};

inline Block* block = nullptr;

inline int lane() { return static_cast<int>(threadIdx.x % 32); }
inline Group& warp() { return *block->warps[threadIdx.x / 32]; }

template <typename T>
uint64_t bits(T v) {
  uint64_t b = 0;
  static_assert(sizeof(T) <= sizeof b, "at most 8 bytes per lane");
  std::memcpy(&b, &v, sizeof v);
  return b;
}

template <typename T>
T value(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}

inline void fiber_entry() {
  sched.body();
  sched.current->done = true;  // returning resumes uc_link: the scheduler
}

template <typename Kernel, typename... Args>
void launch(Kernel kernel, dim3 grid, dim3 threads, Args... args) {
  gridDim = grid, blockDim = threads;
  const unsigned n = threads.x * threads.y * threads.z;
  sched.body = [&] { kernel(args...); };
  if (sched.fibers.size() < n) sched.fibers.resize(n);
  for (unsigned by = 0; by < grid.y; ++by)
    for (unsigned bx = 0; bx < grid.x; ++bx) {
      blockIdx = dim3(bx, by, 0);
      Block b(static_cast<int>(n));
      block = &b;
      for (unsigned t = 0; t < n; ++t) {
        Fiber& f = sched.fibers[t];
        if (!f.stack) f.stack.reset(new char[kStack]);
        f.id = t, f.done = false, f.waiting = false;
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = f.stack.get();
        f.ctx.uc_stack.ss_size = kStack;
        f.ctx.uc_link = &sched.main;
        makecontext(&f.ctx, fiber_entry, 0);
      }
      for (unsigned left = n; left > 0;) {
        bool ran = false;
        for (unsigned t = 0; t < n; ++t) {
          Fiber& f = sched.fibers[t];
          if (f.done || f.waiting) continue;
          sched.current = &f, threadIdx = dim3(t, 0, 0), ran = true;
          swapcontext(&sched.main, &f.ctx);
          if (f.done) --left;
        }
        if (!ran && left > 0) {
          std::fprintf(stderr,
                       "cuda emulation: deadlock in block (%u, %u): %u threads wait at a collective that "
                       "the others of their block or warp never reach\n",
                       bx, by, left);
          std::abort();
        }
      }
    }
}

}  // namespace swagfast_emu

inline void __syncthreads() { swagfast_emu::block->all.barrier.wait(); }

inline int __syncthreads_count(int pred) {
  int n = 0;
  for (uint64_t b : swagfast_emu::block->all.exchange(static_cast<int>(threadIdx.x), pred != 0))
    n += static_cast<int>(b);
  return n;
}

inline unsigned __ballot_sync(unsigned, int pred) {
  unsigned out = 0;
  const auto all = swagfast_emu::warp().exchange(swagfast_emu::lane(), pred != 0);
  for (size_t l = 0; l < all.size(); ++l) out |= static_cast<unsigned>(all[l]) << l;
  return out;
}

template <typename T>
T __shfl_sync(unsigned, T v, int src) {
  return swagfast_emu::value<T>(swagfast_emu::warp().exchange(swagfast_emu::lane(), swagfast_emu::bits(v))[src]);
}

template <typename T>
T __shfl_xor_sync(unsigned, T v, int mask) {
  const int l = swagfast_emu::lane();
  return swagfast_emu::value<T>(swagfast_emu::warp().exchange(l, swagfast_emu::bits(v))[l ^ mask]);
}

inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __ffs(unsigned v) { return __builtin_ffs(static_cast<int>(v)); }

// One OS thread: plain memory operations are the atomics.
inline int32_t __ldcg(const int32_t* p) { return *p; }

inline int atomicAdd(int* p, int v) {
  const int old = *p;
  *p = old + v;
  return old;
}

inline int atomicMin(int* p, int v) {
  const int old = *p;
  *p = v < old ? v : old;
  return old;
}

inline double atomicAdd(double* p, double v) {
  const double old = *p;
  *p = old + v;
  return old;
}

inline unsigned long long atomicMin(unsigned long long* p, unsigned long long v) {
  const unsigned long long old = *p;
  *p = v < old ? v : old;
  return old;
}

inline unsigned long long atomicCAS(unsigned long long* p, unsigned long long expected, unsigned long long v) {
  const unsigned long long old = *p;
  if (old == expected) *p = v;
  return old;
}

inline long long __double_as_longlong(double v) {
  long long bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits;
}

inline double __longlong_as_double(long long bits) {
  double v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}
