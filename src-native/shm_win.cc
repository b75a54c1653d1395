// Windows implementation of shm.h: a named file mapping backed by the paging file. The kernel object lives while
// any process holds a handle to it, so there is nothing to unlink and nothing for a tracker to do. WaitOnAddress
// wakes threads of one process only: words are polled (shared_memory.cc).
#ifdef _WIN32
// uv.h first: it includes winsock2.h, which must precede windows.h.
#include <uv.h>
#include <windows.h>

#include <string>

#include "shm.h"

namespace mp {

struct OsMapping::Handle {
  HANDLE mapping;
};

static std::wstring Wide(const std::string& name, OsError* err) {
  int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, name.c_str(), -1, nullptr, 0);
  if (n <= 0) {
    err->set("MultiByteToWideChar", static_cast<int>(GetLastError()));
    return std::wstring();
  }
  std::wstring wide(static_cast<size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, name.c_str(), -1, &wide[0], n);
  wide.resize(static_cast<size_t>(n - 1));
  return wide;
}

static std::shared_ptr<OsMapping> MapHandle(HANDLE mapping, size_t size, OsError* err) {
  void* data = MapViewOfFile(mapping, FILE_MAP_ALL_ACCESS, 0, 0, size);
  if (data == nullptr) {
    err->set("MapViewOfFile", static_cast<int>(GetLastError()));
    CloseHandle(mapping);
    return nullptr;
  }
  if (size == 0) {  // opened by name: the region's size, rounded up to pages as the system made it
    MEMORY_BASIC_INFORMATION info;
    if (VirtualQuery(data, &info, sizeof info) == 0) {
      err->set("VirtualQuery", static_cast<int>(GetLastError()));
      UnmapViewOfFile(data);
      CloseHandle(mapping);
      return nullptr;
    }
    size = info.RegionSize;
  }
  try {
    return OsMapping::Adopt(static_cast<uint8_t*>(data), size, new OsMapping::Handle{mapping});
  } catch (...) {
    UnmapViewOfFile(data);
    CloseHandle(mapping);
    throw;
  }
}

std::shared_ptr<OsMapping> OsMapping::Create(const std::string& name, size_t size, OsError* err, bool) {
  std::wstring wide = Wide(name, err);
  if (err->failed()) return nullptr;
  if (size == 0) {
    err->set("CreateFileMappingW", ERROR_INVALID_PARAMETER);
    return nullptr;
  }
  uint64_t bytes = size;
  HANDLE mapping = CreateFileMappingW(INVALID_HANDLE_VALUE, nullptr, PAGE_READWRITE, static_cast<DWORD>(bytes >> 32),
                                      static_cast<DWORD>(bytes & 0xffffffffu), wide.c_str());
  if (mapping == nullptr) {
    err->set("CreateFileMappingW", static_cast<int>(GetLastError()));
    return nullptr;
  }
  if (GetLastError() == ERROR_ALREADY_EXISTS) {
    CloseHandle(mapping);
    err->set("CreateFileMappingW", ERROR_ALREADY_EXISTS);
    return nullptr;
  }
  return MapHandle(mapping, size, err);
}

std::shared_ptr<OsMapping> OsMapping::Open(const std::string& name, OsError* err, bool) {
  std::wstring wide = Wide(name, err);
  if (err->failed()) return nullptr;
  HANDLE mapping = OpenFileMappingW(FILE_MAP_ALL_ACCESS, FALSE, wide.c_str());
  if (mapping == nullptr) {
    err->set("OpenFileMappingW", static_cast<int>(GetLastError()));
    return nullptr;
  }
  return MapHandle(mapping, 0, err);
}

bool OsMapping::Unlink(const std::string&, OsError*) { return true; }  // goes with its last handle

int OsMapping::UnlinkUnused(const std::string&, OsError*) { return 1; }

int64_t OsMapping::Hold(const std::string&, OsError* err) {  // no names to keep: handles keep mappings alive
  err->set("shm_open", ERROR_NOT_SUPPORTED);
  return -1;
}

OsMapping::~OsMapping() {
  Forget(data_);
  UnmapViewOfFile(data_);
  CloseHandle(handle_->mapping);
  delete handle_;
}

}  // namespace mp
#endif  // _WIN32
