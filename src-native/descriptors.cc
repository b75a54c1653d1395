// JS bindings for descriptors and pipes: POSIX pipes, sockets and their readiness (uv_poll) for queues, the
// parent watch, and descriptors lent to other threads; Windows queue pipes.
#include <chrono>
#include <thread>

#include "binding.h"

#ifndef _WIN32
#include <uv.h>
#endif

namespace mp {
namespace {

// What an open descriptor of a queue costs besides its number — pipe and socket buffers in the kernel — reported to
// V8 so that dropped queues are collected (and their descriptors closed) long before a process runs out of them.
constexpr int64_t kDescriptorCost = 64 * 1024;

// closeFd/closeHandle of a descriptor this environment owns.
void Disown(Napi::Env env, uint64_t value) {
  if (env.GetInstanceData<AddonData>()->owned.erase(value)) {
    Napi::MemoryManagement::AdjustExternalMemory(env, -kDescriptorCost);
  }
}


// A buffer argument and the [offset, offset + length) range inside it, checked.
bool BufferRange(const Napi::CallbackInfo& info, uint8_t** data, size_t* length) {
  if (!CheckArgs(info, {napi_number, napi_object, napi_number, napi_number})) return false;
  if (!info[1].IsTypedArray()) {
    Napi::TypeError::New(info.Env(), "multiproc native: argument 1 must be a Uint8Array").ThrowAsJavaScriptException();
    return false;
  }
  Napi::Uint8Array buf = info[1].As<Napi::Uint8Array>();
  int64_t offset = info[2].As<Napi::Number>().Int64Value();
  int64_t len = info[3].As<Napi::Number>().Int64Value();
  if (offset < 0 || len < 0 || static_cast<uint64_t>(offset + len) > buf.ByteLength()) {
    Napi::RangeError::New(info.Env(), "multiproc native: range outside the buffer").ThrowAsJavaScriptException();
    return false;
  }
  *data = buf.Data() + offset;
  *length = static_cast<size_t>(len);
  return true;
}

#ifndef _WIN32
// Two new descriptors as [first, second], or the failure thrown.
Napi::Value PairOrThrow(Napi::Env env, bool made, const int fds[2], const OsError& err) {
  if (!made) {
    ThrowOsError(env, err);
    return env.Undefined();
  }
  Napi::Value pair = Pair(env, fds[0], fds[1]);
  if (pair.IsEmpty()) {  // nobody will receive them: this environment is going away
    OsError ignored;
    CloseFd(fds[0], &ignored);
    CloseFd(fds[1], &ignored);
  }
  return pair;
}

Napi::Value Pipe(const Napi::CallbackInfo& info) {
  int fds[2];
  OsError err;
  bool made = MakePipe(fds, &err);
  return PairOrThrow(info.Env(), made, fds, err);
}

// alivePipe() -> the read end of this process's alive pipe (os.h AlivePipe)
Napi::Value AlivePipeJs(const Napi::CallbackInfo& info) {
  OsError err;
  int fd = AlivePipe(&err);
  return NumberOrThrow(info.Env(), fd, err);
}

// mkfifo(path)
Napi::Value MakeFifoJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_string})) return info.Env().Undefined();
  OsError err;
  if (!MakeFifo(info[0].As<Napi::String>().Utf8Value(), &err)) ThrowOsError(info.Env(), err);
  return info.Env().Undefined();
}

// socketPair(capacity[, packets]) -> [receiving end, sending end]
Napi::Value SocketPairJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number})) return info.Env().Undefined();
  bool packets = false;
  if (info.Length() > 1) {
    if (!info[1].IsBoolean()) {
      Napi::TypeError::New(info.Env(), "multiproc native: argument 1 must be a boolean").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    packets = info[1].As<Napi::Boolean>();
  }
  int fds[2];
  OsError err;
  bool made = MakeSocketPair(fds, info[0].As<Napi::Number>().Int32Value(), packets, &err);
  return PairOrThrow(info.Env(), made, fds, err);
}

