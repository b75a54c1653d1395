// The OS layer: every system call multiproc makes lives behind this header.
// Implemented once per platform (os_posix.cc, os_win.cc); binding.cc turns it into JS.
#pragma once
#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mp {

// The platform's error for a descriptor or handle that is not (or no longer) open.
#ifdef _WIN32
constexpr int kBadDescriptorError = 6;  // ERROR_INVALID_HANDLE
#else
constexpr int kBadDescriptorError = EBADF;
#endif

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

// Nanoseconds on a monotonic clock (CLOCK_MONOTONIC; Windows: QueryPerformanceCounter): what every deadline counts.
int64_t MonotonicNs();
// "No deadline": the wait lasts until it succeeds or is cancelled.
constexpr int64_t kNoDeadline = -1;
// Timeouts from this many milliseconds on (about 143 years; lib/'s TIMEOUT_MAX, 2^42 ms, is below it) wait
// forever: their deadline in nanoseconds would not fit in 63 bits.
constexpr double kForeverMs = 4.5e12;
// The deadline `timeoutMs` from now; kNoDeadline for a negative, NaN or too large timeout. Never overflows.
int64_t DeadlineAfterMs(double timeoutMs);

// What a thread of the wait hub (wait_hub.h) blocks on for a semaphore: a 32-bit word in shared memory that a
// release changes and wakes (Linux/glibc futex), a waitable handle (Windows), or neither (the wait is polled).
struct WaitTarget {
  enum Kind { kPolled, kWord, kHandle };
  Kind kind = kPolled;
  uint32_t* word = nullptr;  // kWord: sleep while it holds sleepValue
  uint32_t sleepValue = 0;   // kWord: 0 for a semaphore (no unit free); a shared-memory wait's expected value
  bool shared = false;       // kWord: a futex shared between processes
  uint64_t handle = 0;       // kHandle: signalled when a unit is free; a wait that returns it took the unit
};

// A counting semaphore shared between processes.
// POSIX: a named semaphore (sem_open). Windows: an unnamed semaphore whose handle is duplicated into children.
class OsSemaphore : public std::enable_shared_from_this<OsSemaphore> {
 public:
  // Creates a new semaphore. POSIX: `name` must not exist yet (O_EXCL); this object owns the name and removes it
  // when it is destroyed (see Unlink). Windows: `name` is unused.
  static std::unique_ptr<OsSemaphore> Create(const std::string& name, uint32_t value, uint32_t maxValue,
                                             OsError* err);
  // POSIX: opens an existing named semaphore. Windows: adopts an inherited handle value.
  static std::unique_ptr<OsSemaphore> Open(const std::string& nameOrHandle, OsError* err);
  // POSIX only: removes the name; processes that opened it keep using it.
  static bool Unlink(const std::string& name, OsError* err);
  // Removes this object's name now if it owns it (nothing otherwise); from then on it owns none.
  bool UnlinkOwned(OsError* err);
  // The process is exiting: owned names are removed now, and objects destroyed from now on skip sem_close (the
  // process's end unmaps everything; glibc's sem_close walks every open semaphore, which made exits quadratic).
  static void ProcessExiting();

  // Closes the semaphore in this process (sem_close / CloseHandle); removes its name if it owns it.
  ~OsSemaphore();
  OsSemaphore(const OsSemaphore&) = delete;
  OsSemaphore& operator=(const OsSemaphore&) = delete;

  // Blocks the calling thread until `deadlineNs` (MonotonicNs(); kNoDeadline: forever). Interrupted waits resume.
  WaitResult Wait(int64_t deadlineNs, OsError* err);
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

  // What a hub thread blocks on to wait for a unit of this semaphore.
  WaitTarget HubTarget();
  // A hub thread counts itself among the semaphore's sleepers while it waits for it (glibc: the waiter count that
  // makes sem_post wake a sleeper), exactly as sem_wait does; elsewhere these do nothing.
  void AddSleeper();
  // Stops counting; then PassOnWake(false).
  void RemoveSleeper();
  // If a unit is free and other sleepers remain (besides this process's own count, `counted`), wakes one: a wake
  // this process received and did not use must not be lost to them.
  void PassOnWake(bool counted);

