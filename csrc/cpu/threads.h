// Threads of swagfast's OpenMP kernels, kept apart from torch's setting. swagfast and torch share
// one OpenMP runtime in a process (the same libgomp), so the runtime's per-thread count would
// couple them: torch.set_num_threads would set ours and ours torch's. Every parallel region of
// ours asks for num_threads() threads explicitly instead.
#pragma once

namespace swagfast::cpu {

// Threads the kernels use when called from this thread: this thread's own count if one was set,
// else the process-wide count if one was set, else OpenMP's default for this thread.
int num_threads();
// The process-wide count (n >= 1); torch's count is left as it is.
void set_num_threads(int n);
// This thread only (n >= 1; 0 clears it). Also this thread's OpenMP count, which torch's ops
// called from it use: a worker thread set to 1 opens no OpenMP pool of its own.
void set_thread_num_threads(int n);
bool has_openmp();

}  // namespace swagfast::cpu
