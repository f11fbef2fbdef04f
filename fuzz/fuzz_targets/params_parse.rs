//! Parameter parsing over arbitrary dictionaries.
//!
//! `Parameters::from_dictionary` must never panic, and what it accepts must satisfy the
//! documented bounds and defaults: maximum packet size present and 1..=262144, MTU 1..=u32::MAX
//! (1500 when absent), per-call packet limits 1..=65536 (200 when absent), every present value
//! read back exactly. A refusal names a key that is present in the dictionary (or the missing
//! maximum packet size).
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use vmnet::keys::{Dictionary, Key, Value};
use vmnet::{DEFAULT_MAX_PACKETS_PER_CALL, Error, MacAddr, Parameters, Uuid};

/// A value, biased towards well-formed text so parsing gets past the type checks.
#[derive(Arbitrary, Debug)]
enum ValueInput {
    U64(u64),
    /// A small number, often in or near the accepted ranges.
    Small(u32),
    Bool(bool),
    Uuid(u128),
    String(String),
    Mac([u8; 6], bool),
    Ipv4([u8; 4]),
    Ipv6([u8; 16], Option<u8>),
}

impl ValueInput {
    fn value(&self) -> Value {
        match self {
            ValueInput::U64(n) => Value::U64(*n),
            ValueInput::Small(n) => Value::U64(u64::from(*n % 300_000)),
            ValueInput::Bool(b) => Value::Bool(*b),
            ValueInput::Uuid(id) => Value::Uuid(Uuid::from_u128(*id)),
            ValueInput::String(s) => Value::String(s.clone()),
            ValueInput::Mac(octets, padded) => Value::String(if *padded {
                MacAddr::new(*octets).to_string()
            } else {
                octets
                    .iter()
                    .map(|b| format!("{b:x}"))
                    .collect::<Vec<_>>()
                    .join(":")
            }),
            ValueInput::Ipv4(b) => Value::String(Ipv4Addr::from(*b).to_string()),
            ValueInput::Ipv6(b, len) => {
                let a = Ipv6Addr::from(*b);
                Value::String(match len {
                    Some(l) => format!("{a}/{l}"),
                    None => a.to_string(),
                })
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    entries: Vec<(u8, ValueInput)>,
}

fn number(dict: &Dictionary, key: Key) -> Option<u64> {
    match dict.get(key)? {
        Value::U64(n) => Some(*n),
        other => panic!("{key} was accepted as {other:?}"),
    }
}

fn string(dict: &Dictionary, key: Key) -> Option<&str> {
    match dict.get(key)? {
        Value::String(s) => Some(s),
        other => panic!("{key} was accepted as {other:?}"),
    }
}

fuzz_target!(|input: Input| {
    let dict: Dictionary = input
        .entries
        .iter()
        .map(|(k, v)| (Key::ALL[usize::from(*k) % Key::ALL.len()], v.value()))
        .collect();
    match Parameters::from_dictionary(&dict) {
        Ok(p) => {
            let max = number(&dict, Key::MaxPacketSize).expect("max packet size is required");
            assert_eq!(p.max_packet_size() as u64, max);
            assert!((1..=262_144).contains(&p.max_packet_size()));
            match number(&dict, Key::Mtu) {
                Some(mtu) => assert_eq!(u64::from(p.mtu()), mtu),
                None => assert_eq!(p.mtu(), 1500),
            }
            assert!(p.mtu() >= 1);
            for (key, got) in [
                (Key::ReadMaxPackets, p.read_max_packets()),
                (Key::WriteMaxPackets, p.write_max_packets()),
            ] {
                match number(&dict, key) {
                    Some(n) => assert_eq!(got as u64, n),
                    None => assert_eq!(got, DEFAULT_MAX_PACKETS_PER_CALL),
                }
                assert!((1..=65_536).contains(&got), "{key} = {got}");
            }
            assert_eq!(
                p.mac_address(),
                string(&dict, Key::MacAddress).map(|s| s.parse::<MacAddr>().unwrap())
            );
            for (key, got) in [
                (Key::StartAddress, p.start_address()),
                (Key::EndAddress, p.end_address()),
                (Key::SubnetMask, p.subnet_mask()),
            ] {
                assert_eq!(got, string(&dict, key).map(|s| s.parse().unwrap()), "{key}");
            }
            let prefix = string(&dict, Key::Nat66Prefix)
                .map(|s| s.split_once('/').map_or(s, |(a, _)| a).parse().unwrap());
            assert_eq!(p.nat66_prefix(), prefix);
            let id = dict.get(Key::InterfaceId).map(|v| match v {
                Value::Uuid(id) => *id,
                other => panic!("interface id accepted as {other:?}"),
            });
            assert_eq!(p.interface_id(), id);
            // Parsing is deterministic.
            assert_eq!(Parameters::from_dictionary(&dict).unwrap(), p);
        }
        Err(Error::Parameters { key, problem }) => {
            assert!(
                dict.contains(key) || (key == Key::MaxPacketSize && problem == "is missing"),
                "{key} {problem}, but the dictionary does not hold it"
            );
            let message = Error::Parameters { key, problem }.to_string();
            assert!(message.contains(key.name()), "{message}");
        }
        Err(other) => panic!("undocumented error: {other:?}"),
    }
});
