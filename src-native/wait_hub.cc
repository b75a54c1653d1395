// The wait hub (wait_hub.h): groups of waits by target, the threads that block on them, and the rules every kind of
// thread shares — serve a group first come first served, time waits out, drop what nobody waits for any more.
#include "wait_hub.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

namespace mp {
namespace {

using WaitPtr = std::shared_ptr<HubWait>;
class HubThread;

// The waits of one target, in arrival order. `anchor` is the wait that armed the target: it keeps the target's
// object alive (and its memory mapped, its handle open) for as long as a thread may block on it.
struct Group {
  const void* key;
  WaitTarget target;
  std::deque<WaitPtr> waits;
  WaitPtr anchor;
  HubThread* owner = nullptr;
  bool armed = false;
  int64_t lingerUntil = kNoDeadline;  // set while an armed group has no waits: removed then
};

// Polled waits are looked at after kMinPollNs, then twice as late each time nothing happened, up to kMaxPollNs:
// what CPython does on macOS, for every polled wait of the process at once.
constexpr int64_t kMinPollNs = 20000;
constexpr int64_t kMaxPollNs = 20000000;
// Without futex_waitv a thread sleeps on its one word and cannot always be interrupted: it looks again this often.
constexpr int64_t kFallbackSliceNs = 50000000;

int64_t Earlier(int64_t a, int64_t b) {
  if (a == kNoDeadline) return b;
  if (b == kNoDeadline) return a;
  return a < b ? a : b;
}

struct Hub {
  std::mutex mutex;
  std::unordered_map<const void*, std::unique_ptr<Group>> groups;
  std::vector<HubThread*> threads;  // word and handle threads
  HubThread* poller = nullptr;
};

// Leaked on purpose: hub threads may still run while static destructors do at exit.
Hub& TheHub() {
  static Hub* hub = new Hub();
  return *hub;
}

class HubThread {
 public:
  explicit HubThread(WaitTarget::Kind kind) : kind(kind) {}
  virtual ~HubThread() = default;

  bool Start(OsError* err) {
    try {
      std::thread(&HubThread::Run, this).detach();
    } catch (const std::system_error& e) {
      err->set("pthread_create", e.code().value());
      return false;
    }
    return true;
  }

  // How many groups it blocks on at once.
  virtual size_t Capacity() const = 0;
  // Makes it look at its groups again soon (called with the hub's lock held).
  virtual void Interrupt() = 0;
  // Under the lock, after Interrupt(), from another thread: makes sure this thread's sleep no longer waits on
  // `target`, whose group is being removed, so that no wake of the target can reach that sleep from now on.
  virtual void Leave(const WaitTarget& target) { (void)target; }

  const WaitTarget::Kind kind;  // kPolled: the polling thread, which takes targets of every kind
  std::vector<Group*> groups;
  std::vector<std::unique_ptr<Group>> retired;  // removed while this thread may block on them; freed after
  int64_t blockedUntil = kNoDeadline;            // the deadline of its current sleep

 protected:
  // Sleeps (the lock released) until something may have changed or `deadlineNs`. Sets `signalled` to the group
  // whose handle was signalled (the sleep took one of its units), `woken` to the group whose word was woken.
  virtual void Block(std::unique_lock<std::mutex>& lock, int64_t deadlineNs, Group** signalled, Group** woken) = 0;

