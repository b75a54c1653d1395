// Semaphores for JS: one object per OsSemaphore reference (several JS objects, in several threads, may share one OS
// semaphore), and the hub waits that take their units for async acquires.
#include <algorithm>
#include <cmath>
#include <vector>

#include "binding.h"

namespace mp {
namespace {

// Marks objects made by this class, so a foreign object is never unwrapped as one.
const napi_type_tag kSemaphoreTag = {0x6d756c746970726fULL, 0x632d73656d617068ULL};

// What one open semaphore costs beyond its small JS object — a mapping and a file page (POSIX), a handle
// (Windows) — reported to V8 so that dropped semaphores are collected long before thousands pile up.
constexpr int64_t kSemaphoreCost = 256 * 1024;

// An async wait for one unit: a hub thread takes the unit and the JS callback receives it. `then`, when set, is
// posted as soon as the wait ends (acquired, timed out or dropped), by the hub thread: Condition's "woken"
// acknowledgement, which a notifier blocked in this very process must see without the event loop. When `then` is the
// semaphore itself, the wait only learns that a unit was free: the unit goes straight back, and a wait that ends
// without one posts nothing.
class SemaphoreWait : public HubWait {
 public:
  SemaphoreWait(std::shared_ptr<WaitPort> port, int64_t deadlineNs, std::shared_ptr<OsSemaphore> sem,
                std::shared_ptr<OsSemaphore> then)
      : HubWait(std::move(port), deadlineNs),
        sem_(std::move(sem)),
        then_(std::move(then)),
        target_(sem_->HubTarget()),
        peek_(then_ != nullptr && KeyOf(then_.get(), then_->HubTarget()) == KeyOf(sem_.get(), target_)) {}

  WaitTarget Target() const override { return target_; }

  const void* Key() const override { return KeyOf(sem_.get(), target_); }

  static const void* KeyOf(const OsSemaphore* sem, const WaitTarget& target) {
    if (target.kind == WaitTarget::kWord) return target.word;
    if (target.kind == WaitTarget::kHandle) return reinterpret_cast<const void*>(static_cast<uintptr_t>(target.handle));
    return sem;
  }

  void Arm() override { sem_->AddSleeper(); }
  void Disarm() override { sem_->RemoveSleeper(); }
  void PassOn(bool armed) override { sem_->PassOnWake(armed); }
  WaitResult TryTake(OsError* err) override { return sem_->TryWait(err); }

  void GiveBack() override {
    OsError ignored;  // giving back a unit just taken cannot overflow
    sem_->Post(-1, &ignored);
  }

  void Undo() override {
    if (!peek_) GiveBack();  // a peek gave its unit back when it ended
  }

  void Ended(WaitResult result) override {
    if (!then_ || (peek_ && result != WaitResult::Acquired)) return;
    OsError ignored;  // nothing on this thread could report it; the notifier times out instead
    then_->Post(-1, &ignored);
  }

