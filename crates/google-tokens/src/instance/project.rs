//! Which project to list when none is named: the one the machine's Google set-up points
//! at, in the order Google's own tools use. gcloud's configured project
//! (`CLOUDSDK_CORE_PROJECT`, else the `project` of the active configuration's `[core]`
//! section), then the Application Default Credentials file's `quota_project_id` or
//! `project_id`, then the metadata server's project.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::http::{Body, Method, Request};
use crate::token::Context;

/// The default project and where it was found, or `None` when nothing names one. Only
/// a well-formed project ID is returned; the files' other fields are never read.
pub fn default_project(ctx: &Context<'_>) -> Result<Option<(String, &'static str)>> {
    let valid = |p: String| Some(p.trim().to_string()).filter(|p| super::name::is_project(p));
    if let Some(p) = std::env::var("CLOUDSDK_CORE_PROJECT").ok().and_then(valid) {
        return Ok(Some((p, "CLOUDSDK_CORE_PROJECT")));
    }
    if let Some(p) = gcloud_project().and_then(valid) {
        return Ok(Some((p, "gcloud's configuration")));
    }
    if let Some(p) = adc_project().and_then(valid) {
        return Ok(Some((p, "the Application Default Credentials file")));
    }
    let url = format!(
        "http://{}/computeMetadata/v1/project/project-id",
        crate::sources::metadata_host()
    );
    let answer = ctx.http.send(&Request {
        what: "the metadata server",
        method: Method::Get,
        url: &url,
        headers: &[("Metadata-Flavor", "Google")],
        body: Body::Empty,
        to_metadata_server: true,
    });
    Ok(match answer {
        Ok(answer) if answer.status == 200 => {
            valid(answer.body).map(|p| (p, "the metadata server"))
        }
        _ => None,
    })
}

/// gcloud's configuration directory: `$CLOUDSDK_CONFIG`, else `~/.config/gcloud`.
fn gcloud_dir() -> Option<PathBuf> {
    match std::env::var_os("CLOUDSDK_CONFIG").filter(|p| !p.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => Some(dirs::home_dir()?.join(".config").join("gcloud")),
    }
}

/// `project` in `[core]` of the active configuration (`CLOUDSDK_ACTIVE_CONFIG_NAME`, else
/// the `active_config` file, else `default`).
fn gcloud_project() -> Option<String> {
    let dir = gcloud_dir()?;
    let active = std::env::var("CLOUDSDK_ACTIVE_CONFIG_NAME")
        .ok()
        .or_else(|| read(&dir.join("active_config")))
        .map(|n| n.trim().to_string())
        .filter(|n| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .unwrap_or_else(|| "default".to_string());
    let text = read(&dir.join("configurations").join(format!("config_{active}")))?;
    ini_value(&text, "core", "project")
}

/// One of the files that may name the project, read as credentials are (regular files
/// only, never blocking, 1 MiB at most): a FIFO or `/dev/zero` put at one of these paths
/// must not hang the lookup or fill memory. A file that cannot be read names no project.
fn read(path: &Path) -> Option<String> {
    match crate::input_file::read_to_string(path) {
        Ok(text) => Some(text),
        Err(problem) => {
            log::debug!("not reading {} for a project: {problem}", path.display());
            None
        }
    }
}

/// A key of an INI section, as gcloud writes its configurations.
fn ini_value(text: &str, section: &str, key: &str) -> Option<String> {
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().to_string();
        } else if current == section {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == key {
                    return Some(v.trim().to_string());
                }
            }
        }
    }
    None
}

/// The ADC file's `quota_project_id`, else its `project_id`.
fn adc_project() -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Fields {
        quota_project_id: Option<String>,
        project_id: Option<String>,
    }
    let path = std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| Some(gcloud_dir()?.join("application_default_credentials.json")))?;
    let fields: Fields = serde_json::from_str(&read(&path)?).ok()?;
    fields.quota_project_id.or(fields.project_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bounded_regular_files_are_read() {
        let dir = std::env::temp_dir().join(format!("project-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().expect("utf-8")).expect("path");
        // SAFETY: mkfifo(3) reads the NUL-terminated path, which outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let started = std::time::Instant::now();
        assert_eq!(read(&fifo), None);
        assert_eq!(read(Path::new("/dev/zero")), None);
        assert!(started.elapsed().as_secs() < 5);
        let big = dir.join("big.json");
        std::fs::write(&big, " ".repeat((1 << 20) + 1)).expect("write");
        assert_eq!(read(&big), None);
        let small = dir.join("adc.json");
        std::fs::write(&small, r#"{"project_id":"p"}"#).expect("write");
        assert_eq!(read(&small).as_deref(), Some(r#"{"project_id":"p"}"#));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn ini_sections() {
        let text = "[auth]\nproject = no\n[core]\naccount = a@b.c\nproject = my-proj\n";
        assert_eq!(
            ini_value(text, "core", "project").as_deref(),
            Some("my-proj")
        );
        assert_eq!(ini_value("[core]\n", "core", "project"), None);
    }
}
