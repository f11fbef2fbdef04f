/* Stand-in: Darwin's IPv4 and IPv6 address structures (network byte order). */
#ifndef FIXTURE_NETINET_IN_H
#define FIXTURE_NETINET_IN_H
#include <sys/types.h>
struct in_addr {
	in_addr_t s_addr;
};
struct in6_addr {
	union {
		__uint8_t __u6_addr8[16];
		__uint16_t __u6_addr16[8];
		__uint32_t __u6_addr32[4];
	} __u6_addr;
};
#endif
