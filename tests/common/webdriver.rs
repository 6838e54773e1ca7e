//! A minimal W3C WebDriver client (reqwest) driving headless Chromium through
//! a chromedriver started on a free port (Debian `chromium`, `chromium-driver`).
//! The session is deleted and chromedriver killed on drop.

use base64::Engine as _;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The W3C element reference key.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Fails (never skips) when the browser or its driver is not installed.
pub fn require_browser() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is required (Debian package `chromium`: apt-get install chromium)"
    );
    assert!(
        Path::new(CHROMEDRIVER).exists(),
        "{CHROMEDRIVER} is required (Debian package `chromium-driver`: apt-get install chromium-driver)"
    );
}

/// A cookie as the browser holds it.
#[derive(Debug, Clone)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    pub path: String,
    pub http_only: bool,
    pub secure: bool,
    pub same_site: String,
}

pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    http: reqwest::Client,
    failure_shot: std::sync::Mutex<Option<std::path::PathBuf>>,
    _profile: tempfile::TempDir,
    _logs: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver and opens a headless Chromium session with a fresh profile.
    pub async fn start() -> Browser {
        require_browser();
        super::install_crypto();
        let logs = tempfile::tempdir().expect("tempdir");
        let log_path = logs.path().join("chromedriver.log");
        let (mut driver, port) = {
            let mut attempt = 0;
            loop {
                attempt += 1;
                let port = free_port();
                let mut child = Command::new(CHROMEDRIVER)
                    .arg(format!("--port={port}"))
                    .arg(format!("--log-path={}", log_path.display()))
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("spawn chromedriver");
                let stdout = child.stdout.take().expect("stdout");
                let (tx, rx) = std::sync::mpsc::channel();
                std::thread::spawn(move || {
                    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                        let _ = tx.send(line);
                    }
                });
                let deadline = Instant::now() + Duration::from_secs(20);
                let mut up = false;
                while Instant::now() < deadline {
                    if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                        if line.contains("started successfully") {
                            up = true;
                            break;
                        }
                    }
                    if let Ok(Some(_)) = child.try_wait() {
                        break;
                    }
                }
                if up {
                    break (child, port);
                }
                let _ = child.kill();
                let _ = child.wait();
                assert!(
                    attempt < 3,
                    "chromedriver did not start; log:\n{}",
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .no_proxy()
            .build()
            .expect("client");
        let profile = tempfile::tempdir().expect("profile dir");
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [
                            "--headless",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--disable-quic",
                            "--no-first-run",
                            "--no-default-browser-check",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--disable-extensions",
                            "--password-store=basic",
                            format!("--user-data-dir={}", profile.path().display()),
                            "--window-size=1200,900",
                        ]
                    }
                }
            }
        });
        let base = format!("http://127.0.0.1:{port}");
        let resp = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await;
        let v: Value = match resp {
            Ok(r) => r.json().await.expect("session json"),
            Err(e) => {
                let _ = driver.kill();
                panic!("new session: {e}");
            }
        };
        let Some(session) = v["value"]["sessionId"].as_str().map(str::to_string) else {
            let _ = driver.kill();
            let _ = driver.wait();
            panic!(
                "chromedriver refused the session: {v}\nlog:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        };
        Browser {
            driver,
            port,
            session,
            http,
            failure_shot: std::sync::Mutex::new(None),
            _profile: profile,
            _logs: logs,
        }
    }

    fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/session/{}{path}",
            self.port, self.session
        )
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method.clone(), self.url(path));
        if let Some(b) = body {
            req = req.json(&b);
        } else if method == reqwest::Method::POST {
            req = req.json(&json!({}));
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"));
        let status = resp.status();
        let v: Value = resp.json().await.expect("webdriver json");
        if !status.is_success() {
            panic!(
                "webdriver {method} {path}: {status} {} — {}",
                v["value"]["error"], v["value"]["message"]
            );
        }
        v["value"].clone()
    }

    async fn try_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<Value, String> {
        let resp = self
            .http
            .request(method, self.url(path))
            .json(&body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let ok = resp.status().is_success();
        let v: Value = resp.json().await.map_err(|e| e.to_string())?;
        if ok {
            Ok(v["value"].clone())
        } else {
            Err(format!(
                "{}: {}",
                v["value"]["error"], v["value"]["message"]
            ))
        }
    }

    /// Navigates and waits for the page load.
    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    pub async fn current_url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The path (and query) of the current URL.
    pub async fn current_path(&self) -> String {
        let u = self.current_url().await;
        match u.split_once("://") {
            Some((_, rest)) => rest
                .find('/')
                .map(|i| rest[i..].to_string())
                .unwrap_or_else(|| "/".into()),
            None => u,
        }
    }

    pub async fn title(&self) -> String {
        self.call(reqwest::Method::GET, "/title", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Element id of the first match of `css`, waiting up to 10 s for it to appear.
    pub async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self
                .try_call(
                    reqwest::Method::POST,
                    "/element",
                    json!({"using": "css selector", "value": css}),
                )
                .await
            {
                Ok(v) => {
                    return v[ELEMENT_KEY]
                        .as_str()
                        .expect("element reference")
                        .to_string()
                }
                Err(e) => {
                    if Instant::now() >= deadline {
                        let msg = format!(
                            "no element {css:?} on {} ({e}); page text:\n{}",
                            self.current_url().await,
                            self.body_text().await
                        );
                        self.fail(msg).await;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether an element matches `css` now (no waiting).
    pub async fn exists(&self, css: &str) -> bool {
        self.try_call(
            reqwest::Method::POST,
            "/elements",
            json!({"using": "css selector", "value": css}),
        )
        .await
        .map(|v| v.as_array().is_some_and(|a| !a.is_empty()))
        .unwrap_or(false)
    }

    /// Clears the field then types `text` into it.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/clear"), None)
            .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/click"), None)
            .await;
    }

    /// Rendered text of the first match of `css`.
    pub async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Rendered text of the page body ("" if there is none).
    pub async fn body_text(&self) -> String {
        self.script(
            "return document.body ? document.body.innerText : '';",
            json!([]),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// An attribute (or property) of the first match of `css`.
    pub async fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::GET,
            &format!("/element/{id}/attribute/{name}"),
            None,
        )
        .await
        .as_str()
        .map(str::to_string)
    }

    pub async fn page_source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Runs a synchronous script in the page.
    pub async fn script(&self, js: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": js, "args": args})),
        )
        .await
    }

    /// Saves a PNG screenshot of the whole page (DevTools `Page.captureScreenshot`
    /// beyond the viewport; the W3C viewport screenshot if that is refused).
    /// Directories are created.
    pub async fn screenshot(&self, path: &Path) {
        let full = self
            .try_call(
                reqwest::Method::POST,
                "/goog/cdp/execute",
                json!({"cmd": "Page.captureScreenshot",
                       "params": {"format": "png", "captureBeyondViewport": true}}),
            )
            .await
            .ok()
            .and_then(|v| v["data"].as_str().map(str::to_string));
        let b64 = match full {
            Some(b) => b,
            None => self
                .call(reqwest::Method::GET, "/screenshot", None)
                .await
                .as_str()
                .expect("screenshot base64")
                .to_string(),
        };
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("screenshot decodes");
        assert!(png.starts_with(b"\x89PNG"), "screenshot is a PNG");
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }

    /// The cookies visible to the current page.
    pub async fn cookies(&self) -> Vec<Cookie> {
        let v = self.call(reqwest::Method::GET, "/cookie", None).await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|c| Cookie {
                        name: c["name"].as_str().unwrap_or_default().to_string(),
                        value: c["value"].as_str().unwrap_or_default().to_string(),
                        path: c["path"].as_str().unwrap_or_default().to_string(),
                        http_only: c["httpOnly"].as_bool().unwrap_or(false),
                        secure: c["secure"].as_bool().unwrap_or(false),
                        same_site: c["sameSite"].as_str().unwrap_or_default().to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Where [`Browser::fail`] saves the page it failed on.
    pub fn set_failure_screenshot(&self, path: &Path) {
        *self.failure_shot.lock().unwrap() = Some(path.to_path_buf());
    }

    /// Panics with `msg`, after saving a screenshot of the current page (if a
    /// path was set) and naming it in the message.
    pub async fn fail(&self, msg: String) -> ! {
        let path = self.failure_shot.lock().unwrap().clone();
        match path {
            Some(p) => {
                self.screenshot(&p).await;
                panic!("{msg}\nscreenshot: {}", p.display())
            }
            None => panic!("{msg}"),
        }
    }

    /// Polls until the current URL's path satisfies `pred`; panics with the page text.
    pub async fn wait_path(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let p = self.current_path().await;
            if pred(&p) {
                return p;
            }
            if Instant::now() >= deadline {
                let msg = format!(
                    "expected {what}, still at {}; page text:\n{}",
                    self.current_url().await,
                    self.body_text().await
                );
                self.fail(msg).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Polls until the page text contains `needle`; returns the text.
    pub async fn wait_text(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let t = self.body_text().await;
            if t.contains(needle) {
                return t;
            }
            if Instant::now() >= deadline {
                let msg = format!(
                    "page {} never showed {needle:?}; text:\n{t}",
                    self.current_url().await
                );
                self.fail(msg).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Makes Chromium refuse requests to URLs matching the patterns (`*` wildcards),
    /// through the DevTools protocol (chromedriver's `goog/cdp/execute`).
    pub async fn block_urls(&self, patterns: &[&str]) {
        self.call(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({"cmd": "Network.enable", "params": {}})),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({"cmd": "Network.setBlockedURLs", "params": {"urls": patterns}})),
        )
        .await;
    }

    /// Deletes the session (also done on drop).
    pub async fn quit(mut self) {
        let _ = self.http.delete(self.url("")).send().await;
        self.session.clear();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Blocking DELETE over a raw socket (drop cannot await): closes Chromium.
        if !self.session.is_empty() {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let req = format!(
                    "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    self.session, self.port
                );
                if s.write_all(req.as_bytes()).is_ok() {
                    let mut buf = Vec::new();
                    let _ = s.read_to_end(&mut buf);
                }
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
