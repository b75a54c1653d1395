// The parts of os.h that are the same on every platform: deadlines, and what one thread of this process hands
// another (semaphores by ticket, descriptors and handles by duplicate).
#include <cmath>
#include <mutex>
#include <random>
#include <unordered_map>

#include "os.h"

namespace mp {

int64_t DeadlineAfterMs(double timeoutMs) {
  if (!(timeoutMs >= 0) || timeoutMs >= kForeverMs) return kNoDeadline;  // also NaN
  return MonotonicNs() + static_cast<int64_t>(std::ceil(timeoutMs * 1e6));
}

namespace {

// One lock for both registries: lending is rare, and adopting must not race with the owner closing.
std::mutex& RegistryMutex() {
  static std::mutex* mutex = new std::mutex();  // leaked: used by threads that may outlive static destructors
  return *mutex;
}

struct Registry {
  // Tickets start with a random prefix, so a ticket taken to another process names nothing there.
  std::string prefix = std::to_string(std::random_device()()) + std::to_string(std::random_device()()) + "-";
  uint64_t next = 0;
  std::unordered_map<std::string, std::weak_ptr<OsSemaphore>> semaphores;
  std::unordered_map<std::string, uint64_t> descriptors;       // ticket -> value
  std::unordered_map<uint64_t, std::string> descriptorTickets;  // value -> ticket
};

Registry& TheRegistry() {
  static Registry* registry = new Registry();
  return *registry;
}

std::string NewTicket(const char* kind) {
  Registry& registry = TheRegistry();
  return kind + registry.prefix + std::to_string(++registry.next);
}

}  // namespace

std::string OsSemaphore::Ticket() {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  if (ticket_.empty()) {
    std::string ticket = NewTicket("s");
    TheRegistry().semaphores.emplace(ticket, weak_from_this());
    ticket_ = ticket;
  }
  return ticket_;
}

void OsSemaphore::ForgetTicket() {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  if (!ticket_.empty()) TheRegistry().semaphores.erase(ticket_);
}

std::shared_ptr<OsSemaphore> OsSemaphore::Adopt(const std::string& ticket) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto found = TheRegistry().semaphores.find(ticket);
  return found == TheRegistry().semaphores.end() ? nullptr : found->second.lock();
}

std::string LendDescriptor(uint64_t value) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  Registry& registry = TheRegistry();
  auto found = registry.descriptorTickets.find(value);
  if (found != registry.descriptorTickets.end()) return found->second;
  std::string ticket = NewTicket("d");
  registry.descriptors.emplace(ticket, value);
  registry.descriptorTickets.emplace(value, ticket);
  return ticket;
}

void RevokeDescriptor(uint64_t value) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  Registry& registry = TheRegistry();
  auto found = registry.descriptorTickets.find(value);
  if (found == registry.descriptorTickets.end()) return;
  registry.descriptors.erase(found->second);
  registry.descriptorTickets.erase(found);
}

bool AdoptDescriptor(const std::string& ticket, uint64_t* adopted, OsError* err) {
  std::lock_guard<std::mutex> lock(RegistryMutex());  // held while duplicating: the owner cannot close it meanwhile
  auto found = TheRegistry().descriptors.find(ticket);
  if (found == TheRegistry().descriptors.end()) {
    err->set("adopt", kBadDescriptorError);
    return false;
  }
  return DuplicateHere(found->second, adopted, err);
}

}  // namespace mp
