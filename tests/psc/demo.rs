//! The demo shows PSC: the login page's button, the stand-in's test identities, and a
//! card login that lands in the mapped demo account's webmail (no second factor).

use crate::common::{client, spawn_and_wait};

fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_string())
}

#[tokio::test]
async fn demo_psc_button_lands_in_the_webmail() {
    let (proc, found) = spawn_and_wait(
        &[
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--demo-password",
            "Demo-Pass-1",
        ],
        &[],
        &[
            "  webmail (through the gateway): http://",
            "  Pro Santé Connect: ",
            "    Antoine LEFEVRE (810900000001) -> ",
        ],
    );
    assert_eq!(found[2], "antoine.lefevre@esantepdl.mssante.fr");
    let base = format!("http://{}", found[0].trim_end_matches('/'));
    let page = client()
        .get(format!("{base}/connexion"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("s'identifier avec <strong>PRO SANTÉ CONNECT</strong>"),
        "{page}"
    );

    // Button → the stand-in's wallet origin, listing the test identities.
    let r = client()
        .get(format!("{base}/connexion/psc"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let binding = set_cookie(&r, "mssante_psc").expect("binding cookie");
    let wallet_url = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        !wallet_url.starts_with(&base),
        "authorization on another origin: {wallet_url}"
    );
    let wallet_page = client()
        .get(&wallet_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(wallet_page.contains("Carte CPS (eidas3)"), "{wallet_page}");
    let req = wallet_page
        .split("name=\"req\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("request id");
    let origin = wallet_url.split("/auth").next().unwrap();
    let r = client()
        .post(format!("{origin}/auth/connexion"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("req={req}&id=0&moyen=carte"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let back = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        back.starts_with(&format!("{base}/connexion/psc/retour?")),
        "{back}"
    );

    // Back at the gateway: a full session at once, the webmail of the mapped account.
    let r = client()
        .get(&back)
        .header("cookie", &binding)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    assert_eq!(r.headers()["location"], "/");
    let session = set_cookie(&r, "mssante_session").expect("session");
    let page = client()
        .get(format!("{base}/"))
        .header("cookie", &session)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("antoine.lefevre@esantepdl.mssante.fr"),
        "{page}"
    );
    let logs = proc.stderr();
    assert!(
        logs.contains("\"method\":\"psc\"") && logs.contains("eidas3"),
        "{logs}"
    );
}
