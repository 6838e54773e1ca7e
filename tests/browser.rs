//! Browser flows through the real gateway: headless Chromium (Debian `chromium`,
//! driven by `chromium-driver`) against `mssante-gateway serve` in front of the
//! sandbox store, with a real SMTP server (Debian `python3-aiosmtpd`) receiving
//! the codes and links. Runs alone with `cargo test --test browser`.
//!
//! Every page visited is saved as `target/test-output/browser/<test>/NN-name.png`.
//! A missing browser, driver or SMTP server fails the test (never a silent skip).

mod common;

use common::smtp::{extract_code, extract_link, SmtpSink};
use common::webdriver::Browser;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PASSWORD: &str = "Sandbox-2026!";

/// Screenshots of one test, numbered in visit order.
struct Shots {
    dir: PathBuf,
    n: u32,
}

impl Shots {
    fn new(test: &str, b: &Browser) -> Shots {
        // CARGO_TARGET_TMPDIR is <target>/tmp: the output goes next to it.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("target dir")
            .join("test-output/browser")
            .join(test);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        println!("screenshots: {}", dir.display());
        b.set_failure_screenshot(&dir.join("failure.png"));
        Shots { dir, n: 0 }
    }

    async fn take(&mut self, b: &Browser, name: &str) {
        self.n += 1;
        b.screenshot(&self.dir.join(format!("{:02}-{name}.png", self.n)))
            .await;
    }
}

/// Gateway in front of a fresh sandbox, mailing through `sink`.
fn start(sink: &SmtpSink) -> (common::SandboxProcess, common::GatewayProcess) {
    let sandbox = common::start_sandbox();
    let gateway = common::start_gateway(&sandbox.url(""), &sink.gateway_config());
    (sandbox, gateway)
}

/// Fills and submits the portal login form (the browser must be on it).
async fn submit_password(b: &Browser, user: &str, password: &str) {
    b.type_into("form[action=\"/connexion\"] input[name=\"username\"]", user)
        .await;
    b.type_into(
        "form[action=\"/connexion\"] input[name=\"password\"]",
        password,
    )
    .await;
    b.click("form[action=\"/connexion\"] button[type=\"submit\"]")
        .await;
}

/// Opens `/` on the gateway: an anonymous visitor lands on the login page.
async fn open_and_expect_login(b: &Browser, gw: &common::GatewayProcess, shots: &mut Shots) {
    b.goto(&gw.url("/")).await;
    b.wait_path("the login page", |p| p.starts_with("/connexion"))
        .await;
    b.wait_text("Bienvenue sur votre messagerie sécurisée de santé")
        .await;
    shots.take(b, "connexion").await;
}

/// The set-up page after the password: contact email + channel, then "Valider".
async fn choose_channel(b: &Browser, email: &str, channel: &str, shots: &mut Shots) {
    b.wait_path("the OTP set-up page", |p| p.starts_with("/otp/parametrage"))
        .await;
    b.wait_text("Veuillez configurer le canal de télécommunication du mot de passe unique.")
        .await;
    shots.take(b, "parametrage").await;
    b.type_into(
        "form[action=\"/otp/parametrage\"] input[name=\"email\"]",
        email,
    )
    .await;
    b.click(&format!(
        "form[action=\"/otp/parametrage\"] select[name=\"channel\"] option[value=\"{channel}\"]"
    ))
    .await;
    b.click("form[action=\"/otp/parametrage\"] button[type=\"submit\"]")
        .await;
    b.wait_text("Tester la saisie d'un OTP").await;
}

/// Enters `code` in the set-up test form and expects the recovery codes.
async fn test_code_and_continue(b: &Browser, code: &str, shots: &mut Shots) {
    b.type_into("form[action=\"/otp/test\"] input[name=\"code\"]", code)
        .await;
    b.click("form[action=\"/otp/test\"] button[type=\"submit\"]")
        .await;
    let text = b.wait_text("Codes de secours").await;
    assert!(
        text.contains("Votre mot de passe unique est paramétré."),
        "{text}"
    );
    let codes = b
        .script(
            "return document.querySelectorAll('ol.codes li').length;",
            serde_json::json!([]),
        )
        .await;
    assert_eq!(
        codes.as_u64(),
        Some(10),
        "ten recovery codes shown:\n{text}"
    );
    shots.take(b, "codes-de-secours").await;
    b.click("a.button[href=\"/\"]").await;
}