// setNonBlocking(fd, on) / setCloseOnExec(fd, on)
template <bool (*SetFlag)(int, bool, OsError*)>
Napi::Value SetFdFlagJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number, napi_boolean})) return info.Env().Undefined();
  OsError err;
  if (!SetFlag(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Boolean>(), &err))
    ThrowOsError(info.Env(), err);
  return info.Env().Undefined();
}

Napi::Value CloseFdJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number})) return info.Env().Undefined();
  Disown(info.Env(), static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
  OsError err;
  if (!CloseFd(info[0].As<Napi::Number>().Int32Value(), &err)) ThrowOsError(info.Env(), err);
  return info.Env().Undefined();
}

// poll(fd, forWrite, timeoutMs) -> ready
Napi::Value PollJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number, napi_boolean, napi_number})) return info.Env().Undefined();
  OsError err;
  WaitResult r = PollFd(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Boolean>(), DeadlineArg(info, 2), &err);
  if (r == WaitResult::Failed) {
    ThrowOsError(info.Env(), err);
    return info.Env().Undefined();
  }
  return Napi::Boolean::New(info.Env(), r == WaitResult::Acquired);
}

// read(fd, buf, offset, length) / write(fd, buf, offset, length) / peek(fd, buf, offset, length) -> bytes moved (peek:
// the message's length), or -1 when it would block
template <int64_t (*Move)(int, uint8_t*, size_t, OsError*)>
Napi::Value TransferJs(const Napi::CallbackInfo& info) {
  uint8_t* data;
  size_t length;
  if (!BufferRange(info, &data, &length)) return info.Env().Undefined();
  OsError err;
  int64_t n = Move(info[0].As<Napi::Number>().Int32Value(), data, length, &err);
  return NumberOrThrow(info.Env(), n, err);
}

int64_t ReadInto(int fd, uint8_t* data, size_t length, OsError* err) { return ReadFd(fd, data, length, err); }
int64_t WriteFrom(int fd, uint8_t* data, size_t length, OsError* err) { return WriteFd(fd, data, length, err); }
int64_t PeekInto(int fd, uint8_t* data, size_t length, OsError* err) { return PeekFd(fd, data, length, err); }

// writev(fd, chunks, offset) -> bytes written from byte `offset` of the chunks taken end to end (at most
// kMaxWriteBuffers chunks at a time), or -1 when it would block
Napi::Value WritevJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number, napi_object, napi_number})) return info.Env().Undefined();
  if (!info[1].IsArray()) {
    Napi::TypeError::New(info.Env(), "multiproc native: argument 1 must be an array of Uint8Arrays")
        .ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  Napi::Array chunks = info[1].As<Napi::Array>();
  int64_t skip = info[2].As<Napi::Number>().Int64Value();
  if (skip < 0) {
    Napi::RangeError::New(info.Env(), "multiproc native: negative offset").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  WriteBuffer buffers[kMaxWriteBuffers];
  size_t count = 0;
  for (uint32_t i = 0; i < chunks.Length() && count < kMaxWriteBuffers; i++) {
    Napi::Value chunk = chunks[i];
    if (!chunk.IsTypedArray() || chunk.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      Napi::TypeError::New(info.Env(), "multiproc native: argument 1 must be an array of Uint8Arrays")
          .ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    Napi::Uint8Array bytes = chunk.As<Napi::Uint8Array>();
    size_t length = bytes.ByteLength();
    if (static_cast<uint64_t>(skip) >= length) {
      skip -= static_cast<int64_t>(length);
      continue;
    }
    buffers[count++] = {bytes.Data() + skip, length - static_cast<size_t>(skip)};
    skip = 0;
  }
  if (count == 0) return Napi::Number::New(info.Env(), 0);
  OsError err;
  int64_t n = WriteFdv(info[0].As<Napi::Number>().Int32Value(), buffers, count, &err);
  return NumberOrThrow(info.Env(), n, err);
}

// setPipeCapacity(fd, bytes) -> capacity in effect, or -1 where the platform cannot tell
Napi::Value SetPipeCapacityJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number, napi_number})) return info.Env().Undefined();
  OsError err;
  int64_t r = SetPipeCapacity(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int64Value(), &err);
  return NumberOrThrow(info.Env(), r, err);
}

