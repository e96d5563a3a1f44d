// The LevelDB options an Engine opens its database with (DESIGN.md:
// Storage), in one place so that storage-bench opens raw LevelDB exactly as
// the engine does.
//
// Table files are read with pread, not mmap: LevelDB 1.23 maps up to 1000
// table files, and every page a read or a compaction touches stays in the
// node's RSS (a 1M-key node: 110 MiB of its 250). With pread the kernel's
// page cache still holds them, but outside the process, and the block cache
// is the only cache of table blocks inside it.
#pragma once

#include <leveldb/cache.h>
#include <leveldb/env.h>
#include <leveldb/filter_policy.h>
#include <leveldb/options.h>

#include <memory>

#include "storage/storage.h"

namespace dynkv::storage {

struct LevelDbSetup {
  // leveldb::Options points at these; they must outlive the database.
  std::unique_ptr<leveldb::Env> env;
  std::unique_ptr<leveldb::Cache> block_cache;
  std::unique_ptr<const leveldb::FilterPolicy> filter_policy;
  leveldb::Options options;
};

LevelDbSetup MakeLevelDbSetup(const Options& options);

// leveldb::Env::Default() with table files read by pread. An open file keeps
// its descriptor while fewer than a fifth of RLIMIT_NOFILE are held so
// (LevelDB's own rule); beyond that it opens the file for each read.
std::unique_ptr<leveldb::Env> NewPreadEnv();

}  // namespace dynkv::storage
