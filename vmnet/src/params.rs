//! The parameters vmnet reports for a started interface: [`Parameters`].

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;

use uuid::Uuid;

use crate::error::Error;
use crate::keys::{Dictionary, Key, Value};
use crate::mac::MacAddr;

/// The largest number of packets per read or write call used when the system does not report
/// its limits (before macOS 15): 200, the historical per-call limit.
pub const DEFAULT_MAX_PACKETS_PER_CALL: usize = 200;

/// The MTU assumed when vmnet reports none: Ethernet's usual 1500.
const DEFAULT_MTU: u32 = 1500;

/// The accepted maximum packet sizes: up to 256 KiB, the historical limit of one call.
const MAX_PACKET_SIZE_RANGE: RangeInclusive<u64> = 1..=262_144;

/// The accepted per-call packet limits.
const MAX_PACKETS_RANGE: RangeInclusive<u64> = 1..=65_536;

const MISSING: &str = "is missing";
const WRONG_TYPE: &str = "has the wrong type";
const OUT_OF_RANGE: &str = "is out of range";

/// The parameters of a started interface, as vmnet reported them.
///
/// Parsed from vmnet's parameter dictionary by [`from_dictionary`](Self::from_dictionary).
/// Only the maximum packet size must be present; for the rest:
///
/// - [`mtu`](Self::mtu): 1500 when not reported;
/// - [`read_max_packets`](Self::read_max_packets) and
///   [`write_max_packets`](Self::write_max_packets): [`DEFAULT_MAX_PACKETS_PER_CALL`] (200)
///   when not reported, as before macOS 15;
/// - [`mac_address`](Self::mac_address), the address range, the NAT66 prefix and the
///   interface id: `None` when not reported (for instance the MAC address in bridged mode
///   without allocation, the address range in bridged mode, and the NAT66 prefix outside
///   shared mode).
///
/// # Packet sizes and the virtio-net header
///
/// [`max_packet_size`](Self::max_packet_size) is vmnet's figure: the largest Ethernet frame,
/// **without** the 12-byte virtio-net header. When the interface was started with the header
/// ([`InterfaceConfig::virtio_header`](crate::InterfaceConfig::virtio_header), macOS 15.4),
/// every packet read or written carries it in front of the frame, so the largest packet is
/// 12 bytes longer: [`buffer_len`](Self::buffer_len) is the size that reads, writes and
/// batches go by, whether or not the header is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parameters {
    mac_address: Option<MacAddr>,
    mtu: u32,
    max_packet_size: usize,
    virtio_header: bool,
    read_max_packets: usize,
    write_max_packets: usize,
    start_address: Option<Ipv4Addr>,
    end_address: Option<Ipv4Addr>,
    subnet_mask: Option<Ipv4Addr>,
    nat66_prefix: Option<Ipv6Addr>,
    interface_id: Option<Uuid>,
}

impl Parameters {
    /// The length of the virtio-net header that packets carry when it is enabled.
    pub const VIRTIO_HEADER_LEN: usize = 12;