// Reports an exception thrown by JS called from a libuv callback as uncaught, as Node does for its own callbacks.
void ReportPending(Napi::Env env) {
  if (env.IsExceptionPending()) napi_fatal_exception(env, env.GetAndClearPendingException().Value());
}

// Readiness of a descriptor reported by the event loop itself (uv_poll: epoll/kqueue), without any thread:
// new FdWatcher(fd, forWrite); start(cb[, events]) calls cb(err, events) on the JS thread each time fd is ready until
// stop(). One watcher per descriptor (libuv allows no more): a connection read and written both passes events 3.
// Level-triggered: whoever is called must consume the readiness or stop().
class FdWatcher : public GuardedWrap<FdWatcher> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "FdWatcher", {InstanceMethod("start", &FdWatcher::Safe<&FdWatcher::Start>),
                                          InstanceMethod("stop", &FdWatcher::Safe<&FdWatcher::Stop>),
                                          InstanceMethod("setRef", &FdWatcher::Safe<&FdWatcher::SetRef>),
                                          InstanceMethod("close", &FdWatcher::Safe<&FdWatcher::Close>)});
  }

  explicit FdWatcher(const Napi::CallbackInfo& info) : GuardedWrap<FdWatcher>(info) {
    Guard(info.Env(), [&] { return Construct(info); });
  }

  ~FdWatcher() override { CloseHandle(); }

 private:
  // The uv handle, which outlives this object until libuv closed it. It is closed by close(), by this object's
  // destructor, or by the environment's teardown (an async cleanup hook, so that a terminated worker's loop still
  // runs the close callback before it is closed itself), whichever comes first.
  struct Handle {
    uv_poll_t poll;  // first: libuv's handle pointer is this struct's
    FdWatcher* owner;
    napi_async_cleanup_hook_handle hook = nullptr;
    bool closing = false;
  };

  Napi::Value Construct(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckArgs(info, {napi_number, napi_boolean})) return env.Undefined();
    events_ = info[1].As<Napi::Boolean>() ? UV_WRITABLE : UV_READABLE;
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
      Napi::Error::New(env, "multiproc native: no event loop").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    context_ = std::make_unique<Napi::AsyncContext>(env, "multiproc.FdWatcher");
    auto handle = std::make_unique<Handle>();
    handle->owner = this;
    int r = uv_poll_init(loop, &handle->poll, info[0].As<Napi::Number>().Int32Value());
    if (r < 0) {
      Napi::Error e = Napi::Error::New(env, std::string("uv_poll_init failed: ") + uv_strerror(r));
      SetQuietly(e.Value(), "code", uv_err_name(r));
      e.ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (napi_add_async_cleanup_hook(env, OnTeardown, handle.get(), &handle->hook) != napi_ok) {
      uv_close(reinterpret_cast<uv_handle_t*>(&handle.release()->poll), OnClosed);
      Napi::Error::New(env, "multiproc native: cannot watch the environment's teardown").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    handle_ = handle.release();
    return env.Undefined();
  }

  bool Live(Napi::Env env) {
    if (handle_) return true;
    Napi::Error::New(env, "multiproc native: watcher is closed").ThrowAsJavaScriptException();
    return false;
  }

  // start(callback[, events]): events is UV_READABLE (1) | UV_WRITABLE (2), the constructor's choice by default.
  Napi::Value Start(const Napi::CallbackInfo& info) {
    if (!CheckArgs(info, {napi_function}) || !Live(info.Env())) return info.Env().Undefined();
    int events = events_;
    if (info.Length() > 1) {
      if (!info[1].IsNumber()) {
        Napi::TypeError::New(info.Env(), "multiproc native: argument 1 must be a number").ThrowAsJavaScriptException();
        return info.Env().Undefined();
      }
      events = info[1].As<Napi::Number>().Int32Value();
      if (events == 0 || (events & ~(UV_READABLE | UV_WRITABLE)) != 0) {
        Napi::RangeError::New(info.Env(), "multiproc native: events must be 1, 2 or 3").ThrowAsJavaScriptException();
        return info.Env().Undefined();
      }
    }
    callback_ = Napi::Persistent(info[0].As<Napi::Function>());
    int r = uv_poll_start(&handle_->poll, events, OnReady);
    if (r < 0) {
      callback_.Reset();
      Napi::Error e = Napi::Error::New(info.Env(), std::string("uv_poll_start failed: ") + uv_strerror(r));
      SetQuietly(e.Value(), "code", uv_err_name(r));
      e.ThrowAsJavaScriptException();
    }
    return info.Env().Undefined();
  }

  // Stopped, the watcher holds no reference to JS and keeps no event loop alive.
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (handle_) uv_poll_stop(&handle_->poll);
    callback_.Reset();
    return info.Env().Undefined();
  }

  // Unreferenced, a started watcher still reports readiness but does not keep the event loop alive by itself.
  Napi::Value SetRef(const Napi::CallbackInfo& info) {
    if (!CheckArgs(info, {napi_boolean}) || !Live(info.Env())) return info.Env().Undefined();
    auto* handle = reinterpret_cast<uv_handle_t*>(&handle_->poll);
    if (info[0].As<Napi::Boolean>()) {
      uv_ref(handle);
    } else {
      uv_unref(handle);
    }
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    callback_.Reset();
    CloseHandle();
    return info.Env().Undefined();
  }

  void CloseHandle() {
    if (!handle_) return;
    BeginClose(handle_);
  }

  // uv_close stops polling at once (the descriptor may be closed right after); the handle is freed later.
  static void BeginClose(Handle* handle) {
    if (handle->owner) handle->owner->handle_ = nullptr;
    handle->owner = nullptr;
    if (handle->closing) return;
    handle->closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&handle->poll), OnClosed);
  }

  static void OnClosed(uv_handle_t* raw) {
    auto* handle = reinterpret_cast<Handle*>(raw);
    if (handle->hook) napi_remove_async_cleanup_hook(handle->hook);
    delete handle;
  }

  static void OnTeardown(napi_async_cleanup_hook_handle, void* arg) { BeginClose(static_cast<Handle*>(arg)); }

  static void OnReady(uv_poll_t* poll, int status, int events) {
    FdWatcher* self = reinterpret_cast<Handle*>(poll)->owner;
    if (self == nullptr || self->callback_.IsEmpty()) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    Napi::Value err = env.Null();
    if (status < 0) {
      Napi::Error e = Napi::Error::New(env, std::string("poll failed: ") + uv_strerror(status));
      SetQuietly(e.Value(), "code", uv_err_name(status));
      err = e.Value();
    }
    napi_value args[] = {err, Napi::Number::New(env, events)};
    napi_value result = nullptr;
    // Directly: this fails while the environment is torn down, and node-addon-api would make a fatal error of it.
    if (napi_make_callback(env, *self->context_, env.Global(), self->callback_.Value(), 2, args, &result) == napi_ok) {
      return;
    }
    ReportPending(env);
  }

  Handle* handle_ = nullptr;
  int events_ = 0;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> context_;
};

