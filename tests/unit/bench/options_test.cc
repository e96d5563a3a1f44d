#include "bench/options.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace dynkv::bench {

namespace {

Result<BenchOptions> Parse(const std::vector<std::string>& args, bool* help = nullptr) {
  std::vector<std::string> storage = {"dynkv-bench"};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : storage) argv.push_back(arg.data());
  bool ignored = false;
  return ParseArgs(static_cast<int>(argv.size()), argv.data(), help ? help : &ignored);
}

}  // namespace

TEST_CASE("defaults match the issue's workload") {
  auto o = Parse({});
  REQUIRE(o.ok());
  CHECK(o->target == Target::kDynkv);
  CHECK(o->nodes.size() == 1);
  CHECK(o->nodes[0].port == 7101);
  CHECK(o->connections == 50);
  CHECK(o->pipeline == 1);
  CHECK(o->keys == 1'000'000);
  CHECK(o->value_size == 100);
  CHECK(o->ops == 0);
}

TEST_CASE("every flag is parsed, in both --flag value and --flag=value forms") {
  auto o = Parse({"--target=redis",
                  "--nodes",
                  "127.0.0.1:1,127.0.0.1:2",
                  "--connections",
                  "8",
                  "--pipeline=16",
                  "--threads",
                  "2",
                  "--mix",
                  "80:15:5",
                  "--keys",
                  "1000",
                  "--value-size",
                  "4096",
                  "--distribution",
                  "zipfian",
                  "--zipf-theta",
                  "0.8",
                  "--ops",
                  "500",
                  "--warmup",
                  "0.5",
                  "--load",
                  "--load-pipeline",
                  "8",
                  "--timeout",
                  "100",
                  "--json",
                  "-",
                  "--seed",
                  "42",
                  "--quiet"});
  REQUIRE(o.ok());
  CHECK(o->target == Target::kRedis);
  REQUIRE(o->nodes.size() == 2);
  CHECK(o->nodes[1].port == 2);
  CHECK(o->connections == 8);
  CHECK(o->pipeline == 16);
  CHECK(o->threads == 2);
  CHECK(o->mix[0] == 80);
  CHECK(o->mix[1] == 15);
  CHECK(o->mix[2] == 5);
  CHECK(o->keys == 1000);
  CHECK(o->value_size == 4096);
  CHECK(o->distribution == Distribution::kZipfian);
  CHECK(o->zipf_theta == doctest::Approx(0.8));
  CHECK(o->ops == 500);
  CHECK(o->warmup_s == doctest::Approx(0.5));
  CHECK(o->load);
  CHECK(o->load_pipeline == 8);
  CHECK(o->timeout_ms == 100);
  CHECK(o->json_path == "-");
  CHECK(o->seed == 42);
  CHECK_FALSE(o->progress);
}

TEST_CASE("redis listens on its own default port; dynkv takes R and W levels") {
  auto redis = Parse({"--target", "redis"});
  REQUIRE(redis.ok());
  CHECK(redis->nodes[0].port == 6379);
  auto dynkv = Parse({"--r", "quorum", "--w", "2"});
  REQUIRE(dynkv.ok());
  CHECK(dynkv->r == 4294967293u);
  CHECK(dynkv->w == 2);
}

TEST_CASE("--contexts names a file for dynkv; Redis has no contexts") {
  auto dynkv = Parse({"--contexts", "/tmp/ctx"});
  REQUIRE(dynkv.ok());
  CHECK(dynkv->contexts_path == "/tmp/ctx");
  auto redis = Parse({"--target", "redis", "--contexts", "/tmp/ctx"});
  CHECK(redis.status().message().find("--contexts") != std::string::npos);
}

TEST_CASE("bad values name the flag") {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--mix", "1:2"}, "--mix"},
      {{"--mix", "0:0:0"}, "--mix"},
      {{"--connections", "0"}, "--connections"},
      {{"--keys", "-5"}, "--keys"},
      {{"--zipf-theta", "1"}, "--zipf-theta"},
      {{"--duration", "abc"}, "--duration"},
      {{"--node", "nohost"}, "--node"},
      {{"--target", "memcached"}, "--target"},
      {{"--bogus"}, "--bogus"},
      {{"--pipeline"}, "--pipeline"},
      {{"--load=yes"}, "--load"},
      {{"--target", "redis", "--r", "1"}, "--r"},
  };
  for (const auto& [args, flag] : cases) {
    auto o = Parse(args);
    CAPTURE(flag);
    REQUIRE_FALSE(o.ok());
    CHECK(o.status().code() == Code::kInvalidArgument);
    CHECK(o.status().message().find(flag) != std::string::npos);
  }
}

TEST_CASE("numbers are decimal and the last of a repeated flag counts") {
  auto o = Parse({"--connections", "010", "--keys", "7", "--keys=9", "--node", "127.0.0.1:1", "--nodes",
                  "127.0.0.1:2,127.0.0.1:3"});
  REQUIRE(o.ok());
  CHECK(o->connections == 10);
  CHECK(o->keys == 9);
  REQUIRE(o->nodes.size() == 2);
  CHECK(o->nodes[0].port == 2);
  for (const std::string bad : {"0x10", "1.5", "", "-1"}) {
    CAPTURE(bad);
    CHECK_FALSE(Parse({"--connections", bad}).ok());
  }
}

TEST_CASE("--help is reported") {
  bool help = false;
  auto o = Parse({"--help"}, &help);
  CHECK(o.ok());
  CHECK(help);
}

}  // namespace dynkv::bench
