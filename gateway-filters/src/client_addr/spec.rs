//! kgateway's client address fields of `HTTPSettings`.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{ClientAddrConfig, XffTrust};
use crate::spec::FieldError;

/// The client address fields of kgateway's `httpSettings`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientAddrSpec {
    /// Whether the peer address is the starting point (default `true`); with `false`,
    /// `X-Forwarded-For` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_remote_address: Option<bool>,
    /// How many proxies in front of the gateway append trustworthy `X-Forwarded-For`
    /// entries (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xff_num_trusted_hops: Option<i32>,
    /// Peer ranges whose last `X-Forwarded-For` entry is trusted (only with
    /// `useRemoteAddress: false`, instead of `xffNumTrustedHops`).
    #[serde(
        default,
        rename = "xffTrustedCIDRs",
        skip_serializing_if = "Option::is_none"
    )]
    pub xff_trusted_cidrs: Option<Vec<String>>,
    /// Whether to leave the peer out of the `X-Forwarded-For` sent upstream (default:
    /// `false` with `useRemoteAddress`, `true` without).
    #[serde(
        default,
        rename = "skipXFFAppend",
        skip_serializing_if = "Option::is_none"
    )]
    pub skip_xff_append: Option<bool>,
}

impl ClientAddrSpec {
    /// Validates the combination as kgateway's CRD does and fills in its defaults.
    pub fn compile(&self) -> Result<ClientAddrConfig, FieldError> {
        let use_remote_address = self.use_remote_address.unwrap_or(true);
        let trust = match (&self.xff_trusted_cidrs, self.xff_num_trusted_hops) {
            (Some(_), Some(_)) => {
                return Err(FieldError::new(
                    "xffTrustedCIDRs",
                    "only one of xffNumTrustedHops and xffTrustedCIDRs may be set",
                ));
            }
            (Some(_), None) if use_remote_address => {
                return Err(FieldError::new(
                    "xffTrustedCIDRs",
                    "useRemoteAddress must be set to false if xffTrustedCIDRs is set",
                ));
            }
            (Some(cidrs), None) => XffTrust::Cidrs(parse_cidrs(cidrs)?),
            (None, hops) => {
                let hops = hops.unwrap_or(0);
                XffTrust::Hops(u32::try_from(hops).map_err(|_| {
                    FieldError::new("xffNumTrustedHops", format!("{hops} is below 0"))
                })?)
            }
        };
        Ok(ClientAddrConfig {
            use_remote_address,
            trust,
            append_xff: !self.skip_xff_append.unwrap_or(!use_remote_address),
            xff_has_peer: true,
        })
    }
}

/// Parses CIDRs as Go's `net.ParseCIDR` does (host bits may be set; they are ignored).
fn parse_cidrs(cidrs: &[String]) -> Result<Vec<IpNet>, FieldError> {
    if cidrs.is_empty() {
        return Err(FieldError::new(
            "xffTrustedCIDRs",
            "must list at least one CIDR",
        ));
    }
    cidrs
        .iter()
        .enumerate()
        .map(|(i, cidr)| {
            cidr.parse::<IpNet>().map(|net| net.trunc()).map_err(|_| {
                FieldError::new(
                    format!("xffTrustedCIDRs[{i}]"),
                    format!("{cidr:?} is not a CIDR (e.g. 10.0.0.0/8)"),
                )
            })
        })
        .collect()
}