    /// Parses vmnet's parameter dictionary.
    ///
    /// Keys this crate does not use are ignored. The NAT66 prefix may carry a `/length`
    /// suffix, which is ignored. vmnet's dictionary does not say whether packets carry the
    /// virtio-net header, so the result has it off ([`virtio_header`](Self::virtio_header)
    /// is `false`); a started interface's parameters have it as the interface was started.
    ///
    /// # Errors
    ///
    /// [`Error::Parameters`] naming the key, if the maximum packet size is missing, or a value
    /// has the wrong type, is out of range or does not parse. The maximum packet size must be
    /// 1 to 262144 bytes, the MTU 1 to `u32::MAX`, and the per-call packet limits 1 to 65536.
    pub fn from_dictionary(dict: &Dictionary) -> Result<Parameters, Error> {
        let mtu = match number(dict, Key::Mtu)? {
            None => DEFAULT_MTU,
            Some(mtu) => u32::try_from(mtu)
                .ok()
                .filter(|mtu| *mtu > 0)
                .ok_or_else(|| problem(Key::Mtu, OUT_OF_RANGE))?,
        };
        let max_packet_size = match number(dict, Key::MaxPacketSize)? {
            None => return Err(problem(Key::MaxPacketSize, MISSING)),
            Some(size) => within(Key::MaxPacketSize, size, MAX_PACKET_SIZE_RANGE)?,
        };
        let limit = |key| match number(dict, key)? {
            None => Ok(DEFAULT_MAX_PACKETS_PER_CALL),
            Some(n) => within(key, n, MAX_PACKETS_RANGE),
        };
        let mac_address = text(dict, Key::MacAddress)?
            .map(|s| {
                s.parse::<MacAddr>()
                    .map_err(|_| problem(Key::MacAddress, "is not a valid MAC address"))
            })
            .transpose()?;
        let interface_id = match dict.get(Key::InterfaceId) {
            None => None,
            Some(Value::Uuid(id)) => Some(*id),
            Some(_) => return Err(problem(Key::InterfaceId, WRONG_TYPE)),
        };
        let nat66_prefix = text(dict, Key::Nat66Prefix)?
            .map(|s| {
                let address = s.split_once('/').map_or(s, |(address, _)| address);
                address
                    .parse::<Ipv6Addr>()
                    .map_err(|_| problem(Key::Nat66Prefix, "is not a valid IPv6 prefix"))
            })
            .transpose()?;
        Ok(Parameters {
            mac_address,
            mtu,
            max_packet_size,
            virtio_header: false,
            read_max_packets: limit(Key::ReadMaxPackets)?,
            write_max_packets: limit(Key::WriteMaxPackets)?,
            start_address: ipv4(dict, Key::StartAddress)?,
            end_address: ipv4(dict, Key::EndAddress)?,
            subnet_mask: ipv4(dict, Key::SubnetMask)?,
            nat66_prefix,
            interface_id,
        })
    }

    /// The interface's MAC address; `None` when vmnet reports none, as in bridged mode without
    /// MAC address allocation.
    pub fn mac_address(&self) -> Option<MacAddr> {
        self.mac_address
    }

    /// The MTU; 1500 when vmnet reports none.
    pub fn mtu(&self) -> u32 {
        self.mtu
    }

    /// The largest Ethernet frame, in bytes, as vmnet reports it: **without** the virtio-net
    /// header. With the header on, packets are up to [`buffer_len`](Self::buffer_len) bytes.
    pub fn max_packet_size(&self) -> usize {
        self.max_packet_size
    }

    /// Whether every packet read or written carries the 12-byte virtio-net header
    /// ([`VIRTIO_HEADER_LEN`](Self::VIRTIO_HEADER_LEN)) in front of the Ethernet frame: as the
    /// interface was started ([`InterfaceConfig::virtio_header`](crate::InterfaceConfig::virtio_header)).
    pub fn virtio_header(&self) -> bool {
        self.virtio_header
    }

    /// The largest packet read or written, in bytes: [`max_packet_size`](Self::max_packet_size),
    /// plus [`VIRTIO_HEADER_LEN`](Self::VIRTIO_HEADER_LEN) when the virtio-net header is on.
    /// Read buffers and batch slots must be at least this large, and no packet written may be
    /// larger.
    pub fn buffer_len(&self) -> usize {
        if self.virtio_header {
            self.max_packet_size + Self::VIRTIO_HEADER_LEN
        } else {
            self.max_packet_size
        }
    }

    /// These parameters for an interface started with the virtio-net header `on` or off.
    pub(crate) fn with_virtio_header(mut self, on: bool) -> Self {
        self.virtio_header = on;
        self
    }

    /// `Err(BufferTooSmall)` unless a read buffer (or batch slot) of `len` bytes can hold the
    /// largest packet ([`buffer_len`](Self::buffer_len)).
    pub(crate) fn check_read_len(&self, len: usize) -> crate::Result<()> {
        let needed = self.buffer_len();
        if len < needed {
            return Err(crate::Error::BufferTooSmall { len, needed });
        }
        Ok(())
    }

    /// `Err(PacketTooBig)` for packet `index` of `len` bytes if it is larger than a packet
    /// may be ([`buffer_len`](Self::buffer_len)).
    pub(crate) fn check_write_len(&self, index: usize, len: usize) -> crate::Result<()> {
        let max = self.buffer_len();
        if len > max {
            return Err(crate::Error::PacketTooBig { index, len, max });
        }
        Ok(())
    }

    /// The most packets one read call may take; [`DEFAULT_MAX_PACKETS_PER_CALL`] when vmnet
    /// reports no limit (before macOS 15).
    pub fn read_max_packets(&self) -> usize {
        self.read_max_packets
    }

    /// The most packets one write call may take; [`DEFAULT_MAX_PACKETS_PER_CALL`] when vmnet
    /// reports no limit (before macOS 15).
    pub fn write_max_packets(&self) -> usize {
        self.write_max_packets
    }

