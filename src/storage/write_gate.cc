#include "storage/write_gate.h"

#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "common/log.h"

namespace dynkv::storage {

namespace {

// Room beyond the logs' size that a reopen needs: a new log, a new
// manifest (one record listing every table), CURRENT and the info log.
constexpr uint64_t kReopenHeadroomBytes = 1 << 20;

}  // namespace

Status WriteGate::Refuse(std::string_view what, const leveldb::Status& error) {
  const bool no_space = IsNoSpace(error);
  std::string message = "data dir " + dir_;
  if (no_space) {
    message +=
        " is full: a " + std::string(what) + " failed (" + error.ToString() +
        "); writes are refused until space is freed there, then taken again without a restart; reads go on";
  } else {
    message +=
        " failed a " + std::string(what) + " (" + error.ToString() +
        "); writes are refused until the database is reopened, which is retried every second; reads go on";
  }
  refusal_ = Status::StorageError(std::move(message));
  refused_at_ = SteadyClock::now();
  last_attempt_ = refused_at_;
  disk_full_.store(no_space, std::memory_order_relaxed);
  refused_.store(true, std::memory_order_relaxed);
  DYNKV_LOG(kError) << refusal_.message();
  return refusal_;
}

bool WriteGate::RetryDue() const {
  return refused() && SteadyClock::now() - last_attempt_ >= retry_interval_;
}

Status WriteGate::StartAttempt() {
  last_attempt_ = SteadyClock::now();
  Result<uint64_t> free = FreeBytes(dir_);
  if (!free.ok()) return free.status();
  const uint64_t needed = LogBytes(dir_) + kReopenHeadroomBytes;
  if (*free >= needed) return Status::Ok();
  return Status::StorageError("data dir " + dir_ + " is still too full to reopen its database: " +
                              std::to_string(*free) + " bytes free, " + std::to_string(needed) + " needed");
}

void WriteGate::Reopened() {
  const auto refused_for =
      std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - refused_at_);
  refused_.store(false, std::memory_order_relaxed);
  disk_full_.store(false, std::memory_order_relaxed);
  refusal_ = Status::Ok();
  DYNKV_LOG(kInfo) << "data dir " << dir_
                   << " takes writes again: its database was reopened after writes were refused for "
                   << refused_for.count() / 1000.0 << " s";
}

Result<uint64_t> FreeBytes(const std::string& dir) {
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0) {
    return Status::StorageError("cannot read the free space of data dir " + dir + ": " +
                                std::strerror(errno));
  }
  return static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
}

uint64_t LogBytes(const std::string& dir) {
  uint64_t bytes = 0;
  std::error_code error;
  // increment(error) rather than a range-for, whose ++ throws.
  for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    if (it->path().extension() != ".log") continue;
    std::error_code size_error;
    const uintmax_t size = it->file_size(size_error);
    if (!size_error) bytes += size;
  }
  return bytes;
}

bool IsNoSpace(const leveldb::Status& error) {
  // LevelDB's posix env reports errno as strerror text (util/env_posix.cc).
  const std::string text = error.ToString();
  return text.find(std::strerror(ENOSPC)) != std::string::npos ||
         text.find(std::strerror(EDQUOT)) != std::string::npos;
}

}  // namespace dynkv::storage