 private:
  const std::shared_ptr<OsSemaphore> sem_;
  const std::shared_ptr<OsSemaphore> then_;
  const WaitTarget target_;
  const bool peek_;
};

// Keeps the memory of sharedWords()'s ArrayBuffer mapped: until the buffer is collected, or detached by close().
struct WordsKeeper {
  std::shared_ptr<OsSemaphore> sem;
};

Napi::Error ClosedError(Napi::Env env, const char* message) {
  Napi::Error error = Napi::Error::New(env, message);
  SetQuietly(error.Value(), "code", "ERR_MP_CLOSED");
  return error;
}

class Semaphore : public GuardedWrap<Semaphore> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(
        env, "Semaphore",
        {StaticMethod<&SafeStatic<Create>>("create"), StaticMethod<&SafeStatic<Open>>("open"),
         StaticMethod<&SafeStatic<UnlinkName>>("unlink"), StaticMethod<&SafeStatic<Adopt>>("adopt"),
         InstanceMethod("wait", &Semaphore::Safe<&Semaphore::Wait>),
         InstanceMethod("tryWait", &Semaphore::Safe<&Semaphore::TryWait>),
         InstanceMethod("waitAsync", &Semaphore::Safe<&Semaphore::WaitAsync>),
         InstanceMethod("post", &Semaphore::Safe<&Semaphore::Post>),
         InstanceMethod("value", &Semaphore::Safe<&Semaphore::GetValue>),
         InstanceMethod("duplicateInto", &Semaphore::Safe<&Semaphore::DuplicateInto>),
         InstanceMethod("sharedWords", &Semaphore::Safe<&Semaphore::SharedWords>),
         InstanceMethod("wakeWaiter", &Semaphore::Safe<&Semaphore::WakeWaiter>),
         InstanceMethod("share", &Semaphore::Safe<&Semaphore::Share>),
         InstanceMethod("lend", &Semaphore::Safe<&Semaphore::Lend>),
         InstanceMethod("unlink", &Semaphore::Safe<&Semaphore::Unlink>),
         InstanceMethod("close", &Semaphore::Safe<&Semaphore::Close>)});
  }

  explicit Semaphore(const Napi::CallbackInfo& info) : GuardedWrap<Semaphore>(info) {}

  // Collected: this reference goes; the OS semaphore closes (and its owned name goes) with the last reference.
  void Finalize(Napi::Env env) override { Release(env); }

 private:
  // Wraps a reference to `sem`, or throws the error that left it null.
  static Napi::Value Wrap(Napi::Env env, std::shared_ptr<OsSemaphore> sem, const OsError& err) {
    if (!sem) {
      ThrowOsError(env, err);
      return env.Undefined();
    }
    // Each step checked without node-addon-api's error path: while this environment is torn down (a worker
    // terminated) they fail, and the reference then simply goes with `sem`.
    Napi::Object obj = NewInstance(env, env.GetInstanceData<AddonData>()->semaphore);
    void* wrapped = nullptr;
    if (obj.IsEmpty() || napi_unwrap(env, obj, &wrapped) != napi_ok || wrapped == nullptr ||
        napi_type_tag_object(env, obj, &kSemaphoreTag) != napi_ok) {
      return env.Undefined();
    }
    Semaphore* self = static_cast<Semaphore*>(wrapped);
    self->sem_ = std::move(sem);
    Napi::MemoryManagement::AdjustExternalMemory(env, kSemaphoreCost);
    return obj;
  }

  // create(name, value, maxValue): a new semaphore whose name this process owns
  static Napi::Value Create(const Napi::CallbackInfo& info) {
    if (!CheckArgs(info, {napi_string, napi_number, napi_number})) return info.Env().Undefined();
    OsError err;
    std::shared_ptr<OsSemaphore> sem = OsSemaphore::Create(info[0].As<Napi::String>(), info[1].As<Napi::Number>().Uint32Value(),
                                                           info[2].As<Napi::Number>().Uint32Value(), &err);
    return Wrap(info.Env(), std::move(sem), err);
  }

  // open(nameOrHandle)
  static Napi::Value Open(const Napi::CallbackInfo& info) {
    if (!CheckArgs(info, {napi_string})) return info.Env().Undefined();
    OsError err;
    std::shared_ptr<OsSemaphore> sem = OsSemaphore::Open(info[0].As<Napi::String>(), &err);
    return Wrap(info.Env(), std::move(sem), err);
  }

