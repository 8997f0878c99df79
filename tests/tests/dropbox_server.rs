//! The local Dropbox stand-in answers like the documentation says Dropbox does
//! (`shared/reference/dropbox-api.md`): status codes, JSON shapes, hosts, strictness.

use std::io::Read;
use std::time::Duration;

use reqwest::blocking::{Body, Client, Response};
use sauvegarde_tests::dropbox::{DropboxServer, Fault, APP_KEY, APP_SECRET, MAX_REQUEST_BYTES};
use serde_json::{json, Value};

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

fn access_token(server: &DropboxServer) -> String {
    let refresh = server.issue_refresh_token();
    let answer: Value = client()
        .post(server.oauth_url())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", APP_KEY),
            ("client_secret", APP_SECRET),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    answer["access_token"].as_str().unwrap().to_string()
}

fn rpc(server: &DropboxServer, token: &str, route: &str, body: &str) -> Response {
    client()
        .post(format!("{}/{route}", server.api_url()))
        .bearer_auth(token)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap()
}

fn content(server: &DropboxServer, token: &str, route: &str, arg: &str, body: Vec<u8>) -> Response {
    client()
        .post(format!("{}/{route}", server.content_url()))
        .bearer_auth(token)
        .header("Content-Type", "application/octet-stream")
        .header("Dropbox-API-Arg", arg)
        .body(body)
        .send()
        .unwrap()
}

fn json_of(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn token_endpoint_answers_refresh_and_errors_like_dropbox() {
    let server = DropboxServer::start();
    let refresh = server.issue_refresh_token();
    let post = |form: &[(&str, &str)]| {
        json_of(client().post(server.oauth_url()).form(form).send().unwrap())
    };
    let (status, body) = post(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &refresh),
        ("client_id", APP_KEY),
        ("client_secret", APP_SECRET),
    ]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 14400);
    assert!(body["access_token"].as_str().unwrap().starts_with("sl."));
    assert!(
        body.get("refresh_token").is_none(),
        "a refresh answers no new refresh token"
    );
    // HTTP Basic client authentication works too.
    let basic = client()
        .post(server.oauth_url())
        .basic_auth(APP_KEY, Some(APP_SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .unwrap();
    assert_eq!(basic.status().as_u16(), 200);
    let (status, body) = post(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", "nope"),
        ("client_id", APP_KEY),
        ("client_secret", APP_SECRET),
    ]);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = post(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &refresh),
        ("client_id", APP_KEY),
        ("client_secret", "wrong"),
    ]);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_client"))
    );
    // A token issued with a secret cannot be refreshed without it (only PKCE grants can).
    let (status, body) = post(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &refresh),
        ("client_id", APP_KEY),
    ]);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    server.revoke(&refresh);
    let (status, body) = post(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &refresh),
        ("client_id", APP_KEY),
        ("client_secret", APP_SECRET),
    ]);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(server.stats().refreshes, 2);
}