/// The sandbox webmail, reached through the gateway, shows the account.
async fn expect_webmail(b: &Browser, display_name: &str, shots: &mut Shots, name: &str) {
    b.wait_path("the webmail", |p| p == "/").await;
    let text = b.wait_text("Webmail du bac à sable").await;
    assert!(
        text.contains("Connecté en tant que") && text.contains(display_name),
        "the webmail page shows the logged-in account:\n{text}"
    );
    assert!(
        !text.contains("Vous n'êtes pas connecté"),
        "webmail reached without the store session:\n{text}"
    );
    shots.take(b, name).await;
}

/// Logout, then `/` needs a login again.
async fn logout(b: &Browser, gw: &common::GatewayProcess, shots: &mut Shots) {
    b.goto(&gw.url("/deconnexion")).await;
    b.wait_path("the login page after logout", |p| {
        p.starts_with("/connexion")
    })
    .await;
    b.wait_text("Bienvenue sur votre messagerie sécurisée de santé")
        .await;
    shots.take(b, "deconnexion").await;
    b.goto(&gw.url("/")).await;
    b.wait_path("the login page (session over)", |p| {
        p.starts_with("/connexion")
    })
    .await;
    let text = b.body_text().await;
    assert!(
        !text.contains("Connecté en tant que"),
        "webmail still open after logout:\n{text}"
    );
    shots.take(b, "session-terminee").await;
}

