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

// What ReadFd/WriteFd (POSIX) and ReadPipe/WritePipe (Windows) return when a non-blocking end has no data (no room).
constexpr int64_t kWouldBlock = -1;

#ifdef _WIN32
// Windows queue pipes: handles, carried to JS as their integer value. Every process that uses a queue holds both ends.
// Creates the uniquely named byte pipe `name` (\\.\pipe\...; FILE_FLAG_FIRST_PIPE_INSTANCE: fails if it exists) with
// an inbound buffer of `capacity` bytes and connects its one client end: ends[0] reads (server end, blocking mode,
// read only after PeekNamedPipe says how much is there), ends[1] writes (client end, PIPE_NOWAIT: a write that does
// not fit returns at once). Neither handle is inheritable.
bool MakeNamedPipe(const std::string& name, uint32_t capacity, uint64_t ends[2], OsError* err);
// Reads what the pipe holds now, up to `length`: the bytes moved, 0 once every writer is gone and the pipe is empty,
// or kWouldBlock when it is empty. Never blocks.
int64_t ReadPipe(uint64_t handle, void* buf, size_t length, OsError* err);
// One non-blocking write: the bytes written, or kWouldBlock when none fit now.
int64_t WritePipe(uint64_t handle, const void* buf, size_t length, OsError* err);
// Bytes waiting in the pipe (PeekNamedPipe on either end's handle), or -1 once every writer is gone and it is empty.
int64_t PipeAvailable(uint64_t handle, OsError* err);
// The pipe's inbound buffer size as the system granted it (GetNamedPipeInfo on the read end).
int64_t PipeBufferSize(uint64_t readHandle, OsError* err);
// Waits until the read end has bytes (or has lost every writer); timeoutMs < 0 waits forever. Windows signals
// nothing for that on a synchronous pipe: PeekNamedPipe is polled, sleeping between looks.
WaitResult PollPipe(uint64_t handle, int64_t timeoutMs, OsError* err);
bool CloseHandleValue(uint64_t handle, OsError* err);
// Duplicates `handle` into process `pid` (OpenProcess(PROCESS_DUP_HANDLE)); returns its value there, in decimal.
std::string DuplicateHandleInto(uint64_t handle, int pid, OsError* err);
#else
// POSIX descriptors for queue pipes and the resource tracker.
bool MakePipe(int fds[2], OsError* err);  // both ends close-on-exec
// AF_UNIX stream sockets, both close-on-exec: fds[0] receives what fds[1] sends. Asks for buffers of `capacity`
// bytes (the system may grant less).
bool MakeSocketPair(int fds[2], int capacity, OsError* err);
bool SetNonBlocking(int fd, bool on, OsError* err);
bool SetCloseOnExec(int fd, bool on, OsError* err);
bool CloseFd(int fd, OsError* err);
// Ends this process at once, without running exit handlers.
[[noreturn]] void ExitNow(int code);
// Waits until fd is readable (or writable); timeoutMs < 0 waits forever. Returns Acquired when ready.
WaitResult PollFd(int fd, bool forWrite, int64_t timeoutMs, OsError* err);
// One read()/write() on a descriptor, retrying EINTR: the bytes moved (read: 0 at end of file), or kWouldBlock
// when a non-blocking descriptor has no data (no room). Queue readers and writers wait with poll instead.
int64_t ReadFd(int fd, void* buf, size_t length, OsError* err);
int64_t WriteFd(int fd, const void* buf, size_t length, OsError* err);
// One writev() of `count` buffers (at most kMaxWriteBuffers), retrying EINTR; returns as WriteFd.
struct WriteBuffer {
  const void* data;
  size_t length;
};
constexpr size_t kMaxWriteBuffers = 64;
int64_t WriteFdv(int fd, const WriteBuffer* buffers, size_t count, OsError* err);
// Asks for a pipe buffer of `bytes` (Linux: F_SETPIPE_SZ); returns the capacity in effect, or -1 where unknown.
int64_t SetPipeCapacity(int fd, int64_t bytes, OsError* err);
// Creates a named pipe (mode 0600) that processes of this host open by path: a Manager's kernel queues.
bool MakeFifo(const std::string& path, OsError* err);
#endif

}  // namespace mp
