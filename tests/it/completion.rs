//! Service names completed in a real bash, zsh and fish from the configuration the
//! command line would use (`--config`, else `ALLOYDB_CRED_CONFIG`), through the script the
//! binary prints and the hidden command it runs; in bash, durations offered, never file
//! names for them.

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
    let mut cmd = Command::new("bash");
    env.apply_env(&mut cmd);
    cmd.env("PATH", path_with_binary())
        .current_dir(env.dir.path());
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

/// What an interactive bash prints while it completes each of `lines` (TAB pressed at
/// its end), through readline and the `complete` registration, as a user meets it: the
/// function alone never shows bash's own fallback to file names. One text per line.
fn interactive(env: &Env, script: &Path, cwd: &Path, lines: &[(&str, &str)]) -> Vec<String> {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};
    let mut cmd = Command::new("script");
    env.apply_env(&mut cmd);
    cmd.env("PATH", path_with_binary())
        .env("TERM", "dumb")
        .current_dir(cwd)
        .args(["-qfc", "bash --norc --noprofile -i", "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("run script");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let seen = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock().expect("lock").extend_from_slice(&buf[..n]);
            }
        })
    };
    let text = || String::from_utf8_lossy(&seen.lock().expect("lock")).into_owned();
    // `what` empty: nothing to see, only time to let bash answer.
    let wait_for = |what: &str, after: usize| {
        if what.is_empty() {
            std::thread::sleep(Duration::from_millis(1500));
        }
        let until = Instant::now() + Duration::from_secs(30);
        while !text()[after.min(text().len())..].contains(what) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        // The rest of what the same key press prints.
        std::thread::sleep(Duration::from_millis(300));
    };
    let setup = format!(
        "bind 'set show-all-if-ambiguous on'\nbind 'set completion-query-items 0'\n\
         bind 'set page-completions off'\nPS1='P> '\nsource '{}'\necho READY\n",
        script.display()
    );
    stdin.write_all(setup.as_bytes()).expect("write");
    wait_for("\nREADY", 0);
    for (line, shows) in lines {
        let at = text().len();
        stdin
            .write_all(format!("{line}\t").as_bytes())
            .expect("write");
        wait_for(shows, at);
        stdin.write_all(b"\x15echo CASE-END\n").expect("write");
        wait_for("\nCASE-END", at);
    }
    stdin.write_all(b"exit\n").expect("write");
    drop(stdin);
    let _ = child.wait();
    let _ = reader.join();
    let all = text();
    let start = all.find("\nREADY").expect("bash started");
    all[start..]
        .split("echo CASE-END")
        .take(lines.len())
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_never_falls_back_to_file_names_for_values_that_are_not_paths() {
    let have_script = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !prerequisite(
        have_script,
        "script (util-linux)",
        "completion through an interactive bash",
    ) {
        return;
    }
    let env = Env::new();
    let script = env.dir.path().join("alloydb-cred.bash");
    std::fs::write(&script, ok(env.run(&["completions", "bash"]))).expect("script");
    let cwd = env.dir.path().join("work");
    std::fs::create_dir(&cwd).expect("cwd");
    for file in ["fileA.toml", "fileB.txt"] {
        std::fs::write(cwd.join(file), "").expect("file");
    }
    let config = env.home().join("c2.toml");
    std::fs::write(
        &config,
        "[services.alpha]\nhost = \"h\"\n[services.beta]\nhost = \"h\"\n",
    )
    .expect("config");
    let absolute = format!(
        "alloydb-cred --config={} token --service ",
        config.display()
    );
    let bell = "\x07";
    let cases = [
        ("alloydb-cred --config ~/c2.toml token --service ", "beta"),
        (absolute.as_str(), "beta"),
        ("alloydb-cred --config /nonexistent token --service ", bell),
        ("alloydb-cred add x --user ", bell),
        ("alloydb-cred add x --dbname ", ""),
        // Where a path is wanted, the files are offered: the fallback is there to see.
        ("alloydb-cred --config ", "fileB"),
    ];
    let shown = interactive(&env, &script, &cwd, &cases);
    assert_eq!(shown.len(), cases.len(), "{shown:?}");
    for (i, text) in shown.iter().enumerate() {
        let files = text.contains("fileA") || text.contains("fileB");
        if i < 2 {
            assert!(
                text.contains("alpha") && text.contains("beta"),
                "{i}: {text:?}"
            );
        }
        assert_eq!(files, i == cases.len() - 1, "{}: {text:?}", cases[i].0);
    }
}