// watchHangup(fd, graceMs, exitCode, cb): a thread waits until `fd` (the read end of a pipe nobody writes to)
// reports end-of-file, then calls `cb` on the JS thread; if the process is still alive `graceMs` later (its event
// loop blocked in a synchronous wait, say), it exits with `exitCode`. The thread never keeps the loop alive.
Napi::Value WatchHangupJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number, napi_number, napi_number, napi_function})) return info.Env().Undefined();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int64_t graceMs = info[1].As<Napi::Number>().Int64Value();
  int exitCode = info[2].As<Napi::Number>().Int32Value();
  // The callback is unreferenced, so the process may end while the thread still watches; the environment's
  // teardown then frees the thread-safe function, and the thread must no longer call it.
  struct Watch {
    std::mutex mutex;
    bool envGone = false;
    Napi::ThreadSafeFunction callback;
  };
  auto watch = std::make_shared<Watch>();
  watch->callback = Napi::ThreadSafeFunction::New(info.Env(), info[3].As<Napi::Function>(), "multiproc.hangup", 0, 1);
  watch->callback.Unref(info.Env());
  // Added after the thread-safe function, so it runs before that function's own cleanup.
  info.Env().AddCleanupHook([watch]() {
    std::lock_guard<std::mutex> lock(watch->mutex);
    watch->envGone = true;
  });
  try {
    std::thread([fd, graceMs, exitCode, watch]() {
      OsError err;
      bool hungUp = PollFd(fd, false, kNoDeadline, &err) != WaitResult::Failed;  // else not a descriptor we can watch
      {
        std::lock_guard<std::mutex> lock(watch->mutex);
        if (watch->envGone) return;
        if (!hungUp) {
          watch->callback.Release();
          return;
        }
        watch->callback.NonBlockingCall();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(graceMs));
      ExitNow(exitCode);
    }).detach();
  } catch (const std::system_error& e) {
    watch->callback.Release();
    OsError err;
    err.set("pthread_create", e.code().value());
    ThrowOsError(info.Env(), err);
  }
  return info.Env().Undefined();
}
#else
// Windows queue pipes. A handle travels to and from JS as its integer value.
uint64_t HandleArg(const Napi::CallbackInfo& info, size_t i) {
  return static_cast<uint64_t>(info[i].As<Napi::Number>().Int64Value());
}

