//! `doctor` before the first refresh: one line says the files were never written, after
//! the causes a refresh would trip over; no `ok` for a credential that does not exist,
//! nor for scopes of a token tokeninfo rejects.

use crate::common::*;
use crate::doctor_case::*;

const ROBOT: &str = "robot@proj.iam.gserviceaccount.com";
const ALLOYDB_SCOPE: &str = "https://www.googleapis.com/auth/alloydb.login";

/// The names of the problems in a report, configuration-wide ones with `None`.
fn problems(report: &Report) -> Vec<(Option<String>, String)> {
    report
        .statuses()
        .into_iter()
        .filter(|(_, status)| status == "problem")
        .map(|(name, _)| match name.split_once('/') {
            Some((service, check)) => (Some(service.to_string()), check.to_string()),
            None => (None, name),
        })
        .collect()
}

/// Run in the shared world of the doctor tests.
pub fn first_run(w: &World) {
    // A working credential, never refreshed: the one problem is that.
    let c = Case::new(w);
    c.config(&c.command(ROBOT, &[]), "");
    let report = c.diagnose(&["--connect"], &[], 3);
    assert_eq!(
        problems(&report),
        vec![(None, "refresh".to_string())],
        "{:#}",
        report.0
    );
    let refresh = report.check(None, "refresh");
    assert!(
        refresh["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("not refreshed yet") && m.contains("service db")),
        "{refresh:#}"
    );
    assert_eq!(refresh["fix"], "alloydb-cred refresh", "{refresh:#}");
    let (_, text) = c.doctor_out(&[], &[]);
    assert_eq!(text.matches("not refreshed yet").count(), 1, "{text}");
    assert!(!text.contains("does not exist yet"), "{text}");
    c.refresh(&[]);
    let report = c.diagnose(&[], &[], 0);
    assert!(
        problems(&report).is_empty()
            && report.0["checks"]
                .as_array()
                .is_some_and(|checks| checks.iter().all(|c| c["name"] != "refresh")),
        "{:#}",
        report.0
    );

    // ADC with no file anywhere and no metadata server: the source is the problem (not
    // `ok`), it comes before the "not refreshed yet" line, and that line's fix waits
    // for it.
    let c = Case::new(w);
    c.config("\"adc\"", "");
    let report = c.diagnose(&[], &[], 3);
    report.expect(
        "db",
        "credentials.source",
        "problem",
        &["adc:", "no Application Default Credentials"],
        &["gcloud auth application-default login --scopes="],
    );
    assert_eq!(
        problems(&report),
        vec![
            (None, "refresh".to_string()),
            (Some("db".to_string()), "credentials.source".to_string())
        ],
        "{:#}",
        report.0
    );
    assert_eq!(
        report.check(None, "refresh")["fix"],
        "fix the problems above, then run `alloydb-cred refresh`"
    );
    let (_, text) = c.doctor_out(&[], &[]);
    let source = text.find("credentials.source").unwrap_or(usize::MAX);
    let pending = text.find("not refreshed yet").unwrap_or(0);
    assert!(source < pending, "the cause comes first:\n{text}");

    // A token tokeninfo does not know, though its command says it carries alloydb.login.
    let c = Case::new(w);
    let forged = c.env.script(
        "forged-token",
        &format!(
            "echo '{{\"access_token\": \"not-a-google-token-4711\", \"expires_in\": 3600, \"principal\": \"{ROBOT}\", \"scope\": \"{ALLOYDB_SCOPE}\"}}'"
        ),
    );
    c.config(
        &format!("{{ command = [{:?}] }}", forged.display().to_string()),
        "",
    );
    let report = c.diagnose(&[], &[], 3);
    report.expect(
        "db",
        "credentials.scopes",
        "problem",
        &["tokeninfo rejects the token just minted"],
        &["token command"],
    );
}
