//! Whole-process timings of `refresh --force` (and `doctor`) for 20 services, each
//! impersonating its own service account on one metadata-server credential, with every
//! request to the stand-in answered after 200 ms. Prints, per binary, the median, min
//! and max wall time and how many base (metadata) token requests and generateAccessToken
//! requests one run made.
//!
//! `cargo bench --bench impersonation -- [BINARY]...`: each binary is measured in turn,
//! on the same stand-in (default: this workspace's release build). `RUNS` (default 5)
//! sets the runs per binary and command. `scripts/bench-impersonation.sh` builds the
//! binaries and runs this.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fake_google::FakeGoogle;

const SERVICES: usize = 20;
const ROUND_TRIP: Duration = Duration::from_millis(200);
const BASE: &str = "base@proj.iam.gserviceaccount.com";

fn main() {
    let binaries: Vec<PathBuf> = {
        let given: Vec<PathBuf> = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with("--"))
            .map(PathBuf::from)
            .collect();
        if given.is_empty() {
            vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/alloydb-cred")]
        } else {
            given
        }
    };
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);

    let google = FakeGoogle::start().expect("start the stand-in");
    google.set_metadata_account(BASE);
    let url = google.http_url();
    let mut config = format!(
        "[defaults]\ncredentials = \"metadata\"\n\n[endpoints]\ntoken = \"{url}/token\"\ntokeninfo = \"{url}/tokeninfo\"\niamcredentials = \"{url}\"\ntimeout = \"5s\"\n"
    );
    for i in 0..SERVICES {
        let target = format!("sa{i}@proj.iam.gserviceaccount.com");
        google.grant_token_creator(BASE, &target);
        config.push_str(&format!(
            "\n[services.svc{i}]\nhost = \"127.0.0.1\"\ndbname = \"appdb\"\nimpersonate = \"{target}\"\n"
        ));
    }
    google.set_delay(ROUND_TRIP);

    println!(
        "{SERVICES} services, each impersonating its own service account on one metadata credential, {} ms per request; {runs} runs each",
        ROUND_TRIP.as_millis()
    );
    println!(
        "{:<48} {:>8} {:>8} {:>8} {:>14} {:>14}",
        "binary / command", "median", "min", "max", "base tokens", "impersonations"
    );
    for binary in &binaries {
        let work = tempfile::tempdir().expect("temp dir");
        let home = work.path().join("home");
        std::fs::create_dir(&home).expect("home");
        let config_path = work.path().join("config.toml");
        std::fs::write(&config_path, &config).expect("config");
        for command in [&["refresh", "--force"][..], &["doctor"][..]] {
            let mut times = Vec::new();
            let (mut base, mut generated) = (0, 0);
            for _ in 0..runs {
                let (metadata_before, generate_before) = (
                    google.hits("metadata_token"),
                    google.hits("generate_access_token"),
                );
                let started = Instant::now();
                let status = run(binary, &config_path, &home, work.path(), &google, command);
                times.push(started.elapsed());
                if !status {
                    eprintln!("{} {}: failed", binary.display(), command.join(" "));
                }
                base = google.hits("metadata_token") - metadata_before;
                generated = google.hits("generate_access_token") - generate_before;
            }
            times.sort();
            let ms = |d: &Duration| format!("{:.2}s", d.as_secs_f64());
            println!(
                "{:<48} {:>8} {:>8} {:>8} {:>14} {:>14}",
                format!("{} {}", short(binary), command.join(" ")),
                ms(&times[times.len() / 2]),
                ms(&times[0]),
                ms(&times[times.len() - 1]),
                base,
                generated
            );
        }
    }
}

fn run(
    binary: &Path,
    config: &Path,
    home: &Path,
    work: &Path,
    google: &FakeGoogle,
    command: &[&str],
) -> bool {
    Command::new(binary)
        .arg("--config")
        .arg(config)
        .arg("-q")
        .args(command)
        .env("HOME", home)
        .env("ALLOYDB_CRED_STATE_DIR", work.join("state"))
        .env("GCE_METADATA_HOST", google.metadata_host())
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env_remove("PGPASSFILE")
        .env_remove("PGSERVICEFILE")
        .env_remove("ALLOYDB_CRED_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The last two components of a path: enough to tell builds apart in the table.
fn short(path: &Path) -> String {
    let parts: Vec<_> = path.iter().map(|p| p.to_string_lossy()).collect();
    parts[parts.len().saturating_sub(2)..].join("/")
}
