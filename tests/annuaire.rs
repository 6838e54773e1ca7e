//! Annuaire (D1-D5) against a real OpenLDAP `slapd` started by the test itself.
//!
//! * a 50,000-row synthetic extraction (`scripts/gen_extraction.py`) is imported with the
//!   real binary (`annuaire import`), loaded with `slapadd` under the shipped schema, and
//!   every query is answered identically by the LDAP backend and by the in-memory one;
//! * injection attempts, LDAP down and back (stale answers, French fault, recovery),
//!   slow LDAP (SIGSTOP: operation timeout honoured).
//!
//! Queries go through `Annuaire::ask`, the one place to switch to the gateway's HTTP path.
//! Set `ANNUAIRE_ROWS=500000` for the large import measurement.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mssante_gateway::directory::config::{BackendKind, DirectoryConfig, Secret};
use mssante_gateway::directory::memory::MemoryBackend;
use mssante_gateway::directory::query::Cond;
use mssante_gateway::directory::{Backend, Directory, Source, UNAVAILABLE_REASON};
use mssante_gateway::soap::{Element, Fault, Format, NS_ACCOUNT};

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

/// A private slapd (mdb, shipped schema) on a free loopback port; killed on drop.
struct Slapd {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Slapd {
    /// Creates the database with `slapadd` (fast bulk load) and starts the server.
    /// Fewer indexes than `deploy/ldap/indexes.ldif`: substring indexes on every folded
    /// attribute take slapadd from ~12 s to ~60 s for 50k entries on 2 cores.
    fn with_data(ldif_files: &[&Path]) -> Slapd {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("db")).unwrap();
        let conf = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             include {schema}\n\
             pidfile {d}/slapd.pid\n\
             argsfile {d}/slapd.args\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
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
            child: None,
        };
        s.start();
        s
    }

    fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    fn start(&mut self) {
        let slapd = require("slapd", "slapd");
        let child = Command::new(slapd)
            .arg("-h")
            .arg(format!("{}/", self.url()))
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .args(["-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "slapd did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
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

/// The annuaire as a client sees it. Switch `ask` to an HTTP call to go through the
/// gateway once it is wired.
struct Annuaire {
    dir: Directory,
}

impl Annuaire {
    async fn ask(&self, req: &Element) -> Result<Element, Fault> {
        self.dir.answer(req, Format::Json).await
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
            cn.kv
                .iter()
                .find(|(k, _)| k == "email")
                .map(|(_, v)| v.clone())
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
    let ldap = Annuaire {
        dir: Directory::from_config(&cfg).unwrap(),
    };
    let mem_backend = MemoryBackend::from_ldif(
        std::io::BufReader::new(std::fs::File::open(&ldif).unwrap()),
        &cfg.attributes,
    )
    .unwrap();
    let mem = Annuaire {
        dir: Directory::with_backend(Backend::Memory(mem_backend), &cfg),
    };

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
    assert_eq!((big.children.len(), big.attr("more")), (100, Some("1")));

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

    measure_latency(&slapd, &cfg).await;
    slapd.stop();
}

async fn measure_latency(slapd: &Slapd, cfg: &DirectoryConfig) {
    let dir = Annuaire {
        dir: Directory::from_config(&DirectoryConfig {
            size_limit: 500,
            ..cfg.clone()
        })
        .unwrap(),
    };
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
    let a = Annuaire {
        dir: Directory::from_config(&cfg).unwrap(),
    };
    // The shipped sample loads into slapd with the shipped schema and is searchable.
    let first = a.ask(&autocomplete_gal("a")).await.unwrap();
    assert!(!first.children.is_empty());
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
    let (again, src) = a
        .dir
        .answer_with_source(&autocomplete_gal("a"))
        .await
        .unwrap();
    assert_eq!((again, src), (first.clone(), Source::Stale));
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
    let write_conf = |base: &str| {
        std::fs::write(
            &conf,
            format!(
                "[directory]\nbackend = \"ldap\"\nurl = \"{}\"\nbind_dn = \"{ROOT_DN}\"\nbind_password_file = {:?}\nbase_dn = \"{base}\"\n",
                slapd.url(),
                pw
            ),
        )
        .unwrap()
    };
    let bin = env!("CARGO_BIN_EXE_mssante-gateway");
    write_conf(BASE);
    let out = Command::new(bin)
        .args(["annuaire", "check", "--config"])
        .arg(&conf)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("bind OK"), "{text}");
    assert!(!text.contains(ROOT_PW));
    write_conf("ou=absent,dc=mssante,dc=fr");
    let out = Command::new(bin)
        .args(["annuaire", "check", "--config"])
        .arg(&conf)
        .output()
        .unwrap();
    assert!(!out.status.success());
}
