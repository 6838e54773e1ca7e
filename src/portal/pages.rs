//! The portal pages, with the guide's French labels (section 1 of the user guide).
//! Every renderer returns a complete HTML document; every form carries a CSRF field.

use super::forms::PASSWORD_RULES;
use super::html::{alert, csrf_field, esc, field, info, layout, PageContext};
use crate::store::OtpChannel;

/// Form actions (the router serves these paths).
pub mod paths {
    pub const LOGIN: &str = "/connexion";
    pub const OTP: &str = "/otp";
    pub const OTP_SEND: &str = "/otp/envoyer";
    pub const OTP_SETUP: &str = "/otp/parametrage";
    pub const OTP_TEST: &str = "/otp/test";
    pub const FORGOT: &str = "/mot-de-passe-oublie";
    pub const NEW_PASSWORD: &str = "/nouveau-mot-de-passe";
    pub const PROFILE: &str = "/profil";
    pub const PROFILE_EMAIL: &str = "/profil/email";
    pub const PROFILE_EMAIL_CONFIRM: &str = "/profil/email/confirmation";
    pub const PROFILE_PASSWORD: &str = "/profil/mot-de-passe";
    pub const PROFILE_OTP: &str = "/profil/otp";
    pub const PROFILE_OTP_SEND: &str = "/profil/otp/envoyer";
    pub const LOGOUT: &str = "/deconnexion";
    pub const LOGOUT_ALL: &str = "/deconnexion/partout";
    pub const PSC: &str = "/connexion/psc";
}

/// Login page (A1).
pub fn login(
    ctx: &PageContext<'_>,
    csrf: &str,
    username: &str,
    return_to: &str,
    error: Option<&str>,
    notice: Option<&str>,
) -> String {
    let psc = if ctx.operator.psc_enabled {
        let href = match return_to {
            "/" | "" => paths::PSC.to_string(),
            r => format!(
                "{}?retour={}",
                paths::PSC,
                url::form_urlencoded::byte_serialize(r.as_bytes()).collect::<String>()
            ),
        };
        format!(
            "<a class=\"button psc\" href=\"{}\">s'identifier avec <strong>PRO SANTÉ CONNECT</strong>\
             <small>Un service du ministère chargé de la Santé</small></a>",
            esc(&href)
        )
    } else {
        String::new()
    };
    let intro = if ctx.operator.psc_enabled {
        "Veuillez utiliser Pro Santé Connect ou votre prénom.nom pour vous identifier."
    } else {
        "Veuillez utiliser votre prénom.nom pour vous identifier."
    };
    let body = format!(
        "<p>{intro}</p>{err}{note}{psc}<form method=\"post\" action=\"{action}\">{csrf}\
         <input type=\"hidden\" name=\"return_to\" value=\"{rt}\">{user}{pass}\
         <p><a href=\"{forgot}\">Mot de passe oublié / Première connexion</a></p>\
         <button type=\"submit\">Se connecter</button></form>",
        err = error.map(alert).unwrap_or_default(),
        note = notice.map(info).unwrap_or_default(),
        action = paths::LOGIN,
        csrf = csrf_field(csrf),
        rt = esc(return_to),
        user = field(
            "username",
            "Nom d'utilisateur :",
            "text",
            username,
            "autocomplete=\"username\" required autofocus"
        ),
        pass = field(
            "password",
            "Mot de passe :",
            "password",
            "",
            "autocomplete=\"current-password\" required"
        ),
        forgot = paths::FORGOT,
    );
    layout(
        ctx,
        "Bienvenue sur votre messagerie sécurisée de santé",
        &body,
    )
}

