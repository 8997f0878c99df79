//! The status page of a real daemon on a loopback port: authentication (session cookie,
//! CSRF, API token, login rate limit), the backup trigger through the scheduler, and no
//! secret in any page or response.

mod daemon_common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use argon2::password_hash::{PasswordHasher, SaltString};
use daemon_common::{World, WAIT};
use reqwest::blocking::{Client, Response};
use reqwest::header::{AUTHORIZATION, COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use sauvegarde_tests::build::artifacts;
use sauvegarde_tests::net::{free_port, wait_for_port};

const PASSWORD: &str = "correct horse battery staple";
const TOKEN: &str = "tok-7f3a9c1e5b2d4f6a8c0e2b4d6f8a1c3e";

fn password_hash() -> String {
    let salt = SaltString::from_b64("c2FsdHNhbHRzYWx0c2FsdA").expect("salt");
    argon2::Argon2::default()
        .hash_password(PASSWORD.as_bytes(), &salt)
        .expect("hash")
        .to_string()
}

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// The `[web]` table on `listen`, its token in a 0600 file.
fn web_table(w: &World, listen: &str, extra: &str) -> String {
    let token_file = w.path("web-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write token");
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    format!(
        "[web]\nlisten = \"{listen}\"\npassword_hash = \"{}\"\ntoken_file = {token_file:?}\n{extra}\n",
        password_hash()
    )
}

fn login(http: &Client, base: &str, password: &str) -> Response {
    http.post(format!("{base}/login"))
        .form(&[("password", password)])
        .send()
        .expect("POST /login")
}

/// The `name=value` of a `Set-Cookie` header.
fn cookie_of(r: &Response) -> (String, String) {
    let header = r
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("Set-Cookie")
        .to_string();
    let pair = header.split(';').next().unwrap_or_default().to_string();
    (pair, header)
}

/// The CSRF token of a page's forms.
fn csrf_of(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("a CSRF field") + marker.len();
    let end = page[start..].find('"').expect("end of the CSRF field");
    page[start..start + end].to_string()
}

#[test]
fn the_status_page_needs_a_login_and_the_api_its_token() {
    let w = World::new(&["alpha"]);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    // pg_dump waits a little: the second trigger finds the job running.
    let slow = w.pg_dump_wrapper("sleep 3\nexec \"$REAL\" \"$@\"");
    let config = w.write_config(&format!(
        "{}{}{}",
        w.header(2),
        web_table(&w, &format!("127.0.0.1:{port}"), ""),
        w.job("nightly", "alpha", &format!("pg_dump = {slow:?}"))
    ));
    let hash = password_hash();
    let mut daemon = w.daemon(&config, None);
    wait_for_port(port, WAIT);
    let http = client();

    // Nothing without a session or the token.
    for path in ["/api/v1/jobs", "/api/v1/history"] {
        let r = http.get(format!("{base}{path}")).send().expect("GET");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    for path in ["/", "/history"] {
        let r = http.get(format!("{base}{path}")).send().expect("GET");
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.headers()[LOCATION], "/login", "{path}");
    }
    let trigger = format!("{base}/api/v1/jobs/nightly/backup");
    let r = http.post(&trigger).send().expect("POST trigger");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = http
        .post(&trigger)
        .header(AUTHORIZATION, format!("Bearer {TOKEN}x"))
        .send()
        .expect("POST trigger");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a wrong token");

    // The login sets a session cookie the page's scripts cannot read nor other sites send.
    let r = login(&http, &base, PASSWORD);
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (cookie, header) = cookie_of(&r);
    assert!(header.contains("HttpOnly"), "{header}");
    assert!(header.contains("SameSite=Strict"), "{header}");
    let overview = http
        .get(format!("{base}/"))
        .header(COOKIE, &cookie)
        .send()
        .expect("GET /");
    assert_eq!(overview.status(), StatusCode::OK);
    let overview = overview.text().expect("overview");
    assert!(overview.contains("nightly") && overview.contains("Backup now"));
    assert!(overview.contains("<title>never ran"), "no backup yet");
    let csrf = csrf_of(&overview);

    // A POST without the session's CSRF token is refused, as a form and on the API.
    let r = http
        .post(format!("{base}/jobs/nightly/backup"))
        .header(COOKIE, &cookie)
        .form(&[("csrf", "forged")])
        .send()
        .expect("POST form");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = http
        .post(&trigger)
        .header(COOKIE, &cookie)
        .send()
        .expect("POST trigger");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = http
        .post(format!("{base}/logout"))
        .header(COOKIE, &cookie)
        .send()
        .expect("POST logout");
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "logout needs the CSRF token too"
    );

    // The token starts a backup through the scheduler: never twice at once.
    let r = http
        .post(&trigger)
        .header(AUTHORIZATION, format!("Bearer {TOKEN}"))
        .send()
        .expect("POST trigger");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let started: serde_json::Value = r.json().expect("trigger json");
    assert_eq!(started["job"], "nightly");
    assert!(started["id"].as_u64().is_some(), "{started}");
    let r = http
        .post(&trigger)
        .header(AUTHORIZATION, format!("Bearer {TOKEN}"))
        .send()
        .expect("POST trigger");
    assert_eq!(r.status(), StatusCode::CONFLICT, "the job runs already");
    daemon.wait_until("the triggered backup is done", || {
        w.done(&config, "nightly") == 1
    });

    // The API says what the command line says.
    let api: serde_json::Value = http
        .get(format!("{base}/api/v1/history?job=nightly"))
        .header(COOKIE, &cookie)
        .send()
        .expect("GET history")
        .json()
        .expect("history json");
    let cli = w.history(&config, "nightly");
    assert_eq!(api.as_array().map(Vec::len), Some(1));
    assert_eq!(api[0]["file_name"], cli[0]["file_name"]);
    assert_eq!(api[0]["state"], "done");

    // With the CSRF token, "Backup now" goes through (and back to the overview).
    let r = http
        .post(format!("{base}/jobs/nightly/backup"))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .expect("POST form");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    daemon.wait_until("the second backup is done", || {
        w.done(&config, "nightly") == 2
    });

    // No secret in any page or response.
    let mut bodies = Vec::new();
    for path in [
        "/",
        "/history",
        "/history?job=nightly&state=done&page=1",
        "/login",
        "/api/v1/jobs",
        "/api/v1/history",
    ] {
        let r = http
            .get(format!("{base}{path}"))
            .header(COOKIE, &cookie)
            .send()
            .expect("GET");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let headers = format!("{:?}", r.headers());
        bodies.push((path, format!("{headers}\n{}", r.text().expect("body"))));
    }
    let history_page = &bodies[1].1;
    assert!(history_page.contains("nightly") && history_page.contains("done"));
    let jobs: serde_json::Value =
        serde_json::from_str(bodies[4].1.split_once('\n').expect("body").1).expect("jobs json");
    assert_eq!(jobs[0]["id"], "nightly");
    assert_eq!(jobs[0]["last"]["state"], "done");
    for (path, body) in &bodies {
        for secret in [PASSWORD, TOKEN, hash.as_str()] {
            assert!(!body.contains(secret), "{path} shows a secret");
        }
    }

    // The history page's filters.
    let page = |path: &str| {
        http.get(format!("{base}{path}"))
            .header(COOKIE, &cookie)
            .send()
            .expect("GET")
            .text()
            .expect("body")
    };
    let first = cli[0]["file_name"].as_str().expect("file name");
    assert!(page("/history?database=alpha").contains(first));
    assert!(!page("/history?database=beta").contains(first));
    assert!(page("/history?state=failed").contains("No backup recorded"));
    assert!(page("/history?job=nightly&page=2").contains("Newer"));

    // Wrong passwords are refused, then the address is held off for a minute.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(login(&http, &base, "wrong").status());
    }
    assert_eq!(statuses[..5], [StatusCode::UNAUTHORIZED; 5]);
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);
    let r = login(&http, &base, PASSWORD);
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right one"
    );

    // Logging out ends the session.
    let r = http
        .post(format!("{base}/logout"))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .expect("POST logout");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = http
        .get(format!("{base}/api/v1/jobs"))
        .header(COOKIE, &cookie)
        .send()
        .expect("GET");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let log = daemon.log();
    for secret in [PASSWORD, TOKEN, hash.as_str()] {
        assert!(!log.contains(secret), "the daemon's log shows a secret");
    }
}

