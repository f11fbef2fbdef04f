/* Stand-in: a 48-bit Ethernet address. */
#ifndef FIXTURE_NET_ETHERNET_H
#define FIXTURE_NET_ETHERNET_H
#include <sys/types.h>
typedef struct ether_addr {
	u_char octet[6];
} ether_addr_t;
#endif