/// One-time password page after the password.
pub fn otp(
    ctx: &PageContext<'_>,
    csrf: &str,
    channel: OtpChannel,
    error: Option<&str>,
    notice: Option<&str>,
) -> String {
    let hint = match channel {
        OtpChannel::Email => "Saisissez le code à usage unique reçu par email.",
        OtpChannel::Totp => {
            "Saisissez le code à usage unique affiché par votre application d'authentification."
        }
    };
    let resend = if channel == OtpChannel::Email {
        format!(
            "<form method=\"post\" action=\"{}\">{}<button type=\"submit\">Renvoyer un code</button></form>",
            paths::OTP_SEND,
            csrf_field(csrf)
        )
    } else {
        String::new()
    };
    let body = format!(
        "<p>{hint}</p>{err}{note}<form method=\"post\" action=\"{action}\">{csrf}\
         {code}<p>Téléphone perdu ? Saisissez l'un de vos codes de secours à la place.</p>\
         <button type=\"submit\">Valider</button></form>{resend}",
        err = error.map(alert).unwrap_or_default(),
        note = notice.map(info).unwrap_or_default(),
        action = paths::OTP,
        csrf = csrf_field(csrf),
        code = field(
            "code",
            "Mot de passe unique :",
            "text",
            "",
            "inputmode=\"numeric\" autocomplete=\"one-time-code\" required autofocus"
        ),
    );
    layout(ctx, "Authentification", &body)
}

/// What the channel set-up page shows for the application channel.
pub struct TotpSetupView<'a> {
    pub qr_png_base64: &'a str,
    pub otpauth_uri: &'a str,
    pub secret_base32: &'a str,
}

fn channel_select(selected: Option<OtpChannel>) -> String {
    let opt = |v: OtpChannel, label: &str| {
        format!(
            "<option value=\"{}\"{}>{}</option>",
            v.as_str(),
            if selected == Some(v) { " selected" } else { "" },
            label
        )
    };
    format!(
        "<label for=\"channel\">Canal de télécommunication :</label><select id=\"channel\" name=\"channel\">{}{}</select>",
        opt(OtpChannel::Email, "Email - Envoi de l'OTP"),
        opt(OtpChannel::Totp, "Application mobile de type Authenticator"),
    )
}

/// OTP channel set-up (first connection or profile), then "Tester la saisie d'un OTP".
pub fn otp_setup(
    ctx: &PageContext<'_>,
    csrf: &str,
    email: &str,
    channel: Option<OtpChannel>,
    totp: Option<&TotpSetupView<'_>>,
    error: Option<&str>,
) -> String {
    let mut body = format!(
        "<p>Veuillez configurer le canal de télécommunication du mot de passe unique.</p>{err}\
         <form method=\"post\" action=\"{action}\">{csrf}<h2>Mot de passe unique</h2>{email}{select}\
         <button type=\"submit\">Valider</button></form>",
        err = error.map(alert).unwrap_or_default(),
        action = paths::OTP_SETUP,
        csrf = csrf_field(csrf),
        email = field("email", "E-mail :", "email", email, "autocomplete=\"email\" required"),
        select = channel_select(channel),
    );
    if let Some(t) = totp {
        body.push_str(&format!(
            "<h2>Application d'authentification</h2><p>Scannez le QR Code à l'aide de votre application de mot de passe unique.</p>\
             <img class=\"qr\" src=\"data:image/png;base64,{qr}\" alt=\"QR Code à scanner avec votre application\">\
             <p>Si vous ne pouvez pas scanner le QR Code, saisissez cette clé dans l'application :</p>\
             <p class=\"secret\">{secret}</p><p><a href=\"{uri}\">Ouvrir dans l'application</a></p>",
            qr = esc(t.qr_png_base64),
            secret = esc(t.secret_base32),
            uri = esc(t.otpauth_uri),
        ));
    }
    if channel.is_some() {
        body.push_str(&format!(
            "<h2>Tester la saisie d'un OTP</h2><form method=\"post\" action=\"{action}\">{csrf}{code}\
             <button type=\"submit\">Tester</button></form>",
            action = paths::OTP_TEST,
            csrf = csrf_field(csrf),
            code = field("code", "Mot de passe unique :", "text", "", "inputmode=\"numeric\" autocomplete=\"one-time-code\" required"),
        ));
    }
    layout(ctx, "Paramétrage du mot de passe unique", &body)
}

