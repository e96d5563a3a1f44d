// WriteGate: the LevelDB engine's state after a write to its data dir
// failed (storage.h: Engine::RetryWrites). Internal to src/storage.
//
// Why a gate. LevelDB 1.23 answers a write whose log append failed (ENOSPC)
// with an error but leaves the log writer's offset past the record it could
// not finish; the next write it accepts lands at the wrong offset, and when
// the database is reopened the log reader drops it as corrupt: a write it
// acknowledged is lost (shown with raw LevelDB on a 1 MiB tmpfs: k1 put,
// k2 refused with ENOSPC, space freed, k3 put OK; after reopening k3 is
// gone). A failed compaction, or a failed sync, instead leaves a background
// error that fails every later write. Either way, after a failed write the
// engine must not write to that database instance again: it refuses writes
// until it has reopened the database, which replays the log (whose last
// record, the failed one, reads as a torn tail and is dropped) into a table
// and starts a new log.
//
// Threads: everything but the two flags runs on the engine's thread; the
// flags may be read from any thread (stats).
#pragma once

#include <leveldb/status.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace dynkv::storage {

class WriteGate {
 public:
  // `dir`: the data dir; `retry_interval_ms`: the least time between two
  // reopen attempts that writes make (0: every write may try).
  WriteGate(std::string dir, uint32_t retry_interval_ms)
      : dir_(std::move(dir)), retry_interval_(retry_interval_ms) {}

  // A write (`what`: "write", "hint write", ...) failed with `error`: from
  // now on writes are refused. Returns the status the failed write answers,
  // which every refused write answers too (and logs it once).
  Status Refuse(std::string_view what, const leveldb::Status& error);
  bool refused() const { return refused_.load(std::memory_order_relaxed); }
  bool disk_full() const { return disk_full_.load(std::memory_order_relaxed); }
  // What a refused write answers.
  const Status& refusal() const { return refusal_; }

  // Refused, and the retry interval has passed since the last attempt.
  bool RetryDue() const;
  // An attempt starts now. OK when the data dir's disk has room to reopen
  // the database: the logs replay into a table about their size, plus
  // headroom for the new log, the manifest and LevelDB's info log.
  Status StartAttempt();
  // The database was reopened: writes are taken again (logged).
  void Reopened();

 private:
  using SteadyClock = std::chrono::steady_clock;

  const std::string dir_;
  const std::chrono::milliseconds retry_interval_;
  std::atomic<bool> refused_{false};
  std::atomic<bool> disk_full_{false};
  Status refusal_;
  SteadyClock::time_point refused_at_{};
  SteadyClock::time_point last_attempt_{};
};

// The bytes free to an unprivileged writer on the file system of `dir`.
Result<uint64_t> FreeBytes(const std::string& dir);
// The bytes of LevelDB's write-ahead logs (*.log) in `dir`.
uint64_t LogBytes(const std::string& dir);
// The error says the disk is full (ENOSPC) or the quota spent (EDQUOT).
bool IsNoSpace(const leveldb::Status& error);

}  // namespace dynkv::storage
