//! Compatibility suite (Z1): real Zimbra client libraries from PyPI — `zimbra-client`,
//! `zimsoap`, `python-zimbra` (`tests/clients/requirements.txt`, installed by
//! `scripts/test` in `target/py-clients`) — drive the same mailbox session
//! (`tests/clients/session.py`) once straight at a sandbox store and once through the
//! gateway in front of another, fresh, sandbox. What each library parsed must be the
//! same both ways, except the gateway's own doing, each named below: its "Échanges
//! Patients" folder (M5), and a send outside the trust space, which the store lets
//! leave and the gateway refuses with a Zimbra fault the library reports as its own
//! fault type. Also: the demo annuaire lists every sandbox mailbox.
//!
//! Run alone with `cargo test --test clients`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const PEER: &str = "sophie.martin@chu-exemple.mssante.fr";
const OUTSIDE: &str = "dr.dupont@gmail.com";
const REFUSED_CODE: &str = "mail.SEND_ABORTED_ADDRESS_FAILURE";

/// The virtual environment's Python, once it holds the pinned libraries.
fn python() -> PathBuf {
    let venv = Path::new(REPO).join("target/py-clients");
    let how = "run scripts/test, or by hand (Debian package python3-venv, PyPI packages \
               python-zimbra, zimsoap, zimbra-client):\n  /usr/bin/python3 -m venv target/py-clients\n  \
               target/py-clients/bin/pip install --require-hashes -r tests/clients/requirements.txt\n  \
               cp tests/clients/requirements.txt target/py-clients/";
    let py = venv.join("bin/python");
    let pinned = std::fs::read_to_string(Path::new(REPO).join("tests/clients/requirements.txt"))
        .expect("tests/clients/requirements.txt");
    let installed = std::fs::read_to_string(venv.join("requirements.txt")).unwrap_or_default();
    assert!(
        py.exists() && installed == pinned,
        "the Zimbra client libraries are not installed at their pinned versions in {}: {how}",
        venv.display()
    );
    let check = Command::new(&py)
        .args(["-c", "import pythonzimbra, zimsoap, zimbra_client"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {how}", py.display()));
    assert!(
        check.status.success(),
        "the client libraries do not import ({}); {how}",
        String::from_utf8_lossy(&check.stderr)
    );
    py
}

/// `name==version` pins of the requirements file.
fn pinned_version(package: &str) -> String {
    let text = std::fs::read_to_string(Path::new(REPO).join("tests/clients/requirements.txt"))
        .expect("requirements");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{package}==")))
        .map(|v| v.trim_end_matches(['\\', ' ']).to_string())
        .unwrap_or_else(|| panic!("{package} not pinned"))
}

/// How the library gets its session.
enum Login {
    /// AuthRequest with the password, by the library (straight at the store).
    Password,
    /// A gateway session token handed to the library.
    Token(String),
    /// The library's own two-step AuthRequest: password, then this TOTP code.
    TwoFactor(String),
}

/// Runs the session script with `library` against `base_url`; the parsed JSON report.
async fn session(library: &str, base_url: &str, user: &str, login: Login) -> Value {
    let py = python();
    let mut cmd = Command::new(py);
    cmd.current_dir(Path::new(REPO).join("tests/clients"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["session.py", "--library", library, "--url", base_url])
        .args(["--user", user, "--peer", PEER, "--outside", OUTSIDE]);
    match &login {
        Login::Password => cmd.args(["--password", SANDBOX_PASSWORD]),
        Login::Token(t) => cmd.args(["--token", t]),
        Login::TwoFactor(code) => {
            cmd.args(["--password", SANDBOX_PASSWORD, "--two-factor-code", code])
        }
    };
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run session.py"))
        .await
        .expect("session thread");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{library} session failed at {base_url}:\n{stderr}"
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{library}: unreadable report ({e}):\n{stderr}"))
}

fn steps(report: &Value) -> &Vec<Value> {
    report["steps"].as_array().expect("steps")
}

fn step<'a>(report: &'a Value, name: &str) -> &'a Value {
    steps(report)
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name:?} in {report:#}"))
}

fn step_mut<'a>(report: &'a mut Value, name: &str) -> &'a mut Value {
    report["steps"]
        .as_array_mut()
        .expect("steps")
        .iter_mut()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name:?}"))
}

