//! TLS configurations for SIP listeners (TLS, WSS) and outbound connections, with rustls
//! (`ring` provider) and the PEM files of `<ssl>`. Each runtime wraps them in its own stream
//! types (`tokio_rustls::TlsAcceptor::from(server)`, `futures_rustls::TlsAcceptor::from(server)`,
//! and the connectors likewise).
//!
//! Server side: the certificate chain and key come from `keyStore` (one PEM with chain and key)
//! or `certificate` + `privateKey`; protocol versions from `tlsClientProtocols`; cipher suites
//! from `enabledCipherSuites`; client certificates per `TLS_CLIENT_AUTH_TYPE`, verified against
//! `trustStore`. Client side (toward nodes and clients): the server certificate is verified
//! against `trustStore` (not at all with `DisabledAll`), and the balancer's own certificate is
//! offered for mutual TLS. Without a trust store, a second client configuration accepts any
//! server certificate: the HTTP balancer re-encrypts HTTPS toward nodes with it, as the
//! reference did (the core asks for it per connection).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, DnsName, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use switchboard_core::config::{Config, SslConfig, TlsClientAuth};

/// A TLS setup that cannot be built. Startup fails with this message.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file cannot be read or parsed.
    #[error("ssl/{element} {}: cannot read {what}: {source}", path.display())]
    Pem {
        /// The `<ssl>` element naming the file.
        element: &'static str,
        /// The file.
        path: PathBuf,
        /// "certificates" or "private key".
        what: &'static str,
        /// The parser's error.
        source: rustls::pki_types::pem::Error,
    },
    /// A PEM file holds none of what it should.
    #[error("ssl/{element} {}: no {what} in the file", path.display())]
    Empty {
        /// The `<ssl>` element naming the file.
        element: &'static str,
        /// The file.
        path: PathBuf,
        /// What is missing.
        what: &'static str,
    },
    /// A TLS listener is configured without a certificate and key.
    #[error("a TLS listener needs ssl/keyStore or ssl/certificate and ssl/privateKey")]
    NoKeyMaterial,
    /// Client certificates are required but nothing to verify them against.
    #[error("sipStack TLS_CLIENT_AUTH_TYPE=Enabled requires client certificates: set ssl/trustStore (PEM CA certificates), or set TLS_CLIENT_AUTH_TYPE to Want, Disabled or DisabledAll")]
    NoTrustStore,
    /// The trust store's certificates cannot verify client certificates.
    #[error("ssl/trustStore {}: {reason}", path.display())]
    Roots {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the configuration (e.g. the key does not match the certificate).
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The TLS configurations of the balancer's SIP transports, built once at startup.
#[derive(Clone, Default)]
pub struct Tls {
    /// For TLS and WSS listeners (`None` when none is configured).
    pub server: Option<Arc<ServerConfig>>,
    /// For outbound TLS and WSS connections (`None` without a trust store, unless
    /// `DisabledAll`).
    pub client: Option<Arc<ClientConfig>>,
    /// For outbound connections that may go unverified without a trust store (HTTPS
    /// re-encryption toward nodes): accepts any server certificate. `None` with a trust
    /// store, where every server is verified.
    pub unverified: Option<Arc<ClientConfig>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("server", &self.server.is_some())
            .field("client", &self.client.is_some())
            .field("unverified", &self.unverified.is_some())
            .finish()
    }
}

