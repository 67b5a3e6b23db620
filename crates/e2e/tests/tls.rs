//! TLS end to end: the server serves https/wss with a certificate from a
//! private CA; a CLI that trusts that CA calls through it, one that does not
//! is refused with a sentence.

use softphone_e2e::{Cli, TestServer};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A CA and a certificate for 127.0.0.1 signed by it, made with openssl.
fn make_certs(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").expect("ext");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.pem",
    ]);
}

#[test]
fn calls_work_over_tls_and_an_untrusted_certificate_is_refused() {
    let certs = tempfile::tempdir().expect("temp dir");
    make_certs(certs.path());
    let cert = certs.path().join("server.pem");
    let key = certs.path().join("server.key");
    let ca = certs.path().join("ca.pem");
    let server = TestServer::start(&[
        "--tls-cert",
        cert.to_str().expect("path"),
        "--tls-key",
        key.to_str().expect("path"),
    ]);
    assert!(server.url().starts_with("https://"), "{}", server.url());
    let ca = ca.to_str().expect("path");
    let mut bob = Cli::spawn(
        &server.url(),
        "bob",
        &["--ca-cert", ca, "answer", "--hangup-after", "1"],
    );
    bob.expect_connected();
    let alice = Cli::spawn(&server.url(), "alice", &["--ca-cert", ca, "call", "bob"])
        .wait(Duration::from_secs(20));
    assert_eq!(alice.code, Some(0), "{}", alice.stderr);
    assert!(alice
        .names()
        .contains(&"outgoing_call_accepted".to_string()));
    assert_eq!(bob.wait(Duration::from_secs(20)).code, Some(0));

    let stranger = Cli::spawn(&server.url(), "carol", &["users"]).wait(Duration::from_secs(20));
    assert_ne!(stranger.code, Some(0));
    assert!(
        stranger.stderr.to_lowercase().contains("certificate"),
        "{}",
        stranger.stderr
    );
}
