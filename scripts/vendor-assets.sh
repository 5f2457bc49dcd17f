#!/usr/bin/env bash
# Fetches the browser assets opsbook serves itself (DESIGN.md: "ship their released files under
# static/vendor/ with version and licence, fetched by a script from the npm registry ... never
# edited by hand") and writes MANIFEST (package, version, the registry's integrity, sha256 of each
# file), which tests/web/test_docs_offline.py checks the shipped files against.
#
# Usage: scripts/vendor-assets.sh            # fetch the versions pinned below
# Change a version here, run it, commit the files and MANIFEST together.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENDOR="$ROOT/src/opsbook/web/static/vendor"

# name  npm package@version  files to take from the package (paths inside package/; each is
# shipped flat, under its own file name)
ASSETS=(
  "swagger-ui swagger-ui-dist@5.35.0 swagger-ui-bundle.js swagger-ui.css favicon-32x32.png LICENSE NOTICE"
  "uplot uplot@1.6.32 dist/uPlot.iife.min.js dist/uPlot.min.css LICENSE"
)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for entry in "${ASSETS[@]}"; do
  read -r name spec files <<<"$entry"
  package="${spec%@*}"
  version="${spec##*@}"
  dest="$VENDOR/$name"
  echo "vendoring $spec into ${dest#"$ROOT"/}"
  # npm pack checks the tarball against the registry's integrity before writing it.
  (cd "$work" && npm pack --silent "$spec" >/dev/null)
  tarball="$(ls "$work"/*.tgz)"
  integrity="$(npm view "$spec" dist.integrity)"
  mkdir -p "$work/$name"
  tar -xzf "$tarball" -C "$work/$name"
  rm -rf "$dest"
  mkdir -p "$dest"
  {
    echo "# Fetched by scripts/vendor-assets.sh from the npm registry; never edited by hand."
    echo "package $package"
    echo "version $version"
    echo "integrity $integrity"
  } >"$dest/MANIFEST"
  for file in $files; do
    base="$(basename "$file")"
    cp "$work/$name/package/$file" "$dest/$base"
    echo "sha256 $(sha256sum "$dest/$base" | cut -d' ' -f1) $base" >>"$dest/MANIFEST"
  done
  rm -f "$tarball"
done
