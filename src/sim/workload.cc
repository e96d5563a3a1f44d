#include "sim/workload.h"

#include <algorithm>
#include <functional>
#include <set>
#include <sstream>
#include <utility>

#include "quorum/tally.h"

namespace dynkv::sim {

namespace pb = dynkv::client;

std::vector<std::string> DecodeSet(const std::string& value) {
  std::set<std::string> elements;
  std::stringstream in(value);
  std::string element;
  while (std::getline(in, element, ',')) {
    if (!element.empty()) elements.insert(element);
  }
  return {elements.begin(), elements.end()};
}

std::string EncodeSet(const std::vector<std::string>& elements) {
  std::string out;
  for (const std::string& e : elements) {
    if (!out.empty()) out += ',';
    out += e;
  }
  return out;
}

namespace {

// What a client saw of a request: the response, or why it has none.
struct Answer {
  bool ok = false;
  std::string result;  // "ok" or an error code name
  pb::Response response;
};

std::vector<std::string> ReadValues(const pb::GetResponse& get, Workload workload) {
  std::set<std::string> values;
  for (const pb::Sibling& sibling : get.siblings()) {
    if (workload == Workload::kSet) {
      for (std::string& e : DecodeSet(sibling.value())) values.insert(std::move(e));
    } else {
      values.insert(sibling.value());
    }
  }
  return {values.begin(), values.end()};
}

}  // namespace

// One client: a state machine of one request at a time.
class WorkloadClient {
 public:
  WorkloadClient(WorkloadRun& run, int index)
      : run_(run),
        index_(index),
        endpoint_("client" + std::to_string(index)),
        node_(FirstNode(run.cluster_, index)) {}

  void Step();
  bool idle() const { return stopped_; }

  // Sends `request` to this client's node; `done` once, with the answer or
  // CLIENT_TIMEOUT.
  void Send(pb::Request request, std::function<void(Answer)> done);

 private:
  void SetStep(const std::string& key);
  void RegisterWrite(const std::string& key);
  void RegisterRead(const std::string& key);
  void Record(OpKind kind, const std::string& key, int64_t start, const Answer& answer,
              std::string value = "", std::vector<std::string> values = {});
  // Next step after a pause; a failed request moves to another node first.
  void Next(const Answer& answer);
  static size_t FirstNode(const SimCluster& cluster, int index) {
    const std::vector<size_t> members = cluster.members();
    return members[static_cast<size_t>(index) % members.size()];
  }
  // A member at random: new nodes may be asked, departed ones are not.
  void MoveToAnotherNode() {
    const std::vector<size_t> members = run_.cluster_.members();
    node_ = members[run_.cluster_.random().Below(members.size())];
  }
  SimLoop& loop() { return run_.cluster_.loop(); }
  const WorkloadOptions& options() const { return run_.options_; }

