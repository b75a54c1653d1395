// The wait hub: a few threads per process that wait on behalf of every pending async wait of every JS environment
// (main thread and worker threads), instead of a thread per wait.
//
// A wait names a target (os.h WaitTarget): a futex word (Linux), a handle (Windows) or nothing (polled). Waits with
// the same target form a group that takes one slot of one hub thread and is served first come, first served. A hub
// thread blocks on all of its slots at once — futex_waitv on up to 127 words, WaitForMultipleObjects on up to 63
// handles, each plus a control word or event — and hands what it obtained to the wait's port, which delivers it to
// the wait's JS environment. Polled targets (macOS, Windows pipes, and whatever does not fit in kMaxThreads threads)
// share one polling thread. A thread without slots for kIdleSeconds exits.
//
// What a wake means is the wait's business (HubWait): a semaphore wait takes a unit; a plain futex wait (for shared
// memory of its own) would simply end. The hub only knows words, handles, deadlines and first-come-first-served.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "os.h"

namespace mp {

class HubWait;

// Where finished waits are reported: one per JS environment (binding.cc).
class WaitPort {
 public:
  virtual ~WaitPort() = default;
  // Runs on a hub thread (or the JS thread, for HubFail). false: the environment is gone; the hub then gives back
  // what the wait obtained.
  virtual bool Deliver(std::shared_ptr<HubWait> wait) = 0;
};

// One pending wait. Everything but the state changes happens under the hub's lock.
class HubWait {
 public:
  enum State { kPending, kCancelled, kDone };

  HubWait(std::shared_ptr<WaitPort> port, int64_t deadlineNs) : port(std::move(port)), deadlineNs(deadlineNs) {}
  virtual ~HubWait() = default;
  HubWait(const HubWait&) = delete;
  HubWait& operator=(const HubWait&) = delete;

  // What a hub thread blocks on. Waits with the same Key() share a slot.
  virtual WaitTarget Target() const = 0;
  virtual const void* Key() const = 0;
  // The first wait of a group arms the target (counts a sleeper), the last disarms it.
  virtual void Arm() {}
  virtual void Disarm() {}
  // A wake reached this process for the target while none of its waits could use it: passes it on to another
  // sleeper of the target, if there is one (`armed`: this process is counted among the sleepers).
  virtual void PassOn(bool armed) { (void)armed; }
  // Under the hub's lock: the target's word was woken for this wait's group (before TryTake is asked).
  virtual void Woken() {}
  // Whether the group's slot stays armed for kLingerNs after its last wait (semaphores); a plain wait on a word must
  // not linger, or its sleeper would take a wake meant for another.
  virtual bool Lingers() const { return true; }
  // Whether waking every sleeper of the target is harmless: true where a wake only says "look again" (a semaphore's
  // unit is there to take or not); false where the wake itself is the news (a plain wait on a word is told "ok").
  virtual bool WakeAllHarmless() const { return true; }
  // Takes what the wait waits for if it is there now (Acquired), else TimedOut; Failed with err on error. For a
  // handle target the hub's wait itself took it: TryTake is used only when such a target is polled.
  virtual WaitResult TryTake(OsError* err) = 0;
  // Gives back a unit of the target that TryTake (or a signalled handle) obtained and no wait of this process uses.
  virtual void GiveBack() {}
  // Gives back what this wait obtained, which nobody will receive (its environment is gone): GiveBack() unless the
  // wait gave it back already (Ended).
  virtual void Undo() { GiveBack(); }
  // On a hub thread, once the wait ended (obtained, timed out, or dropped with its environment), before delivery.
  virtual void Ended(WaitResult) {}

  const std::shared_ptr<WaitPort> port;
  const int64_t deadlineNs;  // MonotonicNs(), or kNoDeadline
  std::atomic<int> state{kPending};
  // Set by the hub before delivery.
  WaitResult result = WaitResult::TimedOut;
  OsError error;
  uint64_t id = 0;  // the port's name for it
};

// The most threads the hub blocks in (word or handle threads); the polling thread comes on top.
constexpr size_t kMaxHubThreads = 32;
// How long a thread without slots stays before it exits.
constexpr int kIdleSeconds = 10;
// How long a word's slot stays armed after its last wait ended: the next wait on the same semaphore (a lock taken
// again and again, a queue's items) then needs no interrupt of the thread, only the post that wakes it.
constexpr int64_t kLingerNs = 5000000;

// Starts serving `wait`. False (err set) when no thread could be started for it.
bool HubAdd(const std::shared_ptr<HubWait>& wait, OsError* err);
// True when the wait was still pending: it is dropped and will never be delivered. False: its result is on its way.
bool HubCancel(const std::shared_ptr<HubWait>& wait);
// Ends a pending wait with `err` (its object was closed); it is delivered as usual. False when no longer pending.
bool HubFail(const std::shared_ptr<HubWait>& wait, const OsError& err);
// Drops every pending wait of `port`, whose environment is being torn down; each one's Ended still runs.
void HubPurge(const WaitPort* port);
// The target with this key is being closed here: a slot that only lingers for it (no waits) goes now, and with it
// the hub's reference to the target.
void HubDropIdle(const void* key);
// Threads the hub runs now (word, handle and polling threads).
size_t HubThreads();

}  // namespace mp
