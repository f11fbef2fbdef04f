//! The key/value form of vmnet's dictionaries.
//!
//! vmnet takes an interface description and reports interface parameters as XPC dictionaries.
//! This module is their platform-neutral form: a [`Dictionary`] of [`Key`]s and [`Value`]s.
//! [`InterfaceConfig`](crate::InterfaceConfig) produces one after validation, and
//! [`Parameters`](crate::Parameters) is parsed from one. The Apple backend translates them to
//! and from XPC using the framework's exported key symbols (never string literals); the
//! simulator reads them directly.

use std::fmt;

use uuid::Uuid;

/// A key of vmnet's description or parameter dictionaries.
///
/// `vmnet_nat66_prefix_length_key`, deprecated since macOS 11, is deliberately absent.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// `vmnet_operation_mode_key` (uint64): host, shared or bridged.
    OperationMode,
    /// `vmnet_interface_id_key` (uuid): the same id gives the same MAC address where possible.
    InterfaceId,
    /// `vmnet_mac_address_key` (string `xx:xx:xx:xx:xx:xx`).
    MacAddress,
    /// `vmnet_mtu_key` (uint64).
    Mtu,
    /// `vmnet_max_packet_size_key` (uint64).
    MaxPacketSize,
    /// `vmnet_estimated_packets_available_key` (uint64), in event dictionaries.
    EstimatedPacketsAvailable,
    /// `vmnet_shared_interface_name_key` (string): the physical interface of bridged mode.
    SharedInterfaceName,
    /// `vmnet_allocate_mac_address_key` (bool).
    AllocateMacAddress,
    /// `vmnet_start_address_key` (IPv4 string): the gateway, first address of the range.
    StartAddress,
    /// `vmnet_end_address_key` (IPv4 string): the last address of the DHCP range.
    EndAddress,
    /// `vmnet_subnet_mask_key` (IPv4 string).
    SubnetMask,
    /// `vmnet_nat66_prefix_key` (IPv6 string): a ULA /64 prefix.
    Nat66Prefix,
    /// `vmnet_network_identifier_key` (uuid): an isolated host network.
    NetworkIdentifier,
    /// `vmnet_host_ip_address_key` (IPv4 string).
    HostIpAddress,
    /// `vmnet_host_subnet_mask_key` (IPv4 string).
    HostSubnetMask,
    /// `vmnet_host_ipv6_address_key` (IPv6 string).
    HostIpv6Address,
    /// `vmnet_enable_tso_key` (bool).
    EnableTso,
    /// `vmnet_enable_isolation_key` (bool).
    EnableIsolation,
    /// `vmnet_enable_checksum_offload_key` (bool, macOS 12).
    EnableChecksumOffload,
    /// `vmnet_read_max_packets_key` (uint64, macOS 15).
    ReadMaxPackets,
    /// `vmnet_write_max_packets_key` (uint64, macOS 15).
    WriteMaxPackets,
    /// `vmnet_enable_virtio_header_key` (bool, macOS 15.4).
    EnableVirtioHeader,
}

impl Key {
    /// Every key, in declaration order.
    pub const ALL: [Key; 22] = [
        Key::OperationMode,
        Key::InterfaceId,
        Key::MacAddress,
        Key::Mtu,
        Key::MaxPacketSize,
        Key::EstimatedPacketsAvailable,
        Key::SharedInterfaceName,
        Key::AllocateMacAddress,
        Key::StartAddress,
        Key::EndAddress,
        Key::SubnetMask,
        Key::Nat66Prefix,
        Key::NetworkIdentifier,
        Key::HostIpAddress,
        Key::HostSubnetMask,
        Key::HostIpv6Address,
        Key::EnableTso,
        Key::EnableIsolation,
        Key::EnableChecksumOffload,
        Key::ReadMaxPackets,
        Key::WriteMaxPackets,
        Key::EnableVirtioHeader,
    ];

