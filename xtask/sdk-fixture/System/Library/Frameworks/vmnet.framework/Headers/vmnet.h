/*
 * Stand-in for vmnet.framework's public interface as of the macOS 26 SDK, written from the
 * project's facts sheet (shared/vmnet-api.md), spelled the way that sheet records Apple's header
 * to be spelled when compiled as C: the same includes in the same order, the enums declared
 * through OBJC_ENUM/OBJC_OPTIONS (a uint32_t typedef plus an anonymous enum in C), the same
 * annotations and the same parameter names. Availability annotations give first availability.
 */
#ifndef FIXTURE_VMNET_VMNET_H
#define FIXTURE_VMNET_VMNET_H

#include <CoreFoundation/CoreFoundation.h>
#include <dispatch/dispatch.h>
#include <xpc/xpc.h>
#include <objc/objc-api.h>
#include <os/availability.h>
#include <sys/cdefs.h>
#include <netinet/in.h>
#include <net/ethernet.h>

__BEGIN_DECLS

#if __has_feature(assume_nonnull)
_Pragma("clang assume_nonnull begin")
#endif

/* ---- handles ---------------------------------------------------------------------------- */

typedef struct vmnet_interface *interface_ref;
typedef struct vmnet_network *vmnet_network_ref API_AVAILABLE(macos(26.0)) API_UNAVAILABLE(ios, watchos, tvos);
typedef struct vmnet_network_configuration *vmnet_network_configuration_ref API_AVAILABLE(macos(26.0))
	API_UNAVAILABLE(ios, watchos, tvos);

/* ---- enumerations ----------------------------------------------------------------------- */

typedef OBJC_ENUM(uint32_t, operating_modes_t) {
	VMNET_HOST_MODE = 1000,
	VMNET_SHARED_MODE = 1001,
	VMNET_BRIDGED_MODE API_AVAILABLE(macos(10.15)) = 1002,
};

typedef operating_modes_t vmnet_mode_t API_AVAILABLE(macos(26.0)) API_UNAVAILABLE(ios, watchos, tvos);

typedef OBJC_OPTIONS(uint32_t, interface_event_t) {
	VMNET_INTERFACE_PACKETS_AVAILABLE = 1 << 0,
};

typedef OBJC_ENUM(uint32_t, vmnet_return_t) {
	VMNET_SUCCESS = 1000,
	VMNET_FAILURE = 1001,
	VMNET_MEM_FAILURE = 1002,
	VMNET_INVALID_ARGUMENT = 1003,
	VMNET_SETUP_INCOMPLETE = 1004,
	VMNET_INVALID_ACCESS = 1005,
	VMNET_PACKET_TOO_BIG = 1006,
	VMNET_BUFFER_EXHAUSTED = 1007,
	VMNET_TOO_MANY_PACKETS = 1008,
	VMNET_SHARING_SERVICE_BUSY API_AVAILABLE(macos(11.0)) = 1009,
	VMNET_NOT_AUTHORIZED API_AVAILABLE(macos(14.0)) = 1010,
};

/* ---- packet descriptor ------------------------------------------------------------------ */

struct vmpktdesc {
	size_t vm_pkt_size;
	struct iovec *vm_pkt_iov;
	uint32_t vm_pkt_iovcnt;
	uint32_t vm_flags;
};

/* ---- dictionary keys -------------------------------------------------------------------- */

extern const char *const vmnet_operation_mode_key API_AVAILABLE(macos(10.10)) API_UNAVAILABLE(ios, watchos, tvos);
extern const char *const vmnet_interface_id_key API_AVAILABLE(macos(10.10)) API_UNAVAILABLE(ios, watchos, tvos);
extern const char *const vmnet_mac_address_key API_AVAILABLE(macos(10.10)) API_UNAVAILABLE(ios, watchos, tvos);
extern const char *const vmnet_mtu_key API_AVAILABLE(macos(10.10)) API_UNAVAILABLE(ios, watchos, tvos);
extern const char *const vmnet_max_packet_size_key API_AVAILABLE(macos(10.10)) API_UNAVAILABLE(ios, watchos, tvos);
extern const char *const vmnet_estimated_packets_available_key API_AVAILABLE(macos(10.10))
	API_UNAVAILABLE(ios, watchos, tvos);
