// Windows implementation of os.h: unnamed semaphores and queue pipe handles handed to children with DuplicateHandle,
// the mechanism of CPython's popen_spawn_win32 / reduction.DupHandle.
#ifdef _WIN32
#include "os.h"

// uv.h first: it includes winsock2.h, which must precede windows.h.
#include <uv.h>
#include <windows.h>

#include <algorithm>
#include <cstdlib>

namespace mp {

static HANDLE ToHandle(uint64_t value) { return reinterpret_cast<HANDLE>(static_cast<uintptr_t>(value)); }

struct OsSemaphore::Impl {
  HANDLE handle;
};

std::unique_ptr<OsSemaphore> OsSemaphore::Create(const std::string&, uint32_t value, uint32_t maxValue,
                                                 OsError* err) {
  HANDLE h = CreateSemaphoreW(nullptr, static_cast<LONG>(value), static_cast<LONG>(maxValue), nullptr);
  if (h == nullptr) {
    err->set("CreateSemaphoreW", static_cast<int>(GetLastError()));
    return nullptr;
  }
  return std::unique_ptr<OsSemaphore>(new OsSemaphore(new Impl{h}));
}

// Adopts a handle that the parent duplicated into this process; `handle` is its decimal value.
std::unique_ptr<OsSemaphore> OsSemaphore::Open(const std::string& handle, OsError* err) {
  char* end = nullptr;
  unsigned long long value = std::strtoull(handle.c_str(), &end, 10);
  if (handle.empty() || *end != '\0' || value == 0) {
    err->set("OpenSemaphoreHandle", ERROR_INVALID_HANDLE);
    return nullptr;
  }
  return std::unique_ptr<OsSemaphore>(new OsSemaphore(new Impl{reinterpret_cast<HANDLE>(value)}));
}

bool OsSemaphore::Unlink(const std::string&, OsError*) { return true; }  // unnamed: nothing to remove

bool OsSemaphore::UnlinkOwned(OsError*) { return true; }  // unnamed: nothing to remove
void OsSemaphore::ProcessExiting() {}

OsSemaphore::~OsSemaphore() {
  ForgetTicket();
  CloseHandle(impl_->handle);
  delete impl_;
}

int64_t SetTrackerFd(int64_t fd) { return fd; }  // no names, no tracker
int64_t TrackerFd() { return -1; }

int64_t MonotonicNs() {
  static const int64_t frequency = [] {
    LARGE_INTEGER f;
    QueryPerformanceFrequency(&f);  // cannot fail since Windows XP
    return static_cast<int64_t>(f.QuadPart);
  }();
  LARGE_INTEGER now;
  QueryPerformanceCounter(&now);
  int64_t ticks = static_cast<int64_t>(now.QuadPart);
  return ticks / frequency * 1000000000 + ticks % frequency * 1000000000 / frequency;  // without overflow
}

// Milliseconds for a Win32 wait until `deadlineNs`, rounded up (a wait never ends before its deadline), at most
// INFINITE - 1; INFINITE without a deadline.
static DWORD WaitMs(int64_t deadlineNs) {
  if (deadlineNs == kNoDeadline) return INFINITE;
  int64_t left = deadlineNs - MonotonicNs();
  if (left <= 0) return 0;
  int64_t ms = (left + 999999) / 1000000;
  return ms >= INFINITE ? INFINITE - 1 : static_cast<DWORD>(ms);
}

WaitResult OsSemaphore::Wait(int64_t deadlineNs, OsError* err) {
  for (;;) {
    DWORD r = WaitForSingleObjectEx(impl_->handle, WaitMs(deadlineNs), FALSE);
    if (r == WAIT_OBJECT_0) return WaitResult::Acquired;
    if (r == WAIT_TIMEOUT) {
      if (deadlineNs != kNoDeadline && MonotonicNs() >= deadlineNs) return WaitResult::TimedOut;
      continue;  // a wait longer than one DWORD of milliseconds
    }
    err->set("WaitForSingleObjectEx", static_cast<int>(GetLastError()));
    return WaitResult::Failed;
  }
}

WaitResult OsSemaphore::TryWait(OsError* err) {
  DWORD r = WaitForSingleObjectEx(impl_->handle, 0, FALSE);
  if (r == WAIT_OBJECT_0) return WaitResult::Acquired;
  if (r == WAIT_TIMEOUT) return WaitResult::TimedOut;
  err->set("WaitForSingleObjectEx", static_cast<int>(GetLastError()));
  return WaitResult::Failed;
}

PostResult OsSemaphore::Post(int64_t, OsError* err) {
  if (!ReleaseSemaphore(impl_->handle, 1, nullptr)) {
    DWORD code = GetLastError();
    if (code == ERROR_TOO_MANY_POSTS) return PostResult::AtMaximum;
    err->set("ReleaseSemaphore", static_cast<int>(code));
    return PostResult::Failed;
  }
  return PostResult::Posted;
}

// Windows has no "get value": take one unit if there is one and read the previous count while giving it back.
int64_t OsSemaphore::Value(OsError* err) {
  WaitResult r = TryWait(err);
  if (r == WaitResult::Failed) return -1;
  if (r == WaitResult::TimedOut) return 0;
  LONG previous = 0;
  if (!ReleaseSemaphore(impl_->handle, 1, &previous)) {
    err->set("ReleaseSemaphore", static_cast<int>(GetLastError()));
    return -1;
  }
  return static_cast<int64_t>(previous) + 1;
}

int32_t* OsSemaphore::SharedWords() { return nullptr; }  // kernel objects: no user-space fast path

bool OsSemaphore::WakeWaiter(OsError* err) {
  err->set("WakeWaiter", ERROR_NOT_SUPPORTED);
  return false;
}

WaitTarget OsSemaphore::HubTarget() {
  WaitTarget target;
  target.kind = WaitTarget::kHandle;
  target.handle = reinterpret_cast<uintptr_t>(impl_->handle);
  return target;
}

void OsSemaphore::AddSleeper() {}  // the kernel counts waiters on a handle itself, and wakes them itself
void OsSemaphore::RemoveSleeper() {}
void OsSemaphore::PassOnWake(bool) {}

int WaitForHandles(const uint64_t* handles, size_t count, int64_t deadlineNs, OsError* err) {
  HANDLE list[MAXIMUM_WAIT_OBJECTS] = {};
  if (count > MAXIMUM_WAIT_OBJECTS) count = MAXIMUM_WAIT_OBJECTS;
  for (size_t i = 0; i < count; i++) list[i] = ToHandle(handles[i]);
  DWORD r = WaitForMultipleObjectsEx(static_cast<DWORD>(count), list, FALSE, WaitMs(deadlineNs), FALSE);
  if (r < WAIT_OBJECT_0 + count) return static_cast<int>(r - WAIT_OBJECT_0);
  if (r >= WAIT_ABANDONED_0 && r < WAIT_ABANDONED_0 + count) return static_cast<int>(r - WAIT_ABANDONED_0);
  if (r == WAIT_TIMEOUT) return kHandlesTimedOut;  // the caller compares with its deadline
  err->set("WaitForMultipleObjectsEx", static_cast<int>(GetLastError()));
  return kHandlesFailed;
}

uint64_t MakeEvent(OsError* err) {
  HANDLE event = CreateEventW(nullptr, FALSE, FALSE, nullptr);
  if (event == nullptr) {
    err->set("CreateEventW", static_cast<int>(GetLastError()));
    return 0;
  }
  return reinterpret_cast<uintptr_t>(event);
}

void SignalEvent(uint64_t handle) { SetEvent(ToHandle(handle)); }

bool DuplicateHere(uint64_t value, uint64_t* copy, OsError* err) {
  HANDLE self = GetCurrentProcess();
  HANDLE duplicate = nullptr;
  if (!DuplicateHandle(self, ToHandle(value), self, &duplicate, 0, FALSE, DUPLICATE_SAME_ACCESS)) {
    err->set("DuplicateHandle", static_cast<int>(GetLastError()));
    return false;
  }
  *copy = reinterpret_cast<uintptr_t>(duplicate);
  return true;
}

std::string OsSemaphore::DuplicateInto(int pid, OsError* err) {
  return DuplicateHandleInto(reinterpret_cast<uintptr_t>(impl_->handle), pid, err);
}

std::string DuplicateHandleInto(uint64_t handle, int pid, OsError* err) {
  HANDLE target = OpenProcess(PROCESS_DUP_HANDLE, FALSE, static_cast<DWORD>(pid));
  if (target == nullptr) {
    err->set("OpenProcess", static_cast<int>(GetLastError()));
    return std::string();
  }
  HANDLE remote = nullptr;
  BOOL ok =
      DuplicateHandle(GetCurrentProcess(), ToHandle(handle), target, &remote, 0, FALSE, DUPLICATE_SAME_ACCESS);
  DWORD code = GetLastError();
  CloseHandle(target);
  if (!ok) {
    err->set("DuplicateHandle", static_cast<int>(code));
    return std::string();
  }
  return std::to_string(reinterpret_cast<uintptr_t>(remote));
}

// A UTF-8 string as the UTF-16 the W functions take (with its terminator).
static bool Utf16Of(const std::string& utf8, std::wstring* out, OsError* err) {
  int wide = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8.c_str(), -1, nullptr, 0);
  if (wide <= 0) {
    err->set("MultiByteToWideChar", static_cast<int>(GetLastError()));
    return false;
  }
  out->assign(static_cast<size_t>(wide), L'\0');
  if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, utf8.c_str(), -1, &(*out)[0], wide) != wide) {
    err->set("MultiByteToWideChar", static_cast<int>(GetLastError()));
    return false;
  }
  return true;
}

