// JS bindings for os.h. Thin on purpose: argument checks, error mapping and the waiter threads that let
// async acquires wait without blocking the event loop or the libuv thread pool. Every rule lives in lib/.
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <vector>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

#include "os.h"

#ifndef _WIN32
#include <uv.h>
#endif

namespace mp {
namespace {

// Async waits run on a thread of their own and wake up this often to notice a cancel() from JS.
constexpr int64_t kCancelSliceMs = 20;

Napi::Error OsErrorToJs(Napi::Env env, const OsError& e) {
  std::string message = std::string(e.syscall) + " failed: " + ErrorMessage(e.code) + " (" + ErrorName(e.code) + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", ErrorName(e.code));
  error.Set("errno", Napi::Number::New(env, e.code));
  error.Set("syscall", e.syscall);
  return error;
}

void ThrowOsError(Napi::Env env, const OsError& e) { OsErrorToJs(env, e).ThrowAsJavaScriptException(); }

bool CheckArgs(const Napi::CallbackInfo& info, std::initializer_list<napi_valuetype> types) {
  size_t i = 0;
  for (napi_valuetype type : types) {
    if (info.Length() <= i || info[i].Type() != type) {
      Napi::TypeError error =
          Napi::TypeError::New(info.Env(), "multiproc native: argument " + std::to_string(i) + " has the wrong type");
      error.Set("code", "ERR_INVALID_ARG_TYPE");
      error.ThrowAsJavaScriptException();
      return false;
    }
    i++;
  }
  return true;
}

// What a call that counts returned, or its failure thrown.
Napi::Value NumberOrThrow(Napi::Env env, int64_t n, const OsError& err) {
  if (err.failed()) {
    ThrowOsError(env, err);
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

// Marks objects made by Semaphore.create/open, so a foreign object is never unwrapped as one.
const napi_type_tag kSemaphoreTag = {0x6d756c746970726fULL, 0x632d73656d617068ULL};

// Per-environment (main thread or worker) constructors.
struct AddonData {
  Napi::FunctionReference waiter;
  Napi::FunctionReference semaphore;
};

// A wait running on its own thread. cancel() and completion race through `state`; exactly one wins.
struct PendingWait {
  enum State { kPending, kCancelled, kDone };
  std::atomic<int> state{kPending};
  std::function<WaitResult(int64_t, OsError*)> step;  // one bounded wait
  std::function<void()> undo;                          // gives back what a cancelled wait obtained
  std::function<void()> then;                          // runs on this thread when the wait ends uncancelled
  int64_t timeoutMs = -1;
  Napi::ThreadSafeFunction callback;
  WaitResult result = WaitResult::Failed;
  OsError error;

  bool Cancel() {
    int expected = kPending;
    return state.compare_exchange_strong(expected, kCancelled);
  }

  static void Run(std::shared_ptr<PendingWait> self) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::milliseconds(self->timeoutMs < 0 ? 0 : self->timeoutMs);
    WaitResult r = WaitResult::TimedOut;
    while (self->state.load() != kCancelled) {
      int64_t slice = kCancelSliceMs;
      if (self->timeoutMs >= 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left < slice) slice = left < 0 ? 0 : left;
      }
      r = self->step(slice, &self->error);
      if (r != WaitResult::TimedOut || (self->timeoutMs >= 0 && Clock::now() >= deadline)) break;
    }
    int expected = kPending;
    if (self->state.compare_exchange_strong(expected, kDone)) {
      self->result = r;
      if (self->then) self->then();
      auto* carried = new std::shared_ptr<PendingWait>(self);
      if (self->callback.BlockingCall(carried, Deliver) != napi_ok) delete carried;  // env is shutting down
    } else if (r == WaitResult::Acquired && self->undo) {
      self->undo();
    }
    self->callback.Release();
  }

  static void Deliver(Napi::Env env, Napi::Function cb, std::shared_ptr<PendingWait>* carried) {
    std::shared_ptr<PendingWait> self = *carried;
    delete carried;
    if (env == nullptr) return;
    if (self->result == WaitResult::Failed) {
      cb.Call({OsErrorToJs(env, self->error).Value(), env.Undefined()});
    } else {
      cb.Call({env.Null(), Napi::Boolean::New(env, self->result == WaitResult::Acquired)});
    }
  }
};

// The threads that run waits. A thread that finished a wait stays parked for a while and takes the next one, so a
// wait costs a hand-over instead of a thread creation; a thread parked for kIdleSeconds without work exits.
// Each wait gets a thread of its own (waits may be unbounded), so the number of threads is the number of waits
// pending at once. Never destroyed: parked threads may outlive static destructors at exit.
class WaiterThreads {
 public:
  static void Submit(std::shared_ptr<PendingWait> job) {
    static WaiterThreads* instance = new WaiterThreads();
    instance->Assign(std::move(job));
  }

