//! What the sandbox store is loaded with: domains (with their preauth keys), accounts
//! and the admin account. Passwords are hashed as soon as they are read.

use std::path::Path;

use ring::hmac;
use serde::Deserialize;

/// The data file shipped with the crate (`None` in [`SandboxData::load`]).
const DEFAULT_FIXTURE: &str = include_str!("../../fixtures/sandbox/accounts.toml");

/// The password of every account in the embedded fixture file.
pub const FIXTURE_PASSWORD: &str = "Sandbox-2026!";
/// The password of the admin account in the embedded fixture file.
pub const FIXTURE_ADMIN_PASSWORD: &str = "Admin-Sandbox-2026!";

/// The demo's alias domain of `esantepdl.mssante.fr`, an IDN (`santé-pdl.mssante.fr`)
/// kept in ASCII as Zimbra keeps it.
const DEMO_ALIAS_DOMAIN: &str = "xn--sant-pdl-e1a.mssante.fr";

/// A salted HMAC-SHA256 of a password (a sandbox, so no slow KDF is needed).
#[derive(Clone)]
pub struct PasswordHash {
    salt: [u8; 16],
    tag: Vec<u8>,
}

impl PasswordHash {
    pub fn new(password: &str) -> Self {
        let salt: [u8; 16] = rand::random();
        let key = hmac::Key::new(hmac::HMAC_SHA256, &salt);
        let tag = hmac::sign(&key, password.as_bytes()).as_ref().to_vec();
        PasswordHash { salt, tag }
    }

    /// Constant-time check.
    pub fn verify(&self, password: &str) -> bool {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.salt);
        hmac::verify(&key, password.as_bytes(), &self.tag).is_ok()
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// A mail domain and its `zimbraPreAuthKey` (hex string, used as ASCII bytes).
#[derive(Clone, Deserialize)]
pub struct DomainData {
    pub name: String,
    pub preauth_key: String,
}

impl std::fmt::Debug for DomainData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DomainData")
            .field("name", &self.name)
            .field("preauth_key", &"<redacted>")
            .finish()
    }
}

/// An alias domain (`zimbraDomainType=alias`): `local@name` designates the account
/// `local@target` when no account or alias holds `local@name` itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainAlias {
    /// ASCII (punycode) once loaded, as Zimbra stores IDN domains.
    pub name: String,
    pub target: String,
}

/// A mailbox account with its directory (GAL) fields.
#[derive(Debug, Clone)]
pub struct AccountData {
    /// Zimbra id (uuid).
    pub id: String,
    /// Primary address, `local@domain`.
    pub name: String,
    /// Other addresses of the account (`zimbraMailAlias`), lower-cased.
    pub aliases: Vec<String>,
    pub first_name: String,
    pub last_name: String,
    pub profession: String,
    pub company: String,
    pub city: String,
    pub postal_code: String,
    pub department: String,
    pub password: PasswordHash,
}

impl AccountData {
    pub fn display_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_string()
    }

    pub fn domain(&self) -> &str {
        self.name.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

/// The administrator (`urn:zimbraAdmin` AuthRequest, `SetPasswordRequest`).
#[derive(Debug, Clone)]
pub struct AdminData {
    pub id: String,
    pub name: String,
    pub password: PasswordHash,
}

/// Server-wide settings (Zimbra global config stand-ins).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ServerSettings {
    /// `zimbraAuthTokenLifetime` (default 2 days).
    pub token_lifetime_ms: u64,
    /// `zimbraMailQuota` of every account.
    pub mail_quota: u64,
    /// `zimbraMtaMaxMessageSize`: the default upload limit.
    pub mta_max_message_size: u64,
    /// `zimbraFileUploadMaxSize`: the limit with `?lbfums`.
    pub file_upload_max_size: u64,
    /// Longest a `NoOpRequest wait="1"` is held (`zimbra_noop_max_timeout`).
    pub noop_max_timeout_ms: u64,
    /// Hold time when the request gives no `timeout` (`zimbra_noop_default_timeout`).
    pub noop_default_timeout_ms: u64,
    /// `zimbraDefaultDomainName`: the domain a bare `prénom.nom` login gets.
    pub default_domain: Option<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            token_lifetime_ms: 2 * 24 * 3600 * 1000,
            mail_quota: 524_288_000,
            mta_max_message_size: 10_240_000,
            file_upload_max_size: 10_485_760,
            noop_max_timeout_ms: 1_200_000,
            noop_default_timeout_ms: 300_000,
            default_domain: None,
        }
    }
}

/// Everything the sandbox is started with.
#[derive(Debug, Clone)]
pub struct SandboxData {
    pub domains: Vec<DomainData>,
    pub domain_aliases: Vec<DomainAlias>,
    pub accounts: Vec<AccountData>,
    pub admin: Option<AdminData>,
    pub settings: ServerSettings,
}

/// (local part, domain, first name, last name, profession, company, city, postal code).
type Person = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