impl Tls {
    /// Builds the server and client configurations from `<ssl>` and `TLS_CLIENT_AUTH_TYPE`.
    pub fn load(ssl: &SslConfig, auth: TlsClientAuth) -> Result<Tls, TlsError> {
        let provider = Arc::new(provider(ssl));
        let versions = versions(&ssl.tls_client_protocols);
        let (chain, key) = key_material(ssl)?;
        let roots = match &ssl.trust_store {
            Some(path) => Some(Arc::new(roots(path)?)),
            None => None,
        };

        let verifier = match (auth, &roots) {
            (TlsClientAuth::Disabled | TlsClientAuth::DisabledAll, _) => {
                WebPkiClientVerifier::no_client_auth()
            }
            (TlsClientAuth::Enabled, None) => return Err(TlsError::NoTrustStore),
            (TlsClientAuth::Want, None) => {
                tracing::warn!("TLS_CLIENT_AUTH_TYPE=Want without ssl/trustStore: client certificates are not requested");
                WebPkiClientVerifier::no_client_auth()
            }
            (TlsClientAuth::Enabled | TlsClientAuth::Want, Some(roots)) => {
                let builder =
                    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone());
                let builder = if auth == TlsClientAuth::Want {
                    builder.allow_unauthenticated()
                } else {
                    builder
                };
                builder.build().map_err(|e| TlsError::Roots {
                    path: ssl.trust_store.clone().unwrap_or_default(),
                    reason: e.to_string(),
                })?
            }
        };
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())?;

        let builder = || {
            ClientConfig::builder_with_provider(provider.clone()).with_protocol_versions(&versions)
        };
        let any_certificate = || {
            let verifier = NoVerification(provider.signature_verification_algorithms);
            Ok::<_, rustls::Error>(
                builder()?
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier)),
            )
        };
        let client = match (auth, &roots) {
            (TlsClientAuth::DisabledAll, _) => {
                tracing::warn!("TLS_CLIENT_AUTH_TYPE=DisabledAll: certificates of TLS peers the balancer connects to are not verified");
                Some(any_certificate()?)
            }
            (_, Some(roots)) => Some(builder()?.with_root_certificates(roots.clone())),
            (_, None) => {
                tracing::warn!("no ssl/trustStore: the balancer opens no outbound SIP TLS or WSS connection (toward nodes or clients)");
                None
            }
        };
        let client = match client {
            Some(client) => Some(Arc::new(
                client.with_client_auth_cert(chain.clone(), key.clone_key())?,
            )),
            None => None,
        };
        let unverified = match roots {
            Some(_) => None,
            None => Some(Arc::new(
                any_certificate()?.with_client_auth_cert(chain, key)?,
            )),
        };
        Ok(Tls {
            server: Some(Arc::new(server)),
            client,
            unverified,
        })
    }
}

/// True when HTTPS requests are re-encrypted toward nodes (an `http/httpsPort` without
/// `ssl/terminateTLSTraffic`) with no `ssl/trustStore` to verify the nodes against: the
/// engine warns about it once at start.
pub fn https_unverified(config: &Config) -> bool {
    config.http.https_port.is_some()
        && !config.ssl.terminate_tls_traffic
        && config.ssl.trust_store.is_none()
}

/// The name an outbound connection verifies the peer's certificate against: its IP address.
pub fn server_name(to: SocketAddr) -> ServerName<'static> {
    ServerName::from(to.ip())
}

/// The name to verify a peer known by `host` against: a DNS name if `host` is one, else its
/// IP address (brackets around an IPv6 literal allowed); `None` if it is neither.
pub fn server_name_for(host: &str) -> Option<ServerName<'static>> {
    if let Ok(name) = DnsName::try_from(host.to_owned()) {
        return Some(ServerName::DnsName(name));
    }
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    literal.parse::<IpAddr>().ok().map(ServerName::from)
}

/// The `ring` provider, restricted to `enabledCipherSuites` when any of them is known.
fn provider(ssl: &SslConfig) -> CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    if ssl.enabled_cipher_suites.is_empty() {
        return provider;
    }
    let wanted: Vec<String> = ssl
        .enabled_cipher_suites
        .iter()
        .map(|s| s.trim().to_ascii_uppercase())
        .collect();
    let name_of = |s: &rustls::SupportedCipherSuite| {
        // rustls spells TLS 1.3 suites `TLS13_…`; JSSE and IANA spell them `TLS_…`.
        format!("{:?}", s.suite()).replacen("TLS13_", "TLS_", 1)
    };
    let kept: Vec<_> = provider
        .cipher_suites
        .iter()
        .copied()
        .filter(|s| wanted.contains(&name_of(s)))
        .collect();
    for name in &wanted {
        if !provider.cipher_suites.iter().any(|s| &name_of(s) == name) {
            tracing::warn!(suite = %name, "enabledCipherSuites: suite not supported, ignored");
        }
    }
    if kept.is_empty() {
        tracing::warn!("enabledCipherSuites: no supported suite listed, using the defaults");
    } else {
        provider.cipher_suites = kept;
    }
    provider
}

/// The protocol versions of `tlsClientProtocols` that rustls supports (both when none is).
fn versions(names: &[String]) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let mut versions = Vec::new();
    for name in names {
        match name.trim() {
            "TLSv1.2" => versions.push(&rustls::version::TLS12),
            "TLSv1.3" => versions.push(&rustls::version::TLS13),
            other => {
                tracing::warn!(protocol = %other, "tlsClientProtocols: protocol not supported (only TLSv1.2 and TLSv1.3), ignored");
            }
        }
    }
    if versions.is_empty() {
        if !names.is_empty() {
            tracing::warn!(
                "tlsClientProtocols lists no supported protocol: TLSv1.2 and TLSv1.3 are used"
            );
        }
        versions = vec![&rustls::version::TLS13, &rustls::version::TLS12];
    }
    versions
}

