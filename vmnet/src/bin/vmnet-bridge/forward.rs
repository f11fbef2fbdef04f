//! `--forward`: port-forwarding rules written `PROTO:HOST_PORT:ADDRESS:PORT`, checked before
//! the interface starts and added to it once it runs.

use std::net::SocketAddr;

use vmnet::{Capabilities, Control, Feature, IpFamily, Mode, PortForwardingRule, Protocol};

use crate::output::log;

/// The form of a rule, for messages.
const FORM: &str = "PROTO:HOST_PORT:ADDRESS:PORT with PROTO tcp or udp, such as \
                    tcp:8080:192.168.64.5:22 or udp:5353:[fd00::5]:53";

/// Parses one `--forward` value.
///
/// # Errors
/// A message naming the expected form, for anything else.
pub(crate) fn parse(text: &str) -> Result<PortForwardingRule, String> {
    let bad = |what: &str| format!("{what}: expected {FORM}");
    let (protocol, rest) = text.split_once(':').ok_or_else(|| bad("no protocol"))?;
    let protocol = match protocol.to_ascii_lowercase().as_str() {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        other => return Err(bad(&format!("unknown protocol {other:?}"))),
    };
    let (port, internal) = rest.split_once(':').ok_or_else(|| bad("no host port"))?;
    let external_port = port
        .parse::<u16>()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| bad(&format!("host port {port:?} is not a port from 1 to 65535")))?;
    let internal: SocketAddr = internal.parse().map_err(|_| {
        bad(&format!(
            "{internal:?} is not a guest address and port (IPv6 in brackets)"
        ))
    })?;
    if internal.port() == 0 {
        return Err(bad("guest port 0"));
    }
    Ok(PortForwardingRule::new(protocol, external_port, internal))
}

/// Checks the rules together, before anything starts: forwarding is for shared mode, IPv6
/// rules need a system that has them (`caps`), and vmnet keeps one rule per protocol, host
/// port and address family.
///
/// # Errors
/// A one-line message naming the rule at fault.
pub(crate) fn check(
    rules: &[PortForwardingRule],
    mode: Mode,
    caps: Capabilities,
) -> Result<(), String> {
    if !rules.is_empty() && mode != Mode::Shared {
        return Err(format!(
            "--forward needs --mode shared: vmnet forwards host ports into a shared-mode \
             network only (this is {mode} mode)"
        ));
    }
    let v6 = Feature::IpPortForwarding;
    if let Some(rule) = rules
        .iter()
        .find(|r| r.family() == IpFamily::V6 && !caps.has(v6))
    {
        return Err(format!(
            "--forward {}: forwarding to an IPv6 guest address needs {} (vmnet's {}); this \
             system forwards to IPv4 addresses only",
            spec(rule),
            v6.since(),
            v6.name()
        ));
    }
    for (i, rule) in rules.iter().enumerate() {
        if let Some(earlier) = rules[..i].iter().find(|r| r.key() == rule.key()) {
            return Err(format!(
                "--forward {} and --forward {} use the same protocol, host port and address \
                 family ({}): vmnet keeps one rule for each; remove one",
                spec(earlier),
                spec(rule),
                rule.key()
            ));
        }
    }
    Ok(())
}

/// Adds `rules` to the running interface and returns the rules it then reports.
///
/// # Errors
/// The first rule vmnet refuses, or a failed listing.
pub(crate) fn add(
    control: &Control,
    rules: &[PortForwardingRule],
) -> Result<Vec<PortForwardingRule>, String> {
    for rule in rules {
        control
            .add_port_forwarding_rule(rule)
            .map_err(|e| format!("adding --forward {}: {}", spec(rule), e.report()))?;
        log(&format!("forwarding {rule}"));
    }
    control
        .port_forwarding_rules()
        .map_err(|e| format!("listing the forwarding rules: {}", e.report()))
}

/// A rule as `--forward` writes it.
pub(crate) fn spec(rule: &PortForwardingRule) -> String {
    format!("{}:{}:{}", rule.protocol, rule.external_port, rule.internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_with_both_families_and_print_back() {
        for text in ["tcp:8080:192.168.64.5:22", "udp:5353:[fd00::5]:53"] {
            let rule = parse(text).unwrap();
            assert_eq!(spec(&rule), text);
        }
        let rule = parse("TCP:2222:[fd00::5]:22").unwrap();
        assert_eq!(rule.protocol, Protocol::Tcp);
        assert_eq!(rule.external_port, 2222);
        assert_eq!(rule.internal, "[fd00::5]:22".parse().unwrap());
    }

    #[test]
    fn bad_rules_name_the_form() {
        for text in [
            "",
            "tcp",
            "sctp:1:10.0.0.1:2",
            "tcp:0:192.168.64.5:22",
            "tcp:70000:192.168.64.5:22",
            "tcp:8080:192.168.64.5",
            "tcp:8080:fd00::5:22",
            "tcp:8080:192.168.64.5:0",
        ] {
            let e = parse(text).unwrap_err();
            assert!(
                e.contains("expected PROTO:HOST_PORT:ADDRESS:PORT"),
                "{text}: {e}"
            );
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn rules_need_shared_mode_ipv6_support_and_distinct_keys() {
        let a = parse("tcp:8080:192.168.64.5:22").unwrap();
        let b = parse("tcp:8080:192.168.64.6:80").unwrap();
        let v6 = parse("tcp:8080:[fd00::5]:22").unwrap();
        let all = Capabilities::ALL;
        assert_eq!(check(&[a, v6], Mode::Shared, all), Ok(()));
        let e = check(&[a], Mode::Host, all).unwrap_err();
        assert!(e.contains("--mode shared"), "{e}");
        assert_eq!(check(&[], Mode::Host, all), Ok(()));
        let e = check(&[a, v6, b], Mode::Shared, all).unwrap_err();
        assert!(
            e.contains("tcp:8080:192.168.64.5:22") && e.contains("tcp:8080:192.168.64.6:80"),
            "{e}"
        );
        let old = Capabilities::BASELINE;
        assert_eq!(check(&[a], Mode::Shared, old), Ok(()));
        let e = check(&[a, v6], Mode::Shared, old).unwrap_err();
        assert!(
            e.starts_with("--forward tcp:8080:[fd00::5]:22: forwarding to an IPv6"),
            "{e}"
        );
        assert!(e.contains("macOS 12.0"), "{e}");
    }
}
