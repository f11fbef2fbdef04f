//! Port-forwarding rules: traffic to a port of the host reaches a guest address.

pub(crate) mod error;

use std::fmt;
use std::net::{IpAddr, SocketAddr};

pub use self::error::RuleError;
use crate::error::{Error, Result};

/// The transport protocol of a port-forwarding rule.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP (`IPPROTO_TCP`, 6).
    Tcp,
    /// UDP (`IPPROTO_UDP`, 17).
    Udp,
}

impl Protocol {
    /// The IP protocol number vmnet takes.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => vmnet_sys::IPPROTO_TCP,
            Protocol::Udp => vmnet_sys::IPPROTO_UDP,
        }
    }

    /// The protocol with IP protocol number `number`, if it is TCP or UDP.
    pub fn from_number(number: u8) -> Option<Self> {
        match number {
            vmnet_sys::IPPROTO_TCP => Some(Protocol::Tcp),
            vmnet_sys::IPPROTO_UDP => Some(Protocol::Udp),
            _ => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// An IP address family.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpFamily {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl IpFamily {
    /// The family of `address`.
    pub fn of(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(_) => IpFamily::V4,
            IpAddr::V6(_) => IpFamily::V6,
        }
    }

    /// Darwin's `AF_INET` / `AF_INET6` (2 / 30).
    pub fn raw(self) -> u8 {
        match self {
            IpFamily::V4 => vmnet_sys::AF_INET,
            IpFamily::V6 => vmnet_sys::AF_INET6,
        }
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpFamily::V4 => "ipv4",
            IpFamily::V6 => "ipv6",
        })
    }
}

/// A port-forwarding rule: connections to `external_port` on the host are forwarded to the
/// guest at `internal`.
///
/// The internal address is a [`SocketAddr`], so its family and the address can never
/// disagree (vmnet's C API takes them separately and reads as many bytes as the family says).
///
/// ```
/// use vmnet::{PortForwardingRule, Protocol};
/// // Host port 2222 to the guest's SSH server.
/// let rule = PortForwardingRule::new(Protocol::Tcp, 2222, "192.168.64.2:22".parse().unwrap());
/// assert_eq!(rule.to_string(), "tcp 2222 -> 192.168.64.2:22");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortForwardingRule {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The host port (not 0).
    pub external_port: u16,
    /// The guest address and port (port not 0).
    pub internal: SocketAddr,
}

impl PortForwardingRule {
    /// A rule from `external_port` on the host to `internal` in the guest.
    pub fn new(protocol: Protocol, external_port: u16, internal: SocketAddr) -> Self {
        Self {
            protocol,
            external_port,
            internal,
        }
    }

    /// The internal address's family.
    pub fn family(&self) -> IpFamily {
        IpFamily::of(self.internal.ip())
    }

    /// The slot this rule occupies: its protocol, host port and family. vmnet keeps one rule
    /// per slot, and removes rules by it.
    ///
    /// ```
    /// use vmnet::{IpFamily, PortForwardingKey, PortForwardingRule, Protocol};
    /// let rule = PortForwardingRule::new(Protocol::Tcp, 2222, "[fd00::2]:22".parse().unwrap());
    /// assert_eq!(rule.key(), PortForwardingKey::new(Protocol::Tcp, 2222, IpFamily::V6));
    /// ```
    pub fn key(&self) -> PortForwardingKey {
        PortForwardingKey {
            protocol: self.protocol,
            external_port: self.external_port,
            family: self.family(),
        }
    }

    /// Checks the rule before vmnet sees it: neither port may be 0.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.external_port == 0 {
            return Err(Error::Rule(RuleError::ZeroPort { which: "external" }));
        }
        if self.internal.port() == 0 {
            return Err(Error::Rule(RuleError::ZeroPort { which: "internal" }));
        }
        Ok(())
    }
}

impl fmt::Display for PortForwardingRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} -> {}",
            self.protocol, self.external_port, self.internal
        )
    }
}

