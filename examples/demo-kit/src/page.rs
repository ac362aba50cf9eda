//! The demo's one HTML page, the same in every framework.

/// What the home page shows; every demo renders it with [`home_page`].
#[derive(Debug, Clone, Default)]
pub struct HomeView {
    /// The counter of the main session.
    pub count: u64,
    /// The flash messages taken for this page.
    pub flashes: Vec<String>,
    /// The logged-in user.
    pub user: Option<String>,
    /// The theme from the `prefs` session.
    pub theme: Option<String>,
}

/// The demo's HTML home page, the same in every framework.
///
/// ```
/// let page = demo_kit::home_page(&demo_kit::HomeView { user: Some("<ada>".into()), ..Default::default() });
/// assert!(page.contains("&lt;ada&gt;"));
/// ```
pub fn home_page(view: &HomeView) -> String {
    let flashes: String = view.flashes.iter().map(|f| format!("<li>{}</li>", escape(f))).collect();
    let user = view.user.as_deref().map_or_else(|| "nobody".to_owned(), escape);
    let theme = view.theme.as_deref().map_or_else(|| "default".to_owned(), escape);
    format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>sessions demo</title></head>
<body>
<h1>sessions demo</h1>
<p>Counter: {count} (<a href="/counter">increment</a>, <a href="/peek">peek</a>)</p>
<p>Flash messages:</p><ul>{flashes}</ul>
<form method="post" action="/flash"><input name="message" placeholder="message"><button>Queue flash</button></form>
<p>Logged in as: {user}</p>
<form method="post" action="/login"><input name="user" placeholder="user name"><button>Log in</button></form>
<form method="post" action="/logout"><button>Log out</button></form>
<form method="post" action="/remember"><input type="hidden" name="on" value="1"><button>Remember me</button></form>
<form method="post" action="/remember"><input type="hidden" name="on" value="0"><button>Forget me</button></form>
<p>Theme: {theme}</p>
<form method="get" action="/prefs"><input name="theme" placeholder="theme"><button>Set theme</button></form>
</body>
</html>
"#,
        count = view.count,
    )
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
