// Shared memory for JS (lib/shared_memory.ts): named segments mapped into this process, and waits on their words
// that other processes wake. The OS calls are in shm_posix.cc and shm_win.cc; the JS functions in shared_memory.cc.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "os.h"

namespace mp {

// One mapping of a segment in this process. It stays mapped while anything holds it: the ArrayBuffer made over it
// (released by the buffer's finalizer, which detaching triggers too) and any hub wait on one of its words. POSIX:
// the descriptor stays open with a shared flock on it while mapped, so the resource tracker can tell whether any
// process still uses the segment (UnlinkUnused).
class OsMapping {
 public:
  // Creates the segment `name` (it must not exist) of `size` bytes, zero-filled, mode 0600, and maps it.
  // keepDescriptor false (POSIX): the descriptor is closed once mapped, with no shared lock — for segments whose name
  // the library removes itself (kill-safe locks), which UnlinkUnused never looks at. Windows keeps its handle.
  static std::shared_ptr<OsMapping> Create(const std::string& name, size_t size, OsError* err,
                                           bool keepDescriptor = true);
  // Maps the existing segment `name`, all of it.
  static std::shared_ptr<OsMapping> Open(const std::string& name, OsError* err, bool keepDescriptor = true);
  // Removes the name (POSIX shm_unlink); whoever has it mapped keeps it. Windows: nothing to do (false, ENOSYS-free).
  static bool Unlink(const std::string& name, OsError* err);
  // The resource tracker's removal: unlinks `name` unless some process has it mapped. 1: removed, 0: in use (left
  // alone), -1: failed (err set; ENOENT when it is gone already).
  static int UnlinkUnused(const std::string& name, OsError* err);
  // POSIX: a descriptor of `name` with a shared lock on it, so that UnlinkUnused elsewhere leaves it alone while the
  // caller (the resource tracker of the tree that created or attached it) keeps it open; -1 with err set on failure.
  static int64_t Hold(const std::string& name, OsError* err);
  // The mapping that contains [address, address + length), or null. Any thread.
  static std::shared_ptr<OsMapping> Containing(const void* address, size_t length);

  ~OsMapping();
  OsMapping(const OsMapping&) = delete;
  OsMapping& operator=(const OsMapping&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

  struct Handle;  // the platform's descriptor or handle

  // For the platform files: wraps a new mapping (registered for Containing); its destructor calls Forget first.
  static std::shared_ptr<OsMapping> Adopt(uint8_t* data, size_t size, Handle* handle);
  static void Forget(const uint8_t* data);

 private:
  OsMapping(uint8_t* data, size_t size, Handle* handle) : data_(data), size_(size), handle_(handle) {}
  uint8_t* const data_;
  const size_t size_;
  Handle* const handle_;
};

// Waits on a 32-bit word of shared memory that other processes (and threads) wake with WakeSharedWord, as a futex
// without FUTEX_PRIVATE_FLAG. Where the platform has no wait across processes (macOS, Windows: WaitOnAddress is
// process-local) the word is polled: the wait then ends when the value changes.
enum class WordWaitResult { kWoken, kNotEqual, kTimedOut, kFailed };
WordWaitResult WaitSharedWord(uint32_t* word, uint32_t expected, int64_t deadlineNs, OsError* err);
// Wakes up to `count` waiters; returns how many woke (0 where the platform cannot tell).
int64_t WakeSharedWord(uint32_t* word, int64_t count, OsError* err);
// Whether waits on words are woken by WakeSharedWord (true) or only see a change of value (false).
bool SharedWordWakes();

}  // namespace mp