 private:
  void Run();
  bool Pass(std::vector<WaitPtr>* done, Group* signalled, Group* woken, int64_t* deadline);
};

// `byOwner`: called by the group's own thread, which does not sleep meanwhile.
void RemoveGroup(Group* group, bool byOwner);

// Ends `wait` (pending) with `result`; false when it was cancelled meanwhile.
bool Finish(const WaitPtr& wait, WaitResult result) {
  int expected = HubWait::kPending;
  if (!wait->state.compare_exchange_strong(expected, HubWait::kDone)) return false;
  wait->result = result;
  return true;
}

// Hands what the group's target has to its waits, oldest first. `signalled`: the thread's sleep took one unit.
void Serve(Group* group, bool signalled, std::vector<WaitPtr>* done) {
  bool holding = signalled;
  while (!group->waits.empty()) {
    WaitPtr front = group->waits.front();
    if (front->state.load() != HubWait::kPending) {
      group->waits.pop_front();  // cancelled, its HubCancel not yet here
      continue;
    }
    if (!holding) {
      OsError err;
      WaitResult r = group->anchor->TryTake(&err);
      if (r == WaitResult::TimedOut) break;
      if (r == WaitResult::Failed) {  // the target is broken: every wait on it fails
        for (const WaitPtr& wait : group->waits) {
          if (!Finish(wait, WaitResult::Failed)) continue;
          wait->error = err;
          done->push_back(wait);
        }
        group->waits.clear();
        break;
      }
      holding = true;
    }
    group->waits.pop_front();
    if (Finish(front, WaitResult::Acquired)) {
      done->push_back(front);
      holding = false;
    }
  }
  if (holding) group->anchor->GiveBack();
}

void Expire(Group* group, int64_t now, std::vector<WaitPtr>* done) {
  auto& waits = group->waits;
  for (auto it = waits.begin(); it != waits.end();) {
    const WaitPtr& wait = *it;
    if (wait->deadlineNs != kNoDeadline && wait->deadlineNs <= now) {
      if (Finish(wait, WaitResult::TimedOut)) done->push_back(wait);
      it = waits.erase(it);
    } else {
      ++it;
    }
  }
}

// Outside the hub's lock: what ended is reported; what a gone environment cannot receive is given back.
void Report(std::vector<WaitPtr>* done) {
  for (const WaitPtr& wait : *done) {
    wait->Ended(wait->result);
    if (!wait->port->Deliver(wait) && wait->result == WaitResult::Acquired) wait->Undo();
  }
  done->clear();
}

size_t WaitsOf(const HubThread* thread) {
  size_t n = 0;
  for (const Group* group : thread->groups) n += group->waits.size();
  return n;
}

// One pass over this thread's groups, under the lock. `woken`: the group whose word woke this thread. False when
// there is no memory to do it now.
bool HubThread::Pass(std::vector<WaitPtr>* done, Group* signalled, Group* woken, int64_t* deadline) {
  try {
    done->reserve(WaitsOf(this) + 1);  // so that nothing below can fail half-way
  } catch (const std::bad_alloc&) {
    return false;
  }
  if (signalled != nullptr) {
    if (signalled->owner == this) {
      Serve(signalled, true, done);
    } else if (signalled->anchor) {
      signalled->anchor->GiveBack();  // removed while the unit was on its way: nobody here waits for it
    }
  }
  // Words and polled targets are looked at all at once (a compare-and-swap or a non-blocking try each); a handle
  // thread learns from its sleep which handle to serve.
  if (woken != nullptr && woken->owner == this) {
    for (const WaitPtr& wait : woken->waits) wait->Woken();
  }
  if (kind != WaitTarget::kHandle) {
    for (Group* group : groups) Serve(group, false, done);
  }
  // A post woke this process for a word none of its waits took a unit of: another sleeper must get that wake.
  if (woken != nullptr && woken->waits.empty() && woken->anchor) {
    woken->anchor->PassOn(woken->owner == this && woken->armed);
  }
  retired.clear();  // this thread no longer blocks on them
  int64_t now = MonotonicNs();
  *deadline = kNoDeadline;
  for (size_t i = 0; i < groups.size();) {
    Group* group = groups[i];
    Expire(group, now, done);
    if (group->waits.empty()) {
      if (group->lingerUntil == kNoDeadline && group->armed && group->anchor->Lingers()) {
        group->lingerUntil = now + kLingerNs;
      }
      if (group->lingerUntil == kNoDeadline || now >= group->lingerUntil) {
        RemoveGroup(group, true);  // erases it from `groups`
        continue;
      }
      *deadline = Earlier(*deadline, group->lingerUntil);
    } else {
      group->lingerUntil = kNoDeadline;
      for (const WaitPtr& wait : group->waits) *deadline = Earlier(*deadline, wait->deadlineNs);
    }
    i++;
  }
  return true;
}

void HubThread::Run() {
  Hub& hub = TheHub();
  std::vector<WaitPtr> done;
  std::unique_lock<std::mutex> lock(hub.mutex);
  Group* signalled = nullptr;
  Group* woken = nullptr;
  int64_t idleSince = MonotonicNs();
  for (;;) {
    int64_t deadline = kNoDeadline;
    if (!Pass(&done, signalled, woken, &deadline)) {
      lock.unlock();  // no memory now: try again in a moment
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      lock.lock();
      continue;
    }
    signalled = nullptr;
    woken = nullptr;
    if (!done.empty()) {
      lock.unlock();
      Report(&done);
      lock.lock();
      continue;  // things may have changed meanwhile
    }
    if (!groups.empty()) {
      idleSince = MonotonicNs();
    } else {
      int64_t idleEnd = idleSince + static_cast<int64_t>(kIdleSeconds) * 1000000000;
      if (MonotonicNs() >= idleEnd) break;
      deadline = idleEnd;
    }
    blockedUntil = deadline;
    Block(lock, deadline, &signalled, &woken);
    blockedUntil = kNoDeadline;
  }
  // Idle for long enough: leave. Nobody else can reach this thread once it is out of the hub's lists.
  if (hub.poller == this) hub.poller = nullptr;
  hub.threads.erase(std::remove(hub.threads.begin(), hub.threads.end(), this), hub.threads.end());
  lock.unlock();
  delete this;
}

// Under the lock: the group has no waits left. Its target is disarmed; the group itself is kept until its thread
// wakes up (its sleep may still name it). The anchor, and with it maybe the target's last reference, goes at once —
// the thread is interrupted first, so its next futex_waitv returns at once whatever the word's memory has become,
// and a polling thread looks at no removed group — except a handle's: it stays open until the thread woke from
// WaitForMultipleObjects.
void RemoveGroup(Group* group, bool byOwner) {
  Hub& hub = TheHub();
  HubThread* owner = group->owner;
  owner->Interrupt();
  // A sleep of the owner stays queued on the target until the owner runs again, and a wake it took meanwhile would
  // reach a group that passes nothing on: the target's other sleepers would sleep on with a unit free. It leaves the
  // target first (where waking them all is harmless); a wake it took before that left a unit that Disarm's pass-on
  // hands on.
  if (!byOwner && group->anchor->WakeAllHarmless()) owner->Leave(group->target);
  if (group->armed) group->anchor->Disarm();
  auto& list = owner->groups;
  list.erase(std::remove(list.begin(), list.end(), group), list.end());
  auto found = hub.groups.find(group->key);
  group->owner = nullptr;
  if (owner->kind != WaitTarget::kHandle) group->anchor.reset();
  owner->retired.push_back(std::move(found->second));  // reserved: see HubAdd
  hub.groups.erase(found);
}

#ifdef __linux__
// Blocks on up to 127 futex words and a control word of its own (futex_waitv), or — on kernels before 5.16 — on one
// word, then looks again at least every kFallbackSliceNs, since an interrupt can come just before its sleep.
class WordThread : public HubThread {
 public:
  WordThread() : HubThread(WaitTarget::kWord) {}

