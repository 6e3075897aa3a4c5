//! kgateway `GatewayExtension`: the external services (ext-authz, ext-proc, rate limit)
//! and the JWT providers that TrafficPolicies name by `extensionRef`, compiled once per
//! snapshot with their `backendRef` resolved to endpoints.
//!
//! An extension that does not compile (a bad field, a backend that does not resolve) gets
//! `Accepted=False` naming the field; a policy that names it is then `Invalid`, with a
//! message that points at the extension, so a broken reference never goes unnoticed.

use foldhash::HashMap;
use gateway_filters::{
    ext_authz::{ExtAuthProvider, ExtAuthProviderSpec},
    ext_proc::{ExtProcConfig, ExtProcProviderSpec, GrpcServer},
    global_rate_limit::{RateLimitProvider, RateLimitProviderSpec},
    jwt::{JwtConfig, JwtReferences, JwtSpec},
    spec::{BackendRefSpec, NamespacedObjectReferenceSpec},
};
use http::{Uri, uri::Authority};
use serde::Deserialize;
use std::{net::SocketAddr, sync::Arc};

use super::{decode::decode_spec, status::conditions_status};
use crate::{
    api::{BackendObjectReference, ConfigMap, KGATEWAY_GROUP, KgatewayKind, KgatewayResource},
    compile::{
        Diagnostics, ObjectStatus,
        refs::{BackendIndex, Referrer, reference_allowed},
        status::StatusStamp,
    },
};

/// `GatewayExtension.spec` as far as this gateway implements it (`oauth2` is absent on
/// purpose: the decoder reports it).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GatewayExtensionSpec {
    /// Deprecated in kgateway and without effect; read so that it is not reported.
    #[serde(rename = "type")]
    _type: Option<String>,
    ext_auth: Option<ExtAuthProviderSpec>,
    ext_proc: Option<ExtProcProviderSpec>,
    rate_limit: Option<RateLimitProviderSpec>,
    jwt: Option<JwtSpec>,
}

/// What a GatewayExtension provides, ready for the layers.
#[derive(Debug)]
pub(crate) enum Extension {
    /// An authorization server.
    ExtAuth {
        /// The validated provider.
        provider: ExtAuthProvider,
        /// Where its server listens.
        endpoints: Arc<[SocketAddr]>,
    },
    /// An external processor.
    ExtProc(ExtProcConfig),
    /// A rate limit service.
    RateLimit {
        /// The validated provider.
        provider: RateLimitProvider,
        /// Where the service listens.
        endpoints: Arc<[SocketAddr]>,
    },
    /// JWT providers. Shared (`Arc`) so that every rule using them shares one layer and
    /// its key fetches.
    Jwt(Arc<JwtConfig>),
}

impl Extension {
    /// The `spec` field that holds this kind of extension.
    const fn field(&self) -> &'static str {
        match self {
            Self::ExtAuth { .. } => "extAuth",
            Self::ExtProc(_) => "extProc",
            Self::RateLimit { .. } => "rateLimit",
            Self::Jwt(_) => "jwt",
        }
    }
}

/// One GatewayExtension and what it compiled to.
#[derive(Debug)]
struct Entry<'a> {
    resource: &'a KgatewayResource,
    compiled: Result<Arc<Extension>, String>,
}

/// Every GatewayExtension of the snapshot, by namespace and name.
#[derive(Debug, Default)]
pub(crate) struct GatewayExtensions<'a> {
    entries: HashMap<(&'a str, &'a str), Entry<'a>>,
}

impl<'a> GatewayExtensions<'a> {
    /// Compiles every GatewayExtension, resolving backends with `backends` and JWKS
    /// ConfigMaps from `config_maps`.
    pub(crate) fn new(
        resources: &'a [KgatewayResource],
        backends: &BackendIndex<'_>,
        config_maps: &[ConfigMap],
    ) -> Self {
        let entries = resources
            .iter()
            .filter(|r| r.kind == KgatewayKind::GatewayExtension)
            .filter_map(|resource| {
                let namespace = resource.metadata.namespace.as_deref()?;
                let name = resource.metadata.name.as_deref()?;
                let compiled = compile_extension(resource, namespace, backends, config_maps);
                Some(((namespace, name), Entry { resource, compiled }))
            })
            .collect();
        Self { entries }
    }