extern const char *const vmnet_shared_interface_name_key API_AVAILABLE(macos(10.15))
	API_UNAVAILABLE(ios, watchos, tvos);
extern const char *const vmnet_allocate_mac_address_key API_AVAILABLE(macos(10.15))
	API_UNAVAILABLE(ios, watchos, tvos);
extern const char *const vmnet_start_address_key API_AVAILABLE(macos(10.15)) API_UNAVAILABLE(ios, watchos, tvos);
extern const char *const vmnet_end_address_key API_AVAILABLE(macos(10.15)) API_UNAVAILABLE(ios, watchos, tvos);
extern const char *const vmnet_subnet_mask_key API_AVAILABLE(macos(10.15)) API_UNAVAILABLE(ios, watchos, tvos);
extern const char *const vmnet_nat66_prefix_key API_AVAILABLE(macos(10.15)) API_UNAVAILABLE(ios, watchos, tvos);
extern const char *const vmnet_nat66_prefix_length_key
	API_DEPRECATED("the NAT66 prefix is always a /64", macos(10.15, 11.0)) API_UNAVAILABLE(ios, watchos, tvos);
extern const char *const vmnet_network_identifier_key API_AVAILABLE(macos(11.0))
	API_UNAVAILABLE(ios, watchos, tvos);
extern const char *const vmnet_host_ip_address_key API_AVAILABLE(macos(11.0)) API_UNAVAILABLE(ios, watchos, tvos);
extern const char *const vmnet_host_subnet_mask_key API_AVAILABLE(macos(11.0)) API_UNAVAILABLE(ios, watchos, tvos);
extern const char *const vmnet_host_ipv6_address_key API_AVAILABLE(macos(11.0)) API_UNAVAILABLE(ios, watchos, tvos);
extern const char *const vmnet_enable_tso_key API_AVAILABLE(macos(11.0)) API_UNAVAILABLE(ios, watchos, tvos);
extern const char *const vmnet_enable_isolation_key API_AVAILABLE(macos(11.0)) API_UNAVAILABLE(ios, watchos, tvos);
extern const char *const vmnet_enable_checksum_offload_key API_AVAILABLE(macos(12.0))
	API_UNAVAILABLE(ios, watchos, tvos);
extern const char *const vmnet_read_max_packets_key API_AVAILABLE(macos(15.0)) API_UNAVAILABLE(ios, watchos, tvos);
extern const char *const vmnet_write_max_packets_key API_AVAILABLE(macos(15.0)) API_UNAVAILABLE(ios, watchos, tvos);
extern const char *const vmnet_enable_virtio_header_key API_AVAILABLE(macos(15.4))
	API_UNAVAILABLE(ios, watchos, tvos);

/* ---- completion and event blocks -------------------------------------------------------- */

typedef void (^vmnet_start_interface_completion_handler_t)(vmnet_return_t status,
	xpc_object_t __nullable interface_param);
typedef void (^vmnet_interface_event_callback_t)(interface_event_t event_mask, xpc_object_t event);
typedef void (^vmnet_interface_completion_handler_t)(vmnet_return_t status);
typedef void (^vmnet_interface_get_port_forwarding_rules_handler_t)(xpc_object_t __nullable rules);
typedef void (^vmnet_interface_get_ip_port_forwarding_rules_handler_t)(xpc_object_t __nullable rules)
	API_AVAILABLE(macos(11.0)) API_UNAVAILABLE(ios, watchos, tvos);

/* ---- interface lifecycle and packet I/O ------------------------------------------------- */

interface_ref __nullable vmnet_start_interface(xpc_object_t interface_desc, dispatch_queue_t queue,
	vmnet_start_interface_completion_handler_t handler) API_AVAILABLE(macos(10.10))
	API_UNAVAILABLE(ios, watchos, tvos);
vmnet_return_t vmnet_interface_set_event_callback(interface_ref interface, interface_event_t event_mask,
	dispatch_queue_t __nullable queue, vmnet_interface_event_callback_t __nullable callback)
	API_AVAILABLE(macos(10.10)) API_UNAVAILABLE(ios, watchos, tvos);
vmnet_return_t vmnet_read(interface_ref interface, struct vmpktdesc *packets, int *pktcnt)
	API_AVAILABLE(macos(10.10)) API_UNAVAILABLE(ios, watchos, tvos);
