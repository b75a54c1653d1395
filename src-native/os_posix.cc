// POSIX implementation of os.h: named semaphores, pipes and poll.
// Build with MULTIPROC_EMULATE_DARWIN to compile the macOS code paths (no sem_timedwait, no sem_getvalue) on Linux.
#ifndef _WIN32
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <semaphore.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#if defined(__linux__) && defined(__GLIBC__) && (defined(__x86_64__) || defined(__aarch64__)) && \
    !defined(MULTIPROC_EMULATE_DARWIN)
#include <linux/futex.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#define MP_SHARED_WORDS 1
#endif

#if defined(__APPLE__) || defined(MULTIPROC_EMULATE_DARWIN)
#define MP_NO_TIMEDWAIT 1
#define MP_NO_GETVALUE 1
#endif

namespace mp {

struct OsSemaphore::Impl {
  sem_t* sem;
};

#ifdef MULTIPROC_EMULATE_DARWIN
// macOS's sem_open refuses names longer than PSEMNAMLEN (31) with ENAMETOOLONG; the emulation refuses them too, so
// that a name too long for macOS fails on Linux as well.
static bool NameFitsDarwin(const std::string& name, OsError* err) {
  if (name.size() <= 31) return true;
  err->set("sem_open", ENAMETOOLONG);
  return false;
}
#else
static bool NameFitsDarwin(const std::string&, OsError*) { return true; }
#endif

std::unique_ptr<OsSemaphore> OsSemaphore::Create(const std::string& name, uint32_t value, uint32_t maxValue,
                                                 OsError* err) {
  (void)maxValue;  // POSIX semaphores have no maximum; BoundedSemaphore checks it in lib/.
  if (!NameFitsDarwin(name, err)) return nullptr;
  sem_t* sem = sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, value);
  if (sem == SEM_FAILED) {
    err->set("sem_open", errno);
    return nullptr;
  }
  return std::unique_ptr<OsSemaphore>(new OsSemaphore(new Impl{sem}));
}

std::unique_ptr<OsSemaphore> OsSemaphore::Open(const std::string& name, OsError* err) {
  if (!NameFitsDarwin(name, err)) return nullptr;
  sem_t* sem = sem_open(name.c_str(), 0);
  if (sem == SEM_FAILED) {
    err->set("sem_open", errno);
    return nullptr;
  }
  return std::unique_ptr<OsSemaphore>(new OsSemaphore(new Impl{sem}));
}

bool OsSemaphore::Unlink(const std::string& name, OsError* err) {
  if (sem_unlink(name.c_str()) != 0) {
    err->set("sem_unlink", errno);
    return false;
  }
  return true;
}

OsSemaphore::~OsSemaphore() {
  // A failing sem_close leaves nothing to recover; the mapping goes away with the process.
  sem_close(impl_->sem);
  delete impl_;
}

static int64_t MonotonicMs() {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

WaitResult OsSemaphore::TryWait(OsError* err) {
  while (sem_trywait(impl_->sem) != 0) {
    if (errno == EAGAIN) return WaitResult::TimedOut;
    if (errno != EINTR) {
      err->set("sem_trywait", errno);
      return WaitResult::Failed;
    }
  }
  return WaitResult::Acquired;
}

#ifdef MP_NO_TIMEDWAIT
// macOS has no sem_timedwait: poll with sem_trywait and a growing sleep, as CPython does there.
WaitResult OsSemaphore::Wait(int64_t timeoutMs, OsError* err) {
  const int64_t deadline = timeoutMs < 0 ? -1 : MonotonicMs() + timeoutMs;
  int64_t sleepUs = 20;
  for (;;) {
    WaitResult r = TryWait(err);
    if (r != WaitResult::TimedOut) return r;
    int64_t left = deadline < 0 ? sleepUs : (deadline - MonotonicMs()) * 1000;
    if (left <= 0) return WaitResult::TimedOut;
    int64_t us = left < sleepUs ? left : sleepUs;
    struct timespec ts = {static_cast<time_t>(us / 1000000), static_cast<long>((us % 1000000) * 1000)};
    nanosleep(&ts, nullptr);  // EINTR only shortens the sleep
    if (sleepUs < 20000) sleepUs *= 2;
  }
}
#else
WaitResult OsSemaphore::Wait(int64_t timeoutMs, OsError* err) {
  if (timeoutMs < 0) {
    while (sem_wait(impl_->sem) != 0) {
      if (errno != EINTR) {
        err->set("sem_wait", errno);
        return WaitResult::Failed;
      }
    }
    return WaitResult::Acquired;
  }
  if (timeoutMs == 0) return TryWait(err);
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);  // sem_timedwait takes a CLOCK_REALTIME deadline
  deadline.tv_sec += static_cast<time_t>(timeoutMs / 1000);
  deadline.tv_nsec += static_cast<long>((timeoutMs % 1000) * 1000000);
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec += 1;
    deadline.tv_nsec -= 1000000000L;
  }
  while (sem_timedwait(impl_->sem, &deadline) != 0) {
    if (errno == ETIMEDOUT) return WaitResult::TimedOut;
    if (errno != EINTR) {
      err->set("sem_timedwait", errno);
      return WaitResult::Failed;
    }
  }
  return WaitResult::Acquired;
}
#endif

