//! Every answer from a server or a program, and every credential file, is untrusted
//! until checked here. Checks explain what is wrong without ever quoting the value: it
//! may be a secret.

use crate::error::{Error, Result};

/// Reads a credentials file's fields. Errors name a missing field but never quote a
/// value: the file holds secrets.
pub(crate) fn credential_fields<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    origin: &str,
    kind: &str,
    fix: &str,
) -> Result<T> {
    serde_json::from_value(value).map_err(|e| {
        let why = json_problem(&e, "it is not JSON");
        Error::Config(format!("{origin} is not a usable {kind} ({why}); {fix}"))
    })
}

/// What is wrong with a JSON document, in words that never quote a value from it (serde's
/// own messages do: "invalid type: string \"ya29…\""). `not_json` describes a syntax error.
pub(crate) fn json_problem(err: &serde_json::Error, not_json: &str) -> String {
    use serde_json::error::Category;
    match err.classify() {
        Category::Data => {
            let message = err.to_string();
            match message.strip_prefix("missing field ") {
                Some(rest) => format!(
                    "missing field {}",
                    rest.split(' ').next().unwrap_or_default()
                ),
                None => "a field has the wrong type or value".to_string(),
            }
        }
        Category::Io | Category::Syntax | Category::Eof => not_json.to_string(),
    }
}

/// Whether `text` is a DNS name of at least two labels: letters, digits and inner `-`,
/// separated by dots, at most 253 bytes. Used wherever a name from outside becomes part
/// of a URL or an address.
pub(crate) fn is_domain_name(text: &str) -> bool {
    text.len() <= 253 && text.split('.').count() >= 2 && text.split('.').all(is_dns_label)
}

/// One label of a DNS name: 1 to 63 letters, digits and inner `-`.
fn is_dns_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Checks that a token can be written as a password: non-empty, no white space or
/// control characters (which would end or corrupt the password-file line).
pub(crate) fn check_token(token: &str, origin: &str) -> Result<()> {
    if token.is_empty() {
        return Err(Error::Source(format!("{origin} returned an empty token")));
    }
    if let Some(c) = token.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::Source(format!(
            "{origin} returned a token containing {c:?}; a token is a single word without white space or control characters"
        )));
    }
    Ok(())
}

/// Checks an address an Admin API named for an instance: an IP address, or a DNS name
/// (letters, digits and `-` in dot-separated labels; one trailing dot, which libpq would
/// keep when matching a certificate, is dropped). Says why not without quoting it.
pub(crate) fn check_address(text: &str) -> std::result::Result<String, &'static str> {
    if text.parse::<std::net::IpAddr>().is_ok() {
        return Ok(text.to_string());
    }
    let name = text.strip_suffix('.').unwrap_or(text);
    let labels: Vec<&str> = name.split('.').collect();
    let is_dns_name = !name.is_empty()
        && name.len() <= 253
        && labels.iter().all(|label| is_dns_label(label))
        // A last label of digits only is a mistyped IPv4 address, not a name.
        && !labels
            .last()
            .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    match is_dns_name {
        true => Ok(name.to_ascii_lowercase()),
        false => Err("it is neither an IP address nor a DNS name"),
    }
}

/// Reads the PEM certificates of a server CA: at least one, each a certificate that can
/// serve as a trust anchor. Returns them re-encoded, so that the file libpq reads holds
/// the certificates and nothing else the answer carried, with their count.
pub(crate) fn check_ca_pem(text: &str) -> std::result::Result<(String, usize), &'static str> {
    use base64::Engine;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    let mut pem = String::new();
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(text.as_bytes()) {
        let cert = cert.map_err(|_| "it holds a PEM block that cannot be read")?;
        webpki::anchor_from_trusted_cert(&cert)
            .map_err(|_| "it holds something that is not an X.509 certificate")?;
        let body = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        count += 1;
    }
    match count {
        0 => Err("it holds no PEM certificate"),
        _ => Ok((pem, count)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_have_two_labels_of_at_most_63_bytes() {
        assert!(is_domain_name("googleapis.com"));
        assert!(is_domain_name(&format!("{}.example", "a".repeat(63))));
        for bad in [
            "localhost",
            "evil.example/path",
            "a..b",
            "-a.b",
            "a.b-",
            "a.b.",
            &format!("{}.example", "a".repeat(64)),
        ] {
            assert!(!is_domain_name(bad), "{bad}");
        }
    }

    #[test]
    fn addresses_are_ip_addresses_or_dns_names() {
        for good in [
            "10.1.2.3",
            "::1",
            "fd00::5",
            "localhost",
            "abc.us-central1.sql.goog",
        ] {
            assert_eq!(check_address(good).as_deref(), Ok(good), "{good}");
        }
        assert_eq!(
            check_address("ABC.us-central1.sql.goog.").as_deref(),
            Ok("abc.us-central1.sql.goog")
        );
        for bad in [
            "",
            ".",
            "[x]",
            "10.0.0.1\nhost=evil",
            "a b",
            "-a.example",
            "a..b",
            "999.1.1.1",
            "evil.example/x",
            "host=evil",
            "a,b",
            "*",
            "a:b",
        ] {
            assert!(check_address(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn json_problems_never_quote_values() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct T {
            a: u32,
            b: String,
        }
        let wrong = serde_json::from_str::<T>(r#"{"a": "ya29.SECRET", "b": "x"}"#);
        let missing = serde_json::from_str::<T>(r#"{"a": 1}"#);
        let broken = serde_json::from_str::<T>(r#"{"a": "ya29.SECRET"#);
        let text: Vec<String> = [wrong, missing, broken]
            .iter()
            .map(|r| match r {
                Ok(v) => panic!("parsed: {v:?}"),
                Err(e) => json_problem(e, "not JSON"),
            })
            .collect();
        assert_eq!(
            text,
            [
                "a field has the wrong type or value",
                "missing field `b`",
                "not JSON"
            ]
        );
    }
}
