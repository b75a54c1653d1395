// JS bindings for os.h. Thin on purpose: argument checks, error mapping, and the port through which the wait hub
// (wait_hub.h) lets async waits wait without blocking the event loop or the libuv thread pool. Every rule lives in
// lib/. Semaphores are in semaphore.cc, descriptors and pipes in descriptors.cc.
#include "binding.h"

#include <cmath>
#include <map>
#include <mutex>
#include <string>

namespace mp {

Napi::Error OsErrorToJs(Napi::Env env, const OsError& e) {
  if (e.code == kClosedError) {
    Napi::Error error = Napi::Error::New(env, std::string("multiproc native: ") + e.syscall + " is closed");
    SetQuietly(error.Value(), "code", "ERR_MP_CLOSED");
    return error;
  }
  std::string message = std::string(e.syscall) + " failed: " + ErrorMessage(e.code) + " (" + ErrorName(e.code) + ")";
  Napi::Error error = Napi::Error::New(env, message);
  SetQuietly(error.Value(), "code", ErrorName(e.code));
  SetQuietly(error.Value(), "errno", Napi::Number::New(env, e.code));
  SetQuietly(error.Value(), "syscall", e.syscall);
  return error;
}

void ThrowOsError(Napi::Env env, const OsError& e) { OsErrorToJs(env, e).ThrowAsJavaScriptException(); }

void ThrowException(Napi::Env env, std::exception_ptr exception) {
  OsError err;
  try {
    std::rethrow_exception(exception);
  } catch (const std::bad_alloc&) {
    err.set("malloc", ENOMEM);
  } catch (const std::system_error& e) {  // std::thread and std::mutex report errno values
    err.set("pthread_create", e.code().value());
  } catch (...) {
    err.set("multiproc native", EIO);
  }
  if (!env.IsExceptionPending()) ThrowOsError(env, err);
}

bool CheckArgs(const Napi::CallbackInfo& info, std::initializer_list<napi_valuetype> types) {
  size_t i = 0;
  for (napi_valuetype type : types) {
    if (info.Length() <= i || info[i].Type() != type) {
      Napi::TypeError error =
          Napi::TypeError::New(info.Env(), "multiproc native: argument " + std::to_string(i) + " has the wrong type");
      SetQuietly(error.Value(), "code", "ERR_INVALID_ARG_TYPE");
      error.ThrowAsJavaScriptException();
      return false;
    }
    i++;
  }
  return true;
}

Napi::Value NumberOrThrow(Napi::Env env, int64_t n, const OsError& err) {
  if (err.failed()) {
    ThrowOsError(env, err);
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

Napi::Object NewInstance(Napi::Env env, const Napi::FunctionReference& constructor) {
  napi_value result = nullptr;
  if (napi_new_instance(env, constructor.Value(), 0, nullptr, &result) != napi_ok) return Napi::Object();
  return Napi::Object(env, result);
}

Napi::Value CallFunction(Napi::Env env, const Napi::FunctionReference& function, std::initializer_list<napi_value> args) {
  napi_value result = nullptr;
  if (napi_call_function(env, env.Undefined(), function.Value(), args.size(), args.begin(), &result) != napi_ok) {
    return Napi::Value();
  }
  return Napi::Value(env, result);
}

Napi::Value Pair(Napi::Env env, double first, double second) {
  napi_value array = nullptr;
  if (napi_create_array_with_length(env, 2, &array) != napi_ok ||
      napi_set_element(env, array, 0, Napi::Number::New(env, first)) != napi_ok ||
      napi_set_element(env, array, 1, Napi::Number::New(env, second)) != napi_ok) {
    return Napi::Value();
  }
  return Napi::Value(env, array);
}

void SetQuietly(Napi::Object object, const char* key, napi_value value) {
  napi_set_named_property(object.Env(), object, key, value);
}

void SetQuietly(Napi::Object object, const char* key, const char* value) {
  SetQuietly(object, key, Napi::String::New(object.Env(), value));
}

int64_t DeadlineArg(const Napi::CallbackInfo& info, size_t i) {
  return DeadlineAfterMs(info[i].As<Napi::Number>().DoubleValue());
}

// --- the port ---------------------------------------------------------------------------------------------------

std::shared_ptr<Port> Port::Of(Napi::Env env) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data->port) return data->port;
  auto port = std::make_shared<Port>();
  auto* context = new std::shared_ptr<Port>(port);  // the thread-safe function's own reference
  napi_status status = napi_create_threadsafe_function(
      env, nullptr, nullptr, Napi::String::New(env, "multiproc.wait"), 0, 1, context,
      [](napi_env, void* context, void*) { delete static_cast<std::shared_ptr<Port>*>(context); }, context, CallJs,
      &port->tsfn_);
  if (status != napi_ok) {
    delete context;
    NAPI_THROW(Napi::Error::New(env, "multiproc native: cannot create a thread-safe function"), nullptr);
  }
  napi_unref_threadsafe_function(env, port->tsfn_);  // referenced only while waits are pending
  // Added after the thread-safe function, so it runs before that function's own teardown.
  auto* hooked = new std::shared_ptr<Port>(port);
  if (napi_add_env_cleanup_hook(env, Cleanup, hooked) != napi_ok) {
    delete hooked;
    napi_release_threadsafe_function(port->tsfn_, napi_tsfn_abort);
    NAPI_THROW(Napi::Error::New(env, "multiproc native: cannot watch the environment's teardown"), nullptr);
  }
  data->port = port;
  return port;
}

// The environment is going away (a worker terminated, or the process exits): hub threads must not call into it
// again, its pending waits are dropped, and results already queued are given back by CallJs without an env.
void Port::Cleanup(void* arg) {
  std::shared_ptr<Port> self = std::move(*static_cast<std::shared_ptr<Port>*>(arg));
  delete static_cast<std::shared_ptr<Port>*>(arg);
  {
    std::lock_guard<std::mutex> lock(self->mutex_);
    self->closed_ = true;
  }
  HubPurge(self.get());
  self->entries_.clear();
  napi_release_threadsafe_function(self->tsfn_, napi_tsfn_abort);
}

bool Port::Deliver(std::shared_ptr<HubWait> wait) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_) return false;
  auto* carried = new (std::nothrow) std::shared_ptr<HubWait>(std::move(wait));
  if (carried == nullptr) return false;
  if (napi_call_threadsafe_function(tsfn_, carried, napi_tsfn_nonblocking) != napi_ok) {  // napi_closing
    delete carried;
    return false;
  }
  return true;
}

