//! The fake's endpoints over HTTPS, with a certificate from a test CA:
//! reached by a client trusting that CA, refused by one trusting another.

mod common;

use common::T;
use fake_google::FakeGoogle;
use fake_google::tls::TestCa;

fn https_get(addr: &str, name: &str, ca: &TestCa, path: &str) -> std::io::Result<String> {
    common::https_get(addr, name, ca.cert_der(), path)
}

fn authority(url: &str) -> &str {
    url.strip_prefix("https://").unwrap()
}

#[test]
fn https_is_reached_only_with_the_right_ca() {
    let ca = TestCa::new("fake-google test CA").unwrap();
    let google = FakeGoogle::start_tls(&ca).unwrap();
    let url = google.https_url().unwrap();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    assert_ne!(url.replace("https", "http"), google.http_url());
    let token = google.mint("kai@altostrat.com", T, &[], 180);

    for name in ["127.0.0.1", "localhost"] {
        let answer = https_get(
            authority(&url),
            name,
            &ca,
            &format!("/tokeninfo?access_token={token}"),
        )
        .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
        assert!(
            answer.contains("\"email\":\"kai@altostrat.com\""),
            "{answer}"
        );
    }
    // The same state as the plain server.
    assert_eq!(google.tokeninfo_calls(), 2);

    // Another CA, or a name the certificate does not carry: refused.
    let other = TestCa::new("some other CA").unwrap();
    let err = https_get(authority(&url), "127.0.0.1", &other, "/stats").unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
    let err = https_get(authority(&url), "db.example.test", &ca, "/stats").unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");

    let cert = google.https_cert().unwrap();
    assert!(cert.covers("::1") && cert.covers("localhost"));
    assert!(cert.covers(fake_google::TLS_TEST_NAME));
    assert_eq!(cert.ca_pem(), ca.cert_pem());
    assert!(FakeGoogle::start().unwrap().https_url().is_none());
}

#[test]
fn plain_http_on_the_https_port_gets_nothing() {
    let ca = TestCa::new("fake-google test CA").unwrap();
    let google = FakeGoogle::start_tls(&ca).unwrap();
    let url = google.https_url().unwrap().replace("https://", "http://");
    // The TLS side waits for the rest of what it takes for a record, so the
    // client gives up first.
    let timeout = std::time::Duration::from_millis(300);
    assert!(fake_google::client::get(&format!("{url}/stats"), timeout).is_err());
}
