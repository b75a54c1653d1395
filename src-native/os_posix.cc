// POSIX implementation of os.h: named semaphores, pipes and poll.
// Build with MULTIPROC_EMULATE_DARWIN to compile the macOS code paths (no sem_timedwait, no sem_getvalue) on Linux.
#ifndef _WIN32
#include "os.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include <atomic>
#include <mutex>
#include <unordered_set>
#include <vector>

#ifdef __linux__
#include <linux/futex.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#endif

#if defined(__linux__) && defined(__GLIBC__) && (defined(__x86_64__) || defined(__aarch64__)) && \
    !defined(MULTIPROC_EMULATE_DARWIN)
#define MP_SHARED_WORDS 1
#endif

#if defined(__linux__) && !defined(MULTIPROC_EMULATE_DARWIN)
#define MP_SPAWN_CHILD 1
// The same numbers on every architecture since Linux 5.3; older C libraries do not name them.
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#endif

#if defined(__APPLE__) || defined(MULTIPROC_EMULATE_DARWIN)
#define MP_NO_TIMEDWAIT 1
#define MP_NO_GETVALUE 1
#endif

namespace mp {

struct OsSemaphore::Impl {
  sem_t* sem;
  int32_t* words;    // glibc's [value, waiters] when the layout is the one we know, else nullptr
  std::string name;  // what Create/Open was given
  bool owner;        // Create made the name: it goes when this object goes (or at UnlinkOwned)
};

// Names this process owns, for ProcessExiting. Leaked on purpose: hub threads may still destroy semaphores while
// static destructors run at exit.
static std::mutex& OwnedMutex() {
  static std::mutex* mutex = new std::mutex();
  return *mutex;
}
static std::unordered_set<OsSemaphore*>& Owned() {
  static auto* owned = new std::unordered_set<OsSemaphore*>();
  return *owned;
}
static std::atomic<bool> exiting{false};

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

#ifdef MP_SHARED_WORDS
// glibc (2.21+, 64-bit atomics): struct new_sem { uint64_t data; int private; int pad; }, where data holds the
// value in its low 32 bits and the waiter count in its high 32 bits.
static_assert(sizeof(sem_t) == 32, "unexpected sem_t size");

static int32_t* WordsOf(sem_t* sem) {
  int value = 0;
  auto* words = reinterpret_cast<int32_t*>(sem);
  if (sem_getvalue(sem, &value) != 0 || words[0] != value) return nullptr;  // not the layout we know
  return words;
}
#else
static int32_t* WordsOf(sem_t*) { return nullptr; }
#endif

// What Create and Open wrap; allocation failures end up as std::bad_alloc in the caller's guard, after sem_close.
static std::unique_ptr<OsSemaphore::Impl> Wrap(sem_t* sem, const std::string& name, bool owner) {
  try {
    return std::unique_ptr<OsSemaphore::Impl>(new OsSemaphore::Impl{sem, WordsOf(sem), name, owner});
  } catch (...) {
    sem_close(sem);
    if (owner) sem_unlink(name.c_str());
    throw;
  }
}

std::unique_ptr<OsSemaphore> OsSemaphore::Create(const std::string& name, uint32_t value, uint32_t maxValue,
                                                 OsError* err) {
  (void)maxValue;  // POSIX semaphores have no maximum; BoundedSemaphore checks it in lib/.
  if (!NameFitsDarwin(name, err)) return nullptr;
  sem_t* sem = sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, value);
  if (sem == SEM_FAILED) {
    err->set("sem_open", errno);
    return nullptr;
  }
  std::unique_ptr<OsSemaphore> made(new OsSemaphore(Wrap(sem, name, true).release()));
  std::lock_guard<std::mutex> lock(OwnedMutex());
  Owned().insert(made.get());
  return made;
}

std::unique_ptr<OsSemaphore> OsSemaphore::Open(const std::string& name, OsError* err) {
  if (!NameFitsDarwin(name, err)) return nullptr;
  sem_t* sem = sem_open(name.c_str(), 0);
  if (sem == SEM_FAILED) {
    err->set("sem_open", errno);
    return nullptr;
  }
  return std::unique_ptr<OsSemaphore>(new OsSemaphore(Wrap(sem, name, false).release()));
}

