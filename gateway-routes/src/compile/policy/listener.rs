//! kgateway `ListenerPolicy` and its predecessor `HTTPListenerPolicy`: HTTP settings of a
//! Gateway's listeners.
//!
//! Both attach to Gateways only (`targetRefs`, `targetSelectors`). A ListenerPolicy's
//! `perPort[].listener` replaces its `default` for that port, whole. When several policies
//! cover one Gateway, ListenerPolicies rank before HTTPListenerPolicies and, within a kind,
//! the older one wins; the others are `Conflicted` on that Gateway. Fields we do not serve
//! make the policy `Invalid`, naming them.

use foldhash::HashMap;
use gateway_core::limits::ListenerLimits;
use gateway_filters::otel::TracingSpec;
use gateway_filters::{
    access_log::{self, AccessLogSpec},
    client_addr::ClientAddrSpec,
    health_check::HealthCheckSpec,
    request_id::RequestIdSpec,
    spec::{BackendRefSpec, GoDuration},
};
use http::Uri;
use serde::Deserialize;
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use super::status::{gateway_ref, policy_object_status, self_ref};
use super::{decode::decode_spec, targets::labels_match};
use crate::{
    api::{GATEWAY_GROUP, Gateway, HttpHeaderFilter, KgatewayKind, KgatewayResource},
    compile::{
        filters::header_modifier_config,
        refs::{BackendIndex, Referrer},
    },
    plan::ListenerHttpPlan,
};

/// `LocalPolicyTargetReference`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TargetRef {
    group: String,
    kind: String,
    name: String,
}

/// `LocalPolicyTargetSelector`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TargetSelector {
    group: String,
    kind: String,
    #[serde(default)]
    match_labels: BTreeMap<String, String>,
}

/// The attachment fields both kinds share.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Targets {
    #[serde(default)]
    target_refs: Vec<TargetRef>,
    #[serde(default)]
    target_selectors: Vec<TargetSelector>,
}

/// `ListenerPolicy.spec` without its targets.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListenerPolicyBody {
    default: Option<ListenerConfigSpec>,
    #[serde(default)]
    per_port: Vec<PortConfigSpec>,
}

/// `ListenerPortConfig`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PortConfigSpec {
    port: u16,
    listener: ListenerConfigSpec,
}

/// `ListenerConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListenerConfigSpec {
    http_settings: Option<HttpSettingsSpec>,
}

/// `HTTPSettings` (also the body of an HTTPListenerPolicy spec).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpSettingsSpec {
    #[serde(default)]
    access_log: Vec<AccessLogSpec>,
    use_remote_address: Option<bool>,
    xff_num_trusted_hops: Option<i32>,
    #[serde(rename = "xffTrustedCIDRs")]
    xff_trusted_cidrs: Option<Vec<String>>,
    #[serde(rename = "skipXFFAppend")]
    skip_xff_append: Option<bool>,
    generate_request_id: Option<bool>,
    preserve_external_request_id: Option<bool>,
    health_check: Option<HealthCheckSpec>,
    early_request_header_modifier: Option<HttpHeaderFilter>,
    stream_idle_timeout: Option<GoDuration>,
    idle_timeout: Option<GoDuration>,
    max_request_headers_kb: Option<i32>,
    tracing: Option<TracingSpec>,
    /// Our extension (Envoy's `common_http_protocol_options.max_headers_count`, which
    /// kgateway sets only per backend): most headers a request may carry.
    max_headers_count: Option<i32>,
}

/// One listener policy, decoded.
#[derive(Debug)]
struct Entry<'a> {
    resource: &'a KgatewayResource,
    /// `Ok(default, per port)` or why it is invalid.
    compiled: Result<CompiledListener, String>,
    /// Gateways it targets (`namespace`, `name`).
    gateways: BTreeSet<(String, String)>,
    /// Targets that do not exist.
    missing: Vec<String>,
}

/// Every listener policy, by Gateway.
#[derive(Debug, Default)]
pub(crate) struct ListenerPolicies<'a> {
    entries: Vec<Entry<'a>>,
    /// Gateway → policies in rank order.
    by_gateway: HashMap<(String, String), Vec<usize>>,
}

