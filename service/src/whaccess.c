/* whaccess.c -- parsing and matching of the webhook listener's access
 * rules. parse_headers() works on a heap copy of the secret, cleansed
 * before it is freed; each value lands in its own struct secret.
 * value_matches() copies what the request sent into a zeroed buffer of
 * the secret's length and runs CRYPTO_memcmp over that whole length, the
 * length comparison folded in without a branch. Prefixes are byte arrays
 * compared up to their bit length; the peer's v4-mapped IPv6 address
 * (a dual-stack listener) is compared as IPv4. */
#define LOGMOD "whaccess"
#include "whaccess.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#define NAME_MAX_LEN 128
#define TOKEN_CHARS                                                            \
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"           \
    "!#$%&'*+-.^_`|~"

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* [*s, *e) without surrounding spaces. */
static void trim(const char **s, const char **e)
{
    while (*s < *e && is_space(**s)) {
        (*s)++;
    }
    while (*e > *s && is_space((*e)[-1])) {
        (*e)--;
    }
}

static bool printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e) {
            return false;
        }
    }
    return true;
}

/* One "Name: value" item [s, e) appended to *out; false with err. */
static bool add_header(const char *s, const char *e, size_t pos,
                       struct whaccess_header **out, size_t *n, char *err,
                       size_t err_size)
{
    const char *colon = memchr(s, ':', (size_t)(e - s));
    const char *ns = s, *ne, *vs, *ve = e;
    size_t nlen, vlen;

    if (colon == NULL) {
        snprintf(err, err_size, "pair %zu: expected \"Name: value\"", pos);
        return false;
    }
    ne = colon;
    vs = colon + 1;
    trim(&ns, &ne);
    trim(&vs, &ve);
    nlen = (size_t)(ne - ns);
    vlen = (size_t)(ve - vs);
    if (nlen == 0 || nlen > NAME_MAX_LEN || strspn(ns, TOKEN_CHARS) < nlen) {
        snprintf(err, err_size,
                 "pair %zu: the name is not an HTTP header name "
                 "(1-%d of [A-Za-z0-9!#$%%&'*+.^_`|~-])",
                 pos, NAME_MAX_LEN);
        return false;
    }
    if (vlen < WHACCESS_VALUE_MIN || vlen > WHACCESS_VALUE_MAX ||
        !printable(vs, vlen)) {
        snprintf(err, err_size,
                 "pair %zu (%.*s): the value must be %d-%d printable "
                 "ASCII characters, without ';'",
                 pos, (int)nlen, ns, WHACCESS_VALUE_MIN, WHACCESS_VALUE_MAX);
        return false;
    }
    for (size_t i = 0; i < *n; i++) {
        if (strlen((*out)[i].name) == nlen &&
            strncasecmp((*out)[i].name, ns, nlen) == 0) {
            snprintf(err, err_size, "pair %zu: header %.*s is given twice", pos,
                     (int)nlen, ns);
            return false;
        }
    }
    if (*n == WHACCESS_MAX_HEADERS) {
        snprintf(err, err_size, "more than %d headers", WHACCESS_MAX_HEADERS);
        return false;
    }
    *out = xrealloc(*out, (*n + 1) * sizeof(**out));
    (*out)[*n] =
        (struct whaccess_header){xasprintf("%.*s", (int)nlen, ns), {NULL, 0}};
    secret_set(&(*out)[*n].value, vs, vlen);
    (*n)++;
    return true;
}

bool whaccess_parse_headers(const char *spec, struct whaccess_header **out,
                            size_t *n, char *err, size_t err_size)
{
    size_t len = strlen(spec), pos = 0;
    char *copy = xstrdup(spec);
    const char *p = copy, *end = copy + len;
    bool ok = true;

    *out = NULL;
    *n = 0;
    while (ok && p < end) {
        const char *e = p + strcspn(p, "\n;"), *s = p, *te = e;

        trim(&s, &te);
        if (s < te) {
            ok = add_header(s, te, ++pos, out, n, err, err_size);
        }
        p = e + 1;
    }
    if (ok && *n == 0) {
        snprintf(err, err_size, "no \"Name: value\" pair");
        ok = false;
    }
    OPENSSL_cleanse(copy, len);
    free(copy);
    if (!ok) {
        whaccess_headers_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return ok;
}

void whaccess_headers_free(struct whaccess_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        secret_wipe(&h[i].value);
    }
    free(h);
}

/* ---- the allowlist ---------------------------------------------------- */

/* Whether the bits past c->bits are all zero. */
static bool host_bits_clear(const struct whaccess_cidr *c)
{
    size_t total = c->family == AF_INET ? 4 : 16;

    for (size_t i = 0; i < total; i++) {
        unsigned from = (unsigned)i * 8;
        unsigned char mask = from >= c->bits       ? 0xff
                             : from + 8 <= c->bits ? 0
                                                   : 0xff >> (c->bits - from);

        if ((c->addr[i] & mask) != 0) {
            return false;
        }
    }
    return true;
}

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0,    0,
                                            0, 0, 0, 0, 0xff, 0xff};

