//! Which optional vmnet features the running system offers.

use std::fmt;

/// A vmnet feature newer than macOS 11, the oldest system this crate supports.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Feature {
    /// Checksum offload (`vmnet_enable_checksum_offload_key`), macOS 12.0.
    ChecksumOffload,
    /// IPv4 and IPv6 port forwarding on interfaces, macOS 12.0.
    IpPortForwarding,
    /// Reported per-call read/write packet limits, macOS 15.0.
    PacketLimits,
    /// The 12-byte virtio-net header on every packet, macOS 15.4.
    VirtioHeader,
    /// Network objects (`vmnet_network_*`), macOS 26.0.
    NetworkObjects,
}

impl Feature {
    /// Every feature.
    pub const ALL: [Feature; 5] = [
        Feature::ChecksumOffload,
        Feature::IpPortForwarding,
        Feature::PacketLimits,
        Feature::VirtioHeader,
        Feature::NetworkObjects,
    ];

    /// The first macOS release with the feature, e.g. `"macOS 15.4"`.
    pub fn since(self) -> &'static str {
        match self {
            Feature::ChecksumOffload | Feature::IpPortForwarding => "macOS 12.0",
            Feature::PacketLimits => "macOS 15.0",
            Feature::VirtioHeader => "macOS 15.4",
            Feature::NetworkObjects => "macOS 26.0",
        }
    }

    /// A human-readable name, e.g. `"checksum offload"`.
    pub fn name(self) -> &'static str {
        match self {
            Feature::ChecksumOffload => "checksum offload",
            Feature::IpPortForwarding => "IPv6 port forwarding",
            Feature::PacketLimits => "reported packet limits",
            Feature::VirtioHeader => "the virtio-net header",
            Feature::NetworkObjects => "network objects",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }

    /// The error for using this feature where it is missing.
    pub(crate) fn unsupported(self) -> crate::Error {
        crate::Error::Unsupported {
            feature: self.name(),
            since: self.since(),
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.since())
    }
}

/// A set of [`Feature`]s: what a system (or a simulated segment) supports.
///
/// ```
/// use vmnet::{Capabilities, Feature};
/// let old = Capabilities::BASELINE.with(Feature::ChecksumOffload);
/// assert!(old.has(Feature::ChecksumOffload));
/// assert!(!old.has(Feature::VirtioHeader));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities {
    bits: u8,
}

impl Capabilities {
    /// What every supported system (macOS 11) has: none of the optional features.
    pub const BASELINE: Capabilities = Capabilities { bits: 0 };
    /// Every feature (macOS 26).
    pub const ALL: Capabilities = Capabilities { bits: 0b1_1111 };

    /// Whether `feature` is present.
    pub fn has(self, feature: Feature) -> bool {
        self.bits & feature.bit() != 0
    }

    /// This set plus `feature`.
    #[must_use]
    pub fn with(self, feature: Feature) -> Self {
        Self {
            bits: self.bits | feature.bit(),
        }
    }

    /// This set without `feature`.
    #[must_use]
    pub fn without(self, feature: Feature) -> Self {
        Self {
            bits: self.bits & !feature.bit(),
        }
    }

    /// `Ok(())` if `feature` is present.
    ///
    /// # Errors
    /// [`Error::Unsupported`](crate::Error::Unsupported), naming the feature and the macOS
    /// release that brings it, if it is absent.
    pub fn require(self, feature: Feature) -> crate::Result<()> {
        if self.has(feature) {
            Ok(())
        } else {
            Err(feature.unsupported())
        }
    }

    /// The features present.
    pub fn iter(self) -> impl Iterator<Item = Feature> {
        Feature::ALL.into_iter().filter(move |f| self.has(*f))
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets() {
        assert!(Feature::ALL.iter().all(|f| Capabilities::ALL.has(*f)));
        assert!(Feature::ALL.iter().all(|f| !Capabilities::BASELINE.has(*f)));
        let c = Capabilities::ALL.without(Feature::NetworkObjects);
        assert!(!c.has(Feature::NetworkObjects) && c.has(Feature::VirtioHeader));
        assert_eq!(c.iter().count(), 4);
        match Capabilities::BASELINE.require(Feature::VirtioHeader) {
            Err(crate::Error::Unsupported { since, .. }) => assert_eq!(since, "macOS 15.4"),
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }
}