    /// What `pick` takes from the extension a policy in `policy_namespace` names by
    /// `reference`, when the extension is of the kind `wanted` (`extAuth`, `extProc`,
    /// `rateLimit`, `jwt`) that `pick` accepts; the error says why not.
    pub(crate) fn resolve<T>(
        &self,
        policy_namespace: &str,
        reference: &NamespacedObjectReferenceSpec,
        grants: &[crate::api::ReferenceGrant],
        wanted: &str,
        pick: impl FnOnce(&Extension) -> Option<T>,
    ) -> Result<T, String> {
        let name = reference.name.as_str();
        let namespace = reference.namespace_or(policy_namespace);
        let from = Referrer {
            group: KGATEWAY_GROUP,
            kind: KgatewayKind::TrafficPolicy.as_str(),
            namespace: policy_namespace,
        };
        if !reference_allowed(
            grants,
            from,
            KGATEWAY_GROUP,
            KgatewayKind::GatewayExtension.as_str(),
            namespace,
            name,
        ) {
            return Err(format!(
                "GatewayExtension {namespace}/{name} is in another namespace and no \
                 ReferenceGrant allows the reference"
            ));
        }
        let entry = self
            .entries
            .get(&(namespace, name))
            .ok_or_else(|| format!("GatewayExtension {namespace}/{name} not found"))?;
        let extension = entry
            .compiled
            .as_ref()
            .map_err(|e| format!("GatewayExtension {namespace}/{name} is not valid: {e}"))?;
        pick(extension).ok_or_else(|| {
            format!(
                "GatewayExtension {namespace}/{name} provides {}, not {wanted}",
                extension.field()
            )
        })
    }

    /// `Accepted` for each GatewayExtension, or why not; problems also go to
    /// `diagnostics`.
    pub(crate) fn statuses(
        &self,
        stamp: &StatusStamp,
        diagnostics: &mut Diagnostics,
    ) -> Vec<ObjectStatus> {
        let mut entries: Vec<&Entry<'_>> = self.entries.values().collect();
        entries.sort_by_key(|e| (&e.resource.metadata.namespace, &e.resource.metadata.name));
        entries
            .into_iter()
            .map(|entry| {
                let c = stamp.conditions(&entry.resource.metadata);
                let condition = match &entry.compiled {
                    Ok(_) => c.make("Accepted", true, "Accepted", ""),
                    Err(message) => {
                        diagnostics.push(
                            &entry.resource.display_name(),
                            format!("{message} (Invalid)"),
                        );
                        c.make("Accepted", false, "Invalid", message.clone())
                    }
                };
                conditions_status(entry.resource, vec![condition])
            })
            .collect()
    }
}

