// storage-bench: the storage Engine (through OpenLevelDbEngine) against raw
// LevelDB opened with the same options (MakeLevelDbSetup: write buffer, block
// cache, bloom filter, snappy, table files read with pread), one thread,
// random keys from a preloaded key space, 100-byte values (issue 6). It shows
// what the record codec, the key layout and the record cache cost or save;
// after the Google Benchmark table it prints the ratio engine/raw per
// operation.
//
//   storage-bench [--keys=N] [--ops=N] [--value-size=N] [--block-size=N] [--raw-mmap] [google benchmark
//   flags]
//
// --block-size sets LevelDB's table block size (storage.block_bytes) of both stores.
//
// --raw-mmap opens raw LevelDB with its default Env instead, which maps table
// files into memory (faster reads, and every page read counts in the RSS).
//
// Operations: put (one key per write, as a node's single put), batch100
// (100 keys per write, a group commit), get (random existing keys; engine
// with its default 64 MiB record cache and with the cache off), and rmw
// (read, then write: what one client put costs the storage thread).
// Every benchmark runs --ops operations (default 200000) from a fully
// compacted database, reads after 2 x --keys untimed reads that warm the
// caches, and rates are per CPU-second of the whole process (see
// Register()), which keeps them steady on a shared machine.
#include <benchmark/benchmark.h>
#include <leveldb/db.h>
#include <leveldb/write_batch.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "key_generator.h"
#include "quorum/dvv.h"
#include "storage/leveldb_setup.h"
#include "storage/storage.h"

namespace dynkv::bench {

namespace {

constexpr int kBatch = 100;

struct Config {
  uint64_t keys = 1'000'000;
  uint32_t value_size = 100;
  uint64_t ops = 200'000;  // timed operations per benchmark
  bool raw_mmap = false;   // raw LevelDB reads its tables through mmap
  uint32_t block_bytes = storage::Options{}.block_bytes;  // LevelDB's table block size, both stores
};

std::string MakeKey(uint64_t index) {
  char key[kKeyBytes];
  FormatKey(index, key);
  return std::string(key, kKeyBytes);
}

// Raw LevelDB with the options OpenLevelDbEngine uses.
class RawLevelDb {
 public:
  static std::unique_ptr<RawLevelDb> Open(const std::string& dir, const storage::Options& options,
                                          bool mmap = false) {
    auto raw = std::unique_ptr<RawLevelDb>(new RawLevelDb);
    raw->setup_ = storage::MakeLevelDbSetup(options);
    if (mmap) raw->setup_.options.env = leveldb::Env::Default();
    leveldb::DB* db = nullptr;
    leveldb::Status status = leveldb::DB::Open(raw->setup_.options, dir, &db);
    if (!status.ok()) {
      std::fprintf(stderr, "storage-bench: cannot open %s: %s\n", dir.c_str(), status.ToString().c_str());
      return nullptr;
    }
    raw->db_.reset(db);
    return raw;
  }

  leveldb::DB& db() { return *db_; }

 private:
  RawLevelDb() = default;
  storage::LevelDbSetup setup_;
  std::unique_ptr<leveldb::DB> db_;  // destroyed first: it uses setup_
};

// Both stores, preloaded with every key, in a temporary directory. Every
// benchmark starts from a settled database (fully compacted), so the
// compaction debt one benchmark leaves is not paid inside the next one.
class Stores {
 public:
  static std::unique_ptr<Stores> Create(const Config& config) {
    const char* base = std::getenv("DYNKV_TEST_TMP");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/dynkv-storage-bench-XXXXXX";
    std::error_code ignored;
    std::filesystem::create_directories(std::filesystem::path(pattern).parent_path(), ignored);
    if (mkdtemp(pattern.data()) == nullptr) {
      std::perror("storage-bench: mkdtemp");
      return nullptr;
    }
    auto stores = std::unique_ptr<Stores>(new Stores(config, pattern));
    if (!stores->Open()) return nullptr;
    return stores;
  }

