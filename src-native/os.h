// The OS layer: every system call multiproc makes lives behind this header.
// Implemented once per platform (os_posix.cc, os_win.cc); binding.cc turns it into JS.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace mp {

// A failed system call: its name and the platform error (errno or GetLastError()).
struct OsError {
  const char* syscall = nullptr;
  int code = 0;
  bool failed() const { return syscall != nullptr; }
  void set(const char* call, int err) {
    syscall = call;
    code = err;
  }
};

enum class WaitResult { Acquired, TimedOut, Failed };
enum class PostResult { Posted, AtMaximum, Failed };

// A counting semaphore shared between processes.
// POSIX: a named semaphore (sem_open). Windows: an unnamed semaphore whose handle is duplicated into children.
class OsSemaphore {
 public:
  // Creates a new semaphore. POSIX: `name` must not exist yet (O_EXCL). Windows: `name` is unused.
  static std::unique_ptr<OsSemaphore> Create(const std::string& name, uint32_t value, uint32_t maxValue,
                                             OsError* err);
  // POSIX: opens an existing named semaphore. Windows: adopts an inherited handle value.
  static std::unique_ptr<OsSemaphore> Open(const std::string& nameOrHandle, OsError* err);
  // POSIX only: removes the name; processes that opened it keep using it.
  static bool Unlink(const std::string& name, OsError* err);

  ~OsSemaphore();
  OsSemaphore(const OsSemaphore&) = delete;
  OsSemaphore& operator=(const OsSemaphore&) = delete;

  // Blocks the calling thread; timeoutMs < 0 waits forever. Interrupted waits resume with the time left.
  WaitResult Wait(int64_t timeoutMs, OsError* err);
  WaitResult TryWait(OsError* err);
  // maxValue >= 0: post nothing and report AtMaximum when the value already reached it (CPython's over-release
  // check; macOS can only check maxValue == 1). Windows enforces the maximum given at creation.
  PostResult Post(int64_t maxValue, OsError* err);
  // The current value, or -1 with err set where the platform cannot tell (macOS).
  int64_t Value(OsError* err);
  // Windows only: duplicates the handle into process `pid`; returns the handle value valid there.
  std::string DuplicateInto(int pid, OsError* err);

  // Linux/glibc only, else nullptr: the semaphore's own shared memory, laid out as two 32-bit words
  // [value, number of waiters] (glibc's 64-bit `new_sem`), checked against sem_getvalue. Uncontended acquire and
  // release then run as atomics in JS; only a release that finds waiters calls WakeWaiter().
  int32_t* SharedWords();
  // Wakes one thread sleeping in sem_wait after the value was raised through SharedWords().
  bool WakeWaiter(OsError* err);

 private:
  struct Impl;
  explicit OsSemaphore(Impl* impl) : impl_(impl) {}
  Impl* impl_;
};

// Platform error code -> libuv-style name ("EEXIST", "ETIMEDOUT", ...).
const char* ErrorName(int code);
std::string ErrorMessage(int code);

#ifndef _WIN32
// POSIX descriptors for queue pipes and the resource tracker.
bool MakePipe(int fds[2], OsError* err);  // both ends close-on-exec
bool SetNonBlocking(int fd, bool on, OsError* err);
bool SetCloseOnExec(int fd, bool on, OsError* err);
bool CloseFd(int fd, OsError* err);
// Ends this process at once, without running exit handlers.
[[noreturn]] void ExitNow(int code);
// Waits until fd is readable (or writable); timeoutMs < 0 waits forever. Returns Acquired when ready.
WaitResult PollFd(int fd, bool forWrite, int64_t timeoutMs, OsError* err);
// One read()/write() on a descriptor, retrying EINTR: the bytes moved (read: 0 at end of file), or kWouldBlock
// when a non-blocking descriptor has no data (no room). Queue readers and writers wait with poll instead.
constexpr int64_t kWouldBlock = -1;
int64_t ReadFd(int fd, void* buf, size_t length, OsError* err);
int64_t WriteFd(int fd, const void* buf, size_t length, OsError* err);
// Asks for a pipe buffer of `bytes` (Linux: F_SETPIPE_SZ); returns the capacity in effect, or -1 where unknown.
int64_t SetPipeCapacity(int fd, int64_t bytes, OsError* err);
// Creates a named pipe (mode 0600) that processes of this host open by path: a Manager's kernel queues.
bool MakeFifo(const std::string& path, OsError* err);
#endif

}  // namespace mp