void Port::CallJs(napi_env rawEnv, napi_value, void* context, void* data) {
  std::shared_ptr<HubWait> wait = std::move(*static_cast<std::shared_ptr<HubWait>*>(data));
  delete static_cast<std::shared_ptr<HubWait>*>(data);
  Port* self = static_cast<std::shared_ptr<Port>*>(context)->get();
  auto entry = rawEnv == nullptr ? self->entries_.end() : self->entries_.find(wait->id);
  if (entry == self->entries_.end()) {  // the environment is gone: nobody will use what the wait took
    if (wait->result == WaitResult::Acquired) wait->Undo();
    return;
  }
  Napi::Env env(rawEnv);
  Napi::HandleScope scope(env);
  Napi::FunctionReference callback = std::move(entry->second.callback);
  self->Forget(env, entry);
  Napi::Value accepted;
  if (wait->result == WaitResult::Failed) {
    accepted = CallFunction(env, callback, {OsErrorToJs(env, wait->error).Value(), env.Undefined()});
  } else {
    accepted = CallFunction(env, callback, {env.Null(), Napi::Boolean::New(env, wait->result == WaitResult::Acquired)});
  }
  // A callback that did not return — it could not run (a terminated worker no longer runs JS) or it threw — did
  // not take what the wait obtained: it goes back. A thrown exception stays pending: Node reports it as uncaught.
  if (accepted.IsEmpty() && wait->result == WaitResult::Acquired) wait->Undo();
}

uint64_t Port::Start(Napi::Env env, const std::shared_ptr<HubWait>& wait, Napi::Function callback, OsError* err) {
  uint64_t id = ++next_;
  wait->id = id;
  auto entry = entries_.emplace(id, Entry{wait, Napi::Persistent(callback)}).first;
  bool added = false;
  try {
    added = HubAdd(wait, err);
  } catch (...) {  // no memory: the guard reports it
    entries_.erase(entry);
    throw;
  }
  if (!added) {
    entries_.erase(entry);
    return 0;
  }
  if (!referenced_) {
    napi_ref_threadsafe_function(env, tsfn_);  // a pending wait keeps the event loop alive, as a timer would
    referenced_ = true;
  }
  return id;
}

void Port::Forget(Napi::Env env, std::unordered_map<uint64_t, Entry>::iterator entry) {
  entries_.erase(entry);
  if (entries_.empty() && referenced_) {
    napi_unref_threadsafe_function(env, tsfn_);
    referenced_ = false;
  }
}

bool Port::Cancel(Napi::Env env, uint64_t id) {
  auto entry = entries_.find(id);
  if (entry == entries_.end() || !HubCancel(entry->second.wait)) return false;
  Forget(env, entry);
  return true;
}