// --- lock files ------------------------------------------------------------------------------------------------

int64_t OpenLockFile(const std::string& path, bool create, bool exclusive, OsError* err) {
  std::wstring wide;
  if (!Utf16Of(path, &wide, err)) return -1;
  DWORD disposition = !create ? OPEN_EXISTING : exclusive ? CREATE_NEW : OPEN_ALWAYS;
  // Shared for reading and writing (every user opens it); not for deletion: a name in use cannot be removed.
  HANDLE h = CreateFileW(wide.c_str(), GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, nullptr,
                         disposition, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    err->set("CreateFileW", static_cast<int>(GetLastError()));
    return -1;
  }
  return static_cast<int64_t>(reinterpret_cast<uintptr_t>(h));
}

WaitResult LockFile(uint64_t file, bool wait, OsError* err) {
  OVERLAPPED at = {};
  DWORD flags = LOCKFILE_EXCLUSIVE_LOCK | (wait ? 0 : LOCKFILE_FAIL_IMMEDIATELY);
  if (LockFileEx(ToHandle(file), flags, 0, 1, 0, &at)) return WaitResult::Acquired;
  DWORD code = GetLastError();
  if (!wait && code == ERROR_LOCK_VIOLATION) return WaitResult::TimedOut;
  err->set("LockFileEx", static_cast<int>(code));
  return WaitResult::Failed;
}

