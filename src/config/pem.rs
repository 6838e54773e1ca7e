//! PEM CA bundles (`*.ca_file` keys): one reader, so that every component refuses the
//! same files. A file with no certificate in it (a DER file, a key, an empty file)
//! would otherwise become an empty trust store that fails every handshake later,
//! with a message that names no file.

use rustls::pki_types::CertificateDer;
use std::path::Path;

/// Reads `path` as a PEM bundle of CA certificates, each usable as a trust anchor.
pub fn read_ca_bundle(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: bad PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no PEM certificate in it (a -----BEGIN CERTIFICATE----- block is expected; \
             convert a DER file with `openssl x509 -inform der -in FILE -out FILE.pem`)",
            path.display()
        ));
    }
    let mut roots = rustls::RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        roots.add(cert.clone()).map_err(|e| {
            format!(
                "{}: certificate {} is not a usable CA certificate: {e}",
                path.display(),
                i + 1
            )
        })?;
    }
    Ok(certs)
}

/// A rustls root store holding only the bundle's certificates.
pub fn root_store(path: &Path) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_ca_bundle(path)? {
        roots.add(cert).map_err(|e| e.to_string())?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_files_without_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        for bad in [
            &b""[..],
            b"not pem at all",
            b"\x30\x82\x01\x0a\x02\x82",
            b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
        ] {
            std::fs::write(&p, bad).unwrap();
            let e = read_ca_bundle(&p).unwrap_err();
            assert!(e.contains("no PEM certificate"), "{e}");
        }
        let e = read_ca_bundle(&dir.path().join("none.pem")).unwrap_err();
        assert!(e.contains("cannot read"), "{e}");
    }

    #[test]
    fn reads_a_bundle() {
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".into()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        std::fs::write(&p, format!("{}{}", ca.cert.pem(), ca.cert.pem())).unwrap();
        assert_eq!(read_ca_bundle(&p).unwrap().len(), 2);
        assert!(!root_store(&p).unwrap().is_empty());
    }
}