 private:
  static constexpr int kIdleSeconds = 30;

  struct Parked {
    std::condition_variable wake;
    std::shared_ptr<PendingWait> job;
  };

  void Assign(std::shared_ptr<PendingWait> job) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (!parked_.empty()) {
      Parked* thread = parked_.back();
      parked_.pop_back();
      thread->job = std::move(job);
      thread->wake.notify_one();
      return;
    }
    lock.unlock();
    std::thread(&WaiterThreads::Loop, this, std::move(job)).detach();  // may throw std::system_error
  }

  void Loop(std::shared_ptr<PendingWait> job) {
    Parked self;
    while (job) {
      PendingWait::Run(std::move(job));
      std::unique_lock<std::mutex> lock(mutex_);
      parked_.push_back(&self);
      self.wake.wait_for(lock, std::chrono::seconds(kIdleSeconds), [&] { return self.job != nullptr; });
      if (!self.job) parked_.erase(std::find(parked_.begin(), parked_.end(), &self));  // idle too long: leave
      job = std::move(self.job);
    }
  }

  std::mutex mutex_;
  std::vector<Parked*> parked_;
};

class Waiter : public Napi::ObjectWrap<Waiter> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Waiter", {InstanceMethod<&Waiter::Cancel>("cancel")});
  }

  // Repeats `step` on a new thread until it succeeds, fails or timeoutMs (< 0: never) passes;
  // `cb(err, ready)` runs on the JS thread unless cancel() wins first.
  static Napi::Value Start(Napi::Env env, Napi::Function cb, int64_t timeoutMs,
                           std::function<WaitResult(int64_t, OsError*)> step, std::function<void()> undo,
                           std::function<void()> then) {
    auto pending = std::make_shared<PendingWait>();
    pending->step = std::move(step);
    pending->undo = std::move(undo);
    pending->then = std::move(then);
    pending->timeoutMs = timeoutMs;
    pending->callback = Napi::ThreadSafeFunction::New(env, cb, "multiproc.wait", 0, 1);
    Napi::Object waiter = env.GetInstanceData<AddonData>()->waiter.New({});
    Waiter::Unwrap(waiter)->pending_ = pending;
    try {
      WaiterThreads::Submit(pending);
    } catch (const std::system_error& e) {
      pending->callback.Release();
      OsError err;
      err.set("pthread_create", e.code().value());
      ThrowOsError(env, err);
      return env.Undefined();
    }
    return waiter;
  }

  explicit Waiter(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Waiter>(info) {}

 private:
  // true: the wait is abandoned and its callback will not run. false: it already finished; the callback is coming.
  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), pending_ && pending_->Cancel());
  }

  std::shared_ptr<PendingWait> pending_;
};

