// RespCommands' key commands: GET, SET, DEL, EXISTS, MGET, MSET, EXPIRE,
// TTL and DYNKV.SIBLINGS, as reads and writes through the ClientService
// (the semantics are in resp_commands.h).
#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>

#include "api/resp.h"
#include "api/resp_commands.h"

namespace dynkv::api {

namespace pb = dynkv::client;

namespace {

std::string Ok() { return "+OK\r\n"; }

bool NewerThan(const pb::Sibling& a, const pb::Sibling& b) {
  if (a.write_time_ms() != b.write_time_ms()) return a.write_time_ms() > b.write_time_ms();
  return a.value() > b.value();
}

// The sibling GET returns; nullptr when the key has none.
const pb::Sibling* Newest(const pb::GetResponse& get) {
  const pb::Sibling* newest = nullptr;
  for (const pb::Sibling& sibling : get.siblings()) {
    if (newest == nullptr || NewerThan(sibling, *newest)) newest = &sibling;
  }
  return newest;
}

void AppendNewest(std::string* out, const pb::GetResponse& get) {
  const pb::Sibling* newest = Newest(get);
  if (newest == nullptr) RespNull(out);
  else RespBulk(out, newest->value());
}

// A TTL in whole seconds from a count of `unit_ms` milliseconds; nullopt
// (and *error set) when it is not a positive integer that fits.
std::optional<uint32_t> TtlSeconds(std::string_view text, int64_t unit_ms, std::string_view command, std::string* error) {
  int64_t count = 0;
  if (!RespParseInt(text, &count)) {
    *error = RespErrorReply("ERR value is not an integer or out of range");
    return std::nullopt;
  }
  constexpr int64_t kMax = std::numeric_limits<uint32_t>::max();
  if (count <= 0 || count > kMax * 1000 / unit_ms) {
    *error = RespErrorReply("ERR invalid expire time in '" + std::string(command) + "' command");
    return std::nullopt;
  }
  return static_cast<uint32_t>((count * unit_ms + 999) / 1000);
}

// SET's options after the value; the error reply when they are wrong.
template <typename SetOptions>
std::optional<std::string> ParseSetOptions(const RespCommands::Args& args, SetOptions* options) {
  bool has_ttl = false;
  for (size_t i = 3; i < args.size(); ++i) {
    const std::string option = LowerAscii(args[i]);
    if (option == "nx" || option == "xx") {
      (option == "nx" ? options->nx : options->xx) = true;
    } else if ((option == "ex" || option == "px") && !has_ttl && i + 1 < args.size()) {
      std::string error;
      auto ttl = TtlSeconds(args[++i], option == "ex" ? 1000 : 1, "set", &error);
      if (!ttl) return error;
      options->ttl_s = *ttl;
      has_ttl = true;
    } else if (option == "keepttl" || option == "get" || option == "exat" || option == "pxat") {
      return RespErrorReply("ERR SET " + args[i] + " is not supported by dynkv");
    } else {
      return RespErrorReply("ERR syntax error");
    }
  }
  if (options->nx && options->xx) return RespErrorReply("ERR syntax error");
  return std::nullopt;
}

}  // namespace

// ---- Requests -----------------------------------------------------------------

void RespCommands::Read(const std::string& key, const Reply& reply, std::function<void(pb::GetResponse)> done) {
  pb::Request request;
  request.mutable_get()->set_key(key);
  Call(std::move(request), [reply, done = std::move(done)](pb::Response response) {
    if (response.has_error()) return reply(RespErrorFor(response.error()));
    done(std::move(*response.mutable_get()));
  });
}

void RespCommands::Write(const std::string& key, std::string value, const std::string& context, uint32_t ttl_s,
                         const Reply& reply, std::function<void()> done) {
  pb::Request request;
  pb::PutRequest* put = request.mutable_put();
  put->set_key(key);
  put->set_value(std::move(value));
  put->set_context(context);
  put->set_ttl_s(ttl_s);
  Call(std::move(request), [reply, done = std::move(done)](pb::Response response) {
    if (response.has_error()) return reply(RespErrorFor(response.error()));
    done();
  });
}

void RespCommands::Remove(const std::string& key, const std::string& context, const Reply& reply,
                          std::function<void()> done) {
  pb::Request request;
  request.mutable_delete_()->set_key(key);
  request.mutable_delete_()->set_context(context);
  Call(std::move(request), [reply, done = std::move(done)](pb::Response response) {
    if (response.has_error()) return reply(RespErrorFor(response.error()));
    done();
  });
}

void RespCommands::ReadAll(const std::vector<std::string>& keys, const Reply& reply,
                           std::function<void(std::vector<pb::GetResponse>)> done) {
  pb::Request request;
  for (const std::string& key : keys) request.mutable_batch_get()->add_gets()->set_key(key);
  Call(std::move(request), [reply, done = std::move(done)](pb::Response response) {
    if (response.has_error()) return reply(RespErrorFor(response.error()));
    std::vector<pb::GetResponse> results;
    for (pb::GetResult& result : *response.mutable_batch_get()->mutable_results()) {
      if (result.has_error()) return reply(RespErrorFor(result.error()));
      results.push_back(std::move(*result.mutable_ok()));
    }
    done(std::move(results));
  });
}

// ---- Commands -----------------------------------------------------------------

void RespCommands::Get(const Args& args, uint64_t, Reply reply) {
  Read(args[1], reply, [reply](pb::GetResponse get) {
    std::string out;
    AppendNewest(&out, get);
    reply(std::move(out));
  });
}

void RespCommands::Set(const Args& args, uint64_t, Reply reply) {
  QueuedSet set{args[2], {}, std::move(reply)};
  if (auto error = ParseSetOptions(args, &set.options)) return set.reply(std::move(*error));
  auto [waiting, idle] = sets_.try_emplace(args[1]);
  if (!idle) return waiting->second.push_back(std::move(set));
  std::vector<QueuedSet> run;
  run.push_back(std::move(set));
  StartSets(args[1], std::move(run));
}

void RespCommands::StartSets(const std::string& key, std::vector<QueuedSet> run) {
  auto shared = std::make_shared<std::vector<QueuedSet>>(std::move(run));
  // Every SET of the run gets the same reply.
  Reply reply = [this, key, shared](std::string bytes) {
    for (QueuedSet& set : *shared) set.reply(bytes);
    FinishSets(key);
  };
  Read(key, reply, [this, key, shared, reply](pb::GetResponse get) {
    const SetOptions& options = shared->back().options;
    const bool exists = get.siblings_size() > 0;
    if ((options.nx && exists) || (options.xx && !exists)) return reply("$-1\r\n");
    Write(key, std::move(shared->back().value), get.context(), options.ttl_s, reply, [reply] { reply(Ok()); });
  });
}

void RespCommands::FinishSets(const std::string& key) {
  auto it = sets_.find(key);
  if (it == sets_.end()) return;
  std::deque<QueuedSet>& waiting = it->second;
  if (waiting.empty()) {
    sets_.erase(it);
    return;
  }
  // The next SET alone when it has NX or XX; else it and the plain ones after it.
  std::vector<QueuedSet> run;
  const auto conditional = [](const QueuedSet& set) { return set.options.nx || set.options.xx; };
  do {
    run.push_back(std::move(waiting.front()));
    waiting.pop_front();
  } while (!conditional(run.front()) && !waiting.empty() && !conditional(waiting.front()));
  StartSets(key, std::move(run));
}

// Reads the keys, then deletes each that has a value with the context read:
// the count of keys deleted, or the first error.
void RespCommands::Del(const Args& args, uint64_t, Reply reply) {
  const std::set<std::string> unique(args.begin() + 1, args.end());
  std::vector<std::string> keys(unique.begin(), unique.end());
  ReadAll(keys, reply, [this, keys, reply](std::vector<pb::GetResponse> gets) {
    struct Join {
      size_t remaining = 0;
      int64_t deleted = 0;
      bool failed = false;
    };
    auto join = std::make_shared<Join>();
    for (const pb::GetResponse& get : gets) join->remaining += get.siblings_size() > 0 ? 1 : 0;
    if (join->remaining == 0) return reply(RespIntegerReply(0));
    auto fail = [join, reply](std::string error) {
      if (!std::exchange(join->failed, true)) reply(std::move(error));
    };
    for (size_t i = 0; i < keys.size(); ++i) {
      if (gets[i].siblings_size() == 0) continue;
      Remove(keys[i], gets[i].context(), fail, [join, reply] {
        ++join->deleted;
        if (--join->remaining == 0 && !join->failed) reply(RespIntegerReply(join->deleted));
      });
    }
  });
}

void RespCommands::Exists(const Args& args, uint64_t, Reply reply) {
  ReadAll({args.begin() + 1, args.end()}, reply, [reply](std::vector<pb::GetResponse> gets) {
    int64_t count = 0;
    for (const pb::GetResponse& get : gets) count += get.siblings_size() > 0 ? 1 : 0;
    reply(RespIntegerReply(count));
  });
}

void RespCommands::MGet(const Args& args, uint64_t, Reply reply) {
  ReadAll({args.begin() + 1, args.end()}, reply, [reply](std::vector<pb::GetResponse> gets) {
    std::string out;
    RespArrayHeader(&out, gets.size());
    for (const pb::GetResponse& get : gets) AppendNewest(&out, get);
    reply(std::move(out));
  });
}

// Reads the keys for their contexts, then writes them all in one batch; a
// key named twice takes its last value, as in Redis.
void RespCommands::MSet(const Args& args, uint64_t, Reply reply) {
  if (args.size() % 2 != 1) return reply(RespErrorReply("ERR wrong number of arguments for 'mset' command"));
  std::map<std::string, std::string> values;
  for (size_t i = 1; i + 1 < args.size(); i += 2) values[args[i]] = args[i + 1];
  std::vector<std::string> keys;
  for (const auto& [key, value] : values) keys.push_back(key);
  ReadAll(keys, reply, [this, values = std::move(values), reply](std::vector<pb::GetResponse> gets) {
    pb::Request request;
    size_t i = 0;
    for (const auto& [key, value] : values) {
      pb::PutRequest* put = request.mutable_batch_put()->add_puts();
      put->set_key(key);
      put->set_value(value);
      put->set_context(gets[i++].context());
    }
    Call(std::move(request), [reply](pb::Response response) {
      if (response.has_error()) return reply(RespErrorFor(response.error()));
      for (const pb::PutResult& result : response.batch_put().results()) {
        if (result.has_error()) return reply(RespErrorFor(result.error()));
      }
      reply(Ok());
    });
  });
}

// Rewrites the newest sibling with the TTL (0 or less deletes the key, as
// in Redis): 1, or 0 when the key has no value.
void RespCommands::Expire(const Args& args, uint64_t, Reply reply) {
  if (args.size() > 3) return reply(RespErrorReply("ERR EXPIRE's NX, XX, GT and LT are not supported by dynkv"));
  int64_t seconds = 0;
  if (!RespParseInt(args[2], &seconds)) return reply(RespErrorReply("ERR value is not an integer or out of range"));
  std::optional<uint32_t> ttl;
  if (seconds > 0) {
    std::string error;
    ttl = TtlSeconds(args[2], 1000, "expire", &error);
    if (!ttl) return reply(std::move(error));
  }
  Read(args[1], reply, [this, key = args[1], ttl, reply](pb::GetResponse get) {
    const pb::Sibling* newest = Newest(get);
    if (newest == nullptr) return reply(RespIntegerReply(0));
    auto done = [reply] { reply(RespIntegerReply(1)); };
    if (!ttl) return Remove(key, get.context(), reply, done);
    Write(key, newest->value(), get.context(), *ttl, reply, done);
  });
}

// Seconds left, rounded; -1 without a TTL, -2 without a value.
void RespCommands::Ttl(const Args& args, uint64_t, Reply reply) {
  Read(args[1], reply, [this, reply](pb::GetResponse get) {
    const pb::Sibling* newest = Newest(get);
    if (newest == nullptr) return reply(RespIntegerReply(-2));
    if (newest->expires_at_ms() == 0) return reply(RespIntegerReply(-1));
    const int64_t left_ms = static_cast<int64_t>(newest->expires_at_ms()) - clock_.NowMs();
    reply(RespIntegerReply(std::max<int64_t>(0, (left_ms + 500) / 1000)));
  });
}

void RespCommands::Siblings(const Args& args, uint64_t, Reply reply) {
  Read(args[1], reply, [reply](pb::GetResponse get) {
    std::vector<const pb::Sibling*> siblings;
    for (const pb::Sibling& sibling : get.siblings()) siblings.push_back(&sibling);
    std::sort(siblings.begin(), siblings.end(), [](const pb::Sibling* a, const pb::Sibling* b) { return NewerThan(*a, *b); });
    std::string out;
    RespArrayHeader(&out, siblings.size());
    for (const pb::Sibling* sibling : siblings) RespBulk(&out, sibling->value());
    reply(std::move(out));
  });
}

}  // namespace dynkv::api
