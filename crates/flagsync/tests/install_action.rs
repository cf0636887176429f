//! The composite action's install script (action.yml runs
//! .github/scripts/install-flagsync.sh) against a release that the release workflow's
//! packaging script makes, served over loopback HTTP the way GitHub serves releases
//! (`…/releases/latest` redirects to `…/releases/tag/TAG`; assets are under
//! `…/releases/download/TAG/`).
//!
//! The packaged "build" is a two-line launcher of the binary under test rather than the
//! 100 MB debug binary itself, which would take seconds to compress per archive: what is
//! checked is the packaging, download, checksum and PATH logic, and the installed command
//! still runs this flagsync.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::text;

const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn script(name: &str) -> PathBuf {
    workspace().join(".github/scripts").join(name)
}

/// Releases in `root/TAG/NAME`, served at `http://127.0.0.1:PORT/flagsync/flagsync/releases`
/// until the test process ends. The latest release is `latest`.
fn serve(root: &Path, latest: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!(
        "http://{}/flagsync/flagsync/releases",
        listener.local_addr().unwrap()
    );
    let root = root.to_owned();
    let latest = latest.to_owned();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            // The rest of the head: curl sends no body with GET.
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = request.split(' ').nth(1).unwrap_or("");
            let rest = path.strip_prefix("/flagsync/flagsync/releases/");
            let (status, headers, body) = match rest {
                Some("latest") => (
                    "302 Found",
                    format!("Location: /flagsync/flagsync/releases/tag/{latest}\r\n"),
                    Vec::new(),
                ),
                Some(tag) if tag.starts_with("tag/") => {
                    ("200 OK", String::new(), b"a release page".to_vec())
                }
                Some(asset) => match asset.strip_prefix("download/").and_then(|a| {
                    let (tag, name) = a.split_once('/')?;
                    let safe = |s: &str| !s.is_empty() && !s.contains(['/', '\\']) && s != "..";
                    (safe(tag) && safe(name)).then(|| root.join(tag).join(name))
                }) {
                    Some(file) if file.is_file() => {
                        ("200 OK", String::new(), std::fs::read(file).unwrap())
                    }
                    _ => ("404 Not Found", String::new(), Vec::new()),
                },
                None => ("404 Not Found", String::new(), Vec::new()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
            let _ = stream.flush();
            let mut rest = Vec::new();
            let _ = reader.read_to_end(&mut rest);
        }
    });
    base
}

