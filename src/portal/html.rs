//! HTML building blocks: escaping and the common page layout (inline CSS, no JS).

use crate::auth::config::OperatorConfig;

/// Escapes text for HTML content and double-quoted attribute values (the only
/// quoting these pages use, so `'` needs no escape and French text stays readable).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;background:#eef2f6;color:#1d2630;line-height:1.5}
header{background:#fff;border-bottom:4px solid #00607a;padding:.75rem 1.5rem;display:flex;align-items:center;gap:1rem;flex-wrap:wrap}
header .brand{font-weight:700;font-size:1.15rem;color:#00607a}
header img{max-height:48px}
header nav{margin-left:auto;display:flex;gap:1rem}
main{max-width:34rem;margin:2rem auto;background:#fff;border-radius:8px;padding:2rem;box-shadow:0 1px 4px rgba(0,0,0,.12)}
h1{font-size:1.35rem;margin-top:0;color:#00475c}
h2{font-size:1.1rem;color:#00475c;border-top:1px solid #d5dde5;padding-top:1rem;margin-top:1.5rem}
label{display:block;font-weight:600;margin:.9rem 0 .3rem}
input[type=text],input[type=password],input[type=email],select{width:100%;padding:.6rem;border:1px solid #7a8894;border-radius:4px;font-size:1rem}
input:focus,select:focus,button:focus,a:focus{outline:3px solid #f0a500;outline-offset:2px}
button,.button{display:inline-block;margin-top:1.2rem;padding:.65rem 1.4rem;border:0;border-radius:4px;background:#00607a;color:#fff;font-size:1rem;font-weight:600;cursor:pointer;text-decoration:none}
button:hover,.button:hover{background:#004a5e}
.psc{display:block;text-align:center;background:#fff;color:#000091;border:2px solid #000091;margin:1rem 0}
.psc small{display:block;font-weight:400}
.alert{border-left:4px solid #b3261e;background:#fdecea;padding:.6rem .9rem;margin:1rem 0}
.info{border-left:4px solid #00607a;background:#e6f2f5;padding:.6rem .9rem;margin:1rem 0}
.hint{font-size:.9rem;color:#3c4a57;margin:.3rem 0}
.codes{font-family:ui-monospace,monospace;font-size:1.1rem;columns:2}
.qr{display:block;margin:1rem auto;width:200px;height:200px;image-rendering:pixelated}
.secret{font-family:ui-monospace,monospace;word-break:break-all}
footer{max-width:34rem;margin:0 auto 2rem;font-size:.9rem;color:#3c4a57;padding:0 1rem}
a{color:#00607a}
"#;

/// What every page needs to know about the request.
#[derive(Debug, Clone)]
pub struct PageContext<'a> {
    pub operator: &'a OperatorConfig,
    /// Show the "Accueil" / "Mon Profil" / "Déconnexion" links.
    pub logged_in: bool,
}

fn assistance(op: &OperatorConfig) -> String {
    let mut items = String::new();
    if let Some(p) = &op.support_phone {
        items.push_str(&format!(
            "<li><a href=\"tel:{}\">{}</a></li>",
            esc(&p.replace(' ', "")),
            esc(p)
        ));
    }
    if let Some(m) = &op.support_email {
        items.push_str(&format!("<li><a href=\"mailto:{0}\">{0}</a></li>", esc(m)));
    }
    if items.is_empty() {
        return String::new();
    }
    format!("<p>En cas de problème veuillez prévenir l'assistance :</p><ul>{items}</ul>")
}

/// A full page: `title` in `<title>` and `<h1>`, `body` already escaped HTML.
pub fn layout(ctx: &PageContext<'_>, title: &str, body: &str) -> String {
    let op = ctx.operator;
    let logo = op
        .logo_url
        .as_deref()
        .map(|u| format!("<img src=\"{}\" alt=\"\">", esc(u)))
        .unwrap_or_default();
    let nav = if ctx.logged_in {
        "<nav aria-label=\"Navigation\"><a href=\"/\">Accueil</a><a href=\"/profil\">Mon Profil</a>\
         <a href=\"/deconnexion\">Déconnexion</a></nav>"
    } else {
        ""
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"same-origin\">\
         <title>{title} – {name}</title><style>{STYLE}</style></head><body>\
         <header>{logo}<span class=\"brand\">{name}</span>{nav}</header>\
         <main id=\"contenu\"><h1>{title}</h1>{body}</main>\
         <footer>{assist}<p>Messagerie sécurisée de santé (MSSanté)</p></footer></body></html>",
        title = esc(title),
        name = esc(&op.name),
        assist = assistance(op),
    )
}

/// An alert box read out by screen readers.
pub fn alert(msg: &str) -> String {
    format!("<div class=\"alert\" role=\"alert\">{}</div>", esc(msg))
}

/// A neutral information box.
pub fn info(msg: &str) -> String {
    format!("<div class=\"info\" role=\"status\">{}</div>", esc(msg))
}

/// The hidden CSRF field.
pub fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(token)
    )
}

/// A labelled input. `extra` is raw attributes (autocomplete, required…).
pub fn field(id: &str, label: &str, kind: &str, value: &str, extra: &str) -> String {
    format!(
        "<label for=\"{id}\">{label}</label><input type=\"{kind}\" id=\"{id}\" name=\"{id}\" value=\"{}\" {extra}>",
        esc(value),
        label = esc(label),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;'"
        );
    }

    #[test]
    fn layout_has_operator_and_assistance() {
        let op = OperatorConfig {
            name: "e-santé <Pays>".into(),
            support_phone: Some("02 40 69 10 79".into()),
            support_email: Some("assistance@example.fr".into()),
            ..OperatorConfig::default()
        };
        let html = layout(
            &PageContext {
                operator: &op,
                logged_in: true,
            },
            "Titre",
            "<p>x</p>",
        );
        assert!(html.contains("lang=\"fr\""));
        assert!(html.contains("e-santé &lt;Pays&gt;"));
        assert!(html.contains("En cas de problème veuillez prévenir l'assistance"));
        assert!(html.contains("tel:0240691079"));
        assert!(html.contains("Déconnexion") && html.contains("Mon Profil"));
        assert!(!html.contains("<script"));
    }
}
