//! Certificates as the tenant file and app registrations give them: PEM text or one base64 DER
//! certificate (the portal's form), read with rustls' pki-types, and written back as PEM.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The DER certificates in PEM text, or the DER of one base64 certificate (the portal's form).
pub fn certificates_from_text(text: &str) -> Result<Vec<Vec<u8>>, String> {
    if text.contains("-----BEGIN") {
        let certificates: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(text.as_bytes())
            .map(|c| c.map(|c| c.as_ref().to_vec()))
            .collect();
        return certificates
            .ok()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| "a certificate is not valid PEM".to_owned());
    }
    super::wire::base64_decode(text)
        .map(|der| vec![der])
        .ok_or_else(|| "a certificate is neither PEM nor base64 DER".to_owned())
}

/// One DER certificate as PEM.
pub fn pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(64)
        .filter_map(|l| std::str::from_utf8(l).ok())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}
