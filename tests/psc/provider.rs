//! The real provider: npm `oidc-provider` (pinned in tests/oidc/package.json, installed
//! by `scripts/test` with `npm ci`) wrapped by tests/oidc/server.mjs to look like PSC.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc");

pub struct OidcProvider {
    child: Child,
    /// `http://127.0.0.1:P1`: discovery, token, keys, UserInfo, end-session.
    pub issuer: String,
    /// `http://127.0.0.1:P2`: the authorization endpoint and the identity pages.
    pub wallet: String,
    stderr: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl OidcProvider {
    /// Starts the provider with these clients and identities.
    pub fn start(clients: Value, identities: Value) -> OidcProvider {
        let node = Command::new("node").arg("--version").output();
        assert!(
            node.is_ok_and(|o| o.status.success()),
            "Node.js is required for the OpenID Connect provider (Debian package `nodejs`)"
        );
        assert!(
            Path::new(DIR).join("node_modules/oidc-provider").exists(),
            "npm package oidc-provider missing: run `npm ci --prefix tests/oidc` (scripts/test does)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = dir.path().join("provider.json");
        std::fs::write(
            &cfg,
            json!({"clients": clients, "identities": identities}).to_string(),
        )
        .expect("provider config");
        let stderr = dir.path().join("provider.log");
        let mut child = Command::new("node")
            .arg(Path::new(DIR).join("server.mjs"))
            .arg(&cfg)
            .current_dir(DIR)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("log"))
            .spawn()
            .expect("spawn node");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (mut issuer, mut wallet) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(30);
        while issuer.is_none() || wallet.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = child.kill();
                panic!(
                    "oidc-provider did not start:\n{}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                );
            };
            if let Some(u) = line.strip_prefix("oidc issuer ") {
                issuer = Some(u.trim().to_string());
            }
            if let Some(u) = line.strip_prefix("oidc wallet ") {
                wallet = Some(u.trim().to_string());
            }
        }
        OidcProvider {
            child,
            issuer: issuer.unwrap(),
            wallet: wallet.unwrap(),
            stderr,
            _dir: dir,
        }
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/wallet-openid-configuration", self.issuer)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client registered for a gateway at `gw_base`.
pub fn client(gw_base: &str, id: &str, extra: Value) -> Value {
    let mut c = json!({
        "client_id": id,
        "redirect_uris": [format!("{gw_base}/connexion/psc/retour")],
        "post_logout_redirect_uris": [format!("{gw_base}/connexion/psc/deconnecte")],
        "backchannel_logout_uri": format!("{gw_base}/connexion/psc/deconnexion"),
        "backchannel_logout_session_required": true,
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    });
    for (k, v) in extra.as_object().expect("object") {
        c[k] = v.clone();
    }
    c
}

/// The test identities, with the PSC claims of mssante-psc.md §1.6.
pub fn identities() -> Value {
    let person = |id: &str, origin: &str, given: &str, family: &str| {
        json!({
            "SubjectNameID": id, "preferred_username": id,
            "given_name": given, "family_name": family, "email_verified": false,
            "otherIds": [{"identifiant": id, "origine": origin, "qualite": 1}],
            "SubjectRefPro": {"codeCivilite": "M", "exercices": [{
                "codeProfession": "10", "codeCategorieProfessionnelle": "C",
                "nomDexercice": family, "prenomDexercice": given,
                "activities": [{"codeModeExercice": "L", "codeSecteurDactivite": "SA07",
                                "raisonSocialeSite": "CABINET TEST", "codePostal": "49000"}]}]},
            "SubjectRole": ["10^1.2.250.1.213.1.1.5.5"],
            "SubjectOrganization": "CABINET TEST",
            "Secteur_Activite": "SA07^1.2.250.1.71.4.2.4",
            "Palier_Authentification": "APPPRIP3^1.2.250.1.213.1.5.1.1.1",
            "UITVersion": "1.0",
        })
    };
    let mut m = serde_json::Map::new();
    for (sub, id, origin, given, family) in [
        (ANTOINE, "810100000001", "RPPS", "Antoine", "LEFEVRE"),
        (ADRIEN, "0012345678", "ADELI", "Adrien", "MALOSSE"),
        (CAMILLE, "810100000002", "RPPS", "Camille", "BERNARD"),
        (SECRETARIAT, "810100000003", "RPPS", "Claire", "CARDIO"),
        (UNKNOWN, "810100000009", "RPPS", "Inconnu", "AILLEURS"),
        (EDIT, "ANS20231122132732", "EDIT", "Test", "EDIT"),
    ] {
        m.insert(sub.to_string(), person(id, origin, given, family));
    }
    Value::Object(m)
}

/// PSC subjects (`sub`) of the test identities (Keycloak's `f:<uuid>:<id>` form).
pub const ANTOINE: &str = "f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:810100000001";
pub const ADRIEN: &str = "f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:0012345678";
pub const CAMILLE: &str = "f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:810100000002";
pub const SECRETARIAT: &str = "f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:810100000003";
pub const UNKNOWN: &str = "f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:810100000009";
pub const EDIT: &str = "f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:ANS20231122132732";
