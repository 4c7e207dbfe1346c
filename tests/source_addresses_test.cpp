// SourceAddressesToward reads from the kernel which addresses a client host
// has toward a server: the route's own pick first, then its interface's
// other addresses in that prefix. Checked against what the veth topology
// made, in the namespaces it made.
#include "twbench/source_addresses.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "netns_skip.h"
#include "twbench/listener.h"
#include "twbench/topology.h"

namespace twbench {
namespace {

std::vector<std::string> Texts(const std::vector<sockaddr_storage>& list) {
  std::vector<std::string> out;
  for (const sockaddr_storage& a : list) out.push_back(AddressText(a));
  return out;
}

sockaddr_storage Address(Family family, const std::string& text) {
  std::optional<sockaddr_storage> a = NumericAddress(family, text, 9);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(sockaddr_storage{});
}

TEST(SourceAddressesTest, LoopbackIsItsOwnSource) {
  std::string why;
  const std::vector<sockaddr_storage> found =
      SourceAddressesToward(Address(Family::kIPv4, "127.0.0.1"), &why);
  ASSERT_EQ(why, "");
  ASSERT_FALSE(found.empty());
  EXPECT_EQ(AddressText(found[0]), "127.0.0.1");
  for (const sockaddr_storage& a : found) {
    EXPECT_EQ(AddressText(a).rfind("127.", 0), 0u) << AddressText(a);
  }
}

TEST(SourceAddressesTest, VethClientHasTheAddressesTheTopologyMade) {
  SKIP_WITHOUT_NETNS();
  std::string why;
  std::optional<VethTopology> topo = MakeVethTopology(&why, 4);
  ASSERT_TRUE(topo.has_value()) << why;
  // What one process binds with client_addrs=4 over veth, in that order.
  const std::vector<std::string> made =
      Texts(ClientSources(*topo, Family::kIPv4));
  ASSERT_EQ(made.size(), 4u);
  std::vector<std::string> found;
  RunIn(topo->client, [&] {
    found = Texts(
        SourceAddressesToward(Address(Family::kIPv4, topo->server_ipv4), &why));
  });
  EXPECT_EQ(why, "");
  EXPECT_EQ(found, made);
}

TEST(SourceAddressesTest, OtherPrefixesAndInterfacesAreLeftOut) {
  SKIP_WITHOUT_NETNS();
  std::string why;
  std::optional<VethTopology> topo = MakeVethTopology(&why, 2);
  ASSERT_TRUE(topo.has_value()) << why;
  std::vector<std::string> found;
  RunIn(topo->client, [&] {
    // ip(8) forked from this thread acts in its namespace.
    ASSERT_EQ(
        std::system(("ip address add 10.9.9.9/24 dev " + topo->client_ifname +
                     " && ip address add "
                     "198.18.0.77/32 dev lo")
                        .c_str()),
        0);
    found = Texts(
        SourceAddressesToward(Address(Family::kIPv4, topo->server_ipv4), &why));
  });
  EXPECT_EQ(why, "");
  EXPECT_EQ(found, (std::vector<std::string>{topo->client_ipv4,
                                             topo->client_extra_ipv4.at(0)}));
}

TEST(SourceAddressesTest, Ipv6LeavesLinkLocalOut) {
  SKIP_WITHOUT_NETNS();
  std::string why;
  std::optional<VethTopology> topo = MakeVethTopology(&why, 3);
  ASSERT_TRUE(topo.has_value()) << why;
  if (topo->client_ipv6.empty()) GTEST_SKIP() << "the kernel has no IPv6";
  std::vector<std::string> found;
  RunIn(topo->client, [&] {
    found = Texts(
        SourceAddressesToward(Address(Family::kIPv6, topo->server_ipv6), &why));
  });
  EXPECT_EQ(why, "");
  // The route's pick comes first; for IPv6 the kernel's source selection
  // (RFC 6724) need not pick the first address added, so only the set is
  // compared.
  std::vector<std::string> made = Texts(ClientSources(*topo, Family::kIPv6));
  std::sort(found.begin(), found.end());
  std::sort(made.begin(), made.end());
  EXPECT_EQ(found, made);
  for (const std::string& a : found) EXPECT_NE(a.rfind("fe80", 0), 0u) << a;
}

TEST(SourceAddressesTest, NoRouteIsAnErrorNotAGuess) {
  SKIP_WITHOUT_NETNS();
  std::string why;
  std::vector<sockaddr_storage> found;
  test::InFreshNetns([&] {
    found = SourceAddressesToward(Address(Family::kIPv4, "198.18.0.1"), &why);
  });
  EXPECT_TRUE(found.empty());
  EXPECT_EQ(why, "no route to 198.18.0.1: ENETUNREACH");
}

}  // namespace
}  // namespace twbench
