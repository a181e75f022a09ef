//! Reading and replacing files: modes, links, attributes, changes since the read.

use super::*;

#[test]
fn new_file_is_private_and_existing_mode_is_kept() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("pgpass");
    write(&path, b"a\n", None, Contents::Secret).unwrap_or_else(|e| panic!("{e}"));
    let meta = fs::metadata(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(meta.mode() & 0o777, 0o600);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap_or_else(|e| panic!("{e}"));
    let snap = read(&path).unwrap_or_else(|e| panic!("{e}"));
    write(&path, b"b\n", snap.as_ref(), Contents::Plain).unwrap_or_else(|e| panic!("{e}"));
    let meta = fs::metadata(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(meta.mode() & 0o777, 0o640);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap_or_else(|e| panic!("{e}"));
    let snap = read(&path).unwrap_or_else(|e| panic!("{e}"));
    write(&path, b"c\n", snap.as_ref(), Contents::Secret).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        fs::metadata(&path).map(|m| m.mode() & 0o777).unwrap_or(0),
        0o400
    );
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap_or_else(|e| panic!("{e}"));
    let snap = read(&path).unwrap_or_else(|e| panic!("{e}"));
    write(&path, b"d\n", snap.as_ref(), Contents::Secret).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        fs::metadata(&path).map(|m| m.mode() & 0o777).unwrap_or(0),
        0o600
    );
    assert_eq!(fs::read(&path).unwrap_or_default(), b"d\n");
    // No temp files left behind.
    assert_eq!(fs::read_dir(dir.path()).map(|d| d.count()).unwrap_or(0), 1);
}

#[test]
fn symlink_is_followed_and_kept() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let real = dir.path().join("real");
    let link = dir.path().join("link");
    fs::write(&real, b"old").unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink("real", &link).unwrap_or_else(|e| panic!("{e}"));
    let target = resolve(&link).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(target, real);
    let snap = read(&target).unwrap_or_else(|e| panic!("{e}"));
    write(&target, b"new", snap.as_ref(), Contents::Plain).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        fs::symlink_metadata(&link)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false)
    );
    assert_eq!(fs::read(&link).unwrap_or_default(), b"new");
}

fn changed(result: Result<()>) -> bool {
    matches!(result, Err(Error::ChangedSinceRead { .. }))
}

fn only_file(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn an_edit_made_after_the_read_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("pgpass");
    fs::write(&path, b"mine\n").unwrap_or_else(|e| panic!("{e}"));
    let snap = read(&path).unwrap_or_else(|e| panic!("{e}"));
    // `echo >> ~/.pgpass`: same file, longer.
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{e}"));
    file.write_all(b"added\n").unwrap_or_else(|e| panic!("{e}"));
    let err = write(&path, b"ours\n", snap.as_ref(), Contents::Secret);
    assert!(changed(err), "an appended line is a change");
    assert_eq!(fs::read(&path).unwrap_or_default(), b"mine\nadded\n");
    assert_eq!(only_file(dir.path()), ["pgpass"], "no temp file left");

    // Same length, other bytes (an editor changing one character in place).
    let snap = read(&path).unwrap_or_else(|e| panic!("{e}"));
    fs::write(&path, b"mine\nadder\n").unwrap_or_else(|e| panic!("{e}"));
    assert!(changed(write(&path, b"x", snap.as_ref(), Contents::Secret)));
    assert_eq!(fs::read(&path).unwrap_or_default(), b"mine\nadder\n");
}

#[test]
fn a_password_file_write_carries_over_what_was_appended_since_the_read() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("pgpass");
    fs::write(&path, b"mine\n").unwrap_or_else(|e| panic!("{e}"));
    let snap = read(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{e}"));
    // A line, and half of the next one (the appender is still writing it).
    file.write_all(b"added\nhal")
        .unwrap_or_else(|e| panic!("{e}"));
    // Ours has no final newline: the carried tail still starts a line of its own.
    let carried = write_carrying_appends(&path, b"ours\nmine", snap.as_ref(), Contents::Secret)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(carried, b"added\nhal".len());
    assert_eq!(
        fs::read(&path).unwrap_or_default(),
        b"ours\nmine\nadded\nhal"
    );
    assert_eq!(only_file(dir.path()), ["pgpass"], "no temp file left");

    // Anything but an append is still refused, and the file left alone.
    let snap = read(&path).unwrap_or_else(|e| panic!("{e}"));
    fs::write(&path, b"OURS\nmine\nadded\nhal").unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        write_carrying_appends(&path, b"x", snap.as_ref(), Contents::Secret),
        Err(Error::ChangedSinceRead { .. })
    ));
    assert_eq!(
        fs::read(&path).unwrap_or_default(),
        b"OURS\nmine\nadded\nhal"
    );
}