  WorkloadRun& run_;
  const int index_;
  const std::string endpoint_;
  size_t node_;
  uint64_t counter_ = 0;
  uint64_t next_request_ = 1;
  bool stopped_ = false;
  std::map<std::string, std::string> contexts_;  // register: the last context per key
};

void WorkloadClient::Send(pb::Request request, std::function<void(Answer)> done) {
  const uint64_t id = (static_cast<uint64_t>(index_) << 32) | next_request_++;
  request.set_id(id);
  auto answered = std::make_shared<bool>(false);
  auto finish = [answered, done](Answer answer) {
    if (std::exchange(*answered, true)) return;
    done(std::move(answer));
  };
  run_.cluster_.Request(endpoint_, node_, std::move(request), [finish](pb::Response response) {
    Answer answer;
    answer.ok = !response.has_error();
    answer.result = answer.ok ? "ok" : pb::ErrorCode_Name(response.error().code());
    answer.response = std::move(response);
    finish(std::move(answer));
  });
  loop().After(options().client_timeout_ms, [finish] { finish(Answer{false, "CLIENT_TIMEOUT", {}}); });
}

void WorkloadClient::Record(OpKind kind, const std::string& key, int64_t start, const Answer& answer,
                            std::string value, std::vector<std::string> values) {
  Op op;
  op.client = index_;
  op.kind = kind;
  op.key = key;
  op.node = run_.cluster_.id(node_);
  op.start_ms = start;
  op.end_ms = loop().now();
  op.ok = answer.ok;
  op.result = answer.result;
  op.value = std::move(value);
  op.values = std::move(values);
  run_.history_.ops.push_back(std::move(op));
}

void WorkloadClient::Next(const Answer& answer) {
  if (!answer.ok && (answer.result == "CLIENT_TIMEOUT" || answer.result == "UNAVAILABLE")) {
    MoveToAnotherNode();
  }
  const int64_t think = run_.cluster_.random().Between(1, options().max_think_ms);
  loop().After(think, [this] { Step(); });
}

void WorkloadClient::Step() {
  if (!run_.TakeOp()) {
    stopped_ = true;
    return;
  }
  // Its node left the cluster or was removed: as a client told so by its
  // operator (or its load balancer), it asks a member instead.
  if (run_.cluster_.departed(node_)) MoveToAnotherNode();
  const std::string key = run_.keys_[run_.cluster_.random().Below(run_.keys_.size())];
  if (options().workload == Workload::kSet) return SetStep(key);
  if (run_.cluster_.random().Chance(0.5)) return RegisterWrite(key);
  RegisterRead(key);
}

void WorkloadClient::SetStep(const std::string& key) {
  const std::string element = "c" + std::to_string(index_) + "-" + std::to_string(++counter_);
  pb::Request read;
  read.mutable_get()->set_key(key);
  read.mutable_get()->set_r(options().r);
  read.mutable_get()->set_timeout_ms(options().request_timeout_ms);
  const int64_t read_start = loop().now();
  Send(std::move(read), [this, key, element, read_start](Answer answer) {
    if (!answer.ok) {
      Record(OpKind::kRead, key, read_start, answer);
      return Next(answer);
    }
    std::vector<std::string> elements = ReadValues(answer.response.get(), Workload::kSet);
    elements.push_back(element);
    std::sort(elements.begin(), elements.end());
    pb::Request write;
    pb::PutRequest* put = write.mutable_put();
    put->set_key(key);
    put->set_value(EncodeSet(elements));
    put->set_context(answer.response.get().context());
    put->set_w(options().w);
    put->set_timeout_ms(options().request_timeout_ms);
    const int64_t start = loop().now();
    Send(std::move(write), [this, key, element, start](Answer written) {
      Record(OpKind::kAdd, key, start, written, element);
      Next(written);
    });
  });
}

void WorkloadClient::RegisterWrite(const std::string& key) {
  const std::string value = "c" + std::to_string(index_) + "-" + std::to_string(++counter_);
  pb::Request request;
  pb::PutRequest* put = request.mutable_put();
  put->set_key(key);
  put->set_value(value);
  auto context = contexts_.find(key);
  if (context != contexts_.end()) {
    put->set_context(context->second);
    contexts_.erase(context);
  }
  put->set_w(options().w);
  put->set_timeout_ms(options().request_timeout_ms);
  const int64_t start = loop().now();
  Send(std::move(request), [this, key, value, start](Answer answer) {
    if (answer.ok) contexts_[key] = answer.response.put().context();
    Record(OpKind::kWrite, key, start, answer, value);
    Next(answer);
  });
}

void WorkloadClient::RegisterRead(const std::string& key) {
  pb::Request request;
  request.mutable_get()->set_key(key);
  request.mutable_get()->set_r(options().r);
  request.mutable_get()->set_timeout_ms(options().request_timeout_ms);
  const int64_t start = loop().now();
  Send(std::move(request), [this, key, start](Answer answer) {
    std::vector<std::string> values;
    if (answer.ok) {
      contexts_[key] = answer.response.get().context();
      values = ReadValues(answer.response.get(), Workload::kRegister);
    }
    Record(OpKind::kRead, key, start, answer, "", std::move(values));
    Next(answer);
  });
}

WorkloadRun::WorkloadRun(SimCluster& cluster, History& history, WorkloadOptions options)
    : cluster_(cluster), history_(history), options_(options) {
  history_.workload = options_.workload;
  for (size_t k = 0; k < options_.keys; ++k) keys_.push_back("k" + std::to_string(k));
  for (size_t c = 0; c < options_.clients; ++c) {
    clients_.push_back(std::make_unique<WorkloadClient>(*this, static_cast<int>(c)));
  }
}

WorkloadRun::~WorkloadRun() = default;

void WorkloadRun::Start() {
  for (auto& client : clients_) {
    WorkloadClient* c = client.get();
    cluster_.loop().After(cluster_.random().Between(0, options_.max_think_ms), [c] { c->Step(); });
  }
}

bool WorkloadRun::TakeOp() {
  if (ops_started_ >= options_.ops) return false;
  ++ops_started_;
  return true;
}

bool WorkloadRun::Finished() const {
  return std::all_of(clients_.begin(), clients_.end(), [](const auto& c) { return c->idle(); });
}

bool WorkloadRun::CallUntilAnswered(OpKind kind, const std::string& key, const pb::Request& request,
                                    const std::string& value, int attempts) {
  const std::vector<size_t> members = cluster_.members();
  for (int attempt = 0; attempt < attempts; ++attempt) {
    const size_t node = members[static_cast<size_t>(attempt) % members.size()];
    if (!cluster_.running(node)) continue;
    std::optional<Answer> answer;
    const int64_t start = cluster_.loop().now();
    const char* endpoint = kind == OpKind::kFinalRead ? "final" : "cold";
    cluster_.Request(endpoint, node, request, [&answer](pb::Response response) {
      answer = Answer{!response.has_error(),
                      response.has_error() ? pb::ErrorCode_Name(response.error().code()) : "ok", response};
    });
    cluster_.RunUntil([&answer] { return answer.has_value(); }, options_.client_timeout_ms * 2, 1);
    Op op;
    op.client = -1;
    op.kind = kind;
    op.key = key;
    op.node = cluster_.id(node);
    op.start_ms = start;
    op.end_ms = cluster_.loop().now();
    op.ok = answer && answer->ok;
    op.result = answer ? answer->result : "CLIENT_TIMEOUT";
    op.value = value;
    if (op.ok && kind == OpKind::kFinalRead)
      op.values = ReadValues(answer->response.get(), options_.workload);
    history_.ops.push_back(op);
    if (op.ok) return true;
    cluster_.RunFor(500);
  }
  return false;
}

void WorkloadRun::WriteColdKeys(int attempts) {
  const size_t count = std::min<uint64_t>(options_.cold_keys, options_.ops);
  for (size_t k = 0; k < count; ++k) {
    ++ops_started_;
    const std::string key = "cold" + std::to_string(k);
    const std::string element = key + "-0";
    cold_keys_.push_back(key);
    pb::Request request;
    pb::PutRequest* put = request.mutable_put();
    put->set_key(key);
    put->set_value(EncodeSet({element}));
    put->set_w(options_.w);
    put->set_timeout_ms(options_.request_timeout_ms);
    CallUntilAnswered(OpKind::kAdd, key, request, element, attempts);
  }
}

void WorkloadRun::FinalReads(int attempts) {
  std::vector<std::string> all = keys_;
  all.insert(all.end(), cold_keys_.begin(), cold_keys_.end());
  for (const std::string& key : all) {
    pb::Request request;
    request.mutable_get()->set_key(key);
    request.mutable_get()->set_r(quorum::kAllLevel);
    request.mutable_get()->set_timeout_ms(options_.request_timeout_ms * 2);
    CallUntilAnswered(OpKind::kFinalRead, key, request, "", attempts);
  }
}

}  // namespace dynkv::sim
