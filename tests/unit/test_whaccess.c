/* test_whaccess.c -- the webhook listener's access rules (whaccess.c):
 * secret headers parsed and compared, allowlists parsed and matched
 * against IPv4, IPv6 and v4-mapped peers. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testhelp.h"
#include "whaccess.h"

#define SECRET16 "0123456789abcdef"

static void test_headers_parse(void)
{
    struct whaccess_header *h;
    size_t n;
    char err[256];

    CHECK(whaccess_parse_headers(" X-Hms-Secret : " SECRET16 " \n"
                                 "Authorization: Bearer " SECRET16 ";\n",
                                 &h, &n, err, sizeof(err)));
    CHECK_INT(n, 2);
    CHECK_STR(h[0].name, "X-Hms-Secret");
    CHECK_STR(secret_reveal(&h[0].value, NULL), SECRET16);
    CHECK_STR(h[1].name, "Authorization");
    CHECK_STR(secret_reveal(&h[1].value, NULL), "Bearer " SECRET16);
    whaccess_headers_free(h, n);
    /* a value may hold ':' (only the first one splits) */
    CHECK(
        whaccess_parse_headers("X-A: a:b:" SECRET16, &h, &n, err, sizeof(err)));
    CHECK_STR(secret_reveal(&h[0].value, NULL), "a:b:" SECRET16);
    whaccess_headers_free(h, n);
}

static void test_headers_refused(void)
{
    static const char *const bad[] = {
        "",
        " ; \n",
        "X-A " SECRET16,                          /* no colon */
        ": " SECRET16,                            /* no name */
        "X A: " SECRET16,                         /* a space in the name */
        "X-A: short-secret",                      /* 12 characters */
        "X-A:",                                   /* no value */
        "X-A: " SECRET16 "\x01",                  /* a control character */
        "X-A: " SECRET16 "\nx-a: " SECRET16 "zz", /* twice (any case) */
        "A1: " SECRET16 ";A2: " SECRET16 ";A3: " SECRET16 ";A4: " SECRET16
        ";A5: " SECRET16 ";A6: " SECRET16 ";A7: " SECRET16 ";A8: " SECRET16
        ";A9: " SECRET16, /* more than 8 */
    };
    struct whaccess_header *h;
    size_t n;
    char err[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bool ok = whaccess_parse_headers(bad[i], &h, &n, err, sizeof(err));

        if (ok) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
        }
        CHECK(!ok && h == NULL && n == 0);
        /* errors name the pair, never the value */
        CHECK(strstr(err, SECRET16) == NULL);
        CHECK(strstr(err, "short-secret") == NULL);
    }
}

static void test_value_matches(void)
{
    struct secret want = {0};
    char longer[WHACCESS_VALUE_MAX + 64];

    secret_set(&want, SECRET16, strlen(SECRET16));
    CHECK(whaccess_value_matches(&want, SECRET16));
    CHECK(!whaccess_value_matches(&want, NULL));
    CHECK(!whaccess_value_matches(&want, ""));
    CHECK(!whaccess_value_matches(&want, "0123456789abcde"));  /* prefix */
    CHECK(!whaccess_value_matches(&want, SECRET16 "0"));       /* longer */
    CHECK(!whaccess_value_matches(&want, "0123456789abcdeF")); /* case */
    CHECK(!whaccess_value_matches(&want, "1123456789abcdef")); /* first */
    memset(longer, 'a', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    memcpy(longer, SECRET16, 16);
    CHECK(!whaccess_value_matches(&want, longer)); /* over the maximum */
    secret_wipe(&want);
    CHECK(!whaccess_value_matches(&want, "")); /* nothing configured */
}

static struct sockaddr_in v4(const char *a)
{
    struct sockaddr_in sa = {0};

    sa.sin_family = AF_INET;
    inet_pton(AF_INET, a, &sa.sin_addr);
    return sa;
}

static struct sockaddr_in6 v6(const char *a)
{
    struct sockaddr_in6 sa = {0};

    sa.sin6_family = AF_INET6;
    inet_pton(AF_INET6, a, &sa.sin6_addr);
    return sa;
}

static bool allowed(const struct whaccess_cidr *c, size_t n, const char *a)
{
    struct sockaddr_in s4 = v4(a);
    struct sockaddr_in6 s6 = v6(a);

    return strchr(a, ':') != NULL
               ? whaccess_addr_allowed(c, n, (struct sockaddr *)&s6)
               : whaccess_addr_allowed(c, n, (struct sockaddr *)&s4);
}

static void test_cidrs(void)
{
    struct whaccess_cidr *c;
    size_t n;
    char err[256], buf[64];
    struct sockaddr_in6 mapped = v6("::ffff:10.1.2.3");

    CHECK(whaccess_parse_cidrs("10.0.0.0/8, 192.0.2.7 2001:db8::/33,"
                               "::ffff:198.51.100.0/120",
                               &c, &n, err, sizeof(err)));
    CHECK_INT(n, 4);
    CHECK(allowed(c, n, "10.0.0.1") && allowed(c, n, "10.255.255.255"));
    CHECK(!allowed(c, n, "11.0.0.1") && !allowed(c, n, "127.0.0.1"));
    CHECK(allowed(c, n, "192.0.2.7") && !allowed(c, n, "192.0.2.8"));
    CHECK(allowed(c, n, "2001:db8:7fff::1"));
    CHECK(!allowed(c, n, "2001:db8:8000::1")); /* bit 33 set */
    CHECK(!allowed(c, n, "::1"));
    /* a dual-stack listener sees IPv4 peers as v4-mapped IPv6 */
    CHECK(whaccess_addr_allowed(c, n, (struct sockaddr *)&mapped));
    CHECK(allowed(c, n, "198.51.100.9")); /* a v4-mapped prefix is IPv4 */
    CHECK(!whaccess_addr_allowed(c, n, NULL));
    CHECK_STR(whaccess_addr_str((struct sockaddr *)&mapped, buf, sizeof(buf)),
              "::ffff:10.1.2.3");
    free(c);
    CHECK(whaccess_parse_cidrs("0.0.0.0/0", &c, &n, err, sizeof(err)));
    CHECK(allowed(c, n, "203.0.113.1") && !allowed(c, n, "::1"));
    free(c);
}

static void test_cidrs_refused(void)
{
    static const char *const bad[] = {
        "",
        " , ",
        "10.0.0.0/33",
        "10.0.0.0/",
        "10.0.0.0/x",
        "10.0.0.0/-1",
        "10.1.0.0/8" /* host bits */,
        "2001:db8::1/32",
        "example.com",
        "10.0.0.0/8/8",
        "::/129",
    };
    struct whaccess_cidr *c;
    size_t n;
    char err[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bool ok = whaccess_parse_cidrs(bad[i], &c, &n, err, sizeof(err));

        if (ok) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
        }
        CHECK(!ok && c == NULL && n == 0);
    }
}

int main(void)
{
    test_headers_parse();
    test_headers_refused();
    test_value_matches();
    test_cidrs();
    test_cidrs_refused();
    return TEST_REPORT();
}
