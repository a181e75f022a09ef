//! The credential: where it is found, whether it gives a token now, what that token may
//! do (its scopes, by tokeninfo) and whom it speaks for (the principal, and the database
//! user that principal logs in as).

use google_tokens::{
    ADC_LOGIN_ADVICE, ALLOYDB_LOGIN_SCOPE, AdcOrigin, Breadth, CLOUD_PLATFORM_SCOPE, Context,
    CredentialSpec, MintedToken, Principal, SourceSpec, TokenInfo, TokenInfoError, Universe,
};

use super::{Check, service_table, time_left};
use crate::clock;
use crate::config::{Config, Service, UserSpec};

/// The scope Cloud SQL's IAM login takes; AlloyDB does not.
const SQLSERVICE_LOGIN_SCOPE: &str = "https://www.googleapis.com/auth/sqlservice.login";

/// What one credential gave, asked once and shared by every service using it.
pub struct Credential {
    source: String,
    pub minted: Result<MintedToken, google_tokens::Error>,
    /// tokeninfo about the fresh token, when one was minted.
    info: Option<Result<TokenInfo, TokenInfoError>>,
    /// Where the credential's Google endpoints are (tokeninfo for the written token too).
    pub universe: Universe,
    spec: CredentialSpec,
    /// Whether the source exists at all: false when building it failed, or minting found
    /// nothing to mint from (no file, no ADC anywhere).
    found: bool,
}

impl Credential {
    /// Builds the source, mints one token (kept in memory only) and asks tokeninfo about it.
    pub fn examine(spec: &CredentialSpec, ctx: &Context<'_>) -> Credential {
        let source = describe_source(spec);
        let (minted, universe, built) = match google_tokens::build(spec, ctx) {
            Ok(built) => (built.mint(), built.universe().clone(), true),
            Err(e) => (Err(e), Universe::DEFAULT, false),
        };
        let found = built
            && minted.as_ref().err().is_none_or(|e| {
                !e.needs_user()
                    && !e
                        .to_string()
                        .starts_with("no Application Default Credentials")
            });
        let info = minted
            .as_ref()
            .ok()
            .map(|token| google_tokens::tokeninfo(ctx, token.secret(), &universe));
        Credential {
            source,
            minted,
            info,
            universe,
            spec: spec.clone(),
            found,
        }
    }

    /// The credential's checks for `service`. Returns the database user the credential
    /// logs in as, when that is known and acceptable.
    pub fn checks(
        &self,
        service: &Service,
        config: &Config,
        out: &mut Vec<Check>,
    ) -> Option<String> {
        let token = match &self.minted {
            Ok(token) => token,
            Err(e) => {
                let (message, fix) = diagnose(&e.to_string(), &self.spec, service, config);
                if self.found {
                    out.push(Check::ok("credentials.source", self.source.clone()));
                    out.push(Check::problem("credentials.token", message, fix));
                } else {
                    // A source that is not there is the one problem, not an `ok` source
                    // followed by a token that could not be minted.
                    out.push(Check::problem(
                        "credentials.source",
                        format!("{}: {message}", self.source),
                        fix,
                    ));
                }
                return None;
            }
        };
        out.push(Check::ok("credentials.source", self.source.clone()));
        out.push(Check::ok(
            "credentials.token",
            format!(
                "a fresh token was minted (kept in memory, not written): valid until {} ({} left), {}",
                token.expires_at().round(jiff::Unit::Second).unwrap_or(token.expires_at()),
                time_left(token.expires_at(), clock::now()),
                match token.breadth() {
                    Breadth::LoginOnly => "login-only",
                    Breadth::Broad => "broad (it can act on Google Cloud APIs, not only log in)",
                    Breadth::Unknown => "of unknown breadth",
                }
            ),
        ));
        out.push(self.scopes_check(service, config, token));
        self.principal_check(service, config, token, out)
    }

