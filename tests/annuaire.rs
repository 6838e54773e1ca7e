//! Annuaire (D1-D5) against a real OpenLDAP `slapd` started by the test itself.
//!
//! * a 50,000-row synthetic extraction (`scripts/gen_extraction.py`) is imported with the
//!   real binary (`annuaire import`), loaded with `slapadd` under the shipped schema, and
//!   every query is answered identically by the LDAP backend and by the in-memory one;
//! * injection attempts, LDAP down and back (stale answers, French fault, recovery),
//!   slow LDAP (SIGSTOP: operation timeout honoured);
//! * TLS: `ldaps://` and StartTLS with a private CA (made by `openssl` at test time),
//!   refusal without the CA and of StartTLS against a server without TLS.
//!
//! Queries go through `Annuaire::ask`: through the real gateway binary (`serve`, in front
//! of the sandbox store, `[directory]` pointed at the test slapd) with a gateway token
//! (SOAP login through the gateway, second factor enrolled on the way); the direct API stays for internals (stale source,
//! Pro Santé Connect mapping, the LDAP filter).
//! Set `ANNUAIRE_ROWS=500000` for the large import measurement.

mod common;

use common::{
    client, gateway_token, start_gateway, start_sandbox, store_token, GatewayProcess,
    SandboxProcess,
};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mssante_gateway::directory::config::{BackendKind, DirectoryConfig, Secret};
use mssante_gateway::directory::memory::MemoryBackend;
use mssante_gateway::directory::query::Cond;
use mssante_gateway::directory::{Backend, Directory, Source, UNAVAILABLE_REASON};
use mssante_gateway::soap::{Element, Envelope, Fault, Format, NS_ACCOUNT, NS_MAIL};

