//! Credentials never come back out: not from a service's echo of the token request, not
//! from a token pasted into flagsync.yaml by mistake.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Output;

use crate::common::{Emu, quickstart_copy, text};

fn all(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A loopback server that answers every request with HTTP 400 and a body built from the
/// request's body (`echo`), as some token endpoints do. Serves `requests` requests.
fn echo_server(requests: usize, echo: fn(&str) -> String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let answer = echo(&String::from_utf8_lossy(&body));
            let _ = write!(
                stream,
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    format!("http://{addr}")
}

/// A repository whose only provider is Confidence with client credentials.
fn confidence_repo() -> tempfile::TempDir {
    let repo = quickstart_copy();
    fs::write(
        repo.path().join("flagsync.yaml"),
        "confidence:\n  client_id_env: CONFIDENCE_CLIENT_ID\n  client_secret_env: CONFIDENCE_CLIENT_SECRET\n  rollouts: rollouts\n",
    )
    .unwrap();
    repo
}

fn plan_with_credentials(dir: &Path, iam: &str, id: &str, secret: &str) -> Output {
    let emu = Emu::start();
    emu.command(&["-vvv", "plan"], dir)
        .env("FLAGSYNC_CONFIDENCE_IAM_URL", iam)
        .env("CONFIDENCE_CLIENT_ID", id)
        .env("CONFIDENCE_CLIENT_SECRET", secret)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap()
}

#[test]
fn an_echoed_token_request_never_shows_the_client_id_or_secret() {
    let repo = confidence_repo();
    // A JSON error whose message quotes the request, and a plain-text echo.
    let echoes: [fn(&str) -> String; 2] = [
        |body| {
            serde_json::json!({"code": 3, "message": format!("invalid request: {body}")})
                .to_string()
        },
        |body| format!("bad request: {body}"),
    ];
    for echo in echoes {
        for (id, secret) in [
            // Long enough to be redacted in place.
            ("client-id-0123456789", "client-secret-abcdefghijklmnop"),
            // Short ones: the whole answer is withheld.
            ("c1", "s3-x/\"q"),
        ] {
            let iam = echo_server(5, echo);
            let out = plan_with_credentials(repo.path(), &iam, id, secret);
            let all = all(&out);
            assert_eq!(out.status.code(), Some(1), "{}", text(&out));
            assert!(all.contains("HTTP 400"), "{}", text(&out));
            for value in [id, secret] {
                assert!(!all.contains(value), "{value} leaked: {}", text(&out));
            }
            let escaped = serde_json::to_string(secret).unwrap();
            assert!(!all.contains(escaped.trim_matches('"')), "{}", text(&out));
        }
    }
}

#[test]
fn a_token_written_in_flagsync_yaml_is_never_shown() {
    let emu = Emu::start();
    for token in [
        // Not a variable name at all.
        "8f14e45f-ceea-467a-9af0-fd0c1d2e3b4a",
        // Well-formed as a name, but a token all the same.
        "ghx7Kq2LmN9pR4sT6vW8yZ1a",
    ] {
        let repo = quickstart_copy();
        let path = repo.path().join("flagsync.yaml");
        let config = fs::read_to_string(&path).unwrap().replace(
            "token_env: CLOUDBEES_API_TOKEN",
            &format!("token_env: {token}"),
        );
        fs::write(&path, config).unwrap();
        for args in [&["validate"][..], &["plan"]] {
            let out = emu.flagsync(args, repo.path());
            let all = all(&out);
            assert_eq!(out.status.code(), Some(1), "{}", text(&out));
            assert!(!all.contains(token), "{args:?} showed it: {}", text(&out));
            assert!(
                all.contains("flagsync.yaml:10:14: this names the environment variable"),
                "{}",
                text(&out)
            );
        }
    }
}

/// A token pasted in place of a variable's name stays hidden from the snippets of other
/// problems in flagsync.yaml (which show the lines around their own), and from the commands
/// that do not validate flagsync.yaml before connecting (doctor, results).
#[test]
fn a_token_in_flagsync_yaml_is_hidden_from_every_snippet_and_command() {
    let emu = Emu::start();
    let token = "ghx7Kq2LmN9pR4sT6vW8yZ1a";
    let repo = tempfile::tempdir().unwrap();
    fs::create_dir(repo.path().join("rollouts")).unwrap();
    // No manifest: that error's snippet is at line 1, next to the token.
    let config = format!("confidence:\n  token_env: {token}\n  rollouts: rollouts\n");
    fs::write(repo.path().join("flagsync.yaml"), &config).unwrap();
    for args in [&["validate"][..], &["plan"]] {
        let out = emu.flagsync(args, repo.path());
        let all = all(&out);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(!all.contains(token), "{args:?} showed it: {}", text(&out));
        assert!(all.contains("no-manifests"), "{}", text(&out));
        assert!(
            all.contains("flagsync.yaml:2:14: this names the environment variable"),
            "{}",
            text(&out)
        );
    }
    // A value no rule checks, because flagsync.yaml does not deserialize: the snippet of
    // that error is next to the token.
    fs::write(
        repo.path().join("flagsync.yaml"),
        format!("confidence:\n  token_env: {token}\n  region: mars\n  rollouts: rollouts\n"),
    )
    .unwrap();
    let out = emu.flagsync(&["validate"], repo.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(all(&out).contains("unknown value `mars`"), "{}", text(&out));
    assert!(!all(&out).contains(token), "showed it: {}", text(&out));
    fs::write(repo.path().join("flagsync.yaml"), &config).unwrap();
    for args in [&["doctor"][..], &["results", "r"]] {
        let out = emu.flagsync(args, repo.path());
        let all = all(&out);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(!all.contains(token), "{args:?} showed it: {}", text(&out));
        assert!(
            all.contains("`confidence.token_env` does not name an"),
            "{}",
            text(&out)
        );
    }
}
