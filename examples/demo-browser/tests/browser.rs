//! Every demo walked through in headless Chromium, the way a person uses
//! the page: the counter persists across reloads; a flash shows once; an
//! empty user name is refused; login shows the user and changes the id
//! cookie; remember-me sets a persistent cookie and forget-me takes its
//! expiry away; the theme applies; the page's inline style and script
//! pass its content security policy and an injected script does not;
//! values are stored by a form, the demo's own keys refused, and a link
//! changes nothing; a second browser has its own session, signs in as
//! the same user and is signed out from the first one's devices list;
//! Back and reload show the current state; logout clears the user; a
//! tampered cookie is removed with a notice; a wrong method or address
//! gets the same page in every framework; Secure cookies are kept on
//! http://127.0.0.1 and http://localhost.
//!
//! The demos run with their defaults (Secure cookies) on the memory
//! store. A failing step saves a screenshot under
//! `target/browser-failures/`; a passing walk saves the pages a person
//! would look at under `target/demo-screenshots/`.
//!
//! Without Chromium and chromedriver the test is skipped with a message;
//! with `CI=true` it fails instead.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use demo_browser::{Browser, Driver, Tools, required, target_dir};
use fantoccini::Locator;
use fantoccini::cookies::Cookie;

/// One walk at a time: each runs two Chromiums, and the machine may have
/// two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How long a page may take to appear after a click.
const PAGE_DEADLINE: Duration = Duration::from_secs(15);

type Step = Result<(), String>;

/// Every demo of demo-interop's list, one after the other (each walk runs
/// two Chromiums); every walk runs, and the failures are reported together.
#[test]
fn every_demo_works_in_chromium() {
    let failed: Vec<&str> = demo_interop::DEMOS
        .iter()
        .filter(|(name, _)| std::panic::catch_unwind(|| walk_demo(name)).is_err())
        .map(|(name, _)| *name)
        .collect();
    assert!(failed.is_empty(), "the browser walk failed on the {failed:?} demo(s); see the messages above");
}

fn walk_demo(name: &str) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let tools = match Tools::find() {
        Ok(tools) => tools,
        Err(missing) if required() => panic!("the browser test is required under CI=true: {missing}"),
        Err(missing) => {
            eprintln!("skipped: the browser test of the {name} demo: {missing}");
            return;
        }
    };
    let (_, spawn) = demo_interop::DEMOS.iter().find(|(n, _)| *n == name).expect("a demo of that name");
    let vars = [("DEMO_ADDR", "127.0.0.1:0"), ("SESSION_STORE", "memory")];
    let app = demo_kit::launch(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(), *spawn)
        .unwrap_or_else(|e| panic!("the {name} demo did not start: {e}"));
    let driver = Driver::start(&tools).unwrap_or_else(|e| panic!("{e}"));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let browser = driver.browser().await.unwrap_or_else(|e| panic!("{e}"));
        let mut walk = Walk { demo: name, base: format!("http://{}", app.addr), browser, step: "start" };
        let result = walk.through(&driver).await;
        if let Err(error) = result {
            let shot = target_dir("browser-failures").join(format!("{name}-{}.png", walk.step.replace(' ', "-")));
            let saved = match walk.browser.screenshot(&shot).await {
                Ok(()) => format!("screenshot: {}", shot.display()),
                Err(e) => format!("no screenshot: {e}"),
            };
            let page = walk.text("body").await.unwrap_or_default();
            walk.browser.close().await;
            panic!("{name} demo, step `{}`: {error}\n{saved}\npage text:\n{page}", walk.step);
        }
        walk.browser.close().await;
    });
}

/// One person's walk through one demo.
struct Walk<'a> {
    demo: &'a str,
    base: String,
    browser: Browser,
    /// The step under way, named in a failure and its screenshot.
    step: &'static str,
}