#[tokio::test]
async fn totp_first_connection_then_login() {
    let sink = SmtpSink::start();
    let (_sandbox, gw) = start(&sink);
    let b = Browser::start().await;
    let mut shots = Shots::new("totp_first_connection_then_login", &b);
    let user = "antoine.lefevre@esantepdl.mssante.fr";

    // First connection: password, then the set-up of the application channel.
    open_and_expect_login(&b, &gw, &mut shots).await;
    submit_password(&b, user, PASSWORD).await;
    choose_channel(&b, "antoine.perso@exemple.fr", "totp", &mut shots).await;
    let text = b
        .wait_text("Scannez le QR Code à l'aide de votre application")
        .await;
    assert!(
        b.exists("img.qr[src^=\"data:image/png;base64,\"]").await,
        "QR code shown:\n{text}"
    );
    let uri = b
        .attribute("a[href^=\"otpauth://totp/\"]", "href")
        .await
        .expect("otpauth link");
    let secret = b.text("p.secret").await;
    assert!(
        uri.contains(&format!("secret={}", secret.trim())),
        "the link carries the secret shown"
    );
    shots.take(&b, "parametrage-application").await;

    // A wrong code is refused on the test form, the right one accepted.
    b.type_into("form[action=\"/otp/test\"] input[name=\"code\"]", "000000")
        .await;
    b.click("form[action=\"/otp/test\"] button[type=\"submit\"]")
        .await;
    b.wait_text("Code incorrect ou expiré.").await;
    shots.take(&b, "test-code-refuse").await;
    let enrolled_at = common::unix_now();
    let enrol_code = common::totp_at(secret.trim(), enrolled_at);
    test_code_and_continue(&b, &enrol_code, &mut shots).await;
    expect_webmail(&b, "Antoine Lefèvre", &mut shots, "webmail").await;
    logout(&b, &gw, &mut shots).await;

    // Second login: password, then the TOTP page (no set-up any more).
    submit_password(&b, user, PASSWORD).await;
    b.wait_path("the OTP page", |p| {
        p.starts_with("/otp") && !p.starts_with("/otp/")
    })
    .await;
    b.wait_text("affiché par votre application d'authentification")
        .await;
    shots.take(&b, "otp").await;
    // The step used for the set-up test is spent.
    if common::unix_now() / 30 == enrolled_at / 30 {
        b.type_into("input[name=\"code\"]", &enrol_code).await;
        b.click("form[action=\"/otp\"] button[type=\"submit\"]")
            .await;
        b.wait_text("Code incorrect ou expiré.").await;
        shots.take(&b, "otp-pas-rejoue").await;
    }
    // Wait for a step after the enrolment one, as a user would.
    while common::unix_now() / 30 <= enrolled_at / 30 {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    b.type_into(
        "input[name=\"code\"]",
        &common::totp_at(secret.trim(), common::unix_now()),
    )
    .await;
    b.click("form[action=\"/otp\"] button[type=\"submit\"]")
        .await;
    expect_webmail(&b, "Antoine Lefèvre", &mut shots, "webmail-2").await;
    logout(&b, &gw, &mut shots).await;
    assert!(
        sink.mails().is_empty(),
        "the application channel sends no mail: {:?}",
        sink.mails()
    );
    b.quit().await;
}

#[tokio::test]
async fn email_otp_first_connection_then_login() {
    let sink = SmtpSink::start();
    let (_sandbox, gw) = start(&sink);
    let b = Browser::start().await;
    let mut shots = Shots::new("email_otp_first_connection_then_login", &b);
    let user = "adrien.malosse27@esantepdl.mssante.fr";
    let contact = "adrien.perso@exemple.fr";

    open_and_expect_login(&b, &gw, &mut shots).await;
    // A wrong password first: the generic French message.
    submit_password(&b, user, "pas-le-bon-mot-de-passe").await;
    b.wait_text("Identifiant ou mot de passe incorrect.").await;
    shots.take(&b, "mot-de-passe-refuse").await;
    submit_password(&b, user, PASSWORD).await;
    choose_channel(&b, contact, "email", &mut shots).await;
    shots.take(&b, "parametrage-email").await;
    let mail = sink
        .wait_for_mail(
            contact,
            |m| m.body.contains("code"),
            Duration::from_secs(20),
        )
        .await;
    assert!(
        mail.subject.contains("votre code de connexion"),
        "subject: {}",
        mail.subject
    );
    assert!(
        mail.body.contains("Bonjour"),
        "French body decoded:\n{}",
        mail.body
    );
    assert!(
        !mail.rcpt_tos.iter().any(|r| r == user),
        "the code never goes to the protected mailbox"
    );
    let code = extract_code(&mail.body);
    test_code_and_continue(&b, &code, &mut shots).await;
    expect_webmail(&b, "Adrien Malosse", &mut shots, "webmail").await;
    logout(&b, &gw, &mut shots).await;

    // Later login: a code is mailed at the password step.
    submit_password(&b, user, PASSWORD).await;
    b.wait_path("the OTP page", |p| {
        p.starts_with("/otp") && !p.starts_with("/otp/")
    })
    .await;
    b.wait_text("Saisissez le code à usage unique reçu par email.")
        .await;
    shots.take(&b, "otp-email").await;
    let login_mail = sink
        .wait_for_count(contact, 2, Duration::from_secs(20))
        .await;
    let login_code = extract_code(&login_mail);
    assert_ne!(login_code, code, "a new code for the login");
    // The enrolment code is spent.
    b.type_into("input[name=\"code\"]", &code).await;
    b.click("form[action=\"/otp\"] button[type=\"submit\"]")
        .await;
    b.wait_text("Code incorrect ou expiré.").await;
    shots.take(&b, "otp-ancien-code-refuse").await;
    b.type_into("input[name=\"code\"]", &login_code).await;
    b.click("form[action=\"/otp\"] button[type=\"submit\"]")
        .await;
    expect_webmail(&b, "Adrien Malosse", &mut shots, "webmail-2").await;
    logout(&b, &gw, &mut shots).await;

    // Third login with "Renvoyer un code": the newest code opens the session.
    submit_password(&b, user, PASSWORD).await;
    b.wait_text("reçu par email").await;
    sink.wait_for_count(contact, 3, Duration::from_secs(20))
        .await;
    b.click("form[action=\"/otp/envoyer\"] button[type=\"submit\"]")
        .await;
    b.wait_text("Un nouveau code vous a été envoyé.").await;
    shots.take(&b, "otp-renvoye").await;
    let resent = extract_code(
        &sink
            .wait_for_count(contact, 4, Duration::from_secs(20))
            .await,
    );
    b.type_into("input[name=\"code\"]", &resent).await;
    b.click("form[action=\"/otp\"] button[type=\"submit\"]")
        .await;
    expect_webmail(&b, "Adrien Malosse", &mut shots, "webmail-3").await;
    logout(&b, &gw, &mut shots).await;
    b.quit().await;
}

/// First connection with the email channel for `user`, ending on the webmail.
async fn enrol_by_email(
    b: &Browser,
    gw: &common::GatewayProcess,
    sink: &SmtpSink,
    user: &str,
    contact: &str,
    shots: &mut Shots,
) {
    open_and_expect_login(b, gw, shots).await;
    submit_password(b, user, PASSWORD).await;
    let before = sink.messages_to(contact).len();
    choose_channel(b, contact, "email", shots).await;
    let body = sink
        .wait_for_count(contact, before + 1, Duration::from_secs(20))
        .await;
    test_code_and_continue(b, &extract_code(&body), shots).await;
}

#[tokio::test]
async fn forgotten_password_by_emailed_link() {
    let sink = SmtpSink::start();
    let sandbox = common::start_sandbox();
    // The emailed link carries the public URL: the gateway gets a known port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gw = common::start_gateway(
        &sandbox.url(""),
        &format!(
            "{}[server]\nlisten = \"127.0.0.1:{port}\"\n\
             [auth.operator]\npublic_url = \"http://127.0.0.1:{port}\"\n",
            sink.gateway_config()
        ),
    );
    let b = Browser::start().await;
    let mut shots = Shots::new("forgotten_password_by_emailed_link", &b);
    let user = "camille.bernard@esantepdl.mssante.fr";
    let contact = "camille.perso@exemple.fr";
    let new_password = "Nouveau-Secret-2026!";

    // The contact address is set by a completed first connection.
    enrol_by_email(&b, &gw, &sink, user, contact, &mut shots).await;
    expect_webmail(&b, "Camille Bernard", &mut shots, "webmail").await;
    logout(&b, &gw, &mut shots).await;
    let mails_before = sink.messages_to(contact).len();

    // "Mot de passe oublié / Première connexion" from the login page.
    b.click("a[href=\"/mot-de-passe-oublie\"]").await;
    b.wait_path("the forgotten password page", |p| {
        p.starts_with("/mot-de-passe-oublie")
    })
    .await;
    b.wait_text("Mot de passe oublié").await;
    shots.take(&b, "mot-de-passe-oublie").await;
    // A wrong address: the same answer, and no mail.
    b.type_into("input[name=\"username\"]", user).await;
    b.type_into("input[name=\"email\"]", "quelqu.un@ailleurs.fr")
        .await;
    b.click("form[action=\"/mot-de-passe-oublie\"] button[type=\"submit\"]")
        .await;
    b.wait_text("un lien valable 1 h vient d'être envoyé").await;
    shots.take(&b, "demande-adresse-inconnue").await;
    // The right one: the link arrives at the contact address.
    b.type_into("input[name=\"username\"]", user).await;
    b.type_into("input[name=\"email\"]", contact).await;
    b.click("form[action=\"/mot-de-passe-oublie\"] button[type=\"submit\"]")
        .await;
    b.wait_text("un lien valable 1 h vient d'être envoyé").await;
    shots.take(&b, "demande-envoyee").await;
    let mail = sink
        .wait_for_mail(
            contact,
            |m| m.body.contains("/nouveau-mot-de-passe"),
            Duration::from_secs(20),
        )
        .await;
    assert!(
        mail.subject.contains("mot de passe oublié"),
        "subject: {}",
        mail.subject
    );
    assert!(
        sink.mails_to("quelqu.un@ailleurs.fr").is_empty(),
        "nothing sent to an address that is not the account's"
    );
    let link = extract_link(&mail.body, "/nouveau-mot-de-passe");
    assert!(
        link.starts_with(&gw.url("/nouveau-mot-de-passe?jeton=")),
        "the link points at the gateway's public URL: {link}"
    );

    // The emailed link: new password and its confirmation.
    b.goto(&link).await;
    let text = b
        .wait_text("Veuillez entrer votre nouveau mot de passe.")
        .await;
    assert!(text.contains("camille.bernard"), "{text}");
    shots.take(&b, "nouveau-mot-de-passe").await;
    b.type_into("input[name=\"password\"]", new_password).await;
    b.type_into("input[name=\"confirmation\"]", "Autre-Chose-2026!!")
        .await;
    b.click("form[action=\"/nouveau-mot-de-passe\"] button[type=\"submit\"]")
        .await;
    b.wait_text("ne correspondent pas").await;
    shots.take(&b, "confirmation-differente").await;
    b.type_into("input[name=\"password\"]", new_password).await;
    b.type_into("input[name=\"confirmation\"]", new_password)
        .await;
    b.click("form[action=\"/nouveau-mot-de-passe\"] button[type=\"submit\"]")
        .await;
    b.wait_path("the login page", |p| p.starts_with("/connexion"))
        .await;
    b.wait_text("Votre mot de passe a été modifié.").await;
    shots.take(&b, "mot-de-passe-modifie").await;
    sink.wait_for_mail(
        contact,
        |m| m.subject.contains("a été modifié"),
        Duration::from_secs(20),
    )
    .await;

    // The link is single-use.
    b.goto(&link).await;
    b.wait_text("Ce lien n'est plus valable").await;
    shots.take(&b, "lien-deja-utilise").await;

    // The old password no longer opens the account; the new one does (with the OTP).
    b.goto(&gw.url("/connexion")).await;
    submit_password(&b, user, PASSWORD).await;
    b.wait_text("Identifiant ou mot de passe incorrect.").await;
    shots.take(&b, "ancien-mot-de-passe-refuse").await;
    let sent = sink.messages_to(contact).len();
    submit_password(&b, user, new_password).await;
    b.wait_text("Saisissez le code à usage unique reçu par email.")
        .await;
    shots.take(&b, "otp-email").await;
    let body = sink
        .wait_for_count(contact, sent + 1, Duration::from_secs(20))
        .await;
    assert!(sink.messages_to(contact).len() > mails_before);
    b.type_into("input[name=\"code\"]", &extract_code(&body))
        .await;
    b.click("form[action=\"/otp\"] button[type=\"submit\"]")
        .await;
    expect_webmail(
        &b,
        "Camille Bernard",
        &mut shots,
        "webmail-nouveau-mot-de-passe",
    )
    .await;
    logout(&b, &gw, &mut shots).await;
    b.quit().await;
}

