//! Policy decision throughput: a SendMsgRequest with 50 recipients against the full
//! ANS whitelist (the reference copy repaired in memory when present, else a
//! generated 5,000-domain list). Run: `cargo bench --bench policy`.
//! Decisions/s = 1 / time per `inspect`; recipient checks/s = 50 / that time (the
//! `recipient_checks` group reports elements/s directly).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mssante_gateway::policy::config::PolicyConfig;
use mssante_gateway::policy::store::build_trust_space;
use mssante_gateway::policy::{inspect, Decision, Policy, TrustStore, UserContext};
use mssante_gateway::soap::Envelope;
use std::hint::black_box;
use std::time::Duration;

const RECIPIENTS: usize = 50;

fn whitelist() -> (String, Vec<String>) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/listeblanchemssante-2025-03-13.xml"
    );
    if let Ok(mut xml) = std::fs::read_to_string(path) {
        if !xml.trim_end().ends_with("</ListeBlancheMSSante>") {
            // The mirror copy is truncated: close what is still open.
            if !xml.contains("</ListeDomaines>") {
                xml.push_str("</ListeDomaines>");
            }
            xml.push_str("</ListeBlancheMSSante>");
        }
        let names: Vec<String> = xml
            .split("<Nom>")
            .skip(1)
            .filter_map(|s| s.split("</Nom>").next())
            .map(|s| s.trim().to_ascii_lowercase())
            .collect();
        eprintln!("bench: real whitelist {path}");
        return (xml, names);
    }
    eprintln!("bench: reference whitelist absent, generating 5,000 domains");
    let names: Vec<String> = (0..5000)
        .map(|i| format!("etab{i}.region{}.mssante.fr", i % 17))
        .collect();
    let mut xml = String::from(
        r#"<ListeBlancheMSSante xmlns="https://listeblanche.mssante.fr/schema"><ListeDomaines>"#,
    );
    for n in &names {
        xml.push_str(&format!("<Domaine><Nom>{n}</Nom></Domaine>"));
    }
    xml.push_str("</ListeDomaines></ListeBlancheMSSante>");
    (xml, names)
}

fn bench(c: &mut Criterion) {
    let (xml, names) = whitelist();
    let cfg = PolicyConfig {
        sender_domain: Some("ght.mssante.fr".into()),
        ..Default::default()
    };
    let space = build_trust_space(xml.as_bytes(), None, &cfg).expect("whitelist loads");
    eprintln!("bench: {} domains", space.len());
    // Spread recipients over the list, as display-name addresses like the webmail sends.
    let recipients: Vec<String> = (0..RECIPIENTS)
        .map(|i| {
            let d = &names[(i * 97) % names.len()];
            format!("Dr Confrère {i} <prenom.nom{i}@{d}>")
        })
        .collect();
    let mut body = String::from(
        r#"{"Header":{"context":{"_jsns":"urn:zimbra"}},"Body":{"SendMsgRequest":{"_jsns":"urn:zimbraMail","m":{"e":["#,
    );
    body.push_str(r#"{"t":"f","a":"jean.dupont@ght.mssante.fr","p":"Jean Dupont"}"#);
    for r in &recipients {
        body.push_str(&format!(r#",{{"t":"t","a":"{}"}}"#, r.replace('"', "\\\"")));
    }
    body.push_str(r#"],"su":{"_content":"Compte rendu"},"mp":[{"ct":"text/plain","content":{"_content":"texte"}}]}}}}"#);
    let env = Envelope::parse(body.as_bytes()).expect("bench body parses");
    let store = TrustStore::from_space(space, cfg.clone());
    let policy = Policy::new(cfg, store.clone()).unwrap();
    let user = UserContext {
        account: "jean.dupont@hopital.local".into(),
        mssante_address: "jean.dupont@ght.mssante.fr".into(),
        identity_ids: vec!["acc".into()],
        aliases: vec![],
    };
    assert!(
        matches!(inspect(&env, &user, &policy), Decision::Allow),
        "bench request must be allowed"
    );

    let mut g = c.benchmark_group("policy");
    g.measurement_time(Duration::from_secs(4)).sample_size(30);
    g.throughput(Throughput::Elements(1));
    g.bench_function("sendmsg_50_recipients_decision", |b| {
        b.iter(|| black_box(inspect(black_box(&env), &user, &policy)))
    });
    g.finish();

    let space = store.get();
    let mut g = c.benchmark_group("recipient_checks");
    g.measurement_time(Duration::from_secs(4)).sample_size(30);
    g.throughput(Throughput::Elements(RECIPIENTS as u64));
    g.bench_function("50_addresses", |b| {
        b.iter(|| {
            for r in &recipients {
                black_box(space.refused_in(black_box(r)));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
