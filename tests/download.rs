//! `pathprox download` against a tiny HTTP server started on 127.0.0.1 by each test (no internet needed):
//! the success path, a checksum mismatch (nothing kept), a 404, a refused connection, and files already
//! present being skipped. The served files are small generated IDX files; the checksum table is the test's.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use common::{cli_command, gzip, scratch};
use md5::{Digest, Md5};
use pathprox::Error;
use pathprox::data::download::{self, FileReport, Outcome, RemoteFile, Request};
use pathprox::data::idx;
use sha2::Sha256;

/// Serves `files` by name (`GET /NAME`), 404 for anything else, one request per connection, and records
/// the paths asked for. Stops when dropped.
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(files: HashMap<String, Vec<u8>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (stop2, requests2) = (stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    serve(stream, &files, &requests2);
                }
            }
        });
        Server { addr, stop, requests, thread: Some(thread) }
    }

    fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(stream: TcpStream, files: &HashMap<String, Vec<u8>>, requests: &Mutex<Vec<String>>) {
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Skip the headers.
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("").trim_start_matches('/').to_string();
    requests.lock().unwrap().push(path.clone());
    let mut out = &stream;
    let _ = match files.get(&path) {
        Some(body) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            out.write_all(head.as_bytes()).and_then(|_| out.write_all(body))
        }
        None => out.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found"),
    };
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Four small gzip IDX files under the official names, seeded differently so that no two are equal.
fn files() -> HashMap<String, Vec<u8>> {
    let images = |n: usize, salt: usize| {
        let pixels: Vec<u8> = (0..n * 784).map(|i| ((i * 31 + salt) % 251) as u8).collect();
        gzip(&idx::encode_images(28, 28, &pixels))
    };
    let labels = |n: usize, salt: usize| gzip(&idx::encode_labels(&(0..n).map(|i| ((i + salt) % 10) as u8).collect::<Vec<_>>()));
    HashMap::from([
        ("train-images-idx3-ubyte.gz".to_string(), images(60, 1)),
        ("train-labels-idx1-ubyte.gz".to_string(), labels(60, 2)),
        ("t10k-images-idx3-ubyte.gz".to_string(), images(10, 3)),
        ("t10k-labels-idx1-ubyte.gz".to_string(), labels(10, 4)),
    ])
}

/// The checksum table for `files`: MD5 for the training files, SHA-256 for the test files, both for the
/// test images (as the official table has).
fn table(files: &HashMap<String, Vec<u8>>) -> Vec<RemoteFile> {
    let mut names: Vec<&String> = files.keys().collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let body = &files[name];
            let md5 = (!name.starts_with("t10k-labels")).then(|| hex(&Md5::digest(body)));
            let sha = name.starts_with("t10k").then(|| hex(&Sha256::digest(body)));
            RemoteFile::new(name.clone(), md5.as_deref(), sha.as_deref())
        })
        .collect()
}

fn request(base_url: String, dir: &Path, files: Vec<RemoteFile>) -> Request {
    Request { base_url, dir: dir.to_path_buf(), files, progress: false, timeout: Duration::from_secs(10) }
}

/// Every entry of `dir`, to check that no temporary file was left behind.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

#[test]
fn downloads_verifies_and_places_every_file() {
    let files = files();
    let server = Server::start(files.clone());
    let dir = scratch("success");
    // No trailing slash: it is added.
    let url = server.url().trim_end_matches('/').to_string();
    let reports = download::download(&request(url, &dir, table(&files))).unwrap();
    assert_eq!(reports.len(), 4);
    for FileReport { name, path, outcome } in &reports {
        assert_eq!(std::fs::read(path).unwrap(), files[name], "{name}");
        assert_eq!(*outcome, Outcome::Downloaded { bytes: files[name].len() as u64 });
    }
    let mut names: Vec<String> = files.keys().cloned().collect();
    names.sort();
    assert_eq!(listing(&dir), names);
    // What was fetched is usable: the label file parses as 60 labels.
    assert_eq!(idx::read_labels(&dir.join("train-labels-idx1-ubyte.gz")).unwrap().len(), 60);
}