// pipeCreate(name, capacity) -> [readHandle, writeHandle]
Napi::Value PipeCreateJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_string, napi_number})) return info.Env().Undefined();
  uint64_t ends[2];
  OsError err;
  if (!MakeNamedPipe(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::Number>().Uint32Value(), ends, &err)) {
    ThrowOsError(info.Env(), err);
    return info.Env().Undefined();
  }
  return Pair(info.Env(), static_cast<double>(ends[0]), static_cast<double>(ends[1]));
}

// pipeRead(handle, buf, offset, length) / pipeWrite(...) -> bytes moved (read: 0 at end of file), or -1 for none now
template <bool kWrite>
Napi::Value PipeTransferJs(const Napi::CallbackInfo& info) {
  uint8_t* data;
  size_t length;
  if (!BufferRange(info, &data, &length)) return info.Env().Undefined();
  uint64_t handle = HandleArg(info, 0);
  OsError err;
  int64_t n = kWrite ? WritePipe(handle, data, length, &err) : ReadPipe(handle, data, length, &err);
  return NumberOrThrow(info.Env(), n, err);
}

// pipeAvailable(handle) -> bytes waiting (-1: end of file) / pipeBufferSize(readHandle) -> the granted buffer size
template <int64_t (*Query)(uint64_t, OsError*)>
Napi::Value PipeQueryJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number})) return info.Env().Undefined();
  OsError err;
  int64_t n = Query(HandleArg(info, 0), &err);
  return NumberOrThrow(info.Env(), n, err);
}

// pipePoll(handle, timeoutMs) -> readable
Napi::Value PipePollJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number, napi_number})) return info.Env().Undefined();
  OsError err;
  WaitResult r = PollPipe(HandleArg(info, 0), DeadlineArg(info, 1), &err);
  if (r == WaitResult::Failed) {
    ThrowOsError(info.Env(), err);
    return info.Env().Undefined();
  }
  return Napi::Boolean::New(info.Env(), r == WaitResult::Acquired);
}

// A wait until a pipe's read end has bytes (or has lost every writer): Windows reports nothing for that on a
// synchronous pipe, so the hub's polling thread looks with PeekNamedPipe.
class PipeWait : public HubWait {
 public:
  PipeWait(std::shared_ptr<WaitPort> port, int64_t deadlineNs, uint64_t handle)
      : HubWait(std::move(port), deadlineNs), handle_(handle) {}
  WaitTarget Target() const override { return WaitTarget(); }
  const void* Key() const override { return reinterpret_cast<const void*>(static_cast<uintptr_t>(handle_)); }
  WaitResult TryTake(OsError* err) override { return PipeReady(handle_, err); }

 private:
  const uint64_t handle_;
};

// pipePollAsync(handle, timeoutMs, cb) -> id: cb(err, ready) runs here unless cancelWait(id) wins first.
Napi::Value PipePollAsyncJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckArgs(info, {napi_number, napi_number, napi_function})) return env.Undefined();
  std::shared_ptr<Port> port = Port::Of(env);
  if (!port) return env.Undefined();
  auto wait = std::make_shared<PipeWait>(port, DeadlineArg(info, 1), HandleArg(info, 0));
  OsError err;
  uint64_t id = port->Start(env, wait, info[2].As<Napi::Function>(), &err);
  if (id == 0) {
    ThrowOsError(env, err);
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(id));
}

