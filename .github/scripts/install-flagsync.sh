#!/usr/bin/env bash
# Installs a released flagsync binary on a GitHub Actions runner; action.yml runs it.
#
# It downloads the archive for the runner's OS and architecture and the release's
# SHA256SUMS, refuses the archive unless its SHA-256 is the one listed there, checks that the
# binary runs and reports the release's version, and puts its directory on PATH for the
# following steps.
#
# Environment:
#   FLAGSYNC_VERSION       a release tag (v0.2.0; 0.2.0 is read as v0.2.0) or `latest`
#   FLAGSYNC_RELEASES_URL  where releases are, default https://github.com/flagsync/flagsync/releases
#                          (…/latest redirects to …/tag/TAG, assets are …/download/TAG/NAME);
#                          https only, or http on loopback (tests)
#   RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP, GITHUB_PATH, GITHUB_OUTPUT   set by the runner
set -euo pipefail

die() {
  # A workflow command, so the failure shows as an annotation on the run.
  local message=${1//'%'/'%25'}
  echo "::error title=flagsync install::${message}"
  exit 1
}

version=${FLAGSYNC_VERSION:-latest}
releases=${FLAGSYNC_RELEASES_URL:-https://github.com/flagsync/flagsync/releases}
releases=${releases%/}

case "$releases" in
  https://*) protocols=(--proto '=https' --proto-redir '=https') ;;
  http://127.0.0.1[:/]* | http://localhost[:/]* | 'http://[::1]'[:/]*)
    protocols=(--proto '=http' --proto-redir '=http') ;;
  *) die "refusing to download from ${releases}: only https, or http on loopback" ;;
esac

fetch() {
  curl --fail --silent --show-error --location --retry 3 --connect-timeout 20 \
    "${protocols[@]}" "$@"
}

# Windows runners hand out Windows paths; Git Bash's tools want their own.
posix_path() {
  if command -v cygpath >/dev/null 2>&1; then cygpath -u "$1"; else printf '%s\n' "$1"; fi
}
native_path() {
  if command -v cygpath >/dev/null 2>&1; then cygpath -w "$1"; else printf '%s\n' "$1"; fi
}

case "${RUNNER_OS:-}/${RUNNER_ARCH:-}" in
  Linux/X64) target=x86_64-unknown-linux-musl ;;
  Linux/ARM64) target=aarch64-unknown-linux-musl ;;
  macOS/X64) target=x86_64-apple-darwin ;;
  macOS/ARM64) target=aarch64-apple-darwin ;;
  # Windows on Arm runs x64 programs.
  Windows/X64 | Windows/ARM64) target=x86_64-pc-windows-msvc ;;
  *) die "no flagsync release is built for ${RUNNER_OS:-this OS}/${RUNNER_ARCH:-this architecture}; install it with cargo install instead" ;;
esac
case "$target" in
  *-windows-*) archive="flagsync-${target}.zip" exe=flagsync.exe ;;
  *) archive="flagsync-${target}.tar.gz" exe=flagsync ;;
esac

if [ "$version" = latest ]; then
  resolved=$(fetch --output /dev/null --write-out '%{url_effective}' "${releases}/latest") ||
    die "cannot look up the latest release at ${releases}/latest"
  case "$resolved" in
    */tag/*) version=${resolved##*/tag/} ;;
    *) die "${releases}/latest leads to no release (${resolved})" ;;
  esac
fi
case "$version" in
  [0-9]*) version="v${version}" ;;
esac
if ! [[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]]; then
  die "\`${version}\` is not a release tag such as v0.2.0"
fi

work=$(mktemp -d "$(posix_path "${RUNNER_TEMP:-${TMPDIR:-/tmp}}")/flagsync.XXXXXX")
download="${releases}/download/${version}"
fetch --output "${work}/${archive}" "${download}/${archive}" ||
  die "cannot download ${download}/${archive}"
fetch --output "${work}/SHA256SUMS" "${download}/SHA256SUMS" ||
  die "cannot download ${download}/SHA256SUMS"

expected=$(awk -v name="$archive" '$2 == name || $2 == "*" name { print $1; exit }' "${work}/SHA256SUMS")
[ -n "$expected" ] || die "SHA256SUMS of ${version} lists no ${archive}"
if command -v sha256sum >/dev/null 2>&1; then
  actual=$(sha256sum "${work}/${archive}")
else
  actual=$(shasum -a 256 "${work}/${archive}")
fi
actual=${actual%% *}
actual=${actual#\\}
[ "$actual" = "$expected" ] ||
  die "${archive} of ${version} does not match SHA256SUMS (expected ${expected}, got ${actual}); nothing was installed"

unpacked="${work}/unpacked"
mkdir "$unpacked"
case "$archive" in
  *.zip)
    if command -v unzip >/dev/null 2>&1; then
      unzip -q "${work}/${archive}" -d "$unpacked"
    else
      7z x -y "-o$(native_path "$unpacked")" "$(native_path "${work}/${archive}")" >/dev/null
    fi ;;
  *) tar -xzf "${work}/${archive}" -C "$unpacked" ;;
esac
binary="${unpacked}/flagsync-${target}/${exe}"
[ -f "$binary" ] || die "${archive} of ${version} holds no flagsync-${target}/${exe}"

bin="${work}/bin"
mkdir "$bin"
mv "$binary" "${bin}/${exe}"
chmod +x "${bin}/${exe}"
reported=$("${bin}/${exe}" --version) || die "the flagsync of ${version} does not run on this runner"
[ "$reported" = "flagsync ${version#v}" ] ||
  die "the release ${version} holds \`${reported}\`, not flagsync ${version#v}"

if [ -n "${GITHUB_PATH:-}" ]; then
  native_path "$bin" >>"$GITHUB_PATH"
fi
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "version=${version}" >>"$GITHUB_OUTPUT"
fi
echo "Installed ${reported} (${target}, SHA-256 ${actual}) in ${bin}"
