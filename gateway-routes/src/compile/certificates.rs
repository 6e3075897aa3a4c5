//! `kubernetes.io/tls` Secrets into rustls certified keys.

use rustls::{crypto::ring, sign::CertifiedKey};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use std::sync::Arc;

use crate::api::Secret;

/// Parses the `tls.crt` chain and `tls.key` of a TLS Secret into a key rustls can serve.
pub(crate) fn certified_key(secret: &Secret) -> Result<Arc<CertifiedKey>, String> {
    let data = secret.data.as_ref();
    let field = |key: &str| {
        data.and_then(|d| d.get(key))
            .map(|bytes| bytes.0.as_slice())
            .ok_or_else(|| format!("data.{key} is missing"))
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(field("tls.crt")?)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("data.tls.crt is not PEM: {e}"))?;
    if chain.is_empty() {
        return Err("data.tls.crt holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(field("tls.key")?)
        .map_err(|e| format!("data.tls.key is not a PEM private key: {e}"))?;
    let signer = ring::sign::any_supported_type(&key)
        .map_err(|e| format!("data.tls.key is not a supported private key: {e}"))?;
    let certified = CertifiedKey::new(chain, signer);
    certified
        .keys_match()
        .map_err(|e| format!("data.tls.key does not match data.tls.crt: {e}"))?;
    Ok(Arc::new(certified))
}