  ~Stores() {
    engine_.reset();
    engine_no_cache_.reset();
    raw_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  const Config& config() const { return config_; }
  leveldb::DB& raw() { return raw_->db(); }
  storage::Engine& engine() { return *engine_; }
  storage::Engine& engine_no_cache() { return *engine_no_cache_; }
  const std::string& value() const { return value_; }
  // The object a node stores for one blind put of value().
  const Object& object() const { return object_; }

  // Compacts the raw database fully; run outside the timed loop.
  void SettleRaw() { raw_->db().CompactRange(nullptr, nullptr); }

  // The same for the engine's database. The Engine has no compaction call,
  // so it is closed, compacted as a plain LevelDB and opened again (with a
  // cold object cache: get benchmarks warm it before timing).
  bool SettleEngine() {
    engine_.reset();
    if (!Compact(EngineOptions(dir_ + "/engine"))) return false;
    return OpenEngine(&engine_, EngineOptions(dir_ + "/engine"));
  }

 private:
  Stores(const Config& config, std::string dir) : config_(config), dir_(std::move(dir)) {
    std::mt19937_64 random(42);
    value_.resize(config.value_size);
    for (char& c : value_) c = static_cast<char>('a' + random() % 26);
    Sibling sibling;
    sibling.value = value_;
    sibling.write_time_ms = 1'700'000'000'000;
    object_ = dvv::Update(Object{}, VersionVector{}, "node1.00000000deadbeef", sibling);
  }

  storage::Options EngineOptions(const std::string& dir) const {
    storage::Options options;
    options.data_dir = dir;
    options.block_bytes = config_.block_bytes;
    return options;
  }

  bool OpenEngine(std::unique_ptr<storage::Engine>* engine, const storage::Options& options) {
    auto opened = storage::OpenLevelDbEngine(options);
    if (!opened.ok()) return Fail(opened.status());
    *engine = std::move(*opened);
    return true;
  }

  static bool Compact(const storage::Options& options) {
    auto db = RawLevelDb::Open(options.data_dir, options);
    if (!db) return false;
    db->db().CompactRange(nullptr, nullptr);
    return true;
  }

  bool Open() {
    const storage::Options options = EngineOptions(dir_ + "/engine");
    if (!OpenEngine(&engine_, options)) return false;
    raw_ = RawLevelDb::Open(dir_ + "/raw", options, config_.raw_mmap);
    if (!raw_ || !Preload()) return false;
    SettleRaw();
    engine_.reset();
    if (!Compact(options)) return false;
    // Two engines cannot open one data dir: the cache-less one gets a copy
    // of the loaded database, made while the engine is closed.
    std::error_code error;
    std::filesystem::copy(dir_ + "/engine", dir_ + "/engine_no_cache",
                          std::filesystem::copy_options::recursive, error);
    if (error) return Fail(Status::StorageError("cannot copy the engine's database: " + error.message()));
    storage::Options no_cache = EngineOptions(dir_ + "/engine_no_cache");
    no_cache.cache_bytes = 0;
    return OpenEngine(&engine_, options) && OpenEngine(&engine_no_cache_, no_cache);
  }

  static bool Fail(const Status& status) {
    std::fprintf(stderr, "storage-bench: %s\n", status.ToString().c_str());
    return false;
  }

  bool Preload() {
    std::fprintf(stderr, "storage-bench: loading %llu keys into each store ...\n",
                 static_cast<unsigned long long>(config_.keys));
    constexpr uint64_t kLoadBatch = 1000;
    std::vector<storage::ObjectWrite> writes;
    for (uint64_t first = 0; first < config_.keys; first += kLoadBatch) {
      leveldb::WriteBatch batch;
      writes.clear();
      for (uint64_t i = first; i < std::min(first + kLoadBatch, config_.keys); ++i) {
        std::string key = MakeKey(i);
        batch.Put(key, value_);
        writes.push_back(storage::ObjectWrite{std::move(key), object_});
      }
      leveldb::Status raw = raw_->db().Write(leveldb::WriteOptions(), &batch);
      if (!raw.ok()) return Fail(Status::StorageError(raw.ToString()));
      if (Status s = engine_->Write(writes); !s.ok()) return Fail(s);
    }
    return true;
  }

  Config config_;
  std::string dir_;
  std::string value_;
  Object object_;
  std::unique_ptr<RawLevelDb> raw_;
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<storage::Engine> engine_no_cache_;
};

// Random keys from a seeded stream. Raw LevelDB and the engine get the same
// stream for one operation; each operation and each warm-up has its own, so
// no benchmark reads exactly the keys an earlier one left in a cache.
enum KeyStream : uint64_t { kPutKeys = 1, kBatchKeys, kGetKeys, kRmwKeys, kGetWarmUpKeys, kRmwWarmUpKeys };

class KeyPicker {
 public:
  KeyPicker(uint64_t keys, uint64_t seed) : random_(seed), pick_(0, keys - 1) {}
  const std::string& Next() {
    FormatKey(pick_(random_), key_.data());
    return key_;
  }