bool OsSemaphore::Unlink(const std::string& name, OsError* err) {
  if (sem_unlink(name.c_str()) != 0) {
    err->set("sem_unlink", errno);
    return false;
  }
  return true;
}

// Unregistering lines for the resource tracker, written kTrackerBatch bytes at a time (one write each, atomic
// within PIPE_BUF): a name unlinked here and not yet unregistered only makes the tracker try to unlink it again. A
// tracker killed from outside (EPIPE) is ignored: names are still removed by their owners.
static std::atomic<int64_t> trackerFd{-1};
constexpr size_t kTrackerBatch = 2048;

static std::mutex& TrackerMutex() {
  static std::mutex* mutex = new std::mutex();
  return *mutex;
}

static std::string& TrackerLines() {
  static std::string* lines = new std::string();
  return *lines;
}

static void FlushTracker() {  // with TrackerMutex held
  std::string& lines = TrackerLines();
  int64_t fd = trackerFd.load();
  if (fd >= 0 && !lines.empty()) {
    while (write(static_cast<int>(fd), lines.data(), lines.size()) < 0 && errno == EINTR) {
    }
  }
  lines.clear();
}

static void Unregister(const std::string& name) {
  if (trackerFd.load() < 0 || name.size() > 250) return;  // no tracker, or not a name of ours
  std::lock_guard<std::mutex> lock(TrackerMutex());
  std::string& lines = TrackerLines();
  try {
    lines.reserve(kTrackerBatch + 256);
    lines.append("U").append(name).append("\n");
  } catch (const std::bad_alloc&) {
    return;  // the tracker then tries to unlink a name that is gone: harmless
  }
  if (lines.size() >= kTrackerBatch) FlushTracker();
}

int64_t SetTrackerFd(int64_t fd) {
  int64_t expected = -1;
  return trackerFd.compare_exchange_strong(expected, fd) ? fd : expected;
}

int64_t TrackerFd() { return trackerFd.load(); }

bool OsSemaphore::UnlinkOwned(OsError* err) {
  {
    std::lock_guard<std::mutex> lock(OwnedMutex());
    if (!impl_->owner) return true;
    impl_->owner = false;
    Owned().erase(this);
  }
  bool ok = Unlink(impl_->name, err);
  Unregister(impl_->name);  // gone, or already removed by someone else: the tracker may forget it either way
  return ok;
}

void OsSemaphore::ProcessExiting() {
  exiting = true;
  std::vector<OsSemaphore*> owned;
  {
    std::lock_guard<std::mutex> lock(OwnedMutex());
    owned.assign(Owned().begin(), Owned().end());
  }
  for (OsSemaphore* sem : owned) {
    OsError ignored;  // already removed by hand: nothing to clean
    sem->UnlinkOwned(&ignored);
  }
  std::lock_guard<std::mutex> lock(TrackerMutex());
  FlushTracker();
}

OsSemaphore::~OsSemaphore() {
  ForgetTicket();
  OsError ignored;  // a name removed from outside leaves nothing to do
  UnlinkOwned(&ignored);
  // A failing sem_close leaves nothing to recover. At exit the process's end unmaps everything, faster.
  if (!exiting) sem_close(impl_->sem);
  delete impl_;
}

int64_t MonotonicNs() {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
}