const SUFFIX: &str = "dc=mssante,dc=fr";
const BASE: &str = "ou=annuaire,dc=mssante,dc=fr";
const ROOT_DN: &str = "cn=admin,dc=mssante,dc=fr";
const ROOT_PW: &str = "test-only-secret";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Fails (never skips) when a program is missing, naming the Debian package.
fn require(program: &str, package: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"] {
        let p = Path::new(dir).join(program);
        if p.exists() {
            return p;
        }
    }
    panic!(
        "`{program}` not found: install the Debian package `{package}` (apt-get install {package})"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A private CA and a server certificate for `127.0.0.1` / `localhost` signed by it
/// (PEM files), made with the `openssl` command line.
struct TestPki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl TestPki {
    fn generate(dir: &Path) -> TestPki {
        let openssl = require("openssl", "openssl");
        let run = |args: &[&str]| {
            let out = Command::new(&openssl)
                .args(args)
                .current_dir(dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        // The CA: self-signed, `basicConstraints CA:TRUE` from openssl's default v3_ca.
        run(&[
            &["req", "-x509", "-days", "2"][..],
            &ec[..],
            &["-keyout", "ca.key", "-out", "ca.pem"][..],
            &["-subj", "/CN=mssante-gateway test LDAP CA"][..],
        ]
        .concat());
        // The server: a leaf certificate for the loopback address the gateway dials.
        std::fs::write(
            dir.join("server.ext"),
            "basicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature\n\
             extendedKeyUsage = serverAuth\n\
             subjectAltName = IP:127.0.0.1, DNS:localhost\n",
        )
        .unwrap();
        run(&[
            &["req", "-new"][..],
            &ec[..],
            &["-keyout", "server.key", "-out", "server.csr"][..],
            &["-subj", "/CN=localhost"][..],
        ]
        .concat());
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ]);
        TestPki {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        }
    }
}

/// A private slapd (mdb, shipped schema) on a free loopback port; killed on drop.
/// With TLS it also listens for `ldaps://` on a second port, answers StartTLS on the
/// plain one, and refuses every operation outside TLS (`security tls=1`).
struct Slapd {
    dir: tempfile::TempDir,
    port: u16,
    ldaps_port: Option<u16>,
    child: Option<Child>,
}

impl Slapd {
    /// Creates the database with `slapadd` (fast bulk load) and starts the server.
    fn with_data(ldif_files: &[&Path]) -> Slapd {
        Slapd::with_data_tls(ldif_files, None)
    }

    /// [`Slapd::with_data`], with TLS from `tls` when given.
    /// Fewer indexes than `deploy/ldap/indexes.ldif`: substring indexes on every folded
    /// attribute take slapadd from ~12 s to ~60 s for 50k entries on 2 cores.
    fn with_data_tls(ldif_files: &[&Path], tls: Option<&TestPki>) -> Slapd {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("db")).unwrap();
        let tls_conf = match tls {
            Some(pki) => format!(
                "TLSCACertificateFile {}\n\
                 TLSCertificateFile {}\n\
                 TLSCertificateKeyFile {}\n\
                 security tls=1\n",
                pki.ca.display(),
                pki.cert.display(),
                pki.key.display()
            ),
            None => String::new(),
        };
        let conf = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             include {schema}\n\
             pidfile {d}/slapd.pid\n\
             argsfile {d}/slapd.args\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             {tls_conf}\
             database mdb\n\
             maxsize 4294967296\n\
             suffix \"{SUFFIX}\"\n\
             rootdn \"{ROOT_DN}\"\n\
             rootpw {ROOT_PW}\n\
             directory {d}/db\n\
             tool-threads 2\n\
             index objectClass eq\n\
             index mail,mssanteIdNat,mssanteIdPP eq\n\
             index mssanteNormSn,mssanteNormGivenName sub\n",
            schema = repo().join("deploy/ldap/mssante-annuaire.schema").display(),
            d = dir.path().display(),
        );
        std::fs::write(dir.path().join("slapd.conf"), conf).unwrap();
        let root = dir.path().join("root.ldif");
        std::fs::write(
            &root,
            format!("dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: mssante\no: MSSante\n"),
        )
        .unwrap();
        let slapadd = require("slapadd", "slapd");
        for f in std::iter::once(root.as_path()).chain(ldif_files.iter().copied()) {
            let out = Command::new(&slapadd)
                .arg("-q")
                .arg("-f")
                .arg(dir.path().join("slapd.conf"))
                .arg("-l")
                .arg(f)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "slapadd {}: {}",
                f.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut s = Slapd {
            dir,
            port: free_port(),
            ldaps_port: tls.map(|_| free_port()),
            child: None,
        };
        s.start();
        s
    }

    fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// The `ldaps://` listener (TLS only).
    fn ldaps_url(&self) -> String {
        format!(
            "ldaps://127.0.0.1:{}",
            self.ldaps_port.expect("slapd with TLS")
        )
    }

    fn start(&mut self) {
        let slapd = require("slapd", "slapd");
        let mut listeners = format!("{}/", self.url());
        if self.ldaps_port.is_some() {
            listeners += &format!(" {}/", self.ldaps_url());
        }
        let child = Command::new(slapd)
            .arg("-h")
            .arg(listeners)
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .args(["-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        for port in std::iter::once(self.port).chain(self.ldaps_port) {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "slapd did not start on port {port}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let st = Command::new(require("kill", "procps"))
            .args([sig, &pid])
            .status()
            .unwrap();
        assert!(st.success());
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        if self.child.is_some() {
            // A stopped process must be continued to die cleanly.
            self.signal("-CONT");
        }
        self.stop();
    }
}

/// The in-memory sample annuaire (the directory every test gateway gets by default).
fn sample_annuaire() -> DirectoryConfig {
    DirectoryConfig {
        backend: BackendKind::Ldif,
        ldif_file: repo().join("fixtures/annuaire/sample.ldif"),
        ..Default::default()
    }
}

fn ldap_config(url: &str) -> DirectoryConfig {
    DirectoryConfig {
        backend: BackendKind::Ldap,
        url: url.into(),
        bind_dn: Some(ROOT_DN.into()),
        bind_password: Some(Secret::new(ROOT_PW)),
        base_dn: BASE.into(),
        ..Default::default()
    }
}

const USER: &str = "antoine.lefevre@esantepdl.mssante.fr";
const PASSWORD: &str = "Sandbox-2026!";

/// A gateway token for [`USER`] (SOAP login through the gateway `gw`).
async fn login(gw: &GatewayProcess) -> String {
    gateway_token(gw, USER).await
}

/// `[directory]` TOML for the gateway from a `DirectoryConfig` (secrets included).
fn directory_toml(cfg: &DirectoryConfig) -> String {
    let mut t = toml::Table::try_from(cfg).unwrap();
    if let Some(pw) = &cfg.bind_password {
        t.insert("bind_password".into(), pw.expose().into());
    }
    let mut root = toml::Table::new();
    root.insert("directory".into(), toml::Value::Table(t));
    toml::to_string(&root).unwrap()
}

/// One request through the gateway's SOAP endpoint; a fault comes back as `Err`.
async fn soap(
    http: &reqwest::Client,
    gw: &GatewayProcess,
    token: Option<&str>,
    req: &Element,
    format: Format,
) -> Result<Element, Fault> {
    let mut env = Envelope {
        format,
        context: None,
        body: req.clone(),
    };
    if let Some(t) = token {
        env.set_auth_token(t);
    }
    let resp = http
        .post(gw.url("/service/soap"))
        .header("content-type", format.content_type())
        .body(env.to_bytes())
        .send()
        .await
        .unwrap();
    let bytes = resp.bytes().await.unwrap();
    let parsed = Envelope::parse(&bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)));
    if parsed.body.name != "Fault" {
        return Ok(parsed.body);
    }
    let all = parsed.body.walk();
    let code = all
        .iter()
        .find(|e| e.name == "Error")
        .and_then(|e| e.attr("Code"))
        .unwrap_or_default();
    let reason = all
        .iter()
        .find_map(|e| match e.name.as_str() {
            "Reason" => e.attr("Text"),
            "faultstring" => Some(e.text()),
            _ => None,
        })
        .unwrap_or_default();
    Err(Fault::new(code, reason))
}

/// The gateway in front of the sandbox, answering from `cfg`'s annuaire.
struct Gateway {
    gw: GatewayProcess,
    token: String,
    http: reqwest::Client,
}

