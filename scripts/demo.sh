#!/usr/bin/env bash
# The main job on the bundled sample, no S3 needed: copies a filesystem bucket written by real
# Loki (testdata/golden/basic-snappy: two days, one table with two ingester uploads), runs one
# loki-compactor cycle on it with that dataset's Loki config, and lists the result.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/loki-rs-demo.XXXXXX")"
cp -r "$root/testdata/golden/basic-snappy/store" "$work/bucket"
cp "$root/testdata/golden/basic-snappy/loki-compactor.yaml" "$work/loki.yaml"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p loki-compactor -p loki-inspect
bin="${CARGO_TARGET_DIR:-$root/target}/release"
echo "== before" && "$bin/loki-inspect" bucket ls --store "file://$work/bucket"
# The config's paths are relative (./bucket, ./data), as Loki ran it.
(cd "$work" && "$bin/loki-compactor" -config.file=loki.yaml -target=compactor --once)
echo "== after" && "$bin/loki-inspect" bucket ls --store "file://$work/bucket"
echo "compacted bucket: $work/bucket"