static struct timespec TimespecOf(int64_t ns) {
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(ns / 1000000000);
  ts.tv_nsec = static_cast<long>(ns % 1000000000);
  return ts;
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
WaitResult OsSemaphore::Wait(int64_t deadlineNs, OsError* err) {
  int64_t sleepNs = 20000;
  for (;;) {
    WaitResult r = TryWait(err);
    if (r != WaitResult::TimedOut) return r;
    int64_t ns = sleepNs;
    if (deadlineNs != kNoDeadline) {
      int64_t left = deadlineNs - MonotonicNs();
      if (left <= 0) return WaitResult::TimedOut;
      if (left < ns) ns = left;
    }
    struct timespec ts = TimespecOf(ns);
    nanosleep(&ts, nullptr);  // EINTR only shortens the sleep
    if (sleepNs < 20000000) sleepNs *= 2;
  }
}
#else
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 30))
// glibc 2.30+: the deadline counts on CLOCK_MONOTONIC itself, so setting the wall clock cannot move it.
static int TimedWait(sem_t* sem, int64_t deadlineNs, const char** call) {
  *call = "sem_clockwait";
  struct timespec ts = TimespecOf(deadlineNs);
  return sem_clockwait(sem, CLOCK_MONOTONIC, &ts);
}
#else
// Elsewhere sem_timedwait takes a CLOCK_REALTIME deadline: wait in slices of at most a second measured on the wall
// clock, and decide on CLOCK_MONOTONIC whether the time is up, so a wall clock set back costs at most a slice.
static int TimedWait(sem_t* sem, int64_t deadlineNs, const char** call) {
  *call = "sem_timedwait";
  for (;;) {
    int64_t left = deadlineNs - MonotonicNs();
    if (left <= 0) {
      errno = ETIMEDOUT;
      return -1;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t slice = left < 1000000000 ? left : 1000000000;
    struct timespec ts = TimespecOf(static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec + slice);
    if (sem_timedwait(sem, &ts) == 0) return 0;
    if (errno != ETIMEDOUT) return -1;
  }
}
#endif

WaitResult OsSemaphore::Wait(int64_t deadlineNs, OsError* err) {
  if (deadlineNs == kNoDeadline) {
    while (sem_wait(impl_->sem) != 0) {
      if (errno != EINTR) {
        err->set("sem_wait", errno);
        return WaitResult::Failed;
      }
    }
    return WaitResult::Acquired;
  }
  const char* call = nullptr;
  while (TimedWait(impl_->sem, deadlineNs, &call) != 0) {
    if (errno == ETIMEDOUT) return WaitResult::TimedOut;
    if (errno != EINTR) {
      err->set(call, errno);
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

int32_t* OsSemaphore::SharedWords() { return impl_->words; }

#ifdef MP_SHARED_WORDS
// glibc's __lll_private_flag: `private` holds 0 for process-private and FUTEX_PRIVATE_FLAG for shared futexes
static bool SharedFutex(const int32_t* words) { return (words[2] & FUTEX_PRIVATE_FLAG) != 0; }

bool OsSemaphore::WakeWaiter(OsError* err) {
  int32_t* words = impl_->words;
  if (words == nullptr) {
    err->set("futex", ENOSYS);
    return false;
  }
  int op = SharedFutex(words) ? FUTEX_WAKE : FUTEX_WAKE | FUTEX_PRIVATE_FLAG;
  if (syscall(SYS_futex, reinterpret_cast<uint32_t*>(words), op, 1, nullptr, nullptr, 0) < 0) {
    err->set("futex", errno);
    return false;
  }
  return true;
}

WaitTarget OsSemaphore::HubTarget() {
  WaitTarget target;
  if (impl_->words) {
    target.kind = WaitTarget::kWord;
    target.word = reinterpret_cast<uint32_t*>(impl_->words);
    target.shared = SharedFutex(impl_->words);
  }
  return target;
}

// The waiter count is the high half of glibc's 64-bit `data`: adding to that 32-bit word is what sem_wait's
// 64-bit add does, and sem_post reads it in the same atomic operation that raises the value.
void OsSemaphore::AddSleeper() {
  if (impl_->words) __atomic_add_fetch(&impl_->words[1], 1, __ATOMIC_SEQ_CST);
}

void OsSemaphore::RemoveSleeper() {
  if (!impl_->words) return;
  __atomic_sub_fetch(&impl_->words[1], 1, __ATOMIC_SEQ_CST);
  PassOnWake(false);
}

void OsSemaphore::PassOnWake(bool counted) {
  int32_t* words = impl_->words;
  if (!words) return;
  int32_t others = __atomic_load_n(&words[1], __ATOMIC_SEQ_CST) - (counted ? 1 : 0);
  if (others > 0 && __atomic_load_n(&words[0], __ATOMIC_SEQ_CST) > 0) {
    OsError ignored;  // a wake nobody needs is harmless; one that fails leaves them to the next post
    WakeWaiter(&ignored);
  }
}
#else
bool OsSemaphore::WakeWaiter(OsError* err) {
  err->set("futex", ENOSYS);
  return false;
}

WaitTarget OsSemaphore::HubTarget() { return WaitTarget(); }
void OsSemaphore::AddSleeper() {}
void OsSemaphore::RemoveSleeper() {}
void OsSemaphore::PassOnWake(bool) {}
#endif

std::string OsSemaphore::DuplicateInto(int, OsError* err) {
  err->set("DuplicateHandle", ENOSYS);
  return std::string();
}

bool PinThisModule(OsError* err) {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&PinThisModule), &info) == 0 || info.dli_fname == nullptr) {
    err->set("dladdr", ENOENT);
    return false;
  }
  // One more reference, never closed, and RTLD_NODELETE: no dlclose unmaps the code while hub threads run it.
  if (dlopen(info.dli_fname, RTLD_LAZY | RTLD_NODELETE) == nullptr) {
    err->set("dlopen", ENOENT);
    return false;
  }
  return true;
}

const char* ErrorName(int code) {
  const char* name = uv_err_name(uv_translate_sys_error(code));
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  // libuv names only the errors it maps (not waitpid's ECHILD); the C library names them all.
  if (strncmp(name, "Unknown", 7) == 0) {
    const char* own = strerrorname_np(code);
    if (own != nullptr) return own;
  }
#endif
  return name;
}

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

int DupFd(int fd, OsError* err) {
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) err->set("fcntl", errno);
  return copy;
}