/// Recovery codes, shown once after a successful set-up.
pub fn recovery_codes(ctx: &PageContext<'_>, codes: &[&str]) -> String {
    let items: String = codes
        .iter()
        .map(|c| format!("<li>{}</li>", esc(c)))
        .collect();
    let body = format!(
        "{}<p>Conservez ces codes de secours en lieu sûr (hors de votre messagerie). Chacun permet une seule \
         connexion si vous perdez l'accès à votre code à usage unique. Ils ne seront plus affichés.</p>\
         <ol class=\"codes\">{items}</ol><p><a class=\"button\" href=\"/\">Continuer</a></p>",
        info("Votre mot de passe unique est paramétré.")
    );
    layout(ctx, "Codes de secours", &body)
}

/// Forgotten password / first connection request (A5).
pub fn forgot(
    ctx: &PageContext<'_>,
    csrf: &str,
    notice: Option<&str>,
    error: Option<&str>,
) -> String {
    let body = format!(
        "<p>Renseignez votre identifiant qui est du type « prénom.nom » ainsi que votre adresse email \
         qui a été utilisée lors de l'inscription et cliquez sur valider. Vous recevrez ensuite un lien \
         par email vous invitant à paramétrer votre mot de passe. Ce lien est valable pendant 1h.</p>{err}{note}\
         <form method=\"post\" action=\"{action}\">{csrf}{user}{email}<button type=\"submit\">Valider</button></form>\
         <p><a href=\"{login}\">Retour à la connexion</a></p>",
        err = error.map(alert).unwrap_or_default(),
        note = notice.map(info).unwrap_or_default(),
        action = paths::FORGOT,
        csrf = csrf_field(csrf),
        user = field("username", "Nom d'utilisateur :", "text", "", "autocomplete=\"username\" required autofocus"),
        email = field("email", "E-mail :", "email", "", "autocomplete=\"email\" required"),
        login = paths::LOGIN,
    );
    layout(ctx, "Mot de passe oublié", &body)
}

/// The generic answer to a reset request: never says whether the account exists.
pub const FORGOT_SENT: &str =
    "Si ces informations correspondent à un compte, un lien valable 1 h vient d'être envoyé à l'adresse indiquée.";

/// The password rules, tied to the new-password field for screen readers.
fn rules() -> String {
    format!(
        "<p id=\"regles-mdp\" class=\"hint\">{}</p>",
        esc(PASSWORD_RULES)
    )
}

fn new_password_fields() -> String {
    format!(
        "{new}{rules}{confirm}",
        new = field(
            "password",
            "Nouveau mot de passe :",
            "password",
            "",
            "autocomplete=\"new-password\" aria-describedby=\"regles-mdp\" required"
        ),
        rules = rules(),
        confirm = field(
            "confirmation",
            "Confirmation du mot de passe :",
            "password",
            "",
            "autocomplete=\"new-password\" required"
        ),
    )
}

/// New password + confirmation, reached through the emailed link (A5). The OTP
/// channel is set up at the next login when the user has none yet.
pub fn new_password(
    ctx: &PageContext<'_>,
    csrf: &str,
    link_token: &str,
    username: &str,
    error: Option<&str>,
) -> String {
    let body = format!(
        "<p>Veuillez entrer votre nouveau mot de passe.</p>{err}<form method=\"post\" action=\"{action}\">{csrf}\
         <input type=\"hidden\" name=\"token\" value=\"{tok}\">\
         <h2>Identifiant/Mot de passe</h2><p>Identifiant : <strong>{user}</strong></p>\
         <input type=\"hidden\" name=\"username\" value=\"{user}\" autocomplete=\"username\">{fields}\
         <button type=\"submit\">Valider</button></form>\
         <p>Vous vous connecterez ensuite avec ce nouveau mot de passe. Si votre mot de passe unique \
         n'est pas encore paramétré, vous le configurerez lors de cette connexion.</p>",
        err = error.map(alert).unwrap_or_default(),
        action = paths::NEW_PASSWORD,
        csrf = csrf_field(csrf),
        tok = esc(link_token),
        user = esc(username),
        fields = new_password_fields(),
    );
    layout(ctx, "Première connexion / mot de passe oublié", &body)
}