impl<'a> ListenerPolicies<'a> {
    /// Decodes every ListenerPolicy and HTTPListenerPolicy and resolves its targets.
    pub(crate) fn new(
        resources: &'a [KgatewayResource],
        gateways: &'a [Gateway],
        backends: &BackendIndex<'_>,
    ) -> Self {
        let mut entries: Vec<Entry<'a>> = resources
            .iter()
            .filter(|r| {
                matches!(
                    r.kind,
                    KgatewayKind::ListenerPolicy | KgatewayKind::HttpListenerPolicy
                )
            })
            .map(|resource| {
                let context = SettingsContext::new(resource, backends);
                let compiled = match resource.kind {
                    KgatewayKind::ListenerPolicy => {
                        compile_listener_policy(&resource.spec, &context)
                    }
                    _ => compile_http_listener_policy(&resource.spec, &context),
                };
                Entry {
                    resource,
                    compiled,
                    gateways: BTreeSet::new(),
                    missing: Vec::new(),
                }
            })
            .collect();
        entries.sort_by_key(|e| {
            (
                e.resource.kind != KgatewayKind::ListenerPolicy,
                super::super::route_order(&e.resource.metadata),
            )
        });
        let mut index = Self::default();
        for (i, entry) in entries.iter_mut().enumerate() {
            let namespace = entry
                .resource
                .metadata
                .namespace
                .as_deref()
                .unwrap_or_default();
            let targets: Targets =
                serde_json::from_value(entry.resource.spec.clone()).unwrap_or_default();
            for target in &targets.target_refs {
                let exists = target.group == GATEWAY_GROUP
                    && target.kind == "Gateway"
                    && gateways.iter().any(|g| {
                        g.metadata.namespace.as_deref() == Some(namespace)
                            && g.metadata.name.as_deref() == Some(target.name.as_str())
                    });
                if exists {
                    entry
                        .gateways
                        .insert((namespace.to_owned(), target.name.clone()));
                } else {
                    entry.missing.push(format!(
                        "{}/{} {namespace}/{} not found (listener policies attach to Gateways)",
                        target.group, target.kind, target.name
                    ));
                }
            }
            for selector in &targets.target_selectors {
                let before = entry.gateways.len();
                if selector.group == GATEWAY_GROUP && selector.kind == "Gateway" {
                    for g in gateways {
                        if g.metadata.namespace.as_deref() == Some(namespace)
                            && labels_match(&selector.match_labels, g.metadata.labels.as_ref())
                            && let Some(name) = g.metadata.name.clone()
                        {
                            entry.gateways.insert((namespace.to_owned(), name));
                        }
                    }
                }
                if entry.gateways.len() == before {
                    entry.missing.push(format!(
                        "no Gateway in namespace {namespace} matches targetSelectors labels {:?}",
                        selector.match_labels
                    ));
                }
            }
            if entry.compiled.is_ok() {
                for gateway in &entry.gateways {
                    index.by_gateway.entry(gateway.clone()).or_default().push(i);
                }
            }
        }
        index.entries = entries;
        index
    }

    /// The HTTP settings of a Gateway's listeners on `port`: the highest-ranked policy's
    /// per-port settings, else its default.
    pub(crate) fn for_port(
        &self,
        gateway: (&str, &str),
        port: u16,
    ) -> Option<Arc<ListenerHttpPlan>> {
        let ranked = self
            .by_gateway
            .get(&(gateway.0.to_owned(), gateway.1.to_owned()))?;
        let Ok((default, per_port)) = &self.entries[*ranked.first()?].compiled else {
            return None;
        };
        match per_port.get(&port) {
            Some(replacement) => replacement.clone(),
            None => default.clone(),
        }
    }