#[test]
fn a_file_replaced_by_rename_with_the_same_bytes_is_a_change() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("pgpass");
    fs::write(&path, b"same\n").unwrap_or_else(|e| panic!("{e}"));
    let snap = read(&path).unwrap_or_else(|e| panic!("{e}"));
    // An editor's save: a new file renamed over the old one.
    let other = dir.path().join("other");
    fs::write(&other, b"same\n").unwrap_or_else(|e| panic!("{e}"));
    fs::rename(&other, &path).unwrap_or_else(|e| panic!("{e}"));
    assert!(changed(write(&path, b"x", snap.as_ref(), Contents::Secret)));
    assert_eq!(fs::read(&path).unwrap_or_default(), b"same\n");
}

#[test]
fn a_missing_file_must_still_be_missing_and_a_removed_one_stays_removed() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("pgpass");
    assert!(read(&path).unwrap_or_else(|e| panic!("{e}")).is_none());
    fs::write(&path, b"created meanwhile\n").unwrap_or_else(|e| panic!("{e}"));
    assert!(changed(write(&path, b"x", None, Contents::Secret)));
    assert_eq!(fs::read(&path).unwrap_or_default(), b"created meanwhile\n");

    let snap = read(&path).unwrap_or_else(|e| panic!("{e}"));
    fs::remove_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(changed(write(&path, b"x", snap.as_ref(), Contents::Secret)));
    assert!(!path.exists());
    assert!(only_file(dir.path()).is_empty(), "no temp file left");

    // Unchanged: written, and the error is not one the user must act on.
    assert!(write(&path, b"x", None, Contents::Secret).is_ok());
    assert!(
        !Error::ChangedSinceRead { path: path.clone() }.needs_user(),
        "a retry fixes it"
    );
}

#[test]
fn a_hard_linked_file_is_rewritten_in_place_for_every_link() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("pgpass");
    let other = dir.path().join("pgpass.other-name");
    fs::write(&path, b"old\n").unwrap_or_else(|e| panic!("{e}"));
    fs::hard_link(&path, &other).unwrap_or_else(|e| panic!("{e}"));
    let snap = read(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(snap.as_ref().map(|s| s.links), Some(2));
    write(&path, b"new\n", snap.as_ref(), Contents::Secret).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fs::read(&other).unwrap_or_default(), b"new\n");
    let after = read(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        after.map(|s| (s.identity, s.links)),
        snap.map(|s| (s.identity, 2))
    );
}

#[test]
fn extended_attributes_survive_a_rename() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("pgpass");
    fs::write(&path, b"old\n").unwrap_or_else(|e| panic!("{e}"));
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let value = b"kept";
    // SAFETY: setxattr(2) reads the NUL-terminated path and name and `value`.
    let set = unsafe {
        libc::setxattr(
            c_path.as_ptr(),
            c"user.note".as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if set != 0 {
        let e = io::Error::last_os_error();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTSUP), "{e}");
        eprintln!("note: no user extended attributes on this file system");
        return;
    }
    let snap = read(&path).unwrap_or_else(|e| panic!("{e}"));
    write(&path, b"new\n", snap.as_ref(), Contents::Secret).unwrap_or_else(|e| panic!("{e}"));
    let after = read(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(
        after.map(|s| s.identity),
        snap.map(|s| s.identity),
        "renamed"
    );
    let mut buf = [0u8; 16];
    // SAFETY: getxattr(2) writes at most `buf.len()` bytes into `buf`.
    let got = unsafe {
        libc::getxattr(
            c_path.as_ptr(),
            c"user.note".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    assert_eq!(
        usize::try_from(got).ok().map(|n| &buf[..n]),
        Some(&value[..])
    );
}

#[test]
fn directory_is_refused() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let err = read(dir.path()).err().map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("not a regular file")));
}
