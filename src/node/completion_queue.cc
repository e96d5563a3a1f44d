#include "node/completion_queue.h"

#include <string>

namespace dynkv::node {

Status CompletionQueue::Open(uv_loop_t* loop) {
  const int rc = uv_async_init(loop, &async_, &CompletionQueue::OnWake);
  if (rc != 0) return Status::Internal(std::string("uv_async_init: ") + uv_strerror(rc));
  async_.data = this;
  open_ = true;
  return Status::Ok();
}

void CompletionQueue::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return;
    queued_.push_back(std::move(fn));
  }
  uv_async_send(&async_);
}

void CompletionQueue::Drain() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    batch.swap(queued_);
  }
  for (auto& fn : batch) fn();
}

void CompletionQueue::Close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    queued_.clear();
  }
  if (open_ && !uv_is_closing(reinterpret_cast<uv_handle_t*>(&async_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
  }
}

void CompletionQueue::OnWake(uv_async_t* handle) { static_cast<CompletionQueue*>(handle->data)->Drain(); }

}  // namespace dynkv::node
