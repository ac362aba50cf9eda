//! The harness of the browser test: headless Chromium driven through
//! chromedriver, which the test starts itself on a free loopback port.
//!
//! The test (`tests/browser.rs`) walks every demo as a person does. It
//! needs the Debian packages `chromium` and `chromium-driver` (or
//! `CHROMIUM` and `CHROMEDRIVER` naming the binaries); without them it is
//! skipped with a message, unless `CI=true`, where it fails.
//!
//! ```
//! // Where the test looks for its tools; `Err` says what is missing.
//! match demo_browser::Tools::find() {
//!     Ok(tools) => println!("chromium at {}", tools.chromium.display()),
//!     Err(missing) => println!("no browser test here: {missing}"),
//! }
//! ```
#![deny(missing_docs)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;

/// The Chromium flags the test runs with: headless, no sandbox (tests may
/// run as root), and nothing that reaches the network on its own.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1500",
];

/// The two programs the test drives.
#[derive(Debug, Clone)]
pub struct Tools {
    /// The browser.
    pub chromium: PathBuf,
    /// The WebDriver server for it.
    pub chromedriver: PathBuf,
}

impl Tools {
    /// `CHROMIUM` and `CHROMEDRIVER` if set, else the usual names on `PATH`;
    /// `Err` names what is missing and how to install it.
    pub fn find() -> Result<Tools, String> {
        let chromium = from_env_or_path("CHROMIUM", &["chromium", "chromium-browser", "google-chrome"]);
        let chromedriver = from_env_or_path("CHROMEDRIVER", &["chromedriver"]);
        match (chromium, chromedriver) {
            (Some(chromium), Some(chromedriver)) => Ok(Tools { chromium, chromedriver }),
            (chromium, _) => Err(format!(
                "{} not found (apt-get install chromium chromium-driver, or set CHROMIUM and CHROMEDRIVER)",
                if chromium.is_none() { "chromium" } else { "chromedriver" }
            )),
        }
    }
}

fn from_env_or_path(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var).map(PathBuf::from) {
        return path.is_file().then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    names.iter().flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name))).find(|p| p.is_file())
}

/// True when a missing browser must fail the run (`CI=true`) rather than
/// skip the test.
pub fn required() -> bool {
    std::env::var("CI").is_ok_and(|ci| ci == "true")
}

/// A chromedriver process on a free loopback port, killed when dropped.
#[derive(Debug)]
pub struct Driver {
    child: Child,
    url: String,
    chromium: PathBuf,
}

impl Driver {
    /// Starts chromedriver and waits (at most ten seconds) until it answers.
    pub fn start(tools: &Tools) -> Result<Driver, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port for chromedriver: {e}"))?
            .port();
        let child = Command::new(&tools.chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", tools.chromedriver.display()))?;
        let driver = Driver { child, url: format!("http://127.0.0.1:{port}"), chromium: tools.chromium.clone() };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("chromedriver did not listen within ten seconds".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(driver)
    }

    /// A new browser with a fresh profile of its own: its own cookies, its
    /// own history, as a second person on another machine.
    pub async fn browser(&self) -> Result<Browser, String> {
        let profile = std::env::temp_dir().join(format!("demo-browser-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&profile).map_err(|e| format!("cannot create {}: {e}", profile.display()))?;
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|flag| (*flag).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": self.chromium, "args": args },
        });
        let serde_json::Value::Object(capabilities) = capabilities else { unreachable!("an object literal") };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .map_err(|e| format!("chromedriver could not start chromium: {e}"))?;
        Ok(Browser { client: Some(client), profile })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// One Chromium with its own profile directory, removed when dropped.
#[derive(Debug)]
pub struct Browser {
    client: Option<Client>,
    profile: PathBuf,
}

impl Browser {
    /// The WebDriver client of this browser.
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("the browser is open until closed")
    }

    /// Ends the browser (chromedriver stops its Chromium).
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }

    /// Saves a PNG of what the browser shows to `path`, creating its folder.
    pub async fn screenshot(&self, path: &Path) -> Result<(), String> {
        let png = self.client().screenshot().await.map_err(|e| format!("screenshot: {e}"))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(path, png).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Where screenshots go: `<target>/<folder>`, the target directory being
/// `CARGO_TARGET_DIR` or the workspace's `target`.
pub fn target_dir(folder: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join(folder)
}
