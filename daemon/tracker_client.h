/* tracker_client.h: announces a torrent to its HTTP(S) and UDP trackers, scrapes them, and hands back peers. */
#ifndef P2P_TRACKER_CLIENT_H
#define P2P_TRACKER_CLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct tracker_client;
struct session;
struct netaddr;

enum tracker_client_event {
	TRACKER_CLIENT_NONE = 0,
	TRACKER_CLIENT_COMPLETED = 1,
	TRACKER_CLIENT_STARTED = 2,
	TRACKER_CLIENT_STOPPED = 3,
};

/* What the owner tells the client and hears back. */
struct tracker_client_cb {
	/* Current counters for an announce. */
	void (*stats)(void *ctx, uint64_t *uploaded, uint64_t *downloaded, uint64_t *left);
	/* A peer the tracker gave us. */
	void (*peer)(void *ctx, const struct netaddr *a);
	void *ctx;
};

/*
 * One client per running torrent. urls: announce URLs (http://, https://,
 * udp://) with their BEP 12 tiers (NULL: each URL its own tier, in order).
 * Announces go to one tracker at a time: the first of the first tier that
 * answers; the next is tried only when it fails. Starts at once.
 */
struct tracker_client *tracker_client_new(struct session *s, const uint8_t info_hash[20],
    const char *const *urls, const uint32_t *tiers, size_t n,
    const struct tracker_client_cb *cb);
/*
 * Frees. With say_stopped, trackers that know us get "stopped": in a worker
 * job, or at once when the pool is stopping (daemon exit); either way within
 * about a second, best effort, no answer needed.
 */
void tracker_client_free(struct tracker_client *tc, int say_stopped);
/* Announces now: TRACKER_CLIENT_COMPLETED once the download is complete, or NONE. */
void tracker_client_announce(struct tracker_client *tc, enum tracker_client_event ev);
/* Periodic: announces and scrapes that are due. */
void tracker_client_tick(struct tracker_client *tc, double now);
/*
 * torrent.trackers, in announce order: url, tier, status (working,
 * announcing, error, standby), active, last_error, seeders, leechers,
 * downloaded, scrape_error, next_announce.
 */
json_t *tracker_client_json(const struct tracker_client *tc, double now);

#endif