class Semaphore : public Napi::ObjectWrap<Semaphore> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "Semaphore",
                       {StaticMethod<&Semaphore::Create>("create"), StaticMethod<&Semaphore::Open>("open"),
                        StaticMethod<&Semaphore::Unlink>("unlink"), InstanceMethod<&Semaphore::Wait>("wait"),
                        InstanceMethod<&Semaphore::TryWait>("tryWait"),
                        InstanceMethod<&Semaphore::WaitAsync>("waitAsync"), InstanceMethod<&Semaphore::Post>("post"),
                        InstanceMethod<&Semaphore::GetValue>("value"),
                        InstanceMethod<&Semaphore::DuplicateInto>("duplicateInto"),
                        InstanceMethod<&Semaphore::SharedWords>("sharedWords"),
                        InstanceMethod<&Semaphore::WakeWaiter>("wakeWaiter"),
                        InstanceMethod<&Semaphore::Close>("close")});
  }

  explicit Semaphore(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Semaphore>(info) {}

 private:
  // Wraps what Create/Open returned, or throws the error that made it null.
  static Napi::Value FromOs(Napi::Env env, std::unique_ptr<OsSemaphore> sem, const OsError& err) {
    if (!sem) {
      ThrowOsError(env, err);
      return env.Undefined();
    }
    Napi::Object obj = env.GetInstanceData<AddonData>()->semaphore.New({});
    obj.TypeTag(&kSemaphoreTag);
    Semaphore::Unwrap(obj)->sem_ = std::shared_ptr<OsSemaphore>(std::move(sem));
    return obj;
  }

  // create(name, value, maxValue)
  static Napi::Value Create(const Napi::CallbackInfo& info) {
    if (!CheckArgs(info, {napi_string, napi_number, napi_number})) return info.Env().Undefined();
    OsError err;
    auto sem = OsSemaphore::Create(info[0].As<Napi::String>(), info[1].As<Napi::Number>().Uint32Value(),
                                   info[2].As<Napi::Number>().Uint32Value(), &err);
    return FromOs(info.Env(), std::move(sem), err);
  }

  // open(nameOrHandle)
  static Napi::Value Open(const Napi::CallbackInfo& info) {
    if (!CheckArgs(info, {napi_string})) return info.Env().Undefined();
    OsError err;
    auto sem = OsSemaphore::Open(info[0].As<Napi::String>(), &err);
    return FromOs(info.Env(), std::move(sem), err);
  }

  static Napi::Value Unlink(const Napi::CallbackInfo& info) {
    if (!CheckArgs(info, {napi_string})) return info.Env().Undefined();
    OsError err;
    if (!OsSemaphore::Unlink(info[0].As<Napi::String>(), &err)) ThrowOsError(info.Env(), err);
    return info.Env().Undefined();
  }

  bool Live(Napi::Env env) {
    if (sem_) return true;
    Napi::Error::New(env, "multiproc native: semaphore is closed").ThrowAsJavaScriptException();
    return false;
  }

  Napi::Value Result(Napi::Env env, WaitResult r, const OsError& err) {
    if (r == WaitResult::Failed) {
      ThrowOsError(env, err);
      return env.Undefined();
    }
    return Napi::Boolean::New(env, r == WaitResult::Acquired);
  }

  // wait(timeoutMs): blocks this thread; timeoutMs < 0 waits forever.
  Napi::Value Wait(const Napi::CallbackInfo& info) {
    if (!CheckArgs(info, {napi_number}) || !Live(info.Env())) return info.Env().Undefined();
    OsError err;
    WaitResult r = sem_->Wait(info[0].As<Napi::Number>().Int64Value(), &err);
    return Result(info.Env(), r, err);
  }

  Napi::Value TryWait(const Napi::CallbackInfo& info) {
    if (!Live(info.Env())) return info.Env().Undefined();
    OsError err;
    WaitResult r = sem_->TryWait(&err);
    return Result(info.Env(), r, err);
  }

  // waitAsync(timeoutMs, cb, then?): waits on a waiter thread; returns a Waiter whose cancel() abandons the wait.
  // `then` (another Semaphore) is posted by that thread when the wait ends, acquired or timed out.
  Napi::Value WaitAsync(const Napi::CallbackInfo& info) {
    if (!CheckArgs(info, {napi_number, napi_function}) || !Live(info.Env())) return info.Env().Undefined();
    std::shared_ptr<OsSemaphore> sem = sem_;
    std::function<void()> then;
    if (info.Length() > 2 && !info[2].IsUndefined()) {
      if (!info[2].IsObject() || !info[2].As<Napi::Object>().CheckTypeTag(&kSemaphoreTag)) {
        Napi::TypeError error = Napi::TypeError::New(info.Env(), "multiproc native: argument 2 must be a Semaphore");
        error.Set("code", "ERR_INVALID_ARG_TYPE");
        error.ThrowAsJavaScriptException();
        return info.Env().Undefined();
      }
      Semaphore* other = Unwrap(info[2].As<Napi::Object>());
      if (!other->Live(info.Env())) return info.Env().Undefined();
      std::shared_ptr<OsSemaphore> target = other->sem_;
      then = [target]() {
        OsError ignored;  // nothing on this thread could report it; the waiting side times out instead
        target->Post(-1, &ignored);
      };
    }
    return Waiter::Start(
        info.Env(), info[1].As<Napi::Function>(), info[0].As<Napi::Number>().Int64Value(),
        [sem](int64_t slice, OsError* err) { return sem->Wait(slice, err); },
        [sem]() {
          OsError ignored;  // giving back a unit we just took cannot overflow
          sem->Post(-1, &ignored);
        },
        std::move(then));
  }

  // post(maxValue?) -> false when the value already reached maxValue (nothing posted)
  Napi::Value Post(const Napi::CallbackInfo& info) {
    if (!Live(info.Env())) return info.Env().Undefined();
    int64_t maxValue = -1;
    if (info.Length() > 0 && !info[0].IsUndefined()) {
      if (!CheckArgs(info, {napi_number})) return info.Env().Undefined();
      maxValue = info[0].As<Napi::Number>().Int64Value();
    }
    OsError err;
    PostResult r = sem_->Post(maxValue, &err);
    if (r == PostResult::Failed) {
      ThrowOsError(info.Env(), err);
      return info.Env().Undefined();
    }
    return Napi::Boolean::New(info.Env(), r == PostResult::Posted);
  }

  Napi::Value GetValue(const Napi::CallbackInfo& info) {
    if (!Live(info.Env())) return info.Env().Undefined();
    OsError err;
    int64_t value = sem_->Value(&err);
    if (err.failed()) {
      ThrowOsError(info.Env(), err);
      return info.Env().Undefined();
    }
    return Napi::Number::New(info.Env(), static_cast<double>(value));
  }

  Napi::Value DuplicateInto(const Napi::CallbackInfo& info) {
    if (!CheckArgs(info, {napi_number}) || !Live(info.Env())) return info.Env().Undefined();
    OsError err;
    std::string handle = sem_->DuplicateInto(info[0].As<Napi::Number>().Int32Value(), &err);
    if (err.failed()) {
      ThrowOsError(info.Env(), err);
      return info.Env().Undefined();
    }
    return Napi::String::New(info.Env(), handle);
  }

  // sharedWords() -> ArrayBuffer over [value, waiters] in the semaphore's shared memory, or undefined.
  // The buffer keeps the semaphore mapped for as long as it lives.
  Napi::Value SharedWords(const Napi::CallbackInfo& info) {
    if (!Live(info.Env())) return info.Env().Undefined();
    int32_t* words = sem_->SharedWords();
    if (words == nullptr) return info.Env().Undefined();
    auto* keepAlive = new std::shared_ptr<OsSemaphore>(sem_);
    return Napi::ArrayBuffer::New(
        info.Env(), words, 2 * sizeof(int32_t),
        [](Napi::Env, void*, std::shared_ptr<OsSemaphore>* hint) { delete hint; }, keepAlive);
  }

  Napi::Value WakeWaiter(const Napi::CallbackInfo& info) {
    if (!Live(info.Env())) return info.Env().Undefined();
    OsError err;
    if (!sem_->WakeWaiter(&err)) ThrowOsError(info.Env(), err);
    return info.Env().Undefined();
  }

  // Pending async waits keep their own reference; the OS object closes when the last one lets go.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    sem_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<OsSemaphore> sem_;
};

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
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, fds[0]);
  result.Set(1u, fds[1]);
  return result;
}