    /// The start address of the network: the gateway (host and shared mode).
    pub fn start_address(&self) -> Option<Ipv4Addr> {
        self.start_address
    }

    /// The end address of the DHCP range (host and shared mode).
    pub fn end_address(&self) -> Option<Ipv4Addr> {
        self.end_address
    }

    /// The subnet mask of the network (host and shared mode).
    pub fn subnet_mask(&self) -> Option<Ipv4Addr> {
        self.subnet_mask
    }

    /// The NAT66 prefix, a /64 (shared mode).
    pub fn nat66_prefix(&self) -> Option<Ipv6Addr> {
        self.nat66_prefix
    }

    /// The interface id: the one configured, or the one vmnet chose.
    pub fn interface_id(&self) -> Option<Uuid> {
        self.interface_id
    }
}

fn problem(key: Key, problem: &'static str) -> Error {
    Error::Parameters { key, problem }
}

/// The number at `key`, if present.
fn number(dict: &Dictionary, key: Key) -> Result<Option<u64>, Error> {
    match dict.get(key) {
        None => Ok(None),
        Some(Value::U64(n)) => Ok(Some(*n)),
        Some(_) => Err(problem(key, WRONG_TYPE)),
    }
}

/// `n` as a `usize` if it is in `range`.
fn within(key: Key, n: u64, range: RangeInclusive<u64>) -> Result<usize, Error> {
    if range.contains(&n) {
        usize::try_from(n).map_err(|_| problem(key, OUT_OF_RANGE))
    } else {
        Err(problem(key, OUT_OF_RANGE))
    }
}

/// The string at `key`, if present.
fn text(dict: &Dictionary, key: Key) -> Result<Option<&str>, Error> {
    match dict.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(problem(key, WRONG_TYPE)),
    }
}