    fn scopes_check(&self, service: &Service, config: &Config, token: &MintedToken) -> Check {
        const NAME: &str = "credentials.scopes";
        if let Some(Err(TokenInfoError::Rejected(why))) = &self.info {
            return Check::problem(
                NAME,
                format!(
                    "tokeninfo rejects the token just minted ({why}), so whatever scopes the issuer names, AlloyDB would refuse it: \"Request had invalid authentication credentials.\""
                ),
                match &self.spec.source {
                    SourceSpec::Command { .. } => {
                        "make the token command print a Google access token (ya29.…) of the principal it names"
                    }
                    _ => {
                        "check that the `token` and `tokeninfo` endpoints in the [endpoints] table are Google's (or remove them)"
                    }
                },
            );
        }
        let (scopes, said_by) = match &self.info {
            Some(Ok(info)) => (Some(info.scopes.as_slice()), "tokeninfo"),
            _ => (token.scopes(), "the issuer"),
        };
        let unasked = match &self.info {
            Some(Err(e)) => format!(" (tokeninfo could not be asked: {e})"),
            _ => String::new(),
        };
        let Some(scopes) = scopes else {
            return Check::warning(
                NAME,
                format!(
                    "neither the source nor tokeninfo says which scopes the token carries{unasked}; AlloyDB needs alloydb.login or cloud-platform"
                ),
                "make sure tokeninfo is reachable (`tokeninfo` in the [endpoints] table), or have the token command print \"scope\"",
            );
        };
        let has = |scope: &str| scopes.iter().any(|s| s == scope);
        if has(ALLOYDB_LOGIN_SCOPE) || has(CLOUD_PLATFORM_SCOPE) {
            let which = if has(ALLOYDB_LOGIN_SCOPE) {
                "alloydb.login"
            } else {
                "cloud-platform"
            };
            return Check::ok(
                NAME,
                format!(
                    "{said_by}: the token carries {which}, which AlloyDB's IAM login takes{unasked}"
                ),
            );
        }
        let listed = if scopes.is_empty() {
            "none".to_string()
        } else {
            scopes.join(" ")
        };
        if has(SQLSERVICE_LOGIN_SCOPE) {
            return Check::warning(
                NAME,
                format!(
                    "{said_by}: the token carries sqlservice.login, which Cloud SQL takes but AlloyDB refuses (\"Request had insufficient scopes.\")"
                ),
                format!(
                    "for AlloyDB set scopes = [\"{ALLOYDB_LOGIN_SCOPE}\"] in {}",
                    service_table(service, config)
                ),
            );
        }
        let configured_right = self
            .spec
            .scopes
            .iter()
            .any(|s| s == ALLOYDB_LOGIN_SCOPE || s == CLOUD_PLATFORM_SCOPE);
        let fix = if !configured_right {
            format!(
                "set scopes = [\"{ALLOYDB_LOGIN_SCOPE}\"] in {} (or remove `scopes` for that default)",
                service_table(service, config)
            )
        } else {
            match &self.spec.source {
                SourceSpec::Command { .. } => format!(
                    "make the token command ask for the scope {ALLOYDB_LOGIN_SCOPE} (it ignores the configured scopes)"
                ),
                SourceSpec::Metadata => "give the machine's service account the cloud-platform access scope (gcloud compute instances set-service-account … --scopes=cloud-platform)".to_string(),
                _ => ADC_LOGIN_ADVICE.to_string(),
            }
        };
        Check::problem(
            NAME,
            format!(
                "{said_by}: the token carries neither alloydb.login nor cloud-platform (its scopes: {listed}); AlloyDB would refuse it: \"Request had insufficient scopes.\""
            ),
            fix,
        )
    }

