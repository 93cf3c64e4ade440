//! Speaking to a developer portal as a browser does: by Host header, with
//! its cookies and form token. Shared with the API tests' model
//! (`#[path]`), whose steps sign developers up.

use reqwest::{Method, StatusCode};

/// A portal answer: its status, `Location`, `Set-Cookie`s and body.
pub struct Got {
    pub status: StatusCode,
    pub location: String,
    pub cookies: Vec<String>,
    pub body: String,
}

/// `method url` with `Host: host`, these cookies and (when given) a form.
pub async fn visit(
    http: &reqwest::Client,
    method: Method,
    url: String,
    host: &str,
    cookie: &str,
    form: Option<&[(&str, &str)]>,
) -> Got {
    let mut req = http
        .request(method, url)
        .header("host", host)
        .header("cookie", cookie);
    if let Some(f) = form {
        req = req.form(f);
    }
    let res = req.send().await.unwrap();
    let header = |name: &str| -> Vec<String> {
        res.headers()
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    let location = header("location").pop().unwrap_or_default();
    let cookies = header("set-cookie");
    Got {
        status: res.status(),
        location,
        cookies,
        body: res.text().await.unwrap(),
    }
}

/// `name=value` of a `Set-Cookie` among these.
pub fn cookie_of(cookies: &[String], name: &str) -> Option<String> {
    cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .filter(|c| !c.ends_with('='))
}

/// The confirmation link in a mail (quoted-printable undone).
pub fn link_in(mail: &str) -> String {
    let text = mail
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let start = text.find("http://").expect("a link in the mail");
    text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect()
}

/// The portal form token a page set: its cookie (`name=value`) and value.
pub fn form_token(page: &Got) -> (String, String) {
    let cookie = cookie_of(&page.cookies, "orgscope_portal_form").expect("a form token");
    let token = cookie.split_once('=').unwrap().1.to_owned();
    (cookie, token)
}

/// The consumer key secrets (`ock_…`) a page shows.
pub fn keys_shown(body: &str) -> Vec<String> {
    body.match_indices("ock_")
        .map(|(at, _)| {
            body[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}