    /// The status of every listener policy; problems also go to `diagnostics`.
    pub(crate) fn statuses(
        &self,
        stamp: &crate::compile::status::StatusStamp,
        diagnostics: &mut crate::compile::Diagnostics,
    ) -> Vec<crate::compile::ObjectStatus> {
        use crate::api::ParentReference;
        self.entries
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                let resource = entry.resource.display_name();
                let c = stamp.conditions(&entry.resource.metadata);
                for missing in &entry.missing {
                    diagnostics.push(
                        &resource,
                        format!("spec.targetRefs: {missing} (TargetNotFound)"),
                    );
                }
                let ancestors: Vec<(ParentReference, Vec<crate::api::Condition>)> = match &entry
                    .compiled
                {
                    Err(message) => {
                        diagnostics.push(&resource, format!("{message} (Invalid)"));
                        let conditions =
                            vec![c.make("Accepted", false, "Invalid", message.clone())];
                        if entry.gateways.is_empty() {
                            vec![(self_ref(entry.resource), conditions)]
                        } else {
                            entry
                                .gateways
                                .iter()
                                .map(|g| (gateway_ref(&g.0, &g.1), conditions.clone()))
                                .collect()
                        }
                    }
                    Ok(_) if entry.gateways.is_empty() => {
                        let message = if entry.missing.is_empty() {
                            "the policy has no targetRefs or targetSelectors".to_owned()
                        } else {
                            entry.missing.join("; ")
                        };
                        vec![(
                            self_ref(entry.resource),
                            vec![c.make("Accepted", false, "TargetNotFound", message)],
                        )]
                    }
                    Ok(_) => entry
                        .gateways
                        .iter()
                        .map(|g| {
                            let winner = self.by_gateway.get(g).and_then(|r| r.first());
                            let conditions = match winner {
                                Some(w) if *w != i => {
                                    let message = format!(
                                        "{} already sets the listener settings of Gateway {}/{}",
                                        self.entries[*w].resource.display_name(),
                                        g.0,
                                        g.1
                                    );
                                    diagnostics.push(&resource, format!("{message} (Conflicted)"));
                                    vec![
                                        c.make("Accepted", false, "Conflicted", message.clone()),
                                        c.make("Attached", false, "Overridden", message),
                                    ]
                                }
                                _ => vec![
                                    c.make("Accepted", true, "Valid", entry.missing.join("; ")),
                                    c.make("Attached", true, "Attached", ""),
                                ],
                            };
                            (gateway_ref(&g.0, &g.1), conditions)
                        })
                        .collect(),
                };
                policy_object_status(entry.resource, ancestors, stamp)
            })
            .collect()
    }
}

/// A listener policy's default settings and its per-port replacements.
type CompiledListener = (
    Option<Arc<ListenerHttpPlan>>,
    BTreeMap<u16, Option<Arc<ListenerHttpPlan>>>,
);

/// Removes the attachment fields so the rest decodes strictly.
fn without_targets(spec: &serde_json::Value) -> serde_json::Value {
    let mut spec = spec.clone();
    if let Some(fields) = spec.as_object_mut() {
        fields.remove("targetRefs");
        fields.remove("targetSelectors");
    }
    spec
}

fn compile_listener_policy(
    spec: &serde_json::Value,
    context: &SettingsContext<'_, '_>,
) -> Result<CompiledListener, String> {
    let body: ListenerPolicyBody = decode_spec(&without_targets(spec))?;
    let settings = |config: &ListenerConfigSpec, field: &str| {
        config
            .http_settings
            .as_ref()
            .map(|s| http_settings(s, &format!("{field}.httpSettings"), context).map(Arc::new))
            .transpose()
    };
    let default = body
        .default
        .as_ref()
        .map(|d| settings(d, "spec.default"))
        .transpose()?
        .flatten();
    let mut per_port = BTreeMap::new();
    for (i, port) in body.per_port.iter().enumerate() {
        let field = format!("spec.perPort[{i}]");
        if port.port == 0 {
            return Err(format!("{field}.port: must be between 1 and 65535"));
        }
        // A per-port entry replaces the default whole, even when it sets nothing.
        let plan = settings(&port.listener, &format!("{field}.listener"))?;
        if per_port.insert(port.port, plan).is_some() {
            return Err(format!("{field}.port: {} is listed twice", port.port));
        }
    }
    Ok((default, per_port))
}

fn compile_http_listener_policy(
    spec: &serde_json::Value,
    context: &SettingsContext<'_, '_>,
) -> Result<CompiledListener, String> {
    let settings: HttpSettingsSpec = decode_spec(&without_targets(spec))?;
    Ok((
        Some(Arc::new(http_settings(&settings, "spec", context)?)),
        BTreeMap::new(),
    ))
}

/// What compiling `httpSettings` needs besides the spec: the policy's name, and how to
/// reach a tracing collector.
struct SettingsContext<'r, 'b> {
    resource: &'r KgatewayResource,
    backends: &'r BackendIndex<'b>,
    /// `Kind namespace/name`, for the plan's `source`.
    source: String,
}

impl<'r, 'b> SettingsContext<'r, 'b> {
    fn new(resource: &'r KgatewayResource, backends: &'r BackendIndex<'b>) -> Self {
        Self {
            resource,
            backends,
            source: resource.display_name(),
        }
    }

    fn namespace(&self) -> &str {
        self.resource
            .metadata
            .namespace
            .as_deref()
            .unwrap_or_default()
    }

