// What the JS bindings share: error mapping, argument checks, the guard that turns C++ exceptions into JS errors,
// the per-environment data, and the port through which the wait hub delivers results to an environment.
#pragma once
#include <napi.h>

#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <system_error>
#include <unordered_map>
#include <unordered_set>

#include "os.h"
#include "wait_hub.h"

namespace mp {

// OsError::code for an object used after close() (not an OS error): JS sees code ERR_MP_CLOSED.
constexpr int kClosedError = -1;

Napi::Error OsErrorToJs(Napi::Env env, const OsError& e);
void ThrowOsError(Napi::Env env, const OsError& e);
// Throws ERR_INVALID_ARG_TYPE unless the arguments have these types; false then.
bool CheckArgs(const Napi::CallbackInfo& info, std::initializer_list<napi_valuetype> types);
// What a call that counts returned, or its failure thrown.
Napi::Value NumberOrThrow(Napi::Env env, int64_t n, const OsError& err);
// A timeout argument in milliseconds as a deadline (os.h DeadlineAfterMs: negative or huge waits forever).
int64_t DeadlineArg(const Napi::CallbackInfo& info, size_t i);

// Calls that run JS fail while an environment is being torn down (a worker terminated). node-addon-api then builds an
// error from the failure, which can end the whole process (a fatal error in Error::New). These call Node-API
// directly instead: an empty result means "stop", with whatever exception Node has pending.
Napi::Object NewInstance(Napi::Env env, const Napi::FunctionReference& constructor);
Napi::Value CallFunction(Napi::Env env, const Napi::FunctionReference& function, std::initializer_list<napi_value> args);
// [first, second] (descriptor pairs and handle pairs); empty where that cannot run JS any more.
Napi::Value Pair(Napi::Env env, double first, double second);
// Sets a property of an error being built; nothing happens where that cannot run JS any more.
void SetQuietly(Napi::Object object, const char* key, napi_value value);
void SetQuietly(Napi::Object object, const char* key, const char* value);

// Runs `body`; a C++ exception (no memory, no thread) becomes a JS error instead of escaping into Node.
void ThrowException(Napi::Env env, std::exception_ptr exception);
template <typename Body>
Napi::Value Guard(Napi::Env env, Body&& body) {
  try {
    return body();
  } catch (...) {
    ThrowException(env, std::current_exception());
    return env.Undefined();
  }
}

// A JS function of the addon, guarded.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value Guarded(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), [&] { return F(info); });
}

// ObjectWrap classes register their methods through Safe<&T::Method>, which guards them.
template <typename T>
class GuardedWrap : public Napi::ObjectWrap<T> {
 public:
  explicit GuardedWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<T>(info) {}

  template <Napi::Value (T::*Method)(const Napi::CallbackInfo&)>
  Napi::Value Safe(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&] { return (static_cast<T*>(this)->*Method)(info); });
  }

  template <Napi::Value (*Method)(const Napi::CallbackInfo&)>
  static Napi::Value SafeStatic(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&] { return Method(info); });
  }
};

// Delivers the hub's finished waits to one JS environment (main thread or worker) through one thread-safe function,
// and calls each wait's callback there. When the environment is torn down (a worker terminated), its pending waits
// are dropped, results on their way are given back, and no thread calls into the environment any more.
class Port : public WaitPort, public std::enable_shared_from_this<Port> {
 public:
  // This environment's port, made on first use.
  static std::shared_ptr<Port> Of(Napi::Env env);

  bool Deliver(std::shared_ptr<HubWait> wait) override;

  // JS thread. Starts `wait`; `callback(err, obtained)` runs here when it ends. Returns its id, or 0 with err set.
  uint64_t Start(Napi::Env env, const std::shared_ptr<HubWait>& wait, Napi::Function callback, OsError* err);
  // JS thread. True: the wait is dropped and its callback will not run. False: its result is on its way.
  bool Cancel(Napi::Env env, uint64_t id);
  // JS thread. Ends a pending wait with `err` (delivered as usual); false when it is no longer pending.
  bool Fail(uint64_t id, const OsError& err);
  bool Pending(uint64_t id) const { return entries_.count(id) != 0; }

 private:
  struct Entry {
    std::shared_ptr<HubWait> wait;
    Napi::FunctionReference callback;
  };

  static void CallJs(napi_env env, napi_value, void* context, void* data);
  static void Cleanup(void* arg);
  void Forget(Napi::Env env, std::unordered_map<uint64_t, Entry>::iterator entry);

  std::mutex mutex_;  // guards closed_ and calls of tsfn_ from hub threads
  bool closed_ = false;
  napi_threadsafe_function tsfn_ = nullptr;
  // JS thread only
  std::unordered_map<uint64_t, Entry> entries_;
  uint64_t next_ = 0;
  bool referenced_ = false;
};

// Per-environment (main thread or worker) state.
struct AddonData {
  Napi::FunctionReference semaphore;
  std::shared_ptr<Port> port;
  // Descriptors (handles) of this environment's queues: closed with it if nobody closed them first, since a
  // terminated worker runs no more JS (descriptors.cc).
  std::unordered_set<uint64_t> owned;
  // Children this environment started and has not reaped, pid -> pidfd: reaped by a thread of their own if the
  // environment goes first (children.cc).
  std::unordered_map<int, int> children;
};

Napi::Function InitSemaphore(Napi::Env env);
void InitDescriptors(Napi::Env env, Napi::Object exports);
void InitSharedMemory(Napi::Env env, Napi::Object exports);  // shared_memory.cc
void InitChildren(Napi::Env env, Napi::Object exports);      // children.cc

}  // namespace mp