bool DuplicateHere(uint64_t value, uint64_t* copy, OsError* err) {
  int fd = DupFd(static_cast<int>(value), err);
  if (fd < 0) return false;
  *copy = static_cast<uint64_t>(fd);
  return true;
}

void ExitNow(int code) { _exit(code); }

WaitResult PollFd(int fd, bool forWrite, int64_t deadlineNs, OsError* err) {
  struct pollfd p = {fd, static_cast<short>(forWrite ? POLLOUT : POLLIN), 0};
  for (;;) {
    int wait = -1;
    if (deadlineNs != kNoDeadline) {
      int64_t left = (deadlineNs - MonotonicNs() + 999999) / 1000000;  // rounded up: never wake before the deadline
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

bool MakeSocketPair(int fds[2], int capacity, bool packets, OsError* err) {
  int type = packets ? SOCK_SEQPACKET : SOCK_STREAM;
#ifdef SOCK_CLOEXEC
  if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) != 0) {
    err->set("socketpair", errno);
    return false;
  }
#else
  if (socketpair(AF_UNIX, type, 0, fds) != 0) {
    err->set("socketpair", errno);
    return false;
  }
  if (!CloseOnExecBoth(fds, err)) return false;
#endif
  if (capacity > 0 && (setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &capacity, sizeof capacity) != 0 ||
                       setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &capacity, sizeof capacity) != 0)) {
    err->set("setsockopt", errno);
    close(fds[0]);
    close(fds[1]);
    return false;
  }
  return true;
}

int AlivePipe(OsError* err) {
  static std::mutex mutex;
  static int readEnd = -1;  // the write end is kept open, unused, until the process ends
  std::lock_guard<std::mutex> lock(mutex);
  if (readEnd < 0) {
    int fds[2];
    if (!MakePipe(fds, err)) return -1;
    readEnd = fds[0];
  }
  return readEnd;
}

int64_t ReadFd(int fd, void* buf, size_t length, OsError* err) {
  return Transfer([&] { return read(fd, buf, length); }, "read", err);
}

