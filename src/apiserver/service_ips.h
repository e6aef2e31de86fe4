#pragma once
// Allocates Service ClusterIPs from --service-cidr and NodePorts from
// 30000-32767 without duplicates. The truth is the set of stored Services
// (read from the watch cache) plus allocations whose create is in flight.

#include <cstdint>
#include <mutex>
#include <set>
#include <string>

#include "apiserver/object_cache.h"
#include "common/status.h"

namespace capstan::apiserver {

class ServiceAllocator {
 public:
  static Result<std::unique_ptr<ServiceAllocator>> create(const std::string& service_cidr, const ObjectCache& cache);

  // A free ClusterIP, reserved until release().
  Result<std::string> allocateIp();
  // Reserves a requested ClusterIP: Invalid if outside the range or taken.
  Status reserveIp(const std::string& ip);
  Result<int> allocateNodePort();
  Status reserveNodePort(int port);
  // Ends an in-flight reservation (committed or abandoned).
  void release(const std::string& ip);
  void releasePort(int port);
  // The first usable address (the "kubernetes" service's ClusterIP).
  std::string firstIp() const;
  std::string cidr() const { return cidr_; }

 private:
  ServiceAllocator(const ObjectCache& cache) : cache_(cache) {}
  void usedLocked(std::set<uint32_t>* ips, std::set<int>* ports) const;

  const ObjectCache& cache_;
  std::string cidr_;
  uint32_t base_ = 0;
  uint32_t size_ = 0;
  std::mutex mu_;  // guards pending_*
  std::set<uint32_t> pending_ips_;
  std::set<int> pending_ports_;
  uint64_t next_ = 0;
};

}  // namespace capstan::apiserver