/// Decodes and resolves one GatewayExtension; the error names the field.
fn compile_extension(
    resource: &KgatewayResource,
    namespace: &str,
    backends: &BackendIndex<'_>,
    config_maps: &[ConfigMap],
) -> Result<Arc<Extension>, String> {
    let spec: GatewayExtensionSpec = decode_spec(&resource.spec)?;
    let from = Referrer {
        group: KGATEWAY_GROUP,
        kind: KgatewayKind::GatewayExtension.as_str(),
        namespace,
    };
    let set = [
        spec.ext_auth.is_some(),
        spec.ext_proc.is_some(),
        spec.rate_limit.is_some(),
        spec.jwt.is_some(),
    ];
    if set.iter().filter(|s| **s).count() != 1 {
        return Err("spec: exactly one of extAuth, extProc, rateLimit and jwt must be set".into());
    }
    let endpoints = |reference: &BackendObjectReference, field: &str| {
        backends
            .resolve(from, reference)
            .map(|resolved| resolved.endpoints.clone())
            .map_err(|e| format!("{field}: {}", e.message))
    };
    let extension = if let Some(ext_auth) = &spec.ext_auth {
        let provider = ext_auth
            .compile()
            .map_err(|e| e.within("spec.extAuth").to_string())?;
        let (reference, field) = match (&ext_auth.grpc_service, &ext_auth.http_service) {
            (Some(grpc), _) => (
                grpc.backend_ref.as_ref(),
                "spec.extAuth.grpcService.backendRef",
            ),
            (None, http) => (
                http.as_ref().and_then(|h| h.backend_ref.as_ref()),
                "spec.extAuth.httpService.backendRef",
            ),
        };
        let reference = reference.ok_or_else(|| format!("{field}: required"))?;
        Extension::ExtAuth {
            provider,
            endpoints: endpoints(reference, field)?,
        }
    } else if let Some(ext_proc) = &spec.ext_proc {
        let field = "spec.extProc.grpcService.backendRef";
        let reference = ext_proc
            .grpc_service
            .as_ref()
            .and_then(|g| g.backend_ref.as_ref())
            .ok_or_else(|| format!("{field}: required"))?;
        let server = match GrpcServer::from_addrs(endpoints(reference, field)?.iter().copied()) {
            Some(server) => server,
            // No ready endpoint: call the Service by its cluster name, so the processor is
            // reached once it is up (and `failOpen` decides until then).
            None => GrpcServer::new(cluster_uri(reference, namespace)?),
        };
        Extension::ExtProc(
            ext_proc
                .compile(server)
                .map_err(|e| e.within("spec.extProc").to_string())?,
        )
    } else if let Some(rate_limit) = &spec.rate_limit {
        let provider = rate_limit
            .compile()
            .map_err(|e| e.within("spec.rateLimit").to_string())?;
        let field = "spec.rateLimit.grpcService.backendRef";
        let reference = rate_limit
            .grpc_service
            .backend_ref
            .as_ref()
            .ok_or_else(|| format!("{field}: required"))?;
        Extension::RateLimit {
            provider,
            endpoints: endpoints(reference, field)?,
        }
    } else if let Some(jwt) = &spec.jwt {
        let references = ClusterReferences {
            namespace,
            config_maps,
            backends,
            from,
        };
        Extension::Jwt(Arc::new(
            jwt.compile(&references)
                .map_err(|e| e.within("spec.jwt").to_string())?,
        ))
    } else {
        return Err("spec: exactly one of extAuth, extProc, rateLimit and jwt must be set".into());
    };
    Ok(Arc::new(extension))
}

/// `http://<name>.<namespace>.svc.cluster.local:<port>`: the Service by its cluster DNS
/// name.
fn cluster_uri(reference: &BackendObjectReference, namespace: &str) -> Result<Uri, String> {
    let namespace = reference.namespace.as_deref().unwrap_or(namespace);
    let port = reference.port.unwrap_or(80);
    format!(
        "http://{}.{namespace}.svc.cluster.local:{port}",
        reference.name
    )
    .parse()
    .map_err(|_| format!("backendRef: {:?} is not a Service name", reference.name))
}

/// How a JWT provider's references resolve in the snapshot: ConfigMaps in the
/// extension's namespace, and a remote JWKS backend to its first ready endpoint.
struct ClusterReferences<'a, 'b> {
    namespace: &'a str,
    config_maps: &'a [ConfigMap],
    backends: &'a BackendIndex<'b>,
    from: Referrer<'a>,
}

impl JwtReferences for ClusterReferences<'_, '_> {
    fn config_map_jwks(&self, name: &str) -> Result<String, String> {
        let config_map = self
            .config_maps
            .iter()
            .find(|c| {
                c.metadata.namespace.as_deref() == Some(self.namespace)
                    && c.metadata.name.as_deref() == Some(name)
            })
            .ok_or_else(|| format!("ConfigMap {}/{name} not found", self.namespace))?;
        config_map
            .data
            .as_ref()
            .and_then(|data| data.get("jwks"))
            .cloned()
            .ok_or_else(|| format!("ConfigMap {}/{name} has no `jwks` key", self.namespace))
    }

    fn jwks_backend(&self, reference: &BackendRefSpec) -> Result<Option<Authority>, String> {
        let resolved = self
            .backends
            .resolve(self.from, reference)
            .map_err(|e| e.message)?;
        match resolved.endpoints.first() {
            Some(addr) => addr
                .to_string()
                .parse()
                .map(Some)
                .map_err(|_| format!("{addr} is not an authority")),
            None => cluster_uri(reference, self.namespace).map(|uri| uri.authority().cloned()),
        }
    }
}