  size_t Capacity() const override { return Fallback() ? 1 : WordWaitCapacity() - 1; }

  void Interrupt() override {
    control_.fetch_add(1);
    WakeWord(ControlWord(), false, 1);
    if (waitingOn_ != nullptr) WakeWord(waitingOn_->word, waitingOn_->shared, INT_MAX);
  }

  // A wake takes a sleeper off the woken word at once (the kernel unqueues it there), but off the other words of a
  // futex_waitv only when it runs again: until then a post may pick this thread. Waking every sleeper of the word
  // takes it off now (the others look again and sleep on); the control word, changed by Interrupt(), keeps a sleep
  // that has not begun from waiting on the word at all.
  void Leave(const WaitTarget& target) override { WakeWord(target.word, target.shared, INT_MAX); }

 protected:
  void Block(std::unique_lock<std::mutex>& lock, int64_t deadlineNs, Group**, Group** woken) override {
    WordWait waits[128];
    Group* order[128];
    size_t n = 0;
    // Decided before the sleep: groups may come and go while the lock is let go, and whether index 0 is the control
    // word must be what this sleep used (decided after it, an interrupted sleep of a thread that had no group and
    // was given one read order[0], never written).
    const bool control = !Fallback() || groups.empty();
    if (control) waits[n++] = {ControlWord(), control_.load(), false};
    for (Group* group : groups) {
      // A group with waits sleeps while the value is its sleep value. A lingering one (no waits) sleeps until any
      // change, whatever the value: it does not want a unit, only to stay armed.
      uint32_t expected =
          group->waits.empty() ? __atomic_load_n(group->target.word, __ATOMIC_SEQ_CST) : group->target.sleepValue;
      order[n] = group;
      waits[n++] = {group->target.word, expected, group->target.shared};
    }
    if (Fallback() && !groups.empty()) {
      waitingOn_ = &groups[0]->target;
      deadlineNs = Earlier(deadlineNs, MonotonicNs() + kFallbackSliceNs);
    }
    lock.unlock();
    OsError err;
    int r = WaitForWords(waits, n, deadlineNs, &err);
    if (r == kWordsFailed) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // never spin on an error
    lock.lock();
    waitingOn_ = nullptr;
    if (r >= (control ? 1 : 0)) *woken = order[r];  // still allocated: removed groups wait in `retired`
  }

 private:
  static bool Fallback() { return WordWaitCapacity() == 1; }
  uint32_t* ControlWord() { return reinterpret_cast<uint32_t*>(&control_); }