bool Port::Fail(uint64_t id, const OsError& err) {
  auto entry = entries_.find(id);
  return entry != entries_.end() && HubFail(entry->second.wait, err);
}

// --- module functions -------------------------------------------------------------------------------------------

// cancelWait(id) -> true when the wait is dropped and its callback will not run
Napi::Value CancelWaitJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number})) return info.Env().Undefined();
  double id = info[0].As<Napi::Number>().DoubleValue();
  AddonData* data = info.Env().GetInstanceData<AddonData>();
  bool cancelled = data->port && id >= 1 && id == std::floor(id) && data->port->Cancel(info.Env(), static_cast<uint64_t>(id));
  return Napi::Boolean::New(info.Env(), cancelled);
}

Napi::Value HubThreadsJs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(HubThreads()));
}

// processExiting(): owned names go now, and semaphores closed from now on skip sem_close (see os.h).
Napi::Value ProcessExitingJs(const Napi::CallbackInfo& info) {
  OsSemaphore::ProcessExiting();
  return info.Env().Undefined();
}

// nameReference(name, delta, created) -> the references every thread of this process holds to a kill-safe
// segment's name after adding `delta` (robust_lock.ts), or -1 when they reached 0 and a thread of this process created
// the name (then the caller removes it). `created` marks the name as made here.
Napi::Value NameReferenceJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_string, napi_number, napi_boolean})) return info.Env().Undefined();
  struct Entry {
    int64_t references = 0;
    bool created = false;
  };
  static std::mutex mutex;
  static std::map<std::string, Entry>* names = new std::map<std::string, Entry>();  // never destroyed: threads may outlive exit
  std::lock_guard<std::mutex> lock(mutex);
  Entry& entry = (*names)[info[0].As<Napi::String>().Utf8Value()];
  entry.references += info[1].As<Napi::Number>().Int64Value();
  entry.created = entry.created || info[2].As<Napi::Boolean>().Value();
  int64_t left = entry.references;
  bool created = entry.created;
  if (left <= 0) names->erase(info[0].As<Napi::String>().Utf8Value());
  return Napi::Number::New(info.Env(), left <= 0 && created ? -1.0 : static_cast<double>(left < 0 ? 0 : left));
}

// setTrackerFd(fd) -> the tracker descriptor in effect for the whole process (the first one given wins)
Napi::Value SetTrackerFdJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number})) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), static_cast<double>(SetTrackerFd(info[0].As<Napi::Number>().Int64Value())));
}

Napi::Value TrackerFdJs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(TrackerFd()));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  OsError pinned;
  if (!PinThisModule(&pinned)) {
    ThrowOsError(env, pinned);
    return exports;
  }
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);  // freed by node-addon-api when the environment goes away
  data->semaphore = Napi::Persistent(InitSemaphore(env));
  exports.Set("Semaphore", data->semaphore.Value());
  Napi::Object features = Napi::Object::New(env);
#if defined(__APPLE__) || defined(MULTIPROC_EMULATE_DARWIN)
  features.Set("semGetValue", false);
  features.Set("semTimedWait", false);
#else
  features.Set("semGetValue", true);
  features.Set("semTimedWait", true);
#endif
  exports.Set("features", features);
#ifdef _WIN32
  exports.Set("platform", "win32");
#else
  exports.Set("platform", "posix");
#endif
  exports.Set("cancelWait", Napi::Function::New<Guarded<CancelWaitJs>>(env, "cancelWait"));
  exports.Set("hubThreads", Napi::Function::New<Guarded<HubThreadsJs>>(env, "hubThreads"));
  exports.Set("processExiting", Napi::Function::New<Guarded<ProcessExitingJs>>(env, "processExiting"));
  exports.Set("nameReference", Napi::Function::New<Guarded<NameReferenceJs>>(env, "nameReference"));
  exports.Set("setTrackerFd", Napi::Function::New<Guarded<SetTrackerFdJs>>(env, "setTrackerFd"));
  exports.Set("trackerFd", Napi::Function::New<Guarded<TrackerFdJs>>(env, "trackerFd"));
  InitDescriptors(env, exports);
  InitSharedMemory(env, exports);
  InitChildren(env, exports);
  return exports;
}

}  // namespace mp

static Napi::Object InitMultiproc(Napi::Env env, Napi::Object exports) {
  mp::Guard(env, [&]() -> Napi::Value { return mp::Init(env, exports); });
  return exports;  // with the error pending, if Init failed
}

NODE_API_MODULE(multiproc, InitMultiproc)
