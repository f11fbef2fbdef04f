//! Ethernet MAC addresses: [`MacAddr`] and its parse error, [`ParseMacAddrError`].

use std::fmt;
use std::str::FromStr;

/// A 48-bit Ethernet MAC address.
///
/// Displayed in the usual lowercase, colon-separated form (`02:1a:00:ff:00:01`). Parsing
/// accepts six groups of one or two hexadecimal digits in any case, separated either all by
/// `:` or all by `-`; vmnet reports addresses without leading zeros (`2:1a:0:ff:0:1`).
///
/// ```
/// use vmnet::MacAddr;
///
/// let mac: MacAddr = "2:1a:0:ff:0:1".parse()?;
/// assert_eq!(mac, MacAddr::new([0x02, 0x1a, 0x00, 0xff, 0x00, 0x01]));
/// assert_eq!(mac.to_string(), "02:1a:00:ff:00:01");
/// assert!(mac.is_unicast() && mac.is_locally_administered());
/// # Ok::<(), vmnet::ParseMacAddrError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr([u8; 6]);

impl MacAddr {
    /// The broadcast address, `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);

    /// The address with these octets, most significant (first transmitted) first.
    pub const fn new(octets: [u8; 6]) -> Self {
        MacAddr(octets)
    }

    /// The six octets, most significant first.
    pub const fn octets(self) -> [u8; 6] {
        self.0
    }

    /// Whether this is the broadcast address, `ff:ff:ff:ff:ff:ff`.
    pub const fn is_broadcast(self) -> bool {
        let o = self.0;
        o[0] & o[1] & o[2] & o[3] & o[4] & o[5] == 0xff
    }

    /// Whether this is a group (multicast) address: the I/G bit, bit 0 of the first octet,
    /// is set. The broadcast address is a multicast address too.
    pub const fn is_multicast(self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Whether this is an individual (unicast) address: not [multicast](Self::is_multicast).
    pub const fn is_unicast(self) -> bool {
        !self.is_multicast()
    }

    /// Whether this address is locally administered rather than assigned by a manufacturer:
    /// the U/L bit, bit 1 of the first octet, is set.
    pub const fn is_locally_administered(self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(octets: [u8; 6]) -> Self {
        MacAddr(octets)
    }
}

impl From<MacAddr> for [u8; 6] {
    fn from(mac: MacAddr) -> Self {
        mac.0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [b':'; 17];
        for (i, octet) in self.0.iter().enumerate() {
            text[3 * i] = HEX[usize::from(octet >> 4)];
            text[3 * i + 1] = HEX[usize::from(octet & 0x0f)];
        }
        // Only ASCII was written, so this cannot fail; fall back to nothing rather than panic.
        f.pad(std::str::from_utf8(&text).unwrap_or_default())
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacAddr({self})")
    }
}

impl FromStr for MacAddr {
    type Err = ParseMacAddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || ParseMacAddrError {
            input: s.to_owned(),
        };
        let separator = match (s.contains(':'), s.contains('-')) {
            (true, false) => ':',
            (false, true) => '-',
            _ => return Err(error()),
        };
        let mut octets = [0u8; 6];
        let mut groups = s.split(separator);
        for octet in &mut octets {
            let group = groups.next().ok_or_else(error)?;
            // from_str_radix alone would also take a leading `+`.
            if group.is_empty() || group.len() > 2 || !group.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Err(error());
            }
            *octet = u8::from_str_radix(group, 16).map_err(|_| error())?;
        }
        if groups.next().is_some() {
            return Err(error());
        }
        Ok(MacAddr(octets))
    }
}

/// The error of parsing a [`MacAddr`] from a string of the wrong form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseMacAddrError {
    input: String,
}

impl ParseMacAddrError {
    /// The text that could not be parsed.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for ParseMacAddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid MAC address {:?}: expected six hex octets separated by colons, \
             like 02:00:5e:10:00:01",
            self.input
        )
    }
}

