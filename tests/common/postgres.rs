//! A private PostgreSQL cluster for tests (Debian package `postgresql`): its own
//! data directory in a temporary directory, a free loopback port, its unix socket in
//! that directory, TLS on with a private CA made for it. Stopped (and its files
//! removed) on drop; `stop`/`start` let a test take the server away and bring it back.
//!
//! PostgreSQL refuses to run as root: as root (CI) the server runs as `nobody`, the
//! temporary directory being given to that user; otherwise as the current user.
//! `initdb` runs once per build directory (a template kept in `CARGO_TARGET_TMPDIR`,
//! copied for each cluster), which saves about two seconds per cluster.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Password of the `postgres` superuser over TCP (loopback only, test clusters only).
pub const SUPERUSER_PASSWORD: &str = "pg-test-superuser";

/// A running (or stopped) private cluster.
pub struct PgCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    run_as: Option<(u32, u32)>,
    /// fsync on every commit (benchmarks); tests turn it off for speed.
    durable_commits: bool,
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding the server programs.
pub fn postgres_bin() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL server programs (initdb, postgres) are missing under \
             /usr/lib/postgresql/*/bin: install the Debian package `postgresql` \
             (apt-get install postgresql); scripts/test installs it"
        ),
    }
}

/// (uid, gid) to run the server as when this process is root: `nobody`.
fn unprivileged_user() -> Option<(u32, u32)> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(u32::MAX);
    if euid != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    let line = passwd
        .lines()
        .find(|l| l.starts_with("nobody:"))
        .expect("running as root needs the user `nobody` to run PostgreSQL");
    let f: Vec<&str> = line.split(':').collect();
    Some((f[2].parse().unwrap(), f[3].parse().unwrap()))
}

fn chown_tree(path: &Path, (uid, gid): (u32, u32)) {
    let out = Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(path)
        .output()
        .expect("chown");
    assert!(out.status.success(), "chown {}: {out:?}", path.display());
}

fn as_user(cmd: &mut Command, run_as: Option<(u32, u32)>) -> &mut Command {
    use std::os::unix::process::CommandExt;
    if let Some((uid, gid)) = run_as {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

/// An initialised data directory to copy, made once per build directory.
fn template(bin: &Path, run_as: Option<(u32, u32)>) -> PathBuf {
    let version = bin
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|v| v.to_str())
        .unwrap_or("x")
        .to_owned();
    let uid = run_as
        .map(|(u, _)| u.to_string())
        .unwrap_or_else(|| "self".into());
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let ready = root.join(format!("postgres-template-{version}-{uid}"));
    // Tests of one binary start clusters in parallel: one initdb is enough.
    static TEMPLATE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = TEMPLATE.lock().unwrap_or_else(|e| e.into_inner());
    if ready.join("data/PG_VERSION").is_file() {
        return ready;
    }
    // initdb in a directory the server user can reach, then moved into place atomically.
    let work = tempfile::Builder::new()
        .prefix("pg-initdb-")
        .tempdir()
        .expect("tempdir");
    let pwfile = work.path().join("pw");
    std::fs::write(&pwfile, SUPERUSER_PASSWORD).unwrap();
    if let Some(u) = run_as {
        chown_tree(work.path(), u);
    }
    let data = work.path().join("data");
    let out = as_user(&mut Command::new(bin.join("initdb")), run_as)
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "-E", "UTF8", "--no-locale", "-N"])
        .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
        .arg(format!("--pwfile={}", pwfile.display()))
        .output()
        .expect("run initdb");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::create_dir_all(&root).unwrap();
    let staging = root.join(format!(
        "postgres-template-{version}-{uid}.{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).unwrap();
    copy_dir(&data, &staging.join("data"));
    if std::fs::rename(&staging, &ready).is_err() {
        // Another test binary won the race: use its template.
        let _ = std::fs::remove_dir_all(&staging);
    }
    ready
}

/// `cp -a` keeps the owner (as root) and the 0700 mode PostgreSQL requires.
fn copy_dir(from: &Path, to: &Path) {
    let out = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .expect("cp");
    assert!(out.status.success(), "cp -a: {out:?}");
}

/// A private CA and a server certificate for `localhost` / 127.0.0.1 signed by it.
fn write_certificates(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "mssante-gateway test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.crt"), cert.pem()).unwrap();
    let key_path = dir.join("server.key");
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

impl PgCluster {
    /// A new cluster, started and ready (commits not flushed to disk: tests).
    pub fn start() -> PgCluster {
        Self::start_with(false)
    }

    /// A cluster that flushes each commit to disk, as a production server does
    /// (benchmarks comparing with SQLite, which does).
    pub fn start_durable() -> PgCluster {
        Self::start_with(true)
    }

    fn start_with(durable_commits: bool) -> PgCluster {
        let bin = postgres_bin();
        let run_as = unprivileged_user();
        let template = template(&bin, run_as);
        let dir = tempfile::Builder::new()
            .prefix("pg-")
            .tempdir()
            .expect("tempdir");
        copy_dir(&template.join("data"), &dir.path().join("data"));
        std::fs::create_dir(dir.path().join("sock")).unwrap();
        write_certificates(&dir.path().join("data"));
        if let Some(u) = run_as {
            chown_tree(dir.path(), u);
        }
        let mut pg = PgCluster {
            bin,
            dir,
            port: 0,
            child: None,
            run_as,
            durable_commits,
        };
        for _ in 0..5 {
            pg.port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            if pg.try_start() {
                return pg;
            }
        }
        panic!("postgres could not start; log:\n{}", pg.log());
    }

    /// Starts the server again on the same port and data (after `stop`).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        assert!(
            self.try_start(),
            "postgres did not start again:\n{}",
            self.log()
        );
    }

    fn try_start(&mut self) -> bool {
        let log_path = self.dir.path().join("postgres.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("log file");
        let before = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
        let data = self.dir.path().join("data");
        let child = as_user(&mut Command::new(self.bin.join("postgres")), self.run_as)
            .arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.socket_dir())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(if self.durable_commits {
                ["-c", "fsync=on", "-c", "synchronous_commit=on"]
            } else {
                ["-c", "fsync=off", "-c", "synchronous_commit=off"]
            })
            .args(["-c", "max_connections=60"])
            .args(["-c", "shared_buffers=16MB", "-c", "ssl=on"])
            .args([
                "-c",
                "ssl_cert_file=server.crt",
                "-c",
                "ssl_key_file=server.key",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn postgres");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read(&log_path).unwrap_or_default();
            let fresh = String::from_utf8_lossy(&text[(before as usize).min(text.len())..]);
            if fresh.contains("ready to accept connections") {
                return true;
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(_)) = c.try_wait() {
                    self.child = None;
                    return false; // port taken meanwhile, or a configuration error
                }
            }
            if Instant::now() > deadline {
                self.stop();
                return false;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Stops the server (fast shutdown: open connections are ended).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    /// The private CA that signed the server certificate (PEM).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("data/ca.pem")
    }

    /// The server log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// A URL through the unix socket (no TLS, trust authentication).
    pub fn socket_url(&self, db: &str) -> String {
        let sock = self.socket_dir().display().to_string().replace('/', "%2F");
        format!("postgres://postgres@{sock}:{}/{db}", self.port)
    }

    /// A URL over TCP to `localhost` (TLS checked against [`Self::ca_file`], password
    /// [`SUPERUSER_PASSWORD`]).
    pub fn tls_url(&self, db: &str) -> String {
        format!("postgres://postgres@localhost:{}/{db}", self.port)
    }

    /// Runs SQL with `psql` through the socket; returns the unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .arg("-h")
            .arg(self.socket_dir())
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db])
            .args(["-v", "ON_ERROR_STOP=1", "-X", "-q", "-A", "-t", "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// A new empty database.
    pub fn create_database(&self, name: &str) {
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
    }

    /// A file holding the superuser password (for `postgres_password_file`).
    pub fn password_file(&self) -> PathBuf {
        let p = self.dir.path().join("superuser.password");
        if !p.exists() {
            std::fs::write(&p, SUPERUSER_PASSWORD).unwrap();
        }
        p
    }
}