  // adopt(ticket): the semaphore another thread of this process lent (see lend()), shared with it
  static Napi::Value Adopt(const Napi::CallbackInfo& info) {
    if (!CheckArgs(info, {napi_string})) return info.Env().Undefined();
    std::shared_ptr<OsSemaphore> sem = OsSemaphore::Adopt(info[0].As<Napi::String>());
    if (!sem) {
      ClosedError(info.Env(), "multiproc native: the semaphore lent under this ticket is closed").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    return Wrap(info.Env(), std::move(sem), OsError());
  }

  static Napi::Value UnlinkName(const Napi::CallbackInfo& info) {
    if (!CheckArgs(info, {napi_string})) return info.Env().Undefined();
    OsError err;
    if (!OsSemaphore::Unlink(info[0].As<Napi::String>(), &err)) ThrowOsError(info.Env(), err);
    return info.Env().Undefined();
  }

  bool Live(Napi::Env env) {
    if (sem_) return true;
    ClosedError(env, "multiproc native: semaphore is closed").ThrowAsJavaScriptException();
    return false;
  }

  Napi::Value Result(Napi::Env env, WaitResult r, const OsError& err) {
    if (r == WaitResult::Failed) {
      ThrowOsError(env, err);
      return env.Undefined();
    }
    return Napi::Boolean::New(env, r == WaitResult::Acquired);
  }

  // wait(timeoutMs): blocks this thread; timeoutMs < 0 (or beyond kForeverMs) waits forever.
  Napi::Value Wait(const Napi::CallbackInfo& info) {
    if (!CheckArgs(info, {napi_number}) || !Live(info.Env())) return info.Env().Undefined();
    OsError err;
    WaitResult r = sem_->Wait(DeadlineArg(info, 0), &err);
    return Result(info.Env(), r, err);
  }

  Napi::Value TryWait(const Napi::CallbackInfo& info) {
    if (!Live(info.Env())) return info.Env().Undefined();
    OsError err;
    WaitResult r = sem_->TryWait(&err);
    return Result(info.Env(), r, err);
  }

  // waitAsync(timeoutMs, cb, then?) -> id: a hub thread takes a unit for this thread; cb(err, acquired) runs here,
  // unless cancelWait(id) wins first. `then` (another Semaphore) is posted when the wait ends, acquired or not.
  Napi::Value WaitAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckArgs(info, {napi_number, napi_function}) || !Live(env)) return env.Undefined();
    std::shared_ptr<OsSemaphore> then;
    if (info.Length() > 2 && !info[2].IsUndefined()) {
      if (!info[2].IsObject() || !info[2].As<Napi::Object>().CheckTypeTag(&kSemaphoreTag)) {
        Napi::TypeError error = Napi::TypeError::New(env, "multiproc native: argument 2 must be a Semaphore");
        SetQuietly(error.Value(), "code", "ERR_INVALID_ARG_TYPE");
        error.ThrowAsJavaScriptException();
        return env.Undefined();
      }
      Semaphore* other = Unwrap(info[2].As<Napi::Object>());
      if (!other->Live(env)) return env.Undefined();
      then = other->sem_;
    }
    std::shared_ptr<Port> port = Port::Of(env);
    if (!port) return env.Undefined();
    auto wait = std::make_shared<SemaphoreWait>(port, DeadlineArg(info, 0), sem_, std::move(then));
    if (waits_.size() >= pruneAt_) {  // forget waits that ended, now and then
      waits_.erase(std::remove_if(waits_.begin(), waits_.end(), [&](uint64_t id) { return !port->Pending(id); }),
                   waits_.end());
      pruneAt_ = std::max<size_t>(16, 2 * waits_.size());
    }
    waits_.reserve(waits_.size() + 1);
    OsError err;
    uint64_t id = port->Start(env, wait, info[1].As<Napi::Function>(), &err);
    if (id == 0) {
      ThrowOsError(env, err);
      return env.Undefined();
    }
    waits_.push_back(id);
    return Napi::Number::New(env, static_cast<double>(id));
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
    return NumberOrThrow(info.Env(), value, err);
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

