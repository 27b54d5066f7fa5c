// Exceptions and OpenMP regions. An exception that leaves a parallel region (or one of its
// threads) ends the process (std::terminate), so every region body that can throw, which is any
// body that allocates, runs inside FirstError::run; the first exception is rethrown once the
// region has ended, where the binding turns it into a Python exception (std::bad_alloc into
// MemoryError).
#pragma once

#include <exception>
#include <mutex>

namespace swagfast::cpu {

class FirstError {
 public:
  // Runs f(); an exception it throws is kept (the first one) instead of propagating.
  template <typename F>
  void run(F&& f) noexcept {
    try {
      f();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
  // Call after the region: rethrows the kept exception, if any.
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::exception_ptr error_;
  std::mutex mutex_;
};

}  // namespace swagfast::cpu
