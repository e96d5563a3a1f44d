#include "fake_node.h"

#include <doctest/doctest.h>

#include <algorithm>

namespace dynkv::client {

FakeNode::FakeNode(uv_loop_t* loop, FakeNodeOptions options) : options_(options) {
  auto listening = net::Listener::Listen(loop, {"127.0.0.1", 0}, [this](uv_tcp_t* accepted) {
    connections_.push_back(net::Connection::Adopt(accepted, 1 << 20, this));
    connections_.back()->StartReading();
  });
  REQUIRE(listening.ok());
  listener_ = std::move(*listening);
}

FakeNode::~FakeNode() { Close(); }

void FakeNode::Close() {
  listener_->Close();
  connections_.clear();
}

void FakeNode::CloseConnections() {
  for (const auto& c : connections_) c->Close();
}

void FakeNode::OnFrame(net::Connection& connection, std::string_view payload) {
  Request request;
  if (!request.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) return connection.Close();
  ++requests_seen_;
  if (on_request) on_request(request);
  if (options_.silent) return;
  if (requests_seen_ == options_.close_after) return connection.Close();
  if (requests_seen_ == options_.stop_after) {
    listener_->Close();
    for (const auto& c : connections_) c->Close();
    return;
  }
  if (requests_seen_ == options_.connection_error_after) {
    Response error;
    error.mutable_error()->set_code(TOO_LARGE);
    error.mutable_error()->set_message(kConnectionError);
    connection.Send(error);
    return connection.CloseAfterWrites();
  }
  held_.push_back(Answer(request));
  if (held_.size() < options_.answer_batch) return;
  std::for_each(held_.rbegin(), held_.rend(), [&](const Response& r) { connection.Send(r); });
  held_.clear();
  if (requests_seen_ == options_.close_after_answer) connection.CloseAfterWrites();
}

void FakeNode::OnClose(net::Connection& connection, const Status&) {
  std::erase_if(connections_, [&](const auto& c) { return c.get() == &connection; });
}

Response FakeNode::Answer(const Request& request) {
  Response response;
  response.set_id(request.id());
  switch (request.op_case()) {
    case Request::kPut:
      store_[request.put().key()] = request.put().value();
      response.mutable_put()->set_context("ctx:" + request.put().key());
      response.mutable_put()->add_siblings()->set_value(request.put().value());
      break;
    case Request::kGet: {
      const std::string& key = request.get().key();
      if (key.starts_with("error:")) {
        int code = std::stoi(key.substr(6));
        response.mutable_error()->set_code(static_cast<ErrorCode>(code));
        response.mutable_error()->set_message("fake error " + std::to_string(code));
        break;
      }
      GetResponse* get = response.mutable_get();
      auto it = store_.find(key);
      if (it != store_.end()) {
        Sibling* sibling = get->add_siblings();
        sibling->set_value(it->second);
        sibling->set_write_time_ms(1000);
        sibling->set_expires_at_ms(2000);
        get->set_context("ctx:" + key);
      }
      break;
    }
    case Request::kDelete:
      store_.erase(request.delete_().key());
      response.mutable_delete_();
      break;
    case Request::kPing:
      response.mutable_ping()->set_node_id("fake");
      break;
    case Request::kStats:
      (*response.mutable_stats()->mutable_values())["requests"] = static_cast<double>(requests_seen_);
      break;
    case Request::kLeave:
      response.mutable_leave();
      break;
    case Request::kTransfers:
      if (options_.transfers.empty()) {
        response.mutable_error()->set_code(INVALID_ARGUMENT);
        response.mutable_error()->set_message("unknown operation");
        break;
      }
      *response.mutable_transfers() =
          options_.transfers[std::min(transfers_seen_++, options_.transfers.size() - 1)];
      break;
    case Request::kRing:
      if (ring) {
        *response.mutable_ring() = *ring;
        break;
      }
      [[fallthrough]];
    default:
      response.mutable_error()->set_code(INVALID_ARGUMENT);
      response.mutable_error()->set_message("the fake node does not do that");
  }
  return response;
}

FakeNodeThread::FakeNodeThread(FakeNodeOptions options) {
  // Everything is set up before the thread starts, so the port is known
  // without a handshake; from then on only the thread touches the loop.
  uv_loop_init(&loop_);
  node_ = std::make_unique<FakeNode>(&loop_, options);
  address_ = node_->address();
  stop_.data = this;
  uv_async_init(&loop_, &stop_, [](uv_async_t* async) {
    auto* self = static_cast<FakeNodeThread*>(async->data);
    self->node_->Close();
    uv_close(reinterpret_cast<uv_handle_t*>(async), nullptr);
  });
  thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
}

FakeNodeThread::~FakeNodeThread() {
  uv_async_send(&stop_);
  thread_.join();
  node_.reset();
  CHECK(uv_loop_close(&loop_) == 0);
}

uint16_t ClosedPort() {
  uv_loop_t loop;
  uv_loop_init(&loop);
  auto listener = net::Listener::Listen(&loop, {"127.0.0.1", 0}, [](uv_tcp_t*) {});
  REQUIRE(listener.ok());
  uint16_t port = (*listener)->port();
  listener->reset();
  uv_run(&loop, UV_RUN_DEFAULT);
  REQUIRE(uv_loop_close(&loop) == 0);
  return port;
}

}  // namespace dynkv::client
