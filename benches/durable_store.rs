//! Login and enrolment rate on the durable store (S2): SQLite (a local file in WAL
//! mode, the gateway's settings) against PostgreSQL (a private cluster from
//! `tests/common/postgres.rs` on the same disk, commits flushed like SQLite's, reached
//! over TLS on loopback as a deployment would, pool of 16). A login's
//! durable-store work is what the gateway does after the password step: read the
//! user's settings, open the sealed TOTP secret, record the used step. An
//! enrolment stores a sealed secret, the first used step, the channel and ten
//! recovery codes, then reads the settings back. Each is measured one at a time
//! (latency) and 64 at a time with 16 in flight (rate with several requests).
//! Run: `cargo bench --bench durable_store` (needs the Debian package `postgresql`).

#[path = "../tests/common/postgres.rs"]
#[allow(dead_code)]
mod postgres;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use mssante_gateway::config::Secret;
use mssante_gateway::store::{DurableBackend, DurableStore, OtpChannel, StoreConfig};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const BATCH: usize = 64;
const IN_FLIGHT: usize = 16;

/// Enrolled users: 1000 under `cargo bench`, fewer when `cargo test --benches` runs
/// each benchmark once as a test (unoptimised build).
fn users() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| {
        if std::env::args().any(|a| a == "--bench") {
            1000
        } else {
            BATCH
        }
    })
}

fn user(i: usize) -> String {
    format!("utilisateur.{i}@esantepdl.mssante.fr")
}

async fn login(s: &DurableStore, u: &str, step: u64) {
    let sec = s.get(u).await.unwrap();
    assert!(sec.has_totp_secret);
    assert!(s.totp_secret(u).await.unwrap().is_some());
    assert!(s.accept_totp_step(u, step).await.unwrap());
}

async fn enrol(s: &DurableStore, u: &str) {
    s.set_totp_secret(u, Some(SECRET)).await.unwrap();
    assert!(s.accept_totp_step(u, 1).await.unwrap());
    s.set_otp_channel(u, Some(OtpChannel::Totp)).await.unwrap();
    let codes = (0..10u8).map(|i| vec![i; 32]).collect();
    s.replace_recovery_codes(u, codes).await.unwrap();
    assert!(s.get(u).await.unwrap().has_totp_secret);
}

/// `BATCH` operations with `IN_FLIGHT` tasks at once; returns the elapsed time.
async fn batch(s: &DurableStore, step: &Arc<AtomicU64>, enrolment: bool) -> Duration {
    let t = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..IN_FLIGHT {
        let (s, step, next) = (s.clone(), step.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= BATCH {
                    break;
                }
                if enrolment {
                    enrol(
                        &s,
                        &format!("new.{}.{i}", step.fetch_add(1, Ordering::Relaxed)),
                    )
                    .await;
                } else {
                    let st = step.fetch_add(1, Ordering::Relaxed);
                    login(&s, &user(i % users()), st).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    t.elapsed()
}

fn bench(c: &mut Criterion) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pg = postgres::PgCluster::start_durable();
    pg.create_database("bench");
    let key = hex::encode([7u8; 32]);
    let sqlite_cfg = StoreConfig {
        sqlite_path: dir.path().join("bench.sqlite3"),
        data_key: Some(Secret::new(key.clone())),
        ..Default::default()
    };
    let pg_cfg = StoreConfig {
        durable_backend: DurableBackend::Postgres,
        postgres_url: pg.tls_url("bench"),
        postgres_password: Some(Secret::new(postgres::SUPERUSER_PASSWORD)),
        postgres_ca_file: Some(pg.ca_file()),
        postgres_pool_size: 16,
        // A burst opens up to 16 connections at once (TLS + SCRAM each): generous
        // for an unoptimised build on a busy machine.
        postgres_connect_timeout_ms: 30_000,
        data_key: Some(Secret::new(key)),
        ..Default::default()
    };
    let stores: Vec<(&str, DurableStore)> = rt.block_on(async {
        let mut v = Vec::new();
        for (name, cfg) in [("sqlite", &sqlite_cfg), ("postgres", &pg_cfg)] {
            let s = cfg.open_durable().await.unwrap();
            for i in 0..users() {
                enrol(&s, &user(i)).await;
            }
            v.push((name, s));
        }
        v
    });

    let mut g = c.benchmark_group("durable_store");
    g.sample_size(20);
    for (name, s) in &stores {
        let step = Arc::new(AtomicU64::new(1_000));
        g.bench_function(BenchmarkId::new("login_one_at_a_time", name), |b| {
            let mut i = 0usize;
            b.iter(|| {
                i += 1;
                let st = step.fetch_add(1, Ordering::Relaxed);
                rt.block_on(login(s, &user(i % users()), st));
            })
        });
        g.bench_function(BenchmarkId::new("enrolment_one_at_a_time", name), |b| {
            let mut i = 0usize;
            b.iter(|| {
                i += 1;
                rt.block_on(enrol(
                    s,
                    &format!("solo.{i}.{}", step.fetch_add(1, Ordering::Relaxed)),
                ));
            })
        });
        g.bench_function(BenchmarkId::new("login_64_with_16_in_flight", name), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| rt.block_on(batch(s, &step, false)))
                    .sum()
            })
        });
        g.bench_function(
            BenchmarkId::new("enrolment_64_with_16_in_flight", name),
            |b| b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(batch(s, &step, true))).sum()),
        );
    }
    g.finish();
    drop(stores);
    drop(pg);
}

criterion_group!(benches, bench);
criterion_main!(benches);