int64_t PeekFd(int fd, void* buf, size_t length, OsError* err) {
  return Transfer([&] { return recv(fd, buf, length, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC); }, "recv", err);
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

#ifdef MP_SPAWN_CHILD
static int PidfdOpen(int pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

// Both pidfd calls work here: a kernel before 5.3, or a seccomp filter that refuses them (older container
// runtimes), leaves child_process to start children.
bool CanSpawnChild() {
  static const bool can = [] {
    int fd = PidfdOpen(getpid());
    if (fd < 0) return false;
    bool signals = syscall(SYS_pidfd_send_signal, fd, 0, nullptr, 0) == 0;  // signal 0: a check, nothing sent
    close(fd);
    return signals;
  }();
  return can;
}

// A number that is none of `taken`, the smallest from `from` on.
static int FreeNumber(const std::vector<int>& taken, int from) {
  for (int n = from;; n++) {
    bool used = false;
    for (int t : taken) used = used || t == n;
    if (!used) return n;
  }
}

// The file actions that give the child fds[i] as descriptor i. Through spare numbers first: a source may sit where
// another must go, and dup2 of a descriptor onto itself would leave its close-on-exec flag set.
static int MapDescriptors(posix_spawn_file_actions_t* actions, const std::vector<int>& fds) {
  std::vector<int> taken(fds);
  for (size_t i = 0; i < fds.size(); i++) taken.push_back(static_cast<int>(i));
  std::vector<int> spare;
  for (size_t i = 0; i < fds.size(); i++) {
    spare.push_back(FreeNumber(taken, static_cast<int>(fds.size())));
    taken.push_back(spare.back());
  }
  int rc = 0;
  for (size_t i = 0; i < fds.size() && rc == 0; i++) rc = posix_spawn_file_actions_adddup2(actions, fds[i], spare[i]);
  for (size_t i = 0; i < fds.size() && rc == 0; i++) {
    rc = posix_spawn_file_actions_adddup2(actions, spare[i], static_cast<int>(i));
  }
  for (size_t i = 0; i < fds.size() && rc == 0; i++) rc = posix_spawn_file_actions_addclose(actions, spare[i]);
  return rc;
}

static std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const std::string& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

bool SpawnChild(const std::string& file, const std::vector<std::string>& args, const std::vector<std::string>& env,
                const std::vector<int>& fds, bool newSession, int* pid, int* pidfd, OsError* err) {
  if (!CanSpawnChild()) {
    err->set("pidfd_open", ENOSYS);
    return false;
  }
  posix_spawn_file_actions_t actions;
  int rc = posix_spawn_file_actions_init(&actions);
  if (rc != 0) {
    err->set("posix_spawn_file_actions_init", rc);
    return false;
  }
  posix_spawnattr_t attr;
  rc = posix_spawnattr_init(&attr);
  if (rc != 0) {
    posix_spawn_file_actions_destroy(&actions);
    err->set("posix_spawnattr_init", rc);
    return false;
  }
  // As libuv's children: every signal at its default (Node ignores SIGPIPE, and ignored signals survive exec), none
  // blocked.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  const char* call = "posix_spawn_file_actions_adddup2";
  rc = MapDescriptors(&actions, fds);
  if (rc == 0) {
    call = "posix_spawnattr_setsigmask";
    rc = posix_spawnattr_setsigmask(&attr, &none);
  }
  if (rc == 0) {
    call = "posix_spawnattr_setsigdefault";
    rc = posix_spawnattr_setsigdefault(&attr, &all);
  }
  if (rc == 0) {
    call = "posix_spawnattr_setflags";
    auto flags = static_cast<short>(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
#ifdef POSIX_SPAWN_SETSID
    if (newSession) flags = static_cast<short>(flags | POSIX_SPAWN_SETSID);
#else
    if (newSession) rc = ENOSYS;  // glibc before 2.26
#endif
    if (rc == 0) rc = posix_spawnattr_setflags(&attr, flags);
  }
  if (rc == 0) {
    call = "posix_spawn";
    std::vector<char*> argv = CStrings(args);
    std::vector<char*> envp = CStrings(env);
    pid_t child;
    rc = posix_spawn(&child, file.c_str(), &actions, &attr, argv.data(), envp.data());
    if (rc == 0) *pid = child;
  }
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    err->set(call, rc);
    return false;
  }
  *pidfd = PidfdOpen(*pid);
  if (*pidfd < 0) {  // it could not be watched: it must not run unseen
    err->set("pidfd_open", errno);
    kill(*pid, SIGKILL);
    while (waitpid(*pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return false;
  }
  return true;
}

bool ReapChild(int pid, int* code, int* signal, OsError* err) {
  int status = 0;
  int r;
  do r = waitpid(pid, &status, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    err->set("waitpid", errno);
    return false;
  }
  if (r == 0) return false;
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  *signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return true;
}

bool SignalChild(int pidfd, int signal, OsError* err) {
  if (syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0) != 0) {
    err->set("pidfd_send_signal", errno);
    return false;
  }
  return true;
}

static void* WaitForChild(void* pid) {
  int status = 0;
  while (waitpid(static_cast<pid_t>(reinterpret_cast<intptr_t>(pid)), &status, 0) < 0 && errno == EINTR) {
  }
  return nullptr;
}

bool ReapWhenExited(int pid, OsError* err) {
  pthread_attr_t attr;
  int rc = pthread_attr_init(&attr);
  if (rc != 0) {
    err->set("pthread_attr_init", rc);
    return false;
  }
  const char* call = "pthread_attr_setdetachstate";
  rc = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (rc == 0) {
    call = "pthread_attr_setstacksize";  // waitpid needs little; PTHREAD_STACK_MIN is too little under ASan
    rc = pthread_attr_setstacksize(&attr, 256 * 1024);
  }
  if (rc != 0) {
    pthread_attr_destroy(&attr);
    err->set(call, rc);
    return false;
  }
  // The thread starts with every signal blocked: Node's handlers belong to its own threads.
  sigset_t all, before;
  sigfillset(&all);
  rc = pthread_sigmask(SIG_SETMASK, &all, &before);
  if (rc != 0) {
    pthread_attr_destroy(&attr);
    err->set("pthread_sigmask", rc);
    return false;
  }
  pthread_t thread;
  rc = pthread_create(&thread, &attr, WaitForChild, reinterpret_cast<void*>(static_cast<intptr_t>(pid)));
  pthread_sigmask(SIG_SETMASK, &before, nullptr);  // cannot fail: the mask it read a moment ago
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    err->set("pthread_create", rc);
    return false;
  }
  return true;
}
#else
bool CanSpawnChild() { return false; }

bool SpawnChild(const std::string&, const std::vector<std::string>&, const std::vector<std::string>&,
                const std::vector<int>&, bool, int*, int*, OsError* err) {
  err->set("pidfd_open", ENOSYS);
  return false;
}

bool ReapChild(int, int*, int*, OsError* err) {
  err->set("waitpid", ENOSYS);
  return false;
}

bool SignalChild(int, int, OsError* err) {
  err->set("pidfd_send_signal", ENOSYS);
  return false;
}

bool ReapWhenExited(int, OsError* err) {
  err->set("pthread_create", ENOSYS);
  return false;
}
#endif

int64_t OpenLockFile(const std::string& path, bool create, bool exclusive, OsError* err) {
  int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0) | (create && exclusive ? O_EXCL : 0);
  int fd;
  do fd = open(path.c_str(), flags, 0600);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) err->set("open", errno);
  return fd;
}