 private:
  std::mt19937_64 random_;
  std::uniform_int_distribution<uint64_t> pick_;
  std::string key_ = std::string(kKeyBytes, ' ');
};

void Check(benchmark::State& state, const leveldb::Status& status) {
  if (!status.ok() && !status.IsNotFound()) state.SkipWithError(status.ToString().c_str());
}

void Check(benchmark::State& state, const Status& status) {
  if (!status.ok()) state.SkipWithError(status.ToString().c_str());
}

// Each benchmark runs exactly `iterations` times, once, so the settle step
// after a write benchmark runs once too. Rates are per second of CPU used by
// the whole process, so LevelDB's background compaction counts, and time
// lost to other processes on a shared machine does not.
template <typename Fn>
void Register(const char* name, uint64_t iterations, Fn fn) {
  benchmark::RegisterBenchmark(name, std::move(fn))
      ->Iterations(static_cast<benchmark::IterationCount>(iterations))
      ->MeasureProcessCPUTime();
}

// Untimed reads before a get benchmark, so caches are as warm as a node's
// that has served for a while: the engine's cache admits a key on its second
// miss, so with uniform keys it takes about two reads per key to fill.
uint64_t WarmUpReads(uint64_t keys, uint64_t ops) { return std::max(ops / 2, 2 * keys); }

// Untimed reads before a get benchmark.
template <typename Get>
void WarmUp(uint64_t keys, uint64_t reads, uint64_t seed, Get get) {
  KeyPicker picker(keys, seed);
  for (uint64_t i = 0; i < reads; ++i) get(picker.Next());
}

void RegisterWrites(Stores& s, uint64_t keys, uint64_t ops) {
  Register("put/raw_leveldb", ops, [&s, keys](benchmark::State& state) {
    KeyPicker picker(keys, kPutKeys);
    for (auto _ : state) Check(state, s.raw().Put(leveldb::WriteOptions(), picker.Next(), s.value()));
    state.SetItemsProcessed(state.iterations());
    s.SettleRaw();
  });
  Register("put/engine", ops, [&s, keys](benchmark::State& state) {
    KeyPicker picker(keys, kPutKeys);
    storage::ObjectWrite write{std::string(), s.object()};
    for (auto _ : state) {
      write.key = picker.Next();
      Check(state, s.engine().Write({&write, 1}));
    }
    state.SetItemsProcessed(state.iterations());
    if (!s.SettleEngine()) state.SkipWithError("cannot reopen the engine");
  });
  Register("batch100/raw_leveldb", ops / kBatch, [&s, keys](benchmark::State& state) {
    KeyPicker picker(keys, kBatchKeys);
    for (auto _ : state) {
      leveldb::WriteBatch batch;
      for (int i = 0; i < kBatch; ++i) batch.Put(picker.Next(), s.value());
      Check(state, s.raw().Write(leveldb::WriteOptions(), &batch));
    }
    state.SetItemsProcessed(state.iterations() * kBatch);
    s.SettleRaw();
  });
  Register("batch100/engine", ops / kBatch, [&s, keys](benchmark::State& state) {
    KeyPicker picker(keys, kBatchKeys);
    std::vector<storage::ObjectWrite> writes(kBatch, storage::ObjectWrite{std::string(), s.object()});
    for (auto _ : state) {
      for (auto& write : writes) write.key = picker.Next();
      Check(state, s.engine().Write(writes));
    }
    state.SetItemsProcessed(state.iterations() * kBatch);
    if (!s.SettleEngine()) state.SkipWithError("cannot reopen the engine");
  });
}

void RegisterReads(Stores& s, uint64_t keys, uint64_t ops) {
  Register("get/raw_leveldb", ops, [&s, keys, ops](benchmark::State& state) {
    std::string value;
    WarmUp(keys, WarmUpReads(keys, ops), kGetWarmUpKeys,
           [&](const std::string& key) { s.raw().Get(leveldb::ReadOptions(), key, &value); });
    KeyPicker picker(keys, kGetKeys);
    for (auto _ : state) Check(state, s.raw().Get(leveldb::ReadOptions(), picker.Next(), &value));
    state.SetItemsProcessed(state.iterations());
  });
  auto engine_get = [keys, ops](storage::Engine& engine) {
    return [&engine, keys, ops](benchmark::State& state) {
      WarmUp(keys, WarmUpReads(keys, ops), kGetWarmUpKeys,
             [&](const std::string& key) { benchmark::DoNotOptimize(engine.Get(key)); });
      KeyPicker picker(keys, kGetKeys);
      const storage::StorageStats before = engine.Stats();
      for (auto _ : state) {
        auto object = engine.Get(picker.Next());
        if (!object.ok()) Check(state, object.status());
        benchmark::DoNotOptimize(object);
      }
      state.SetItemsProcessed(state.iterations());
      // The share of the timed gets the record cache answered.
      const storage::StorageStats after = engine.Stats();
      const double lookups = static_cast<double>(after.gets - before.gets);
      state.counters["cache_hits"] = lookups > 0 ? (after.cache_hits - before.cache_hits) / lookups : 0;
    };
  };
  Register("get/engine", ops, [&s, engine_get](benchmark::State& state) { engine_get(s.engine())(state); });
  Register("get/engine_no_cache", ops,
           [&s, engine_get](benchmark::State& state) { engine_get(s.engine_no_cache())(state); });
}

void RegisterReadModifyWrites(Stores& s, uint64_t keys, uint64_t ops) {
  Register("rmw/raw_leveldb", ops, [&s, keys, ops](benchmark::State& state) {
    std::string value;
    WarmUp(keys, WarmUpReads(keys, ops), kRmwWarmUpKeys,
           [&](const std::string& key) { s.raw().Get(leveldb::ReadOptions(), key, &value); });
    KeyPicker picker(keys, kRmwKeys);
    for (auto _ : state) {
      const std::string& key = picker.Next();
      Check(state, s.raw().Get(leveldb::ReadOptions(), key, &value));
      Check(state, s.raw().Put(leveldb::WriteOptions(), key, s.value()));
    }
    state.SetItemsProcessed(state.iterations());
    s.SettleRaw();
  });
  Register("rmw/engine", ops, [&s, keys, ops](benchmark::State& state) {
    WarmUp(keys, WarmUpReads(keys, ops), kRmwWarmUpKeys,
           [&](const std::string& key) { benchmark::DoNotOptimize(s.engine().Get(key)); });
    KeyPicker picker(keys, kRmwKeys);
    Sibling sibling;
    sibling.value = s.value();
    for (auto _ : state) {
      storage::ObjectWrite write;
      write.key = picker.Next();
      auto current = s.engine().Get(write.key);
      if (!current.ok()) {
        Check(state, current.status());
        break;
      }
      // The replica's mutation: the current object's context replaces it.
      write.object = dvv::Update(*current, current->vv, "node1.00000000deadbeef", sibling);
      Check(state, s.engine().Write({&write, 1}));
    }
    state.SetItemsProcessed(state.iterations());
    if (!s.SettleEngine()) state.SkipWithError("cannot reopen the engine");
  });
}

void RegisterAll(Stores& s) {
  const uint64_t keys = s.config().keys;
  const uint64_t ops = s.config().ops;
  RegisterWrites(s, keys, ops);
  RegisterReads(s, keys, ops);
  RegisterReadModifyWrites(s, keys, ops);
}

// Prints the Google Benchmark table and remembers each run's rate.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      // With --benchmark_repetitions, the median of the repetitions.
      if (run.run_type == Run::RT_Aggregate && run.aggregate_name != "median") continue;
      auto it = run.counters.find("items_per_second");
      if (it != run.counters.end() && !run.error_occurred)
        rates_[run.run_name.function_name] = it->second.value;
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void PrintRatios() const {
    std::printf("\n%-22s %14s %14s %8s\n", "operation", "raw ops/s", "engine ops/s", "ratio");
    const std::pair<const char*, const char*> rows[] = {{"put", "put/engine"},
                                                        {"batch100", "batch100/engine"},
                                                        {"get", "get/engine"},
                                                        {"get", "get/engine_no_cache"},
                                                        {"rmw", "rmw/engine"}};
    for (const auto& [op, engine_name] : rows) {
      auto raw = rates_.find(std::string(op) + "/raw_leveldb");
      auto engine = rates_.find(engine_name);
      if (raw == rates_.end() || engine == rates_.end() || raw->second <= 0) continue;
      std::printf("%-22s %14.0f %14.0f %7.2fx\n", engine_name, raw->second, engine->second,
                  engine->second / raw->second);
    }
  }

