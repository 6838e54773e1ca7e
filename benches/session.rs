//! The per-request cost of gateway sessions (A7): find the session named by the
//! cookie in the in-memory store, strip client tokens and inject the store token.
//! Compare with the ~95 µs of CPU a proxied request costs end to end (README,
//! benchmarks). Also prints the memory held per session. Run:
//! `cargo bench --bench session`.

use criterion::{criterion_group, criterion_main, Criterion};
use http::{HeaderMap, HeaderValue, Uri};
use mssante_gateway::auth::clock::Clock;
use mssante_gateway::auth::config::SessionConfig;
use mssante_gateway::auth::secret::UpstreamToken;
use mssante_gateway::auth::session::{SessionManager, Stage};
use mssante_gateway::proxy::session_gate;
use mssante_gateway::store::ShortStore;
use std::hint::black_box;

/// A store token of the size Zimbra hands out (~250 characters).
fn store_token(i: usize) -> UpstreamToken {
    UpstreamToken::new(format!("0_{i:040x}_{}", "6964".repeat(50)))
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let cfg = SessionConfig {
        insecure_loopback_demo: true,
        ..SessionConfig::default()
    };
    let sessions = SessionManager::new(cfg, ShortStore::memory(Clock::System, 1_000_000));

    // Memory per session: 20,000 live sessions in the in-memory store.
    const N: usize = 20_000;
    let before = rss_kib();
    let ids: Vec<String> = rt.block_on(async {
        let mut ids = Vec::with_capacity(N);
        for i in 0..N {
            let user = format!("utilisateur.{i}@esantepdl.mssante.fr");
            let live = sessions
                .create(&user, Stage::Full, Some(store_token(i)))
                .await
                .unwrap();
            ids.push(live.id.expose().to_string());
        }
        ids
    });
    let per = (rss_kib().saturating_sub(before) * 1024) as f64 / N as f64;
    eprintln!("bench: {N} sessions held, ~{per:.0} bytes of RSS each (store entry + user index)");

    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::COOKIE,
        HeaderValue::from_str(&format!("lang=fr; mssante_session={}", ids[N / 2])).unwrap(),
    );
    let uri: Uri = "/service/soap/GetInfoRequest".parse().unwrap();
    c.bench_function("session_resolve_strip_inject", |b| {
        b.iter(|| {
            rt.block_on(async {
                let s = session_gate::resolve(&headers, &uri, &sessions)
                    .await
                    .unwrap_or(None);
                let mut h = headers.clone();
                let u = session_gate::upstream_headers(&mut h, &uri, s.as_ref());
                black_box((s.is_some(), h, u))
            })
        })
    });
    c.bench_function("no_session_cookie", |b| {
        let mut empty = HeaderMap::new();
        empty.insert(http::header::COOKIE, HeaderValue::from_static("lang=fr"));
        b.iter(|| {
            rt.block_on(async {
                let s = session_gate::resolve(&empty, &uri, &sessions).await;
                black_box(matches!(s, Ok(None)))
            })
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
