//! `pathprox serve`: MIME types, index.html, 404, and no way out of the served directory.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pathprox::serve::{resolve, Resolved, StaticServer};

/// A fresh directory: root/ (served) with index.html, pkg/demo.wasm, data.gz; and secret.txt beside root/.
fn fixture(name: &str) -> (PathBuf, PathBuf) {
    let base = common::scratch(name);
    let root = base.join("root");
    std::fs::create_dir_all(root.join("pkg")).unwrap();
    std::fs::write(root.join("index.html"), "<!doctype html><title>demo</title>").unwrap();
    std::fs::write(root.join("pkg/demo.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(root.join("data.gz"), [0x1f, 0x8b, 8, 0]).unwrap();
    std::fs::write(base.join("secret.txt"), "do not serve").unwrap();
    (base, root)
}

/// One raw HTTP/1.0 request; returns (status code, headers lower-cased, body).
fn get(addr: std::net::SocketAddr, method: &str, target: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "{method} {target} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, head, raw[split + 4..].to_vec())
}

#[test]
fn serves_files_with_their_types_and_refuses_escapes() {
    let (base, root) = fixture("http");
    let mut server = StaticServer::bind(&root, 0).unwrap();
    server.log = false;
    let server = Arc::new(server);
    let addr = server.addr();
    assert!(addr.ip().is_loopback(), "binds 127.0.0.1 only: {addr}");
    assert_eq!(server.url(), format!("http://{addr}/"));
    let s = Arc::clone(&server);
    let thread = std::thread::spawn(move || s.run());

    let (code, head, body) = get(addr, "GET", "/pkg/demo.wasm");
    assert_eq!(code, 200, "{head}");
    assert!(head.contains("content-type: application/wasm"), "{head}");
    assert_eq!(body, b"\0asm\x01\0\0\0");

    let (code, head, body) = get(addr, "GET", "/?test=1&steps=300");
    assert_eq!(code, 200, "{head}");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("<title>demo</title>"));

    let (code, head, body) = get(addr, "GET", "/data.gz");
    assert_eq!(code, 200);
    assert!(head.contains("content-type: application/octet-stream"), "{head}");
    assert!(!head.contains("content-encoding"), "{head}");
    assert_eq!(body, [0x1f, 0x8b, 8, 0]);

    let (code, _, body) = get(addr, "HEAD", "/pkg/demo.wasm");
    assert_eq!(code, 200);
    assert!(body.is_empty());

    assert_eq!(get(addr, "GET", "/missing.js").0, 404);
    assert_eq!(get(addr, "POST", "/index.html").0, 405);
    for escape in ["/../secret.txt", "/pkg/../../secret.txt", "/%2e%2e/secret.txt", "/pkg/%2E%2E/%2e%2e/secret.txt", "/..%2fsecret.txt", "/..\\secret.txt"] {
        let (code, head, body) = get(addr, "GET", escape);
        assert_eq!(code, 403, "{escape}: {head}");
        assert!(!String::from_utf8_lossy(&body).contains("do not serve"), "{escape}");
    }

    server.stop();
    thread.join().unwrap();
    std::fs::remove_dir_all(base).unwrap();
}

#[test]
fn resolve_maps_paths_inside_the_root_only() {
    let (base, root) = fixture("resolve");
    let root = root.canonicalize().unwrap();
    assert_eq!(resolve(&root, "/"), Resolved::File(root.join("index.html")));
    assert_eq!(resolve(&root, "/./pkg//demo.wasm#x"), Resolved::File(root.join("pkg/demo.wasm")));
    assert_eq!(resolve(&root, "/pkg/"), Resolved::NotFound, "a directory without index.html");
    assert_eq!(resolve(&root, "/nope"), Resolved::NotFound);
    assert_eq!(resolve(&root, "/../secret.txt"), Resolved::Forbidden);
    assert_eq!(resolve(&root, "/%00"), Resolved::Forbidden);
    assert_eq!(resolve(&root, "/%ff"), Resolved::Forbidden, "not UTF-8");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(base.join("secret.txt"), root.join("link.txt")).unwrap();
        assert_eq!(resolve(&root, "/link.txt"), Resolved::Forbidden, "a link leading out of the root");
    }
    std::fs::remove_dir_all(base).unwrap();
}
