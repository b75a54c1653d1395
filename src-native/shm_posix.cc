// POSIX implementation of shm.h: shm_open + mmap, a shared flock per mapping that tells the resource tracker the
// segment is in use, and futex waits without FUTEX_PRIVATE_FLAG (Linux).
#ifndef _WIN32
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>

#include "shm.h"

#if defined(__linux__) && !defined(MULTIPROC_EMULATE_DARWIN)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#endif

namespace mp {

struct OsMapping::Handle {
  int fd;
};

#if defined(__APPLE__) || defined(MULTIPROC_EMULATE_DARWIN)
// macOS refuses shared-memory names longer than PSHMNAMLEN (31) with ENAMETOOLONG; the emulation does too.
static bool NameFits(const std::string& name, OsError* err) {
  if (name.size() <= 31) return true;
  err->set("shm_open", ENAMETOOLONG);
  return false;
}
#else
static bool NameFits(const std::string&, OsError*) { return true; }
#endif

// A shared lock for as long as the descriptor is open: the tracker's exclusive try fails while any process holds
// one. macOS cannot lock shared-memory descriptors: there the tracker cannot tell, and removes the name.
static bool LockShared(int fd, OsError* err) {
#ifdef __APPLE__
  (void)fd;
  (void)err;
  return true;
#else
  while (flock(fd, LOCK_SH) != 0) {
    if (errno == EINTR) continue;
    err->set("flock", errno);
    return false;
  }
  return true;
#endif
}

// Maps all `size` bytes of `fd` and wraps them; closes fd (and removes `unlinkOnFailure`) when that fails.
// keep false: fd is closed once mapped.
static std::shared_ptr<OsMapping> MapFd(int fd, size_t size, const char* unlinkOnFailure, OsError* err,
                                        std::shared_ptr<OsMapping> (*adopt)(uint8_t*, size_t, OsMapping::Handle*),
                                        bool keep) {
  void* data = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (data == MAP_FAILED) {
    err->set("mmap", errno);
    close(fd);
    if (unlinkOnFailure != nullptr) shm_unlink(unlinkOnFailure);
    return nullptr;
  }
  if (!keep) {
    close(fd);
    fd = -1;
  }
  try {
    return adopt(static_cast<uint8_t*>(data), size, new OsMapping::Handle{fd});
  } catch (...) {  // no memory: the caller's guard reports it
    munmap(data, size);
    if (fd >= 0) close(fd);
    if (unlinkOnFailure != nullptr) shm_unlink(unlinkOnFailure);
    throw;
  }
}

std::shared_ptr<OsMapping> OsMapping::Create(const std::string& name, size_t size, OsError* err, bool keepDescriptor) {
  if (!NameFits(name, err)) return nullptr;
  if (size == 0 || size > static_cast<size_t>(LLONG_MAX)) {
    err->set("ftruncate", EINVAL);
    return nullptr;
  }
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);  // close-on-exec, as POSIX requires
  if (fd < 0) {
    err->set("shm_open", errno);
    return nullptr;
  }
  int r;
  while ((r = ftruncate(fd, static_cast<off_t>(size))) != 0 && errno == EINTR) {
  }
  if (r != 0 || (keepDescriptor && !LockShared(fd, err))) {
    if (r != 0) err->set("ftruncate", errno);
    close(fd);
    shm_unlink(name.c_str());
    return nullptr;
  }
  return MapFd(fd, size, name.c_str(), err, &OsMapping::Adopt, keepDescriptor);
}

// Whether the segment open as `fd` (fstat: `st`) still has its name. Linux: an unlinked inode has no link left.
// Elsewhere (macOS shm objects have no link count) the name is opened again and compared.
static bool StillNamed(const std::string& name, const struct stat& st) {
#if defined(__linux__)
  (void)name;
  return st.st_nlink > 0;
#else
  int again = shm_open(name.c_str(), O_RDONLY, 0);
  struct stat now;
  bool same = again >= 0 && fstat(again, &now) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev;
  if (again >= 0) close(again);
  return same;
#endif
}