/// What identifies a port-forwarding rule to vmnet: its protocol, host port and address
/// family. vmnet keeps at most one rule per key, and removes rules by key.
///
/// [`PortForwardingRule::key`] (or `From<&PortForwardingRule>`) derives it from a rule, so a
/// rule that was added can be removed with the same value:
/// [`Control::remove_port_forwarding_rule`](crate::Control::remove_port_forwarding_rule) takes
/// a key or a `&PortForwardingRule`.
///
/// ```
/// use vmnet::{IpFamily, PortForwardingKey, PortForwardingRule, Protocol};
/// let rule = PortForwardingRule::new(Protocol::Udp, 5353, "192.168.64.2:53".parse().unwrap());
/// let key = PortForwardingKey::from(&rule);
/// assert_eq!(key, PortForwardingKey::new(Protocol::Udp, 5353, IpFamily::V4));
/// assert_eq!(key.to_string(), "udp 5353 ipv4");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortForwardingKey {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The host port.
    pub external_port: u16,
    /// The family of the rule's internal address.
    pub family: IpFamily,
}

impl PortForwardingKey {
    /// The key of the rule for `protocol` and `external_port` on the host, to an address of
    /// `family`.
    pub fn new(protocol: Protocol, external_port: u16, family: IpFamily) -> Self {
        Self {
            protocol,
            external_port,
            family,
        }
    }
}

impl From<&PortForwardingRule> for PortForwardingKey {
    fn from(rule: &PortForwardingRule) -> Self {
        rule.key()
    }
}

impl fmt::Display for PortForwardingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.protocol, self.external_port, self.family
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_numbers_round_trip() {
        for p in [Protocol::Tcp, Protocol::Udp] {
            assert_eq!(Protocol::from_number(p.number()), Some(p));
        }
        assert_eq!(Protocol::Tcp.number(), 6);
        assert_eq!(Protocol::from_number(1), None);
    }

    #[test]
    fn families_are_darwin_values() {
        assert_eq!(IpFamily::V4.raw(), 2);
        assert_eq!(IpFamily::V6.raw(), 30);
        let rule = PortForwardingRule::new(Protocol::Udp, 53, "[fd00::2]:53".parse().unwrap());
        assert_eq!(rule.family(), IpFamily::V6);
    }

    #[test]
    fn zero_ports_are_rejected() {
        let r = PortForwardingRule::new(Protocol::Tcp, 0, "10.0.0.2:22".parse().unwrap());
        assert!(matches!(
            r.validate(),
            Err(Error::Rule(RuleError::ZeroPort { which: "external" }))
        ));
        let r = PortForwardingRule::new(Protocol::Tcp, 22, "10.0.0.2:0".parse().unwrap());
        assert!(matches!(
            r.validate(),
            Err(Error::Rule(RuleError::ZeroPort { which: "internal" }))
        ));
        let r = PortForwardingRule::new(Protocol::Tcp, 22, "10.0.0.2:22".parse().unwrap());
        assert!(r.validate().is_ok());
    }

    #[test]
    fn keys_name_the_slot_a_rule_occupies() {
        let v4 = PortForwardingRule::new(Protocol::Tcp, 2222, "10.0.0.2:22".parse().unwrap());
        let other_guest =
            PortForwardingRule::new(Protocol::Tcp, 2222, "10.0.0.3:23".parse().unwrap());
        let v6 = PortForwardingRule::new(Protocol::Tcp, 2222, "[fd00::2]:22".parse().unwrap());
        let udp = PortForwardingRule::new(Protocol::Udp, 2222, "10.0.0.2:22".parse().unwrap());
        // The internal address is not part of the key: one rule per slot.
        assert_eq!(v4.key(), other_guest.key());
        assert_ne!(v4.key(), v6.key());
        assert_ne!(v4.key(), udp.key());
        assert_eq!(
            PortForwardingKey::from(&v6),
            PortForwardingKey::new(Protocol::Tcp, 2222, IpFamily::V6)
        );
        assert_eq!(PortForwardingKey::from(&udp), udp.key());
        assert_eq!(v6.key().to_string(), "tcp 2222 ipv6");
    }
}