  // A process-wide name for this object that another thread of this process can open it by (Adopt), valid while
  // any holder keeps the object. Not a name of the OS: worker threads share the very same object.
  std::string Ticket();
  static std::shared_ptr<OsSemaphore> Adopt(const std::string& ticket);

 struct Impl;

 private:
  explicit OsSemaphore(Impl* impl) : impl_(impl) {}
  void ForgetTicket();
  Impl* impl_;
  std::string ticket_;  // guarded by the ticket registry's lock (os_common.cc)
};

// The resource tracker's pipe (resource_tracker.ts), one per process: an owned name removed here is unregistered
// with a line on it. SetTrackerFd keeps the first descriptor it is given and returns the one in effect; TrackerFd is
// -1 while there is none. Windows has no names and no tracker.
int64_t SetTrackerFd(int64_t fd);
int64_t TrackerFd();

// Descriptors (POSIX) or handles (Windows) lent to other threads of this process: Lend gives `value` a ticket, Adopt
// duplicates what the ticket names (a new descriptor or handle the caller owns), Revoke withdraws the ticket before
// its owner closes `value`. A ticket never names anything that was not lent and is still open.
std::string LendDescriptor(uint64_t value);
void RevokeDescriptor(uint64_t value);
bool AdoptDescriptor(const std::string& ticket, uint64_t* adopted, OsError* err);
// A duplicate of a descriptor or handle of this process, owned by the caller (used by AdoptDescriptor).
bool DuplicateHere(uint64_t value, uint64_t* copy, OsError* err);

// Keeps this addon loaded until the process exits. Node unloads an addon when the last environment that loaded it
// goes (a worker loaded it, the main thread did not), but the wait hub's threads belong to the process.
bool PinThisModule(OsError* err);

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
// Waits until the read end has bytes (or has lost every writer) or `deadlineNs` passes. Windows signals nothing for
// that on a synchronous pipe: PeekNamedPipe is polled, sleeping between looks.
WaitResult PollPipe(uint64_t handle, int64_t deadlineNs, OsError* err);
// Whether the read end has bytes, or has lost every writer (a read will not block); Failed with err on error.
WaitResult PipeReady(uint64_t handle, OsError* err);
// Blocks until one of `handles` is signalled (a semaphore's unit is then taken), or `deadlineNs` passes: the index
// of the handle, kHandlesTimedOut, or kHandlesFailed with err set. At most MAXIMUM_WAIT_OBJECTS (64) handles.
constexpr int kHandlesTimedOut = -1;
constexpr int kHandlesFailed = -2;
int WaitForHandles(const uint64_t* handles, size_t count, int64_t deadlineNs, OsError* err);
// An auto-reset event (a hub thread's control handle); 0 with err set on failure.
uint64_t MakeEvent(OsError* err);
void SignalEvent(uint64_t handle);
bool CloseHandleValue(uint64_t handle, OsError* err);
// Duplicates `handle` into process `pid` (OpenProcess(PROCESS_DUP_HANDLE)); returns its value there, in decimal.
std::string DuplicateHandleInto(uint64_t handle, int pid, OsError* err);
#else
// POSIX descriptors for queue pipes and the resource tracker.
bool MakePipe(int fds[2], OsError* err);  // both ends close-on-exec
// The read end of one pipe per process that nobody writes to, made on first use: children inherit it and see its
// end of file once this process is gone, however it died. Per process, not per thread: a worker thread that ends
// must neither take it down (its children belong to the process) nor leave a pipe of its own behind.
int AlivePipe(OsError* err);
// AF_UNIX sockets, both close-on-exec: fds[0] receives what fds[1] sends. Stream sockets, or with `packets`
// SOCK_SEQPACKET ones, whose every send arrives as one message or not at all (a kill-safe queue's). Asks for buffers
// of `capacity` bytes (the system may grant less); 0 keeps the system's default.
bool MakeSocketPair(int fds[2], int capacity, bool packets, OsError* err);
bool SetNonBlocking(int fd, bool on, OsError* err);
bool SetCloseOnExec(int fd, bool on, OsError* err);
bool CloseFd(int fd, OsError* err);
// A duplicate of `fd`, close-on-exec; -1 with err set on failure.
int DupFd(int fd, OsError* err);
// Ends this process at once, without running exit handlers.
[[noreturn]] void ExitNow(int code);
// Waits until fd is readable (or writable) or `deadlineNs` passes. Returns Acquired when ready.
WaitResult PollFd(int fd, bool forWrite, int64_t deadlineNs, OsError* err);
// One read()/write() on a descriptor, retrying EINTR: the bytes moved (read: 0 at end of file), or kWouldBlock
// when a non-blocking descriptor has no data (no room). Queue readers and writers wait with poll instead.
int64_t ReadFd(int fd, void* buf, size_t length, OsError* err);
int64_t WriteFd(int fd, const void* buf, size_t length, OsError* err);
// The next message of a packet socket, left in place: its whole length (more than `length` when it is longer), or
// kWouldBlock when none waits.
int64_t PeekFd(int fd, void* buf, size_t length, OsError* err);
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
// Children started without fork() (Linux): posix_spawn clones a child that shares this process's memory until it
// execs, where fork() copies the page tables and marks every page copy-on-write, so that this process then faults
// once on each page it writes. The child's descriptor i is `fds[i]`; of the others only those without close-on-exec
// cross, as with fork(). Signal dispositions and mask start at their defaults. *pidfd (close-on-exec) becomes
// readable once the child has exited. With `newSession` the child leads a session of its own (setsid), out of
// reach of a terminal's Ctrl-C. CanSpawnChild() is false where this is unsupported (macOS and its emulation,
// kernels before 5.3): there SpawnChild fails with ENOSYS.
bool CanSpawnChild();
bool SpawnChild(const std::string& file, const std::vector<std::string>& args, const std::vector<std::string>& env,
                const std::vector<int>& fds, bool newSession, int* pid, int* pidfd, OsError* err);
