//! What the client address layer trusts.

use ipnet::IpNet;
use serde::Serialize;

/// Which `X-Forwarded-For` entries are trusted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum XffTrust {
    /// This many proxies in front of the gateway (`xffNumTrustedHops`).
    Hops(u32),
    /// Peers in these ranges (`xffTrustedCIDRs`).
    Cidrs(Vec<IpNet>),
}

/// Client address policy; see the [module docs](super) for the table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientAddrConfig {
    /// Start from the peer address (`useRemoteAddress`) rather than from the last
    /// `X-Forwarded-For` entry.
    pub use_remote_address: bool,
    /// Which forwarded entries are trusted.
    pub trust: XffTrust,
    /// Whether the `X-Forwarded-For` sent upstream ends with the peer address.
    pub append_xff: bool,
    /// Whether the `X-Forwarded-For` this layer receives already ends with the peer
    /// address, appended by gateway-core's listener (`true` in the gateway; `false` for a
    /// stack whose server does not append).
    pub xff_has_peer: bool,
}

impl Default for ClientAddrConfig {
    /// kgateway's defaults behind gateway-core's listener: `useRemoteAddress: true`, no
    /// trusted hops, the peer appended.
    fn default() -> Self {
        Self {
            use_remote_address: true,
            trust: XffTrust::Hops(0),
            append_xff: true,
            xff_has_peer: true,
        }
    }
}