fn certificates(
    element: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Pem {
            element,
            path: path.to_owned(),
            what: "certificates",
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::Empty {
            element,
            path: path.to_owned(),
            what: "certificate",
        });
    }
    Ok(chain)
}

fn private_key(element: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|source| match source {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::Empty {
            element,
            path: path.to_owned(),
            what: "private key",
        },
        source => TlsError::Pem {
            element,
            path: path.to_owned(),
            what: "private key",
            source,
        },
    })
}

type KeyMaterial = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn key_material(ssl: &SslConfig) -> Result<KeyMaterial, TlsError> {
    if let (Some(cert), Some(key)) = (&ssl.certificate, &ssl.private_key) {
        return Ok((
            certificates("certificate", cert)?,
            private_key("privateKey", key)?,
        ));
    }
    match &ssl.key_store {
        Some(path) => Ok((
            certificates("keyStore", path)?,
            private_key("keyStore", path)?,
        )),
        None => Err(TlsError::NoKeyMaterial),
    }
}

fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in certificates("trustStore", path)? {
        store.add(cert).map_err(|e| TlsError::Roots {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    }
    Ok(store)
}

/// `DisabledAll`, or HTTPS re-encryption without a trust store: accepts any certificate
/// from a peer the balancer connects to, but still checks the handshake signatures made
/// with it.
#[derive(Debug)]
struct NoVerification(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerification {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::{ClientConnection, ServerConnection};

    #[test]
    fn protocol_names_map_to_rustls_versions() {
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            versions(&names(&["TLSv1.2"])),
            vec![&rustls::version::TLS12]
        );
        assert_eq!(
            versions(&names(&["TLSv1", "TLSv1.1", "TLSv1.3"])),
            vec![&rustls::version::TLS13]
        );
        assert_eq!(versions(&names(&["SSLv3"])).len(), 2);
        assert_eq!(versions(&[]).len(), 2);
    }

    #[test]
    fn cipher_suites_accept_jsse_names() {
        let ssl = SslConfig {
            enabled_cipher_suites: vec![
                "TLS_AES_128_GCM_SHA256".to_owned(),
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_owned(),
                "TLS_RSA_WITH_NULL_MD5".to_owned(),
            ],
            ..SslConfig::default()
        };
        assert_eq!(provider(&ssl).cipher_suites.len(), 2);
    }

    #[test]
    fn missing_files_name_the_element_and_path() {
        let ssl = SslConfig {
            key_store: Some(PathBuf::from("/nonexistent/lb.pem")),
            ..SslConfig::default()
        };
        let error = Tls::load(&ssl, TlsClientAuth::Disabled)
            .expect_err("no such file")
            .to_string();
        assert!(
            error.contains("ssl/keyStore /nonexistent/lb.pem"),
            "{error}"
        );
    }

    #[test]
    fn server_names() {
        let dns = |s: &str| {
            Some(ServerName::DnsName(
                DnsName::try_from(s.to_owned()).unwrap(),
            ))
        };
        assert_eq!(server_name_for("localhost"), dns("localhost"));
        assert_eq!(
            server_name_for("node-1.example.com"),
            dns("node-1.example.com")
        );
        let ip = |s: &str| Some(ServerName::from(s.parse::<IpAddr>().unwrap()));
        assert_eq!(server_name_for("127.0.0.1"), ip("127.0.0.1"));
        assert_eq!(server_name_for("::1"), ip("::1"));
        assert_eq!(server_name_for("[::1]"), ip("::1"));
        assert_eq!(server_name_for("not a host"), None);
        assert_eq!(
            server_name("192.0.2.1:5061".parse().unwrap()),
            ServerName::from("192.0.2.1".parse::<IpAddr>().unwrap())
        );
    }

    /// A self-signed certificate for `localhost` and 127.0.0.1, written as one PEM file with
    /// the key (a `keyStore`) and as a certificate alone (a `trustStore`).
    struct Files {
        dir: PathBuf,
        key_store: PathBuf,
        trust_store: PathBuf,
    }

    impl Files {
        fn new(test: &str) -> Files {
            let dir = std::env::temp_dir().join(format!(
                "switchboard-adapter-tls-{test}-{}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
            let certified = rcgen::generate_simple_self_signed(names).expect("certificate");
            let cert = certified.cert.pem();
            let key = certified.signing_key.serialize_pem();
            let key_store = dir.join("lb.pem");
            let trust_store = dir.join("ca.pem");
            std::fs::write(&key_store, format!("{cert}{key}")).unwrap();
            std::fs::write(&trust_store, cert).unwrap();
            Files {
                dir,
                key_store,
                trust_store,
            }
        }

        fn ssl(&self, trust: bool) -> SslConfig {
            SslConfig {
                key_store: Some(self.key_store.clone()),
                trust_store: trust.then(|| self.trust_store.clone()),
                ..SslConfig::default()
            }
        }
    }

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// Runs a handshake between the two configurations in memory.
    fn handshake(
        client: Arc<ClientConfig>,
        server: Arc<ServerConfig>,
        name: ServerName<'static>,
    ) -> Result<(), rustls::Error> {
        let mut client = ClientConnection::new(client, name)?;
        let mut server = ServerConnection::new(server)?;
        for _ in 0..10 {
            let mut bytes = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut bytes).unwrap();
            }
            server.read_tls(&mut bytes.as_slice()).unwrap();
            server.process_new_packets()?;
            bytes.clear();
            while server.wants_write() {
                server.write_tls(&mut bytes).unwrap();
            }
            client.read_tls(&mut bytes.as_slice()).unwrap();
            client.process_new_packets()?;
            if !client.is_handshaking() && !server.is_handshaking() {
                return Ok(());
            }
        }
        panic!("the handshake does not finish");
    }

    #[test]
    fn mutual_tls_with_the_trust_store() {
        let files = Files::new("mutual");
        let tls = Tls::load(&files.ssl(true), TlsClientAuth::Enabled).expect("loads");
        let (client, server) = (tls.client.unwrap(), tls.server.unwrap());
        handshake(
            client.clone(),
            server.clone(),
            server_name_for("localhost").unwrap(),
        )
        .expect("by DNS name");
        handshake(
            client.clone(),
            server.clone(),
            server_name("127.0.0.1:5061".parse().unwrap()),
        )
        .expect("by IP address");
        let wrong = server_name_for("example.com").unwrap();
        assert!(
            handshake(client, server, wrong).is_err(),
            "a name the certificate lacks"
        );
        assert!(
            tls.unverified.is_none(),
            "with a trust store, always verified"
        );
    }

    #[test]
    fn unverified_https_re_encryption_is_warned_about() {
        let mut config = Config::embedded_default();
        assert!(!https_unverified(&config), "no HTTPS port");
        config.http.https_port = Some(8443);
        assert!(https_unverified(&config));
        config.ssl.terminate_tls_traffic = true;
        assert!(!https_unverified(&config), "plain HTTP toward the nodes");
        config.ssl.terminate_tls_traffic = false;
        config.ssl.trust_store = Some(PathBuf::from("ca.pem"));
        assert!(!https_unverified(&config), "nodes verified");
    }

    #[test]
    fn without_a_trust_store() {
        let files = Files::new("untrusted");
        let tls = Tls::load(&files.ssl(false), TlsClientAuth::Disabled).expect("loads");
        assert!(tls.server.is_some());
        assert!(tls.client.is_none(), "nothing to verify peers against");
        // HTTPS re-encryption connects to anyone, offering the balancer's certificate.
        let (unverified, server) = (tls.unverified.unwrap(), tls.server.unwrap());
        let anyone = server_name_for("example.com").unwrap();
        handshake(unverified, server, anyone).expect("certificate not verified");
        let error = Tls::load(&files.ssl(false), TlsClientAuth::Enabled).expect_err("no roots");
        assert!(matches!(error, TlsError::NoTrustStore), "{error}");
        // DisabledAll connects to anyone.
        let tls = Tls::load(&files.ssl(false), TlsClientAuth::DisabledAll).expect("loads");
        let (client, server) = (tls.client.unwrap(), tls.server.unwrap());
        let anyone = server_name_for("example.com").unwrap();
        handshake(client, server, anyone).expect("certificate not verified");
    }

    #[test]
    fn no_key_material() {
        let error = Tls::load(&SslConfig::default(), TlsClientAuth::Disabled).expect_err("none");
        assert!(matches!(error, TlsError::NoKeyMaterial), "{error}");
    }
}