/// PATH with the built binary first, as an installed `alloydb-cred` would be found.
fn path_with_binary() -> String {
    let bin_dir = Path::new(BIN).parent().expect("bin dir");
    format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The first word of each line `shell` printed running `program` (`-c`), after `args`.
fn shell_words(env: &Env, shell: &str, args: &[&str], program: &str) -> Vec<String> {
    let mut cmd = Command::new(shell);
    env.apply_env(&mut cmd);
    cmd.env("PATH", path_with_binary())
        .current_dir(env.dir.path())
        .args(args)
        .args(["-c", program]);
    let out = cmd.output().unwrap_or_else(|e| panic!("run {shell}: {e}"));
    assert!(out.status.success(), "{shell} failed: {}", stderr(&out));
    assert_eq!(stderr(&out), "", "{shell} printed errors");
    let mut words: Vec<String> = stdout(&out)
        .lines()
        .filter_map(|line| line.split('\t').next())
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect();
    words.sort();
    words
}

/// zsh's and fish's scripts find the configuration as bash's does (`--config FILE`,
/// `--config=FILE`, `~/`, else `ALLOYDB_CRED_CONFIG`) and offer its services; one that
/// does not load offers nothing and prints nothing. fish completes the whole command
/// line through `complete -C`; for zsh, the function its `--service` spec names is run
/// with the words zsh would give it, `_describe` reporting what it was handed.
#[test]
fn zsh_and_fish_complete_service_names_from_the_configuration_in_use() {
    let have = |shell: &str| {
        Command::new(shell)
            .args(["-c", "exit 0"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let env = Env::new();
    std::fs::write(
        env.home().join("c3.toml"),
        "[services.gamma]\nhost = \"h\"\n[services.delta]\nhost = \"h\"\n",
    )
    .expect("config");
    let absolute = env.home().join("c3.toml");
    let absolute = absolute.to_str().expect("utf-8");
    let variable = env.dir.path().join("variable.toml");
    std::fs::write(&variable, "[services.solo]\nhost = \"h\"\n").expect("config");
    let both = ["delta", "gamma"];
    // (what comes between the program's name and `--service `, what is offered)
    let cases: Vec<(String, Vec<&str>)> = vec![
        ("--config=~/c3.toml token".into(), both.to_vec()),
        ("--config ~/c3.toml status".into(), both.to_vec()),
        (format!("--config {absolute} doctor"), both.to_vec()),
        ("exec".into(), vec!["solo"]),
        ("--config /nonexistent.toml token".into(), vec![]),
    ];

    if prerequisite(have("fish"), "fish", "fish completion") {
        let script = env.dir.path().join("alloydb-cred.fish");
        std::fs::write(&script, ok(env.run(&["completions", "fish"]))).expect("script");
        for (middle, offered) in &cases {
            let program = format!(
                "set -x ALLOYDB_CRED_CONFIG '{}'; source '{}'; complete -C 'alloydb-cred {middle} --service '",
                variable.display(),
                script.display()
            );
            let words = shell_words(&env, "fish", &["--no-config"], &program);
            assert_eq!(words, *offered, "fish, {middle}");
        }
    }

    if prerequisite(have("zsh"), "zsh", "zsh completion") {
        let script = env.dir.path().join("_alloydb-cred");
        let text = ok(env.run(&["completions", "zsh"]));
        assert!(
            text.contains(":NAME:_alloydb_cred_services'"),
            "--service completes through the function"
        );
        std::fs::write(&script, text).expect("script");
        for (middle, offered) in &cases {
            let words: Vec<String> = middle.split(' ').map(|w| format!("'{w}'")).collect();
            let program = format!(
                "export ALLOYDB_CRED_CONFIG='{}'\nautoload -U compinit && compinit -u -D\n\
                 source '{}'\n_describe() {{ print -rl -- ${{(P)2}} }}\n\
                 words=(alloydb-cred {} --service '')\nCURRENT=${{#words}}\n\
                 _alloydb_cred_services",
                variable.display(),
                script.display(),
                words.join(" ")
            );
            let words = shell_words(&env, "zsh", &["-f"], &program);
            assert_eq!(words, *offered, "zsh, {middle}");
        }
    }
}