  // sharedWords() -> ArrayBuffer over [value, waiters] in the semaphore's shared memory, or undefined. The buffer
  // keeps the semaphore mapped while it lives; close() detaches it (JS then sees an empty buffer, never unmapped
  // memory).
  Napi::Value SharedWords(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Live(env)) return env.Undefined();
    if (!wordsBuffer_.IsEmpty() && !wordsBuffer_.Value().IsEmpty()) return wordsBuffer_.Value();
    int32_t* words = sem_->SharedWords();
    if (words == nullptr) return env.Undefined();
    auto keeper = std::make_shared<WordsKeeper>(WordsKeeper{sem_});
    auto* hint = new std::shared_ptr<WordsKeeper>(keeper);
    napi_value raw = nullptr;
    // Directly: this fails while the environment is torn down, and node-addon-api would make a fatal error of it.
    if (napi_create_external_arraybuffer(
            env, words, 2 * sizeof(int32_t),
            [](napi_env, void*, void* hint) { delete static_cast<std::shared_ptr<WordsKeeper>*>(hint); }, hint,
            &raw) != napi_ok) {
      delete hint;
      return env.Undefined();
    }
    Napi::ArrayBuffer buffer(env, raw);
    words_ = std::move(keeper);
    wordsBuffer_ = Napi::Weak(buffer);
    return buffer;
  }

  Napi::Value WakeWaiter(const Napi::CallbackInfo& info) {
    if (!Live(info.Env())) return info.Env().Undefined();
    OsError err;
    if (!sem_->WakeWaiter(&err)) ThrowOsError(info.Env(), err);
    return info.Env().Undefined();
  }

  // share() -> another reference to the same OS semaphore, closed independently of this one
  Napi::Value Share(const Napi::CallbackInfo& info) {
    if (!Live(info.Env())) return info.Env().Undefined();
    return Wrap(info.Env(), sem_, OsError());
  }

  // lend() -> a ticket another thread of this process adopts the semaphore by, while anyone here keeps it
  Napi::Value Lend(const Napi::CallbackInfo& info) {
    if (!Live(info.Env())) return info.Env().Undefined();
    return Napi::String::New(info.Env(), sem_->Ticket());
  }

  // unlink(): removes the name now if this process owns it; whoever opened it keeps using it
  Napi::Value Unlink(const Napi::CallbackInfo& info) {
    if (!Live(info.Env())) return info.Env().Undefined();
    OsError err;
    if (!sem_->UnlinkOwned(&err)) ThrowOsError(info.Env(), err);
    return info.Env().Undefined();
  }

  // close(): this reference goes now; pending async waits made through it fail with ERR_MP_CLOSED.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (sem_ && !waits_.empty()) {
      std::shared_ptr<Port> port = env.GetInstanceData<AddonData>()->port;
      OsError closed;
      closed.set("semaphore", kClosedError);
      for (uint64_t id : waits_) port->Fail(id, closed);
    }
    waits_.clear();
    Release(env);
    return env.Undefined();
  }

  void Release(Napi::Env env) {
    if (!sem_) return;
    HubDropIdle(SemaphoreWait::KeyOf(sem_.get(), sem_->HubTarget()));  // a slot lingering for it would keep it open
    if (!wordsBuffer_.IsEmpty()) {
      Napi::ArrayBuffer buffer = wordsBuffer_.Value();
      if (!buffer.IsEmpty() && !buffer.IsDetached()) buffer.Detach();
      wordsBuffer_.Reset();
    }
    if (words_) words_->sem.reset();  // detached (or collected): nothing can read the words any more
    words_.reset();
    sem_.reset();
    Napi::MemoryManagement::AdjustExternalMemory(env, -kSemaphoreCost);
  }

  std::shared_ptr<OsSemaphore> sem_;
  std::shared_ptr<WordsKeeper> words_;
  Napi::Reference<Napi::ArrayBuffer> wordsBuffer_;
  std::vector<uint64_t> waits_;  // async waits made through this reference (some may have ended)
  size_t pruneAt_ = 16;
};

}  // namespace

Napi::Function InitSemaphore(Napi::Env env) { return Semaphore::Init(env); }

}  // namespace mp
