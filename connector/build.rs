//! Stamps the binary's `--version` with the commit it was built from, when it is built from a
//! checkout of the repository (a packaged crate has no `.git` beside it: the version alone).

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}

fn main() {
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let checkout = Path::new(&manifest).join("../.git").exists();
    let commit = checkout
        .then(|| git(&["-C", &manifest, "rev-parse", "--short=12", "HEAD"]))
        .flatten();
    match &commit {
        Some(commit) => {
            println!("cargo:rustc-env=USAGE_CONNECTOR_VERSION={version} (commit {commit})")
        }
        None => println!("cargo:rustc-env=USAGE_CONNECTOR_VERSION={version}"),
    }
    println!("cargo:rerun-if-changed=build.rs");
    // Built again when HEAD moves: a checkout changes HEAD, a commit the branch it names.
    if let Some(dir) = checkout
        .then(|| git(&["-C", &manifest, "rev-parse", "--absolute-git-dir"]))
        .flatten()
    {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/packed-refs");
        if let Some(branch) = git(&["-C", &manifest, "symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{branch}");
        }
    }
}