Napi::Value Pipe(const Napi::CallbackInfo& info) {
  int fds[2];
  OsError err;
  bool made = MakePipe(fds, &err);
  return PairOrThrow(info.Env(), made, fds, err);
}

// mkfifo(path)
Napi::Value MakeFifoJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_string})) return info.Env().Undefined();
  OsError err;
  if (!MakeFifo(info[0].As<Napi::String>().Utf8Value(), &err)) ThrowOsError(info.Env(), err);
  return info.Env().Undefined();
}

// socketPair(capacity) -> [receiving end, sending end]
Napi::Value SocketPairJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number})) return info.Env().Undefined();
  int fds[2];
  OsError err;
  bool made = MakeSocketPair(fds, info[0].As<Napi::Number>().Int32Value(), &err);
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
  OsError err;
  if (!CloseFd(info[0].As<Napi::Number>().Int32Value(), &err)) ThrowOsError(info.Env(), err);
  return info.Env().Undefined();
}

// poll(fd, forWrite, timeoutMs) -> ready
Napi::Value PollJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number, napi_boolean, napi_number})) return info.Env().Undefined();
  OsError err;
  WaitResult r = PollFd(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Boolean>(),
                        info[2].As<Napi::Number>().Int64Value(), &err);
  if (r == WaitResult::Failed) {
    ThrowOsError(info.Env(), err);
    return info.Env().Undefined();
  }
  return Napi::Boolean::New(info.Env(), r == WaitResult::Acquired);
}