/// A release `tag` in `root` as the release workflow makes it: one archive per target from
/// `binaries` (a cargo output directory per target), then SHA256SUMS.
fn release(root: &Path, tag: &str, targets: &[(&str, &Path)]) -> PathBuf {
    let dir = root.join(tag);
    for (target, binaries) in targets {
        let out = Command::new("bash")
            .arg(script("package-release.sh"))
            .args(["archive", target])
            .arg(binaries)
            .arg(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    let out = Command::new("bash")
        .arg(script("package-release.sh"))
        .arg("checksums")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    dir
}

/// A cargo output directory as a release build leaves it: `flagsync` and, for the Windows
/// target, `flagsync.exe`, each launching the binary under test.
fn build() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let launcher = format!(
        "#!/bin/sh\nexec '{}' \"$@\"\n",
        assert_cmd::cargo::cargo_bin("flagsync").display()
    );
    for name in ["flagsync", "flagsync.exe"] {
        let path = dir.path().join(name);
        std::fs::write(&path, &launcher).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

struct Runner {
    temp: tempfile::TempDir,
}

impl Runner {
    fn new() -> Self {
        let temp = tempfile::tempdir().unwrap();
        std::fs::write(temp.path().join("github_path"), "").unwrap();
        std::fs::write(temp.path().join("github_output"), "").unwrap();
        Self { temp }
    }

    /// The action's step, as the runner runs it on `os`/`arch`.
    fn install(&self, os: &str, arch: &str, version: &str, releases: &str) -> Output {
        Command::new("bash")
            .arg(script("install-flagsync.sh"))
            .env("FLAGSYNC_VERSION", version)
            .env("FLAGSYNC_RELEASES_URL", releases)
            .env("RUNNER_OS", os)
            .env("RUNNER_ARCH", arch)
            .env("RUNNER_TEMP", self.temp.path())
            .env("GITHUB_PATH", self.temp.path().join("github_path"))
            .env("GITHUB_OUTPUT", self.temp.path().join("github_output"))
            .output()
            .unwrap()
    }

    fn path_entries(&self) -> Vec<String> {
        std::fs::read_to_string(self.temp.path().join("github_path"))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn outputs(&self) -> String {
        std::fs::read_to_string(self.temp.path().join("github_output")).unwrap()
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn installs_the_latest_or_a_pinned_release_and_puts_it_on_path() {
    let build = build();
    let releases = tempfile::tempdir().unwrap();
    release(
        releases.path(),
        VERSION,
        &[("x86_64-unknown-linux-musl", build.path())],
    );
    let base = serve(releases.path(), VERSION);

    for version in ["latest", VERSION, VERSION.trim_start_matches('v')] {
        let runner = Runner::new();
        let out = runner.install("Linux", "X64", version, &base);
        assert_eq!(out.status.code(), Some(0), "{version}: {}", text(&out));
        assert_eq!(runner.outputs(), format!("version={VERSION}\n"));
        let path = runner.path_entries();
        assert_eq!(path.len(), 1, "{path:?}");
        // The installed binary is this flagsync: it validates the quickstart.
        let installed = Path::new(&path[0]).join("flagsync");
        let out = Command::new(&installed)
            .args(["--color", "never", "validate"])
            .arg(workspace().join("examples/quickstart"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            stdout(&out).contains(": 0 errors, 0 warnings"),
            "{}",
            text(&out)
        );
        assert!(
            installed.starts_with(runner.temp.path()),
            "installed in RUNNER_TEMP: {installed:?}"
        );
    }
}

#[test]
fn windows_gets_the_zip_and_flagsync_exe() {
    // The launcher stands in for the Windows build: packaging and unpacking the zip are
    // what is checked (it runs here under its .exe name).
    let windows_build = build();
    let releases = tempfile::tempdir().unwrap();
    let dir = release(
        releases.path(),
        VERSION,
        &[("x86_64-pc-windows-msvc", windows_build.path())],
    );
    assert!(dir.join("flagsync-x86_64-pc-windows-msvc.zip").is_file());
    let base = serve(releases.path(), VERSION);

    // Windows on Arm runs the x64 build.
    for arch in ["X64", "ARM64"] {
        let runner = Runner::new();
        let out = runner.install("Windows", arch, VERSION, &base);
        assert_eq!(out.status.code(), Some(0), "{arch}: {}", text(&out));
        let path = runner.path_entries();
        assert!(
            Path::new(&path[0]).join("flagsync.exe").is_file(),
            "{path:?}"
        );
    }
}

#[test]
fn an_archive_that_does_not_match_sha256sums_is_refused() {
    let build = build();
    let releases = tempfile::tempdir().unwrap();
    let dir = release(
        releases.path(),
        VERSION,
        &[("aarch64-apple-darwin", build.path())],
    );
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let wrong = format!("{}{}", "0".repeat(64), &sums[64..]);
    std::fs::write(dir.join("SHA256SUMS"), wrong).unwrap();
    let base = serve(releases.path(), VERSION);

    let runner = Runner::new();
    let out = runner.install("macOS", "ARM64", VERSION, &base);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stdout(&out).contains(
            "::error title=flagsync install::flagsync-aarch64-apple-darwin.tar.gz of \
             v0.1.0 does not match SHA256SUMS (expected 0000"
        ),
        "{}",
        text(&out)
    );
    assert!(runner.path_entries().is_empty());
    assert!(runner.outputs().is_empty());

    // An archive SHA256SUMS does not list is refused as well.
    std::fs::write(dir.join("SHA256SUMS"), "").unwrap();
    let out = runner.install("macOS", "ARM64", VERSION, &base);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stdout(&out).contains("SHA256SUMS of v0.1.0 lists no flagsync-aarch64-apple-darwin.tar.gz"),
        "{}",
        text(&out)
    );
    assert!(runner.path_entries().is_empty());
}

#[test]
fn what_cannot_be_installed_fails_with_the_reason() {
    let build = build();
    let releases = tempfile::tempdir().unwrap();
    release(
        releases.path(),
        VERSION,
        &[("x86_64-unknown-linux-musl", build.path())],
    );
    let base = serve(releases.path(), VERSION);
    let runner = Runner::new();
    for (os, arch, version, releases, reason) in [
        (
            "Linux",
            "ARM",
            VERSION,
            base.as_str(),
            "no flagsync release is built for Linux/ARM",
        ),
        (
            "Linux",
            "ARM64",
            VERSION,
            &base,
            "cannot download http://127.0.0.1:",
        ),
        (
            "Linux",
            "X64",
            "v9.9.9",
            &base,
            "/download/v9.9.9/flagsync-x86_64-unknown-linux-musl.tar.gz",
        ),
        (
            "Linux",
            "X64",
            "main",
            &base,
            "`main` is not a release tag such as v0.2.0",
        ),
        (
            "Linux",
            "X64",
            VERSION,
            "http://example.com/releases",
            "only https, or http on loopback",
        ),
    ] {
        let out = runner.install(os, arch, version, releases);
        assert_eq!(out.status.code(), Some(1), "{reason}: {}", text(&out));
        assert!(
            stdout(&out).starts_with("::error title=flagsync install::"),
            "{}",
            text(&out)
        );
        assert!(stdout(&out).contains(reason), "{reason}: {}", text(&out));
    }
    assert!(runner.path_entries().is_empty());
}
