//! `--connect`: exactly one real login per service, by psql, through the written files
//! alone, and no retry: AlloyDB counts failed sign-ins against a per-minute quota. The
//! server tells the client little ("authentication failed"); its log says why, in one of
//! four messages. A refusal is mapped to one of them where the server's words or what
//! the other checks found allow.

use std::process::Command;
use std::time::Duration;

use google_tokens::{ADC_LOGIN_ADVICE, ALLOYDB_LOGIN_SCOPE, CLOUD_PLATFORM_SCOPE};
use libpq_files::pgpass::ManagedEntry;

use super::files::WrittenToken;
use super::{Check, service_table};
use crate::config::{Config, Service};
use google_tokens::process::{RunError, run_bounded};

const NAME: &str = "login";
/// How long the whole psql run may take; libpq's own connect timeout is set lower.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What the other checks found, to explain a refusal.
pub struct Evidence<'a> {
    pub entry: Option<&'a ManagedEntry>,
    pub section: bool,
    pub reachable: bool,
    pub written: Option<&'a WrittenToken>,
    /// The database user the credential logs in as, when known.
    pub user: Option<&'a str>,
}

/// The four reasons AlloyDB logs for a refused IAM login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    InvalidCredentials,
    MissingPermission,
    PrincipalMismatch,
    InsufficientScopes,
}

impl Cause {
    const ALL: [Cause; 4] = [
        Cause::InvalidCredentials,
        Cause::MissingPermission,
        Cause::PrincipalMismatch,
        Cause::InsufficientScopes,
    ];

    /// The message AlloyDB writes to its log.
    fn logged(self) -> &'static str {
        match self {
            Cause::InvalidCredentials => "Request had invalid authentication credentials.",
            Cause::MissingPermission => "Caller does not have required permission to use project.",
            Cause::PrincipalMismatch => "IAM principal does not match database user.",
            Cause::InsufficientScopes => "Request had insufficient scopes.",
        }
    }
}

