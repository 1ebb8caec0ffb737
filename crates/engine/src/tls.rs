//! TLS for PostgreSQL connections with libpq's `sslmode` semantics, on rustls (ring provider).
//!
//! tokio-postgres' TLS backends verify like `verify-full` unless told otherwise, and its own
//! `sslmode` stops at `require`; so the verification each mode asks for is chosen here:
//! - `prefer` / `require` / `allow`: encrypted; the certificate is checked only when a root
//!   certificate is at hand (`sslrootcert`, or `~/.postgresql/root.crt`), and then like `verify-ca`;
//! - `verify-ca`: the chain must lead to a root of `sslrootcert`; any host name;
//! - `verify-full`: chain and host name (IP addresses through the certificate's subjectAltName).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::conninfo::{SslMode, TlsSettings};

/// The TLS side of one connection: the connector, and what to name in messages.
pub struct Connector {
    pub make: MakeRustlsConnect,
    /// The root certificates the server's certificate is checked against, as shown to the user
    /// (None when it is not checked).
    pub roots: Option<String>,
}

/// Builds the connector for `settings`; an error says which setting to fix.
pub fn connector(settings: &TlsSettings) -> Result<Connector, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mode = settings.mode;
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let default_file = |name: &str| {
        home.as_ref()
            .map(|h| h.join(".postgresql").join(name))
            .filter(|p| p.is_file())
    };

    let roots: Option<(RootCertStore, String)> = match settings.rootcert.as_deref() {
        Some("system") => {
            if mode != SslMode::VerifyFull && mode != SslMode::Disable {
                return Err(format!(
                    "sslrootcert=system needs sslmode=verify-full, not {} (as in libpq: the system's CAs vouch for host names, so the name must be checked)",
                    mode.name()
                ));
            }
            let found = rustls_native_certs::load_native_certs();
            let mut store = RootCertStore::empty();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(
                    "sslrootcert=system: this machine has no trusted CA certificates (install ca-certificates), or point sslrootcert at the CA file"
                        .into(),
                );
            }
            Some((store, "the system's trusted CAs".into()))
        }
        Some(path) => Some((
            load_roots(Path::new(path))?,
            format!("the CA in sslrootcert={path}"),
        )),
        None => match default_file("root.crt") {
            Some(path) => Some((load_roots(&path)?, format!("the CA in {}", path.display()))),
            None => None,
        },
    };
    if roots.is_none() && matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) {
        return Err(format!(
            "sslmode={} needs the CA certificate that signed the server's certificate: set sslrootcert=/path/to/ca.crt (or PGSSLROOTCERT, or put it at ~/.postgresql/root.crt; sslrootcert=system for the system's CAs), or use sslmode=require to encrypt without verifying",
            mode.name()
        ));
    }

    let verifier: Arc<dyn ServerCertVerifier> = match &roots {
        None => Arc::new(AnyCertificate(provider.clone())),
        Some((store, _)) => {
            let webpki = WebPkiServerVerifier::builder_with_provider(
                Arc::new(store.clone()),
                provider.clone(),
            )
            .build()
            .map_err(|e| format!("cannot use the root certificates: {e}"))?;
            if mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        }
    };

    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let cert = match &settings.cert {
        Some(path) => Some(PathBuf::from(path)),
        None => default_file("postgresql.crt"),
    };
    let config = match cert {
        None => builder.with_no_client_auth(),
        Some(cert) => {
            let key = match &settings.key {
                Some(path) => PathBuf::from(path),
                None => home
                    .as_ref()
                    .map(|h| h.join(".postgresql/postgresql.key"))
                    .unwrap_or_default(),
            };
            let chain = CertificateDer::pem_file_iter(&cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    format!(
                        "sslcert={}: cannot read the client certificate ({e}): point sslcert at the PEM certificate the server should accept",
                        cert.display()
                    )
                })?;
            let private = PrivateKeyDer::from_pem_file(&key).map_err(|e| {
                format!(
                    "sslkey={}: cannot read the client certificate's private key ({e}): point sslkey at the PEM key of sslcert={}",
                    key.display(),
                    cert.display()
                )
            })?;
            builder.with_client_auth_cert(chain, private).map_err(|e| {
                format!(
                    "sslcert={} and sslkey={} do not make a usable client certificate: {e}",
                    cert.display(),
                    key.display()
                )
            })?
        }
    };
    Ok(Connector {
        make: MakeRustlsConnect::new(config),
        roots: roots.map(|(_, shown)| shown),
    })
}