PostResult OsSemaphore::Post(int64_t maxValue, OsError* err) {
#ifdef MP_NO_GETVALUE
  if (maxValue == 1) {  // without sem_getvalue: a unit we can take means the semaphore was not locked
    WaitResult r = TryWait(err);
    if (r == WaitResult::Failed) return PostResult::Failed;
    if (r == WaitResult::Acquired) {
      if (sem_post(impl_->sem) != 0) {
        err->set("sem_post", errno);
        return PostResult::Failed;
      }
      return PostResult::AtMaximum;
    }
  }
#else
  if (maxValue >= 0) {
    int value = 0;
    if (sem_getvalue(impl_->sem, &value) != 0) {
      err->set("sem_getvalue", errno);
      return PostResult::Failed;
    }
    if (value >= maxValue) return PostResult::AtMaximum;
  }
#endif
  if (sem_post(impl_->sem) != 0) {
    err->set("sem_post", errno);
    return PostResult::Failed;
  }
  return PostResult::Posted;
}

int64_t OsSemaphore::Value(OsError* err) {
#ifdef MP_NO_GETVALUE
  err->set("sem_getvalue", ENOSYS);
  return -1;
#else
  int value = 0;
  if (sem_getvalue(impl_->sem, &value) != 0) {
    err->set("sem_getvalue", errno);
    return -1;
  }
  return value < 0 ? 0 : value;  // some systems report waiters as a negative value
#endif
}

#ifdef MP_SHARED_WORDS
// glibc (2.21+, 64-bit atomics): struct new_sem { uint64_t data; int private; int pad; }, where data holds the
// value in its low 32 bits and the waiter count in its high 32 bits.
static_assert(sizeof(sem_t) == 32, "unexpected sem_t size");

int32_t* OsSemaphore::SharedWords() {
  int value = 0;
  auto* words = reinterpret_cast<int32_t*>(impl_->sem);
  if (sem_getvalue(impl_->sem, &value) != 0 || words[0] != value) return nullptr;  // not the layout we know
  return words;
}

bool OsSemaphore::WakeWaiter(OsError* err) {
  // glibc's __lll_private_flag: `private` holds 0 for process-private and FUTEX_PRIVATE_FLAG for shared futexes
  int op = (FUTEX_WAKE | FUTEX_PRIVATE_FLAG) ^ reinterpret_cast<int32_t*>(impl_->sem)[2];
  if (syscall(SYS_futex, reinterpret_cast<uint32_t*>(impl_->sem), op, 1, nullptr, nullptr, 0) < 0) {
    err->set("futex", errno);
    return false;
  }
  return true;
}
#else
int32_t* OsSemaphore::SharedWords() { return nullptr; }

bool OsSemaphore::WakeWaiter(OsError* err) {
  err->set("futex", ENOSYS);
  return false;
}
#endif

std::string OsSemaphore::DuplicateInto(int, OsError* err) {
  err->set("DuplicateHandle", ENOSYS);
  return std::string();
}

const char* ErrorName(int code) { return uv_err_name(uv_translate_sys_error(code)); }

std::string ErrorMessage(int code) { return strerror(code); }

// Where pipe2/SOCK_CLOEXEC are missing: marks both new descriptors close-on-exec, or closes both.
[[maybe_unused]] static bool CloseOnExecBoth(int fds[2], OsError* err) {
  for (int i = 0; i < 2; i++) {
    if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) != 0) {
      err->set("fcntl", errno);
      close(fds[0]);
      close(fds[1]);
      return false;
    }
  }
  return true;
}

bool MakePipe(int fds[2], OsError* err) {
#ifdef __linux__
  if (pipe2(fds, O_CLOEXEC) != 0) {
    err->set("pipe2", errno);
    return false;
  }
#else
  if (pipe(fds) != 0) {
    err->set("pipe", errno);
    return false;
  }
  if (!CloseOnExecBoth(fds, err)) return false;
#endif
  return true;
}

