//! The rules of [`InterfaceConfig`] and the description dictionary it turns into.

use std::fmt;
use std::net::Ipv4Addr;

use super::error::modes_of;
use super::{ConfigError, InterfaceConfig};
use crate::capabilities::{Capabilities, Feature};
use crate::error::Error;
use crate::keys::{Dictionary, Key, Value};
use crate::limits::{MAX_INTERFACE_NAME_LEN, MAX_MTU, MIN_MTU};
use crate::mode::Mode;

impl InterfaceConfig {
    /// Checks the configuration and returns vmnet's interface description.
    ///
    /// `Interface::start` calls this before it calls vmnet, with the capabilities of the
    /// running system. The description holds [`Key::OperationMode`] first, then only the
    /// options that were set: booleans only when `true`, except [`Key::AllocateMacAddress`],
    /// sent whenever set; addresses in their usual text form; UUIDs as UUIDs.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] with the first [`ConfigError`] found, if the configuration breaks one
    /// of its rules; otherwise [`Error::Unsupported`] if it uses a feature `caps` lacks
    /// (checksum offload, the virtio-net header).
    pub fn validate(&self, caps: Capabilities) -> Result<Dictionary, Error> {
        self.check()?;
        if self.checksum_offload {
            caps.require(Feature::ChecksumOffload)?;
        }
        if self.virtio_header {
            caps.require(Feature::VirtioHeader)?;
        }
        Ok(self.description())
    }

    /// The configuration's own rules, in a fixed order.
    fn check(&self) -> Result<(), ConfigError> {
        self.check_interface_name()?;
        self.check_mode_options()?;
        self.check_range()?;
        self.check_host_network()?;
        self.check_nat66_prefix()?;
        if let Some(mtu) = self.mtu.filter(|mtu| !(MIN_MTU..=MAX_MTU).contains(mtu)) {
            return Err(ConfigError::MtuOutOfRange {
                mtu,
                min: MIN_MTU,
                max: MAX_MTU,
            });
        }
        if self.virtio_header && self.checksum_offload {
            return Err(ConfigError::VirtioHeaderWithChecksumOffload);
        }
        Ok(())
    }

    fn check_interface_name(&self) -> Result<(), ConfigError> {
        let Some(name) = &self.bridged_interface else {
            return Ok(());
        };
        if name.is_empty() {
            Err(ConfigError::EmptyInterfaceName)
        } else if name.contains('\0') {
            Err(ConfigError::InterfaceNameContainsNul { name: name.clone() })
        } else if name.len() > MAX_INTERFACE_NAME_LEN {
            Err(ConfigError::InterfaceNameTooLong {
                name: name.clone(),
                max: MAX_INTERFACE_NAME_LEN,
            })
        } else {
            Ok(())
        }
    }

    fn check_mode_options(&self) -> Result<(), ConfigError> {
        let set = [
            (Key::StartAddress, self.start_address.is_some()),
            (Key::EndAddress, self.end_address.is_some()),
            (Key::SubnetMask, self.subnet_mask.is_some()),
            (Key::Nat66Prefix, self.nat66_prefix.is_some()),
            (Key::NetworkIdentifier, self.network_identifier.is_some()),
            (Key::HostIpAddress, self.host_address.is_some()),
            (Key::HostSubnetMask, self.host_subnet_mask.is_some()),
            (Key::HostIpv6Address, self.host_ipv6_address.is_some()),
        ];
        for (key, is_set) in set {
            if is_set && !modes_of(key).contains(&self.mode) {
                return Err(ConfigError::OptionNotForMode {
                    key,
                    mode: self.mode,
                });
            }
        }
        if self.mode == Mode::Bridged && self.mtu.is_some() {
            return Err(ConfigError::MtuInBridgedMode);
        }
        Ok(())
    }

    fn check_range(&self) -> Result<(), ConfigError> {
        let (start, end, mask) = match (self.start_address, self.end_address, self.subnet_mask) {
            (None, None, None) => return Ok(()),
            (Some(start), Some(end), Some(mask)) => (start, end, mask),
            (start, end, mask) => {
                let keys = [
                    (Key::StartAddress, start.is_some()),
                    (Key::EndAddress, end.is_some()),
                    (Key::SubnetMask, mask.is_some()),
                ];
                let first = |present: bool| {
                    keys.iter()
                        .find(|(_, p)| *p == present)
                        .map_or(Key::StartAddress, |(k, _)| *k)
                };
                return Err(ConfigError::IncompleteRange {
                    given: first(true),
                    missing: first(false),
                });
            }
        };
        check_mask(Key::SubnetMask, mask)?;
        for address in [start, end] {
            if !address.is_private() {
                return Err(ConfigError::NotPrivateRange { address });
            }
        }
        if start >= end {
            return Err(ConfigError::RangeReversed { start, end });
        }
        let subnet = Subnet::of(start, mask);
        if !subnet.contains(end) {
            return Err(ConfigError::AddressOutsideSubnet {
                address: end,
                network: subnet.network(),
                mask,
            });
        }
        if !subnet.network().is_private() || !subnet.broadcast().is_private() {
            return Err(ConfigError::SubnetNotPrivate {
                network: subnet.network(),
                mask,
            });
        }
        subnet.check_not_reserved(start)?;
        subnet.check_not_reserved(end)
    }

