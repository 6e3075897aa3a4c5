//! The listen map: where each Gateway listener port binds.
//!
//! In Kubernetes a Gateway's listener port is the port it binds. Local and unprivileged runs
//! (and the conformance runner) instead give a JSON file
//! `{"ns/gateway": {"80": "127.0.0.1:18080"}}`; ports it does not name bind `0.0.0.0:<port>`.

use std::{
    collections::{BTreeMap, HashMap},
    net::{IpAddr, SocketAddr},
    path::Path,
};

use crate::compile::GatewayStatusAddress;
use gateway_core::extensions::ResourceRef;

/// A listen map file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ListenMapError {
    /// The file could not be read.
    #[error("reading listen map {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a JSON object of objects of strings.
    #[error("parsing listen map {path}: {source}")]
    Json {
        /// The file.
        path: String,
        /// Why.
        source: serde_json::Error,
    },
    /// An entry is not a port mapped to an address.
    #[error("listen map {path}: entry {gateway}.{port}: {reason}")]
    Entry {
        /// The file.
        path: String,
        /// The `namespace/name` key.
        gateway: String,
        /// The port key as written.
        port: String,
        /// Why.
        reason: String,
    },
}

/// Per Gateway (`namespace/name`), per listener port, the address to bind.
#[derive(Clone, Debug, Default)]
pub struct ListenMap {
    gateways: HashMap<String, HashMap<u16, SocketAddr>>,
    /// IP used for ports the map does not name.
    default_ip: Option<IpAddr>,
}

impl ListenMap {
    /// Reads a listen map file.
    pub fn load(path: &Path) -> Result<Self, ListenMapError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ListenMapError::Read {
            path: shown.clone(),
            source,
        })?;
        let raw: HashMap<String, HashMap<String, String>> =
            serde_json::from_str(&text).map_err(|source| ListenMapError::Json {
                path: shown.clone(),
                source,
            })?;
        let mut gateways = HashMap::new();
        for (gateway, ports) in raw {
            let mut parsed = HashMap::new();
            for (port, addr) in ports {
                let entry = |reason: String| ListenMapError::Entry {
                    path: shown.clone(),
                    gateway: gateway.clone(),
                    port: port.clone(),
                    reason,
                };
                let number: u16 = port
                    .parse()
                    .map_err(|_| entry(format!("{port:?} is not a port number")))?;
                let addr: SocketAddr = addr
                    .parse()
                    .map_err(|_| entry(format!("{addr:?} is not an ip:port address")))?;
                parsed.insert(number, addr);
            }
            gateways.insert(gateway, parsed);
        }
        Ok(Self {
            gateways,
            default_ip: None,
        })
    }

    /// Maps the listener `port` of Gateway `gateway` (`namespace/name`) to `addr`.
    pub fn insert(mut self, gateway: &str, port: u16, addr: SocketAddr) -> Self {
        self.gateways
            .entry(gateway.to_owned())
            .or_default()
            .insert(port, addr);
        self
    }

    /// Binds ports the map does not name on `ip` instead of `0.0.0.0`.
    pub fn with_default_ip(mut self, ip: IpAddr) -> Self {
        self.default_ip = Some(ip);
        self
    }

    /// Where a listener of `gateway` on `port` binds.
    pub fn bind(&self, gateway: &ResourceRef, port: u16) -> SocketAddr {
        self.gateways
            .get(&format!("{}/{}", gateway.namespace, gateway.name))
            .and_then(|ports| ports.get(&port).copied())
            .unwrap_or_else(|| {
                SocketAddr::new(self.default_ip.unwrap_or(IpAddr::from([0, 0, 0, 0])), port)
            })
    }

    /// Status addresses per Gateway: the IPs its mapped listeners bind.
    pub fn status_addresses(&self) -> BTreeMap<String, Vec<GatewayStatusAddress>> {
        self.gateways
            .iter()
            .map(|(gateway, ports)| {
                let mut ips: Vec<String> = ports.values().map(|a| a.ip().to_string()).collect();
                ips.sort();
                ips.dedup();
                let addresses = ips
                    .into_iter()
                    .map(|value| GatewayStatusAddress {
                        type_: "IPAddress".into(),
                        value,
                    })
                    .collect();
                (gateway.clone(), addresses)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map.json");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn maps_listed_ports_and_defaults_the_rest() {
        let (_dir, path) = write(r#"{"ns/gw": {"80": "127.0.0.1:18080"}}"#);
        let map = ListenMap::load(&path).unwrap();
        let gw = ResourceRef::new("gateway.networking.k8s.io", "Gateway", "ns", "gw");
        assert_eq!(map.bind(&gw, 80), "127.0.0.1:18080".parse().unwrap());
        assert_eq!(map.bind(&gw, 443), "0.0.0.0:443".parse().unwrap());
        let local = map.with_default_ip(IpAddr::from([127, 0, 0, 1]));
        assert_eq!(local.bind(&gw, 443), "127.0.0.1:443".parse().unwrap());
        assert_eq!(local.status_addresses()["ns/gw"][0].value, "127.0.0.1");
    }

    #[test]
    fn bad_entries_name_the_gateway_and_port() {
        let (_dir, path) = write(r#"{"ns/gw": {"eighty": "127.0.0.1:1"}}"#);
        let err = ListenMap::load(&path).unwrap_err().to_string();
        assert!(err.contains("ns/gw") && err.contains("eighty"), "{err}");
        let (_dir, path) = write(r#"{"ns/gw": {"80": "localhost"}}"#);
        let err = ListenMap::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("ns/gw.80") && err.contains("localhost"),
            "{err}"
        );
    }
}