  std::atomic<uint32_t> control_{0};
  const WaitTarget* waitingOn_ = nullptr;
};
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "a futex word must be a plain 32-bit word");
#endif

#ifdef _WIN32
// Blocks on up to 63 handles and a control event of its own (WaitForMultipleObjects). The first handle of the list
// wins when several are signalled, so the list starts at a different group each time.
class HandleThread : public HubThread {
 public:
  HandleThread() : HubThread(WaitTarget::kHandle) {}
  ~HandleThread() override {
    if (control_ != 0) {
      OsError ignored;
      CloseHandleValue(control_, &ignored);
    }
  }

  bool Init(OsError* err) {
    control_ = MakeEvent(err);
    return control_ != 0;
  }

  size_t Capacity() const override { return 63; }
  void Interrupt() override { SignalEvent(control_); }

 protected:
  void Block(std::unique_lock<std::mutex>& lock, int64_t deadlineNs, Group** signalled, Group**) override {
    uint64_t handles[64];
    Group* order[64];
    size_t n = groups.size();
    handles[0] = control_;
    for (size_t i = 0; i < n; i++) {
      order[i + 1] = groups[(i + rotation_) % n];
      handles[i + 1] = order[i + 1]->target.handle;
    }
    rotation_++;
    lock.unlock();
    OsError err;
    int r = WaitForHandles(handles, n + 1, deadlineNs, &err);
    if (r == kHandlesFailed) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // never spin on an error
    lock.lock();
    if (r >= 1) *signalled = order[r];  // a removed group is still in `retired`: Pass gives its unit back
  }

 private:
  uint64_t control_ = 0;
  size_t rotation_ = 0;
};
#endif

// Looks at every polled group in turn, sleeping in between as long as nothing happens (kMinPollNs..kMaxPollNs).
class PollThread : public HubThread {
 public:
  PollThread() : HubThread(WaitTarget::kPolled) {}

  size_t Capacity() const override { return SIZE_MAX; }

  void Interrupt() override {
    interrupted_ = true;
    wake_.notify_one();
  }

 protected:
  void Block(std::unique_lock<std::mutex>& lock, int64_t deadlineNs, Group**, Group**) override {
    if (interrupted_) sleepNs_ = kMinPollNs;  // something new: look soon
    interrupted_ = false;
    int64_t until = groups.empty() ? deadlineNs : Earlier(deadlineNs, MonotonicNs() + sleepNs_);
    auto pred = [this] { return interrupted_; };
    if (until == kNoDeadline) {
      wake_.wait(lock, pred);
    } else {
      wake_.wait_for(lock, std::chrono::nanoseconds(std::max<int64_t>(0, until - MonotonicNs())), pred);
    }
    sleepNs_ = std::min(sleepNs_ * 2, kMaxPollNs);
  }

 private:
  std::condition_variable wake_;
  bool interrupted_ = false;
  int64_t sleepNs_ = kMinPollNs;
};

// A thread with room for a target of `kind`, started if need be; the polling thread when the others are full.
HubThread* ThreadFor(const WaitTarget& target, OsError* err) {
  WaitTarget::Kind kind = target.kind;
  Hub& hub = TheHub();
  bool blocking = false;
#ifdef __linux__
  blocking = blocking || kind == WaitTarget::kWord;
#endif
#ifdef _WIN32
  blocking = blocking || kind == WaitTarget::kHandle;
#endif
  if (blocking) {
    for (HubThread* thread : hub.threads) {
      // Two sleeps of one futex_waitv on the same word would take two wakes and report one: a word gets one
      // group per thread (several groups per word come from waits on shared memory, each its own group).
      if (thread->kind != kind || thread->groups.size() >= thread->Capacity()) continue;
      bool sameWord = kind == WaitTarget::kWord && std::any_of(thread->groups.begin(), thread->groups.end(),
                                                               [&](const Group* g) { return g->target.word == target.word; });
      if (!sameWord) return thread;
    }
    if (hub.threads.size() < kMaxHubThreads) {
      hub.threads.reserve(hub.threads.size() + 1);
      HubThread* thread = nullptr;
#ifdef __linux__
      thread = new WordThread();
#endif
#ifdef _WIN32
      auto* handles = new HandleThread();
      if (!handles->Init(err)) {
        delete handles;
        return nullptr;
      }
      thread = handles;
#endif
      if (!thread->Start(err)) {
        delete thread;
        return nullptr;
      }
      hub.threads.push_back(thread);
      return thread;
    }
  }
  if (hub.poller == nullptr) {
    auto* poller = new PollThread();
    if (!poller->Start(err)) {
      delete poller;
      return nullptr;
    }
    hub.poller = poller;
  }
  return hub.poller;
}

Group* GroupOf(const WaitPtr& wait) {
  Hub& hub = TheHub();
  auto found = hub.groups.find(wait->Key());
  return found == hub.groups.end() ? nullptr : found->second.get();
}

// Under the lock: takes `wait` out of its group. An emptied group lingers or goes at its thread's next pass.
void Unlink(const WaitPtr& wait) {
  Group* group = GroupOf(wait);
  if (group == nullptr) return;
  auto& waits = group->waits;
  waits.erase(std::remove(waits.begin(), waits.end(), wait), waits.end());
  if (waits.empty()) group->owner->Interrupt();
}

}  // namespace

