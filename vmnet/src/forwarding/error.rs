//! [`RuleError`]: what makes a port-forwarding rule unusable, found before vmnet is called.

use std::fmt;

/// A port-forwarding rule that cannot be used, wherever it is added (an interface, its
/// [`Control`](crate::Control), or a [`NetworkConfiguration`](crate::NetworkConfiguration)):
/// the one error family of rules, reported as [`Error::Rule`](crate::Error::Rule).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleError {
    /// A port of the rule is 0.
    ZeroPort {
        /// `"external"` or `"internal"`.
        which: &'static str,
    },
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroPort { which } => write!(
                f,
                "the {which} port of a port-forwarding rule is 0; use a port from 1 to 65535"
            ),
        }
    }
}

impl std::error::Error for RuleError {}