 private:
  std::map<std::string, double> rates_;
};

// Takes --keys=N, --ops=N, --value-size=N and --block-size=N out of argv, leaving the rest to
// Google Benchmark. False on a bad value.
bool ParseOwnFlags(int* argc, char** argv, Config* config) {
  int kept = 1;
  for (int i = 1; i < *argc; ++i) {
    std::string arg = argv[i];
    auto value_of = [&](const std::string& prefix, uint64_t* out) {
      if (arg.rfind(prefix, 0) != 0) return false;
      char* end = nullptr;
      *out = std::strtoull(arg.c_str() + prefix.size(), &end, 10);
      return true;
    };
    uint64_t n = 0;
    if (arg == "--raw-mmap") {
      config->raw_mmap = true;
    } else if (value_of("--keys=", &n)) {
      if (n == 0) return false;
      config->keys = n;
    } else if (value_of("--ops=", &n)) {
      if (n < kBatch) return false;
      config->ops = n;
    } else if (value_of("--block-size=", &n)) {
      if (n < 1024 || n > (4u << 20)) return false;
      config->block_bytes = static_cast<uint32_t>(n);
    } else if (value_of("--value-size=", &n)) {
      if (n == 0 || n > (64u << 20)) return false;
      config->value_size = static_cast<uint32_t>(n);
    } else {
      argv[kept++] = argv[i];
    }
  }
  *argc = kept;
  return true;
}

}  // namespace

}  // namespace dynkv::bench

int main(int argc, char** argv) {
  dynkv::bench::Config config;
  if (!dynkv::bench::ParseOwnFlags(&argc, argv, &config)) {
    std::fprintf(stderr,
                 "usage: storage-bench [--keys=N] [--ops=N] [--value-size=N] [--block-size=N] [--raw-mmap] "
                 "[--benchmark_* flags]\n");
    return 2;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  auto stores = dynkv::bench::Stores::Create(config);
  if (!stores) return 1;
  dynkv::bench::RegisterAll(*stores);
  dynkv::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  benchmark::Shutdown();
  return 0;
}