vmnet_return_t vmnet_write(interface_ref interface, struct vmpktdesc *packets, int *pktcnt)
	API_AVAILABLE(macos(10.10)) API_UNAVAILABLE(ios, watchos, tvos);
vmnet_return_t vmnet_stop_interface(interface_ref interface, dispatch_queue_t queue,
	vmnet_interface_completion_handler_t handler) API_AVAILABLE(macos(10.10)) API_UNAVAILABLE(ios, watchos, tvos);

/* ---- bridged interfaces ----------------------------------------------------------------- */

xpc_object_t __nullable vmnet_copy_shared_interface_list(void) XPC_RETURNS_RETAINED API_AVAILABLE(macos(10.15))
	API_UNAVAILABLE(ios, watchos, tvos);

/* ---- IPv4 port forwarding (deprecated in 12.0) ------------------------------------------ */

vmnet_return_t vmnet_interface_add_port_forwarding_rule(interface_ref interface, uint8_t protocol,
	uint16_t external_port, struct in_addr internal_address, uint16_t internal_port,
	vmnet_interface_completion_handler_t __nullable handler)
	API_DEPRECATED("use vmnet_interface_add_ip_port_forwarding_rule", macos(10.15, 12.0))
	API_UNAVAILABLE(ios, watchos, tvos);
vmnet_return_t vmnet_interface_remove_port_forwarding_rule(interface_ref interface, uint8_t protocol,
	uint16_t external_port, vmnet_interface_completion_handler_t handler)
	API_DEPRECATED("use vmnet_interface_remove_ip_port_forwarding_rule", macos(10.15, 12.0))
	API_UNAVAILABLE(ios, watchos, tvos);
vmnet_return_t vmnet_interface_get_port_forwarding_rules(interface_ref interface,
	vmnet_interface_get_port_forwarding_rules_handler_t handler)
	API_DEPRECATED("use vmnet_interface_get_ip_port_forwarding_rules", macos(10.15, 12.0))
	API_UNAVAILABLE(ios, watchos, tvos);
vmnet_return_t vmnet_port_forwarding_rule_get_details(xpc_object_t rule, uint8_t *protocol,
	uint16_t *external_port, struct in_addr *internal_address, uint16_t *internal_port)
	API_DEPRECATED("use vmnet_ip_port_forwarding_rule_get_details", macos(10.15, 12.0))
	API_UNAVAILABLE(ios, watchos, tvos);

/* ---- IPv4 and IPv6 port forwarding (annotated 11.0, first exported in 12.0) ------------- */

vmnet_return_t vmnet_interface_add_ip_port_forwarding_rule(interface_ref interface, uint8_t protocol,
	uint16_t external_port, uint8_t address_family, const void *internal_address, uint16_t internal_port,
	vmnet_interface_completion_handler_t __nullable handler) API_AVAILABLE(macos(11.0))
	API_UNAVAILABLE(ios, watchos, tvos);
vmnet_return_t vmnet_interface_remove_ip_port_forwarding_rule(interface_ref interface, uint8_t protocol,
	uint16_t external_port, uint8_t address_family, vmnet_interface_completion_handler_t handler)
	API_AVAILABLE(macos(11.0)) API_UNAVAILABLE(ios, watchos, tvos);
vmnet_return_t vmnet_interface_get_ip_port_forwarding_rules(interface_ref interface, u_int8_t address_family,
	vmnet_interface_get_ip_port_forwarding_rules_handler_t handler) API_AVAILABLE(macos(11.0))
	API_UNAVAILABLE(ios, watchos, tvos);
vmnet_return_t vmnet_ip_port_forwarding_rule_get_details(xpc_object_t rule, uint8_t *protocol,
	uint16_t *external_port, uint8_t address_family, void *internal_address, uint16_t *internal_port)
	API_AVAILABLE(macos(11.0)) API_UNAVAILABLE(ios, watchos, tvos);

/* ---- network configuration (26.0) ------------------------------------------------------- */

vmnet_network_configuration_ref __nullable vmnet_network_configuration_create(vmnet_mode_t mode,
	vmnet_return_t *__nullable status) CF_RETURNS_RETAINED API_AVAILABLE(macos(26.0))
	API_UNAVAILABLE(ios, watchos, tvos);
vmnet_return_t vmnet_network_configuration_set_external_interface(vmnet_network_configuration_ref config,
	const char *interface_name) API_AVAILABLE(macos(26.0)) API_UNAVAILABLE(ios, watchos, tvos);