    fn principal_check(
        &self,
        service: &Service,
        config: &Config,
        token: &MintedToken,
        out: &mut Vec<Check>,
    ) -> Option<String> {
        const NAME: &str = "credentials.principal";
        let email = match &self.info {
            Some(Ok(info)) => info.email.as_ref(),
            _ => None,
        };
        if let (Some(claimed), Some(email)) = (token.principal(), email) {
            if claimed != email {
                out.push(Check::problem(
                    NAME,
                    format!(
                        "the source says the token is {claimed}'s, but tokeninfo says it is {email}'s; AlloyDB goes by the token and would answer \"IAM principal does not match database user.\""
                    ),
                    match &self.spec.source {
                        SourceSpec::Command { .. } => {
                            "make the token command print the principal its token really belongs to"
                        }
                        _ => "recreate the credential (log in again, or download a new key)",
                    },
                ));
                return None;
            }
        }
        let principal: Option<&Principal> = token.principal().or(email);
        let derived = principal.map(|p| (p, google_tokens::database_user(p)));
        let (check, user) = match (&service.user, derived) {
            (_, Some((_, Err(e)))) => (
                Check::problem(
                    NAME,
                    e.to_string(),
                    "log in with a principal whose e-mail address is shorter (for a service account: a shorter account name)",
                ),
                None,
            ),
            (UserSpec::Named(user), Some((p, Ok(derived)))) if user.as_str() != derived => (
                Check::problem(
                    NAME,
                    format!(
                        "IAM principal does not match database user: the token is {p}'s, which logs in as {derived:?}, but the service sets user = {:?}; AlloyDB would refuse the login",
                        user.as_str()
                    ),
                    format!(
                        "set user = \"auto\" (or user = {derived:?}) in {}, or use credentials of {}",
                        service_table(service, config),
                        user.as_str()
                    ),
                ),
                None,
            ),
            (_, Some((p, Ok(derived)))) => (
                Check::ok(
                    NAME,
                    format!("the token is {p}'s, which logs in as database user {derived:?}"),
                ),
                Some(derived),
            ),
            (UserSpec::Named(user), None) => (
                Check::ok(
                    NAME,
                    format!(
                        "neither the source nor tokeninfo names the token's principal; it logs in as the configured user {:?}, and AlloyDB checks that the token is that user's",
                        user.as_str()
                    ),
                ),
                Some(user.to_string()),
            ),
            (UserSpec::Auto, None) => (
                Check::problem(
                    NAME,
                    "user = \"auto\", but neither the source nor tokeninfo names the token's principal, so the database user is unknown",
                    format!(
                        "set user = \"…\" (the database user of this credential) in {}",
                        service_table(service, config)
                    ),
                ),
                None,
            ),
        };
        out.push(check);
        user
    }
}

/// Where the credential comes from, in one phrase.
fn describe_source(spec: &CredentialSpec) -> String {
    let base = match &spec.source {
        SourceSpec::Adc => format!("adc: {}", AdcOrigin::find().describe()),
        SourceSpec::Metadata => format!(
            "metadata: the metadata server at {}",
            google_tokens::metadata_host()
        ),
        SourceSpec::Gcloud => {
            "gcloud: the gcloud CLI's own login (gcloud config config-helper)".to_string()
        }
        other => other.to_string(),
    };
    match &spec.impersonate {
        Some(target) if spec.delegates.is_empty() => {
            format!("{base}; then impersonating {target}")
        }
        Some(target) => format!(
            "{base}; then impersonating {target} through {}",
            spec.delegates.join(", ")
        ),
        None => base,
    }
}

/// Splits a minting error into what went wrong and what fixes it. The token sources'
/// errors already end in a remedy ("…; run X"); the well-known failures get the exact
/// command.
fn diagnose(
    text: &str,
    spec: &CredentialSpec,
    service: &Service,
    config: &Config,
) -> (String, String) {
    const GRANT: &str = "gcloud iam service-accounts add-iam-policy-binding";
    if let Some(at) = text.find(GRANT) {
        let command = text[at..]
            .split(", and likewise")
            .next()
            .unwrap_or(&text[at..]);
        let chain = if text[at..].contains(", and likewise") {
            " (and each delegate on the next, along the chain)"
        } else {
            ""
        };
        let what = text[..at].trim_end_matches([' ', ':', ';']);
        let what = what
            .rsplit_once("; ")
            .map_or(what, |(head, _)| head)
            .to_string();
        return (
            format!("{what}: impersonation needs the Service Account Token Creator role{chain}"),
            command.trim().to_string(),
        );
    }
    if text.contains("not granted the AlloyDB login scope")
        || (text.contains("invalid_scope") && wants_alloydb(spec))
    {
        return (
            format!(
                "{}; its tokens would lack the alloydb.login scope and AlloyDB would answer \"Request had insufficient scopes.\" (or accept scopes = [\"{CLOUD_PLATFORM_SCOPE}\"], a broad token, in {})",
                head(text),
                service_table(service, config)
            ),
            ADC_LOGIN_ADVICE.to_string(),
        );
    }
    if text.contains("invalid_grant")
        || text.contains("problem refreshing your current auth tokens")
    {
        let relogin = match &spec.source {
            SourceSpec::Gcloud => "gcloud auth login".to_string(),
            SourceSpec::KeyFile(path) => format!(
                "the key was deleted or disabled: create a new one with `gcloud iam service-accounts keys create {} --iam-account=SERVICE_ACCOUNT`",
                path.display()
            ),
            _ => ADC_LOGIN_ADVICE.to_string(),
        };
        return (
            format!(
                "the credentials were revoked or have expired; {}",
                head(text)
            ),
            relogin,
        );
    }
    if text.contains("no Application Default Credentials") {
        return (head(text).to_string(), ADC_LOGIN_ADVICE.to_string());
    }
    match text.rsplit_once("; ") {
        Some((what, fix)) => (what.to_string(), fix.to_string()),
        None => (
            text.to_string(),
            format!("check `credentials` in {}", service_table(service, config)),
        ),
    }
}