impl Gateway {
    async fn start(sb: &SandboxProcess, cfg: &DirectoryConfig) -> Gateway {
        let gw = start_gateway(&sb.url(""), &directory_toml(cfg));
        Gateway {
            token: login(&gw).await,
            gw,
            http: client(),
        }
    }

    async fn ask_in(&self, req: &Element, format: Format) -> Result<Element, Fault> {
        soap(&self.http, &self.gw, Some(&self.token), req, format).await
    }
}

/// The annuaire as a client sees it: through the gateway (JSON), with the direct API
/// alongside for internals.
struct Annuaire {
    dir: Directory,
    gw: Gateway,
}

impl Annuaire {
    async fn new(sb: &SandboxProcess, cfg: &DirectoryConfig) -> Annuaire {
        Annuaire {
            dir: Directory::from_config(cfg).unwrap(),
            gw: Gateway::start(sb, cfg).await,
        }
    }

    async fn ask(&self, req: &Element) -> Result<Element, Fault> {
        self.gw.ask_in(req, Format::Json).await
    }
}

fn autocomplete_gal(name: &str) -> Element {
    Element::new(NS_ACCOUNT, "AutoCompleteGalRequest")
        .with_child(Element::new(NS_ACCOUNT, "name").with_text(name))
}

fn search_gal(conds: &[(&str, &str, &str)], or: bool) -> Element {
    let mut c = Element::new(NS_ACCOUNT, "conds").with_bool("or", or);
    for (attr, op, value) in conds {
        c = c.with_child(
            Element::new(NS_ACCOUNT, "cond")
                .with_attr("attr", *attr)
                .with_attr("op", *op)
                .with_attr("value", *value),
        );
    }
    Element::new(NS_ACCOUNT, "SearchGalRequest")
        .with_attr("limit", "100")
        .with_child(Element::new(NS_ACCOUNT, "name").with_text("."))
        .with_child(Element::new(NS_ACCOUNT, "searchFilter").with_child(c))
}

fn emails(resp: &Element) -> Vec<String> {
    resp.children
        .iter()
        .map(|cn| {
            // JSON `_attrs` are key/values; XML `<a n="email">` are children.
            cn.kv
                .iter()
                .find(|(k, _)| k == "email")
                .map(|(_, v)| v.clone())
                .or_else(|| {
                    cn.children_named("a")
                        .find(|a| a.attr("n") == Some("email"))
                        .map(|a| a.text().to_owned())
                })
                .unwrap_or_default()
        })
        .collect()
}