/// What "Mon Profil" shows.
pub struct ProfileView<'a> {
    pub username: &'a str,
    pub contact_email: &'a str,
    pub channel: Option<OtpChannel>,
    pub recovery_codes_left: usize,
}

fn channel_label(c: Option<OtpChannel>) -> &'static str {
    match c {
        Some(OtpChannel::Email) => "Email - Envoi de l'OTP",
        Some(OtpChannel::Totp) => "Application mobile de type Authenticator",
        None => "non paramétré",
    }
}

/// "Mon Profil" (A6): contact email, password change, OTP channel change,
/// "Se déconnecter de partout". One session CSRF token for every form.
pub fn profile(
    ctx: &PageContext<'_>,
    csrf: &str,
    p: &ProfileView<'_>,
    notice: Option<&str>,
    error: Option<&str>,
) -> String {
    let c = csrf_field(csrf);
    let otp = match p.channel {
        Some(channel) => {
            let send = if channel == OtpChannel::Email {
                format!(
                    "<form method=\"post\" action=\"{}\">{c}<button type=\"submit\">Recevoir un code par email</button></form>",
                    paths::PROFILE_OTP_SEND
                )
            } else {
                String::new()
            };
            format!(
                "<p>Pour changer de canal, saisissez d'abord un code à usage unique de votre canal actuel \
                 (ou l'un de vos codes de secours).</p>{send}\
                 <form method=\"post\" action=\"{action}\">{c}{code}\
                 <button type=\"submit\">Changer de canal</button></form>",
                action = paths::PROFILE_OTP,
                code = field(
                    "code",
                    "Mot de passe unique :",
                    "text",
                    "",
                    "inputmode=\"numeric\" autocomplete=\"one-time-code\" required"
                ),
            )
        }
        None => format!(
            "<p><a class=\"button\" href=\"{}\">Paramétrer le mot de passe unique</a></p>",
            paths::OTP_SETUP
        ),
    };
    let body = format!(
        "{err}{note}<h2>Informations Générales</h2>\
         <form method=\"post\" action=\"{email_action}\">{c}{email}\
         <p class=\"hint\" id=\"aide-email\">Adresse de contact, hors messagerie sécurisée : elle reçoit vos \
         codes et vos liens de réinitialisation. Un code de confirmation sera envoyé à la nouvelle adresse.</p>\
         <button type=\"submit\">Enregistrer l'e-mail</button></form>\
         <h2>Identifiant/Mot de passe</h2>\
         <form method=\"post\" action=\"{pw_action}\">{c}<p>Identifiant : <strong>{user}</strong></p>\
         <input type=\"hidden\" name=\"username\" value=\"{user}\" autocomplete=\"username\">{old}{fields}\
         <button type=\"submit\">Modifier le mot de passe</button></form>\
         <h2>Mot de passe unique</h2>\
         <p>Canal de télécommunication : <strong>{channel}</strong></p>\
         <p>Codes de secours restants : {left}</p>{otp}\
         <h2>Sessions</h2>\
         <form method=\"post\" action=\"{logout_all}\">{c}\
         <p>Cette action ferme toutes vos sessions ouvertes, sur tous vos appareils (ordinateurs, téléphones, tablettes).</p>\
         <button type=\"submit\">Se déconnecter de partout</button></form>",
        err = error.map(alert).unwrap_or_default(),
        note = notice.map(info).unwrap_or_default(),
        email_action = paths::PROFILE_EMAIL,
        email = field(
            "email",
            "E-mail :",
            "email",
            p.contact_email,
            "autocomplete=\"email\" aria-describedby=\"aide-email\" required"
        ),
        pw_action = paths::PROFILE_PASSWORD,
        user = esc(p.username),
        old = field(
            "old_password",
            "Ancien mot de passe :",
            "password",
            "",
            "autocomplete=\"current-password\" required"
        ),
        fields = new_password_fields(),
        channel = channel_label(p.channel),
        left = p.recovery_codes_left,
        logout_all = paths::LOGOUT_ALL,
    );
    layout(ctx, "Mon Profil", &body)
}