/* One prefix "addr[/bits]" (NUL-terminated item). */
static bool parse_cidr(char *item, struct whaccess_cidr *c, char *err,
                       size_t err_size)
{
    char *slash = strchr(item, '/'), *end;
    long bits;

    if (slash != NULL) {
        *slash = '\0';
    }
    memset(c, 0, sizeof(*c));
    c->family = strchr(item, ':') != NULL ? AF_INET6 : AF_INET;
    if (inet_pton(c->family, item, c->addr) != 1) {
        snprintf(err, err_size, "%.64s is not an IPv4 or IPv6 address", item);
        return false;
    }
    c->bits = c->family == AF_INET ? 32 : 128;
    if (slash != NULL) {
        errno = 0;
        bits = strtol(slash + 1, &end, 10);
        if (errno != 0 || end == slash + 1 || *end != '\0' || bits < 0 ||
            bits > (long)c->bits) {
            snprintf(err, err_size,
                     "%.64s/%.8s: the prefix length must be "
                     "0-32 (IPv4) or 0-128 (IPv6)",
                     item, slash + 1);
            return false;
        }
        c->bits = (unsigned)bits;
    }
    if (!host_bits_clear(c)) {
        snprintf(err, err_size,
                 "%.64s/%u has host bits set (did you mean the "
                 "network address?)",
                 item, c->bits);
        return false;
    }
    if (c->family == AF_INET6 && c->bits >= 96 &&
        memcmp(c->addr, v4_mapped, 12) == 0) {
        memmove(c->addr, c->addr + 12, 4);
        memset(c->addr + 4, 0, 12);
        c->family = AF_INET;
        c->bits -= 96;
    }
    return true;
}

bool whaccess_parse_cidrs(const char *spec, struct whaccess_cidr **out,
                          size_t *n, char *err, size_t err_size)
{
    char *copy = xstrdup(spec), *p = copy;
    bool ok = true;

    *out = NULL;
    *n = 0;
    while (ok && *p != '\0') {
        size_t len = strcspn(p, ", \t\n");
        char *next = p + len + (p[len] != '\0');

        p[len] = '\0';
        if (len == 0) {
            p = next;
            continue;
        }
        if (*n == WHACCESS_MAX_CIDRS) {
            snprintf(err, err_size, "more than %d prefixes",
                     WHACCESS_MAX_CIDRS);
            ok = false;
            break;
        }
        *out = xrealloc(*out, (*n + 1) * sizeof(**out));
        ok = parse_cidr(p, &(*out)[*n], err, err_size);
        *n += ok;
        p = next;
    }
    if (ok && *n == 0) {
        snprintf(err, err_size,
                 "no address prefix (unset the variable to "
                 "allow any address)");
        ok = false;
    }
    free(copy);
    if (!ok) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return ok;
}

static bool prefix_equal(const unsigned char *a, const unsigned char *b,
                         unsigned bits)
{
    size_t full = bits / 8;
    unsigned rest = bits % 8;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));

    return memcmp(a, b, full) == 0 &&
           (rest == 0 || (a[full] & mask) == (b[full] & mask));
}

bool whaccess_addr_allowed(const struct whaccess_cidr *c, size_t n,
                           const struct sockaddr *sa)
{
    unsigned char addr[16];
    int family;

    if (sa == NULL) {
        return false;
    }
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        memcpy(addr, &in->sin_addr, 4);
        family = AF_INET;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        const unsigned char *b = in6->sin6_addr.s6_addr;
        bool mapped = memcmp(b, v4_mapped, 12) == 0;

        memcpy(addr, mapped ? b + 12 : b, mapped ? 4 : 16);
        family = mapped ? AF_INET : AF_INET6;
    } else {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (c[i].family == family && prefix_equal(c[i].addr, addr, c[i].bits)) {
            return true;
        }
    }
    return false;
}

bool whaccess_value_matches(const struct secret *want, const char *got)
{
    size_t wlen, glen = got != NULL ? strnlen(got, WHACCESS_VALUE_MAX + 1) : 0;
    const char *w = secret_reveal(want, &wlen);
    unsigned char sent[WHACCESS_VALUE_MAX] = {0};
    int diff;

    if (w == NULL || wlen == 0 || wlen > sizeof(sent)) {
        return false; /* not configured: nothing matches */
    }
    memcpy(sent, got != NULL ? got : "", glen < wlen ? glen : wlen);
    diff = CRYPTO_memcmp(sent, w, wlen);
    diff |= (int)(glen ^ wlen); /* a longer or shorter value differs */
    return got != NULL && diff == 0;
}

const char *whaccess_addr_str(const struct sockaddr *sa, char *buf, size_t size)
{
    const void *a = NULL;

    if (sa != NULL && sa->sa_family == AF_INET) {
        a = &((const struct sockaddr_in *)sa)->sin_addr;
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    }
    if (a == NULL ||
        inet_ntop(sa->sa_family, a, buf, (socklen_t)size) == NULL) {
        snprintf(buf, size, "?");
    }
    return buf;
}