/// The gateway's own additions and refusals, checked then taken out of both reports.
fn set_aside_the_gateway_s_own_doing(
    library: &str,
    user: &str,
    fault_type: &str,
    direct: &mut Value,
    gw: &mut Value,
) {
    // Login: a password straight at the store; a gateway session or its two steps.
    assert!(
        step(direct, "login").get("ok").is_some(),
        "{library}: {direct:#}"
    );
    assert!(step(gw, "login").get("ok").is_some(), "{library}: {gw:#}");
    for r in [&mut *direct, &mut *gw] {
        step_mut(r, "login").take();
    }

    // M5: the gateway made "Échanges Patients" under the Inbox at the first session.
    let patients = mssante_gateway::policy::patients::FOLDER_NAME;
    let is_patients = |f: &Value| f["name"] == patients && f["parent"] == "Inbox";
    let folders = |r: &mut Value| -> Vec<Value> {
        let ok = &mut step_mut(r, "GetFolder")["ok"];
        ok.as_array()
            .unwrap_or_else(|| panic!("{library}: GetFolder {ok}"))
            .clone()
    };
    assert!(
        !folders(direct).iter().any(is_patients),
        "{library}: {direct:#}"
    );
    assert!(
        folders(gw).iter().any(is_patients),
        "{library}: no {patients} folder through the gateway: {gw:#}"
    );
    let kept: Vec<Value> = folders(gw)
        .into_iter()
        .filter(|f| !is_patients(f))
        .collect();
    step_mut(gw, "GetFolder")["ok"] = Value::Array(kept);

    // Outside the trust space: the store sends it; the gateway refuses it, and the
    // library reports the Zimbra fault as its own fault type.
    let name = "SendMsg outside the trust space";
    let sent = step(direct, name);
    assert!(
        sent.get("ok").is_some(),
        "{library}: the store refused it: {sent}"
    );
    let refused = &step(gw, name)["fault"];
    assert_eq!(refused["type"], fault_type, "{library}: {refused}");
    assert_eq!(refused["code"], REFUSED_CODE, "{library}: {refused}");
    let reason = refused["message"].as_str().unwrap_or("");
    assert!(
        reason.contains("espace de confiance") && reason.contains(OUTSIDE),
        "{library}: reason {reason:?}"
    );
    for r in [&mut *direct, &mut *gw] {
        step_mut(r, name).take();
    }

    // M2: a message sent without a From gets the user's MSSanté address from the
    // gateway; today without the display name the store would have put from the
    // account's prefs (the From then reads "" through the gateway). Set aside too.
    let display = mssante_gateway::sandbox::SandboxData::load(None)
        .expect("fixture")
        .account(user)
        .expect("user in the fixture")
        .display_name();
    let straight = blank_from_names(direct, user);
    let rewritten = blank_from_names(gw, user);
    assert!(!straight.is_empty() && straight.len() == rewritten.len());
    assert!(
        straight.iter().all(|n| *n == display),
        "{library}: {straight:?}"
    );
    assert!(
        rewritten.iter().all(|n| n.is_empty() || *n == display),
        "{library}: {rewritten:?}"
    );
}