Napi::Value CloseHandleJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number})) return info.Env().Undefined();
  Disown(info.Env(), HandleArg(info, 0));
  OsError err;
  if (!CloseHandleValue(HandleArg(info, 0), &err)) ThrowOsError(info.Env(), err);
  return info.Env().Undefined();
}

// duplicateHandle(handle, pid) -> the handle's value in process pid
Napi::Value DuplicateHandleJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number, napi_number})) return info.Env().Undefined();
  OsError err;
  std::string remote = DuplicateHandleInto(HandleArg(info, 0), info[1].As<Napi::Number>().Int32Value(), &err);
  if (err.failed()) {
    ThrowOsError(info.Env(), err);
    return info.Env().Undefined();
  }
  return Napi::String::New(info.Env(), remote);
}
#endif


// lendDescriptor(value) -> ticket; revokeDescriptor(value); adoptDescriptor(ticket) -> a duplicate owned here
Napi::Value LendDescriptorJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number})) return info.Env().Undefined();
  return Napi::String::New(info.Env(), LendDescriptor(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value())));
}

Napi::Value RevokeDescriptorJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number})) return info.Env().Undefined();
  RevokeDescriptor(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
  return info.Env().Undefined();
}

Napi::Value AdoptDescriptorJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_string})) return info.Env().Undefined();
  uint64_t adopted = 0;
  OsError err;
  if (!AdoptDescriptor(info[0].As<Napi::String>(), &adopted, &err)) {
    if (err.syscall != nullptr && std::string(err.syscall) == "adopt") {
      Napi::Error error = Napi::Error::New(info.Env(), "multiproc native: the descriptor lent under this ticket is closed");
      SetQuietly(error.Value(), "code", "ERR_MP_CLOSED");
      error.ThrowAsJavaScriptException();
    } else {
      ThrowOsError(info.Env(), err);
    }
    return info.Env().Undefined();
  }
  return Napi::Number::New(info.Env(), static_cast<double>(adopted));
}

// ownDescriptor(value): closed when this environment goes, unless closeFd/closeHandle closed it first
Napi::Value OwnDescriptorJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number})) return info.Env().Undefined();
  auto value = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  if (info.Env().GetInstanceData<AddonData>()->owned.insert(value).second) {
    Napi::MemoryManagement::AdjustExternalMemory(info.Env(), kDescriptorCost);
  }
  return info.Env().Undefined();
}

// lockFileOpen(path, create, exclusive) -> descriptor or handle, owned by this environment (see ownDescriptor)
Napi::Value LockFileOpenJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_string, napi_boolean, napi_boolean})) return info.Env().Undefined();
  OsError err;
  int64_t file = OpenLockFile(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::Boolean>(),
                              info[2].As<Napi::Boolean>(), &err);
  if (file < 0) {
    ThrowOsError(info.Env(), err);
    return info.Env().Undefined();
  }
  if (info.Env().GetInstanceData<AddonData>()->owned.insert(static_cast<uint64_t>(file)).second) {
    Napi::MemoryManagement::AdjustExternalMemory(info.Env(), kDescriptorCost);
  }
  return Napi::Number::New(info.Env(), static_cast<double>(file));
}

uint64_t FileArg(const Napi::CallbackInfo& info) {
  return static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
}

// lockFile(file, wait) -> acquired (false: held elsewhere, and wait was false)
Napi::Value LockFileJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number, napi_boolean})) return info.Env().Undefined();
  OsError err;
  WaitResult r = LockFile(FileArg(info), info[1].As<Napi::Boolean>(), &err);
  if (r == WaitResult::Failed) {
    ThrowOsError(info.Env(), err);
    return info.Env().Undefined();
  }
  return Napi::Boolean::New(info.Env(), r == WaitResult::Acquired);
}

Napi::Value UnlockFileJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number})) return info.Env().Undefined();
  OsError err;
  if (!UnlockFile(FileArg(info), &err)) ThrowOsError(info.Env(), err);
  return info.Env().Undefined();
}

