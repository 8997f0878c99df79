//! The filestore walk never follows symbolic links unless the job opts in: a link the
//! Odoo user plants in the filestore cannot pull a file from elsewhere into an archive
//! made by a root daemon, and each skipped link is named in a warning.

use std::path::PathBuf;

use sauvegarde_tests::cli::{self, text};
use sauvegarde_tests::odoo_world::OdooWorld;
use sauvegarde_tests::postgres::{odoo_extract, read_tree};

const OUTSIDE_SECRET: &[u8] = b"root:$6$not-for-an-off-site-archive\n";

/// A world whose filestore has a link to a file outside it (`ab/stolen`) and a link to a
/// directory outside it (`zz`, holding `zz1`), and the files it had before the links.
fn world_with_links() -> (OdooWorld, Vec<String>) {
    let w = OdooWorld::new(300);
    let real: Vec<String> = read_tree(&w.path("filestore")).into_keys().collect();
    let outside = w.path("outside");
    std::fs::create_dir_all(outside.join("disk")).unwrap();
    std::fs::write(outside.join("shadow"), OUTSIDE_SECRET).unwrap();
    std::fs::write(outside.join("disk/zz1"), b"kept on another disk").unwrap();
    let filestore = w.path("filestore");
    std::fs::create_dir_all(filestore.join("ab")).unwrap();
    std::os::unix::fs::symlink(outside.join("shadow"), filestore.join("ab/stolen")).unwrap();
    std::os::unix::fs::symlink(outside.join("disk"), filestore.join("zz")).unwrap();
    (w, real)
}

/// Backs up with `extra` job lines; returns the archive's filestore and the output.
fn backup(w: &OdooWorld, extra: &str) -> (std::collections::BTreeMap<String, Vec<u8>>, String) {
    let config = w.config(extra, "");
    let out = cli::run(&config, &["backup", "prod"], "info");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let archive = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let x = w.path(&format!("extract-{}", extra.len()));
    odoo_extract(&archive, &x);
    (read_tree(&x.join("filestore")), text(&out))
}

#[test]
fn links_in_the_filestore_are_skipped_with_a_warning_naming_them() {
    let (w, real) = world_with_links();
    let (tree, output) = backup(&w, "");
    assert!(!tree.contains_key("ab/stolen"), "{:?}", tree.keys());
    assert!(
        !tree.keys().any(|k| k.starts_with("zz")),
        "{:?}",
        tree.keys()
    );
    assert!(
        !tree.values().any(|v| v.as_slice() == OUTSIDE_SECRET),
        "the outside file was archived"
    );
    // The real files are all there, and only they.
    assert!(!real.is_empty());
    assert_eq!(tree.keys().cloned().collect::<Vec<_>>(), real);
    for link in ["ab/stolen", "filestore/zz"] {
        assert!(
            output
                .lines()
                .any(|l| l.contains("symbolic link not followed") && l.contains(link)),
            "no warning naming {link}: {output}"
        );
    }
}

#[test]
fn follow_links_opts_in_to_archiving_what_links_point_to() {
    let (w, _) = world_with_links();
    let (tree, _) = backup(&w, "follow_links = true");
    assert_eq!(tree["ab/stolen"], OUTSIDE_SECRET);
    assert_eq!(tree["zz/zz1"], b"kept on another disk");
}
