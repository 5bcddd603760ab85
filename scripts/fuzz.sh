#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time (FUZZ_SECONDS each, default 20),
# starting from the seed corpus in fuzz/corpus/<target>/. New inputs go to a scratch corpus,
# so the repository is not changed; a crash stops the script with the failing input in
# fuzz/artifacts/<target>/.
#
# libFuzzer needs a nightly compiler. A nightly toolchain is used when rustup has one; otherwise
# the stable compiler is allowed its unstable flags with RUSTC_BOOTSTRAP=1. Either way the
# targets build without a sanitizer (`--sanitizer none`): the code under test has no unsafe
# code, and the fuzzer looks for panics, overflows and broken invariants.
#   scripts/fuzz.sh                 every target
#   scripts/fuzz.sh session_path    one target
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-20}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is not installed: cargo install cargo-fuzz --locked" >&2
  exit 2
fi
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi
target_dir="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo "${toolchain[@]}" fuzz list --fuzz-dir fuzz)
fi
for target in "${targets[@]}"; do
  echo "fuzz: $target for ${seconds}s"
  mkdir -p "$scratch/$target"
  cargo "${toolchain[@]}" fuzz run --fuzz-dir fuzz --sanitizer none --target-dir "$target_dir" \
    "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -max_len=65536 -print_final_stats=1
done