    /// The name of the C symbol that holds this key, e.g. `"vmnet_mtu_key"`.
    pub fn name(self) -> &'static str {
        match self {
            Key::OperationMode => "vmnet_operation_mode_key",
            Key::InterfaceId => "vmnet_interface_id_key",
            Key::MacAddress => "vmnet_mac_address_key",
            Key::Mtu => "vmnet_mtu_key",
            Key::MaxPacketSize => "vmnet_max_packet_size_key",
            Key::EstimatedPacketsAvailable => "vmnet_estimated_packets_available_key",
            Key::SharedInterfaceName => "vmnet_shared_interface_name_key",
            Key::AllocateMacAddress => "vmnet_allocate_mac_address_key",
            Key::StartAddress => "vmnet_start_address_key",
            Key::EndAddress => "vmnet_end_address_key",
            Key::SubnetMask => "vmnet_subnet_mask_key",
            Key::Nat66Prefix => "vmnet_nat66_prefix_key",
            Key::NetworkIdentifier => "vmnet_network_identifier_key",
            Key::HostIpAddress => "vmnet_host_ip_address_key",
            Key::HostSubnetMask => "vmnet_host_subnet_mask_key",
            Key::HostIpv6Address => "vmnet_host_ipv6_address_key",
            Key::EnableTso => "vmnet_enable_tso_key",
            Key::EnableIsolation => "vmnet_enable_isolation_key",
            Key::EnableChecksumOffload => "vmnet_enable_checksum_offload_key",
            Key::ReadMaxPackets => "vmnet_read_max_packets_key",
            Key::WriteMaxPackets => "vmnet_write_max_packets_key",
            Key::EnableVirtioHeader => "vmnet_enable_virtio_header_key",
        }
    }

    /// The kind of value the key holds.
    pub fn kind(self) -> ValueKind {
        match self {
            Key::OperationMode
            | Key::Mtu
            | Key::MaxPacketSize
            | Key::EstimatedPacketsAvailable
            | Key::ReadMaxPackets
            | Key::WriteMaxPackets => ValueKind::U64,
            Key::InterfaceId | Key::NetworkIdentifier => ValueKind::Uuid,
            Key::AllocateMacAddress
            | Key::EnableTso
            | Key::EnableIsolation
            | Key::EnableChecksumOffload
            | Key::EnableVirtioHeader => ValueKind::Bool,
            Key::MacAddress
            | Key::SharedInterfaceName
            | Key::StartAddress
            | Key::EndAddress
            | Key::SubnetMask
            | Key::Nat66Prefix
            | Key::HostIpAddress
            | Key::HostSubnetMask
            | Key::HostIpv6Address => ValueKind::String,
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kinds of value vmnet's dictionaries hold.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// An unsigned 64-bit integer.
    U64,
    /// A boolean.
    Bool,
    /// A UTF-8 string.
    String,
    /// A 16-byte UUID.
    Uuid,
}

/// A value of vmnet's dictionaries.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// An unsigned 64-bit integer.
    U64(u64),
    /// A boolean.
    Bool(bool),
    /// A string.
    String(String),
    /// A UUID.
    Uuid(Uuid),
}

impl Value {
    /// The kind of this value.
    pub fn kind(&self) -> ValueKind {
        match self {
            Value::U64(_) => ValueKind::U64,
            Value::Bool(_) => ValueKind::Bool,
            Value::String(_) => ValueKind::String,
            Value::Uuid(_) => ValueKind::Uuid,
        }
    }
}

/// An ordered key/value dictionary; inserting an existing key replaces its value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dictionary {
    entries: Vec<(Key, Value)>,
}

impl Dictionary {
    /// An empty dictionary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`, replacing any earlier value.
    pub fn insert(&mut self, key: Key, value: Value) {
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: Key) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Whether `key` is set.
    pub fn contains(&self, key: Key) -> bool {
        self.get(key).is_some()
    }

    /// The entries, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (Key, &Value)> {
        self.entries.iter().map(|(k, v)| (*k, v))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl FromIterator<(Key, Value)> for Dictionary {
    fn from_iter<I: IntoIterator<Item = (Key, Value)>>(iter: I) -> Self {
        let mut dict = Dictionary::new();
        for (k, v) in iter {
            dict.insert(k, v);
        }
        dict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_symbol_names() {
        let mut names: Vec<&str> = Key::ALL.iter().map(|k| k.name()).collect();
        assert!(
            names
                .iter()
                .all(|n| n.starts_with("vmnet_") && n.ends_with("_key"))
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Key::ALL.len());
        assert!(!names.contains(&"vmnet_nat66_prefix_length_key"));
    }

    #[test]
    fn insert_replaces_and_keeps_order() {
        let mut d = Dictionary::new();
        d.insert(Key::Mtu, Value::U64(1500));
        d.insert(Key::EnableTso, Value::Bool(true));
        d.insert(Key::Mtu, Value::U64(9000));
        assert_eq!(d.len(), 2);
        assert_eq!(d.get(Key::Mtu), Some(&Value::U64(9000)));
        let keys: Vec<Key> = d.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, [Key::Mtu, Key::EnableTso]);
        assert!(!d.contains(Key::MacAddress));
    }

    #[test]
    fn kinds_match_values() {
        assert_eq!(Key::Mtu.kind(), Value::U64(1).kind());
        assert_eq!(Key::InterfaceId.kind(), Value::Uuid(Uuid::nil()).kind());
        assert_eq!(Key::EnableIsolation.kind(), Value::Bool(true).kind());
        assert_eq!(Key::MacAddress.kind(), Value::String(String::new()).kind());
    }
}
