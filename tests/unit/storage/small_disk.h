// A small tmpfs mounted for one test (a disk that fills), unmounted and
// removed when the test ends. Mounting needs root (CAP_SYS_ADMIN); where it
// is not permitted, mounted() is false and says why.
#pragma once

#include <doctest/doctest.h>
#include <sys/mount.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "temp_dir.h"

namespace dynkv::storage {

class SmallDisk {
 public:
  explicit SmallDisk(uint64_t bytes) {
    const std::string options = "size=" + std::to_string(bytes);
    if (::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      why_not_ = std::string("mounting a tmpfs is not permitted here (") + std::strerror(errno) + ")";
    }
  }
  ~SmallDisk() {
    if (mounted_ && ::umount2(dir_.path().c_str(), 0) != 0) ::umount2(dir_.path().c_str(), MNT_DETACH);
  }
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;

  bool mounted() const { return mounted_; }
  const std::string& why_not() const { return why_not_; }
  std::string Sub(const std::string& name) const { return dir_.Sub(name); }

  uint64_t FreeBytes() const {
    struct statvfs fs {};
    REQUIRE(::statvfs(dir_.path().c_str(), &fs) == 0);
    return static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  }
  // Fills the disk with a file until `leave` bytes are free.
  void Fill(uint64_t leave) {
    const uint64_t free = FreeBytes();
    REQUIRE(free > leave);
    std::ofstream filler(Filler(), std::ios::binary);
    const std::string chunk(64 << 10, 'f');
    for (uint64_t left = free - leave; left > 0;) {
      const uint64_t n = std::min<uint64_t>(left, chunk.size());
      filler.write(chunk.data(), static_cast<std::streamsize>(n));
      left -= n;
    }
    filler.close();
    REQUIRE(filler.good());
  }
  // Frees what Fill took.
  void Unfill() { REQUIRE(std::remove(Filler().c_str()) == 0); }

 private:
  std::string Filler() const { return dir_.Sub("filler"); }

  TempDir dir_;
  bool mounted_ = false;
  std::string why_not_;
};

}  // namespace dynkv::storage
