//! The stand-in's command line as the demo and the product's tests use it. Being an
//! integration test, it also makes `cargo test --workspace` build the `fake-google`
//! binary that those tests run.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_fake-google");

fn wait_for(path: &Path) -> bool {
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        if fs::metadata(path).is_ok_and(|m| m.len() > 0) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn serve_publishes_its_addresses_mints_and_cleans_up_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env_file = dir.path().join("env");
    let mut serve = Command::new(BIN)
        .args(["serve", "--env-file"])
        .arg(&env_file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("start fake-google serve");
    assert!(wait_for(&env_file), "serve wrote its env file");
    let vars = fs::read_to_string(&env_file).expect("read env file");
    let url = vars
        .lines()
        .find_map(|l| l.strip_prefix("FAKE_GOOGLE_URL="))
        .map(|v| v.trim_matches('\''))
        .expect("FAKE_GOOGLE_URL in the env file")
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(vars.contains("FAKE_GOOGLE_METADATA_HOST="), "{vars}");

    let principal = "robot@demo-project.iam.gserviceaccount.com";
    let mint = Command::new(BIN)
        .args(["mint", "--url", &url, "--principal", principal])
        .output()
        .expect("run fake-google mint");
    assert!(mint.status.success(), "{mint:?}");
    let answer: serde_json::Value = serde_json::from_slice(&mint.stdout).expect("JSON");
    assert!(
        answer["access_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert_eq!(answer["principal"], principal);

    let term = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .expect("run kill");
    assert!(term.success());
    let status = serve.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    assert!(
        !env_file.exists(),
        "a stopped server leaves no stale env file"
    );
}
