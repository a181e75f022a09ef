//! `discover`: the instances a credential can see, each with the `add` command that
//! configures it. Reads no file but the configuration's `[endpoints]` (when there is a
//! configuration) and writes nothing.

use std::io::Write;
use std::path::Path;

use google_tokens::{
    AdminClient, CredentialSpec, Endpoints, IpType, ListedInstance, Listing, SourceSpec,
};
use serde_json::json;

use super::add::Source;
use crate::cli::DiscoverArgs;
use crate::config;
use crate::error::{Error, Result};
use crate::exit_codes::ExitCode;

/// The token stays in memory for this run: nothing to remember.
struct NoMemory;

impl google_tokens::PrincipalMemory for NoMemory {
    fn recall(&self, _: &str) -> Option<String> {
        None
    }
    fn remember(&self, _: &str, _: &str) {}
}

/// One project's answers.
struct Found {
    project: String,
    instances: Vec<ListedInstance>,
    /// The products whose listing failed (reported on stderr): their instances are missing.
    unlisted: Vec<&'static str>,
    /// The products whose Admin API is not enabled on the project: it has none.
    disabled: Vec<&'static str>,
}

pub fn run(explicit: Option<&Path>, args: &DiscoverArgs) -> Result<ExitCode> {
    // Checked before anything is read or a token minted; each project is listed once.
    let mut named: Vec<String> = Vec::new();
    for project in &args.projects {
        if !google_tokens::is_project_id(project) {
            return Err(Error::Config(format!(
                "--project {project:?} is not a project ID: lower-case letters, digits and hyphens (optionally after a domain and a colon), as `gcloud projects list` shows them"
            )));
        }
        if !named.contains(project) {
            named.push(project.clone());
        }
    }
    let endpoints = endpoints(explicit)?;
    let spec = credential(args)?;
    let ctx = google_tokens::Context::new(&endpoints, &NoMemory);
    let projects = if named.is_empty() {
        match google_tokens::default_project(&ctx)? {
            Some((project, from)) => {
                log::info!("listing project {project} (from {from})");
                vec![project]
            }
            None => {
                return Err(Error::Config(
                    "no project given and none configured: pass --project PROJECT, or set one with `gcloud config set project PROJECT`".into(),
                ));
            }
        }
    } else {
        named
    };
    let client = AdminClient::new(&spec, &ctx)?;
    let mut found = Vec::new();
    let mut failed = false;
    for project in &projects {
        let (mut instances, mut unlisted, mut disabled) = (Vec::new(), Vec::new(), Vec::new());
        for (product, listing) in [
            ("AlloyDB", client.list_alloydb(project)),
            ("Cloud SQL", client.list_cloud_sql(project)),
        ] {
            match listing {
                Ok(listing) => {
                    report_gaps(product, project, &listing);
                    if listing.api_disabled {
                        disabled.push(product);
                    }
                    instances.extend(listing.instances);
                }
                Err(err) => {
                    failed = true;
                    unlisted.push(product);
                    crate::logging::error(&format!("{product}, project {project}: {err}"));
                }
            }
        }
        found.push(Found {
            project: project.clone(),
            instances,
            unlisted,
            disabled,
        });
    }
    let text = if args.json {
        render_json(&found)
    } else {
        render_text(&found)
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| Error::Runtime(format!("cannot write to stdout: {e}")))?;
    Ok(if failed {
        ExitCode::RuntimeFailure
    } else {
        ExitCode::Success
    })
}

/// The configuration's `[endpoints]`, or Google's when there is no configuration.
fn endpoints(explicit: Option<&Path>) -> Result<Endpoints> {
    let path = config::locate(explicit)?;
    if !path.exists() {
        return Ok(Endpoints::default());
    }
    Ok(config::load(&path)?.endpoints)
}

fn credential(args: &DiscoverArgs) -> Result<CredentialSpec> {
    let source = match args.credentials.as_deref().map(Source::parse).transpose()? {
        None | Some(Source::Named("adc")) => SourceSpec::Adc,
        Some(Source::Named("metadata")) => SourceSpec::Metadata,
        Some(Source::Named(_)) => SourceSpec::Gcloud,
        Some(Source::KeyFile(path)) => SourceSpec::KeyFile(path),
    };
    Ok(CredentialSpec {
        source,
        impersonate: args.impersonate.clone(),
        delegates: Vec::new(),
        scopes: vec![google_tokens::CLOUD_PLATFORM_SCOPE.to_string()],
    })
}

