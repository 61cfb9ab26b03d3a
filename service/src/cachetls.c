/* cachetls.c -- the OpenSSL side of rediss://: a client context from the
 * REDIS_TLS_* settings, an SSL per connection bound to REDIS_URL's host,
 * and the reading of a failed handshake. hiredis's SSL module does the
 * I/O (SSL_connect, SSL_read, SSL_write on its non-blocking socket); it
 * reads without read-ahead, so a reply never waits inside OpenSSL while
 * poll() sees nothing. */
#define LOGMOD "cachetls"
#include "cachetls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

/* The reason of this thread's last OpenSSL error, or "unknown". */
static const char *last_reason(void)
{
    const char *s = ERR_reason_error_string(ERR_peek_last_error());

    return s != NULL ? s : "unknown";
}

static bool load_files(SSL_CTX *ctx, const struct conf_redis *cf, char *err,
                       size_t err_size)
{
    if (cf->tls_ca_file != NULL &&
        SSL_CTX_load_verify_locations(ctx, cf->tls_ca_file, NULL) != 1) {
        snprintf(err, err_size, "REDIS_TLS_CA_FILE %s: %s", cf->tls_ca_file,
                 last_reason());
        return false;
    }
    if (cf->tls_ca_file == NULL && SSL_CTX_set_default_verify_paths(ctx) != 1) {
        snprintf(err, err_size, "the system's trust store: %s", last_reason());
        return false;
    }
    if (cf->tls_cert_file == NULL) {
        return true;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cf->tls_cert_file) != 1) {
        snprintf(err, err_size, "REDIS_TLS_CERT_FILE %s: %s", cf->tls_cert_file,
                 last_reason());
        return false;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cf->tls_key_file, SSL_FILETYPE_PEM) !=
            1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, err_size,
                 "REDIS_TLS_KEY_FILE %s: %s (the key of "
                 "REDIS_TLS_CERT_FILE, PEM, no passphrase)",
                 cf->tls_key_file, last_reason());
        return false;
    }
    return true;
}

SSL_CTX *cachetls_ctx_create(const struct conf_redis *cf, char *err,
                             size_t err_size)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    ERR_clear_error();
    if (ctx == NULL) {
        snprintf(err, err_size, "SSL_CTX_new: %s", last_reason());
        goto err;
    }
    /* managed Redis speaks TLS 1.2 or 1.3; nothing older is safe */
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (!load_files(ctx, cf, err, err_size)) {
        goto err;
    }
    ERR_clear_error();
    return ctx;
err:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

/* SNI: the macro casts its name to void *, so it gets a copy of ours */
static bool set_sni(SSL *ssl, const char *host)
{
    char *name = xstrdup(host);
    bool ok = SSL_set_tlsext_host_name(ssl, name) == 1;

    free(name); /* OpenSSL keeps its own copy */
    return ok;
}

SSL *cachetls_ssl_create(SSL_CTX *ctx, const char *host, char *err,
                         size_t err_size)
{
    SSL *ssl = SSL_new(ctx);
    unsigned char addr[16];
    bool ip = inet_pton(AF_INET, host, addr) == 1 ||
              inet_pton(AF_INET6, host, addr) == 1;

    if (ssl == NULL) {
        snprintf(err, err_size, "SSL_new: %s", last_reason());
        goto err;
    }
    /* the certificate must name the host we asked for: an IP address
     * against its IP entries; a name against its DNS entries (no partial
     * wildcards), and sent as SNI (which never carries an address) */
    if (ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1
           : !set_sni(ssl, host) || SSL_set1_host(ssl, host) != 1) {
        snprintf(err, err_size, "cannot check the name %s: %s", host,
                 last_reason());
        goto err;
    }
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return ssl;
err:
    ERR_clear_error();
    SSL_free(ssl);
    return NULL;
}

bool cachetls_refused(SSL *ssl, char *err, size_t err_size)
{
    long vr = SSL_get_verify_result(ssl);
    unsigned long e = ERR_peek_last_error();
    int reason = ERR_GET_REASON(e);
    bool refused = false;

    if (vr != X509_V_OK) {
        snprintf(err, err_size, "TLS: Redis's certificate is not accepted: %s",
                 X509_verify_cert_error_string(vr));
        refused = true;
    } else if (e != 0 && ERR_GET_LIB(e) == ERR_LIB_SSL &&
               reason != SSL_R_UNEXPECTED_EOF_WHILE_READING &&
               (!SSL_is_init_finished(ssl) || reason >= SSL_AD_REASON_OFFSET)) {
        /* a protocol error in the handshake (a plain-text port), or an
         * alert from the server (our certificate refused or missing) */
        snprintf(err, err_size, "TLS: handshake failed: %s", last_reason());
        refused = true;
    }
    ERR_clear_error();
    return refused;
}
