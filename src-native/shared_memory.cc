// Shared memory for JS: segments as ArrayBuffers over their mapping, and waits on their words (sync, or through the
// wait hub) that other processes wake. Every rule — names, tracking, types, bounds — lives in lib/shared_memory.ts
// and lib/atomics.ts; this file checks only what keeps memory safe: a word must lie inside a live mapping of ours.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cmath>
#include <map>
#include <mutex>
#include <thread>

#include "binding.h"
#include "shm.h"

namespace mp {

// --- the mappings of this process -------------------------------------------------------------------------------

namespace {
struct Mappings {
  std::mutex mutex;
  std::map<uintptr_t, std::weak_ptr<OsMapping>> byStart;
};
// Leaked on purpose: hub threads may drop mappings while static destructors run at exit.
Mappings& TheMappings() {
  static Mappings* mappings = new Mappings();
  return *mappings;
}
}  // namespace

std::shared_ptr<OsMapping> OsMapping::Adopt(uint8_t* data, size_t size, Handle* handle) {
  std::shared_ptr<OsMapping> mapping(new OsMapping(data, size, handle));
  Mappings& all = TheMappings();
  std::lock_guard<std::mutex> lock(all.mutex);
  all.byStart[reinterpret_cast<uintptr_t>(data)] = mapping;
  return mapping;
}

void OsMapping::Forget(const uint8_t* data) {
  Mappings& all = TheMappings();
  std::lock_guard<std::mutex> lock(all.mutex);
  all.byStart.erase(reinterpret_cast<uintptr_t>(data));
}

std::shared_ptr<OsMapping> OsMapping::Containing(const void* address, size_t length) {
  auto at = reinterpret_cast<uintptr_t>(address);
  Mappings& all = TheMappings();
  std::lock_guard<std::mutex> lock(all.mutex);
  auto after = all.byStart.upper_bound(at);
  if (after == all.byStart.begin()) return nullptr;
  std::shared_ptr<OsMapping> mapping = std::prev(after)->second.lock();
  if (!mapping || at - reinterpret_cast<uintptr_t>(mapping->data()) + length > mapping->size()) return nullptr;
  return mapping;
}

// --- waits on words where the platform has no futex across processes: polled ----------------------------------

#if !defined(__linux__) || defined(MULTIPROC_EMULATE_DARWIN)
bool SharedWordWakes() { return false; }

// From 20 µs, twice as long each time nothing changed, up to 5 ms.
WordWaitResult WaitSharedWord(uint32_t* word, uint32_t expected, int64_t deadlineNs, OsError*) {
  auto* atomic = reinterpret_cast<std::atomic<uint32_t>*>(word);
  if (atomic->load() != expected) return WordWaitResult::kNotEqual;
  int64_t sleepNs = 20000;
  for (;;) {
    int64_t now = MonotonicNs();
    if (deadlineNs != kNoDeadline && now >= deadlineNs) return WordWaitResult::kTimedOut;
    int64_t nap = deadlineNs == kNoDeadline ? sleepNs : std::min(sleepNs, deadlineNs - now);
    std::this_thread::sleep_for(std::chrono::nanoseconds(nap));
    if (atomic->load() != expected) return WordWaitResult::kWoken;
    sleepNs = std::min<int64_t>(sleepNs * 2, 5000000);
  }
}

int64_t WakeSharedWord(uint32_t*, int64_t, OsError*) { return 0; }
#endif
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "a word must be a plain 32-bit word");

namespace {

// An async wait on one word: its own group of the hub (a notify wakes a number of waits, not of processes), never
// lingering (a lingering sleeper would swallow a notify meant for a waiter). It keeps the mapping while it may sleep.
class WordWait : public HubWait {
 public:
  WordWait(std::shared_ptr<WaitPort> port, int64_t deadlineNs, std::shared_ptr<OsMapping> mapping, uint32_t* word,
           uint32_t expected)
      : HubWait(std::move(port), deadlineNs), mapping_(std::move(mapping)), word_(word), expected_(expected) {}

  WaitTarget Target() const override {
    WaitTarget target;
    if (SharedWordWakes()) {
      target.kind = WaitTarget::kWord;
      target.word = word_;
      target.shared = true;
      target.sleepValue = expected_;
    }
    return target;
  }
  const void* Key() const override { return this; }
  bool Lingers() const override { return false; }
  bool WakeAllHarmless() const override { return false; }
  void Woken() override { woken_ = true; }

  // Ends with "ok" once woken, or once the value is no longer the expected one (its thread cannot sleep on it then).
  WaitResult TryTake(OsError*) override {
    if (woken_ || reinterpret_cast<std::atomic<uint32_t>*>(word_)->load() != expected_) return WaitResult::Acquired;
    return WaitResult::TimedOut;
  }