#[test]
fn files_already_present_and_valid_are_not_fetched_again() {
    let files = files();
    let server = Server::start(files.clone());
    let dir = scratch("present");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("train-images-idx3-ubyte.gz"), &files["train-images-idx3-ubyte.gz"]).unwrap();
    // Present but wrong: replaced.
    std::fs::write(dir.join("t10k-labels-idx1-ubyte.gz"), b"stale").unwrap();
    let reports = download::download(&request(server.url(), &dir, table(&files))).unwrap();
    let outcome = |n: &str| reports.iter().find(|r| r.name == n).unwrap().outcome.clone();
    assert_eq!(outcome("train-images-idx3-ubyte.gz"), Outcome::AlreadyPresent);
    assert!(matches!(outcome("t10k-labels-idx1-ubyte.gz"), Outcome::Downloaded { .. }));
    assert_eq!(std::fs::read(dir.join("t10k-labels-idx1-ubyte.gz")).unwrap(), files["t10k-labels-idx1-ubyte.gz"]);
    let mut asked = server.requests();
    asked.sort();
    assert_eq!(asked, ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz"]);
    // A second run fetches nothing.
    let reports = download::download(&request(server.url(), &dir, table(&files))).unwrap();
    assert!(reports.iter().all(|r| r.outcome == Outcome::AlreadyPresent));
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn a_checksum_mismatch_keeps_nothing() {
    let files = files();
    let server = Server::start(files.clone());
    let dir = scratch("mismatch");
    let mut table = table(&files);
    let bad = table.iter_mut().find(|f| f.name == "train-images-idx3-ubyte.gz").unwrap();
    bad.md5 = Some("0".repeat(32));
    let err = download::download(&request(server.url(), &dir, table)).unwrap_err();
    let Error::Checksum { file, algo, expected, actual } = &err else { panic!("expected Checksum, got {err:?}") };
    assert!(file.ends_with("/train-images-idx3-ubyte.gz"), "{file}");
    assert_eq!((*algo, expected.as_str()), ("MD5", "0".repeat(32).as_str()));
    assert_eq!(*actual, hex(&Md5::digest(&files["train-images-idx3-ubyte.gz"])));
    // The bad file is neither in place nor left as a temporary file.
    assert!(!listing(&dir).iter().any(|n| n.contains("train-images")), "{:?}", listing(&dir));
}

#[test]
fn a_sha256_mismatch_is_caught_too() {
    let files = files();
    let server = Server::start(files.clone());
    let dir = scratch("sha");
    let mut table = table(&files);
    let t = table.iter_mut().find(|f| f.name == "t10k-labels-idx1-ubyte.gz").unwrap();
    t.sha256 = Some("ab".repeat(32));
    let err = download::download(&request(server.url(), &dir, table)).unwrap_err();
    assert!(matches!(err, Error::Checksum { algo: "SHA-256", .. }), "{err:?}");
    assert!(!dir.join("t10k-labels-idx1-ubyte.gz").exists());
}

#[test]
fn a_404_names_the_url_and_how_to_supply_the_files() {
    let files = files();
    let server = Server::start(files.clone());
    let dir = scratch("404");
    let mut table = table(&files);
    table.push(RemoteFile::new("missing-file.gz", Some(&"1".repeat(32)), None));
    let err = download::download(&request(server.url(), &dir, table)).unwrap_err();
    let Error::Download { url, msg } = &err else { panic!("expected Download, got {err:?}") };
    assert_eq!(*url, format!("{}missing-file.gz", server.url()));
    assert!(msg.contains("HTTP 404"), "{msg}");
    assert!(msg.contains("copy them into") && msg.contains("--base-url"), "{msg}");
    // The files before it were fetched and stay; nothing of the missing one exists.
    assert_eq!(listing(&dir).len(), 4);
}

#[test]
fn a_refused_connection_says_so() {
    // A port that was just free: nothing listens there now.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = scratch("refused");
    let files = files();
    let err = download::download(&request(format!("http://127.0.0.1:{port}/"), &dir, table(&files))).unwrap_err();
    let Error::Download { url, msg } = &err else { panic!("expected Download, got {err:?}") };
    assert!(url.starts_with(&format!("http://127.0.0.1:{port}/")), "{url}");
    assert!(msg.contains("connection refused"), "{msg}");
    assert!(msg.contains("train-labels-idx1-ubyte.gz"), "the hint lists the files: {msg}");
    assert!(listing(&dir).is_empty());
}

#[test]
fn files_without_a_checksum_are_refused() {
    let dir = scratch("nosum");
    let req = request("http://127.0.0.1:9/".into(), &dir, vec![RemoteFile::new("x.gz", None, None)]);
    let err = download::download(&req).unwrap_err();
    assert!(err.to_string().contains("no checksum"), "{err}");
}

#[test]
fn the_official_table_is_complete() {
    for kind in [pathprox::data::DatasetKind::Mnist, pathprox::data::DatasetKind::FashionMnist] {
        let files = download::official_files(kind);
        assert_eq!(files.len(), 4);
        for f in files {
            let md5 = f.md5.expect("published MD5");
            assert!(md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit()), "{md5}");
        }
        let req = Request::official(kind);
        assert!(req.base_url.starts_with("http") && req.base_url.ends_with('/'));
        assert!(req.dir.ends_with(kind.cli_name()));
    }
}

// ---------------------------------------------------------------- CIFAR-10 and SVHN

fn rgb_fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rgb").join(name)).unwrap()
}

