//! Certificates and keys from PEM.

use std::sync::Arc;

use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::TlsError;

/// Reads a whole file.
pub(crate) fn read(path: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Every certificate in PEM `data` (a chain: leaf first), labelled `what` in errors.
///
/// # Errors
///
/// [`TlsError::NoCertificate`] when there is none (or the data is not PEM).
pub fn certificates(data: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(data)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::NoCertificate(what.to_owned()))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(what.to_owned()));
    }
    Ok(certs)
}

/// The first private key in PEM `data`.
///
/// # Errors
///
/// [`TlsError::NoPrivateKey`].
pub fn private_key(data: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(data).map_err(|_| TlsError::NoPrivateKey(what.to_owned()))
}

/// A certificate chain and its key, checked to belong together, ready to serve.
///
/// # Errors
///
/// [`TlsError::NoCertificate`], [`TlsError::NoPrivateKey`], or [`TlsError::BadKey`] when the
/// key is unusable or is not the certificate's.
///
/// # Examples
///
/// ```
/// let cert = rcgen::generate_simple_self_signed(vec!["a.example".to_owned()]).unwrap();
/// let key = lb_tls::certified_key(
///     cert.cert.pem().as_bytes(),
///     cert.signing_key.serialize_pem().as_bytes(),
///     "a.example",
/// )?;
/// assert_eq!(key.cert.len(), 1);
/// # Ok::<(), lb_tls::TlsError>(())
/// ```
pub fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    name: &str,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = certificates(cert_pem, name)?;
    let key = private_key(key_pem, name)?;
    let provider = rustls::crypto::ring::default_provider();
    let certified =
        CertifiedKey::from_der(chain, key, &provider).map_err(|e| TlsError::BadKey {
            name: name.to_owned(),
            reason: e.to_string(),
        })?;
    Ok(Arc::new(certified))
}

/// As [`certified_key`], from files.
///
/// # Errors
///
/// As [`certified_key`], and [`TlsError::Read`].
pub fn certified_key_from_files(cert: &str, key: &str) -> Result<Arc<CertifiedKey>, TlsError> {
    certified_key(&read(cert)?, &read(key)?, cert)
}