/// Logs in once, or says why not.
pub fn check(service: &Service, config: &Config, evidence: &Evidence<'_>) -> Check {
    let name = service.name.as_str();
    if evidence.entry.is_none() || !evidence.section {
        return Check::warning(
            NAME,
            "not tried: the entry or the section it needs is missing (see above)",
            format!("alloydb-cred refresh --service {name}, then run doctor --connect again"),
        );
    }
    if !evidence.reachable {
        return Check::warning(
            NAME,
            "not tried: no PostgreSQL server answers there (see the network checks above)",
            "fix the network problem above first",
        );
    }
    let run = run_bounded(
        Command::new("psql")
            .args(["-X", "-w", "-A", "-t", "-q", "-c", "select current_user"])
            .env("PGSERVICE", name)
            .env("PGSERVICEFILE", &config.service_file)
            .env("PGPASSFILE", &config.pgpass)
            .env("PGCONNECT_TIMEOUT", "10")
            // Only the files may supply the password and the address.
            .env_remove("PGPASSWORD")
            .env_remove("PGHOSTADDR"),
        LOGIN_TIMEOUT,
    );
    let out = match run {
        Ok(out) => out,
        Err(RunError::Spawn(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Check::problem(
                NAME,
                "--connect logs in with psql, which is not on PATH",
                "install PostgreSQL's client programs (Debian and Ubuntu: apt-get install postgresql-client)",
            );
        }
        Err(e) => {
            return Check::problem(
                NAME,
                format!(
                    "psql could not be run: {}",
                    match e {
                        RunError::Spawn(e) | RunError::Wait(e) => e.to_string(),
                        RunError::TimedOut =>
                            format!("it did not finish within {} s", LOGIN_TIMEOUT.as_secs()),
                        RunError::OutputHeldOpen =>
                            "a program it started held its output open".to_string(),
                    }
                ),
                "run `PGSERVICE=NAME psql` yourself to see what happens",
            );
        }
    };
    if out.success() {
        let user = String::from_utf8_lossy(&out.stdout).trim().to_string();
        return Check::ok(
            NAME,
            format!(
                "psql logged in as {user:?} with {} and {} alone (one attempt)",
                config.service_file.display(),
                config.pgpass.display()
            ),
        );
    }
    explain(
        &String::from_utf8_lossy(&out.stderr),
        service,
        config,
        evidence,
    )
}

/// The server's (or libpq's) words in psql's error, without psql's own prefix.
fn server_text(stderr: &str) -> String {
    let text: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| l.strip_prefix("psql: error: ").unwrap_or(l))
        .collect();
    text.join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Turns a failed login into a diagnosis: the server's text, the cause where it can be
/// told, and the fix.
fn explain(stderr: &str, service: &Service, config: &Config, evidence: &Evidence<'_>) -> Check {
    let said = server_text(stderr);
    let name = service.name.as_str();
    let refresh = format!("alloydb-cred refresh --force --service {name}");
    let lower = said.to_ascii_lowercase();
    let user = evidence
        .entry
        .map(|e| e.user.as_str())
        .or(evidence.user)
        .unwrap_or("USER");

    // The server's own words name the cause.
    if let Some(cause) = Cause::ALL
        .into_iter()
        .find(|c| said.contains(c.logged().trim_end_matches('.')))
    {
        return cause_check(cause, &said, "the server says so", service, config, user);
    }
    if lower.contains("authentication failed") {
        let (cause, why) = match evidence.written {
            Some(WrittenToken::Rejected) => (
                Some(Cause::InvalidCredentials),
                "tokeninfo rejects the token in the password file",
            ),
            Some(WrittenToken::Live(info))
                if !info
                    .scopes
                    .iter()
                    .any(|s| s == ALLOYDB_LOGIN_SCOPE || s == CLOUD_PLATFORM_SCOPE) =>
            {
                (
                    Some(Cause::InsufficientScopes),
                    "the token in the password file has neither alloydb.login nor cloud-platform",
                )
            }
            Some(WrittenToken::Live(info))
                if info.email.as_ref().is_some_and(|e| {
                    google_tokens::database_user(e).ok().as_deref() != Some(user)
                }) =>
            {
                (
                    Some(Cause::PrincipalMismatch),
                    "tokeninfo names another principal than the database user",
                )
            }
            _ => (None, ""),
        };
        if let Some(cause) = cause {
            return cause_check(cause, &said, why, service, config, user);
        }
        return Check::problem(
            NAME,
            format!(
                "the server refused the login ({said}); the token in the password file is live and has the right scope, so the instance's log says either \"{}\" (the principal lacks the database-user role) or \"{}\" (the token's principal is not {user:?})",
                Cause::MissingPermission.logged(),
                Cause::PrincipalMismatch.logged()
            ),
            format!(
                "{}; and check credentials.principal above",
                grant_command(user)
            ),
        );
    }
    if let Some(role) = missing_role(&said) {
        return Check::problem(
            NAME,
            format!(
                "the token was accepted, but the database has no user {role:?} ({said}): an IAM principal gets a database user only when one is created for it"
            ),
            format!(
                "gcloud alloydb users create {role} --cluster=CLUSTER --region=REGION --type=IAM_BASED"
            ),
        );
    }
    if [
        "server closed the connection unexpectedly",
        "connection reset",
        "connection refused",
        "ssl syscall",
        "eof detected",
    ]
    .iter()
    .any(|t| lower.contains(t))
    {
        return Check::problem(
            NAME,
            format!(
                "the server refused or reset the connection ({said}): the instance may accept connections only through the AlloyDB Auth Proxy and connectors (requireConnectors), or only over SSL"
            ),
            format!(
                "if the instance requires connectors, connect through the AlloyDB Auth Proxy (alloydb-auth-proxy --auto-iam-authn …) or a connector; otherwise set sslmode = \"require\" in {}",
                service_table(service, config)
            ),
        );
    }
    if lower.contains("no pg_hba.conf entry")
        || lower.contains("ssl off")
        || lower.contains("no encryption")
    {
        return Check::problem(
            NAME,
            format!("the server accepts this connection only over SSL ({said})"),
            format!(
                "set sslmode = \"require\" in {}",
                service_table(service, config)
            ),
        );
    }
    if lower.contains("definition of service") {
        return Check::problem(
            NAME,
            format!("libpq did not find the service ({said})"),
            format!("alloydb-cred refresh --service {name}, and see service_file.location"),
        );
    }
    if lower.contains("no password supplied") {
        return Check::problem(
            NAME,
            format!("libpq found no password for this connection ({said})"),
            format!("{refresh}, and see pgpass.file and pgpass.first_match"),
        );
    }
    if lower.contains("timeout expired") {
        return Check::problem(
            NAME,
            format!("the connection timed out ({said})"),
            "see network.tcp: the instance may be reachable only from its VPC network",
        );
    }
    Check::problem(
        NAME,
        format!("the login failed: {said}"),
        "the instance's log says why; see the checks above",
    )
}

/// A check for a known cause.
fn cause_check(
    cause: Cause,
    said: &str,
    why: &str,
    service: &Service,
    config: &Config,
    user: &str,
) -> Check {
    let name = service.name.as_str();
    let refresh = format!("alloydb-cred refresh --force --service {name}");
    let (meaning, fix) = match cause {
        Cause::InvalidCredentials => ("the token is expired, revoked or malformed", refresh),
        Cause::MissingPermission => (
            "the principal lacks the role that allows logging in",
            grant_command(user),
        ),
        Cause::PrincipalMismatch => (
            "the token belongs to another principal than the database user",
            format!("{refresh}, and see credentials.principal"),
        ),
        Cause::InsufficientScopes => (
            "the token has neither the alloydb.login nor the cloud-platform scope",
            format!(
                "for a user's login {ADC_LOGIN_ADVICE}, otherwise fix `scopes` in {}; then {refresh}",
                service_table(service, config)
            ),
        ),
    };
    Check::problem(
        NAME,
        format!(
            "the server refused the login ({said}): \"{}\" ({why}): {meaning}",
            cause.logged()
        ),
        fix,
    )
}

/// The grant a principal needs to log in, for the database user it logs in as.
fn grant_command(user: &str) -> String {
    let member = match user.strip_suffix(".iam") {
        Some(_) => format!("serviceAccount:{user}.gserviceaccount.com"),
        None if user.ends_with(".gserviceaccount") => format!("serviceAccount:{user}.com"),
        None => format!("user:{user}"),
    };
    format!(
        "gcloud projects add-iam-policy-binding PROJECT --member={member} --role=roles/alloydb.databaseUser (and roles/serviceusage.serviceUsageConsumer)"
    )
}

/// The role named in PostgreSQL's `role "x" does not exist`.
fn missing_role(said: &str) -> Option<&str> {
    let start = said.find("role \"")? + "role \"".len();
    let rest = &said[start..];
    let end = rest.find("\" does not exist")?;
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psql_prefixes_are_dropped() {
        let stderr = "psql: error: connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  LDAP authentication failed for user \"kai\"\n";
        assert_eq!(
            server_text(stderr),
            "connection to server at \"127.0.0.1\", port 5432 failed: FATAL: LDAP authentication failed for user \"kai\""
        );
    }

    #[test]
    fn members_for_the_grant() {
        assert!(
            grant_command("app@proj.iam")
                .contains("--member=serviceAccount:app@proj.iam.gserviceaccount.com")
        );
        assert!(grant_command("kai@altostrat.com").contains("--member=user:kai@altostrat.com"));
    }

    fn explained(stderr: &str, written: Option<&WrittenToken>) -> Check {
        let svc = crate::refresh::tests::service(crate::config::UserSpec::Auto);
        let evidence = Evidence {
            entry: None,
            section: true,
            reachable: true,
            written,
            user: Some("app@proj.iam"),
        };
        explain(stderr, &svc, &crate::doctor::tests::config(), &evidence)
    }

    fn info(scopes: &[&str], email: Option<&str>) -> WrittenToken {
        WrittenToken::Live(google_tokens::TokenInfo {
            expires_at: jiff::Timestamp::now(),
            email: email.and_then(|e| google_tokens::Principal::new(e).ok()),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn refusals_map_to_alloydbs_four_causes() {
        let failed = "psql: error: connection to server at \"10.1.2.3\", port 5432 failed: FATAL:  password authentication failed for user \"app@proj.iam\"";
        // The server's own words win.
        for cause in Cause::ALL {
            let check = explained(&format!("psql: error: FATAL: {}", cause.logged()), None);
            assert!(
                check
                    .message
                    .contains(&format!("\"{}\" (the server says so)", cause.logged())),
                "{check:?}"
            );
        }
        // Otherwise what the other checks found about the written token.
        let check = explained(failed, Some(&WrittenToken::Rejected));
        assert!(
            check
                .message
                .contains("Request had invalid authentication credentials.")
        );
        assert_eq!(
            check.fix.as_deref(),
            Some("alloydb-cred refresh --force --service prod")
        );
        let check = explained(failed, Some(&info(&["openid"], None)));
        assert!(
            check.message.contains("Request had insufficient scopes."),
            "{check:?}"
        );
        let check = explained(
            failed,
            Some(&info(
                &[ALLOYDB_LOGIN_SCOPE],
                Some("other@proj.iam.gserviceaccount.com"),
            )),
        );
        assert!(
            check
                .message
                .contains("IAM principal does not match database user."),
            "{check:?}"
        );
        // A live, well-scoped token of the right principal: one of two causes, both named.
        let check = explained(
            failed,
            Some(&info(
                &[ALLOYDB_LOGIN_SCOPE],
                Some("app@proj.iam.gserviceaccount.com"),
            )),
        );
        assert!(
            check
                .message
                .contains("Caller does not have required permission to use project.")
                && check
                    .message
                    .contains("IAM principal does not match database user."),
            "{check:?}"
        );
        assert!(check.fix.is_some_and(|f| f.contains(
            "--member=serviceAccount:app@proj.iam.gserviceaccount.com --role=roles/alloydb.databaseUser"
        )));
    }

    #[test]
    fn resets_and_ssl_refusals_explain_connectors_and_ssl() {
        let check = explained(
            "psql: error: connection to server at \"10.1.2.3\", port 5432 failed: server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\n",
            None,
        );
        assert!(
            check.message.contains("connectors") && check.message.contains("SSL"),
            "{check:?}"
        );
        assert!(
            check
                .fix
                .is_some_and(|f| f.contains("Auth Proxy") && f.contains("sslmode = \"require\""))
        );
        let check = explained(
            "psql: error: FATAL:  no pg_hba.conf entry for host \"1.2.3.4\", user \"u\", database \"d\", no encryption",
            None,
        );
        assert!(check.message.contains("only over SSL"), "{check:?}");
    }

    #[test]
    fn missing_roles_are_named() {
        assert_eq!(
            missing_role("failed: FATAL: role \"kai@altostrat.com\" does not exist"),
            Some("kai@altostrat.com")
        );
        assert_eq!(missing_role("FATAL: database \"x\" does not exist"), None);
    }
}
