/* fuzz-magnet.c: libFuzzer harness; an accepted magnet must survive build and re-parse. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "magnet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_same(const struct magnet *a, const struct magnet *b)
{
	if (memcmp(a->info_hash, b->info_hash, 20) != 0)
		abort();
	if ((a->name == NULL) != (b->name == NULL) ||
	    (a->name && strcmp(a->name, b->name) != 0))
		abort();
	if (a->tracker_count != b->tracker_count)
		abort();
	for (size_t i = 0; i < a->tracker_count; i++)
		if (strcmp(a->trackers[i], b->trackers[i]) != 0)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct magnet m, again;
	char err[128];
	char *s;

	if (magnet_parse((const char *)data, size, &m, err, sizeof(err)) == -1)
		return 0;
	if (m.tracker_count > MAGNET_MAX_TRACKERS || m.peer_count > MAGNET_MAX_PEERS)
		abort();
	s = magnet_build(m.info_hash, m.name, (const char *const *)m.trackers,
	    m.tracker_count);
	if (s == NULL)
		abort();
	/* Escaping can triple the length; only a URI within the limit must parse. */
	if (strlen(s) <= MAGNET_MAX_LEN) {
		if (magnet_parse(s, strlen(s), &again, err, sizeof(err)) == -1)
			abort();
		check_same(&m, &again);
		magnet_free(&again);
	}
	free(s);
	magnet_free(&m);
	return 0;
}
