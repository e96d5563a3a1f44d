// A libuv loop for one net test. Tests end with Close() == 0 (every handle
// was closed and freed); a failed test may leave handles behind, which the
// destructor closes so the next test starts clean.
#pragma once

#include <uv.h>

namespace dynkv::net {

class TestLoop {
 public:
  TestLoop() { uv_loop_init(&loop_); }
  ~TestLoop() {
    if (closed_) return;
    uv_walk(
        &loop_,
        [](uv_handle_t* h, void*) {
          if (!uv_is_closing(h)) uv_close(h, nullptr);
        },
        nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    (void)uv_loop_close(&loop_);
  }
  TestLoop(const TestLoop&) = delete;
  TestLoop& operator=(const TestLoop&) = delete;

  uv_loop_t* get() { return &loop_; }
  void Run() { uv_run(&loop_, UV_RUN_DEFAULT); }
  // Runs until `done()` holds, or nothing is left to run.
  template <typename Predicate>
  void RunUntil(Predicate done) {
    while (!done() && uv_run(&loop_, UV_RUN_ONCE) != 0) {
    }
  }
  int Close() {
    int rc = uv_loop_close(&loop_);
    closed_ = rc == 0;
    return rc;
  }

 private:
  uv_loop_t loop_;
  bool closed_ = false;
};

}  // namespace dynkv::net
