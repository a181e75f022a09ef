//! AlloyDB: `GET {alloydb_admin}/v1/{name}` answers the `Instance` resource.
//!
//! Direct connections listen on 5432, managed connection pooling on 6432. They are
//! encrypted, but no Google document or API field gives a CA to verify the server by
//! (the CA `generateClientCertificate` returns is for the connectors' port 5433), so the
//! result is `sslmode=require`.

use super::answer::AlloyDbInstance as Instance;
use super::{AdminClient, InstanceRequest, IpType, Resolution, ServerTls, address, available};
use crate::endpoints::AdminApi;
use crate::error::{Error, Result};

const DIRECT_PORT: u16 = 5432;
const POOLER_PORT: u16 = 6432;

pub(super) fn resolve(
    client: &AdminClient<'_>,
    request: &InstanceRequest<'_>,
) -> Result<Resolution> {
    let name = request.name;
    let api = AdminApi::AlloyDb;
    let answer = client.get(api, &format!("/v1/{name}"))?;
    if answer.status != 200 {
        return Err(client.refused(api, &answer, name));
    }
    let instance: Instance = answer.parse("the AlloyDB Admin API")?;
    decide(&instance, request)
}

fn decide(instance: &Instance, request: &InstanceRequest<'_>) -> Result<Resolution> {
    let name = request.name;
    if instance.name.as_deref().is_some_and(|n| n != name.as_str()) {
        return Err(Error::Source(format!(
            "the AlloyDB Admin API answered about another instance than {name}; nothing was written"
        )));
    }
    if instance
        .client_connection_config
        .as_ref()
        .is_some_and(|c| c.require_connectors)
    {
        return Err(Error::Config(format!(
            "instance {name} accepts only the AlloyDB Auth Proxy and the language connectors (its clientConnectionConfig.requireConnectors is true), so a direct login with a token would be refused; turn off \"require connectors\" on the instance, or connect through the Auth Proxy"
        )));
    }
    let psc = instance
        .psc_instance_config
        .as_ref()
        .and_then(|c| c.psc_dns_name.as_deref());
    let addresses = [
        (IpType::Private, instance.ip_address.as_deref(), "ipAddress"),
        (
            IpType::Public,
            instance.public_ip_address.as_deref(),
            "publicIpAddress",
        ),
        (IpType::Psc, psc, "pscInstanceConfig.pscDnsName"),
    ];
    let has: Vec<IpType> = addresses
        .iter()
        .filter(|(_, a, _)| a.is_some_and(|a| !a.is_empty()))
        .map(|(t, _, _)| *t)
        .collect();
    let Some((_, Some(text), field)) = addresses
        .iter()
        .find(|(t, a, _)| *t == request.ip_type && a.is_some_and(|a| !a.is_empty()))
    else {
        return Err(Error::Config(format!(
            "instance {name} has no {} address ({}{}); set ip_type accordingly",
            request.ip_type.as_str(),
            available(&has),
            instance
                .state
                .as_deref()
                .filter(|s| *s != "READY" && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
                .map(|s| format!(", and its state is {s}"))
                .unwrap_or_default()
        )));
    };
    let host = address(text, field, name, AdminApi::AlloyDb)?;
    let pooling = instance
        .connection_pool_config
        .as_ref()
        .is_some_and(|c| c.enabled);
    let port = match (request.pooled, pooling) {
        (false, _) => DIRECT_PORT,
        (true, true) => POOLER_PORT,
        (true, false) => {
            return Err(Error::Config(format!(
                "instance {name} has no managed connection pooling (connectionPoolConfig.enabled is not true), but the service sets pooled = true; enable pooling on the instance or set pooled = false"
            )));
        }
    };
    Ok(Resolution {
        host,
        port,
        tls: ServerTls::Unverified,
        notes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::InstanceName;

    const NAME: &str = "projects/p/locations/r/clusters/c/instances/i";

    fn decide_json(json: serde_json::Value, ip_type: IpType, pooled: bool) -> Result<Resolution> {
        let name = InstanceName::parse(NAME).unwrap_or_else(|e| panic!("{e}"));
        let instance: Instance = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
        decide(
            &instance,
            &InstanceRequest {
                name: &name,
                ip_type,
                pooled,
            },
        )
    }

    #[test]
    fn addresses_ports_and_refusals() {
        let full = serde_json::json!({
            "name": NAME, "state": "READY", "ipAddress": "10.0.0.5",
            "publicIpAddress": "34.1.2.3",
            "pscInstanceConfig": {"pscDnsName": "abc.r.alloydb-psc.goog."},
            "connectionPoolConfig": {"enabled": true},
        });
        let got = |t, pooled| decide_json(full.clone(), t, pooled).map(|r| (r.host, r.port));
        assert_eq!(got(IpType::Private, false), Ok(("10.0.0.5".into(), 5432)));
        assert_eq!(got(IpType::Public, true), Ok(("34.1.2.3".into(), 6432)));
        assert_eq!(
            got(IpType::Psc, false),
            Ok(("abc.r.alloydb-psc.goog".into(), 5432))
        );

        let private_only = serde_json::json!({"ipAddress": "10.0.0.5", "state": "READY"});
        let err = decide_json(private_only.clone(), IpType::Public, false)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("no public address (it has: private)"), "{err}");
        let err = decide_json(private_only, IpType::Private, true)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("pooled = false"), "{err}");
        let connectors = serde_json::json!({"ipAddress": "10.0.0.5",
            "clientConnectionConfig": {"requireConnectors": true}});
        let err = decide_json(connectors, IpType::Private, false)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("Auth Proxy"), "{err}");
        let other = serde_json::json!({"name": "projects/p/locations/r/clusters/c/instances/j", "ipAddress": "10.0.0.5"});
        assert!(decide_json(other, IpType::Private, false).is_err());
        let hostile = serde_json::json!({"ipAddress": "10.0.0.5\nhost=evil.example"});
        let err = decide_json(hostile, IpType::Private, false)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("unusable ipAddress") && !err.contains("evil"),
            "{err}"
        );
    }
}
