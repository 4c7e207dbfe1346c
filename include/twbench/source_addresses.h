// The source addresses a host has toward a server, read from the kernel:
// what a client rank of an MPI job binds in turn with client_addrs > 1,
// where no topology of twbench's own made them.
#pragma once

#include <sys/socket.h>

#include <string>
#include <vector>

namespace twbench {

// The address the kernel's route to `server` picks as source first (a
// connected UDP socket's local address: nothing is sent), then the other
// addresses of that family on the same interface and in the same prefix as
// it, in the order the interface lists them; IPv6 link-local ones are left
// out. Every address has port 0. Read in the calling thread's network
// namespace. Empty with *why set when there is no route or the kernel
// cannot be asked.
std::vector<sockaddr_storage> SourceAddressesToward(
    const sockaddr_storage& server, std::string* why);

// "198.18.0.2" or "2001:2::2" (no port); "?" for another family.
std::string AddressText(const sockaddr_storage& address);

}  // namespace twbench
