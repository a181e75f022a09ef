//! Service names completed in a real bash from the configuration the command line would
//! use (`--config`, else `ALLOYDB_CRED_CONFIG`), through the script the binary prints
//! and the hidden command it runs; durations offered, never file names for them.

use std::path::Path;
use std::process::Command;

use crate::common::*;

/// What bash offers for `line` (the last word is the one being completed), run in
/// `dir` (full of files that must not be offered), with `env` set.
fn complete(env: &Env, script: &Path, line: &[&str], extra_env: &[(&str, &Path)]) -> Vec<String> {
    let words: Vec<String> = line.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\n_alloydb__cred alloydb-cred '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        words.join(" "),
        line.len() - 1,
        line[line.len() - 1],
        line[line.len() - 2],
    );
    let bin_dir = Path::new(BIN).parent().expect("bin dir");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    env.apply_env(&mut cmd);
    cmd.env("PATH", path).current_dir(env.dir.path());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = cmd
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .expect("run bash");
    assert!(out.status.success(), "bash failed: {}", stderr(&out));
    let mut offered: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    offered.retain(|w| !w.is_empty());
    offered.sort();
    offered
}

#[test]
fn bash_completes_service_names_from_the_configuration_in_use() {
    let env = Env::new();
    let script = env.dir.path().join("alloydb-cred.bash");
    std::fs::write(&script, ok(env.run(&["completions", "bash"]))).expect("script");
    env.write_config(
        "[services.prod]\nhost = \"h\"\n[services.staging]\nhost = \"h\"\n[services.analytics]\nhost = \"h\"\n",
    );
    let other = env.dir.path().join("other.toml");
    std::fs::write(&other, "[services.solo]\nhost = \"h\"\n").expect("other config");
    let config = env.config_path();
    let config = config.to_str().expect("utf-8");

    let line = ["alloydb-cred", "--config", config, "token", "--service", ""];
    assert_eq!(
        complete(&env, &script, &line, &[]),
        ["analytics", "prod", "staging"]
    );
    let line = [
        "alloydb-cred",
        "--config",
        config,
        "status",
        "--service",
        "s",
    ];
    assert_eq!(complete(&env, &script, &line, &[]), ["staging"]);
    // No --config: the variable names the configuration, as for the command itself.
    let line = ["alloydb-cred", "doctor", "--service", ""];
    assert_eq!(
        complete(&env, &script, &line, &[("ALLOYDB_CRED_CONFIG", &other)]),
        ["solo"]
    );
    // A configuration that does not load offers nothing, and prints no error.
    let line = [
        "alloydb-cred",
        "--config",
        "/nonexistent.toml",
        "exec",
        "--service",
        "",
    ];
    assert!(complete(&env, &script, &line, &[]).is_empty());
    // Durations, not the files of the current directory.
    let line = ["alloydb-cred", "status", "--check", "--min-left", ""];
    let offered = complete(&env, &script, &line, &[]);
    assert!(offered.iter().any(|w| w == "5m"), "{offered:?}");
    assert!(!offered.iter().any(|w| w.ends_with(".toml")), "{offered:?}");
    let line = ["alloydb-cred", "add", "x", "--dbname", ""];
    assert!(complete(&env, &script, &line, &[]).is_empty());
}