// Reaps `pid` once it has exited: true with *code (its exit status, or -1) and *signal (the signal that ended it, or
// 0); false while it runs, or with err set.
bool ReapChild(int pid, int* code, int* signal, OsError* err);
// Sends `signal` through the child's pidfd: never to another process that reused the pid.
bool SignalChild(int pidfd, int signal, OsError* err);
// Reaps `pid` when it exits, from a detached thread of its own (signals blocked) that ends then: for a child whose
// watcher went with its environment (a worker thread that ended first), which would otherwise stay a zombie until
// this process exits. False with err set when no thread could start.
bool ReapWhenExited(int pid, OsError* err);
#endif

// Lock files, for locks that unrelated processes open by name (lib/named_lock.ts): a whole-file lock that the
// kernel drops when its holder's descriptor closes, whatever ends the process. POSIX: flock(), which belongs to one
// open file description, so two opens exclude each other even in one process; Windows: LockFileEx on the first
// byte of one handle. The file is carried to JS as its descriptor or handle value (close-on-exec, not inheritable;
// closed with closeFd / closeHandle).
// Opens (create: creates if missing, exclusive: fails with EEXIST if it exists) `path` for reading and writing,
// mode 0600; -1 with err set on failure.
int64_t OpenLockFile(const std::string& path, bool create, bool exclusive, OsError* err);
// Takes the lock: wait blocks until it is free; else TimedOut at once when another open holds it.
WaitResult LockFile(uint64_t file, bool wait, OsError* err);
bool UnlockFile(uint64_t file, OsError* err);
// The byte at offset 0 (0 when the file is empty), or -1 with err set; and writing it. Only the lock's holder uses
// them (Windows' byte-range lock keeps everyone else out of that byte).
int ReadLockMark(uint64_t file, OsError* err);
bool WriteLockMark(uint64_t file, uint8_t mark, OsError* err);

#ifdef __linux__
// Futex words a hub thread sleeps on: it returns when one is woken or differs from `expected`.
struct WordWait {
  uint32_t* word;
  uint32_t expected;
  bool shared;
};
// How many words one WaitForWords call can watch: 128 with futex_waitv (Linux 5.16), else 1 (a plain futex wait).
size_t WordWaitCapacity();
// Blocks until one of `waits` is woken or differs from its expected value, or `deadlineNs` passes: the index of
// the word woken, kWordsChanged (a word differed, or a spurious wake: look again), kWordsTimedOut or kWordsFailed.
constexpr int kWordsChanged = -1;
constexpr int kWordsTimedOut = -2;
constexpr int kWordsFailed = -3;
int WaitForWords(const WordWait* waits, size_t count, int64_t deadlineNs, OsError* err);
void WakeWord(uint32_t* word, bool shared, int count);
#endif

}  // namespace mp