/// The IPv4 address at `key`, if present.
fn ipv4(dict: &Dictionary, key: Key) -> Result<Option<Ipv4Addr>, Error> {
    text(dict, key)?
        .map(|s| {
            s.parse()
                .map_err(|_| problem(key, "is not a valid IPv4 address"))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: Uuid = Uuid::from_u128(0x6c1d_5e9a_0b7f_4d2e_9a31_c4e8_7f20_1b55);

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    /// The parameters of a shared interface as observed on macOS 26.
    fn observed() -> Dictionary {
        [
            (Key::Mtu, Value::U64(1500)),
            (Key::MaxPacketSize, Value::U64(1514)),
            (Key::ReadMaxPackets, Value::U64(256)),
            (Key::WriteMaxPackets, Value::U64(256)),
            (Key::StartAddress, s("192.168.105.1")),
            (Key::EndAddress, s("192.168.105.254")),
            (Key::SubnetMask, s("255.255.255.0")),
            (Key::Nat66Prefix, s("fd9b:5a14:ba57:e3d3::")),
            (Key::MacAddress, s("8e:12:a4:0f:3b:c7")),
            (Key::InterfaceId, Value::Uuid(ID)),
        ]
        .into_iter()
        .collect()
    }

    fn with(key: Key, value: Value) -> Dictionary {
        let mut dict = observed();
        dict.insert(key, value);
        dict
    }

    fn minimal() -> Dictionary {
        [(Key::MaxPacketSize, Value::U64(1514))]
            .into_iter()
            .collect()
    }

    fn parameters_error(dict: &Dictionary) -> (Key, &'static str) {
        match Parameters::from_dictionary(dict) {
            Err(Error::Parameters { key, problem }) => (key, problem),
            other => panic!("expected a parameters error, got {other:?}"),
        }
    }

    #[test]
    fn observed_macos_26_dictionary_parses() {
        let p = Parameters::from_dictionary(&observed()).unwrap();
        assert_eq!(p.mtu(), 1500);
        assert_eq!(p.max_packet_size(), 1514);
        assert_eq!((p.read_max_packets(), p.write_max_packets()), (256, 256));
        assert_eq!(p.start_address(), Some(Ipv4Addr::new(192, 168, 105, 1)));
        assert_eq!(p.end_address(), Some(Ipv4Addr::new(192, 168, 105, 254)));
        assert_eq!(p.subnet_mask(), Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(
            p.nat66_prefix(),
            Some(Ipv6Addr::new(0xfd9b, 0x5a14, 0xba57, 0xe3d3, 0, 0, 0, 0))
        );
        assert_eq!(
            p.mac_address(),
            Some(MacAddr::new([0x8e, 0x12, 0xa4, 0x0f, 0x3b, 0xc7]))
        );
        assert_eq!(p.interface_id(), Some(ID));
    }

    #[test]
    fn minimal_dictionary_gets_the_defaults() {
        let p = Parameters::from_dictionary(&minimal()).unwrap();
        assert_eq!(p.mtu(), 1500);
        assert_eq!(p.max_packet_size(), 1514);
        assert_eq!(p.mac_address(), None);
        assert_eq!(p.start_address(), None);
        assert_eq!(p.end_address(), None);
        assert_eq!(p.subnet_mask(), None);
        assert_eq!(p.nat66_prefix(), None);
        assert_eq!(p.interface_id(), None);
    }

    #[test]
    fn absent_limits_default_to_200() {
        let p = Parameters::from_dictionary(&minimal()).unwrap();
        assert_eq!(p.read_max_packets(), DEFAULT_MAX_PACKETS_PER_CALL);
        assert_eq!(p.write_max_packets(), DEFAULT_MAX_PACKETS_PER_CALL);
        assert_eq!(DEFAULT_MAX_PACKETS_PER_CALL, 200);
    }

    #[test]
    fn extra_keys_are_ignored() {
        let mut dict = observed();
        dict.insert(Key::EstimatedPacketsAvailable, Value::U64(3));
        dict.insert(Key::EnableTso, Value::Bool(true));
        dict.insert(Key::OperationMode, s("not even a number"));
        assert_eq!(
            Parameters::from_dictionary(&dict).unwrap(),
            Parameters::from_dictionary(&observed()).unwrap()
        );
    }

    #[test]
    fn mac_without_zero_padding_parses() {
        let p = Parameters::from_dictionary(&with(Key::MacAddress, s("2:1a:0:ff:0:1"))).unwrap();
        assert_eq!(
            p.mac_address(),
            Some(MacAddr::new([0x02, 0x1a, 0x00, 0xff, 0x00, 0x01]))
        );
    }

    #[test]
    fn nat66_prefix_with_length_parses() {
        let p = Parameters::from_dictionary(&with(Key::Nat66Prefix, s("fd9b:5a14:ba57:e3d3::/64")))
            .unwrap();
        assert_eq!(
            p.nat66_prefix(),
            Some(Ipv6Addr::new(0xfd9b, 0x5a14, 0xba57, 0xe3d3, 0, 0, 0, 0))
        );
    }

    #[test]
    fn limits_at_their_bounds_parse() {
        let mut dict = observed();
        dict.insert(Key::ReadMaxPackets, Value::U64(1));
        dict.insert(Key::WriteMaxPackets, Value::U64(65_536));
        dict.insert(Key::MaxPacketSize, Value::U64(262_144));
        let p = Parameters::from_dictionary(&dict).unwrap();
        assert_eq!((p.read_max_packets(), p.write_max_packets()), (1, 65_536));
        assert_eq!(p.max_packet_size(), 262_144);
    }

    #[test]
    fn missing_max_packet_size_fails() {
        let dict: Dictionary = observed()
            .iter()
            .filter(|(k, _)| *k != Key::MaxPacketSize)
            .map(|(k, v)| (k, v.clone()))
            .collect();
        assert_eq!(parameters_error(&dict), (Key::MaxPacketSize, "is missing"));
    }

    #[test]
    fn max_packet_size_of_zero_fails() {
        let dict = with(Key::MaxPacketSize, Value::U64(0));
        assert_eq!(parameters_error(&dict), (Key::MaxPacketSize, OUT_OF_RANGE));
    }

    #[test]
    fn max_packet_size_too_large_fails() {
        let dict = with(Key::MaxPacketSize, Value::U64(262_145));
        assert_eq!(parameters_error(&dict), (Key::MaxPacketSize, OUT_OF_RANGE));
    }

    #[test]
    fn read_max_packets_of_zero_fails() {
        let dict = with(Key::ReadMaxPackets, Value::U64(0));
        assert_eq!(parameters_error(&dict), (Key::ReadMaxPackets, OUT_OF_RANGE));
    }

    #[test]
    fn write_max_packets_too_large_fails() {
        let dict = with(Key::WriteMaxPackets, Value::U64(65_537));
        assert_eq!(
            parameters_error(&dict),
            (Key::WriteMaxPackets, OUT_OF_RANGE)
        );
    }

    #[test]
    fn mtu_beyond_u32_fails() {
        let dict = with(Key::Mtu, Value::U64(u64::from(u32::MAX) + 1));
        assert_eq!(parameters_error(&dict), (Key::Mtu, OUT_OF_RANGE));
    }

    #[test]
    fn mtu_of_zero_fails() {
        let dict = with(Key::Mtu, Value::U64(0));
        assert_eq!(parameters_error(&dict), (Key::Mtu, OUT_OF_RANGE));
    }

    #[test]
    fn max_packet_size_as_string_fails() {
        let dict = with(Key::MaxPacketSize, s("1514"));
        assert_eq!(parameters_error(&dict), (Key::MaxPacketSize, WRONG_TYPE));
    }

    #[test]
    fn mtu_as_bool_fails() {
        let dict = with(Key::Mtu, Value::Bool(true));
        assert_eq!(parameters_error(&dict), (Key::Mtu, WRONG_TYPE));
    }

    #[test]
    fn read_max_packets_as_string_fails() {
        let dict = with(Key::ReadMaxPackets, s("256"));
        assert_eq!(parameters_error(&dict), (Key::ReadMaxPackets, WRONG_TYPE));
    }

    #[test]
    fn mac_address_as_number_fails() {
        let dict = with(Key::MacAddress, Value::U64(1));
        assert_eq!(parameters_error(&dict), (Key::MacAddress, WRONG_TYPE));
    }

    #[test]
    fn start_address_as_uuid_fails() {
        let dict = with(Key::StartAddress, Value::Uuid(ID));
        assert_eq!(parameters_error(&dict), (Key::StartAddress, WRONG_TYPE));
    }

    #[test]
    fn interface_id_as_string_fails() {
        let dict = with(Key::InterfaceId, s(&ID.to_string()));
        assert_eq!(parameters_error(&dict), (Key::InterfaceId, WRONG_TYPE));
    }

    #[test]
    fn bad_mac_fails() {
        let dict = with(Key::MacAddress, s("8e:12:a4:0f:3b"));
        assert_eq!(
            parameters_error(&dict),
            (Key::MacAddress, "is not a valid MAC address")
        );
    }

    #[test]
    fn bad_ipv4_address_fails() {
        let dict = with(Key::EndAddress, s("192.168.105.256"));
        assert_eq!(
            parameters_error(&dict),
            (Key::EndAddress, "is not a valid IPv4 address")
        );
    }

    #[test]
    fn bad_subnet_mask_fails() {
        let dict = with(Key::SubnetMask, s("255.255.255"));
        assert_eq!(
            parameters_error(&dict),
            (Key::SubnetMask, "is not a valid IPv4 address")
        );
    }

    #[test]
    fn bad_nat66_prefix_fails() {
        let dict = with(Key::Nat66Prefix, s("fd9b:5a14:ba57:e3d3"));
        assert_eq!(
            parameters_error(&dict),
            (Key::Nat66Prefix, "is not a valid IPv6 prefix")
        );
    }

    #[test]
    fn the_virtio_header_adds_12_bytes_to_the_buffer_len_only() {
        let plain = Parameters::from_dictionary(&observed()).unwrap();
        assert!(!plain.virtio_header());
        assert_eq!((plain.max_packet_size(), plain.buffer_len()), (1514, 1514));
        let virtio = plain.clone().with_virtio_header(true);
        assert!(virtio.virtio_header());
        assert_eq!(
            (virtio.max_packet_size(), virtio.buffer_len()),
            (1514, 1526)
        );
        assert!(virtio.check_read_len(1526).is_ok());
        assert!(matches!(
            virtio.check_read_len(1525),
            Err(crate::Error::BufferTooSmall {
                len: 1525,
                needed: 1526
            })
        ));
        assert!(virtio.check_write_len(0, 1526).is_ok());
        assert!(matches!(
            virtio.check_write_len(3, 1527),
            Err(crate::Error::PacketTooBig {
                index: 3,
                len: 1527,
                max: 1526
            })
        ));
        assert!(matches!(
            plain.check_write_len(0, 1515),
            Err(crate::Error::PacketTooBig { max: 1514, .. })
        ));
    }

    #[test]
    fn error_message_names_the_key() {
        let e = Parameters::from_dictionary(&Dictionary::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "vmnet's interface parameters are unusable: vmnet_max_packet_size_key is missing"
        );
    }
}
