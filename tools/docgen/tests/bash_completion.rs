//! The bash completion script completes what it should, run in a real bash: commands,
//! each command's own options, and the values of `completions`.

use std::process::Command;

/// What bash offers for the words of `line` (the last word is the one being completed).
fn complete(script: &std::path::Path, line: &[&str]) -> Vec<String> {
    let words: Vec<String> = line.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\n_alloydb__cred alloydb-cred '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        words.join(" "),
        line.len() - 1,
        line[line.len() - 1],
        line[line.len() - 2],
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "bash failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_commands_their_options_and_shells() {
    let outputs = docgen::outputs().expect("generate");
    let script = outputs
        .get(std::path::Path::new("completions/alloydb-cred.bash"))
        .expect("the bash script");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("alloydb-cred.bash");
    std::fs::write(&path, script).expect("write the script");

    assert_eq!(complete(&path, &["alloydb-cred", "st"]), ["status"]);
    let status = complete(&path, &["alloydb-cred", "status", "--"]);
    assert!(
        status.iter().any(|o| o == "--check") && status.iter().any(|o| o == "--config"),
        "{status:?}"
    );
    let refresh = complete(&path, &["alloydb-cred", "-v", "refresh", "--w"]);
    assert_eq!(refresh, ["--watch"]);
    let shells = complete(&path, &["alloydb-cred", "completions", "z"]);
    assert_eq!(shells, ["zsh"]);
}