bool HubAdd(const WaitPtr& wait, OsError* err) {
  Hub& hub = TheHub();
  std::unique_lock<std::mutex> lock(hub.mutex);
  if (Group* group = GroupOf(wait)) {
    std::vector<WaitPtr> done;
    done.reserve(group->waits.size() + 1);
    group->waits.push_back(wait);
    // What is there now goes to the oldest wait at once. Its thread may sleep on a lingering word until it changes,
    // and a unit that is already there changes nothing: only this look finds it.
    Serve(group, false, &done);
    HubThread* owner = group->owner;
    if (owner->kind == WaitTarget::kPolled ||
        (wait->deadlineNs != kNoDeadline && Earlier(owner->blockedUntil, wait->deadlineNs) == wait->deadlineNs)) {
      owner->Interrupt();  // an earlier deadline than the one it sleeps until; or a polled wait: look soon
    }
    lock.unlock();
    Report(&done);
    return true;
  }
  auto group = std::unique_ptr<Group>(new Group());
  group->key = wait->Key();
  group->target = wait->Target();
  group->anchor = wait;
  group->waits.push_back(wait);
  HubThread* thread = ThreadFor(group->target, err);
  if (thread == nullptr) return false;
  // Room first, so that nothing can fail once the group is in: RemoveGroup moves it to `retired` without failing.
  thread->groups.reserve(thread->groups.size() + 1);
  thread->retired.reserve(thread->retired.size() + thread->groups.size() + 1);
  Group* added = group.get();
  hub.groups.emplace(added->key, std::move(group));
  added->owner = thread;
  thread->groups.push_back(added);
  if (thread->kind != WaitTarget::kPolled) {
    added->anchor->Arm();
    added->armed = true;
  }
  thread->Interrupt();
  return true;
}

bool HubCancel(const WaitPtr& wait) {
  int expected = HubWait::kPending;
  if (!wait->state.compare_exchange_strong(expected, HubWait::kCancelled)) return false;
  std::lock_guard<std::mutex> lock(TheHub().mutex);
  Unlink(wait);
  return true;
}

bool HubFail(const WaitPtr& wait, const OsError& err) {
  if (!Finish(wait, WaitResult::Failed)) return false;
  wait->error = err;
  {
    std::lock_guard<std::mutex> lock(TheHub().mutex);
    Unlink(wait);
  }
  std::vector<WaitPtr> done{wait};
  Report(&done);
  return true;
}

void HubPurge(const WaitPort* port) {
  Hub& hub = TheHub();
  std::vector<WaitPtr> dropped;
  {
    std::lock_guard<std::mutex> lock(hub.mutex);
    std::vector<Group*> emptied;
    for (auto& entry : hub.groups) {
      Group* group = entry.second.get();
      auto& waits = group->waits;
      for (auto it = waits.begin(); it != waits.end();) {
        int expected = HubWait::kPending;
        if ((*it)->port.get() == port && (*it)->state.compare_exchange_strong(expected, HubWait::kCancelled)) {
          dropped.push_back(*it);
          it = waits.erase(it);
        } else {
          ++it;
        }
      }
      if (waits.empty()) emptied.push_back(group);
    }
    for (Group* group : emptied) RemoveGroup(group, false);
  }
  for (const WaitPtr& wait : dropped) wait->Ended(WaitResult::TimedOut);
}

void HubDropIdle(const void* key) {
  Hub& hub = TheHub();
  std::lock_guard<std::mutex> lock(hub.mutex);
  auto found = hub.groups.find(key);
  if (found != hub.groups.end() && found->second->waits.empty()) RemoveGroup(found->second.get(), false);
}

size_t HubThreads() {
  Hub& hub = TheHub();
  std::lock_guard<std::mutex> lock(hub.mutex);
  return hub.threads.size() + (hub.poller ? 1 : 0);
}

}  // namespace mp
