/* hlswatch.h -- keeps a published hls_url true: removed once its stream
 * stops.
 *
 * DESIGN
 * ------
 * 100ms's HLS composer stops on its own: after 5 minutes alone in the room,
 * at the template's maximum duration, or on a failure (docs/100ms-api.md
 * section 9, points 3 and 4). A URL left in the subject's hash after that
 * never plays (docs/contract.md section 3). Every stream whose URL the
 * handler published is read back (GET /live-streams/{id}) every
 * HMS_HLS_CHECK_MS; once it is not running, the hash loses hls_url -- only
 * if it still holds that URL (a later provisioning may have written
 * another), in one Redis script -- and the watch ends.
 *
 * The watches live in this process's memory: a restart forgets them, and
 * a URL whose stream stops after that stays until the subject's
 * session-ended (which always removes it) or the hash expires. The
 * webhooks work (hls.stopped.success, hls.failure) makes this
 * event-driven and durable. The engine's thread only, as the handler.
 */
#ifndef HLSWATCH_H
#define HLSWATCH_H

#include <stdint.h>

#include "cache.h"
#include "conf.h"
#include "event.h"
#include "hms_client.h"

struct hlswatch *hlswatch_create(const struct conf *cf, struct hms_client *hc,
                                 struct cache *cache);
/* Forgets every watch; replies still due must not come any more (the
 * client and the cache are destroyed first, without callbacks). */
void hlswatch_destroy(struct hlswatch *w);

/* Watches stream_id, whose url the subject's hash now holds. */
void hlswatch_add(struct hlswatch *w, enum subject_kind kind,
                  const char *subject_id, const char *stream_id,
                  const char *url);

/* Starts the checks that are due; the next due time (hw_mono_ms()) or
 * INT64_MAX. */
int64_t hlswatch_tick(struct hlswatch *w);

#endif