/// Second step of a contact address change: the code sent to the new address.
pub fn contact_code(
    ctx: &PageContext<'_>,
    csrf: &str,
    new_email: &str,
    error: Option<&str>,
) -> String {
    let body = format!(
        "<p>Un code de confirmation vient d'être envoyé à <strong>{email}</strong>. \
         Saisissez-le ci-dessous pour enregistrer cette adresse de contact.</p>{err}\
         <form method=\"post\" action=\"{action}\">{csrf}{code}<button type=\"submit\">Valider</button></form>\
         <p><a href=\"{profile}\">Annuler et revenir à Mon Profil</a></p>",
        email = esc(new_email),
        err = error.map(alert).unwrap_or_default(),
        action = paths::PROFILE_EMAIL_CONFIRM,
        csrf = csrf_field(csrf),
        code = field(
            "code",
            "Code de confirmation :",
            "text",
            "",
            "inputmode=\"numeric\" autocomplete=\"one-time-code\" required autofocus"
        ),
        profile = paths::PROFILE,
    );
    layout(ctx, "Confirmation de l'adresse e-mail", &body)
}

/// The French error page. `message` is user-facing; internal details never go here.
pub fn error(ctx: &PageContext<'_>, status: u16, message: &str) -> String {
    let title = match status {
        400 => "Requête invalide",
        403 => "Accès refusé",
        404 => "Page introuvable",
        410 => "Lien expiré ou déjà utilisé",
        413 => "Formulaire trop volumineux",
        429 => "Trop de tentatives",
        _ => "Service momentanément indisponible",
    };
    let body = format!(
        "{}<p><a class=\"button\" href=\"{}\">Retour à la connexion</a></p>",
        alert(message),
        paths::LOGIN
    );
    layout(ctx, title, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::config::OperatorConfig;

    fn op(psc: bool) -> OperatorConfig {
        OperatorConfig {
            psc_enabled: psc,
            ..OperatorConfig::default()
        }
    }

    fn ctx(op: &OperatorConfig) -> PageContext<'_> {
        PageContext {
            operator: op,
            logged_in: false,
        }
    }

    #[test]
    fn login_labels_and_psc_toggle() {
        let o = op(false);
        let html = login(
            &ctx(&o),
            "tok",
            "jean\"><script>",
            "/x",
            Some("Identifiant ou mot de passe incorrect."),
            None,
        );
        for label in [
            "Nom d'utilisateur :",
            "Mot de passe :",
            "Se connecter",
            "Mot de passe oublié / Première connexion",
        ] {
            assert!(html.contains(label), "{label}");
        }
        assert!(!html.contains("PRO SANTÉ CONNECT"));
        assert!(!html.contains("<script>"), "user input escaped");
        assert!(html.contains("name=\"csrf\" value=\"tok\""));
        assert!(html.contains("role=\"alert\""));
        assert!(html.contains("for=\"username\"") && html.contains("for=\"password\""));
        let o = op(true);
        assert!(login(&ctx(&o), "t", "", "/", None, None).contains("PRO SANTÉ CONNECT"));
        let n = login(
            &ctx(&o),
            "t",
            "",
            "/",
            None,
            Some("Votre mot de passe a été modifié."),
        );
        assert!(n.contains("role=\"status\"") && n.contains("a été modifié"));
    }

    #[test]
    fn otp_pages() {
        let o = op(false);
        let e = otp(&ctx(&o), "t", OtpChannel::Email, None, None);
        assert!(
            e.contains("Mot de passe unique :")
                && e.contains("Renvoyer un code")
                && e.contains("Valider")
        );
        let t = otp(
            &ctx(&o),
            "t",
            OtpChannel::Totp,
            Some("Code incorrect."),
            None,
        );
        assert!(!t.contains("Renvoyer un code"));
        let view = TotpSetupView {
            qr_png_base64: "iVBOR",
            otpauth_uri: "otpauth://totp/x?secret=S",
            secret_base32: "S",
        };
        let s = otp_setup(
            &ctx(&o),
            "t",
            "a@b.fr",
            Some(OtpChannel::Totp),
            Some(&view),
            None,
        );
        for label in [
            "Veuillez configurer le canal de télécommunication du mot de passe unique.",
            "Canal de télécommunication :",
            "Email - Envoi de l'OTP",
            "Scannez le QR Code",
            "data:image/png;base64,iVBOR",
            "Tester la saisie d'un OTP",
            ">Tester<",
        ] {
            assert!(s.contains(label), "{label}");
        }
        assert!(s.contains("value=\"totp\" selected"));
        let none = otp_setup(&ctx(&o), "t", "", None, None, None);
        assert!(!none.contains("Tester la saisie"));
    }

    #[test]
    fn reset_profile_error_pages() {
        let o = op(false);
        let f = forgot(&ctx(&o), "t", Some(FORGOT_SENT), None);
        assert!(
            f.contains("Mot de passe oublié")
                && f.contains("E-mail :")
                && f.contains("valable pendant 1h")
        );
        let n = new_password(
            &ctx(&o),
            "t",
            "li\"nk",
            "adrien.malosse27",
            Some("Trop court."),
        );
        assert!(
            n.contains("Nouveau mot de passe :") && n.contains("Confirmation du mot de passe :")
        );
        assert!(n.contains("Identifiant : <strong>adrien.malosse27</strong>"));
        assert!(n.contains("name=\"token\" value=\"li&quot;nk\""));
        assert!(n.contains("autocomplete=\"new-password\" aria-describedby=\"regles-mdp\""));
        assert!(n.contains("au moins 12 caractères") && n.contains("role=\"alert\""));
        assert_eq!(n.matches("name=\"csrf\"").count(), 1);
        let p = profile(
            &ctx(&o),
            "t",
            &ProfileView {
                username: "antoine.lefevre",
                contact_email: "a@b.fr",
                channel: Some(OtpChannel::Email),
                recovery_codes_left: 7,
            },
            None,
            None,
        );
        for label in [
            "Mon Profil",
            "Informations Générales",
            "Ancien mot de passe :",
            "Mot de passe unique",
            "restants : 7",
            "Se déconnecter de partout",
            "Recevoir un code par email",
            "autocomplete=\"current-password\"",
            "autocomplete=\"one-time-code\"",
        ] {
            assert!(p.contains(label), "{label}");
        }
        assert_eq!(
            p.matches("name=\"csrf\"").count(),
            p.matches("<form").count(),
            "each form has its token"
        );
        assert_eq!(p.matches("<form").count(), 5);
        let ids: Vec<&str> = p
            .match_indices(" id=\"")
            .map(|(i, _)| p[i + 5..].split('"').next().unwrap())
            .collect();
        let mut uniq = ids.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(ids.len(), uniq.len(), "unique ids: {ids:?}");
        let c = contact_code(&ctx(&o), "t", "n@perso.example", Some("Code incorrect."));
        assert!(c.contains("n@perso.example") && c.contains("Code de confirmation :"));
        assert_eq!(c.matches("name=\"csrf\"").count(), 1);
        let gone = error(&ctx(&o), 410, "Ce lien n'est plus valable.");
        assert!(gone.contains("Lien expiré ou déjà utilisé"));
        let e = error(&ctx(&o), 429, "Veuillez réessayer dans quelques minutes.");
        assert!(e.contains("Trop de tentatives"));
        let r = recovery_codes(&ctx(&o), &["AAAA-BBBB-CCCC-DDDD"]);
        assert!(r.contains("AAAA-BBBB-CCCC-DDDD"));
    }
}
