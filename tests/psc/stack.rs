//! A gateway in front of the sandbox store with `[auth.psc]` and a test annuaire whose
//! national identifiers map the test identities to the sandbox's accounts.

use crate::common::{self, GatewayProcess, SandboxProcess};
use std::time::Duration;

/// The test annuaire (LDIF backend): one personal mailbox (RPPS), one by ADELI, a
/// person with two personal mailboxes, an organisational mailbox only, and a
/// practitioner whose mailbox is at another operator.
const LDIF: &str = "\
dn: ou=annuaire,dc=mssante,dc=fr
objectClass: organizationalUnit
ou: annuaire

dn: mail=antoine.lefevre@esantepdl.mssante.fr,ou=annuaire,dc=mssante,dc=fr
objectClass: inetOrgPerson
objectClass: mssanteBal
mail: antoine.lefevre@esantepdl.mssante.fr
cn:: QW50b2luZSBMZWbDqHZyZQ==
sn:: TGVmw6h2cmU=
givenName: Antoine
mssanteIdNat: 810100000001
mssanteIdPP: 10100000001
mssanteTypeBal: PER

dn: mail=adrien.malosse27@esantepdl.mssante.fr,ou=annuaire,dc=mssante,dc=fr
objectClass: inetOrgPerson
objectClass: mssanteBal
mail: adrien.malosse27@esantepdl.mssante.fr
cn: Adrien Malosse
sn: Malosse
givenName: Adrien
mssanteIdPP: 012345678
mssanteTypeBal: PER

dn: mail=camille.bernard@esantepdl.mssante.fr,ou=annuaire,dc=mssante,dc=fr
objectClass: inetOrgPerson
objectClass: mssanteBal
mail: camille.bernard@esantepdl.mssante.fr
cn: Camille Bernard
sn: Bernard
givenName: Camille
o: Maison de santé de Laval
mssanteIdNat: 810100000002
mssanteTypeBal: PER

dn: mail=louis.petit@chu-exemple.mssante.fr,ou=annuaire,dc=mssante,dc=fr
objectClass: inetOrgPerson
objectClass: mssanteBal
mail: louis.petit@chu-exemple.mssante.fr
cn: Camille Bernard
sn: Bernard
givenName: Camille
o: CHU Exemple
mssanteIdNat: 810100000002
mssanteTypeBal: PER

dn: mail=secretariat.cardiologie@chu-exemple.mssante.fr,ou=annuaire,dc=mssante,dc=fr
objectClass: inetOrgPerson
objectClass: mssanteBal
mail: secretariat.cardiologie@chu-exemple.mssante.fr
cn: Secrétariat Cardiologie
sn: Cardiologie
mssanteIdNat: 810100000003
mssanteTypeBal: ORG

dn: mail=inconnu.ailleurs@autre-operateur.mssante.fr,ou=annuaire,dc=mssante,dc=fr
objectClass: inetOrgPerson
objectClass: mssanteBal
mail: inconnu.ailleurs@autre-operateur.mssante.fr
cn: Inconnu Ailleurs
sn: Ailleurs
mssanteIdNat: 810100000009
mssanteTypeBal: PER
";

/// A free loopback port (the provider must know the gateway's redirect URI first).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The sandbox fixture's preauth keys (fixtures/sandbox/accounts.toml), as the
/// `[auth.psc.domain_preauth_keys]` tables.
fn preauth_tables() -> String {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/sandbox/accounts.toml"
    ))
    .unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    let mut out = String::new();
    for d in v["domains"].as_array().unwrap() {
        out.push_str(&format!(
            "[auth.psc.domain_preauth_keys.\"{}\"]\nkey = \"{}\"\n",
            d["name"].as_str().unwrap(),
            d["preauth_key"].as_str().unwrap()
        ));
    }
    out
}

pub struct Stack {
    /// Kept alive with the gateway.
    pub _sandbox: SandboxProcess,
    pub gw: GatewayProcess,
    _dir: tempfile::TempDir,
}

impl Stack {
    /// Sandbox + gateway on `port`; `psc` is the body of `[auth.psc]` (discovery,
    /// client…), the preauth keys are added.
    pub fn start(port: u16, psc: &str) -> Stack {
        let sandbox = common::start_sandbox();
        let dir = tempfile::tempdir().unwrap();
        let ldif = dir.path().join("annuaire.ldif");
        std::fs::write(&ldif, LDIF).unwrap();
        let extra = format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\
             [directory]\nbackend = \"ldif\"\nldif_file = \"{}\"\n\
             [auth.operator]\npublic_url = \"http://127.0.0.1:{port}\"\n\
             [auth.psc]\nenvironment = \"custom\"\n{psc}\n{}",
            ldif.display(),
            preauth_tables()
        );
        let gw = common::start_gateway(&sandbox.url(""), &extra);
        Stack {
            _sandbox: sandbox,
            gw,
            _dir: dir,
        }
    }

    /// The gateway's logs so far (audit events included).
    pub fn logs(&self) -> String {
        self.gw.proc.stderr()
    }

    /// Waits until the gateway logged `needle` (audit events are written as they happen).
    pub async fn wait_log(&self, needle: &str) -> String {
        for _ in 0..100 {
            let l = self.logs();
            if l.contains(needle) {
                return l;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let logs = self.logs();
        let _ = std::fs::write(std::env::temp_dir().join("psc-last-gateway.log"), &logs);
        panic!("gateway never logged {needle:?}:\n{logs}");
    }
}
