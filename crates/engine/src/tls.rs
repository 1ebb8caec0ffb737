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
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let roots = roots(settings, home.as_deref())?;
    let verifier = verifier(settings.mode, roots.as_ref(), &provider)?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match client_certificate(settings, home.as_deref())? {
        None => builder.with_no_client_auth(),
        Some(c) => builder
            .with_client_auth_cert(c.chain, c.private)
            .map_err(|e| {
                format!(
                    "sslcert={} and sslkey={} do not make a usable client certificate: {e}",
                    c.cert.display(),
                    c.key.display()
                )
            })?,
    };
    Ok(Connector {
        make: MakeRustlsConnect::new(config),
        roots: roots.map(|(_, shown)| shown),
    })
}

/// `~/.postgresql/NAME`, where libpq looks when a setting is not given, if it is there.
fn default_file(home: Option<&Path>, name: &str) -> Option<PathBuf> {
    home.map(|h| h.join(".postgresql").join(name))
        .filter(|p| p.is_file())
}

/// The root certificates the server's certificate is checked against (`sslrootcert`, the
/// system's with `system`, or `~/.postgresql/root.crt`), with how to name them; None when
/// there are none, which only the modes that do not verify accept.
fn roots(
    settings: &TlsSettings,
    home: Option<&Path>,
) -> Result<Option<(RootCertStore, String)>, String> {
    let mode = settings.mode;
    let roots = match settings.rootcert.as_deref() {
        Some("system") => Some((system_roots(mode)?, "the system's trusted CAs".into())),
        Some(path) => Some((
            load_roots(Path::new(path))?,
            format!("the CA in sslrootcert={path}"),
        )),
        None => match default_file(home, "root.crt") {
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
    Ok(roots)
}

/// `sslrootcert=system`: the machine's trusted CAs, for `verify-full` only.
fn system_roots(mode: SslMode) -> Result<RootCertStore, String> {
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
    Ok(store)
}

/// What checks the server's certificate: nothing without roots; the chain with them; the
/// chain and the host name for `verify-full`.
fn verifier(
    mode: SslMode,
    roots: Option<&(RootCertStore, String)>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, String> {
    let Some((store, _)) = roots else {
        return Ok(Arc::new(AnyCertificate(provider.clone())));
    };
    let webpki =
        WebPkiServerVerifier::builder_with_provider(Arc::new(store.clone()), provider.clone())
            .build()
            .map_err(|e| format!("cannot use the root certificates: {e}"))?;
    Ok(if mode == SslMode::VerifyFull {
        webpki
    } else {
        Arc::new(ChainOnly(webpki))
    })
}

/// A client certificate, read: its file, its key's file, the chain and the key.
struct ClientCertificate {
    cert: PathBuf,
    key: PathBuf,
    chain: Vec<CertificateDer<'static>>,
    private: PrivateKeyDer<'static>,
}

/// The client certificate (`sslcert`, or `~/.postgresql/postgresql.crt`) and its key
/// (`sslkey`, or `~/.postgresql/postgresql.key`); None when there is no certificate.
fn client_certificate(
    settings: &TlsSettings,
    home: Option<&Path>,
) -> Result<Option<ClientCertificate>, String> {
    let cert = match &settings.cert {
        Some(path) => PathBuf::from(path),
        None => match default_file(home, "postgresql.crt") {
            Some(path) => path,
            None => return Ok(None),
        },
    };
    let key = match &settings.key {
        Some(path) => PathBuf::from(path),
        None => home
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
    Ok(Some(ClientCertificate {
        cert,
        key,
        chain,
        private,
    }))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(mode: SslMode) -> TlsSettings {
        TlsSettings {
            mode,
            rootcert: None,
            cert: None,
            key: None,
        }
    }

    #[test]
    fn verifying_modes_need_a_root_certificate() {
        let err = roots(&settings(SslMode::VerifyCa), None).unwrap_err();
        assert!(
            err.starts_with(
                "sslmode=verify-ca needs the CA certificate that signed the server's certificate"
            ),
            "{err}"
        );
        assert!(roots(&settings(SslMode::Require), None).unwrap().is_none());
        let missing = TlsSettings {
            rootcert: Some("/nonexistent/ca.pem".into()),
            ..settings(SslMode::Require)
        };
        let err = roots(&missing, None).err().unwrap();
        assert!(
            err.starts_with("sslrootcert=/nonexistent/ca.pem: cannot read it"),
            "{err}"
        );
    }

    #[test]
    fn the_systems_roots_are_for_verify_full_only() {
        let err = system_roots(SslMode::Require).err().unwrap();
        assert!(
            err.starts_with("sslrootcert=system needs sslmode=verify-full, not require"),
            "{err}"
        );
    }

    #[test]
    fn a_client_certificate_is_optional_but_must_be_readable_when_named() {
        assert!(client_certificate(&settings(SslMode::Require), None)
            .unwrap()
            .is_none());
        let named = TlsSettings {
            cert: Some("/nonexistent/client.crt".into()),
            ..settings(SslMode::Require)
        };
        let err = client_certificate(&named, None).err().unwrap();
        assert!(
            err.starts_with("sslcert=/nonexistent/client.crt: cannot read the client certificate"),
            "{err}"
        );
    }
}