WaitResult LockFile(uint64_t file, bool wait, OsError* err) {
  for (;;) {
    if (flock(static_cast<int>(file), LOCK_EX | (wait ? 0 : LOCK_NB)) == 0) return WaitResult::Acquired;
    if (errno == EINTR) continue;
    if (!wait && errno == EWOULDBLOCK) return WaitResult::TimedOut;
    err->set("flock", errno);
    return WaitResult::Failed;
  }
}

bool UnlockFile(uint64_t file, OsError* err) {
  if (flock(static_cast<int>(file), LOCK_UN) == 0) return true;
  err->set("flock", errno);
  return false;
}

int ReadLockMark(uint64_t file, OsError* err) {
  uint8_t mark = 0;
  ssize_t n;
  do n = pread(static_cast<int>(file), &mark, 1, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    err->set("pread", errno);
    return -1;
  }
  return n == 0 ? 0 : mark;
}

bool WriteLockMark(uint64_t file, uint8_t mark, OsError* err) {
  ssize_t n;
  do n = pwrite(static_cast<int>(file), &mark, 1, 0);
  while (n < 0 && errno == EINTR);
  if (n == 1) return true;
  err->set("pwrite", n < 0 ? errno : EIO);
  return false;
}

#ifdef __linux__
// futex_waitv (Linux 5.16): one sleep on up to 128 futex words. Declared here for older kernel headers.
#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
struct FutexWaitv {
  uint64_t val;
  uint64_t uaddr;
  uint32_t flags;
  uint32_t reserved;
};
constexpr uint32_t kFutex2SizeU32 = 0x02;
constexpr uint32_t kFutex2Private = 128;
constexpr size_t kFutexWaitvMax = 128;

