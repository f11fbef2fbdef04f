//! Which optional vmnet features the running system offers.

use std::fmt;

/// A vmnet feature newer than macOS 11, the oldest system this crate supports: the name and
/// first release of each flag of [`Capabilities`].
///
/// ```
/// use vmnet::{Capabilities, Feature};
/// assert_eq!(Feature::VirtioHeader.since(), "macOS 15.4");
/// assert_eq!(Feature::VirtioHeader.flag(), Capabilities::VIRTIO_HEADER);
/// assert_eq!(Feature::from_flag(Capabilities::VIRTIO_HEADER), Some(Feature::VirtioHeader));
/// ```
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
    /// Every feature, oldest first (the order of [`Capabilities::features`]).
    pub const ALL: [Feature; 5] = [
        Feature::ChecksumOffload,
        Feature::IpPortForwarding,
        Feature::PacketLimits,
        Feature::VirtioHeader,
        Feature::NetworkObjects,
    ];

    /// The first macOS release with the feature, e.g. `"macOS 15.4"`.
    pub const fn since(self) -> &'static str {
        match self {
            Feature::ChecksumOffload | Feature::IpPortForwarding => "macOS 12.0",
            Feature::PacketLimits => "macOS 15.0",
            Feature::VirtioHeader => "macOS 15.4",
            Feature::NetworkObjects => "macOS 26.0",
        }
    }

    /// A human-readable name, e.g. `"checksum offload"`.
    pub const fn name(self) -> &'static str {
        match self {
            Feature::ChecksumOffload => "checksum offload",
            Feature::IpPortForwarding => "IPv6 port forwarding",
            Feature::PacketLimits => "reported packet limits",
            Feature::VirtioHeader => "the virtio-net header",
            Feature::NetworkObjects => "network objects",
        }
    }

    /// The feature's flag in [`Capabilities`] (also `Capabilities::from(feature)`).
    pub const fn flag(self) -> Capabilities {
        match self {
            Feature::ChecksumOffload => Capabilities::CHECKSUM_OFFLOAD,
            Feature::IpPortForwarding => Capabilities::IP_PORT_FORWARDING,
            Feature::PacketLimits => Capabilities::PACKET_LIMITS,
            Feature::VirtioHeader => Capabilities::VIRTIO_HEADER,
            Feature::NetworkObjects => Capabilities::NETWORK_OBJECTS,
        }
    }

    /// The feature whose flag `flag` is: `None` unless `flag` is exactly one known flag.
    pub const fn from_flag(flag: Capabilities) -> Option<Feature> {
        let mut i = 0;
        while i < Feature::ALL.len() {
            let feature = Feature::ALL[i];
            if feature.flag().bits() == flag.bits() {
                return Some(feature);
            }
            i += 1;
        }
        None
    }

    /// The error for using this feature where it is missing.
    pub(crate) const fn unsupported(self) -> crate::Error {
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

bitflags::bitflags! {
    /// A set of [`Feature`]s: what a system (or a simulated segment) supports.
    ///
    /// A [`bitflags`] set with one flag per [`Feature`], so the usual set operations
    /// (`|`, `&`, `-`, [`contains`](Self::contains), [`insert`](Self::insert),
    /// [`from_bits_truncate`](Self::from_bits_truncate), …) work alongside the
    /// feature-by-feature [`has`](Self::has), [`with`](Self::with),
    /// [`without`](Self::without) and [`require`](Self::require).
    ///
    /// ```
    /// use vmnet::{Capabilities, Feature};
    /// const OLD: Capabilities = Capabilities::BASELINE.with(Feature::ChecksumOffload);
    /// assert!(OLD.has(Feature::ChecksumOffload));
    /// assert!(!OLD.has(Feature::VirtioHeader));
    /// assert_eq!(OLD, Capabilities::CHECKSUM_OFFLOAD);
    /// let newer = OLD | Capabilities::VIRTIO_HEADER;
    /// assert_eq!(
    ///     newer.features().collect::<Vec<_>>(),
    ///     [Feature::ChecksumOffload, Feature::VirtioHeader]
    /// );
    /// assert!(Capabilities::BASELINE.require(Feature::VirtioHeader).is_err());
    /// ```
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct Capabilities: u8 {
        /// [`Feature::ChecksumOffload`].
        const CHECKSUM_OFFLOAD = 1 << 0;
        /// [`Feature::IpPortForwarding`].
        const IP_PORT_FORWARDING = 1 << 1;
        /// [`Feature::PacketLimits`].
        const PACKET_LIMITS = 1 << 2;
        /// [`Feature::VirtioHeader`].
        const VIRTIO_HEADER = 1 << 3;
        /// [`Feature::NetworkObjects`].
        const NETWORK_OBJECTS = 1 << 4;
    }
}

impl Capabilities {
    /// What every supported system (macOS 11) has: none of the optional features
    /// (`Capabilities::empty()`).
    pub const BASELINE: Capabilities = Capabilities::empty();
    /// Every feature, macOS 26 (`Capabilities::all()`).
    pub const ALL: Capabilities = Capabilities::all();

    /// Whether `feature` is present.
    pub const fn has(self, feature: Feature) -> bool {
        self.contains(feature.flag())
    }

    /// This set plus `feature`.
    #[must_use]
    pub const fn with(self, feature: Feature) -> Self {
        self.union(feature.flag())
    }

    /// This set without `feature`.
    #[must_use]
    pub const fn without(self, feature: Feature) -> Self {
        self.difference(feature.flag())
    }

    /// `Ok(())` if `feature` is present.
    ///
    /// # Errors
    /// [`Error::Unsupported`](crate::Error::Unsupported), naming the feature and the macOS
    /// release that brings it, if it is absent.
    pub const fn require(self, feature: Feature) -> crate::Result<()> {
        if self.has(feature) {
            Ok(())
        } else {
            Err(feature.unsupported())
        }
    }

    /// The features present, oldest first. ([`iter`](Self::iter), from [`bitflags`], yields
    /// the present flags as one-flag `Capabilities` instead.)
    pub fn features(self) -> impl Iterator<Item = Feature> {
        Feature::ALL.into_iter().filter(move |f| self.has(*f))
    }
}

impl From<Feature> for Capabilities {
    fn from(feature: Feature) -> Self {
        feature.flag()
    }
}

impl FromIterator<Feature> for Capabilities {
    fn from_iter<I: IntoIterator<Item = Feature>>(features: I) -> Self {
        features
            .into_iter()
            .fold(Capabilities::BASELINE, Capabilities::with)
    }
}

impl Extend<Feature> for Capabilities {
    fn extend<I: IntoIterator<Item = Feature>>(&mut self, features: I) {
        *self = features.into_iter().fold(*self, Capabilities::with);
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
        assert_eq!(c.features().count(), 4);
        match Capabilities::BASELINE.require(Feature::VirtioHeader) {
            Err(crate::Error::Unsupported { since, .. }) => assert_eq!(since, "macOS 15.4"),
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }

    #[test]
    fn one_flag_per_feature() {
        // The flags and the features are the same table: every flag is a feature's, every
        // feature has its own flag, and `ALL` is exactly their union.
        let union: Capabilities = Feature::ALL.into_iter().collect();
        assert_eq!(union, Capabilities::ALL);
        assert_eq!(Capabilities::ALL.iter().count(), Feature::ALL.len());
        for (flag, feature) in Capabilities::ALL.iter().zip(Feature::ALL) {
            assert_eq!(feature.flag(), flag);
            assert_eq!(Feature::from_flag(flag), Some(feature));
            assert_eq!(Capabilities::from(feature), flag);
        }
        assert_eq!(Feature::from_flag(Capabilities::BASELINE), None);
        assert_eq!(Feature::from_flag(Capabilities::ALL), None);
        let mut c = Capabilities::BASELINE;
        c.extend([Feature::PacketLimits, Feature::ChecksumOffload]);
        assert_eq!(
            c,
            Capabilities::PACKET_LIMITS | Capabilities::CHECKSUM_OFFLOAD
        );
    }
}
