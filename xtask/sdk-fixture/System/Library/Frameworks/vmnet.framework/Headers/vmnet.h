/*
 * Stand-in for vmnet.framework's public interface as of the macOS 26 SDK, written from the
 * project's facts sheet (shared/vmnet-api.md). Versions in comments are first availability.
 */
#ifndef FIXTURE_VMNET_VMNET_H
#define FIXTURE_VMNET_VMNET_H

#include <sys/cdefs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <net/ethernet.h>
#include <os/availability.h>
#include <dispatch/dispatch.h>
#include <xpc/xpc.h>

__BEGIN_DECLS

/* ---- handles ---------------------------------------------------------------------------- */

typedef struct vmnet_interface *interface_ref;
typedef struct vmnet_network *vmnet_network_ref;                             /* 26.0 */
typedef struct vmnet_network_configuration *vmnet_network_configuration_ref; /* 26.0 */

/* ---- enumerations ----------------------------------------------------------------------- */

typedef enum : uint32_t {
	VMNET_HOST_MODE = 1000,
	VMNET_SHARED_MODE = 1001,
	VMNET_BRIDGED_MODE = 1002, /* 10.15 */
} operating_modes_t;

typedef operating_modes_t vmnet_mode_t; /* 26.0 */

typedef enum : uint32_t {
	VMNET_INTERFACE_PACKETS_AVAILABLE = 1 << 0,
} interface_event_t;

typedef enum : uint32_t {
	VMNET_SUCCESS = 1000,
	VMNET_FAILURE = 1001,
	VMNET_MEM_FAILURE = 1002,
	VMNET_INVALID_ARGUMENT = 1003,
	VMNET_SETUP_INCOMPLETE = 1004,
	VMNET_INVALID_ACCESS = 1005,
	VMNET_PACKET_TOO_BIG = 1006,
	VMNET_BUFFER_EXHAUSTED = 1007,
	VMNET_TOO_MANY_PACKETS = 1008,
	VMNET_SHARING_SERVICE_BUSY = 1009, /* 11.0 */
	VMNET_NOT_AUTHORIZED = 1010,       /* 14.0 */
} vmnet_return_t;

/* ---- packet descriptor ------------------------------------------------------------------ */

struct vmpktdesc {
	size_t vm_pkt_size;
	struct iovec *vm_pkt_iov;
	uint32_t vm_pkt_iovcnt;
	uint32_t vm_flags;
};

/* ---- dictionary keys -------------------------------------------------------------------- */

extern const char *const vmnet_operation_mode_key;
extern const char *const vmnet_interface_id_key;
extern const char *const vmnet_mac_address_key;
extern const char *const vmnet_mtu_key;
extern const char *const vmnet_max_packet_size_key;
extern const char *const vmnet_estimated_packets_available_key;
extern const char *const vmnet_shared_interface_name_key;      /* 10.15 */
extern const char *const vmnet_allocate_mac_address_key;       /* 10.15 */
extern const char *const vmnet_start_address_key;              /* 10.15 */
extern const char *const vmnet_end_address_key;                /* 10.15 */
extern const char *const vmnet_subnet_mask_key;                /* 10.15 */
extern const char *const vmnet_nat66_prefix_key;               /* 10.15 */
extern const char *const vmnet_nat66_prefix_length_key;        /* 10.15, deprecated 11.0 */
extern const char *const vmnet_network_identifier_key;         /* 11.0 */
extern const char *const vmnet_host_ip_address_key;            /* 11.0 */
extern const char *const vmnet_host_subnet_mask_key;           /* 11.0 */
extern const char *const vmnet_host_ipv6_address_key;          /* 11.0 */
extern const char *const vmnet_enable_tso_key;                 /* 11.0 */
extern const char *const vmnet_enable_isolation_key;           /* 11.0 */
extern const char *const vmnet_enable_checksum_offload_key;    /* 12.0 */
extern const char *const vmnet_read_max_packets_key;           /* 15.0 */
extern const char *const vmnet_write_max_packets_key;          /* 15.0 */
extern const char *const vmnet_enable_virtio_header_key;       /* 15.4 */

/* ---- completion and event blocks -------------------------------------------------------- */

typedef void (^vmnet_start_interface_completion_handler_t)(vmnet_return_t status, xpc_object_t interface_param);
typedef void (^vmnet_interface_event_callback_t)(interface_event_t event_mask, xpc_object_t event);
typedef void (^vmnet_interface_completion_handler_t)(vmnet_return_t status);
typedef void (^vmnet_interface_get_port_forwarding_rules_handler_t)(xpc_object_t rules);
typedef void (^vmnet_interface_get_ip_port_forwarding_rules_handler_t)(xpc_object_t rules);

/* ---- interface lifecycle and packet I/O (10.10) ----------------------------------------- */

interface_ref vmnet_start_interface(xpc_object_t interface_desc, dispatch_queue_t queue,
	vmnet_start_interface_completion_handler_t handler);
vmnet_return_t vmnet_interface_set_event_callback(interface_ref interface, interface_event_t event_mask,
	dispatch_queue_t queue, vmnet_interface_event_callback_t callback);