bool UnlockFile(uint64_t file, OsError* err) {
  OVERLAPPED at = {};
  if (UnlockFileEx(ToHandle(file), 0, 1, 0, &at)) return true;
  err->set("UnlockFileEx", static_cast<int>(GetLastError()));
  return false;
}

int ReadLockMark(uint64_t file, OsError* err) {
  OVERLAPPED at = {};
  uint8_t mark = 0;
  DWORD n = 0;
  if (!ReadFile(ToHandle(file), &mark, 1, &n, &at)) {
    DWORD code = GetLastError();
    if (code == ERROR_HANDLE_EOF) return 0;
    err->set("ReadFile", static_cast<int>(code));
    return -1;
  }
  return n == 0 ? 0 : mark;
}

bool WriteLockMark(uint64_t file, uint8_t mark, OsError* err) {
  OVERLAPPED at = {};
  DWORD n = 0;
  if (WriteFile(ToHandle(file), &mark, 1, &n, &at) && n == 1) return true;
  err->set("WriteFile", static_cast<int>(GetLastError()));
  return false;
}

// --- queue pipes ----------------------------------------------------------------------------------------------

bool MakeNamedPipe(const std::string& name, uint32_t capacity, uint64_t ends[2], OsError* err) {
  std::wstring path;
  if (!Utf16Of(name, &path, err)) return false;
  HANDLE reader = CreateNamedPipeW(path.c_str(), PIPE_ACCESS_INBOUND | FILE_FLAG_FIRST_PIPE_INSTANCE,
                                   PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, 1, 0,
                                   capacity, 0, nullptr);
  if (reader == INVALID_HANDLE_VALUE) {
    err->set("CreateNamedPipeW", static_cast<int>(GetLastError()));
    return false;
  }
  // FILE_WRITE_ATTRIBUTES lets SetNamedPipeHandleState change the mode of this end.
  HANDLE writer = CreateFileW(path.c_str(), GENERIC_WRITE | FILE_WRITE_ATTRIBUTES, 0, nullptr, OPEN_EXISTING, 0,
                              nullptr);
  if (writer == INVALID_HANDLE_VALUE) {
    err->set("CreateFileW", static_cast<int>(GetLastError()));
    CloseHandle(reader);
    return false;
  }
  const char* failed = nullptr;
  DWORD code = 0;
  // The client is connected already: the server end reports ERROR_PIPE_CONNECTED, which is success here.
  if (!ConnectNamedPipe(reader, nullptr) && (code = GetLastError()) != ERROR_PIPE_CONNECTED) failed = "ConnectNamedPipe";
  DWORD mode = PIPE_READMODE_BYTE | PIPE_NOWAIT;
  if (!failed && !SetNamedPipeHandleState(writer, &mode, nullptr, nullptr)) {
    failed = "SetNamedPipeHandleState";
    code = GetLastError();
  }
  if (failed) {
    err->set(failed, static_cast<int>(code));
    CloseHandle(writer);
    CloseHandle(reader);
    return false;
  }
  ends[0] = reinterpret_cast<uintptr_t>(reader);
  ends[1] = reinterpret_cast<uintptr_t>(writer);
  return true;
}

