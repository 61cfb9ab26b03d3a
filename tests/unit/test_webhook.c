/* test_webhook.c -- what the webhook listener accepts as a body
 * (webhook_envelope_parse): 100ms's envelope, and every way a body is
 * refused with 400. The listener itself is tested over HTTP against the
 * local stack (tests/integration/test_webhooks.py). */
#include <stdio.h>
#include <string.h>

#include "testhelp.h"
#include "webhook.h"

static enum hw_rc parse(const char *body, struct webhook_envelope *e, char *err,
                        size_t n)
{
    return webhook_envelope_parse(body, strlen(body), e, err, n);
}

static void test_envelope(void)
{
    struct webhook_envelope e;
    char err[256], big[400];
    static const char *const bad[] = {
        "",
        "nope",
        "[]",
        "\"x\"",
        "{}",
        "{\"id\":\"e\",\"type\":\"t\"}",
        "{\"id\":\"e\",\"type\":\"t\",\"data\":[]}",
        "{\"id\":\"e\",\"type\":\"t\",\"data\":{}}",
        "{\"id\":\"e\",\"type\":\"t\",\"data\":{\"room_id\":7}}",
        "{\"id\":\"e\",\"type\":\"t\",\"data\":{\"room_id\":\"\"}}",
        "{\"id\":1,\"type\":\"t\",\"data\":{\"room_id\":\"r\"}}",
        "{\"id\":\"e\",\"data\":{\"room_id\":\"r\"}}",
        "{\"id\":\"e\",\"type\":\"t\",\"data\":{\"room_id\":\"r\"}} x",
        "{\"id\":\"e\",\"id\":\"f\",\"data\":{\"room_id\":\"r\"}}",
        "{\"id\":\"e\\u0000x\",\"type\":\"t\",\"data\":{\"room_id\":\"r\"}}",
    };

    CHECK(parse("{\"version\":\"2.0\",\"id\":\"6f1c\",\"type\":\"peer.join."
                "success\",\"timestamp\":\"2024-01-01T00:00:00Z\",\"data\":"
                "{\"room_id\":\"65a1\",\"peer_id\":\"p\"}}",
                &e, err, sizeof(err)) == HW_OK);
    CHECK_STR(e.id, "6f1c");
    CHECK_STR(e.type, "peer.join.success");
    CHECK_STR(e.room_id, "65a1");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum hw_rc rc = parse(bad[i], &e, err, sizeof(err));

        if (rc != HW_ERR_INVALID) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
        }
        CHECK(rc == HW_ERR_INVALID);
    }
    /* every field at most WEBHOOK_FIELD_MAX bytes */
    snprintf(big, sizeof(big),
             "{\"id\":\"%0*d\",\"type\":\"t\",\"data\":{\"room_id\":\"r\"}}",
             WEBHOOK_FIELD_MAX, 0);
    CHECK(parse(big, &e, err, sizeof(err)) == HW_OK);
    CHECK_INT(strlen(e.id), WEBHOOK_FIELD_MAX);
    snprintf(big, sizeof(big),
             "{\"id\":\"e\",\"type\":\"t\",\"data\":{\"room_id\":\"%0*d\"}}",
             WEBHOOK_FIELD_MAX + 1, 0);
    CHECK(parse(big, &e, err, sizeof(err)) == HW_ERR_INVALID);
    CHECK(strstr(err, "data.room_id") != NULL);
    /* the error says where, and quotes nothing of the body */
    CHECK(parse("{\"id\": secretword}", &e, err, sizeof(err)) ==
          HW_ERR_INVALID);
    CHECK(strstr(err, "secretword") == NULL && strstr(err, "line 1") != NULL);
    CHECK(parse("{\"id\":\"a\",\"id\":\"b\"}", &e, err, sizeof(err)) ==
          HW_ERR_INVALID);
    CHECK(strstr(err, "twice") != NULL);
}

int main(void)
{
    test_envelope();
    return TEST_REPORT();
}