  // A notify this wait received and nobody will see (its environment is gone, or it was cancelled as it came):
  // another waiter gets it, once.
  void GiveBack() override {
    if (woken_) PassWake();
  }
  // The word was woken for this wait's sleep: unless the wait ended with it, the wake goes on.
  void PassOn(bool) override {
    if (state.load() != kDone || result != WaitResult::Acquired) PassWake();
  }

 private:
  void PassWake() {
    if (passed_.exchange(true)) return;
    OsError ignored;
    WakeSharedWord(word_, 1, &ignored);
  }

  const std::shared_ptr<OsMapping> mapping_;
  uint32_t* const word_;
  const uint32_t expected_;
  bool woken_ = false;  // under the hub's lock
  std::atomic<bool> passed_{false};
};

Napi::Error TypedError(Napi::Env env, const std::string& message, const char* code, bool typeError) {
  Napi::Error error = typeError ? Napi::TypeError::New(env, message) : Napi::Error::New(env, message);
  SetQuietly(error.Value(), "code", code);
  return error;
}

// An ArrayBuffer over all of `mapping`; the buffer's finalizer (collected, detached, or its environment gone)
// drops its reference.
Napi::Value BufferOver(Napi::Env env, std::shared_ptr<OsMapping> mapping, const OsError& err) {
  if (!mapping) {
    ThrowOsError(env, err);
    return env.Undefined();
  }
  auto* hint = new std::shared_ptr<OsMapping>(mapping);
  napi_value raw = nullptr;
  // Directly: this fails while the environment is torn down, and node-addon-api would make a fatal error of it.
  if (napi_create_external_arraybuffer(
          env, mapping->data(), mapping->size(),
          [](napi_env, void*, void* hint) { delete static_cast<std::shared_ptr<OsMapping>*>(hint); }, hint,
          &raw) != napi_ok) {
    delete hint;
    return env.Undefined();
  }
  return Napi::Value(env, raw);
}

// shmCreate(name, size, keepDescriptor = true) -> ArrayBuffer over the new segment
Napi::Value ShmCreate(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_string, napi_number})) return info.Env().Undefined();
  bool keep = !(info.Length() > 2 && info[2].IsBoolean() && !info[2].As<Napi::Boolean>().Value());
  double size = info[1].As<Napi::Number>().DoubleValue();
  OsError err;
  if (!(size >= 1 && size <= 9007199254740991.0) || size != std::floor(size)) {
    err.set("shm_open", EINVAL);
    ThrowOsError(info.Env(), err);
    return info.Env().Undefined();
  }
  std::shared_ptr<OsMapping> mapping =
      OsMapping::Create(info[0].As<Napi::String>(), static_cast<size_t>(size), &err, keep);
  return BufferOver(info.Env(), std::move(mapping), err);
}

// shmOpen(name, keepDescriptor = true) -> ArrayBuffer over the existing segment
Napi::Value ShmOpen(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_string})) return info.Env().Undefined();
  bool keep = !(info.Length() > 1 && info[1].IsBoolean() && !info[1].As<Napi::Boolean>().Value());
  OsError err;
  std::shared_ptr<OsMapping> mapping = OsMapping::Open(info[0].As<Napi::String>(), &err, keep);
  return BufferOver(info.Env(), std::move(mapping), err);
}

Napi::Value ShmUnlink(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_string})) return info.Env().Undefined();
  OsError err;
  if (!OsMapping::Unlink(info[0].As<Napi::String>(), &err)) ThrowOsError(info.Env(), err);
  return info.Env().Undefined();
}

// shmUnlinkUnused(name) -> true when removed, false when a process still has it mapped
Napi::Value ShmUnlinkUnused(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_string})) return info.Env().Undefined();
  OsError err;
  int r = OsMapping::UnlinkUnused(info[0].As<Napi::String>(), &err);
  if (r < 0) {
    ThrowOsError(info.Env(), err);
    return info.Env().Undefined();
  }
  return Napi::Boolean::New(info.Env(), r == 1);
}

// shmHold(name) -> a descriptor with a shared lock on the segment (the resource tracker's hold on it)
Napi::Value ShmHold(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_string})) return info.Env().Undefined();
  OsError err;
  int64_t fd = OsMapping::Hold(info[0].As<Napi::String>(), &err);
  return NumberOrThrow(info.Env(), fd, err);
}