fn load_roots(path: &Path) -> Result<RootCertStore, String> {
    let fail = |why: String| {
        format!(
            "sslrootcert={}: {why}: point sslrootcert at the PEM file of the CA that signed the server's certificate",
            path.display()
        )
    };
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| match e {
            rustls::pki_types::pem::Error::Io(io) => fail(format!("cannot read it ({io})")),
            other => fail(format!("not a PEM certificate file ({other})")),
        })?;
    let mut store = RootCertStore::empty();
    let (added, _) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(fail("it holds no usable certificate".into()));
    }
    Ok(store)
}

/// What to do about a failed TLS connection, when the failure is about TLS.
pub fn hint(
    e: &tokio_postgres::Error,
    settings: &TlsSettings,
    roots: Option<&str>,
) -> Option<String> {
    if let Some(tls) = rustls_error(e) {
        let roots = roots.unwrap_or("the root certificates");
        return Some(match tls {
            rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer | CertificateError::BadSignature,
            ) => format!(
                "the server's certificate is not signed by {roots}: point sslrootcert at the CA that signed it, or use sslmode=require to skip verification."
            ),
            rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                expected,
                presented,
            }) => format!(
                "the certificate is for {}, not for host {}: connect by the name in the certificate or use sslmode=verify-ca.",
                if presented.is_empty() {
                    "no host name".to_string()
                } else {
                    presented.iter().map(|n| plain_name(n)).collect::<Vec<_>>().join(", ")
                },
                expected.to_str()
            ),
            rustls::Error::InvalidCertificate(CertificateError::NotValidForName) => {
                "the certificate is not for the host connected to: connect by the name in the certificate or use sslmode=verify-ca.".to_string()
            }
            rustls::Error::InvalidCertificate(
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. },
            ) => "the server's certificate has expired or is not valid yet: renew it on the server (or check this machine's clock).".to_string(),
            other => format!(
                "the TLS handshake failed ({other}): check the server's ssl settings and sslmode ({}), sslrootcert, sslcert and sslkey.",
                settings.mode.name()
            ),
        });
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        text.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    if text.contains("server does not support TLS") {
        return Some(format!(
            "the server does not offer TLS (ssl = off in its postgresql.conf) but sslmode={} requires it: turn ssl on in the server, or use sslmode=prefer.",
            settings.mode.name()
        ));
    }
    if refuses_plain(e) {
        return Some(
            "the server refuses unencrypted connections (pg_hba.conf hostssl): use sslmode=require or verify-full."
                .into(),
        );
    }
    let db = e.as_db_error()?;
    if db.message().contains("SSL encryption") && db.message().contains("pg_hba.conf") {
        return Some(
            "the server accepts this client only unencrypted (pg_hba.conf hostnossl): use sslmode=disable, or ask for a hostssl line."
                .into(),
        );
    }
    if db.message().contains("client certificate") {
        return Some(
            "the server wants a client certificate: set sslcert and sslkey (or PGSSLCERT and PGSSLKEY) to a certificate signed by the CA the server trusts."
                .into(),
        );
    }
    None
}

/// `localhost` for webpki's `DnsName("localhost")`, `127.0.0.1` for `IpAddress(127.0.0.1)`:
/// the names a certificate presents, as a person writes them.
fn plain_name(name: &str) -> String {
    let wrapped = name.starts_with("DnsName(") || name.starts_with("IpAddress(");
    match (name.find('('), name.rfind(')')) {
        (Some(open), Some(close)) if wrapped && open < close => {
            name[open + 1..close].trim_matches('"').to_string()
        }
        _ => name.to_string(),
    }
}

/// Whether the server turned the client away for not using TLS (a `hostssl`-only pg_hba.conf).
pub fn refuses_plain(e: &tokio_postgres::Error) -> bool {
    e.as_db_error()
        .is_some_and(|db| db.message().contains("no encryption"))
}

/// The rustls error inside a connection error, if the failure was the TLS handshake.
pub fn rustls_error(e: &tokio_postgres::Error) -> Option<&rustls::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(inner) = source {
        if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(tls) = inner
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|i| i.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        source = inner.source();
    }
    None
}

/// `prefer` / `require` without a root certificate: encrypted, any certificate (libpq does the
/// same). The handshake signatures are still checked, so the peer holds the certificate's key.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the full check, except that the certificate may name any host.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain first and the name last: a name error means the chain passed.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
