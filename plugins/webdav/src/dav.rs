//! The requests OpenDAL cannot make the way a backup needs: a PUT whose body streams from
//! the file (OpenDAL's WebDAV writer holds the whole file in memory), MKCOL of the
//! collection's missing ancestors, and MOVE with `Overwrite: F` (OpenDAL's rename always
//! replaces; RFC 4918, 9.9.4: with `F`, the server answers 412 when the destination
//! exists, and moves nothing). Everything else goes through OpenDAL.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::{Client, Method};
use sauvegarde_opendal_common::errors::local;
use sauvegarde_plugin_api::{PluginError, Progress};
use url::Url;

use crate::config::{Collection, Config};
use crate::errors;

/// Bytes read from the file per body chunk.
const CHUNK: usize = 1 << 20;

/// Talks to the collection directly.
pub struct Dav {
    pub client: Client,
    pub config: Config,
    pub collection: Collection,
}

impl Dav {
    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.client
            .request(method, url)
            .basic_auth(&self.config.user, Some(&self.config.password))
    }

    /// The URL of `name` in the collection.
    pub fn url_of(&self, name: &str) -> Result<Url, PluginError> {
        self.collection
            .url
            .join(&encode(name))
            .map_err(|e| PluginError::other(format!("building the URL of {name}: {e}")))
    }

    /// The status of a depth-0 PROPFIND of `url`.
    async fn exists(&self, url: &Url, what: &str) -> Result<bool, PluginError> {
        let method = Method::from_bytes(b"PROPFIND").expect("PROPFIND is a valid method");
        let resp = self
            .request(method, url.clone())
            .header("Depth", "0")
            .send()
            .await
            .map_err(|e| errors::transport(&self.config, &e, what))?;
        match resp.status().as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            code => Err(errors::status(&self.config, code, what)),
        }
    }

    /// Whether `name` exists in the collection (PROPFIND depth 0).
    pub async fn has(&self, name: &str) -> Result<bool, PluginError> {
        self.exists(&self.url_of(name)?, &format!("looking up {name}"))
            .await
    }

    /// MOVEs `from` onto `to` in the collection; with `overwrite` false (`Overwrite: F`)
    /// the server refuses when `to` exists: `Ok(false)`, nothing moved.
    pub async fn move_to(
        &self,
        from: &str,
        to: &str,
        overwrite: bool,
    ) -> Result<bool, PluginError> {
        let what = format!("moving {from} onto {to}");
        let method = Method::from_bytes(b"MOVE").expect("MOVE is a valid method");
        let resp = self
            .request(method, self.url_of(from)?)
            .header("Destination", self.url_of(to)?.as_str())
            .header("Overwrite", if overwrite { "T" } else { "F" })
            .send()
            .await
            .map_err(|e| errors::transport(&self.config, &e, &what))?;
        match resp.status().as_u16() {
            200..=299 => Ok(true),
            412 if !overwrite => Ok(false),
            code => Err(errors::status(&self.config, code, &what)),
        }
    }

    /// Creates the collection and its missing ancestors (MKCOL, top down).
    pub async fn ensure_collection(&self) -> Result<(), PluginError> {
        let what = "checking the collection `url`";
        let mut missing = Vec::new();
        let mut url = self.collection.url.clone();
        while !self.exists(&url, what).await? {
            missing.push(url.clone());
            let parent = url
                .join("..")
                .map_err(|e| PluginError::other(e.to_string()))?;
            if parent == url || parent.path() == "/" {
                break;
            }
            url = parent;
        }
        for url in missing.into_iter().rev() {
            let what = format!("creating the collection {}", url.path());
            let method = Method::from_bytes(b"MKCOL").expect("MKCOL is a valid method");
            let resp = self
                .request(method, url)
                .send()
                .await
                .map_err(|e| errors::transport(&self.config, &e, &what))?;
            match resp.status().as_u16() {
                200..=299 | 405 => {}
                code => return Err(errors::status(&self.config, code, &what)),
            }
        }
        Ok(())
    }

    /// PUTs `local` as `name`, the body streamed from the file; progress is reported from
    /// the calling thread every 100 ms, and a cancel drops the request.
    pub async fn put(
        &self,
        local: &Path,
        name: &str,
        progress: &mut Progress<'_>,
    ) -> Result<u64, PluginError> {
        let mut file =
            File::open(local).map_err(|e| local_err(e, &format!("opening {}", local.display())))?;
        let total = file
            .metadata()
            .map_err(|e| local_err(e, &format!("reading the size of {}", local.display())))?
            .len();
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        let body = futures::stream::poll_fn(move |_| {
            let mut buf = vec![0u8; CHUNK];
            match file.read(&mut buf) {
                Ok(0) => std::task::Poll::Ready(None),
                Ok(n) => {
                    buf.truncate(n);
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                    std::task::Poll::Ready(Some(Ok::<Bytes, std::io::Error>(Bytes::from(buf))))
                }
                Err(e) => std::task::Poll::Ready(Some(Err(e))),
            }
        });
        let what = format!("uploading {name}");
        let request = self
            .request(Method::PUT, self.url_of(name)?)
            .header(reqwest::header::CONTENT_LENGTH, total)
            .body(reqwest::Body::wrap_stream(body))
            .send();
        tokio::pin!(request);
        progress.report(0, total)?;
        let resp = loop {
            tokio::select! {
                resp = &mut request => break resp,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    progress.report(sent.load(Ordering::Relaxed).min(total), total)?;
                }
            }
        };
        let resp = resp.map_err(|e| errors::transport(&self.config, &e, &what))?;
        match resp.status().as_u16() {
            200..=299 => {}
            code => return Err(errors::status(&self.config, code, &what)),
        }
        progress.report(total, total)?;
        Ok(total)
    }
}

fn local_err(err: std::io::Error, what: &str) -> PluginError {
    local(err, what)
}

/// Percent-encodes a file name for a URL path segment.
fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
