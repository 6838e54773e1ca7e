//! The stand-in's « wallet » page: the test identities, each with its two means.

use super::identities::IDENTITIES;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn choose(request_id: &str) -> String {
    let mut rows = String::new();
    for (i, id) in IDENTITIES.iter().enumerate() {
        let target = id
            .mailbox
            .map(|m| format!("boîte {m}"))
            .unwrap_or_else(|| "aucune boîte (identité de test EDIT)".into());
        rows.push_str(&format!(
            "<li><strong>{} {}</strong> — {} — {} <small>({})</small>\
             <form method=\"post\" action=\"/auth/connexion\">\
             <input type=\"hidden\" name=\"req\" value=\"{req}\"><input type=\"hidden\" name=\"id\" value=\"{i}\">\
             <button name=\"moyen\" value=\"carte\">Carte CPS (eidas3)</button> \
             <button name=\"moyen\" value=\"ecps\">e-CPS (eidas1)</button></form></li>",
            esc(id.given_name),
            esc(id.family_name),
            esc(id.profession),
            esc(id.id_nat),
            esc(&target),
            req = esc(request_id),
        ));
    }
    format!(
        "<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\">\
         <title>Pro Santé Connect — bac à sable de démonstration</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;color:#1d2630}}\
         h1{{color:#000091}}li{{margin:1rem 0}}button{{margin:.3rem .2rem;padding:.4rem .8rem}}</style></head>\
         <body><h1>Pro Santé Connect</h1><p>Bac à sable de démonstration : choisissez une identité de test \
         et son moyen d'identification. Rien ici n'est le vrai service de l'ANS.</p><ul>{rows}</ul>\
         <form method=\"post\" action=\"/auth/connexion\"><input type=\"hidden\" name=\"req\" value=\"{}\">\
         <button name=\"moyen\" value=\"annuler\">Annuler</button></form></body></html>",
        esc(request_id)
    )
}