impl Walk<'_> {
    async fn through(&mut self, driver: &Driver) -> Step {
        self.step = "first visit";
        self.goto("/").await?;
        self.expect_text("#framework", self.demo).await?;
        self.expect_text("#count", "Counter: 0").await?;
        self.expect_text("#user", "nobody").await?;
        if self.cookie("id").await?.is_some() {
            return Err("a visit that writes nothing must set no cookie".into());
        }
        self.shot("1-first-visit").await?;

        self.step = "counter persists across reloads";
        for n in 1..=3 {
            self.click("#counter-form button").await?;
            self.expect_path("/").await?;
            self.expect_text("#count", &format!("Counter: {n}")).await?;
            self.expect_contains("#notices", &format!("Counted: {n}")).await?;
        }
        self.reload().await?;
        self.expect_text("#count", "Counter: 3").await?;
        self.expect_text("#notices", "").await?;

        self.step = "a flash shows once";
        self.fill("#flash-form input[name=message]", "hello from Chromium").await?;
        self.click("#flash-form button").await?;
        self.expect_contains("#flashes", "hello from Chromium").await?;
        self.expect_contains("#notices", "Flash queued").await?;
        self.shot("2-flash").await?;
        self.reload().await?;
        self.expect_text("#flashes", "No flash waiting.").await?;

        self.step = "an empty user name is refused";
        self.click("#login-form button").await?;
        self.expect_contains("#notices", "Type a user name").await?;
        self.expect_text("#user", "nobody").await?;

        self.step = "login shows the user and changes the id cookie";
        let before = self.cookie("id").await?.ok_or("the counter set no id cookie")?;
        let fingerprint = self.text("#fingerprint").await?;
        self.fill("#login-form input[name=user]", "ada").await?;
        self.click("#login-form button").await?;
        self.expect_text("#user", "ada").await?;
        self.expect_contains("#notices", "Logged in as ada").await?;
        let after = self.cookie("id").await?.ok_or("login left no id cookie")?;
        if after.value() == before.value() {
            return Err("login kept the id cookie's value".into());
        }
        if self.text("#fingerprint").await? == fingerprint {
            return Err(format!("login kept the fingerprint {fingerprint}"));
        }
        self.expect_text("#count", "Counter: 3").await?;
        self.shot("3-logged-in").await?;

        self.step = "remember me sets a persistent cookie";
        self.click("#remember-form button").await?;
        self.expect_contains("#lifetime", "Remembered").await?;
        let remembered = self.cookie("id").await?.ok_or("remember-me left no id cookie")?;
        let expires = remembered.expires_datetime().ok_or("a remembered cookie must have an expiry")?;
        let days = (expires.unix_timestamp() - now()) / 86_400;
        if !(29..=30).contains(&days) {
            return Err(format!("a remembered cookie must last 30 days, it lasts {days}"));
        }
        self.shot("4-remembered").await?;

        self.step = "forget me makes it a browser-session cookie";
        self.click("#remember-form button").await?;
        self.expect_contains("#lifetime", "Browser session").await?;
        let forgotten = self.cookie("id").await?.ok_or("forget-me must keep the session")?;
        if forgotten.expires_datetime().is_some() {
            return Err(format!("a forgotten cookie must have no expiry: {forgotten:?}"));
        }
        self.expect_text("#user", "ada").await?;

        self.step = "the theme applies and lives in its own cookie";
        let id_before = self.cookie("id").await?.map(|c| c.value().to_owned());
        self.select("#theme-form select", "dark").await?;
        self.click("#theme-form button").await?;
        self.expect_text("#theme", "dark").await?;
        let theme = self.attribute("html", "data-theme").await?;
        if theme.as_deref() != Some("dark") {
            return Err(format!("the page's theme is {theme:?}"));
        }
        let background = self.script("return getComputedStyle(document.body).backgroundColor").await?;
        if brightness(&background).is_none_or(|b| b > 80) {
            return Err(format!("the dark theme left the background at {background}"));
        }
        if self.cookie("id").await?.map(|c| c.value().to_owned()) != id_before {
            return Err("setting the theme changed the id cookie".into());
        }
        if self.cookie("prefs").await?.is_none() {
            return Err("the theme set no prefs cookie".into());
        }
        self.shot("5-dark-theme").await?;

        self.step = "the page's own style and script pass its security policy, an injected script does not";
        let verdict = self.async_script(POLICY_PROBE).await?;
        if verdict != r#"{"injected":false,"violations":["script-src-elem"]}"# {
            return Err(format!("the content security policy judged the page's inline parts wrongly: {verdict}"));
        }

        self.step = "values are stored by a form and the demo's own keys refused";
        self.fill("#kv-form input[name=k]", "colour").await?;
        self.fill("#kv-form input[name=v]", "blue").await?;
        self.click("#kv-form button").await?;
        self.expect_contains("#notices", "Stored colour").await?;
        self.expect_contains("#values", "blue").await?;
        self.fill("#kv-form input[name=k]", "user").await?;
        self.fill("#kv-form input[name=v]", "mallory").await?;
        self.click("#kv-form button").await?;
        self.expect_contains("#notices", "user is the demo's own: log in").await?;
        self.expect_text("#user", "ada").await?;
        self.shot("5-values").await?;
        self.goto("/kv?k=user&v=mallory").await?;
        self.goto("/").await?;
        self.expect_text("#user", "ada").await?;

        self.step = "a second browser has its own session, and is signed out from this one's devices";
        let other = driver.browser().await?;
        let phone = Walk { demo: self.demo, base: self.base.clone(), browser: other, step: self.step };
        let seen = async {
            phone.goto("/").await?;
            phone.expect_text("#count", "Counter: 0").await?;
            phone.expect_text("#user", "nobody").await?;
            phone.click("#counter-form button").await?;
            phone.expect_text("#count", "Counter: 1").await?;
            phone.fill("#login-form input[name=user]", "ada").await?;
            phone.click("#login-form button").await?;
            phone.expect_text("#user", "ada").await?;
            let handle = phone
                .attribute("#devices tr.current", "data-handle")
                .await?
                .ok_or("the second browser's devices list marks no row as this browser")?;

            self.reload().await?;
            self.expect_contains("#devices tr.current", "This browser").await?;
            let row = format!("#devices tr[data-handle='{handle}']");
            self.expect_contains(&row, "Session").await?;
            self.script("document.getElementById('devices-section').scrollIntoView(); return ''").await?;
            self.shot("5b-devices").await?;
            self.click(&format!("{row} button")).await?;
            self.expect_contains("#notices", "Signed that device out").await?;
            if self.script(&format!("return String(document.querySelector(\"{row}\") === null)")).await? != "true" {
                return Err("the signed-out device is still listed".to_owned());
            }
            self.script("document.getElementById('devices-section').scrollIntoView(); return ''").await?;
            self.shot("5c-device-signed-out").await?;

            phone.reload().await?;
            phone.expect_text("#user", "nobody").await?;
            phone.expect_contains("#devices", "Log in to see").await?;
            phone.shot("5d-signed-out-elsewhere").await
        }
        .await;
        phone.browser.close().await;
        seen.map_err(|e| format!("with the second browser: {e}"))?;
        self.reload().await?;
        self.expect_text("#count", "Counter: 3").await?;
        self.expect_text("#user", "ada").await?;

        self.step = "back and reload show the current state";
        self.goto("/").await?;
        self.click("#counter-form button").await?;
        self.expect_text("#count", "Counter: 4").await?;
        self.back().await?;
        self.expect_text("#count", "Counter: 4").await?;
        self.reload().await?;
        self.expect_text("#count", "Counter: 4").await?;

        self.step = "logout clears the user";
        self.click("#logout-form button").await?;
        self.expect_text("#user", "nobody").await?;
        self.expect_text("#count", "Counter: 0").await?;
        self.expect_contains("#notices", "Logged out").await?;
        self.reload().await?;
        self.expect_text("#user", "nobody").await?;

        self.step = "a tampered cookie is removed with a notice";
        self.click("#counter-form button").await?;
        self.expect_text("#count", "Counter: 1").await?;
        let cookie = self.cookie("id").await?.ok_or("the counter set no id cookie")?;
        let mut value = cookie.value().to_owned().into_bytes();
        let middle = value.len() / 2;
        value[middle] = if value[middle] == b'A' { b'B' } else { b'A' };
        let mut tampered = Cookie::new("id", String::from_utf8(value).expect("cookie values are ASCII"));
        tampered.set_path("/");
        if let Some(domain) = cookie.domain() {
            // chromedriver refuses a cookie without one.
            tampered.set_domain(domain.to_owned());
        }
        tampered.set_http_only(true);
        tampered.set_secure(cookie.secure().unwrap_or(false));
        tampered.set_same_site(cookie::SameSite::Lax);
        let client = self.browser.client();
        client.delete_cookie("id").await.map_err(|e| format!("delete the cookie: {e}"))?;
        client.add_cookie(tampered).await.map_err(|e| format!("plant the tampered cookie: {e}"))?;
        self.reload().await?;
        self.expect_contains("#notices", "refused").await?;
        self.expect_text("#count", "Counter: 0").await?;
        self.shot("6-tampered-cookie").await?;
        if self.cookie("id").await?.is_some() {
            return Err("the refused cookie is still in the browser".into());
        }

        self.step = "a wrong method or address gets a page with a way back";
        self.goto("/flash").await?;
        self.expect_contains("h1", "405").await?;
        self.shot("7-wrong-method").await?;
        self.goto("/nowhere").await?;
        self.expect_contains("h1", "404").await?;
        self.click("a[href='/']").await?;
        self.expect_path("/").await?;

        self.step = "Secure cookies are kept on http://localhost";
        let port = self.base.rsplit(':').next().unwrap_or_default().to_owned();
        self.base = format!("http://localhost:{port}");
        self.goto("/").await?;
        self.click("#counter-form button").await?;
        self.reload().await?;
        self.expect_text("#count", "Counter: 1").await?;
        let secure = self.cookie("id").await?.and_then(|c| c.secure());
        if secure != Some(true) {
            return Err(format!("the demo's default cookies must be Secure, got secure={secure:?}"));
        }
        Ok(())
    }

    async fn goto(&self, path: &str) -> Step {
        let url = format!("{}{path}", self.base);
        self.browser.client().goto(&url).await.map_err(|e| format!("open {url}: {e}"))
    }

    /// Clicks and waits until the next page has loaded.
    async fn click(&self, css: &str) -> Step {
        self.mark_page().await?;
        let element = self.find(css).await?;
        element.click().await.map_err(|e| format!("click {css}: {e}"))?;
        self.wait_for_new_page(css).await
    }

    async fn reload(&self) -> Step {
        self.mark_page().await?;
        self.browser.client().refresh().await.map_err(|e| format!("reload: {e}"))?;
        self.wait_for_new_page("reload").await
    }

    async fn back(&self) -> Step {
        self.mark_page().await?;
        self.browser.client().back().await.map_err(|e| format!("back: {e}"))?;
        self.wait_for_new_page("back").await
    }

    /// Marks the current document, so a new one can be told from it (a
    /// page restored from the back-forward cache keeps the mark).
    async fn mark_page(&self) -> Step {
        self.script("window.__walked = true; return null").await.map(drop)
    }

    async fn wait_for_new_page(&self, after: &str) -> Step {
        let deadline = Instant::now() + PAGE_DEADLINE;
        loop {
            let ready = self.script("return window.__walked === undefined && document.readyState === 'complete'").await;
            if ready.as_deref() == Ok("true") {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("no new page within {PAGE_DEADLINE:?} after {after}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn find(&self, css: &str) -> Result<fantoccini::elements::Element, String> {
        self.browser.client().find(Locator::Css(css)).await.map_err(|e| format!("find {css}: {e}"))
    }

    async fn fill(&self, css: &str, text: &str) -> Step {
        let input = self.find(css).await?;
        input.clear().await.map_err(|e| format!("clear {css}: {e}"))?;
        input.send_keys(text).await.map_err(|e| format!("type into {css}: {e}"))
    }

    async fn select(&self, css: &str, value: &str) -> Step {
        self.find(css).await?.select_by_value(value).await.map_err(|e| format!("select {value} in {css}: {e}"))
    }

    async fn text(&self, css: &str) -> Result<String, String> {
        self.find(css).await?.text().await.map(|t| t.trim().to_owned()).map_err(|e| format!("text of {css}: {e}"))
    }

    async fn attribute(&self, css: &str, name: &str) -> Result<Option<String>, String> {
        self.find(css).await?.attr(name).await.map_err(|e| format!("{name} of {css}: {e}"))
    }

    async fn script(&self, js: &str) -> Result<String, String> {
        let value = self.browser.client().execute(js, vec![]).await.map_err(|e| format!("script: {e}"))?;
        Ok(match value {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        })
    }

    /// Runs `js` as an asynchronous script: it answers by calling its last
    /// argument.
    async fn async_script(&self, js: &str) -> Result<String, String> {
        let value = self.browser.client().execute_async(js, vec![]).await.map_err(|e| format!("script: {e}"))?;
        Ok(match value {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        })
    }

    async fn expect_text(&self, css: &str, want: &str) -> Step {
        let got = self.text(css).await?;
        if got == want { Ok(()) } else { Err(format!("{css} shows {got:?}, expected {want:?}")) }
    }

    async fn expect_contains(&self, css: &str, want: &str) -> Step {
        let got = self.text(css).await?;
        if got.contains(want) { Ok(()) } else { Err(format!("{css} shows {got:?}, expected it to contain {want:?}")) }
    }

    async fn expect_path(&self, want: &str) -> Step {
        let url = self.browser.client().current_url().await.map_err(|e| format!("current url: {e}"))?;
        if url.path() == want { Ok(()) } else { Err(format!("the browser is at {url}, expected the path {want}")) }
    }

    async fn cookie(&self, name: &str) -> Result<Option<Cookie<'static>>, String> {
        let cookies = self.browser.client().get_all_cookies().await.map_err(|e| format!("cookies: {e}"))?;
        Ok(cookies.into_iter().find(|c| c.name() == name))
    }

    /// Saves what a person sees now under `target/demo-screenshots/`.
    async fn shot(&self, name: &str) -> Step {
        let path = target_dir("demo-screenshots").join(format!("{}-{name}.png", self.demo));
        self.browser.screenshot(&path).await
    }
}

/// Inserts copies of the page's inline style and script, and a script of
/// its own, then reports which the page's content security policy refused
/// (WebDriver's own scripts are exempt, the elements they insert are not):
/// only the foreign script must be refused, and it must not have run.
const POLICY_PROBE: &str = r#"
const done = arguments[arguments.length - 1];
const violations = [];
document.addEventListener("securitypolicyviolation", (e) => violations.push(e.violatedDirective));
for (const [tag, text] of [
    ["style", document.querySelector("style").textContent],
    ["script", document.querySelector("script").textContent],
    ["script", "window.__injected = true;"],
]) {
    const element = document.createElement(tag);
    element.textContent = text;
    document.head.appendChild(element);
}
setTimeout(() => done(JSON.stringify({ injected: window.__injected === true, violations })), 500);
"#;

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// The mean of the channels of a CSS `rgb(r, g, b)` colour.
fn brightness(css: &str) -> Option<u32> {
    let inner = css.trim().strip_prefix("rgb")?.trim_start_matches('a').strip_prefix('(')?.strip_suffix(')')?;
    let channels: Vec<u32> = inner.split(',').take(3).map(|c| c.trim().parse().ok()).collect::<Option<_>>()?;
    (channels.len() == 3).then(|| channels.iter().sum::<u32>() / 3)
}
