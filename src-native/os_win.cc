// Windows implementation of os.h: unnamed semaphores handed to children with DuplicateHandle,
// the mechanism of CPython's popen_spawn_win32 / reduction.DupHandle.
#ifdef _WIN32
#include "os.h"

// uv.h first: it includes winsock2.h, which must precede windows.h.
#include <uv.h>
#include <windows.h>

#include <cstdlib>

namespace mp {

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

OsSemaphore::~OsSemaphore() {
  CloseHandle(impl_->handle);
  delete impl_;
}

WaitResult OsSemaphore::Wait(int64_t timeoutMs, OsError* err) {
  const ULONGLONG start = GetTickCount64();
  for (;;) {
    DWORD wait = INFINITE;
    if (timeoutMs >= 0) {
      int64_t left = timeoutMs - static_cast<int64_t>(GetTickCount64() - start);
      if (left < 0) left = 0;
      wait = left >= INFINITE ? INFINITE - 1 : static_cast<DWORD>(left);
    }
    DWORD r = WaitForSingleObjectEx(impl_->handle, wait, FALSE);
    if (r == WAIT_OBJECT_0) return WaitResult::Acquired;
    if (r == WAIT_TIMEOUT) {
      if (timeoutMs >= 0 && static_cast<int64_t>(GetTickCount64() - start) >= timeoutMs) return WaitResult::TimedOut;
      continue;  // a wait longer than one DWORD of milliseconds
    }
    err->set("WaitForSingleObjectEx", static_cast<int>(GetLastError()));
    return WaitResult::Failed;
  }
}

WaitResult OsSemaphore::TryWait(OsError* err) { return Wait(0, err); }

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

std::string OsSemaphore::DuplicateInto(int pid, OsError* err) {
  HANDLE target = OpenProcess(PROCESS_DUP_HANDLE, FALSE, static_cast<DWORD>(pid));
  if (target == nullptr) {
    err->set("OpenProcess", static_cast<int>(GetLastError()));
    return std::string();
  }
  HANDLE remote = nullptr;
  BOOL ok = DuplicateHandle(GetCurrentProcess(), impl_->handle, target, &remote, 0, FALSE, DUPLICATE_SAME_ACCESS);
  DWORD code = GetLastError();
  CloseHandle(target);
  if (!ok) {
    err->set("DuplicateHandle", static_cast<int>(code));
    return std::string();
  }
  return std::to_string(reinterpret_cast<uintptr_t>(remote));
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