void vmnet_network_configuration_disable_nat44(vmnet_network_configuration_ref config) API_AVAILABLE(macos(26.0))
	API_UNAVAILABLE(ios, watchos, tvos);
void vmnet_network_configuration_disable_nat66(vmnet_network_configuration_ref config) API_AVAILABLE(macos(26.0))
	API_UNAVAILABLE(ios, watchos, tvos);
void vmnet_network_configuration_disable_dhcp(vmnet_network_configuration_ref config) API_AVAILABLE(macos(26.0))
	API_UNAVAILABLE(ios, watchos, tvos);
void vmnet_network_configuration_disable_dns_proxy(vmnet_network_configuration_ref config)
	API_AVAILABLE(macos(26.0)) API_UNAVAILABLE(ios, watchos, tvos);
void vmnet_network_configuration_disable_router_advertisement(vmnet_network_configuration_ref config)
	API_AVAILABLE(macos(26.0)) API_UNAVAILABLE(ios, watchos, tvos);
vmnet_return_t vmnet_network_configuration_set_ipv4_subnet(vmnet_network_configuration_ref config,
	const struct in_addr *subnet_addr, const struct in_addr *subnet_mask) API_AVAILABLE(macos(26.0))
	API_UNAVAILABLE(ios, watchos, tvos);
vmnet_return_t vmnet_network_configuration_set_ipv6_prefix(vmnet_network_configuration_ref config,
	const struct in6_addr *prefix, uint8_t len) API_AVAILABLE(macos(26.0)) API_UNAVAILABLE(ios, watchos, tvos);
vmnet_return_t vmnet_network_configuration_add_port_forwarding_rule(vmnet_network_configuration_ref config,
	uint8_t protocol, sa_family_t address_family, uint16_t internal_port, uint16_t external_port,
	const void *internal_address) API_AVAILABLE(macos(26.0)) API_UNAVAILABLE(ios, watchos, tvos);
vmnet_return_t vmnet_network_configuration_add_dhcp_reservation(vmnet_network_configuration_ref config,
	const ether_addr_t *client, const struct in_addr *reservation) API_AVAILABLE(macos(26.0))
	API_UNAVAILABLE(ios, watchos, tvos);
vmnet_return_t vmnet_network_configuration_set_mtu(vmnet_network_configuration_ref config, uint32_t mtu)
	API_AVAILABLE(macos(26.0)) API_UNAVAILABLE(ios, watchos, tvos);

/* ---- networks (26.0) -------------------------------------------------------------------- */

vmnet_network_ref __nullable vmnet_network_create(vmnet_network_configuration_ref configuration,
	vmnet_return_t *status) CF_RETURNS_RETAINED API_AVAILABLE(macos(26.0)) API_UNAVAILABLE(ios, watchos, tvos);
void vmnet_network_get_ipv4_subnet(vmnet_network_ref network, struct in_addr *subnet, struct in_addr *mask)
	API_AVAILABLE(macos(26.0)) API_UNAVAILABLE(ios, watchos, tvos);
void vmnet_network_get_ipv6_prefix(vmnet_network_ref network, struct in6_addr *prefix, uint8_t *prefix_len)
	API_AVAILABLE(macos(26.0)) API_UNAVAILABLE(ios, watchos, tvos);
xpc_object_t __nullable vmnet_network_copy_serialization(vmnet_network_ref network, vmnet_return_t *status)
	XPC_RETURNS_RETAINED API_AVAILABLE(macos(26.0)) API_UNAVAILABLE(ios, watchos, tvos);
vmnet_network_ref __nullable vmnet_network_create_with_serialization(xpc_object_t network, vmnet_return_t *status)
	CF_RETURNS_RETAINED API_AVAILABLE(macos(26.0)) API_UNAVAILABLE(ios, watchos, tvos);
interface_ref __nullable vmnet_interface_start_with_network(vmnet_network_ref network, xpc_object_t interface_desc,
	dispatch_queue_t queue, vmnet_start_interface_completion_handler_t start_block) API_AVAILABLE(macos(26.0))
	API_UNAVAILABLE(ios, watchos, tvos);

#if __has_feature(assume_nonnull)
_Pragma("clang assume_nonnull end")
#endif

__END_DECLS

#endif