#[test]
fn the_cifar10_and_svhn_tables_are_the_published_ones() {
    use download::Set;
    use pathprox::data::{cifar, svhn};
    let md5s = |r: &Request| r.files.iter().map(|f| (f.name.clone(), f.md5.clone().unwrap())).collect::<Vec<_>>();
    let bin = Request::of("cifar10".parse().unwrap(), false).unwrap();
    assert_eq!(bin.base_url, "https://www.cs.toronto.edu/~kriz/");
    assert_eq!(md5s(&bin), [("cifar-10-binary.tar.gz".to_string(), "c32a1d4ab5d03f1284b67883e8d87530".to_string())]);
    assert_eq!(bin.dir, Path::new(cifar::DEFAULT_DIR));
    let py = Request::of(Set::Cifar10, true).unwrap();
    assert_eq!(md5s(&py), [("cifar-10-python.tar.gz".to_string(), "c58f30108f718f92721af3b95e74349a".to_string())]);
    let s = Request::of("SVHN".parse().unwrap(), false).unwrap();
    assert_eq!(s.base_url, "http://ufldl.stanford.edu/housenumbers/");
    assert_eq!(
        md5s(&s),
        [
            ("train_32x32.mat".to_string(), "e26dedcc434d2e4c54c9b2d4a06d8373".to_string()),
            ("test_32x32.mat".to_string(), "eb5a983be6a315427106f1b164d9cef3".to_string())
        ]
    );
    assert_eq!(s.dir, Path::new(svhn::DEFAULT_DIR));
    // The MNIST family is unchanged; --python is CIFAR-10's only.
    assert_eq!(Request::of("mnist".parse().unwrap(), false).unwrap().files, Request::official(pathprox::data::DatasetKind::Mnist).files);
    assert!(Request::of(Set::Svhn, true).unwrap_err().to_string().contains("--python"));
    assert!("cifar100".parse::<Set>().unwrap_err().to_string().contains("cifar10 or svhn"));
}

/// The official request for `set` pointed at `server` and `dir`, with the checksums of what is served.
fn rgb_request(set: download::Set, python: bool, server: &Server, dir: &Path, served: &HashMap<String, Vec<u8>>) -> Request {
    let mut req = Request::of(set, python).unwrap();
    req.base_url = server.url();
    req.dir = dir.to_path_buf();
    req.progress = false;
    for f in &mut req.files {
        f.md5 = Some(hex(&Md5::digest(&served[&f.name])));
    }
    req
}

#[test]
fn cifar10_and_svhn_download_and_then_load() {
    use pathprox::data::{cifar, svhn};
    let served = HashMap::from([
        (cifar::BINARY_ARCHIVE.to_string(), rgb_fixture("cifar-10-binary.tar.gz")),
        (svhn::TRAIN_FILE.to_string(), rgb_fixture("svhn_zlib.mat")),
        (svhn::TEST_FILE.to_string(), rgb_fixture("svhn_plain.mat")),
    ]);
    let server = Server::start(served.clone());
    let dir = scratch("cifar10");
    let reports = download::download(&rgb_request(download::Set::Cifar10, false, &server, &dir, &served)).unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(listing(&dir), [cifar::BINARY_ARCHIVE]);
    // What was fetched is found where `download` put it and reads as CIFAR-10.
    let c = cifar::load(&cifar::locate(Some(&dir)).unwrap()).unwrap();
    assert_eq!((c.train.len(), c.test.len()), (10, 2));

    let dir = scratch("svhn");
    download::download(&rgb_request(download::Set::Svhn, false, &server, &dir, &served)).unwrap();
    assert_eq!(listing(&dir), [svhn::TEST_FILE, svhn::TRAIN_FILE]);
    let (train, test) = svhn::load(&svhn::locate(Some(&dir)).unwrap()).unwrap();
    assert_eq!((train.len(), test.len()), (5, 5));
    // A second run fetches nothing.
    let asked = server.requests().len();
    let again = download::download(&rgb_request(download::Set::Svhn, false, &server, &dir, &served)).unwrap();
    assert!(again.iter().all(|r| r.outcome == Outcome::AlreadyPresent));
    assert_eq!(server.requests().len(), asked);
}

#[test]
fn the_cli_checks_cifar10_against_the_published_md5() {
    // The fixture is not the real archive: the command must refuse it by the published MD5, keep
    // nothing and exit non-zero.
    let served = HashMap::from([("cifar-10-python.tar.gz".to_string(), rgb_fixture("cifar-10-binary.tar.gz"))]);
    let server = Server::start(served);
    let dir = scratch("cli-cifar10");
    let out = cli_command()
        .args(["download", "cifar10", "--python", "--base-url", &server.url(), "--data-dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("MD5 checksum mismatch: expected c58f30108f718f92721af3b95e74349a"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(server.requests(), ["cifar-10-python.tar.gz"]);
    assert!(listing(&dir).is_empty(), "{:?}", listing(&dir));
}