fn report_gaps(product: &str, project: &str, listing: &Listing) {
    if listing.api_disabled {
        log::info!(
            "{product}, project {project}: its Admin API is not enabled there, so the project has no {product} instances"
        );
    }
    if !listing.unreachable.is_empty() {
        log::warn!(
            "{product}, project {project}: these locations could not be listed, so their instances are missing: {}",
            listing.unreachable.join(", ")
        );
    }
    if listing.dropped > 0 {
        log::warn!(
            "{product}, project {project}: {} instance(s) left out because the answer about them was unusable",
            listing.dropped
        );
    }
}

/// The address type `add` should use: private, else Private Service Connect, else public.
fn preferred(instance: &ListedInstance) -> Option<IpType> {
    [IpType::Private, IpType::Psc, IpType::Public]
        .into_iter()
        .find(|t| instance.addresses.iter().any(|(k, _)| k == t))
}

/// The `add` command that configures `instance` as a service named after it.
fn add_command(instance: &ListedInstance) -> String {
    let text = instance.name.as_str();
    let id = text.rsplit(['/', ':']).next().unwrap_or(text);
    let mut command = format!("alloydb-cred add {id} --instance {text}");
    if let Some(t) = preferred(instance).filter(|t| *t != IpType::Private) {
        command.push_str(&format!(" --ip-type {}", t.as_str()));
    }
    command
}

fn render_text(found: &[Found]) -> String {
    let mut out = String::new();
    for project in found {
        let disabled: Vec<String> = project
            .disabled
            .iter()
            .map(|p| format!("the {p} Admin API is not enabled there: no {p} instances"))
            .collect();
        // Never "no instances" for a product that could not be listed: its instances
        // are unknown, not absent.
        let unlisted = (!project.unlisted.is_empty()).then(|| {
            format!(
                "{} could not be listed (see the errors above)",
                project.unlisted.join(" and ")
            )
        });
        if project.instances.is_empty() {
            let none: Vec<&str> = ["AlloyDB", "Cloud SQL"]
                .into_iter()
                .filter(|p| !project.unlisted.contains(p) && !project.disabled.contains(p))
                .map(|p| {
                    if p == "Cloud SQL" {
                        "Cloud SQL for PostgreSQL"
                    } else {
                        p
                    }
                })
                .collect();
            let mut parts: Vec<String> = unlisted.into_iter().collect();
            if !none.is_empty() {
                parts.push(format!("no {} instances", none.join(" or ")));
            }
            parts.extend(disabled);
            out.push_str(&format!(
                "project {}: {}\n",
                project.project,
                parts.join("; ")
            ));
            continue;
        }
        out.push_str(&format!("project {}:\n", project.project));
        for line in unlisted.iter().chain(&disabled) {
            out.push_str(&format!("  ({line})\n"));
        }
        for instance in &project.instances {
            let what: Vec<&str> = [Some(instance.kind.as_str())]
                .into_iter()
                .chain([instance.detail.as_deref(), instance.state.as_deref()])
                .flatten()
                .collect();
            out.push_str(&format!(
                "  {} ({})\n",
                instance.name.as_str(),
                what.join(", ")
            ));
            let addresses: Vec<String> = instance
                .addresses
                .iter()
                .map(|(t, a)| format!("{} {a}", t.as_str()))
                .collect();
            out.push_str(&format!(
                "    addresses: {}\n",
                if addresses.is_empty() {
                    "none yet".to_string()
                } else {
                    addresses.join(", ")
                }
            ));
            out.push_str(&format!(
                "    IAM login: {}; connectors only: {}\n",
                if instance.iam_authentication {
                    "on"
                } else {
                    "off (switch its iam_authentication flag on first)"
                },
                if instance.connectors_only {
                    "yes (a direct login is refused)"
                } else {
                    "no"
                }
            ));
            out.push_str(&format!("    add: {}\n", add_command(instance)));
        }
    }
    out
}

fn render_json(found: &[Found]) -> String {
    let items: Vec<serde_json::Value> = found
        .iter()
        .flat_map(|project| {
            project.instances.iter().map(|instance| {
                let addresses: serde_json::Map<String, serde_json::Value> = instance
                    .addresses
                    .iter()
                    .map(|(t, a)| (t.as_str().to_string(), a.as_str().into()))
                    .collect();
                json!({
                    "instance": instance.name.as_str(),
                    "kind": instance.kind.as_str(),
                    "project": project.project,
                    "type": instance.detail,
                    "state": instance.state,
                    "addresses": addresses,
                    "iam_authentication": instance.iam_authentication,
                    "connectors_only": instance.connectors_only,
                    "add": add_command(instance),
                })
            })
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&items).unwrap_or_default();
    text.push('\n');
    text
}