#[test]
fn a_non_loopback_listen_without_tls_is_a_configuration_error() {
    let w = World::new(&[]);
    let check = |web: &str| {
        let config = w.write_config(&format!("{}{web}", w.header(1)));
        Command::new(artifacts().host_bin())
            .arg("--config")
            .arg(config)
            .args(["config", "check"])
            .stdin(Stdio::null())
            .output()
            .expect("run config check")
    };
    let out = check(&web_table(&w, "0.0.0.0:8350", ""));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("web.listen"), "{stderr}");
    for secret in [PASSWORD, TOKEN] {
        assert!(!stderr.contains(secret));
    }

    let out = check(&web_table(&w, "0.0.0.0:8350", "behind_proxy = true"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = check(&web_table(&w, "127.0.0.1:8350", ""));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The token file must be closed to other users, and keys are checked.
    let web = web_table(&w, "127.0.0.1:8350", "");
    std::fs::set_permissions(w.path("web-token"), std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    let config = w.write_config(&format!("{}{web}", w.header(1)));
    let out = Command::new(artifacts().host_bin())
        .arg("--config")
        .arg(&config)
        .args(["config", "check"])
        .stdin(Stdio::null())
        .output()
        .expect("run config check");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("web.token_file") && stderr.contains("chmod 600"),
        "{stderr}"
    );
    let out = check(&web_table(&w, "127.0.0.1:8350", "colour = \"blue\""));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("colour"), "{stderr}");
}