    fn check_host_network(&self) -> Result<(), ConfigError> {
        if self.network_identifier.is_none() {
            if self.host_address.is_some() {
                return Err(ConfigError::WithoutNetworkIdentifier {
                    key: Key::HostIpAddress,
                });
            }
            if self.host_ipv6_address.is_some() {
                return Err(ConfigError::WithoutNetworkIdentifier {
                    key: Key::HostIpv6Address,
                });
            }
        }
        match (self.host_address, self.host_subnet_mask) {
            (None, None) => Ok(()),
            (Some(_), None) => Err(ConfigError::IncompleteHostAddress {
                given: Key::HostIpAddress,
                missing: Key::HostSubnetMask,
            }),
            (None, Some(_)) => Err(ConfigError::IncompleteHostAddress {
                given: Key::HostSubnetMask,
                missing: Key::HostIpAddress,
            }),
            (Some(address), Some(mask)) => {
                check_mask(Key::HostSubnetMask, mask)?;
                Subnet::of(address, mask).check_not_reserved(address)
            }
        }
    }

    fn check_nat66_prefix(&self) -> Result<(), ConfigError> {
        let Some(prefix) = self.nat66_prefix else {
            return Ok(());
        };
        if prefix.segments()[0] & 0xff00 != 0xfd00 {
            Err(ConfigError::Nat66PrefixNotUla { prefix })
        } else if u128::from(prefix) & u128::from(u64::MAX) != 0 {
            Err(ConfigError::Nat66PrefixNotSlash64 { prefix })
        } else {
            Ok(())
        }
    }

    /// The description dictionary of a checked configuration.
    fn description(&self) -> Dictionary {
        fn text(value: impl fmt::Display) -> Value {
            Value::String(value.to_string())
        }
        let mut desc = Dictionary::new();
        desc.insert(Key::OperationMode, Value::U64(self.mode.raw().into()));
        let mut put = |key: Key, value: Option<Value>| {
            if let Some(value) = value {
                desc.insert(key, value);
            }
        };
        let flag = |on: bool| on.then_some(Value::Bool(true));
        put(
            Key::SharedInterfaceName,
            self.bridged_interface.clone().map(Value::String),
        );
        put(Key::InterfaceId, self.interface_id.map(Value::Uuid));
        put(
            Key::AllocateMacAddress,
            self.allocate_mac_address.map(Value::Bool),
        );
        put(Key::Mtu, self.mtu.map(|mtu| Value::U64(mtu.into())));
        put(Key::StartAddress, self.start_address.map(text));
        put(Key::EndAddress, self.end_address.map(text));
        put(Key::SubnetMask, self.subnet_mask.map(text));
        put(Key::Nat66Prefix, self.nat66_prefix.map(text));
        put(
            Key::NetworkIdentifier,
            self.network_identifier.map(Value::Uuid),
        );
        put(Key::HostIpAddress, self.host_address.map(text));
        put(Key::HostSubnetMask, self.host_subnet_mask.map(text));
        put(Key::HostIpv6Address, self.host_ipv6_address.map(text));
        put(Key::EnableIsolation, flag(self.isolation));
        put(Key::EnableTso, flag(self.tso));
        put(Key::EnableChecksumOffload, flag(self.checksum_offload));
        put(Key::EnableVirtioHeader, flag(self.virtio_header));
        desc
    }
}

/// Checks that `mask` is a contiguous subnet mask of /30 or shorter.
fn check_mask(key: Key, mask: Ipv4Addr) -> Result<(), ConfigError> {
    let bits = u32::from(mask);
    if bits.leading_ones() + bits.trailing_zeros() != 32 {
        Err(ConfigError::NonContiguousMask { key, mask })
    } else if bits.leading_ones() > 30 {
        Err(ConfigError::SubnetTooSmall { key, mask })
    } else {
        Ok(())
    }
}

/// An IPv4 subnet: an address with a contiguous mask.
#[derive(Clone, Copy)]
struct Subnet {
    network: u32,
    mask: u32,
}

impl Subnet {
    fn of(address: Ipv4Addr, mask: Ipv4Addr) -> Self {
        let mask = u32::from(mask);
        Subnet {
            network: u32::from(address) & mask,
            mask,
        }
    }

    fn network(self) -> Ipv4Addr {
        Ipv4Addr::from(self.network)
    }

    fn broadcast(self) -> Ipv4Addr {
        Ipv4Addr::from(self.network | !self.mask)
    }

    fn contains(self, address: Ipv4Addr) -> bool {
        u32::from(address) & self.mask == self.network
    }

    fn check_not_reserved(self, address: Ipv4Addr) -> Result<(), ConfigError> {
        let reason = if address == self.network() {
            "it is the network address of its subnet"
        } else if address == self.broadcast() {
            "it is the broadcast address of its subnet"
        } else {
            return Ok(());
        };
        Err(ConfigError::ReservedAddress { address, reason })
    }
}
