//! `pathprox serve DIR`: a static file server for the browser demo (web/build.sh writes web/dist).
//!
//! Browsers load ES modules and `.wasm` only over HTTP, and `WebAssembly.instantiateStreaming` insists on
//! the `application/wasm` type, so `file://` and servers without that type do not work. This one binds to
//! 127.0.0.1 only, serves `index.html` for a directory, answers 404 for a missing file and 403 for any path
//! that would leave DIR (`..`, also percent-encoded, or a symbolic link pointing out of it).

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The Content-Type of a file, by its extension (lower-case); unknown types are sent as bytes.
pub fn mime_type(path: &Path) -> &'static str {
    let ext = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "wasm" => "application/wasm",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "txt" | "md" => "text/plain; charset=utf-8",
        "wgsl" => "text/wgsl; charset=utf-8",
        // The data files are fetched as bytes and inflated by the engine: no Content-Encoding, no guessing.
        _ => "application/octet-stream",
    }
}

/// What a request path maps to.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    /// A regular file inside the root.
    File(PathBuf),
    /// Nothing there (404).
    NotFound,
    /// A path that leaves the root, or is not a valid path (403).
    Forbidden,
}

/// Decodes `%XX` escapes; `None` for a malformed escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Maps a request target (`/a/b.js?x=1`) to a file under `root` (which must be canonical).
pub fn resolve(root: &Path, target: &str) -> Resolved {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let Some(path) = percent_decode(path) else { return Resolved::Forbidden };
    if path.contains('\0') || path.contains('\\') {
        return Resolved::Forbidden;
    }
    let mut file = root.to_path_buf();
    for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
        // Only plain names: `..`, a drive or root prefix could step out of `root`.
        let mut comps = Path::new(part).components();
        match (comps.next(), comps.next()) {
            (Some(Component::Normal(_)), None) => file.push(part),
            _ => return Resolved::Forbidden,
        }
    }
    if file.is_dir() {
        file.push("index.html");
    }
    match file.canonicalize() {
        // A symbolic link may still lead out of the root.
        Ok(real) if !real.starts_with(root) => Resolved::Forbidden,
        Ok(real) if real.is_file() => Resolved::File(real),
        _ => Resolved::NotFound,
    }
}

/// A bound server: [`StaticServer::url`] to print, [`StaticServer::run`] to answer requests until the process ends.
pub struct StaticServer {
    server: tiny_http::Server,
    root: PathBuf,
    /// Print one line per request to stderr.
    pub log: bool,
}

impl StaticServer {
    /// Binds 127.0.0.1:`port` (0: any free port) to serve `dir`.
    pub fn bind(dir: &Path, port: u16) -> Result<StaticServer> {
        let root = dir.canonicalize().map_err(|e| Error::Other(format!("serve: cannot open {}: {e}", dir.display())))?;
        if !root.is_dir() {
            return Err(Error::Other(format!("serve: {} is not a directory", dir.display())));
        }
        let server = tiny_http::Server::http(("127.0.0.1", port)).map_err(|e| Error::Other(format!("serve: cannot listen on 127.0.0.1:{port}: {e}")))?;
        Ok(StaticServer { server, root, log: true })
    }

    /// The address actually bound (the port chosen when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.server.server_addr().to_ip().expect("bound to a TCP address")
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr())
    }

    /// Answers requests, one at a time, forever (or until [`StaticServer::stop`] from another thread).
    pub fn run(&self) {
        for req in self.server.incoming_requests() {
            self.answer(req);
        }
    }

    /// Makes [`StaticServer::run`] return.
    pub fn stop(&self) {
        self.server.unblock();
    }

    fn answer(&self, req: tiny_http::Request) -> u16 {
        use tiny_http::{Header, Method, Response};
        let text = |code: u16, msg: &str| Response::from_string(format!("{code} {msg}\n")).with_status_code(code).with_header(Header::from_bytes("Content-Type", "text/plain; charset=utf-8").unwrap());
        let (method, url) = (req.method().clone(), req.url().to_string());
        let result = if !matches!(method, Method::Get | Method::Head) {
            req.respond(text(405, "method not allowed").with_header(Header::from_bytes("Allow", "GET, HEAD").unwrap())).map(|_| 405)
        } else {
            match resolve(&self.root, &url) {
                Resolved::Forbidden => req.respond(text(403, "forbidden")).map(|_| 403),
                Resolved::NotFound => req.respond(text(404, "not found")).map(|_| 404),
                Resolved::File(path) => match std::fs::File::open(&path) {
                    Ok(f) => {
                        let resp = Response::from_file(f)
                            .with_header(Header::from_bytes("Content-Type", mime_type(&path)).unwrap())
                            // A rebuilt demo is picked up on reload.
                            .with_header(Header::from_bytes("Cache-Control", "no-cache").unwrap());
                        req.respond(resp).map(|_| 200)
                    }
                    Err(_) => req.respond(text(404, "not found")).map(|_| 404),
                },
            }
        };
        let code = result.unwrap_or(0);
        if self.log {
            eprintln!("{method} {url} {}", if code == 0 { "(connection closed)".to_string() } else { code.to_string() });
        }
        code
    }
}

/// `pathprox serve`: binds, prints the URL, serves until killed.
pub fn serve(dir: &Path, port: u16) -> Result<()> {
    let server = StaticServer::bind(dir, port)?;
    if !server.root.join("index.html").is_file() {
        eprintln!("note: {} has no index.html (build the demo with web/build.sh)", dir.display());
    }
    println!("serving {} at {}", server.root.display(), server.url());
    use std::io::Write;
    let _ = std::io::stdout().flush();
    server.run();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types() {
        assert_eq!(mime_type(Path::new("pkg/pathprox_bg.wasm")), "application/wasm");
        assert_eq!(mime_type(Path::new("app.JS")), "text/javascript; charset=utf-8");
        assert_eq!(mime_type(Path::new("x.gz")), "application/octet-stream");
        assert_eq!(mime_type(Path::new("README")), "application/octet-stream");
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("/a%20b").as_deref(), Some("/a b"));
        assert_eq!(percent_decode("/%2e%2E/x").as_deref(), Some("/../x"));
        assert_eq!(percent_decode("/%2"), None);
        assert_eq!(percent_decode("/%zz"), None);
    }
}