#[test]
fn with_tls_files_the_page_is_served_over_tls_and_its_cookie_is_secure() {
    let w = World::new(&[]);
    let (cert, key) = (w.path("web.crt"), w.path("web.key"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    let port = free_port();
    let tls = format!("cert_file = {cert:?}\nkey_file = {key:?}");
    let config = w.write_config(&format!(
        "{}{}",
        w.header(1),
        web_table(&w, &format!("0.0.0.0:{port}"), &tls)
    ));
    let check = Command::new(artifacts().host_bin())
        .arg("--config")
        .arg(&config)
        .args(["config", "check"])
        .stdin(Stdio::null())
        .output()
        .expect("run config check");
    assert!(
        check.status.success(),
        "a non-loopback listen with TLS is accepted: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let _daemon = w.daemon(&config, None);
    wait_for_port(port, WAIT);
    let pem = std::fs::read(&cert).expect("read cert");
    let http = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("cert"))
        .build()
        .expect("https client");
    let base = format!("https://localhost:{port}");
    let r = login(&http, &base, PASSWORD);
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (cookie, header) = cookie_of(&r);
    assert!(header.contains("; Secure"), "{header}");
    let r = http
        .get(format!("{base}/api/v1/jobs"))
        .header(COOKIE, &cookie)
        .send()
        .expect("GET jobs");
    assert_eq!(r.status(), StatusCode::OK);
    // Plain HTTP gets no page.
    let plain = client()
        .get(format!("http://127.0.0.1:{port}/login"))
        .send();
    if let Ok(r) = plain {
        assert!(!r.status().is_success(), "plain HTTP served a page");
    }

    // A key file that holds no key is named by `config check`.
    std::fs::write(&key, "not a key\n").expect("write");
    let check = Command::new(artifacts().host_bin())
        .arg("--config")
        .arg(&config)
        .args(["config", "check"])
        .stdin(Stdio::null())
        .output()
        .expect("run config check");
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("web.key_file"), "{stderr}");
}