// ---- the helpers themselves, against real programs ----

/// A mail sent by a real SMTP client (lettre, as the gateway does) comes back decoded.
#[tokio::test]
async fn smtp_sink_decodes_real_mail() {
    use lettre::message::header::ContentType;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    common::install_crypto();
    let sink = SmtpSink::start();
    let body =
        "Bonjour,\n\nVoici votre code de connexion à votre messagerie sécurisée de santé :\n\n    \
                4815162\n\nPour choisir votre mot de passe, ouvrez ce lien :\n\n\
                http://127.0.0.1:8443/nouveau-mot-de-passe?jeton=abc-DEF_123\n\nÉté à Angers.";
    let m = Message::builder()
        .from(
            "Messagerie MSSanté <ne-pas-repondre@esantepdl.mssante.fr>"
                .parse()
                .unwrap(),
        )
        .to("contact@exemple.fr".parse().unwrap())
        .subject("Messagerie MSSanté : votre code de connexion")
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_string())
        .unwrap();
    let t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(sink.port())
        .build();
    t.send(m).await.expect("send");
    let mail = sink
        .wait_for_mail("contact@exemple.fr", |_| true, Duration::from_secs(10))
        .await;
    assert_eq!(mail.subject, "Messagerie MSSanté : votre code de connexion");
    assert_eq!(mail.body.trim_end(), body);
    assert_eq!(extract_code(&mail.body), "4815162");
    assert_eq!(
        extract_link(&mail.body, "/nouveau-mot-de-passe"),
        "http://127.0.0.1:8443/nouveau-mot-de-passe?jeton=abc-DEF_123"
    );
    assert!(sink.messages_to("autre@exemple.fr").is_empty());
}

/// The WebDriver client drives Chromium on the sandbox store's own page.
#[tokio::test]
async fn webdriver_drives_chromium() {
    let sandbox = common::start_sandbox();
    let b = Browser::start().await;
    let mut shots = Shots::new("webdriver_drives_chromium", &b);
    b.goto(&sandbox.url("/")).await;
    assert_eq!(b.current_path().await, "/");
    assert_eq!(b.text("h1").await, "Webmail du bac à sable");
    assert!(b.body_text().await.contains("Vous n'êtes pas connecté."));
    assert!(b.page_source().await.contains("/js/app.js"));
    assert_eq!(b.title().await, "Messagerie (bac à sable)");
    let v = b
        .script(
            "return window.sandboxWebmail.version;",
            serde_json::json!([]),
        )
        .await;
    assert_eq!(v, "1", "the page's script ran");
    shots.take(&b, "sandbox-webmail").await;
    assert!(b.cookies().await.is_empty());
    let png = shots.dir.join("01-sandbox-webmail.png");
    assert!(std::fs::metadata(&png).expect("screenshot").len() > 1000);
    b.quit().await;
}
