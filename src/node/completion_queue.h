// CompletionQueue: hands work from other threads (the storage worker) to
// the event loop. Post() may be called from any thread; the functions run
// on the loop thread, in the order posted, after one uv_async wake-up for
// however many were posted meanwhile.
//
// Lifetime: Open() on the loop thread, Close() before the loop ends; the
// uv_async_t is a member, so the queue must outlive the loop run that
// closes it.
#pragma once

#include <uv.h>

#include <functional>
#include <mutex>
#include <vector>

#include "common/status.h"

namespace dynkv::node {

class CompletionQueue {
 public:
  Status Open(uv_loop_t* loop);
  // Thread-safe. Dropped (never run) after Close().
  void Post(std::function<void()> fn);
  // Runs everything posted so far, now, on the calling (loop) thread.
  void Drain();
  // Idempotent.
  void Close();

 private:
  static void OnWake(uv_async_t* handle);

  uv_async_t async_{};
  bool open_ = false;
  std::mutex mutex_;
  std::vector<std::function<void()>> queued_;  // guarded by mutex_
  bool closed_ = false;                        // guarded by mutex_
};

}  // namespace dynkv::node
