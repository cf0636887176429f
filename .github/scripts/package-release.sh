#!/usr/bin/env bash
# Release packaging, run by .github/workflows/release.yml (and by the test that installs a
# packaged binary with the composite action's script).
#
#   package-release.sh archive TARGET DIR OUT   DIR/flagsync[.exe] (a cargo output
#                                               directory) → OUT/flagsync-TARGET.tar.gz, or
#                                               .zip for Windows, holding flagsync-TARGET/
#                                               with the binary and README.md
#   package-release.sh checksums OUT            OUT/SHA256SUMS of every archive in OUT, in
#                                               `sha256sum` format (what the action checks)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

native_path() {
  if command -v cygpath >/dev/null 2>&1; then cygpath -w "$1"; else printf '%s\n' "$1"; fi
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$@"; else shasum -a 256 "$@"; fi
}

case "${1:-}" in
  archive)
    [ $# -eq 4 ] || { echo "usage: $0 archive TARGET DIR OUT" >&2; exit 2; }
    target=$2 dir=$3 out=$4
    case "$target" in
      *-windows-*) exe=flagsync.exe ext=zip ;;
      *) exe=flagsync ext=tar.gz ;;
    esac
    [ -f "${dir}/${exe}" ] || { echo "no ${dir}/${exe}" >&2; exit 1; }
    mkdir -p "$out"
    out=$(cd "$out" && pwd)
    stage=$(mktemp -d)
    trap 'rm -rf "$stage"' EXIT
    name="flagsync-${target}"
    mkdir "${stage}/${name}"
    cp "${dir}/${exe}" "${root}/README.md" "${stage}/${name}/"
    chmod 755 "${stage}/${name}/${exe}"
    archive="${out}/${name}.${ext}"
    rm -f "$archive"
    if [ "$ext" = zip ]; then
      if command -v zip >/dev/null 2>&1; then
        (cd "$stage" && zip -q -r "$archive" "$name")
      else
        (cd "$stage" && 7z a -tzip -bd "$(native_path "$archive")" "$name" >/dev/null)
      fi
    else
      tar -czf "$archive" -C "$stage" "$name"
    fi
    echo "$archive"
    ;;
  checksums)
    [ $# -eq 2 ] || { echo "usage: $0 checksums OUT" >&2; exit 2; }
    cd "$2"
    shopt -s nullglob
    archives=(flagsync-*.tar.gz flagsync-*.zip)
    [ ${#archives[@]} -gt 0 ] || { echo "no archives in $2" >&2; exit 1; }
    sha256 "${archives[@]}" >SHA256SUMS
    cat SHA256SUMS
    ;;
  *)
    echo "usage: $0 archive TARGET DIR OUT | checksums OUT" >&2
    exit 2
    ;;
esac
