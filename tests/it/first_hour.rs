//! A new user's first hour: installing, shell completions and the manual, `--version`,
//! and the `load` one-liners.

use std::process::Command;

use crate::harness::rowflow;

/// `--version` names the version (and the commit, in a checkout); completions for every
/// shell clap knows name the commands; the manual is roff with every command.
#[test]
fn version_completions_and_manual() {
    let dir = tempfile::tempdir().unwrap();
    let r = rowflow(dir.path(), &["--version"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .starts_with(&format!("rowflow {}", env!("CARGO_PKG_VERSION"))),
        "{}",
        r.stdout
    );
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let r = rowflow(dir.path(), &["completions", shell]);
        assert_eq!(r.code, 0, "{shell}: {r:?}");
        for cmd in ["load", "run", "check", "completions"] {
            assert!(r.stdout.contains(cmd), "{shell} completion lacks {cmd}");
        }
    }
    let r = rowflow(dir.path(), &["completions", "tcsh"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("bash"), "the valid shells: {}", r.stderr);
    let r = rowflow(dir.path(), &["man"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains(".TH rowflow 1"), "{}", &r.stdout[..200]);
    let pages = dir.path().join("man");
    let r = rowflow(dir.path(), &["man", "--dir", pages.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    let load = std::fs::read_to_string(pages.join("rowflow-load.1")).unwrap();
    assert!(
        load.contains(".TH rowflow-load 1") && load.contains("\\-\\-into"),
        "{load}"
    );
}

/// `cargo install --path .` gives a working binary (slow: a release build of its own;
/// run by `.ci/run`).
#[test]
#[ignore = "a release build; .ci/run runs it"]
fn cargo_install_gives_a_working_binary() {
    let root = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO"))
        .args(["install", "--locked", "--offline", "--path"])
        .arg(env!("CARGO_MANIFEST_DIR"))
        .arg("--root")
        .arg(root.path())
        .arg("--target-dir")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .status()
        .expect("run cargo install");
    assert!(status.success());
    let bin = root.path().join("bin").join("rowflow");
    let data = root.path().join("t.csv");
    std::fs::write(&data, "id,name\n1,a\n2,b\n").unwrap();
    let db = root.path().join("t.db");
    let out = Command::new(&bin)
        .args(["load", data.to_str().unwrap(), "--into"])
        .arg(format!("sqlite://{}", db.display()))
        .args(["--json", "-q"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["rows_written"], 2);
}