vmnet_return_t vmnet_read(interface_ref interface, struct vmpktdesc *packets, int *pktcnt);
vmnet_return_t vmnet_write(interface_ref interface, struct vmpktdesc *packets, int *pktcnt);
vmnet_return_t vmnet_stop_interface(interface_ref interface, dispatch_queue_t queue,
	vmnet_interface_completion_handler_t handler);

/* ---- bridged interfaces (10.15) --------------------------------------------------------- */

xpc_object_t vmnet_copy_shared_interface_list(void);

/* ---- IPv4 port forwarding (10.15, deprecated 12.0) -------------------------------------- */

vmnet_return_t vmnet_interface_add_port_forwarding_rule(interface_ref interface, uint8_t protocol,
	uint16_t external_port, struct in_addr internal_address, uint16_t internal_port,
	vmnet_interface_completion_handler_t handler);
vmnet_return_t vmnet_interface_remove_port_forwarding_rule(interface_ref interface, uint8_t protocol,
	uint16_t external_port, vmnet_interface_completion_handler_t handler);
vmnet_return_t vmnet_interface_get_port_forwarding_rules(interface_ref interface,
	vmnet_interface_get_port_forwarding_rules_handler_t handler);
vmnet_return_t vmnet_port_forwarding_rule_get_details(xpc_object_t rule, uint8_t *protocol,
	uint16_t *external_port, struct in_addr *internal_address, uint16_t *internal_port);

/* ---- IPv4 and IPv6 port forwarding (exported from 12.0) --------------------------------- */

vmnet_return_t vmnet_interface_add_ip_port_forwarding_rule(interface_ref interface, uint8_t protocol,
	uint16_t external_port, uint8_t address_family, const void *internal_address, uint16_t internal_port,
	vmnet_interface_completion_handler_t handler);
vmnet_return_t vmnet_interface_remove_ip_port_forwarding_rule(interface_ref interface, uint8_t protocol,
	uint16_t external_port, uint8_t address_family, vmnet_interface_completion_handler_t handler);
vmnet_return_t vmnet_interface_get_ip_port_forwarding_rules(interface_ref interface, uint8_t address_family,
	vmnet_interface_get_ip_port_forwarding_rules_handler_t handler);
vmnet_return_t vmnet_ip_port_forwarding_rule_get_details(xpc_object_t rule, uint8_t *protocol,
	uint16_t *external_port, uint8_t address_family, void *internal_address, uint16_t *internal_port);

/* ---- network configuration (26.0) ------------------------------------------------------- */

vmnet_network_configuration_ref vmnet_network_configuration_create(vmnet_mode_t mode, vmnet_return_t *status);
vmnet_return_t vmnet_network_configuration_set_external_interface(vmnet_network_configuration_ref configuration,
	const char *ifname);
void vmnet_network_configuration_disable_nat44(vmnet_network_configuration_ref configuration);
void vmnet_network_configuration_disable_nat66(vmnet_network_configuration_ref configuration);
void vmnet_network_configuration_disable_dhcp(vmnet_network_configuration_ref configuration);
void vmnet_network_configuration_disable_dns_proxy(vmnet_network_configuration_ref configuration);
void vmnet_network_configuration_disable_router_advertisement(vmnet_network_configuration_ref configuration);
vmnet_return_t vmnet_network_configuration_set_ipv4_subnet(vmnet_network_configuration_ref configuration,
	const struct in_addr *subnet_addr, const struct in_addr *subnet_mask);
vmnet_return_t vmnet_network_configuration_set_ipv6_prefix(vmnet_network_configuration_ref configuration,
	const struct in6_addr *prefix, uint8_t prefix_len);
vmnet_return_t vmnet_network_configuration_add_port_forwarding_rule(vmnet_network_configuration_ref configuration,
	uint8_t protocol, sa_family_t address_family, uint16_t internal_port, uint16_t external_port,
	const void *internal_address);
vmnet_return_t vmnet_network_configuration_add_dhcp_reservation(vmnet_network_configuration_ref configuration,
	const ether_addr_t *client, const struct in_addr *reservation);
vmnet_return_t vmnet_network_configuration_set_mtu(vmnet_network_configuration_ref configuration, uint32_t mtu);

/* ---- networks (26.0) -------------------------------------------------------------------- */

vmnet_network_ref vmnet_network_create(vmnet_network_configuration_ref configuration, vmnet_return_t *status);
void vmnet_network_get_ipv4_subnet(vmnet_network_ref network, struct in_addr *subnet, struct in_addr *mask);
void vmnet_network_get_ipv6_prefix(vmnet_network_ref network, struct in6_addr *prefix, uint8_t *prefix_len);
xpc_object_t vmnet_network_copy_serialization(vmnet_network_ref network, vmnet_return_t *status);
vmnet_network_ref vmnet_network_create_with_serialization(xpc_object_t serialization, vmnet_return_t *status);
interface_ref vmnet_interface_start_with_network(vmnet_network_ref network, xpc_object_t interface_desc,
	dispatch_queue_t queue, vmnet_start_interface_completion_handler_t handler);

__END_DECLS

#endif