/// What went wrong, without the remedy a source error ends in.
fn head(text: &str) -> &str {
    text.rsplit_once("; ").map_or(text, |(what, _)| what)
}

fn wants_alloydb(spec: &CredentialSpec) -> bool {
    spec.scopes.iter().any(|s| s == ALLOYDB_LOGIN_SCOPE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::tests::config;
    use crate::refresh::tests::service;

    fn spec(source: SourceSpec) -> CredentialSpec {
        CredentialSpec {
            source,
            impersonate: None,
            delegates: vec![],
            scopes: vec![ALLOYDB_LOGIN_SCOPE.to_string()],
        }
    }

    #[test]
    fn known_failures_get_their_command() {
        let svc = service(UserSpec::Auto);
        let cfg = config();
        let grant = "impersonating t@p.iam.gserviceaccount.com failed (HTTP 403 PERMISSION_DENIED: Permission 'iam.serviceAccounts.getAccessToken' denied); a@p.iam.gserviceaccount.com may not impersonate t@p.iam.gserviceaccount.com; grant it the Service Account Token Creator role: gcloud iam service-accounts add-iam-policy-binding t@p.iam.gserviceaccount.com --member=serviceAccount:a@p.iam.gserviceaccount.com --role=roles/iam.serviceAccountTokenCreator";
        let (what, fix) = diagnose(grant, &spec(SourceSpec::Adc), &svc, &cfg);
        assert!(what.starts_with("impersonating t@p"), "{what}");
        assert!(what.ends_with("Token Creator role"), "{what}");
        assert_eq!(
            fix,
            "gcloud iam service-accounts add-iam-policy-binding t@p.iam.gserviceaccount.com --member=serviceAccount:a@p.iam.gserviceaccount.com --role=roles/iam.serviceAccountTokenCreator"
        );

        let revoked = "the token endpoint refused the user credentials in /a.json (HTTP 400 invalid_grant: Token has been expired or revoked.); the login has expired or was revoked: run `gcloud auth application-default login`";
        let (what, fix) = diagnose(revoked, &spec(SourceSpec::Adc), &svc, &cfg);
        assert!(
            what.contains("revoked") && what.contains("invalid_grant"),
            "{what}"
        );
        assert_eq!(fix, ADC_LOGIN_ADVICE);
        let (_, fix) = diagnose(revoked, &spec(SourceSpec::Gcloud), &svc, &cfg);
        assert_eq!(fix, "gcloud auth login");

        let scope = "the user credentials in /a.json were not granted the AlloyDB login scope (HTTP 400 invalid_scope: Bad Request); either run once: X — or …";
        let (what, fix) = diagnose(scope, &spec(SourceSpec::Adc), &svc, &cfg);
        assert!(what.contains("Request had insufficient scopes."), "{what}");
        assert_eq!(fix, ADC_LOGIN_ADVICE);

        let other = "cannot read key_file /k.json: No such file or directory (os error 2)";
        let (what, fix) = diagnose(other, &spec(SourceSpec::Adc), &svc, &cfg);
        assert_eq!(what, other);
        assert_eq!(fix, "check `credentials` in [services.prod] of /c.toml");
        let (what, fix) = diagnose("it failed; do this", &spec(SourceSpec::Adc), &svc, &cfg);
        assert_eq!((what.as_str(), fix.as_str()), ("it failed", "do this"));
    }
}
