//! The French notification emails. Plain text: no tracking, no HTML to sanitise.
//! Codes and links are secrets: these strings go to SMTP only, never to logs.

/// An email ready to send.
pub struct Notification {
    /// What it is, for metrics (`gateway_mail_sent_total{kind}`): never its content.
    pub kind: &'static str,
    pub subject: String,
    pub body: String,
}

impl std::fmt::Debug for Notification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The body holds a code or a link.
        write!(f, "Notification({:?}, <redacted>)", self.subject)
    }
}

fn minutes(secs: u64) -> String {
    let m = secs.div_ceil(60).max(1);
    if m.is_multiple_of(60) {
        let h = m / 60;
        return if h == 1 {
            "1 heure".into()
        } else {
            format!("{h} heures")
        };
    }
    if m == 1 {
        "1 minute".into()
    } else {
        format!("{m} minutes")
    }
}

fn footer(operator: &str) -> String {
    format!(
        "\n\nSi vous n'êtes pas à l'origine de cette demande, ignorez ce message et \
         prévenez l'assistance de votre messagerie.\n\n-- \n{operator}\n\
         Ce message est envoyé automatiquement, merci de ne pas y répondre."
    )
}

/// The second-factor code for a login.
pub fn otp_code(operator: &str, code: &str, validity_secs: u64) -> Notification {
    Notification {
        kind: "otp_code",
        subject: format!("{operator} : votre code de connexion"),
        body: format!(
            "Bonjour,\n\nVoici votre code de connexion à votre messagerie sécurisée de santé :\n\n    {code}\n\n\
             Ce code est valable {} et ne peut servir qu'une fois. Ne le communiquez à personne.{}",
            minutes(validity_secs),
            footer(operator)
        ),
    }
}

/// The first-connection / forgotten-password link.
pub fn reset_link(operator: &str, link: &str, validity_secs: u64) -> Notification {
    Notification {
        kind: "reset_link",
        subject: format!("{operator} : première connexion ou mot de passe oublié"),
        body: format!(
            "Bonjour,\n\nUne demande de première connexion ou de réinitialisation du mot de passe \
             a été faite pour votre compte de messagerie sécurisée de santé.\n\n\
             Pour choisir votre mot de passe, ouvrez ce lien :\n\n{link}\n\n\
             Ce lien est valable {} et ne peut servir qu'une fois.{}",
            minutes(validity_secs),
            footer(operator)
        ),
    }
}

/// Notice to the contact address after the password was changed or reset.
pub fn password_changed(operator: &str) -> Notification {
    Notification {
        kind: "password_changed",
        subject: format!("{operator} : votre mot de passe a été modifié"),
        body: format!(
            "Bonjour,\n\nLe mot de passe de votre messagerie sécurisée de santé vient d'être modifié. \
             Toutes vos sessions ouvertes ont été fermées.{}",
            footer(operator)
        ),
    }
}

/// Wrong second-factor codes locked the account's second factor: someone may know the
/// password.
pub fn second_factor_locked(operator: &str, lock_secs: u64) -> Notification {
    Notification {
        kind: "second_factor_locked",
        subject: format!("{operator} : connexion bloquée après des codes erronés"),
        body: format!(
            "Bonjour,\n\nDe nombreux codes de connexion erronés ont été saisis pour votre \
             messagerie sécurisée de santé, après un mot de passe correct. Par précaution, la \
             connexion à votre compte est bloquée pendant {}.\n\n\
             Si ce n'est pas vous, quelqu'un connaît sans doute votre mot de passe : changez-le \
             dès que possible (« Mon Profil », ou « Mot de passe oublié » sur la page de \
             connexion) et prévenez votre service informatique.{}",
            minutes(lock_secs),
            footer(operator)
        ),
    }
}

/// Notice to the previous contact address after it was replaced.
pub fn contact_email_changed(operator: &str, new_address: &str) -> Notification {
    Notification {
        kind: "contact_changed",
        subject: format!("{operator} : votre adresse de contact a été modifiée"),
        body: format!(
            "Bonjour,\n\nL'adresse de contact de votre messagerie sécurisée de santé a été remplacée \
             par : {new_address}\n\nLes codes de connexion et les liens de réinitialisation du mot de \
             passe seront désormais envoyés à cette adresse.{}",
            footer(operator)
        ),
    }
}

/// The code confirming a new contact email address.
pub fn contact_change_code(operator: &str, code: &str, validity_secs: u64) -> Notification {
    Notification {
        kind: "contact_code",
        subject: format!("{operator} : confirmation de votre adresse de contact"),
        body: format!(
            "Bonjour,\n\nPour confirmer cette adresse comme adresse de contact de votre messagerie \
             sécurisée de santé, saisissez ce code dans « Mon Profil » :\n\n    {code}\n\n\
             Ce code est valable {}.{}",
            minutes(validity_secs),
            footer(operator)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_texts() {
        let n = otp_code("GCS e-santé", "123456", 600);
        assert_eq!(n.subject, "GCS e-santé : votre code de connexion");
        assert!(n.body.contains("123456") && n.body.contains("10 minutes"));
        assert!(!format!("{n:?}").contains("123456"));
        let r = reset_link("Op", "https://gw/nouveau-mot-de-passe?jeton=abc", 3600);
        assert!(
            r.body.contains("https://gw/nouveau-mot-de-passe?jeton=abc")
                && r.body.contains("valable 1 heure")
                && r.subject
                    .contains("première connexion ou mot de passe oublié")
        );
        assert!(!format!("{r:?}").contains("jeton"));
        let p = password_changed("Op");
        assert!(p.subject.contains("a été modifié") && p.body.contains("sessions"));
        let e = contact_email_changed("Op", "nouvelle@perso.example");
        assert!(e.body.contains("nouvelle@perso.example") && e.subject.contains("modifiée"));
        let c = contact_change_code("Op", "654321", 60);
        assert!(
            c.body.contains("654321")
                && c.body.contains("1 minute.")
                && c.body.contains("« Mon Profil »")
        );
    }
}
