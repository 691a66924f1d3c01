#!/usr/bin/env bash
# Fetch the victim page's vendored JavaScript from the npm registry, pinned and verified.
#
# hash-wasm streams MD5 and SHA-256 in the browser (WebAssembly, MIT licence). The
# tarball's sha512 must equal the registry's published integrity before anything
# is copied; the files land in src/jikimi/ui/victim/static/vendor/ and are committed,
# so serving the page never needs the network.
#
#   bash scripts/vendor_victim_js.sh        # needs npm (or curl) and the npm registry
set -euo pipefail

NAME=hash-wasm
VERSION=4.13.0
INTEGRITY="sha512-GrWl7wsV46fKIXQZB5ebskLZLAmKL6d9RS0fspCxDeQyjoNu1AfTJTMLPOJyfzaQm0ldFiwFN21/w+sE/kgEFQ=="
FILES=(dist/md5.umd.min.js dist/sha256.umd.min.js LICENSE)

here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/src/jikimi/ui/victim/static/vendor/$NAME"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
if command -v npm >/dev/null; then
    npm pack --silent "$NAME@$VERSION" >/dev/null
else
    curl -fsSLo "$NAME-$VERSION.tgz" "https://registry.npmjs.org/$NAME/-/$NAME-$VERSION.tgz"
fi
tarball="$NAME-$VERSION.tgz"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [[ "$actual" != "$INTEGRITY" ]]; then
    echo "integrity mismatch for $tarball: $actual" >&2
    exit 1
fi
tar -xzf "$tarball"
mkdir -p "$dest"
for f in "${FILES[@]}"; do
    cp "package/$f" "$dest/$(basename "$f")"
done
printf '%s@%s\n%s\n' "$NAME" "$VERSION" "$INTEGRITY" >"$dest/VERSION"
echo "vendored $NAME@$VERSION into ${dest#"$here"/}"
