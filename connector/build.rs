//! Stamps the binary's `--version` with the commit it was built from, when it is built from a
//! checkout of the repository (a packaged crate has no `.git` beside it: the version alone).

use std::path::Path;
use std::process::Command;

/// The trimmed output of `git -C DIR ARGS`, when it succeeds with some.
fn git(dir: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    if !Path::new(&manifest).join("../.git").exists() {
        println!("cargo:rustc-env=USAGE_CONNECTOR_VERSION={version}");
        return;
    }
    match git(&manifest, &["rev-parse", "--short=12", "HEAD"]) {
        Some(commit) => {
            println!("cargo:rustc-env=USAGE_CONNECTOR_VERSION={version} (commit {commit})")
        }
        None => println!("cargo:rustc-env=USAGE_CONNECTOR_VERSION={version}"),
    }
    // Built again when HEAD moves: a checkout changes HEAD, a commit the branch it names (a
    // loose ref, or packed-refs). Only files that exist: cargo takes a missing one as changed.
    let head_dir = git(&manifest, &["rev-parse", "--absolute-git-dir"]);
    let refs_dir = git(
        &manifest,
        &["rev-parse", "--path-format=absolute", "--git-common-dir"],
    );
    let branch = git(&manifest, &["symbolic-ref", "-q", "HEAD"]);
    let mut watched = Vec::new();
    if let Some(dir) = &head_dir {
        watched.push(Path::new(dir).join("HEAD"));
    }
    if let Some(dir) = &refs_dir {
        watched.push(Path::new(dir).join("packed-refs"));
        if let Some(branch) = &branch {
            watched.push(Path::new(dir).join(branch));
        }
    }
    for path in watched.iter().filter(|p| p.is_file()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
