//! vmnet's interface event mask (`interface_event_t`) as a typed set.

use vmnet_sys as sys;

bitflags::bitflags! {
    /// The events of a vmnet interface, as vmnet's event callback reports them and as
    /// `vmnet_interface_set_event_callback` subscribes to them (`interface_event_t`).
    ///
    /// Bits vmnet may add later are kept ([`from_bits_retain`](Self::from_bits_retain)) and
    /// ignored: only the known flags are ever tested.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) struct EventMask: sys::interface_event_t {
        /// `VMNET_INTERFACE_PACKETS_AVAILABLE`: packets are waiting to be read.
        const PACKETS_AVAILABLE = sys::VMNET_INTERFACE_PACKETS_AVAILABLE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_masks() {
        assert_eq!(EventMask::PACKETS_AVAILABLE.bits(), 1);
        assert!(EventMask::from_bits_retain(0b101).contains(EventMask::PACKETS_AVAILABLE));
        assert!(!EventMask::from_bits_retain(0b100).contains(EventMask::PACKETS_AVAILABLE));
        assert!(!EventMask::from_bits_retain(0).contains(EventMask::PACKETS_AVAILABLE));
    }
}
