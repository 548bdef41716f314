/* reasons.c: why OpenSSL failed, in words a person can read instead of its error queue. */
#include "tls/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

/* The handshake and record errors a client can cause, by OpenSSL's reason
 * code. What is not here is named by OpenSSL's own short text. */
static const struct {
    int reason;
    const char *words;
} known[] = {
    {SSL_R_HTTP_REQUEST, "plaintext HTTP on a TLS port"},
    {SSL_R_HTTPS_PROXY_REQUEST, "an HTTP proxy request (CONNECT) on a TLS port"},
    {SSL_R_WRONG_VERSION_NUMBER, "not a TLS client (plaintext on a TLS port?)"},
    {SSL_R_UNSUPPORTED_PROTOCOL, "no shared protocol version (the server takes TLS 1.2 and 1.3)"},
    {SSL_R_UNSUPPORTED_SSL_VERSION, "no shared protocol version (the server takes TLS 1.2 and 1.3)"},
    {SSL_R_VERSION_TOO_LOW, "no shared protocol version (the server takes TLS 1.2 and 1.3)"},
    {SSL_R_NO_PROTOCOLS_AVAILABLE, "no shared protocol version (the server takes TLS 1.2 and 1.3)"},
    {SSL_R_TLSV1_ALERT_PROTOCOL_VERSION, "no shared protocol version (the client refused the server's)"},
    {SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE, "client sent no certificate"},
    {SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED, "client sent no certificate"},
    {SSL_R_NO_SHARED_CIPHER, "no shared cipher suite"},
    {SSL_R_NO_APPLICATION_PROTOCOL, "no shared ALPN protocol"},
    {SSL_R_UNEXPECTED_EOF_WHILE_READING, "client closed the connection without close_notify"},
    {SSL_R_TLSV1_ALERT_UNKNOWN_CA, "the client does not trust the server's certificate (unknown CA)"},
    {SSL_R_SSLV3_ALERT_BAD_CERTIFICATE, "the client refused the server's certificate"},
    {SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN, "the client refused the server's certificate"},
    {SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED, "the client says the server's certificate has expired"},
    {SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE, "the client aborted the handshake"},
    {SSL_R_TLSV1_ALERT_DECRYPT_ERROR, "the client failed to decrypt"},
    {SSL_R_PACKET_LENGTH_TOO_LONG, "malformed TLS record (too long)"},
    {SSL_R_RECORD_LENGTH_MISMATCH, "malformed TLS record"},
    {SSL_R_BAD_PACKET_LENGTH, "malformed TLS message"},
    {SSL_R_LENGTH_MISMATCH, "malformed TLS message"},
    {SSL_R_BAD_RECORD_TYPE, "malformed TLS record"},
    {SSL_R_UNEXPECTED_MESSAGE, "unexpected TLS message"},
    {SSL_R_UNEXPECTED_RECORD, "unexpected TLS record"},
    {SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC, "a TLS record failed to decrypt (corrupted or forged)"},
    {SSL_R_TLSV1_ALERT_DECODE_ERROR, "the client could not decode the server's message"},
};

const char *ss__tls_reason(const SSL *ssl, const char *fallback, char *buf, size_t size)
{
    unsigned long e = ERR_peek_error();
    ERR_clear_error();
    if (e == 0) {
        snprintf(buf, size, "%s", fallback);
        return buf;
    }
    int lib = ERR_GET_LIB(e), reason = ERR_GET_REASON(e);
    if (lib == ERR_LIB_SSL && reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        /* The client's certificate: what X.509 verification said of it. */
        long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
        if (v == X509_V_OK)
            snprintf(buf, size, "client certificate not trusted");
        else
            snprintf(buf, size, "client certificate not trusted: %s", X509_verify_cert_error_string(v));
        return buf;
    }
    if (!ssl && lib != ERR_LIB_SSL) {
        /* A file's: OpenSSL's words ("no start line", "unsupported") say
         * less than the caller's (what the file lacks). */
        bool damaged = lib == ERR_LIB_PEM && (reason == PEM_R_BAD_BASE64_DECODE || reason == PEM_R_BAD_END_LINE);
        snprintf(buf, size, "%s", damaged ? "damaged PEM (bad base64 or end line)" : fallback);
        return buf;
    }
    if (lib == ERR_LIB_SSL)
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            if (known[i].reason == reason) {
                snprintf(buf, size, "%s", known[i].words);
                return buf;
            }
    const char *text = ERR_reason_error_string(e);
    snprintf(buf, size, "%s", text ? text : fallback);
    return buf;
}
