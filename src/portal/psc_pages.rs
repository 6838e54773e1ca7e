//! The French pages of the Pro Santé Connect login: the mailbox choice, and every
//! refusal with its way back to the login page.

use super::html::{alert, csrf_field, esc, info, layout, PageContext};
use super::pages::paths;

/// Title of every PSC page.
pub const TITLE: &str = "Connexion avec Pro Santé Connect";

/// Path of the mailbox choice form.
pub const CHOICE_PATH: &str = "/connexion/psc/choix";

/// A refusal: the message, a hint, and the way back.
pub fn refusal(ctx: &PageContext<'_>, message: &str, hint: Option<&str>) -> String {
    let body = format!(
        "{}{}<p><a class=\"button\" href=\"{}\">Retour à la page de connexion</a></p>",
        alert(message),
        hint.map(|h| format!("<p>{}</p>", esc(h)))
            .unwrap_or_default(),
        paths::LOGIN
    );
    layout(ctx, TITLE, &body)
}

/// Several personal mailboxes: one button each (labels from the annuaire).
pub fn choice(ctx: &PageContext<'_>, csrf: &str, token: &str, labels: &[String]) -> String {
    let mut forms = String::new();
    for (i, label) in labels.iter().enumerate() {
        forms.push_str(&format!(
            "<form method=\"post\" action=\"{CHOICE_PATH}\">{}\
             <input type=\"hidden\" name=\"choix\" value=\"{}\">\
             <input type=\"hidden\" name=\"bal\" value=\"{i}\">\
             <button type=\"submit\" class=\"bal\">{}</button></form>",
            csrf_field(csrf),
            esc(token),
            esc(label),
        ));
    }
    let body = format!(
        "{}<p>Choisissez la boîte aux lettres à ouvrir :</p>{forms}\
         <p><a href=\"{}\">Annuler</a></p>",
        info("Plusieurs boîtes aux lettres personnelles sont associées à votre identifiant."),
        paths::LOGIN
    );
    layout(ctx, TITLE, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::config::OperatorConfig;

    #[test]
    fn choice_lists_each_mailbox_escaped() {
        let op = OperatorConfig::default();
        let ctx = PageContext {
            operator: &op,
            logged_in: false,
        };
        let html = choice(
            &ctx,
            "c",
            "t",
            &["Dr <A>".to_string(), "B — b@x.fr".to_string()],
        );
        assert!(html.contains("Dr &lt;A&gt;"));
        assert_eq!(html.matches("name=\"bal\"").count(), 2);
        assert!(html.contains("Choisissez la boîte aux lettres"));
        let r = refusal(&ctx, "Refusé.", Some("Astuce"));
        assert!(r.contains("Retour à la page de connexion") && r.contains("href=\"/connexion\""));
    }
}