#[test]
fn authorization_header_is_required_and_tokens_expire() {
    let server = DropboxServer::start();
    let response = client()
        .post(format!("{}/users/get_current_account", server.api_url()))
        .header("Content-Type", "application/json")
        .body("null")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert!(response.text().unwrap().contains("Authorization"));
    let (status, body) = json_of(rpc(
        &server,
        "sl.forged",
        "users/get_current_account",
        "null",
    ));
    assert_eq!(
        (status, body["error"][".tag"].as_str()),
        (401, Some("invalid_access_token"))
    );
    let token = access_token(&server);
    let (status, body) = json_of(rpc(&server, &token, "users/get_current_account", "null"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["email"], "backup@example.com");
    assert!(body["name"]["display_name"].is_string() && body["account_id"].is_string());
    let (status, body) = json_of(rpc(&server, &token, "users/get_space_usage", "null"));
    assert_eq!(status, 200);
    assert!(
        body["used"].is_u64() && body["allocation"]["allocated"].is_u64(),
        "{body}"
    );
    server.expire_access_tokens();
    let (status, body) = json_of(rpc(&server, &token, "users/get_current_account", "null"));
    assert_eq!(status, 401);
    assert_eq!(body["error"][".tag"], "expired_access_token");
    assert!(body["error_summary"]
        .as_str()
        .unwrap()
        .starts_with("expired_access_token/"));
}

#[test]
fn routes_are_served_on_their_own_host_with_their_content_type() {
    let server = DropboxServer::start();
    let token = access_token(&server);
    // A content route on the RPC host and an RPC route on the content host fail.
    let wrong = client()
        .post(format!("{}/files/upload", server.api_url()))
        .bearer_auth(&token)
        .header("Content-Type", "application/octet-stream")
        .header("Dropbox-API-Arg", r#"{"path":"/a"}"#)
        .body("x")
        .send()
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 400);
    let wrong = client()
        .post(format!(
            "{}/users/get_current_account",
            server.content_url()
        ))
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .body("null")
        .send()
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 400);
    // RPC needs application/json, uploads application/octet-stream.
    let response = client()
        .post(format!("{}/files/list_folder", server.api_url()))
        .bearer_auth(&token)
        .header("Content-Type", "text/plain")
        .body(r#"{"path":""}"#)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let response = client()
        .post(format!("{}/files/upload", server.content_url()))
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .header("Dropbox-API-Arg", r#"{"path":"/a"}"#)
        .body("x")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let unknown = rpc(&server, &token, "files/frobnicate", "{}");
    assert_eq!(unknown.status().as_u16(), 404);
}

#[test]
fn dropbox_api_arg_must_be_ascii_json_without_unknown_fields() {
    let server = DropboxServer::start();
    let token = access_token(&server);
    let raw =
        reqwest::header::HeaderValue::from_bytes("{\"path\":\"/été.zip\"}".as_bytes()).unwrap();
    let response = client()
        .post(format!("{}/files/upload", server.content_url()))
        .bearer_auth(&token)
        .header("Content-Type", "application/octet-stream")
        .header("Dropbox-API-Arg", raw)
        .body("x")
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let (status, body) = json_of(content(
        &server,
        &token,
        "files/upload",
        r#"{"path":"/a.zip","colour":"red"}"#,
        b"x".to_vec(),
    ));
    assert_eq!(status, 400);
    assert!(
        body.as_str().unwrap().contains("unknown field 'colour'"),
        "{body}"
    );
    let (status, _) = json_of(rpc(
        &server,
        &token,
        "files/list_folder",
        r#"{"path":"","recursive":false,"bogus":1}"#,
    ));
    assert_eq!(status, 400);
    let (status, body) = json_of(content(
        &server,
        &token,
        "files/upload",
        r#"{"path":"/Dossier/\u00e9t\u00e9.zip","mode":"overwrite"}"#,
        b"hello".to_vec(),
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[".tag"], "file");
    assert_eq!(body["name"], "été.zip");
    assert_eq!(body["path_display"], "/Dossier/été.zip");
    assert_eq!(body["path_lower"], "/dossier/été.zip");
    assert_eq!(body["size"], 5);
    for key in ["id", "rev", "server_modified", "client_modified"] {
        assert!(body[key].is_string(), "{key} in {body}");
    }
    // SHA-256 of (SHA-256("hello")).
    assert_eq!(
        body["content_hash"],
        "9595c9df90075148eb06860365df33584b75bff782a510c6cd4883a419833d50"
    );
    // add mode refuses to replace.
    let (status, body) = json_of(content(
        &server,
        &token,
        "files/upload",
        r#"{"path":"/Dossier/\u00e9t\u00e9.zip","mode":"add"}"#,
        b"again".to_vec(),
    ));
    assert_eq!(status, 409);
    assert!(
        body["error_summary"]
            .as_str()
            .unwrap()
            .starts_with("path/conflict/"),
        "{body}"
    );
}

#[test]
fn upload_session_checks_offsets_and_commits_only_at_finish() {
    let server = DropboxServer::start();
    let token = access_token(&server);
    let (status, body) = json_of(content(
        &server,
        &token,
        "files/upload_session/start",
        r#"{"close":false}"#,
        vec![1; 100],
    ));
    assert_eq!(status, 200);
    let session = body["session_id"].as_str().unwrap().to_string();
    let arg = |offset: u64| {
        json!({"cursor": {"session_id": session, "offset": offset}, "close": false}).to_string()
    };
    let (status, body) = json_of(content(
        &server,
        &token,
        "files/upload_session/append_v2",
        &arg(50),
        vec![2; 10],
    ));
    assert_eq!(status, 409);
    assert_eq!(body["error"][".tag"], "incorrect_offset");
    assert_eq!(body["error"]["correct_offset"], 100);
    assert!(body["error_summary"]
        .as_str()
        .unwrap()
        .starts_with("incorrect_offset/"));
    let (status, body) = json_of(content(
        &server,
        &token,
        "files/upload_session/append_v2",
        &arg(100),
        vec![2; 10],
    ));
    assert_eq!((status, body), (200, Value::Null));
    assert!(
        server.paths().is_empty(),
        "nothing is visible before finish"
    );
    let finish = |offset: u64| {
        json!({"cursor": {"session_id": session, "offset": offset}, "commit": {"path": "/big.bin", "mode": "overwrite", "autorename": false, "mute": true}}).to_string()
    };
    let (status, body) = json_of(content(
        &server,
        &token,
        "files/upload_session/finish",
        &finish(100),
        vec![3; 5],
    ));
    assert_eq!(status, 409);
    assert_eq!(body["error"][".tag"], "lookup_failed");
    assert_eq!(body["error"]["lookup_failed"]["correct_offset"], 110);
    let (status, body) = json_of(content(
        &server,
        &token,
        "files/upload_session/finish",
        &finish(110),
        vec![3; 5],
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["size"], 115);
    assert_eq!(server.paths(), ["/big.bin"]);
    let (status, body) = json_of(content(
        &server,
        &token,
        "files/upload_session/append_v2",
        &arg(115),
        vec![],
    ));
    assert_eq!(status, 409);
    assert_eq!(body["error"][".tag"], "not_found");
}

#[test]
fn add_mode_conflicts_as_dropbox_decides_identical_content_autorename_and_strict_conflict() {
    let server = DropboxServer::start();
    let token = access_token(&server);
    let upload = |arg: &str, body: &[u8]| {
        json_of(content(&server, &token, "files/upload", arg, body.to_vec()))
    };
    let (status, _) = upload(r#"{"path":"/a.zip","mode":"add"}"#, b"first");
    assert_eq!(status, 200);
    // Identical content without strict_conflict: no conflict, the existing file answers.
    let (status, body) = upload(r#"{"path":"/a.zip","mode":"add"}"#, b"first");
    assert_eq!(
        (status, body["name"].as_str()),
        (200, Some("a.zip")),
        "{body}"
    );
    // With strict_conflict, identical content is a conflict too.
    let (status, body) = upload(
        r#"{"path":"/a.zip","mode":"add","strict_conflict":true}"#,
        b"first",
    );
    assert_eq!(status, 409, "{body}");
    // Other content under session finish: a conflict, nothing written.
    let (_, started) = json_of(content(
        &server,
        &token,
        "files/upload_session/start",
        r#"{"close":false}"#,
        b"other".to_vec(),
    ));
    let finish = json!({
        "cursor": {"session_id": started["session_id"], "offset": 5},
        "commit": {"path": "/a.zip", "mode": "add", "autorename": false, "strict_conflict": true},
    });
    let (status, body) = json_of(content(
        &server,
        &token,
        "files/upload_session/finish",
        &finish.to_string(),
        Vec::new(),
    ));
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["path"][".tag"], "conflict", "{body}");
    // autorename stores under `a (1).zip` instead.
    let (status, body) = upload(
        r#"{"path":"/a.zip","mode":"add","autorename":true}"#,
        b"renamed",
    );
    assert_eq!(
        (status, body["name"].as_str()),
        (200, Some("a (1).zip")),
        "{body}"
    );
    let mut paths = server.paths();
    paths.sort();
    assert_eq!(paths, ["/a (1).zip", "/a.zip"]);
    let (_, disk) = server.stored("/a.zip").unwrap();
    assert_eq!(std::fs::read(disk).unwrap(), b"first");
}

#[test]
fn requests_over_150_mib_are_refused() {
    let server = DropboxServer::start();
    let token = access_token(&server);
    let len = MAX_REQUEST_BYTES + 1;
    let response = client()
        .post(format!("{}/files/upload", server.content_url()))
        .bearer_auth(&token)
        .header("Content-Type", "application/octet-stream")
        .header("Dropbox-API-Arg", r#"{"path":"/huge.bin"}"#)
        .body(Body::sized(std::io::repeat(0).take(len), len))
        .send()
        .unwrap();
    let (status, body) = json_of(response);
    assert_eq!(status, 409);
    assert_eq!(body["error"][".tag"], "payload_too_large");
    assert!(server.paths().is_empty());
}

#[test]
fn list_delete_download_shapes() {
    let server = DropboxServer::start();
    server.set_page_size(2);
    for name in ["a", "b", "c"] {
        server.put_file(&format!("/Backups/{name}.zip"), name.as_bytes());
    }
    server.put_file("/Backups/sub/d.zip", b"d");
    let token = access_token(&server);
    let (status, body) = json_of(rpc(
        &server,
        &token,
        "files/list_folder",
        r#"{"path":"/missing"}"#,
    ));
    assert_eq!(status, 409);
    assert_eq!(
        body["error_summary"]
            .as_str()
            .unwrap()
            .split('/')
            .take(2)
            .collect::<Vec<_>>(),
        ["path", "not_found"]
    );
    let (status, page) = json_of(rpc(
        &server,
        &token,
        "files/list_folder",
        r#"{"path":"/backups","recursive":false}"#,
    ));
    assert_eq!(status, 200);
    assert_eq!(page["entries"].as_array().unwrap().len(), 2);
    assert_eq!(page["has_more"], true);
    let mut tags: Vec<String> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[".tag"].as_str().unwrap().to_string())
        .collect();
    let arg = json!({"cursor": page["cursor"]}).to_string();
    let (status, page) = json_of(rpc(&server, &token, "files/list_folder/continue", &arg));
    assert_eq!(status, 200);
    assert_eq!(page["has_more"], false);
    tags.extend(
        page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e[".tag"].as_str().unwrap().to_string()),
    );
    tags.sort();
    assert_eq!(tags, ["file", "file", "file", "folder"]);
    let (status, body) = json_of(rpc(
        &server,
        &token,
        "files/list_folder/continue",
        r#"{"cursor":"stale"}"#,
    ));
    assert_eq!(
        (status, body["error"][".tag"].as_str()),
        (409, Some("reset"))
    );
    let download = client()
        .post(format!("{}/files/download", server.content_url()))
        .bearer_auth(&token)
        .header("Dropbox-API-Arg", r#"{"path":"/Backups/b.zip"}"#)
        .send()
        .unwrap();
    assert_eq!(download.status().as_u16(), 200);
    let result: Value =
        serde_json::from_str(download.headers()["Dropbox-API-Result"].to_str().unwrap()).unwrap();
    assert_eq!(result["name"], "b.zip");
    assert_eq!(download.bytes().unwrap().as_ref(), b"b");
    let (status, body) = json_of(rpc(
        &server,
        &token,
        "files/delete_v2",
        r#"{"path":"/Backups/b.zip"}"#,
    ));
    assert_eq!(status, 200);
    assert_eq!(body["metadata"]["name"], "b.zip");
    let (status, body) = json_of(rpc(
        &server,
        &token,
        "files/delete_v2",
        r#"{"path":"/Backups/b.zip"}"#,
    ));
    assert_eq!(status, 409);
    assert_eq!(body["error"]["path_lookup"][".tag"], "not_found");
    let (status, _) = json_of(rpc(
        &server,
        &token,
        "files/get_metadata",
        r#"{"path":"/Backups/a.zip"}"#,
    ));
    assert_eq!(status, 200);
}

#[test]
fn faults_answer_429_500_missing_scope_and_drop_connections() {
    let server = DropboxServer::start();
    let token = access_token(&server);
    server.inject("users/", Fault::RateLimit { retry_after: 3 }, 0, 1);
    let response = rpc(&server, &token, "users/get_space_usage", "null");
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["Retry-After"], "3");
    let (_, body) = json_of(response);
    assert_eq!(body["error"]["retry_after"], 3);
    server.inject("users/", Fault::ServerError, 0, 1);
    assert_eq!(
        rpc(&server, &token, "users/get_space_usage", "null")
            .status()
            .as_u16(),
        500
    );
    server.inject("files/upload", Fault::DropConnection, 0, 1);
    let dropped = client()
        .post(format!("{}/files/upload", server.content_url()))
        .bearer_auth(&token)
        .header("Content-Type", "application/octet-stream")
        .header("Dropbox-API-Arg", r#"{"path":"/x.bin"}"#)
        .body(vec![0u8; 1 << 20])
        .send();
    assert!(dropped.is_err(), "the connection should be dropped");
    assert!(server.paths().is_empty());
    server.remove_scope("files.content.write");
    let (status, body) = json_of(rpc(&server, &token, "files/delete_v2", r#"{"path":"/x"}"#));
    assert_eq!(status, 401);
    assert_eq!(body["error"][".tag"], "missing_scope");
    assert_eq!(body["error"]["required_scope"], "files.content.write");
}
