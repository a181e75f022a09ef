//! The committed man pages and completions are exactly what the generator writes now:
//! a change to src/cli.rs or to the prose that is not followed by `cargo run -p docgen`
//! fails here.

use std::fs;
use std::path::Path;

#[test]
fn committed_man_pages_and_completions_are_current() {
    let fresh = tempfile::tempdir().expect("temp dir");
    docgen::write(fresh.path()).unwrap_or_else(|e| panic!("the generator failed: {e}"));
    let repo = docgen::repository_root();

    let generated = docgen::files_in(fresh.path()).expect("list the generated files");
    let committed = docgen::files_in(&repo).expect("list the committed files");
    let mut problems = Vec::new();
    for path in &generated {
        let want = fs::read(fresh.path().join(path)).expect("read a generated file");
        match fs::read(repo.join(path)) {
            Ok(have) if have == want => {}
            Ok(have) => problems.push(format!(
                "{} differs from what the generator writes{}",
                path.display(),
                first_difference(&have, &want)
            )),
            Err(_) => problems.push(format!("{} is missing", path.display())),
        }
    }
    for path in committed.iter().filter(|p| !generated.contains(p)) {
        problems.push(format!(
            "{} is not written by the generator (a page of a command that is gone?)",
            path.display()
        ));
    }
    assert!(
        problems.is_empty(),
        "man/ and completions/ are stale; run `cargo run -p docgen` and commit the result:\n  {}",
        problems.join("\n  ")
    );
}

/// ", first at line N" with both versions of that line, to say what changed.
fn first_difference(have: &[u8], want: &[u8]) -> String {
    let have = String::from_utf8_lossy(have);
    let want = String::from_utf8_lossy(want);
    let mut have_lines = have.lines();
    let mut want_lines = want.lines();
    for number in 1.. {
        match (have_lines.next(), want_lines.next()) {
            (Some(h), Some(w)) if h == w => continue,
            (None, None) => return String::new(),
            (h, w) => {
                return format!(
                    ", first at line {number}:\n    committed: {}\n    generated: {}",
                    h.unwrap_or("(end of file)"),
                    w.unwrap_or("(end of file)")
                );
            }
        }
    }
    String::new()
}

#[test]
fn the_generator_writes_the_same_bytes_every_time() {
    let first = docgen::outputs().expect("generate");
    let second = docgen::outputs().expect("generate again");
    assert_eq!(first, second);
    // No date on the title line: a page changes only when what it says changes.
    for (path, bytes) in first.iter().filter(|(p, _)| p.starts_with("man")) {
        let text = String::from_utf8_lossy(bytes);
        let title = text
            .lines()
            .find(|l| l.starts_with(".TH "))
            .unwrap_or_else(|| panic!("{} has no .TH line", path.display()));
        assert!(title.contains(" \"\" "), "{}: {title}", path.display());
    }
}

#[test]
fn write_removes_files_it_no_longer_writes_and_leaves_others_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let stale = dir.path().join("man/alloydb-cred-gone.1");
    fs::create_dir_all(stale.parent().expect("parent")).expect("mkdir");
    fs::write(&stale, "old").expect("write");
    let unrelated = dir.path().join("README.md");
    fs::write(&unrelated, "mine").expect("write");
    let changes = docgen::write(dir.path()).expect("write");
    assert!(!stale.exists());
    assert_eq!(changes.removed, [Path::new("man/alloydb-cred-gone.1")]);
    assert_eq!(fs::read_to_string(&unrelated).expect("read"), "mine");
    let again = docgen::write(dir.path()).expect("write again");
    assert!(again.written.is_empty() && again.removed.is_empty());
}