// Sets or clears one bit of a descriptor's flags (getCmd/setCmd: F_GETFL/F_SETFL or F_GETFD/F_SETFD).
static bool UpdateFdFlag(int fd, int getCmd, int setCmd, int bit, bool on, OsError* err) {
  int flags = fcntl(fd, getCmd);
  if (flags == -1) {
    err->set("fcntl", errno);
    return false;
  }
  int wanted = on ? (flags | bit) : (flags & ~bit);
  if (wanted != flags && fcntl(fd, setCmd, wanted) != 0) {
    err->set("fcntl", errno);
    return false;
  }
  return true;
}

bool SetNonBlocking(int fd, bool on, OsError* err) { return UpdateFdFlag(fd, F_GETFL, F_SETFL, O_NONBLOCK, on, err); }

bool SetCloseOnExec(int fd, bool on, OsError* err) { return UpdateFdFlag(fd, F_GETFD, F_SETFD, FD_CLOEXEC, on, err); }

bool CloseFd(int fd, OsError* err) {
  if (close(fd) != 0 && errno != EINTR) {  // after EINTR the descriptor is gone on Linux and macOS
    err->set("close", errno);
    return false;
  }
  return true;
}

void ExitNow(int code) { _exit(code); }

WaitResult PollFd(int fd, bool forWrite, int64_t timeoutMs, OsError* err) {
  const int64_t deadline = timeoutMs < 0 ? -1 : MonotonicMs() + timeoutMs;
  struct pollfd p = {fd, static_cast<short>(forWrite ? POLLOUT : POLLIN), 0};
  for (;;) {
    int wait = -1;
    if (deadline >= 0) {
      int64_t left = deadline - MonotonicMs();
      wait = left < 0 ? 0 : static_cast<int>(left > 0x7fffffff ? 0x7fffffff : left);
    }
    int n = poll(&p, 1, wait);
    if (n > 0) {
      if (p.revents & POLLNVAL) {
        err->set("poll", EBADF);
        return WaitResult::Failed;
      }
      return WaitResult::Acquired;  // readable, writable, or hung up: the read/write reports which
    }
    if (n == 0) return WaitResult::TimedOut;
    if (errno != EINTR) {
      err->set("poll", errno);
      return WaitResult::Failed;
    }
  }
}

// One read()/write(): EINTR retried, EAGAIN reported as kWouldBlock.
template <typename Call>
static int64_t Transfer(Call call, const char* name, OsError* err) {
  for (;;) {
    ssize_t n = call();
    if (n >= 0) return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return kWouldBlock;
    if (errno != EINTR) {
      err->set(name, errno);
      return 0;
    }
  }
}

bool MakeSocketPair(int fds[2], int capacity, OsError* err) {
#ifdef SOCK_CLOEXEC
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    err->set("socketpair", errno);
    return false;
  }
#else
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    err->set("socketpair", errno);
    return false;
  }
  if (!CloseOnExecBoth(fds, err)) return false;
#endif
  if (setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &capacity, sizeof capacity) != 0 ||
      setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &capacity, sizeof capacity) != 0) {
    err->set("setsockopt", errno);
    close(fds[0]);
    close(fds[1]);
    return false;
  }
  return true;
}

int64_t ReadFd(int fd, void* buf, size_t length, OsError* err) {
  return Transfer([&] { return read(fd, buf, length); }, "read", err);
}

int64_t WriteFd(int fd, const void* buf, size_t length, OsError* err) {
  return Transfer([&] { return write(fd, buf, length); }, "write", err);
}

int64_t WriteFdv(int fd, const WriteBuffer* buffers, size_t count, OsError* err) {
  struct iovec iov[kMaxWriteBuffers];
  if (count > kMaxWriteBuffers) {
    err->set("writev", EINVAL);
    return 0;
  }
  for (size_t i = 0; i < count; i++) {
    iov[i].iov_base = const_cast<void*>(buffers[i].data);
    iov[i].iov_len = buffers[i].length;
  }
  return Transfer([&] { return writev(fd, iov, static_cast<int>(count)); }, "writev", err);
}

int64_t SetPipeCapacity(int fd, int64_t bytes, OsError* err) {
#ifdef F_SETPIPE_SZ
  int r = fcntl(fd, F_SETPIPE_SZ, static_cast<int>(bytes));
  if (r >= 0) return r;
  if (errno != EPERM && errno != EBUSY) {  // above the system's limit or in use: keep the current size
    err->set("fcntl", errno);
    return -1;
  }
  r = fcntl(fd, F_GETPIPE_SZ);
  return r < 0 ? -1 : r;
#else
  return -1;
#endif
}

bool MakeFifo(const std::string& path, OsError* err) {
  if (mkfifo(path.c_str(), 0600) != 0) {
    err->set("mkfifo", errno);
    return false;
  }
  return true;
}

}  // namespace mp
#endif  // !_WIN32