// read(fd, buf, offset, length) / write(fd, buf, offset, length) -> bytes moved, or -1 when it would block
template <bool kWrite>
Napi::Value TransferJs(const Napi::CallbackInfo& info) {
  uint8_t* data;
  size_t length;
  if (!BufferRange(info, &data, &length)) return info.Env().Undefined();
  int fd = info[0].As<Napi::Number>().Int32Value();
  OsError err;
  int64_t n = kWrite ? WriteFd(fd, data, length, &err) : ReadFd(fd, data, length, &err);
  return NumberOrThrow(info.Env(), n, err);
}

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
// new FdWatcher(fd, forWrite); start(cb) calls cb(err) on the JS thread each time fd is ready until stop().
// Level-triggered: whoever is called must consume the readiness or stop().
class FdWatcher : public Napi::ObjectWrap<FdWatcher> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "FdWatcher", {InstanceMethod<&FdWatcher::Start>("start"),
                                          InstanceMethod<&FdWatcher::Stop>("stop"),
                                          InstanceMethod<&FdWatcher::Close>("close")});
  }

  explicit FdWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdWatcher>(info) {
    if (!CheckArgs(info, {napi_number, napi_boolean})) return;
    events_ = info[1].As<Napi::Boolean>() ? UV_WRITABLE : UV_READABLE;
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(info.Env(), &loop) != napi_ok) {
      Napi::Error::New(info.Env(), "multiproc native: no event loop").ThrowAsJavaScriptException();
      return;
    }
    auto* handle = new uv_poll_t;
    int r = uv_poll_init(loop, handle, info[0].As<Napi::Number>().Int32Value());
    if (r < 0) {
      delete handle;
      Napi::Error e = Napi::Error::New(info.Env(), std::string("uv_poll_init failed: ") + uv_strerror(r));
      e.Set("code", uv_err_name(r));
      e.ThrowAsJavaScriptException();
      return;
    }
    handle->data = this;
    handle_ = handle;
    context_ = std::make_unique<Napi::AsyncContext>(info.Env(), "multiproc.FdWatcher");
  }

  ~FdWatcher() override { CloseHandle(); }

 private:
  bool Live(Napi::Env env) {
    if (handle_) return true;
    Napi::Error::New(env, "multiproc native: watcher is closed").ThrowAsJavaScriptException();
    return false;
  }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    if (!CheckArgs(info, {napi_function}) || !Live(info.Env())) return info.Env().Undefined();
    callback_ = Napi::Persistent(info[0].As<Napi::Function>());
    int r = uv_poll_start(handle_, events_, OnReady);
    if (r < 0) {
      callback_.Reset();
      Napi::Error e = Napi::Error::New(info.Env(), std::string("uv_poll_start failed: ") + uv_strerror(r));
      e.Set("code", uv_err_name(r));
      e.ThrowAsJavaScriptException();
    }
    return info.Env().Undefined();
  }

  // Stopped, the watcher holds no reference to JS and keeps no event loop alive.
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (handle_) uv_poll_stop(handle_);
    callback_.Reset();
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    callback_.Reset();
    CloseHandle();
    return info.Env().Undefined();
  }

  void CloseHandle() {
    if (!handle_) return;
    handle_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(handle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    handle_ = nullptr;
  }

  static void OnReady(uv_poll_t* handle, int status, int) {
    auto* self = static_cast<FdWatcher*>(handle->data);
    if (self == nullptr || self->callback_.IsEmpty()) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    Napi::Value err = env.Null();
    if (status < 0) {
      Napi::Error e = Napi::Error::New(env, std::string("poll failed: ") + uv_strerror(status));
      e.Set("code", uv_err_name(status));
      err = e.Value();
    }
    self->callback_.MakeCallback(env.Global(), {err}, *self->context_);
    ReportPending(env);
  }

  uv_poll_t* handle_ = nullptr;
  int events_ = 0;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> context_;
};

// pollAsync(fd, forWrite, timeoutMs, cb) -> Waiter
Napi::Value PollAsyncJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number, napi_boolean, napi_number, napi_function})) return info.Env().Undefined();
  int fd = info[0].As<Napi::Number>().Int32Value();
  bool forWrite = info[1].As<Napi::Boolean>();
  return Waiter::Start(
      info.Env(), info[3].As<Napi::Function>(), info[2].As<Napi::Number>().Int64Value(),
      [fd, forWrite](int64_t slice, OsError* err) { return PollFd(fd, forWrite, slice, err); }, nullptr, nullptr);
}

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
      bool hungUp = PollFd(fd, false, -1, &err) != WaitResult::Failed;  // else not a descriptor we can watch
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
  Napi::Array result = Napi::Array::New(info.Env(), 2);
  result.Set(0u, Napi::Number::New(info.Env(), static_cast<double>(ends[0])));
  result.Set(1u, Napi::Number::New(info.Env(), static_cast<double>(ends[1])));
  return result;
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
  WaitResult r = PollPipe(HandleArg(info, 0), info[1].As<Napi::Number>().Int64Value(), &err);
  if (r == WaitResult::Failed) {
    ThrowOsError(info.Env(), err);
    return info.Env().Undefined();
  }
  return Napi::Boolean::New(info.Env(), r == WaitResult::Acquired);
}