// lockMark(file) -> the byte at offset 0
Napi::Value LockMarkJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number})) return info.Env().Undefined();
  OsError err;
  int mark = ReadLockMark(FileArg(info), &err);
  if (mark < 0) {
    ThrowOsError(info.Env(), err);
    return info.Env().Undefined();
  }
  return Napi::Number::New(info.Env(), mark);
}

// setLockMark(file, byte)
Napi::Value SetLockMarkJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number, napi_number})) return info.Env().Undefined();
  OsError err;
  if (!WriteLockMark(FileArg(info), static_cast<uint8_t>(info[1].As<Napi::Number>().Uint32Value()), &err)) {
    ThrowOsError(info.Env(), err);
  }
  return info.Env().Undefined();
}

// Registered when the addon loads, before any FdWatcher: it runs after their hooks stopped watching.
void CloseOwned(void* arg) {
  auto* data = static_cast<AddonData*>(arg);
  for (uint64_t value : data->owned) {
    OsError ignored;  // nothing left to tell
    RevokeDescriptor(value);
#ifdef _WIN32
    CloseHandleValue(value, &ignored);
#else
    CloseFd(static_cast<int>(value), &ignored);
#endif
  }
  data->owned.clear();
}

}  // namespace

#define MP_FUNCTION(name, fn) exports.Set(name, Napi::Function::New<Guarded<fn>>(env, name))

void InitDescriptors(Napi::Env env, Napi::Object exports) {
  if (napi_add_env_cleanup_hook(env, CloseOwned, env.GetInstanceData<AddonData>()) != napi_ok) {
    Napi::Error::New(env, "multiproc native: cannot watch the environment's teardown").ThrowAsJavaScriptException();
    return;
  }
  MP_FUNCTION("ownDescriptor", OwnDescriptorJs);
  MP_FUNCTION("lendDescriptor", LendDescriptorJs);
  MP_FUNCTION("revokeDescriptor", RevokeDescriptorJs);
  MP_FUNCTION("adoptDescriptor", AdoptDescriptorJs);
  MP_FUNCTION("lockFileOpen", LockFileOpenJs);
  MP_FUNCTION("lockFile", LockFileJs);
  MP_FUNCTION("unlockFile", UnlockFileJs);
  MP_FUNCTION("lockMark", LockMarkJs);
  MP_FUNCTION("setLockMark", SetLockMarkJs);
#ifdef _WIN32
  MP_FUNCTION("pipeCreate", PipeCreateJs);
  MP_FUNCTION("pipeRead", PipeTransferJs<false>);
  MP_FUNCTION("pipeWrite", PipeTransferJs<true>);
  MP_FUNCTION("pipePoll", PipePollJs);
  MP_FUNCTION("pipeAvailable", PipeQueryJs<PipeAvailable>);
  MP_FUNCTION("pipeBufferSize", PipeQueryJs<PipeBufferSize>);
  MP_FUNCTION("pipePollAsync", PipePollAsyncJs);
  MP_FUNCTION("closeHandle", CloseHandleJs);
  MP_FUNCTION("duplicateHandle", DuplicateHandleJs);
#else
  MP_FUNCTION("pipe", Pipe);
  MP_FUNCTION("alivePipe", AlivePipeJs);
  MP_FUNCTION("mkfifo", MakeFifoJs);
  MP_FUNCTION("socketPair", SocketPairJs);
  MP_FUNCTION("setNonBlocking", SetFdFlagJs<SetNonBlocking>);
  MP_FUNCTION("setCloseOnExec", SetFdFlagJs<SetCloseOnExec>);
  MP_FUNCTION("closeFd", CloseFdJs);
  MP_FUNCTION("poll", PollJs);
  MP_FUNCTION("watchHangup", WatchHangupJs);
  MP_FUNCTION("read", TransferJs<ReadInto>);
  MP_FUNCTION("write", TransferJs<WriteFrom>);
  MP_FUNCTION("peek", TransferJs<PeekInto>);
  MP_FUNCTION("writev", WritevJs);
  MP_FUNCTION("setPipeCapacity", SetPipeCapacityJs);
  exports.Set("FdWatcher", FdWatcher::Init(env));
#endif
}

}  // namespace mp