// Bytes waiting in the pipe; -1 (no error set) once every writer is gone, -2 on failure.
static int64_t Available(HANDLE h, OsError* err) {
  DWORD avail = 0;
  if (PeekNamedPipe(h, nullptr, 0, nullptr, &avail, nullptr)) return avail;
  DWORD code = GetLastError();
  if (code == ERROR_BROKEN_PIPE) return -1;
  err->set("PeekNamedPipe", static_cast<int>(code));
  return -2;
}

int64_t PipeAvailable(uint64_t handle, OsError* err) {
  int64_t avail = Available(ToHandle(handle), err);
  return avail == -2 ? 0 : avail;
}

int64_t PipeBufferSize(uint64_t readHandle, OsError* err) {
  DWORD inSize = 0;
  if (!GetNamedPipeInfo(ToHandle(readHandle), nullptr, nullptr, &inSize, nullptr)) {
    err->set("GetNamedPipeInfo", static_cast<int>(GetLastError()));
    return 0;
  }
  return inSize;
}

int64_t ReadPipe(uint64_t handle, void* buf, size_t length, OsError* err) {
  HANDLE h = ToHandle(handle);
  int64_t avail = Available(h, err);
  if (avail == -1) return 0;  // end of file
  if (avail < 0) return -1;
  if (avail == 0) return kWouldBlock;
  // Never more than is there: a synchronous ReadFile then returns at once.
  DWORD want = static_cast<DWORD>(std::min<uint64_t>(length, static_cast<uint64_t>(avail)));
  DWORD got = 0;
  if (!ReadFile(h, buf, want, &got, nullptr)) {
    DWORD code = GetLastError();
    if (code == ERROR_BROKEN_PIPE) return 0;
    err->set("ReadFile", static_cast<int>(code));
    return -1;
  }
  return got;
}

int64_t WritePipe(uint64_t handle, const void* buf, size_t length, OsError* err) {
  DWORD put = 0;
  DWORD want = static_cast<DWORD>(std::min<size_t>(length, MAXDWORD));
  if (!WriteFile(ToHandle(handle), buf, want, &put, nullptr)) {
    err->set("WriteFile", static_cast<int>(GetLastError()));
    return -1;
  }
  return put == 0 && want > 0 ? kWouldBlock : put;
}

WaitResult PipeReady(uint64_t handle, OsError* err) {
  int64_t avail = Available(ToHandle(handle), err);
  if (avail == -2) return WaitResult::Failed;
  return avail != 0 ? WaitResult::Acquired : WaitResult::TimedOut;  // bytes, or the end of the file
}

WaitResult PollPipe(uint64_t handle, int64_t deadlineNs, OsError* err) {
  for (int looks = 0;; looks++) {
    WaitResult r = PipeReady(handle, err);
    if (r != WaitResult::TimedOut) return r;
    if (deadlineNs != kNoDeadline && MonotonicNs() >= deadlineNs) return WaitResult::TimedOut;
    // A writer that is mid-frame usually comes back within microseconds: yield a few times before sleeping.
    Sleep(looks < 16 ? 0 : 1);
  }
}

bool CloseHandleValue(uint64_t handle, OsError* err) {
  if (!CloseHandle(ToHandle(handle))) {
    err->set("CloseHandle", static_cast<int>(GetLastError()));
    return false;
  }
  return true;
}

bool PinThisModule(OsError* err) {
  HMODULE module = nullptr;
  if (!GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN,
                          reinterpret_cast<LPCWSTR>(&PinThisModule), &module)) {
    err->set("GetModuleHandleExW", static_cast<int>(GetLastError()));
    return false;
  }
  return true;
}

const char* ErrorName(int code) { return uv_err_name(uv_translate_sys_error(code)); }

std::string ErrorMessage(int code) {
  char buffer[512];
  DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr,
                           static_cast<DWORD>(code), 0, buffer, sizeof(buffer), nullptr);
  while (n > 0 && (buffer[n - 1] == '\r' || buffer[n - 1] == '\n' || buffer[n - 1] == '.')) n--;
  return n > 0 ? std::string(buffer, n) : "Windows error " + std::to_string(code);
}

}  // namespace mp
#endif  // _WIN32