// pipePollAsync(handle, timeoutMs, cb) -> Waiter: PollPipe on a waiter thread, in slices that notice cancel().
Napi::Value PipePollAsyncJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number, napi_number, napi_function})) return info.Env().Undefined();
  uint64_t handle = HandleArg(info, 0);
  return Waiter::Start(
      info.Env(), info[2].As<Napi::Function>(), info[1].As<Napi::Number>().Int64Value(),
      [handle](int64_t slice, OsError* err) { return PollPipe(handle, slice, err); }, nullptr, nullptr);
}

Napi::Value CloseHandleJs(const Napi::CallbackInfo& info) {
  if (!CheckArgs(info, {napi_number})) return info.Env().Undefined();
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

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->waiter = Napi::Persistent(Waiter::Init(env));
  data->semaphore = Napi::Persistent(Semaphore::Init(env));
  env.SetInstanceData<AddonData>(data);  // freed by node-addon-api when the environment goes away
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
  exports.Set("pipeCreate", Napi::Function::New<PipeCreateJs>(env, "pipeCreate"));
  exports.Set("pipeRead", Napi::Function::New<PipeTransferJs<false>>(env, "pipeRead"));
  exports.Set("pipeWrite", Napi::Function::New<PipeTransferJs<true>>(env, "pipeWrite"));
  exports.Set("pipePoll", Napi::Function::New<PipePollJs>(env, "pipePoll"));
  exports.Set("pipeAvailable", Napi::Function::New<PipeQueryJs<PipeAvailable>>(env, "pipeAvailable"));
  exports.Set("pipeBufferSize", Napi::Function::New<PipeQueryJs<PipeBufferSize>>(env, "pipeBufferSize"));
  exports.Set("pipePollAsync", Napi::Function::New<PipePollAsyncJs>(env, "pipePollAsync"));
  exports.Set("closeHandle", Napi::Function::New<CloseHandleJs>(env, "closeHandle"));
  exports.Set("duplicateHandle", Napi::Function::New<DuplicateHandleJs>(env, "duplicateHandle"));
#else
  exports.Set("platform", "posix");
  exports.Set("pipe", Napi::Function::New<Pipe>(env, "pipe"));
  exports.Set("mkfifo", Napi::Function::New<MakeFifoJs>(env, "mkfifo"));
  exports.Set("socketPair", Napi::Function::New<SocketPairJs>(env, "socketPair"));
  exports.Set("setNonBlocking", Napi::Function::New<SetFdFlagJs<SetNonBlocking>>(env, "setNonBlocking"));
  exports.Set("setCloseOnExec", Napi::Function::New<SetFdFlagJs<SetCloseOnExec>>(env, "setCloseOnExec"));
  exports.Set("closeFd", Napi::Function::New<CloseFdJs>(env, "closeFd"));
  exports.Set("poll", Napi::Function::New<PollJs>(env, "poll"));
  exports.Set("pollAsync", Napi::Function::New<PollAsyncJs>(env, "pollAsync"));
  exports.Set("watchHangup", Napi::Function::New<WatchHangupJs>(env, "watchHangup"));
  exports.Set("read", Napi::Function::New<TransferJs<false>>(env, "read"));
  exports.Set("write", Napi::Function::New<TransferJs<true>>(env, "write"));
  exports.Set("writev", Napi::Function::New<WritevJs>(env, "writev"));
  exports.Set("setPipeCapacity", Napi::Function::New<SetPipeCapacityJs>(env, "setPipeCapacity"));
  exports.Set("FdWatcher", FdWatcher::Init(env));
#endif
  return exports;
}

}  // namespace
}  // namespace mp

static Napi::Object InitMultiproc(Napi::Env env, Napi::Object exports) { return mp::Init(env, exports); }

NODE_API_MODULE(multiproc, InitMultiproc)