// shmDetach(buffer): detaches an ArrayBuffer made by shmCreate/shmOpen; its views then see no memory at all.
Napi::Value ShmDetach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) {
    TypedError(env, "multiproc native: argument 0 must be an ArrayBuffer", "ERR_INVALID_ARG_TYPE", true)
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  if (buffer.IsDetached()) return env.Undefined();
  std::shared_ptr<OsMapping> mapping = OsMapping::Containing(buffer.Data(), buffer.ByteLength());
  if (!mapping || mapping->data() != buffer.Data()) {
    TypedError(env, "multiproc native: not a buffer over shared memory", "ERR_INVALID_ARG_TYPE", true)
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  buffer.Detach();
  return env.Undefined();
}

// The word `index` of an Int32Array over a live mapping of ours, with that mapping; null (a JS error pending) else.
uint32_t* WordArg(const Napi::CallbackInfo& info, std::shared_ptr<OsMapping>* mapping) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || !info[1].IsNumber()) {
    TypedError(env, "multiproc native: expected an Int32Array and an index", "ERR_INVALID_ARG_TYPE", true)
        .ThrowAsJavaScriptException();
    return nullptr;
  }
  Napi::Int32Array view = info[0].As<Napi::Int32Array>();
  double index = info[1].As<Napi::Number>().DoubleValue();
  if (!(index >= 0 && index < static_cast<double>(view.ElementLength())) || index != std::floor(index)) {
    TypedError(env, "multiproc native: index out of range", "ERR_OUT_OF_RANGE", false).ThrowAsJavaScriptException();
    return nullptr;
  }
  int32_t* word = view.Data() + static_cast<size_t>(index);
  *mapping = OsMapping::Containing(word, sizeof(int32_t));
  if (!*mapping) {
    TypedError(env, "multiproc native: the Int32Array is not over open shared memory", "ERR_MP_CLOSED", false)
        .ThrowAsJavaScriptException();
    return nullptr;
  }
  return reinterpret_cast<uint32_t*>(word);
}

// wordWait(view, index, expected, timeoutMs) -> 0 "ok", 1 "not-equal", 2 "timed-out"; blocks this thread
Napi::Value WordWaitSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<OsMapping> mapping;
  uint32_t* word = WordArg(info, &mapping);
  if (word == nullptr || !CheckArgs(info, {napi_object, napi_number, napi_number, napi_number})) return env.Undefined();
  OsError err;
  WordWaitResult r = WaitSharedWord(word, static_cast<uint32_t>(info[2].As<Napi::Number>().Int32Value()),
                                    DeadlineArg(info, 3), &err);
  if (r == WordWaitResult::kFailed) {
    ThrowOsError(env, err);
    return env.Undefined();
  }
  return Napi::Number::New(env, r == WordWaitResult::kWoken ? 0 : r == WordWaitResult::kNotEqual ? 1 : 2);
}

// wordWaitAsync(view, index, expected, timeoutMs, callback) -> id; callback(err, woken) on this thread unless
// cancelWait(id) wins first. The caller has seen the word hold `expected`.
Napi::Value WordWaitAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<OsMapping> mapping;
  uint32_t* word = WordArg(info, &mapping);
  if (word == nullptr || !CheckArgs(info, {napi_object, napi_number, napi_number, napi_number, napi_function})) {
    return env.Undefined();
  }
  std::shared_ptr<Port> port = Port::Of(env);
  if (!port) return env.Undefined();
  auto wait = std::make_shared<WordWait>(port, DeadlineArg(info, 3), std::move(mapping), word,
                                         static_cast<uint32_t>(info[2].As<Napi::Number>().Int32Value()));
  OsError err;
  uint64_t id = port->Start(env, wait, info[4].As<Napi::Function>(), &err);
  if (id == 0) {
    ThrowOsError(env, err);
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(id));
}

// wordNotify(view, index, count) -> how many waiters woke (0 where the platform cannot tell)
Napi::Value WordNotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<OsMapping> mapping;
  uint32_t* word = WordArg(info, &mapping);
  if (word == nullptr || !CheckArgs(info, {napi_object, napi_number, napi_number})) return env.Undefined();
  double count = info[2].As<Napi::Number>().DoubleValue();
  OsError err;
  int64_t woken = WakeSharedWord(word, count >= 9.2e18 ? INT64_MAX : static_cast<int64_t>(std::max(0.0, count)), &err);
  return NumberOrThrow(env, woken, err);
}

}  // namespace

void InitSharedMemory(Napi::Env env, Napi::Object exports) {
  exports.Set("shmCreate", Napi::Function::New<Guarded<ShmCreate>>(env, "shmCreate"));
  exports.Set("shmOpen", Napi::Function::New<Guarded<ShmOpen>>(env, "shmOpen"));
  exports.Set("shmUnlink", Napi::Function::New<Guarded<ShmUnlink>>(env, "shmUnlink"));
  exports.Set("shmUnlinkUnused", Napi::Function::New<Guarded<ShmUnlinkUnused>>(env, "shmUnlinkUnused"));
  exports.Set("shmHold", Napi::Function::New<Guarded<ShmHold>>(env, "shmHold"));
  exports.Set("shmDetach", Napi::Function::New<Guarded<ShmDetach>>(env, "shmDetach"));
  exports.Set("wordWait", Napi::Function::New<Guarded<WordWaitSync>>(env, "wordWait"));
  exports.Set("wordWaitAsync", Napi::Function::New<Guarded<WordWaitAsync>>(env, "wordWaitAsync"));
  exports.Set("wordNotify", Napi::Function::New<Guarded<WordNotify>>(env, "wordNotify"));
  exports.Set("sharedWordWakes", Napi::Boolean::New(env, SharedWordWakes()));
}

}  // namespace mp