size_t WordWaitCapacity() {
  // MULTIPROC_NO_FUTEX_WAITV=1 makes this kernel look like one before 5.16, to test the fallback.
  static const size_t capacity = [] {
    const char* off = getenv("MULTIPROC_NO_FUTEX_WAITV");
    if (off != nullptr && strcmp(off, "1") == 0) return size_t(1);
    // No futexes: EINVAL where the call exists, ENOSYS where it does not.
    return syscall(SYS_futex_waitv, nullptr, 0, 0, nullptr, 0) < 0 && errno == ENOSYS ? size_t(1) : kFutexWaitvMax;
  }();
  return capacity;
}

int WaitForWords(const WordWait* waits, size_t count, int64_t deadlineNs, OsError* err) {
  struct timespec ts;
  if (deadlineNs != kNoDeadline) ts = TimespecOf(deadlineNs);
  struct timespec* timeout = deadlineNs == kNoDeadline ? nullptr : &ts;
  long r;
  if (count == 1) {
    // FUTEX_WAIT_BITSET takes an absolute deadline on CLOCK_MONOTONIC, as futex_waitv does.
    int op = waits[0].shared ? FUTEX_WAIT_BITSET : FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG;
    r = syscall(SYS_futex, waits[0].word, op, waits[0].expected, timeout, nullptr, FUTEX_BITSET_MATCH_ANY);
  } else {
    FutexWaitv vector[kFutexWaitvMax];
    if (count > kFutexWaitvMax) count = kFutexWaitvMax;
    for (size_t i = 0; i < count; i++) {
      vector[i].val = waits[i].expected;
      vector[i].uaddr = reinterpret_cast<uintptr_t>(waits[i].word);
      vector[i].flags = kFutex2SizeU32 | (waits[i].shared ? 0 : kFutex2Private);
      vector[i].reserved = 0;
    }
    r = syscall(SYS_futex_waitv, vector, count, 0, timeout, CLOCK_MONOTONIC);
  }
  if (r >= 0) return static_cast<int>(r);
  switch (errno) {
    case EAGAIN:  // a word no longer held its expected value
    case EINTR:
    case EFAULT:  // a word's memory went away between the look and the sleep: look again
      return kWordsChanged;
    case ETIMEDOUT:
      return kWordsTimedOut;
    default:
      err->set(count == 1 ? "futex" : "futex_waitv", errno);
      return kWordsFailed;
  }
}

void WakeWord(uint32_t* word, bool shared, int count) {
  syscall(SYS_futex, word, shared ? FUTEX_WAKE : FUTEX_WAKE | FUTEX_PRIVATE_FLAG, count, nullptr, nullptr, 0);
}
#endif

}  // namespace mp
#endif  // !_WIN32
