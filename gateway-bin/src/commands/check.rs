//! `gateway check`: compile a directory and print every resource's status.

use std::process::ExitCode;

use gateway_routes::compile::{CompileOptions, StatusBody, compile};

use crate::cli::CheckArgs;

/// Loads and compiles the directory; prints statuses and problems. Exits non-zero when the
/// directory does not parse or any resource has a problem.
pub(crate) fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let loaded = match gateway_k8s::load_dir(&args.source.config_dir) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("{err}");
            return Ok(ExitCode::FAILURE);
        }
    };
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    let options = CompileOptions {
        controller_name: args.source.controller_name.clone(),
        ..CompileOptions::default()
    };
    let compiled = compile(&loaded.snapshot, &options);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&compiled.statuses)?);
    } else {
        for object in &compiled.statuses {
            let id = if object.namespace.is_empty() {
                format!("{} {}", object.kind, object.name)
            } else {
                format!("{} {}/{}", object.kind, object.namespace, object.name)
            };
            println!("{id}");
            print_conditions(&object.status);
        }
    }
    if compiled.diagnostics.is_empty() {
        eprintln!("ok: {} objects from {} files", loaded.objects, loaded.files);
        Ok(ExitCode::SUCCESS)
    } else {
        for diagnostic in &compiled.diagnostics {
            eprintln!("error: {diagnostic}");
        }
        Ok(ExitCode::FAILURE)
    }
}

fn print_conditions(status: &StatusBody) {
    let line = |prefix: &str, c: &gateway_routes::api::Condition| {
        let message = if c.message.is_empty() {
            String::new()
        } else {
            format!(": {}", c.message)
        };
        println!("  {prefix}{}={} ({}){message}", c.type_, c.status, c.reason);
    };
    match status {
        StatusBody::Conditions { conditions } => conditions.iter().for_each(|c| line("", c)),
        StatusBody::Gateway(gateway) => {
            gateway.conditions.iter().for_each(|c| line("", c));
            for listener in &gateway.listeners {
                println!(
                    "  listener {} (attachedRoutes {})",
                    listener.name, listener.attached_routes
                );
                listener.conditions.iter().for_each(|c| line("  ", c));
            }
        }
        StatusBody::Route(route) => {
            for parent in &route.parents {
                let ns = parent
                    .parent_ref
                    .namespace
                    .as_deref()
                    .map(|n| format!("{n}/"))
                    .unwrap_or_default();
                let section = parent
                    .parent_ref
                    .section_name
                    .as_deref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default();
                println!("  parent {ns}{}{section}", parent.parent_ref.name);
                parent.conditions.iter().for_each(|c| line("  ", c));
            }
        }
        StatusBody::Policy(policy) => {
            for ancestor in &policy.ancestors {
                let reference = &ancestor.ancestor_ref;
                let ns = reference
                    .namespace
                    .as_deref()
                    .map(|n| format!("{n}/"))
                    .unwrap_or_default();
                let kind = reference.kind.as_deref().unwrap_or("Gateway");
                println!("  ancestor {kind} {ns}{}", reference.name);
                ancestor.conditions.iter().for_each(|c| line("  ", c));
            }
        }
    }
}