/// Blanks the display name of every From address (`{email, name, type: "f"}`) in a
/// report; returns the names found. Each From must be `user`'s address.
fn blank_from_names(report: &mut Value, user: &str) -> Vec<String> {
    fn walk(v: &mut Value, user: &str, found: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if map.contains_key("email") && map.get("type").is_some_and(|t| t == "f") {
                    assert_eq!(map["email"], user, "a From that is not the user");
                    let name = map["name"].as_str().unwrap_or("").to_string();
                    map.insert("name".into(), Value::String(String::new()));
                    found.push(name);
                    return;
                }
                for child in map.values_mut() {
                    walk(child, user, found);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| walk(i, user, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(report, user, &mut found);
    found
}

/// What a real Zimbra answers this session, as the library parsed it: every step but
/// the last two succeeds, and the mailbox changes as each step says.
fn assert_session_worked(library: &str, fault_type: &str, report: &Value) {
    for s in steps(report) {
        let name = s["step"].as_str().unwrap_or("");
        if !matches!(
            name,
            "GetMsg after delete" | "SendMsg outside the trust space"
        ) {
            assert!(s.get("ok").is_some(), "{library}: {name} failed: {s:#}");
        }
    }
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let pref = |step_name: &str, name: &str| text(&step(report, step_name)["ok"][name]);
    assert_eq!(
        pref("GetPrefs before", "zimbraPrefMailItemsPerPage"),
        "25",
        "{library}: COS default"
    );
    assert_eq!(
        pref("GetPrefs after", "zimbraPrefMailItemsPerPage"),
        "50",
        "{library}"
    );
    assert_eq!(
        pref("GetPrefs after", "zimbraPrefComposeFormat"),
        "text",
        "{library}"
    );
    let all = step(report, "GetPrefs all")["ok"]
        .as_array()
        .expect("pref names")
        .clone();
    assert!(
        all.len() > 50 && all.iter().all(|n| text(n).starts_with("zimbraPref")),
        "{library}"
    );
    let sigs = step(report, "GetSignatures after modify")["ok"].to_string();
    assert!(
        sigs.contains("Maison de santé") && !sigs.contains("Tél. 02"),
        "{library}: {sigs}"
    );
    let found = |name: &str| {
        step(report, name)["ok"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(99)
    };
    let flags = |name: &str| text(&step(report, name)["ok"][0]["flags"]);
    assert_eq!(found("Search in:sent"), 1, "{library}");
    assert!(
        flags("Search in:sent after !read").contains('u'),
        "{library}"
    );
    assert!(
        !flags("Search in:sent after read").contains('u'),
        "{library}"
    );
    assert!(
        flags("Search in:sent after flag").contains('f'),
        "{library}"
    );
    assert!(
        !flags("Search in:sent after !flag").contains('f'),
        "{library}"
    );
    for (name, n) in [
        ("Search tag:suivi after tag", 1),
        ("Search in:inbox after move", 1),
        ("Search in:trash after trash", 1),
        ("Search in:trash after delete", 0),
    ] {
        assert_eq!(found(name), n, "{library}: {name}");
    }
    let body = text(&step(report, "GetMsg")["ok"]["body"]);
    assert!(
        body.contains("voici le compte rendu"),
        "{library}: body {body:?}"
    );
    let gone = &step(report, "GetMsg after delete")["fault"];
    assert_eq!(
        (&gone["type"], &gone["code"]),
        (&Value::from(fault_type), &Value::from("mail.NO_SUCH_MSG")),
        "{library}: {gone}"
    );
}

/// Step by step equality, with both sides shown on a difference.
fn assert_same_session(library: &str, direct: &Value, gw: &Value) {
    assert_eq!(direct["version"], gw["version"]);
    let (a, b) = (steps(direct), steps(gw));
    assert_eq!(a.len(), b.len(), "{library}: not the same steps");
    for (x, y) in a.iter().zip(b) {
        assert!(
            x == y,
            "{library}: the answers differ at {:?}\n-- straight at the store:\n{x:#}\n-- through the gateway:\n{y:#}",
            x["step"]
        );
    }
}

/// A store and a gateway in front of another store, `user` enrolled on the gateway and
/// its first-session work done; returns them with the gateway session token and the
/// user's TOTP secret.
async fn two_stores(
    user: &str,
) -> (
    SandboxProcess,
    SandboxProcess,
    GatewayProcess,
    String,
    String,
) {
    let direct = start_sandbox();
    let behind = start_sandbox();
    let gw = start_gateway(&behind.url(""), "");
    let (token, secret) = soap_enrol(&gw, user).await;
    settle_first_session(&gw, &behind, &token).await;
    (direct, behind, gw, token, secret)
}

/// Every recipient of the messages that left `store` (its outbox: mail for outside it).
async fn outbox_recipients(store: &SandboxProcess) -> Vec<String> {
    let v: Value = client()
        .get(store.url("/sandbox/outbox"))
        .send()
        .await
        .expect("outbox")
        .json()
        .await
        .expect("outbox json");
    v.as_array()
        .expect("outbox list")
        .iter()
        .flat_map(|e| e["recipients"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect()
}

async fn agree(library: &str, package: &str, fault_type: &str, user: &str, two_factor: bool) {
    install_crypto();
    let (direct, behind, gw, token, secret) = two_stores(user).await;
    let mut straight = session(library, &direct.url(""), user, Login::Password).await;
    let login = if two_factor {
        // A code of a step the enrolment did not use (each step opens one session).
        let used = totp_at(&secret, unix_now());
        loop {
            let code = totp_at(&secret, unix_now());
            if code != used {
                break Login::TwoFactor(code);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    } else {
        Login::Token(token)
    };
    let mut through = session(library, &gw.url(""), user, login).await;
    assert_eq!(
        straight["version"],
        format!("{package} {}", pinned_version(package)),
        "the library run is not the pinned one"
    );
    if two_factor {
        let first = &step(&through, "login")["ok"];
        assert_eq!(first["twoFactorAuthRequired"], "true", "{through:#}");
    }
    assert!(outbox_recipients(&direct)
        .await
        .iter()
        .any(|r| r == OUTSIDE));
    let left = outbox_recipients(&behind).await;
    assert!(
        !left.iter().any(|r| r == OUTSIDE),
        "left the store: {left:?}"
    );
    assert_session_worked(library, fault_type, &straight);
    assert_session_worked(library, fault_type, &through);
    set_aside_the_gateway_s_own_doing(library, user, fault_type, &mut straight, &mut through);
    assert_same_session(library, &straight, &through);
}

/// zimbra-client (SOAP 1.2 XML, its own parser); it logs in by password only, so the
/// gateway session is handed to it as its token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zimbra_client_sees_the_same_mailbox_directly_and_through_the_gateway() {
    agree(
        "zimbra_client",
        "zimbra-client",
        "ZimbraSOAPFault",
        "antoine.lefevre@esantepdl.mssante.fr",
        false,
    )
    .await;
}

/// zimsoap (XML through python-zimbra's DOM parser), with the gateway session as token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zimsoap_sees_the_same_mailbox_directly_and_through_the_gateway() {
    agree(
        "zimsoap",
        "zimsoap",
        "ZimbraSoapServerError",
        "adele.alexandre@esantepdl.mssante.fr",
        false,
    )
    .await;
}

/// python-zimbra (JSON), logging in through the gateway with the Zimbra two-factor
/// AuthRequest itself (password, then the TOTP code).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_zimbra_sees_the_same_mailbox_directly_and_through_the_gateway() {
    agree(
        "python_zimbra",
        "python-zimbra",
        "pythonzimbra Response.is_fault()",
        "camille.bernard@esantepdl.mssante.fr",
        true,
    )
    .await;
}

/// Every sandbox mailbox (the test fixture and the demo data) is in the demo annuaire,
/// and through the gateway a colleague is found by autocomplete and GAL search.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_annuaire_lists_every_sandbox_mailbox() {
    use mssante_gateway::sandbox::SandboxData;
    install_crypto();
    let ldif = std::fs::read_to_string(Path::new(REPO).join("fixtures/annuaire/sample.ldif"))
        .expect("sample.ldif");
    let listed: Vec<String> = ldif
        .lines()
        .filter_map(|l| l.strip_prefix("mail: "))
        .map(str::to_ascii_lowercase)
        .collect();
    let fixture = SandboxData::load(None).expect("sandbox fixture");
    let demo = SandboxData::demo("unused");
    let mailboxes: Vec<&str> = fixture
        .accounts
        .iter()
        .chain(&demo.accounts)
        .map(|a| a.name.as_str())
        .collect();
    assert!(mailboxes.len() >= 16);
    let missing: Vec<_> = mailboxes
        .iter()
        .filter(|m| !listed.iter().any(|l| l == *m))
        .collect();
    assert!(missing.is_empty(), "not in the annuaire: {missing:?}");

    let sb = start_sandbox();
    let gw = start_gateway(&sb.url(""), "");
    let token = gateway_token(&gw, "antoine.lefevre@esantepdl.mssante.fr").await;
    let ask = |body: &str| {
        format!(
            r#"{{"Header":{{"context":{{"_jsns":"urn:zimbra","authToken":{{"_content":"{token}"}}}}}},"Body":{body}}}"#
        )
    };
    let (s, v) = soap_json(
        &gw.url("/service/soap"),
        &ask(r#"{"AutoCompleteGalRequest":{"_jsns":"urn:zimbraAccount","name":{"_content":"sophie mar"}}}"#),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v.to_string().contains(PEER), "{v}");
    let (s, v) = soap_json(
        &gw.url("/service/soap"),
        &ask(r#"{"SearchGalRequest":{"_jsns":"urn:zimbraAccount","name":{"_content":"secrétariat"}}}"#),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(
        v.to_string()
            .contains("secretariat.cardiologie@chu-exemple.mssante.fr"),
        "{v}"
    );
}
