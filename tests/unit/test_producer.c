/* test_producer.c -- what every produce and delivery error leads to
 * (docs/contract.md section 7, Kafka produce rows), including the ones the
 * local broker cannot stage (no authorizer, no fatal idempotence error). */
#include "producer.h"
#include "testhelp.h"

int main(void)
{
    static const struct {
        rd_kafka_resp_err_t err;
        enum hw_rc want;
    } rows[] = {
        {RD_KAFKA_RESP_ERR_NO_ERROR, HW_OK},
        /* it may heal by itself: send again, partitions paused */
        {RD_KAFKA_RESP_ERR__QUEUE_FULL, HW_ERR_UNAVAILABLE},
        {RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, HW_ERR_UNAVAILABLE},
        {RD_KAFKA_RESP_ERR__TRANSPORT, HW_ERR_UNAVAILABLE},
        {RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, HW_ERR_UNAVAILABLE},
        {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, HW_ERR_UNAVAILABLE},
        {RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, HW_ERR_UNAVAILABLE},
        {RD_KAFKA_RESP_ERR__PURGE_QUEUE, HW_ERR_UNAVAILABLE},
        /* this message: smaller dead letter, or the input dead-lettered */
        {RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, HW_ERR_INVALID},
        {RD_KAFKA_RESP_ERR_INVALID_RECORD, HW_ERR_INVALID},
        {RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE, HW_ERR_INVALID},
        {RD_KAFKA_RESP_ERR_INVALID_MSG, HW_ERR_INVALID},
        /* a setting to fix: halt */
        {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, HW_ERR_AUTH},
        {RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, HW_ERR_AUTH},
        {RD_KAFKA_RESP_ERR__AUTHENTICATION, HW_ERR_AUTH},
        {RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, HW_ERR_CONFIG},
        {RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, HW_ERR_CONFIG},
        /* the producer is broken: exit, a restart recovers */
        {RD_KAFKA_RESP_ERR__FATAL, HW_ERR_FATAL},
        /* anything else: halt too, never "success", never a drain */
        {RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION, HW_ERR_REFUSED},
        {RD_KAFKA_RESP_ERR__INVALID_ARG, HW_ERR_REFUSED},
    };

    for (size_t i = 0; i < HW_ARRAY_LEN(rows); i++) {
        enum hw_rc got = producer_classify(rows[i].err);

        if (got != rows[i].want) {
            fprintf(stderr, "%s: %s, want %s\n", rd_kafka_err2name(rows[i].err),
                    hw_rc_str(got), hw_rc_str(rows[i].want));
        }
        CHECK(got == rows[i].want);
    }
    return TEST_REPORT();
}