    /// kgateway's default `serviceName`: `<gateway>.<namespace>` of the first Gateway the
    /// policy names (the policy's own name when it names none).
    fn default_service_name(&self) -> String {
        let targets: Targets =
            serde_json::from_value(self.resource.spec.clone()).unwrap_or_default();
        let gateway = targets
            .target_refs
            .first()
            .map(|t| t.name.clone())
            .or_else(|| self.resource.metadata.name.clone())
            .unwrap_or_default();
        format!("{gateway}.{}", self.namespace())
    }

    /// The collector a tracing `grpcService.backendRef` names: its first ready endpoint,
    /// else the Service's cluster name.
    fn collector(&self, reference: &BackendRefSpec) -> Result<Uri, String> {
        let backend = reference;
        let from = Referrer {
            group: crate::api::KGATEWAY_GROUP,
            kind: self.resource.kind.as_str(),
            namespace: self.namespace(),
        };
        let resolved = self
            .backends
            .resolve(from, backend)
            .map_err(|e| e.message)?;
        let target = match resolved.endpoints.first() {
            Some(addr) => format!("http://{addr}"),
            None => format!(
                "http://{}.{}.svc.cluster.local:{}",
                backend.name,
                backend.namespace.as_deref().unwrap_or(self.namespace()),
                backend.port.unwrap_or(4317)
            ),
        };
        target
            .parse()
            .map_err(|_| format!("{target:?} is not a collector address"))
    }
}

fn http_settings(
    spec: &HttpSettingsSpec,
    field: &str,
    context: &SettingsContext<'_, '_>,
) -> Result<ListenerHttpPlan, String> {
    let source = context.source.as_str();
    let within = |name: &str| {
        let path = if name.is_empty() {
            field.to_owned()
        } else {
            format!("{field}.{name}")
        };
        move |e: gateway_filters::spec::FieldError| e.within(&path).to_string()
    };
    let access_log = if spec.access_log.is_empty() {
        None
    } else {
        Some(access_log::compile(&spec.access_log).map_err(within("accessLog"))?)
    };
    let client_addr = ClientAddrSpec {
        use_remote_address: spec.use_remote_address,
        xff_num_trusted_hops: spec.xff_num_trusted_hops,
        xff_trusted_cidrs: spec.xff_trusted_cidrs.clone(),
        skip_xff_append: spec.skip_xff_append,
    }
    .compile()
    .map_err(within(""))?;
    let request_id = RequestIdSpec {
        generate_request_id: spec.generate_request_id,
        preserve_external_request_id: spec.preserve_external_request_id,
    }
    .compile()
    .map_err(within(""))?;
    let health_check = spec
        .health_check
        .as_ref()
        .map(|h| h.compile().map_err(within("healthCheck")))
        .transpose()?;
    let early_request_header_modifier = spec
        .early_request_header_modifier
        .as_ref()
        .map(|m| {
            header_modifier_config(m, &format!("{field}.earlyRequestHeaderModifier"))
                .map_err(|e| e.0)
        })
        .transpose()?;
    let positive = |value: Option<i32>, name: &str, unit: usize| {
        value
            .map(|v| {
                usize::try_from(v)
                    .ok()
                    .filter(|v| *v >= 1)
                    .and_then(|v| v.checked_mul(unit))
                    .ok_or_else(|| format!("{field}.{name}: {v} must be at least 1"))
            })
            .transpose()
    };
    let limits = ListenerLimits {
        idle_timeout: spec.idle_timeout.map(|d| d.0),
        max_request_header_bytes: positive(
            spec.max_request_headers_kb,
            "maxRequestHeadersKb",
            1024,
        )?,
        max_headers: positive(spec.max_headers_count, "maxHeadersCount", 1)?,
    };
    let tracing = spec
        .tracing
        .as_ref()
        .map(|tracing| {
            let otel = tracing.provider.open_telemetry.as_ref().ok_or_else(|| {
                format!("{field}.tracing.provider.openTelemetry: required (the only provider)")
            })?;
            let collector = context.collector(&otel.grpc_service.backend_ref).map_err(
                |reason| {
                    format!(
                        "{field}.tracing.provider.openTelemetry.grpcService.backendRef: {reason}"
                    )
                },
            )?;
            tracing
                .compile(collector, &context.default_service_name())
                .map(Arc::new)
                .map_err(within("tracing"))
        })
        .transpose()?;
    Ok(ListenerHttpPlan {
        source: source.to_owned(),
        limits,
        tracing,
        access_log,
        client_addr,
        request_id,
        health_check,
        early_request_header_modifier,
        stream_idle_timeout: spec
            .stream_idle_timeout
            .map(|d| d.0)
            .filter(|d| !d.is_zero()),
    })
}
