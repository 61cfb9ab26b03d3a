/* whaccess.h -- who may post a webhook: the secret headers
 * (WEBHOOK_SECRET_HEADERS) and the address allowlist (WEBHOOK_ALLOW_CIDRS)
 * of the webhook listener (webhook.h).
 *
 * DESIGN
 * ------
 * 100ms signs nothing (docs/100ms-api.md section 4): a webhook is
 * authentic when it carries every header configured on the 100ms
 * dashboard with its exact value, and comes from an allowed address.
 * Parsing runs once, inside conf_load(), so a bad value is a configuration
 * error naming the variable; matching runs on the listener's thread for
 * every request and only reads. Header values are secrets (struct secret):
 * never in a log or an error text, compared in constant time
 * (CRYPTO_memcmp), cleansed when freed. No I/O and no locks: unit-tested
 * directly (test_whaccess) and fuzzed through fuzz_conf.
 */
#ifndef WHACCESS_H
#define WHACCESS_H

#include <stdbool.h>
#include <stddef.h>

#include <sys/socket.h>

#include "secret.h"

#define WHACCESS_MAX_HEADERS 8
#define WHACCESS_VALUE_MIN 16 /* a shorter secret is guessable */
#define WHACCESS_VALUE_MAX 1024
#define WHACCESS_MAX_CIDRS 256

struct whaccess_header {
    char *name;          /* an HTTP token, compared case-insensitively */
    struct secret value; /* compared exactly */
};

struct whaccess_cidr {
    int family; /* AF_INET or AF_INET6 (a v4-mapped prefix is stored v4) */
    unsigned char addr[16];
    unsigned bits;
};

/* "Name: value" pairs separated by newlines or ';' (spaces around names
 * and values are dropped): at most WHACCESS_MAX_HEADERS, each name once
 * (case-insensitively), values of WHACCESS_VALUE_MIN to WHACCESS_VALUE_MAX
 * printable ASCII characters. *out (caller frees with
 * whaccess_headers_free) and *n on success; false with err, which names
 * the pair by position and never quotes a value. */
bool whaccess_parse_headers(const char *spec, struct whaccess_header **out,
                            size_t *n, char *err, size_t err_size);
void whaccess_headers_free(struct whaccess_header *h, size_t n);

/* "10.0.0.0/8, 2001:db8::/32 192.0.2.7": IPv4 or IPv6 prefixes separated
 * by commas or spaces; an address without /bits is a single host. A prefix
 * with host bits set (10.1.0.0/8) is refused: it is most likely a typo.
 * *out (caller frees) and *n on success; false with err. */
bool whaccess_parse_cidrs(const char *spec, struct whaccess_cidr **out,
                          size_t *n, char *err, size_t err_size);

/* Whether sa (AF_INET or AF_INET6; a v4-mapped IPv6 address counts as
 * IPv4) is inside one of the n prefixes. */
bool whaccess_addr_allowed(const struct whaccess_cidr *c, size_t n,
                           const struct sockaddr *sa);

/* Whether got (NULL: the header is absent) equals want. The comparison
 * always runs over want's whole length, whatever got is: its time tells
 * nothing about where the values differ. */
bool whaccess_value_matches(const struct secret *want, const char *got);

/* sa as text ("192.0.2.7", "2001:db8::1") for logs; "?" when unknown. */
const char *whaccess_addr_str(const struct sockaddr *sa, char *buf,
                              size_t size);

#endif
