/* cachetls.h -- TLS for the Redis connection (rediss://), OpenSSL under
 * hiredis 1.4.1's SSL module.
 *
 * DESIGN
 * ------
 * hiredis verifies the certificate chain but never checks that the
 * certificate names the host (no released hiredis does; deps/README.md),
 * so we make the SSL object ourselves and hand it to redisInitiateSSL():
 * the peer verified against REDIS_TLS_CA_FILE or the system's trust store,
 * the host name (or IP address) of REDIS_URL checked by OpenSSL during
 * the handshake, SNI sent for a name. conf.c builds a context once at load
 * to report a bad file before anything starts; cache.c keeps its own.
 * Error text names the variable and the file, never key material. Any
 * thread, one context per owner.
 */
#ifndef CACHETLS_H
#define CACHETLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "conf.h"

/* A client context for cf (TLS >= 1.2, peer verification on, the CA file
 * or the system's store, the client certificate if any), or NULL with
 * err set. Caller SSL_CTX_free()s it. */
SSL_CTX *cachetls_ctx_create(const struct conf_redis *cf, char *err,
                             size_t err_size);

/* A new SSL for one connection to host: its certificate must name host
 * (a DNS name, also sent as SNI, or an IP address). NULL with err set.
 * Caller owns it (redisInitiateSSL() takes it on success). */
SSL *cachetls_ssl_create(SSL_CTX *ctx, const char *host, char *err,
                         size_t err_size);

/* Why a connection over ssl failed, if TLS says: true, with err set
 * ("TLS: ..."), when the handshake did not complete because the
 * certificate was not accepted or the peer did not speak TLS as expected
 * (a setup to fix, not an outage); false otherwise. Clears this thread's
 * OpenSSL error queue. */
bool cachetls_refused(SSL *ssl, char *err, size_t err_size);

#endif
