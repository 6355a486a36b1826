#!/usr/bin/env bash
# Runs every classbridge test on a fresh machine: installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")"

step() { printf '\n==> %s\n' "$*"; }

step "toolchain (pinned in rust-toolchain.toml) with the wasm32 target"
rustup show active-toolchain >/dev/null 2>&1 || rustup toolchain install "$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml)"
rustup target add wasm32-unknown-unknown
rustup component add rustfmt clippy

step "wasm-bindgen-cli at the version of the wasm-bindgen crate in Cargo.lock"
want=$(awk '$0=="name = \"wasm-bindgen\"" {getline; gsub(/"/, "", $3); print $3; exit}' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ -n "$want" ] && [ "$have" != "$want" ]; then
  # --locked first for a reproducible tool; the registry mirror may lack a locked
  # transitive version (seen: webpki-roots), so fall back to a fresh resolution.
  cargo install wasm-bindgen-cli --version "=$want" --locked \
    || cargo install wasm-bindgen-cli --version "=$want"
fi

step "Chromium and ChromeDriver for the browser tests"
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
export CHROMEDRIVER="$(command -v chromedriver)"
export CHROMIUM="$(command -v chromium)"

step "a production build carries no stand-in code"
# `classbridge demo` is a default feature; without it, neither the stand-in servers nor the
# district generator may be linked into the host.
if cargo tree -p classbridge --no-default-features -e normal,build --prefix none | grep -E '^(classbridge-tests|tempfile) '; then
  echo "classbridge --no-default-features depends on test code" >&2
  exit 1
fi

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p classbridge-engine --features schema --all-targets -- -D warnings

step "engine for WebAssembly: the ABI module (zero imports) and the web build"
cargo build -p classbridge-engine --release --target wasm32-unknown-unknown
if [ -x ../shared/tools/wasm-imports ]; then
  ../shared/tools/wasm-imports target/wasm32-unknown-unknown/release/classbridge_engine.wasm --expect-none
fi
cargo build -p classbridge-engine --features web --target wasm32-unknown-unknown

step "the engine's web bindings in headless Chromium (wasm-bindgen-test)"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test -p classbridge-engine --features web --target wasm32-unknown-unknown --test web

step "tests"
# The end-to-end tests in tests/ run the real classbridge binary; build it first so they
# never run a stale one.
cargo build -p classbridge
cargo test --workspace
# The checked-in JSON Schema of the ABI must match the types.
cargo test -p classbridge-engine --features schema --test schema

step "the README's demo (cargo run -p classbridge -- demo)"
cargo run -q -p classbridge -- demo > target/demo.log 2>&1 || { tail -n 40 target/demo.log; exit 1; }
tail -n 3 target/demo.log
echo
echo "Console screenshots: target/screenshots/"
