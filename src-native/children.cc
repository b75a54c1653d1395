// JS bindings for children started without fork() (os.h SpawnChild): spawning, reaping, signalling. POSIX only; the
// JS side (lib/spawn_child.ts) watches each child's pidfd with an FdWatcher and falls back to child_process where
// canSpawnChild() is false.
#include "binding.h"

namespace mp {
namespace {

#ifndef _WIN32
// An argument of the right JS type but the wrong content, reported as CheckArgs reports a wrong type.
void ThrowArgError(Napi::Env env, const std::string& message) {
  Napi::TypeError error = Napi::TypeError::New(env, "multiproc native: " + message);
  SetQuietly(error.Value(), "code", "ERR_INVALID_ARG_TYPE");
  error.ThrowAsJavaScriptException();
}

// A string array argument, checked.
bool StringsArg(const Napi::CallbackInfo& info, size_t i, std::vector<std::string>* out) {
  Napi::Array array = info[i].As<Napi::Array>();
  for (uint32_t k = 0; k < array.Length(); k++) {
    Napi::Value item = array.Get(k);
    if (!item.IsString()) {
      ThrowArgError(info.Env(), "argument " + std::to_string(i) + " must hold strings");
      return false;
    }
    out->push_back(item.As<Napi::String>().Utf8Value());
  }
  return true;
}

// A child nobody here will watch any more: its pidfd closes and a thread of its own reaps it (os.h ReapWhenExited).
void LeaveToReaper(int pid, int pidfd) {
  OsError ignored;  // nothing left to tell: without a thread the child stays a zombie until this process exits
  CloseFd(pidfd, &ignored);
  ReapWhenExited(pid, &ignored);
}

// spawnChild(file, args, env, fds[, newSession]) -> [pid, pidfd]: fds[i] becomes the child's descriptor i.
Napi::Value SpawnChildJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, {napi_string, napi_object, napi_object, napi_object})) return env.Undefined();
  for (size_t i = 1; i < 4; i++) {
    if (!info[i].IsArray()) {
      ThrowArgError(env, "argument " + std::to_string(i) + " must be an array");
      return env.Undefined();
    }
  }
  std::vector<std::string> args, vars;
  if (!StringsArg(info, 1, &args) || !StringsArg(info, 2, &vars)) return env.Undefined();
  std::vector<int> fds;
  Napi::Array fdArray = info[3].As<Napi::Array>();
  for (uint32_t k = 0; k < fdArray.Length(); k++) {
    Napi::Value fd = fdArray.Get(k);
    if (!fd.IsNumber() || fd.As<Napi::Number>().Int32Value() < 0) {
      ThrowArgError(env, "argument 3 must hold descriptors");
      return env.Undefined();
    }
    fds.push_back(fd.As<Napi::Number>().Int32Value());
  }
  bool newSession = false;
  if (info.Length() > 4) {
    if (!info[4].IsBoolean()) {
      ThrowArgError(env, "argument 4 must be a boolean");
      return env.Undefined();
    }
    newSession = info[4].As<Napi::Boolean>();
  }
  int pid = 0, pidfd = -1;
  OsError err;
  if (!SpawnChild(info[0].As<Napi::String>().Utf8Value(), args, vars, fds, newSession, &pid, &pidfd, &err)) {
    ThrowOsError(env, err);
    return env.Undefined();
  }
  Napi::Value pair = Pair(env, pid, pidfd);
  if (pair.IsEmpty()) {  // this environment is going away: nobody will watch the child, which still runs
    LeaveToReaper(pid, pidfd);
  } else {
    env.GetInstanceData<AddonData>()->children[pid] = pidfd;
  }
  return pair;
}

// reapChild(pid) -> [code, signal] once it has exited (code -1 when a signal ended it, signal 0 when not), else null.
// Once it answers (or throws), the child's pidfd is the caller's to close.
Napi::Value ReapChildJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number})) return info.Env().Undefined();
  int pid = info[0].As<Napi::Number>().Int32Value();
  int code = 0, signal = 0;
  OsError err;
  bool reaped = ReapChild(pid, &code, &signal, &err);
  if (reaped || err.failed()) info.Env().GetInstanceData<AddonData>()->children.erase(pid);
  if (reaped) {
    Napi::Value pair = Pair(info.Env(), code, signal);
    return pair.IsEmpty() ? info.Env().Undefined() : pair;
  }
  if (err.failed()) ThrowOsError(info.Env(), err);
  return info.Env().Null();
}

// signalChild(pidfd, signal)
Napi::Value SignalChildJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number, napi_number})) return info.Env().Undefined();
  OsError err;
  if (!SignalChild(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value(), &err)) {
    ThrowOsError(info.Env(), err);
  }
  return info.Env().Undefined();
}

// The environment is going away (a worker thread ended) before some of its children: their watchers are closed by
// now (their hooks came later, so ran first).
void ReapOrphans(void* arg) {
  auto* data = static_cast<AddonData*>(arg);
  for (const auto& [pid, pidfd] : data->children) LeaveToReaper(pid, pidfd);
  data->children.clear();
}
#endif

}  // namespace

void InitChildren(Napi::Env env, Napi::Object exports) {
#ifndef _WIN32
  if (napi_add_env_cleanup_hook(env, ReapOrphans, env.GetInstanceData<AddonData>()) != napi_ok) {
    Napi::Error::New(env, "multiproc native: cannot watch the environment's teardown").ThrowAsJavaScriptException();
    return;
  }
  exports.Set("canSpawnChild", Napi::Boolean::New(env, CanSpawnChild()));
  exports.Set("spawnChild", Napi::Function::New<Guarded<SpawnChildJs>>(env, "spawnChild"));
  exports.Set("reapChild", Napi::Function::New<Guarded<ReapChildJs>>(env, "reapChild"));
  exports.Set("signalChild", Napi::Function::New<Guarded<SignalChildJs>>(env, "signalChild"));
#else
  exports.Set("canSpawnChild", Napi::Boolean::New(env, false));
#endif
}

}  // namespace mp
