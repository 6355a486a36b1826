//! Builds, with a nested cargo into their own target directory, the engine's ABI module
//! (wasm32-unknown-unknown, release) and the admin console (web/, then wasm-bindgen as a
//! library, pinned to the wasm-bindgen crate's version), and hands them to the host, which
//! embeds them: a fresh clone needs no manual step. CLASSBRIDGE_ENGINE_WASM uses an engine
//! module built elsewhere.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CLASSBRIDGE_ENGINE_WASM");
    println!("cargo:rerun-if-changed=../engine/src");
    println!("cargo:rerun-if-changed=../engine/Cargo.toml");
    println!("cargo:rerun-if-changed=../Cargo.lock");
    println!("cargo:rerun-if-changed=../web/src");
    println!("cargo:rerun-if-changed=../web/Cargo.toml");
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR is set by cargo"));
    ensure_wasm_target();
    let wasm = match env::var("CLASSBRIDGE_ENGINE_WASM") {
        Ok(path) => PathBuf::from(path),
        Err(_) => build_engine(),
    };
    let embedded = out_dir.join("classbridge_engine.wasm");
    if let Err(e) = std::fs::copy(&wasm, &embedded) {
        panic!("cannot copy the engine module from {}: {e}", wasm.display());
    }
    let console = nested_build("classbridge-web", "classbridge_web.wasm");
    let out = out_dir.join("console");
    let mut bindgen = wasm_bindgen_cli_support::Bindgen::new();
    bindgen
        .input_path(&console)
        .web(true)
        .unwrap_or_else(|e| panic!("wasm-bindgen: {e}"))
        .typescript(false);
    if let Err(e) = bindgen.generate(&out) {
        panic!("wasm-bindgen could not generate the console's bindings: {e}");
    }
}

/// The engine module and the console are built for wasm32-unknown-unknown. rustup does not add
/// a toolchain file's targets to a toolchain that is already installed, so on a fresh machine
/// the first build adds it, saying so.
fn ensure_wasm_target() {
    const TARGET: &str = "wasm32-unknown-unknown";
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(sysroot) = &sysroot
        && PathBuf::from(sysroot)
            .join("lib/rustlib")
            .join(TARGET)
            .join("lib")
            .is_dir()
    {
        return;
    }
    println!(
        "cargo:warning=adding the {TARGET} target with `rustup target add {TARGET}` (first build only): the engine and the console are built for WebAssembly"
    );
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .is_ok_and(|s| s.success());
    if !added {
        panic!(
            "the {TARGET} target is not installed and `rustup target add {TARGET}` failed; \
             install it with rustup (or your distribution's rust-std for {TARGET}), then build again"
        );
    }
}

fn build_engine() -> PathBuf {
    nested_build("classbridge-engine", "classbridge_engine.wasm")
}

fn nested_build(package: &str, artifact: &str) -> PathBuf {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir
        .parent()
        .expect("host/ sits in the workspace")
        .to_path_buf();
    let target_root =
        env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), PathBuf::from);
    // A separate target directory: the outer build holds the lock on its own.
    let target_dir = target_root.join("engine-wasm");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args([
            "build",
            "--locked",
            "-p",
            package,
            "--release",
            "--target",
            "wasm32-unknown-unknown",
            "--target-dir",
        ])
        .arg(&target_dir);
    // The outer build's wrappers and flags (clippy, coverage, host RUSTFLAGS) are not for this one.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CLIPPY_ARGS",
        "CARGO_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build {package}: {e}"));
    if !status.success() {
        panic!(
            "building {package} for wasm32-unknown-unknown failed ({status}). Is the target installed? \
             Run `rustup target add wasm32-unknown-unknown` (./test.sh does it for you)."
        );
    }
    target_dir
        .join("wasm32-unknown-unknown/release")
        .join(artifact)
}