std::shared_ptr<OsMapping> OsMapping::Open(const std::string& name, OsError* err, bool keepDescriptor) {
  if (!NameFits(name, err)) return nullptr;
  int fd = shm_open(name.c_str(), O_RDWR, 0);
  if (fd < 0) {
    err->set("shm_open", errno);
    return nullptr;
  }
  struct stat st;
  if ((keepDescriptor && !LockShared(fd, err)) || fstat(fd, &st) != 0) {
    if (!err->failed()) err->set("fstat", errno);
    close(fd);
    return nullptr;
  }
  // The tracker may have removed the name between our open and our lock (it saw no lock): then the segment is on
  // its way out and attaching must fail as if it had been gone already.
  if (!StillNamed(name, st)) {
    err->set("shm_open", ENOENT);
    close(fd);
    return nullptr;
  }
  if (st.st_size <= 0) {  // not made by SharedMemory (nothing to map), or still being made by a foreign creator
    err->set("mmap", EINVAL);
    close(fd);
    return nullptr;
  }
  return MapFd(fd, static_cast<size_t>(st.st_size), nullptr, err, &OsMapping::Adopt, keepDescriptor);
}

bool OsMapping::Unlink(const std::string& name, OsError* err) {
  if (!NameFits(name, err)) return false;
  if (shm_unlink(name.c_str()) != 0) {
    err->set("shm_unlink", errno);
    return false;
  }
  return true;
}

int OsMapping::UnlinkUnused(const std::string& name, OsError* err) {
  int fd = shm_open(name.c_str(), O_RDWR, 0);
  if (fd < 0) {
    err->set("shm_open", errno);
    return -1;
  }
#ifndef __APPLE__
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    close(fd);
    if (e == EWOULDBLOCK) return 0;  // a process still has it mapped
    err->set("flock", e);
    return -1;
  }
#endif
  int r = shm_unlink(name.c_str());
  int e = errno;
  close(fd);
  if (r != 0) {
    err->set("shm_unlink", e);
    return -1;
  }
  return 1;
}

int64_t OsMapping::Hold(const std::string& name, OsError* err) {
  if (!NameFits(name, err)) return -1;
  int fd = shm_open(name.c_str(), O_RDONLY, 0);
  if (fd < 0) {
    err->set("shm_open", errno);
    return -1;
  }
  if (!LockShared(fd, err)) {
    close(fd);
    return -1;
  }
  return fd;
}

OsMapping::~OsMapping() {
  Forget(data_);
  munmap(data_, size_);
  if (handle_->fd >= 0) close(handle_->fd);  // and with it the shared lock
  delete handle_;
}

#if defined(__linux__) && !defined(MULTIPROC_EMULATE_DARWIN)
bool SharedWordWakes() { return true; }

WordWaitResult WaitSharedWord(uint32_t* word, uint32_t expected, int64_t deadlineNs, OsError* err) {
  struct timespec ts;
  if (deadlineNs != kNoDeadline) {
    ts.tv_sec = static_cast<time_t>(deadlineNs / 1000000000);
    ts.tv_nsec = static_cast<long>(deadlineNs % 1000000000);
  }
  for (;;) {
    // FUTEX_WAIT_BITSET: an absolute deadline on CLOCK_MONOTONIC, so an interrupted wait resumes with the same one.
    long r = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, deadlineNs == kNoDeadline ? nullptr : &ts,
                     nullptr, FUTEX_BITSET_MATCH_ANY);
    if (r == 0) return WordWaitResult::kWoken;
    switch (errno) {
      case EINTR:
        continue;
      case EAGAIN:
        return WordWaitResult::kNotEqual;
      case ETIMEDOUT:
        return WordWaitResult::kTimedOut;
      default:
        err->set("futex", errno);
        return WordWaitResult::kFailed;
    }
  }
}

int64_t WakeSharedWord(uint32_t* word, int64_t count, OsError* err) {
  int n = count > INT_MAX ? INT_MAX : static_cast<int>(count);
  long r = syscall(SYS_futex, word, FUTEX_WAKE, n, nullptr, nullptr, 0);
  if (r < 0) {
    err->set("futex", errno);
    return -1;
  }
  return r;
}
#endif

}  // namespace mp
#endif  // !_WIN32