/// Extraction → LDIF with the real binary; returns (rows/s, peak RSS kB).
fn import_with_binary(extraction: &Path, ldif: &Path, report: &Path) -> (f64, u64) {
    let bin = env!("CARGO_BIN_EXE_mssante-gateway");
    let started = Instant::now();
    let mut child = Command::new(bin)
        .args(["annuaire", "import"])
        .arg(extraction)
        .arg("--output")
        .arg(ldif)
        .arg("--report")
        .arg(report)
        .args(["--base-dn", BASE, "--with-base-entry"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // VmHWM is the process's high-water mark: the last reading before exit is the peak.
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0;
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(&status_file) {
            if let Some(l) = s.lines().find(|l| l.starts_with("VmHWM:")) {
                peak_kb = l
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(peak_kb);
            }
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let secs = started.elapsed().as_secs_f64();
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "annuaire import failed: {err}");
    let lines = std::fs::read(extraction)
        .unwrap()
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        - 1;
    (lines as f64 / secs, peak_kb)
}

fn generate(rows: usize, out: &Path) {
    let py = require("python3", "python3");
    let st = Command::new(py)
        .arg(repo().join("scripts/gen_extraction.py"))
        .args(["--rows", &rows.to_string(), "--seed", "42", "-o"])
        .arg(out)
        .status()
        .unwrap();
    assert!(st.success());
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_50k_then_ldap_and_memory_agree() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rows: usize = std::env::var("ANNUAIRE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let work = tempfile::tempdir().unwrap();
    let (ex, ldif, report) = (
        work.path().join("ex.txt"),
        work.path().join("a.ldif"),
        work.path().join("rep.txt"),
    );
    generate(rows, &ex);
    let (rate, peak_kb) = import_with_binary(&ex, &ldif, &report);
    let rep = std::fs::read_to_string(&report).unwrap();
    println!("import {rows} rows: {rate:.0} rows/s, peak RSS {peak_kb} kB");
    assert!(
        rep.contains("rejetée"),
        "the generator's broken lines are reported: {rep}"
    );
    assert!(rep.contains("doublon"), "{rep}");
    let t = Instant::now();
    let mut slapd = Slapd::with_data(&[&ldif]);
    println!("slapadd + start: {:.1} s", t.elapsed().as_secs_f64());

    let cfg = DirectoryConfig {
        size_limit: 100_000,
        page_size: 500,
        ..ldap_config(&slapd.url())
    };
    let sb = start_sandbox();
    // Two gateways on the same store: one on slapd, one on the same LDIF in memory.
    let ldap = Annuaire::new(&sb, &cfg).await;
    let mem_cfg = DirectoryConfig {
        backend: BackendKind::Ldif,
        ldif_file: ldif.clone(),
        ..cfg.clone()
    };
    let mem = Annuaire::new(&sb, &mem_cfg).await;
    // The direct API agrees with the in-memory backend built by hand.
    let mem_backend = MemoryBackend::from_ldif(
        std::io::BufReader::new(std::fs::File::open(&ldif).unwrap()),
        &cfg.attributes,
    )
    .unwrap();
    let direct = Directory::with_backend(Backend::Memory(mem_backend), &cfg);
    let probe = autocomplete_gal("hélène");
    assert_eq!(
        emails(&direct.answer(&probe, Format::Json).await.unwrap()),
        emails(&ldap.dir.answer(&probe, Format::Json).await.unwrap())
    );

    let requests = vec![
        autocomplete_gal("hélène"),
        autocomplete_gal("HELENE"),
        autocomplete_gal("helene martin"),
        autocomplete_gal("jean-pierre"),
        autocomplete_gal("d'almeida"),
        autocomplete_gal("le gall"),
        autocomplete_gal("cœur"),
        autocomplete_gal("zoe"),
        autocomplete_gal("44"),
        autocomplete_gal("secretariat.cardiologie@"),
        search_gal(&[("workCity", "eq", "Saint-Étienne")], false),
        search_gal(
            &[
                ("workPostalCode", "startswith", "44"),
                ("jobTitle", "has", "kinesitherapeute"),
            ],
            false,
        ),
        search_gal(&[("departement", "has", "loire atlantique")], false),
        search_gal(&[("departement", "eq", "72")], false),
        search_gal(
            &[("company", "has", "chu"), ("lastName", "eq", "Lefèvre")],
            false,
        ),
        search_gal(
            &[("firstName", "eq", "Gaëlle"), ("firstName", "eq", "Noémie")],
            true,
        ),
        search_gal(&[("email", "startswith", "helene.")], false),
        search_gal(
            &[
                ("profession", "has", "medecine generale"),
                ("workCity", "eq", "paris"),
            ],
            false,
        ),
        // A large answer: needs paged results (page 500) and sorting before the page cut.
        search_gal(&[("jobTitle", "has", "infirmier")], false),
    ];
    for req in &requests {
        let a = ldap.ask(req).await.unwrap();
        let b = mem.ask(req).await.unwrap();
        assert_eq!(emails(&a), emails(&b), "LDAP and memory differ for {req:?}");
        assert_eq!(a.attr("more"), b.attr("more"));
        assert_eq!(a, b);
    }
    let helene = ldap.ask(&autocomplete_gal("Hélène")).await.unwrap();
    assert!(!helene.children.is_empty());
    assert!(helene.children.iter().all(|cn| cn
        .kv
        .iter()
        .any(|(k, v)| k == "firstName" && v.contains("Hélène"))));
    let big = ldap
        .ask(&search_gal(&[("jobTitle", "has", "infirmier")], false))
        .await
        .unwrap();
    assert_eq!(
        (big.children.len(), big.attr_bool("more")),
        (100, Ok(Some(true)))
    );

    // Injection attempts: escaped, they match nothing (or are refused when too long).
    for v in [
        "*",
        ")(objectClass=*",
        "*)(mail=*",
        "\\00",
        "\0",
        "x)(|(mail=*",
    ] {
        let r = ldap.ask(&autocomplete_gal(v)).await.unwrap();
        assert!(r.children.is_empty(), "{v:?} matched {:?}", emails(&r));
        let r = ldap
            .ask(&search_gal(&[("email", "has", v)], false))
            .await
            .unwrap();
        assert!(r.children.is_empty(), "{v:?}");
    }
    let long = ldap
        .ask(&autocomplete_gal(&"a".repeat(100_000)))
        .await
        .unwrap_err();
    assert_eq!(long.code, "service.INVALID_REQUEST");

    // Pro Santé Connect: RPPS with and without its 8 prefix.
    let bytes = std::fs::read(&ex).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let cols: Vec<&str> = text
        .lines()
        .map(|l| l.split('|').collect::<Vec<_>>())
        .find(|c| c.len() == 31 && c[0] == "PER" && !c[3].is_empty())
        .unwrap();
    let (mail, id_pp, id_nat) = (cols[1], cols[3], cols[4]);
    for id in [id_pp, id_nat] {
        assert_eq!(
            ldap.dir
                .mailbox_for_identifier(id)
                .await
                .unwrap()
                .as_deref(),
            Some(mail)
        );
    }
    assert_eq!(ldap.dir.mailbox_for_identifier("*").await.unwrap(), None);

    measure_latency(&slapd, &cfg, &sb).await;
    slapd.stop();
}

async fn measure_latency(slapd: &Slapd, cfg: &DirectoryConfig, sb: &SandboxProcess) {
    let dir = Annuaire::new(
        sb,
        &DirectoryConfig {
            size_limit: 500,
            ..cfg.clone()
        },
    )
    .await;
    let names: Vec<String> = [
        "mar", "ber", "dub", "tho", "rob", "ric", "pet", "dur", "ler", "mor",
    ]
    .iter()
    .flat_map(|a| ["h", "j", "c", "a", "s", "n", "m", "l", "e", "f"].map(|b| format!("{a} {b}")))
    .collect();
    let (mut uncached, mut cached) = (Vec::new(), Vec::new());
    for n in &names {
        let t = Instant::now();
        dir.ask(&autocomplete_gal(n)).await.unwrap();
        uncached.push(t.elapsed());
    }
    for n in &names {
        let t = Instant::now();
        dir.ask(&autocomplete_gal(n)).await.unwrap();
        cached.push(t.elapsed());
    }
    let ldapsearch = require("ldapsearch", "ldap-utils");
    let mut direct = Vec::new();
    for n in names.iter().take(20) {
        // The very filter the gateway sends for this request.
        let filter = match dir.dir.backend() {
            Backend::Ldap(l) => l.templates.compile(&Cond::free_text(n)),
            Backend::Memory(_) => unreachable!("LDAP backend"),
        };
        let t = Instant::now();
        let out = Command::new(&ldapsearch)
            .args([
                "-x",
                "-LLL",
                "-H",
                &slapd.url(),
                "-D",
                ROOT_DN,
                "-w",
                ROOT_PW,
                "-b",
                BASE,
                "-z",
                "500",
                &filter,
            ])
            .output()
            .unwrap();
        direct.push(t.elapsed());
        assert!(out.status.success() || out.status.code() == Some(4));
    }
    println!(
        "latency p50/p95: uncached {:?}/{:?}, cached {:?}/{:?}, ldapsearch process {:?}/{:?}",
        percentile(&mut uncached, 0.5),
        percentile(&mut uncached, 0.95),
        percentile(&mut cached, 0.5),
        percentile(&mut cached, 0.95),
        percentile(&mut direct, 0.5),
        percentile(&mut direct, 0.95),
    );
    assert!(percentile(&mut cached, 0.5) < percentile(&mut uncached, 0.5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldap_down_slow_and_back() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let work = tempfile::tempdir().unwrap();
    let unlisted = work.path().join("unlisted.ldif");
    std::fs::write(
        &unlisted,
        format!(
            "dn: mail=cache.rouge@medecin.mssante.fr,{BASE}\nobjectClass: inetOrgPerson\nobjectClass: mssanteBal\n\
             mail: cache.rouge@medecin.mssante.fr\nsn: ROUGE\ncn: Liste ROUGE\nmssanteNormSn: rouge\n\
             mssanteTypeBal: PER\nmssanteListeRouge: TRUE\n"
        ),
    )
    .unwrap();
    let sample = repo().join("fixtures/annuaire/sample.ldif");
    let mut slapd = Slapd::with_data(&[&sample, &unlisted]);
    let cfg = DirectoryConfig {
        connect_timeout_ms: 500,
        operation_timeout_ms: 1000,
        cache_ttl_s: 1,
        cache_stale_s: 600,
        ..ldap_config(&slapd.url())
    };
    let sb = start_sandbox();
    let a = Annuaire::new(&sb, &cfg).await;
    // The shipped sample loads into slapd with the shipped schema and is searchable.
    let first = a.ask(&autocomplete_gal("a")).await.unwrap();
    assert!(!first.children.is_empty());
    let first_direct = a
        .dir
        .answer(&autocomplete_gal("a"), Format::Json)
        .await
        .unwrap();
    assert!(
        a.ask(&autocomplete_gal("rouge"))
            .await
            .unwrap()
            .children
            .is_empty(),
        "unlisted entry returned"
    );

    // Down: the cached answer is still served after its TTL, an uncached one faults.
    slapd.stop();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(a.ask(&autocomplete_gal("a")).await.unwrap(), first);
    let (again, src) = a
        .dir
        .answer_with_source(&autocomplete_gal("a"))
        .await
        .unwrap();
    assert_eq!((again, src), (first_direct, Source::Stale));
    let t = Instant::now();
    let fault = a.ask(&autocomplete_gal("b")).await.unwrap_err();
    assert_eq!(fault.code, "service.TEMPORARILY_UNAVAILABLE");
    assert_eq!(fault.reason, UNAVAILABLE_REASON);
    println!("fault while down after {:?}", t.elapsed());

    // Back: recovery without restarting anything on our side.
    slapd.start();
    let (fresh, src) = a
        .dir
        .answer_with_source(&autocomplete_gal("b"))
        .await
        .unwrap();
    assert_eq!(src, Source::Live);
    assert!(!fresh.children.is_empty());

    // Slow (SIGSTOP): the operation timeout (1 s) is honoured, then recovery on SIGCONT.
    slapd.signal("-STOP");
    let t = Instant::now();
    let fault = a.ask(&autocomplete_gal("c")).await.unwrap_err();
    let waited = t.elapsed();
    println!("fault while stopped after {waited:?}");
    assert_eq!(fault.code, "service.TEMPORARILY_UNAVAILABLE");
    assert!(waited < Duration::from_millis(3000), "took {waited:?}");
    slapd.signal("-CONT");
    let ok = a.ask(&autocomplete_gal("c")).await;
    assert!(ok.is_ok(), "{ok:?}");

    // The gateway's metrics saw all of it: searches timed, failures counted, the pool.
    let metrics = client()
        .get(a.gw.gw.metrics_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        "gateway_ldap_operation_seconds_count{operation=\"search\"}",
        "gateway_ldap_operation_seconds_count{operation=\"connect\"}",
        "gateway_ldap_errors_total{operation=\"connect\",kind=\"unavailable\"}",
        "gateway_ldap_pool_connections{state=\"idle\"}",
        "gateway_ldap_pool_max 4",
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }
}

#[test]
fn check_command_reports_ldap_connectivity() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sample = repo().join("fixtures/annuaire/sample.ldif");
    let slapd = Slapd::with_data(&[&sample]);
    let work = tempfile::tempdir().unwrap();
    let pw = work.path().join("pw");
    std::fs::write(&pw, format!("{ROOT_PW}\n")).unwrap();
    let conf = work.path().join("g.toml");
    let write_conf = |base: &str, extra: &str| {
        std::fs::write(
            &conf,
            format!(
                "[directory]\nbackend = \"ldap\"\nurl = \"{}\"\nbind_dn = \"{ROOT_DN}\"\nbind_password_file = {:?}\nbase_dn = \"{base}\"\n{extra}",
                slapd.url(),
                pw
            ),
        )
        .unwrap()
    };
    let bin = env!("CARGO_BIN_EXE_mssante-gateway");
    let check = || {
        let out = Command::new(bin)
            .args(["annuaire", "check", "--config"])
            .arg(&conf)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    write_conf(BASE, "");
    let (ok, text) = check();
    assert!(ok, "{text}");
    assert!(
        text.contains("bind OK") && text.contains("schéma OK"),
        "{text}"
    );
    assert!(!text.contains(ROOT_PW));
    // A wrong base says so, naming the key (not « LDAP rc=32 »).
    write_conf("ou=absent,dc=mssante,dc=fr", "");
    let (ok, text) = check();
    assert!(!ok, "{text}");
    assert!(
        text.contains("directory.base_dn") && text.contains("n'existe pas"),
        "{text}"
    );
    assert!(!text.contains("rc=32"), "{text}");
    // A mapped attribute the server's schema does not define is an error, not « OK ».
    write_conf(
        BASE,
        "[directory.attributes]\ncity = \"mssanteVilleInconnue\"\nobject_class = \"mssanteAbsente\"\n",
    );
    let (ok, text) = check();
    assert!(!ok, "{text}");
    assert!(
        text.contains("directory.attributes.city = \"mssanteVilleInconnue\"")
            && text.contains("directory.attributes.object_class"),
        "{text}"
    );
}

fn percentile_of(v: &mut [Duration], p: f64) -> Duration {
    percentile(v, p)
}

/// Sends a raw JSON body at `url` with the token in the header context.
async fn raw_json(url: &str, token: &str, body: &str) -> serde_json::Value {
    let env = format!(
        r#"{{"Header":{{"context":{{"_jsns":"urn:zimbra","authToken":{{"_content":"{token}"}}}}}},"Body":{body}}}"#
    );
    client()
        .post(url)
        .header("content-type", "application/json")
        .body(env)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn store_stats(sb: &SandboxProcess) -> serde_json::Value {
    client()
        .get(sb.url("/sandbox/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The default annuaire (the shipped sample) through the gateway: XML and JSON lookups,
/// AutoComplete merged with the user's own contacts, batches, the token requirement,
/// the store's own GAL never called, and the latency of cached lookups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_answers_from_the_annuaire() {
    let sb = start_sandbox();
    let gw = Gateway::start(&sb, &sample_annuaire()).await;
    // A personal contact: the user wrote to an outside address (the store's ranking table),
    // directly at the store with its own token.
    let own = store_token(&sb.url(""), USER, PASSWORD).await;
    let sent = raw_json(
        &sb.url("/service/soap/SendMsgRequest"),
        &own,
        r#"{"SendMsgRequest":{"_jsns":"urn:zimbraMail","m":{"e":[{"t":"t","a":"sanchou.perso@exemple.org"}],"su":{"_content":"Bonjour"},"mp":{"ct":"text/plain","content":{"_content":"Bonjour"}}}}}"#,
    )
    .await;
    assert!(sent["Body"]["SendMsgResponse"].is_object(), "{sent}");
    client()
        .post(sb.url("/sandbox/reset-stats"))
        .send()
        .await
        .unwrap();

    // AutoCompleteGal in JSON and XML: the same annuaire entries.
    let want = "beatrice.sanchez@pharmacien.mssante.fr".to_string();
    let json = gw
        .ask_in(&autocomplete_gal("sanchez"), Format::Json)
        .await
        .unwrap();
    assert!(json.is(NS_ACCOUNT, "AutoCompleteGalResponse"), "{json:?}");
    assert!(emails(&json).contains(&want), "{:?}", emails(&json));
    let xml = gw
        .ask_in(&autocomplete_gal("sanchez"), Format::Soap12)
        .await
        .unwrap();
    assert!(xml.is(NS_ACCOUNT, "AutoCompleteGalResponse"), "{xml:?}");
    assert_eq!(emails(&xml), emails(&json));
    // SearchGal with conditions, XML.
    let search = gw
        .ask_in(
            &search_gal(&[("workCity", "eq", "Nice")], false),
            Format::Soap12,
        )
        .await
        .unwrap();
    assert!(search.is(NS_ACCOUNT, "SearchGalResponse"));
    assert!(emails(&search).contains(&want), "{:?}", emails(&search));

    // AutoComplete: the user's contact (from the store) and the annuaire, merged.
    let ac = Element::new(NS_MAIL, "AutoCompleteRequest").with_attr("name", "sanch");
    let merged = gw.ask_in(&ac, Format::Json).await.unwrap();
    let found: Vec<String> = merged
        .children
        .iter()
        .map(|m| {
            format!(
                "{} {}",
                m.attr("type").unwrap_or(""),
                m.attr("email").unwrap_or("")
            )
        })
        .collect();
    assert!(
        found
            .iter()
            .any(|m| m.contains("sanchou.perso@exemple.org")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|m| m.starts_with("gal") && m.contains(&want)),
        "{found:?}"
    );

    // A batch of directory requests is answered whole, requestIds echoed.
    let batch = Element::new(mssante_gateway::soap::NS_ZIMBRA, "BatchRequest")
        .with_child(autocomplete_gal("sanchez").with_attr("requestId", "a1"))
        .with_child(search_gal(&[("workCity", "eq", "Nice")], false).with_attr("requestId", "s2"));
    let b = gw.ask_in(&batch, Format::Json).await.unwrap();
    assert!(
        b.is(mssante_gateway::soap::NS_ZIMBRA, "BatchResponse"),
        "{b:?}"
    );
    let ids: Vec<_> = b
        .children
        .iter()
        .map(|c| (c.name.as_str(), c.attr("requestId")))
        .collect();
    assert_eq!(
        ids,
        [
            ("AutoCompleteGalResponse", Some("a1")),
            ("SearchGalResponse", Some("s2"))
        ]
    );
    // AutoComplete inside a batch (XML): contacts from the store, merged, id echoed.
    let batch = Element::new(mssante_gateway::soap::NS_ZIMBRA, "BatchRequest")
        .with_child(ac.clone().with_attr("requestId", "c1"));
    let b = gw.ask_in(&batch, Format::Soap12).await.unwrap();
    let r = &b.children[0];
    assert_eq!(
        (r.name.as_str(), r.attr("requestId")),
        ("AutoCompleteResponse", Some("c1"))
    );
    let emails_xml: Vec<&str> = r.children.iter().filter_map(|m| m.attr("email")).collect();
    assert!(
        emails_xml
            .iter()
            .any(|e| e.contains("sanchou.perso@exemple.org")),
        "{emails_xml:?}"
    );
    assert!(
        emails_xml.iter().any(|e| e.contains(&want)),
        "{emails_xml:?}"
    );
    // …but not mixed with requests for the store.
    let mixed = Element::new(mssante_gateway::soap::NS_ZIMBRA, "BatchRequest")
        .with_child(autocomplete_gal("sanchez").with_attr("requestId", "1"))
        .with_child(Element::new(NS_ACCOUNT, "GetInfoRequest").with_attr("requestId", "2"));
    let f = gw.ask_in(&mixed, Format::Soap12).await.unwrap_err();
    assert_eq!(f.code, "service.INVALID_REQUEST");
    assert!(f.reason.contains("annuaire"), "{}", f.reason);

    // No token, a forged one, or even a valid store token (the gateway only accepts its
    // own): AUTH_REQUIRED, in both formats.
    for format in [Format::Json, Format::Soap12] {
        let f = soap(&gw.http, &gw.gw, None, &autocomplete_gal("sanchez"), format)
            .await
            .unwrap_err();
        assert_eq!(f.code, "service.AUTH_REQUIRED");
        let f = soap(
            &gw.http,
            &gw.gw,
            Some("0_forged"),
            &search_gal(&[("workCity", "eq", "Nice")], false),
            format,
        )
        .await
        .unwrap_err();
        assert_eq!(f.code, "service.AUTH_REQUIRED");
        let f = soap(
            &gw.http,
            &gw.gw,
            Some(&own),
            &autocomplete_gal("sanchez"),
            format,
        )
        .await
        .unwrap_err();
        assert_eq!(f.code, "service.AUTH_REQUIRED");
    }

    // The store's own GAL was never asked; its contacts were (AutoComplete).
    let stats = store_stats(&sb).await;
    let calls = &stats["soap_requests"];
    assert!(calls.get("SearchGalRequest").is_none(), "{stats}");
    assert!(calls.get("AutoCompleteGalRequest").is_none(), "{stats}");
    assert_eq!(calls["AutoCompleteRequest"], 2, "{stats}");

    // Latency of a cached lookup through the gateway (token check cached too).
    let n: usize = std::env::var("ANNUAIRE_GW_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let before = store_stats(&sb).await["total"].as_u64().unwrap();
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = gw.ask_in(&autocomplete_gal("sanchez"), Format::Json).await;
        lat.push(t.elapsed());
        assert!(r.is_ok());
    }
    let after = store_stats(&sb).await["total"].as_u64().unwrap();
    println!(
        "gateway cached AutoCompleteGal ({n} requests, JSON): p50 {:?}, p99 {:?}, max {:?}; store calls {}",
        percentile_of(&mut lat, 0.5),
        percentile_of(&mut lat, 0.99),
        lat.iter().max().unwrap(),
        after - before
    );
    // Nothing reached the store (`/sandbox/stats` does not count itself).
    assert_eq!(after, before);
}

/// The gateway's log (stderr) once it contains `needle`; panics after 5 s.
async fn log_containing(gw: &GatewayProcess, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = gw.proc.stderr();
        if log.contains(needle) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "gateway log lacks {needle:?}:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// TLS to the annuaire against a real slapd with a private CA (certificates made by
/// `openssl` at test time): `ldaps://` and StartTLS with `ca_file` answer lookups; without
/// the CA (system roots) the certificate is refused and the client gets the
/// "annuaire indisponible" fault, never a plaintext fallback; `starttls = true` against a
/// server without TLS is refused too. The TLS slapd refuses operations outside TLS
/// (`security tls=1`), so the StartTLS answers prove the upgrade really happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_ldaps_and_starttls_with_private_ca() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(work.path());
    let sample = repo().join("fixtures/annuaire/sample.ldif");
    let slapd = Slapd::with_data_tls(&[&sample], Some(&pki));
    let sb = start_sandbox();
    let want = "beatrice.sanchez@pharmacien.mssante.fr".to_string();
    let quick = |url: &str| DirectoryConfig {
        connect_timeout_ms: 1000,
        operation_timeout_ms: 2000,
        ..ldap_config(url)
    };

    // ldaps:// with the private CA, then StartTLS on the plain port with the same CA.
    let ldaps = DirectoryConfig {
        ca_file: Some(pki.ca.clone()),
        ..quick(&slapd.ldaps_url())
    };
    let starttls = DirectoryConfig {
        ca_file: Some(pki.ca.clone()),
        starttls: true,
        ..quick(&slapd.url())
    };
    for (what, cfg) in [("ldaps", &ldaps), ("StartTLS", &starttls)] {
        let gw = Gateway::start(&sb, cfg).await;
        let r = gw
            .ask_in(&autocomplete_gal("sanchez"), Format::Json)
            .await
            .unwrap_or_else(|f| panic!("{what}: {f:?}\n{}", gw.gw.proc.stderr()));
        assert!(emails(&r).contains(&want), "{what}: {:?}", emails(&r));
        let r = gw
            .ask_in(
                &search_gal(&[("workCity", "eq", "Nice")], false),
                Format::Soap12,
            )
            .await
            .unwrap_or_else(|f| panic!("{what}: {f:?}"));
        assert!(emails(&r).contains(&want), "{what}: {:?}", emails(&r));
    }

    // Refused: the annuaire fault for the client, the reason in the gateway's log.
    async fn refused(sb: &SandboxProcess, cfg: &DirectoryConfig, log_needle: &str) -> String {
        let gw = Gateway::start(sb, cfg).await;
        let fault = gw
            .ask_in(&autocomplete_gal("sanchez"), Format::Json)
            .await
            .expect_err("lookup must fail");
        assert_eq!(fault.code, "service.TEMPORARILY_UNAVAILABLE");
        assert_eq!(fault.reason, UNAVAILABLE_REASON);
        let log = log_containing(&gw.gw, log_needle).await;
        let line = log.lines().find(|l| l.contains(log_needle)).unwrap();
        println!("refused as expected: {line}");
        line.to_string()
    }
    // ldaps:// without the CA: the system roots do not know it.
    let log = refused(
        &sb,
        &quick(&slapd.ldaps_url()),
        "annuaire: recherche impossible",
    )
    .await;
    assert!(
        log.contains("UnknownIssuer") || log.contains("invalid peer certificate"),
        "no TLS error logged: {log}"
    );
    // StartTLS without the CA: same refusal, not a plaintext session.
    let log = refused(
        &sb,
        &DirectoryConfig {
            starttls: true,
            ..quick(&slapd.url())
        },
        "annuaire: recherche impossible",
    )
    .await;
    assert!(
        log.contains("UnknownIssuer") || log.contains("invalid peer certificate"),
        "no TLS error logged: {log}"
    );
    // Plain ldap:// against this server: slapd refuses operations outside TLS, which is
    // what makes the StartTLS success above meaningful.
    let log = refused(&sb, &quick(&slapd.url()), "annuaire: recherche impossible").await;
    assert!(log.contains("onfidentiality"), "{log}");

    // `starttls = true` against a server without TLS: refused, not used in clear.
    let plain = Slapd::with_data(&[]);
    let log = refused(
        &sb,
        &DirectoryConfig {
            ca_file: Some(pki.ca.clone()),
            starttls: true,
            ..quick(&plain.url())
        },
        "annuaire: recherche impossible",
    )
    .await;
    assert!(log.contains("unsupported extended operation"), "{log}");
    println!("TLS test: {:.1} s", started.elapsed().as_secs_f64());
}