impl std::error::Error for ParseMacAddrError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<MacAddr, ParseMacAddrError> {
        s.parse()
    }

    const MAC: MacAddr = MacAddr::new([0x02, 0x1a, 0x00, 0xff, 0x00, 0x01]);

    #[test]
    fn displays_lowercase_zero_padded() {
        assert_eq!(MAC.to_string(), "02:1a:00:ff:00:01");
        assert_eq!(MacAddr::BROADCAST.to_string(), "ff:ff:ff:ff:ff:ff");
        assert_eq!(MacAddr::default().to_string(), "00:00:00:00:00:00");
        assert_eq!(format!("{MAC:>19}"), "  02:1a:00:ff:00:01");
    }

    #[test]
    fn debug_names_the_type() {
        assert_eq!(format!("{MAC:?}"), "MacAddr(02:1a:00:ff:00:01)");
    }

    #[test]
    fn parses_colon_form() {
        assert_eq!(parse("02:1a:00:ff:00:01"), Ok(MAC));
    }

    #[test]
    fn parses_without_leading_zeros() {
        assert_eq!(parse("2:1a:0:ff:0:1"), Ok(MAC));
    }

    #[test]
    fn parses_any_case() {
        assert_eq!(parse("02:1A:00:Ff:00:01"), Ok(MAC));
    }

    #[test]
    fn parses_hyphen_form() {
        assert_eq!(parse("02-1a-00-ff-00-01"), Ok(MAC));
        assert_eq!(parse("2-1a-0-ff-0-1"), Ok(MAC));
    }

    #[test]
    fn round_trips_through_display() {
        for mac in [MAC, MacAddr::BROADCAST, MacAddr::default()] {
            assert_eq!(parse(&mac.to_string()), Ok(mac));
        }
    }

    #[test]
    fn rejects_mixed_separators() {
        assert!(parse("02:1a-00:ff:00:01").is_err());
    }

    #[test]
    fn rejects_five_groups() {
        assert!(parse("02:1a:00:ff:00").is_err());
    }

    #[test]
    fn rejects_seven_groups() {
        assert!(parse("02:1a:00:ff:00:01:02").is_err());
    }

    #[test]
    fn rejects_empty_group() {
        assert!(parse("02:1a::ff:00:01").is_err());
    }

    #[test]
    fn rejects_trailing_separator() {
        assert!(parse("02:1a:00:ff:00:01:").is_err());
    }

    #[test]
    fn rejects_three_digit_group() {
        assert!(parse("02:1a:000:ff:00:01").is_err());
    }

    #[test]
    fn rejects_non_hex_digit() {
        assert!(parse("02:1g:00:ff:00:01").is_err());
    }

    #[test]
    fn rejects_plus_sign() {
        assert!(parse("02:+a:00:ff:00:01").is_err());
    }

    #[test]
    fn rejects_whitespace() {
        assert!(parse(" 02:1a:00:ff:00:01").is_err());
    }

    #[test]
    fn rejects_no_separators() {
        assert!(parse("021a00ff0001").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn rejects_non_ascii_without_panicking() {
        assert!(parse("02:1a:00:ff:00:é").is_err());
        assert!(parse("é:1a:00:ff:00:01").is_err());
    }

    #[test]
    fn error_message_shows_input_and_expected_form() {
        let e = parse("nope").unwrap_err();
        assert_eq!(e.input(), "nope");
        assert_eq!(
            e.to_string(),
            "invalid MAC address \"nope\": expected six hex octets separated by colons, \
             like 02:00:5e:10:00:01"
        );
    }

    #[test]
    fn address_classes() {
        assert!(MacAddr::BROADCAST.is_broadcast());
        assert!(MacAddr::BROADCAST.is_multicast());
        assert!(!MacAddr::BROADCAST.is_unicast());
        let multicast = MacAddr::new([0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]);
        assert!(multicast.is_multicast() && !multicast.is_broadcast());
        assert!(!multicast.is_locally_administered());
        assert!(MAC.is_unicast() && !MAC.is_multicast() && !MAC.is_broadcast());
        assert!(MAC.is_locally_administered());
        let vendor = MacAddr::new([0x00, 0x1b, 0x63, 0x84, 0x45, 0xe6]);
        assert!(vendor.is_unicast() && !vendor.is_locally_administered());
        assert!(!MacAddr::new([0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]).is_broadcast());
    }

    #[test]
    fn converts_to_and_from_octets() {
        let octets = [0x02, 0x1a, 0x00, 0xff, 0x00, 0x01];
        assert_eq!(MacAddr::from(octets), MAC);
        assert_eq!(<[u8; 6]>::from(MAC), octets);
        assert_eq!(MAC.octets(), octets);
    }
}
