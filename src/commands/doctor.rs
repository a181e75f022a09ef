//! `doctor`: runs the checks in [`crate::doctor`] and prints them, one line per check
//! (with the fix under each warning and problem) or as JSON. Exit 3 when a problem was
//! found; warnings alone exit 0.

use std::io::Write;

use serde_json::json;

use crate::cli::DoctorArgs;
use crate::config::Config;
use crate::doctor::{self, Check, Report, Status};
use crate::error::{Error, Result};
use crate::exit_codes::ExitCode;

pub fn run(config: &Config, args: &DoctorArgs) -> Result<ExitCode> {
    let services = config.select(&args.services)?;
    let report = doctor::examine(config, &services, args.connect);
    let text = if args.json {
        render_json(config, &report)
    } else {
        render_text(config, &report)
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| Error::Runtime(format!("cannot write to stdout: {e}")))?;
    Ok(match report.worst() {
        Status::Problem => ExitCode::DoctorFoundProblem,
        Status::Ok | Status::Warning => ExitCode::Success,
    })
}

/// `status  name: message`, and `fix: …` under it.
fn render_check(check: &Check, out: &mut String) {
    out.push_str(&format!(
        "  {:<8} {}: {}\n",
        check.status.as_str(),
        check.name,
        check.message
    ));
    if let Some(fix) = &check.fix {
        out.push_str(&format!("  {:<8} fix: {fix}\n", ""));
    }
}

fn render_text(config: &Config, report: &Report) -> String {
    let mut out = format!("configuration {}\n", config.path.display());
    for check in &report.checks {
        render_check(check, &mut out);
    }
    for service in &report.services {
        out.push_str(&format!("service {}\n", service.name));
        for check in &service.checks {
            render_check(check, &mut out);
        }
    }
    if let Some(pending) = &report.pending {
        out.push_str("refresh\n");
        render_check(pending, &mut out);
    }
    let (problems, warnings) = (report.count(Status::Problem), report.count(Status::Warning));
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    out.push_str(&match (problems, warnings) {
        (0, 0) => "result: all checks passed\n".to_string(),
        (0, w) => format!("result: no problems, {}\n", plural(w, "warning")),
        (p, w) => format!(
            "result: {}, {}; a login would fail until the fixes above are made\n",
            plural(p, "problem"),
            plural(w, "warning")
        ),
    });
    out
}

fn check_json(check: &Check) -> serde_json::Value {
    json!({
        "name": check.name,
        "status": check.status.as_str(),
        "message": check.message,
        "fix": check.fix,
    })
}

/// The stable document: the overall status, the checks about the configuration and the
/// machine, and each service's checks.
fn render_json(config: &Config, report: &Report) -> String {
    let services: Vec<_> = report
        .services
        .iter()
        .map(|s| {
            let worst = s
                .checks
                .iter()
                .map(|c| c.status)
                .max()
                .unwrap_or(Status::Ok);
            json!({
                "name": s.name,
                "status": worst.as_str(),
                "checks": s.checks.iter().map(check_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    let doc = json!({
        "config": config.path.display().to_string(),
        "status": report.worst().as_str(),
        "problems": report.count(Status::Problem),
        "warnings": report.count(Status::Warning),
        "checks": report.checks.iter().chain(&report.pending).map(check_json).collect::<Vec<_>>(),
        "services": services,
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}