// ---- the TOML file -----------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileData {
    #[serde(default)]
    server: ServerSettings,
    #[serde(default)]
    domains: Vec<DomainData>,
    #[serde(default)]
    domain_aliases: Vec<DomainAlias>,
    #[serde(default)]
    accounts: Vec<FileAccount>,
    admin: Option<FileAdmin>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAccount {
    name: String,
    id: Option<String>,
    password: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    profession: String,
    #[serde(default)]
    company: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    postal_code: String,
    #[serde(default)]
    department: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAdmin {
    name: String,
    id: Option<String>,
    password: String,
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A fresh `zimbraPreAuthKey`: 32 random bytes, hex (as `zmprov gdpak`).
pub fn generate_preauth_key() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

impl SandboxData {
    /// Reads a TOML data file, or the embedded default when `path` is `None`.
    pub fn load(path: Option<&Path>) -> anyhow::Result<SandboxData> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| anyhow::anyhow!("cannot read sandbox data {}: {e}", p.display()))?,
            None => DEFAULT_FIXTURE.to_string(),
        };
        Self::from_toml(&text)
    }

    pub fn from_toml(text: &str) -> anyhow::Result<SandboxData> {
        let file: FileData =
            toml::from_str(text).map_err(|e| anyhow::anyhow!("invalid sandbox data: {e}"))?;
        let accounts = file
            .accounts
            .into_iter()
            .map(|a| AccountData {
                id: a.id.unwrap_or_else(new_id),
                name: a.name.to_ascii_lowercase(),
                aliases: a.aliases.iter().map(|x| x.to_ascii_lowercase()).collect(),
                first_name: a.first_name,
                last_name: a.last_name,
                profession: a.profession,
                company: a.company,
                city: a.city,
                postal_code: a.postal_code,
                department: a.department,
                password: PasswordHash::new(&a.password),
            })
            .collect();
        let admin = file.admin.map(|a| AdminData {
            id: a.id.unwrap_or_else(new_id),
            name: a.name.to_ascii_lowercase(),
            password: PasswordHash::new(&a.password),
        });
        let domain_aliases = file
            .domain_aliases
            .into_iter()
            .map(|d| {
                Ok(DomainAlias {
                    name: idna::domain_to_ascii(&d.name)
                        .map_err(|_| anyhow::anyhow!("domain alias {}: invalid name", d.name))?,
                    target: d.target.to_ascii_lowercase(),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let data = SandboxData {
            domains: file.domains,
            domain_aliases,
            accounts,
            admin,
            settings: file.server,
        };
        data.validate()?;
        Ok(data)
    }

    fn validate(&self) -> anyhow::Result<()> {
        for d in &self.domains {
            if d.preauth_key.len() < 32 || !d.preauth_key.chars().all(|c| c.is_ascii_hexdigit()) {
                anyhow::bail!("domain {}: preauth_key must be a hex string", d.name);
            }
        }
        let declared = |d: &str| self.domains.iter().any(|x| x.name.eq_ignore_ascii_case(d));
        for a in &self.accounts {
            if !declared(a.domain()) {
                anyhow::bail!("account {}: domain not declared", a.name);
            }
            for alias in &a.aliases {
                let domain = alias.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
                if !declared(domain) {
                    anyhow::bail!("account {}: alias {alias}: domain not declared", a.name);
                }
            }
        }
        for d in &self.domain_aliases {
            if !declared(&d.target) {
                anyhow::bail!("domain alias {}: target {} not declared", d.name, d.target);
            }
        }
        if let Some(d) = &self.settings.default_domain {
            if !declared(d) {
                anyhow::bail!("server.default_domain {d}: domain not declared");
            }
        }
        Ok(())
    }

    /// The demo data set: all accounts share `password`; preauth keys are random.
    pub fn demo(password: &str) -> SandboxData {
        let pdl = "esantepdl.mssante.fr";
        let chu = "chu-exemple.mssante.fr";
        let people: [Person; 8] = [
            (
                "antoine.lefevre",
                pdl,
                "Antoine",
                "Lefèvre",
                "Médecin",
                "Cabinet médical des Lices",
                "Angers",
                "49000",
            ),
            (
                "adrien.malosse27",
                pdl,
                "Adrien",
                "Malosse",
                "Infirmier",
                "Centre de soins de Nantes",
                "Nantes",
                "44000",
            ),
            (
                "adele.alexandre",
                pdl,
                "Adèle",
                "Alexandre",
                "Pharmacien",
                "Pharmacie du Mail",
                "Le Mans",
                "72000",
            ),
            (
                "camille.bernard",
                pdl,
                "Camille",
                "Bernard",
                "Sage-femme",
                "Maison de santé de Laval",
                "Laval",
                "53000",
            ),
            (
                "julien.morel",
                pdl,
                "Julien",
                "Morel",
                "Masseur-kinésithérapeute",
                "Cabinet Morel",
                "La Roche-sur-Yon",
                "85000",
            ),
            (
                "sophie.martin",
                chu,
                "Sophie",
                "Martin",
                "Médecin",
                "CHU Exemple",
                "Rennes",
                "35000",
            ),
            (
                "louis.petit",
                chu,
                "Louis",
                "Petit",
                "Chirurgien-dentiste",
                "CHU Exemple",
                "Rennes",
                "35000",
            ),
            (
                "secretariat.cardiologie",
                chu,
                "Secrétariat",
                "Cardiologie",
                "Secrétariat médical",
                "CHU Exemple",
                "Rennes",
                "35000",
            ),
        ];
        let mut accounts: Vec<AccountData> = people
            .iter()
            .map(
                |(local, dom, first, last, prof, company, city, cp)| AccountData {
                    id: new_id(),
                    name: format!("{local}@{dom}"),
                    aliases: Vec::new(),
                    first_name: first.to_string(),
                    last_name: last.to_string(),
                    profession: prof.to_string(),
                    company: company.to_string(),
                    city: city.to_string(),
                    postal_code: cp.to_string(),
                    department: cp[..2].to_string(),
                    password: PasswordHash::new(password),
                },
            )
            .collect();
        // One account reachable by other names too, as many Zimbra accounts are.
        accounts[0].aliases = vec![format!("a.lefevre@{pdl}"), format!("antoine.lefevre@{chu}")];
        SandboxData {
            domains: [pdl, chu]
                .iter()
                .map(|d| DomainData {
                    name: d.to_string(),
                    preauth_key: generate_preauth_key(),
                })
                .collect(),
            domain_aliases: vec![DomainAlias {
                name: DEMO_ALIAS_DOMAIN.to_string(),
                target: pdl.to_string(),
            }],
            accounts,
            admin: Some(AdminData {
                id: new_id(),
                name: format!("admin@{pdl}"),
                password: PasswordHash::new(password),
            }),
            settings: ServerSettings {
                default_domain: Some(pdl.to_string()),
                ..ServerSettings::default()
            },
        }
    }

    /// The preauth key of `domain`, for configuring a client of the sandbox.
    pub fn preauth_key(&self, domain: &str) -> Option<&str> {
        self.domains
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(domain))
            .map(|d| d.preauth_key.as_str())
    }

    pub fn account(&self, name: &str) -> Option<&AccountData> {
        self.accounts
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_fixture_loads_and_hashes_passwords() {
        let data = SandboxData::load(None).expect("fixture");
        let a = data
            .account("antoine.lefevre@esantepdl.mssante.fr")
            .expect("antoine");
        assert!(a.password.verify(FIXTURE_PASSWORD));
        assert!(!a.password.verify("wrong"));
        assert!(data.preauth_key("esantepdl.mssante.fr").is_some());
        let admin = data.admin.as_ref().expect("admin");
        assert!(admin.password.verify(FIXTURE_ADMIN_PASSWORD));
        assert!(!format!("{a:?}").contains(FIXTURE_PASSWORD));
    }

    #[test]
    fn demo_has_both_domains() {
        let data = SandboxData::demo("pw");
        assert!(data
            .account("adele.alexandre@esantepdl.mssante.fr")
            .is_some());
        assert!(
            data.accounts
                .iter()
                .filter(|a| a.domain() == "chu-exemple.mssante.fr")
                .count()
                >= 2
        );
        assert_eq!(
            data.preauth_key("chu-exemple.mssante.fr").map(str::len),
            Some(64)
        );
    }

    /// Every spelling Zimbra's `getAccountByName` accepts designates the same account.
    #[test]
    fn login_names_resolve_like_zimbra() {
        let st = super::super::state::SandboxState::new(SandboxData::load(None).unwrap());
        let antoine = st
            .find_account("name", "antoine.lefevre@esantepdl.mssante.fr")
            .unwrap()
            .id
            .clone();
        for spelling in [
            "antoine.lefevre",
            "Antoine.Lefevre",
            "ANTOINE.LEFEVRE@ESANTEPDL.MSSANTE.FR",
            "antoine.lefevre@ｅｓａｎｔｅｐｄｌ．ｍｓｓａｎｔｅ．ｆｒ",
            "a.lefevre@esantepdl.mssante.fr",
            "antoine.lefevre@chu-exemple.mssante.fr",
            "antoine.lefevre@santé-pdl.mssante.fr",
            "antoine.lefevre@sante\u{301}-pdl.mssante.fr",
            "antoine.lefevre@xn--sant-pdl-e1a.mssante.fr",
            "a.lefevre@SANTÉ-PDL.mssante.fr",
        ] {
            let found = st.find_account("name", spelling).map(|a| a.id.clone());
            assert_eq!(found.as_deref(), Some(antoine.as_str()), "{spelling}");
        }
        for unknown in [
            "antoine.lefevre@nowhere.fr",
            "nobody",
            "a.lefevre@chu-exemple.mssante.fr",
        ] {
            assert!(st.find_account("name", unknown).is_none(), "{unknown}");
        }
        let demo = SandboxData::demo("pw");
        assert_eq!(
            demo.domain_aliases[0].name,
            idna::domain_to_ascii("santé-pdl.mssante.fr").unwrap()
        );
    }

    #[test]
    fn undeclared_domain_is_refused() {
        let bad = "[[accounts]]\nname = \"a@nowhere.fr\"\npassword = \"x\"\n";
        assert!(SandboxData::from_toml(bad).is_err());
    }
}
