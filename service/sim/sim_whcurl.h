/* sim_whcurl.h -- the HTTP transport of hms-sim's webhooks (libcurl).
 *
 * DESIGN
 * ------
 * One easy handle for life, used only by the webhook sender thread, so
 * connections to a receiver are reused. sim_whcurl_post() has the shape
 * of sim_wh_post_fn: a POST with Content-Type: application/json and the
 * given header lines, SIM_WH_TIMEOUT_MS for the whole transfer, no
 * redirects, http and https only; the reply body is read and dropped. It
 * returns the HTTP status, or 0 when no response came. curl_global_init()
 * must have run (sim_main). Never logs headers or bodies: configured
 * headers are the receiver's only authentication.
 */
#ifndef SIM_WHCURL_H
#define SIM_WHCURL_H

#include <stddef.h>

struct sim_whcurl *sim_whcurl_create(void);
void sim_whcurl_destroy(struct sim_whcurl *c);

/* ctx is the struct sim_whcurl. */
int sim_whcurl_post(void *ctx, const char *url, char *const *headers,
                    const char *body, size_t len, char *err, size_t err_size);

#endif
