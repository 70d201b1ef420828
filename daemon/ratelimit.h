/* ratelimit.h: token buckets for the global rate limits, and meters of peers' transfer rates. Pure: time is passed in. */
#ifndef P2P_RATELIMIT_H
#define P2P_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

/* One block: a limit never makes a 16 KiB block wait for a second bucket. */
#define RATELIMIT_MIN_BURST	16384
#define RATE_METER_WINDOW	5	/* seconds a meter averages over */

/*
 * A token bucket. Tokens accrue at rate bytes/s up to the burst, which is
 * a quarter second of traffic but at least RATELIMIT_MIN_BURST, so a
 * socket that was idle may send that much at once. A new bucket starts
 * full. Embedded by value; the fields belong to ratelimit.c.
 */
struct ratelimit {
	uint64_t rate;		/* bytes/s; 0 = unlimited */
	double burst;
	double tokens;
	double last;		/* when tokens was brought up to date */
};

void ratelimit_init(struct ratelimit *r, uint64_t rate_bytes_per_s, double now);
/* The tokens saved so far carry over, capped at the new burst. */
void ratelimit_set_rate(struct ratelimit *r, uint64_t rate, double now);
/* How many of want bytes may go now (and are spent): <= want, 0 if none. */
uint64_t ratelimit_take(struct ratelimit *r, uint64_t want, double now);
/* Seconds until min(want, burst) bytes may go; 0 if now. */
double ratelimit_wait(const struct ratelimit *r, uint64_t want, double now);

/*
 * Bytes per second over the last RATE_METER_WINDOW seconds, counted in
 * one-second slots; falls to 0 once nothing arrived for a window. A zeroed
 * struct is an empty meter.
 */
struct rate_meter {
	uint64_t bytes[RATE_METER_WINDOW];	/* ring: slot s % WINDOW counts second s */
	int64_t sec;		/* the newest second counted */
	double start;		/* first add, so a young meter is not diluted */
	int started;
};

/*
 * Per-address limits on queries (DHT, search): a fixed table of token
 * buckets, one per slot, chosen by a hash of the IP (never the port, which a
 * sender picks freely). An address landing on a slot another one holds takes
 * it over with a full bucket: memory stays bounded. A zeroed table is empty.
 */
struct addr_bucket {
	uint8_t ip[16];		/* IPv4 in the first 4 bytes, the rest zero */
	double tokens;
	double last;		/* 0: never used */
};

struct netaddr;

/* 1 and a token spent if a may send one more (per_sec refill, up to burst), else 0. */
int ratelimit_addr_allow(struct addr_bucket *table, size_t nslots, const struct netaddr *a,
    double per_sec, double burst, double now);

void rate_meter_init(struct rate_meter *m);
void rate_meter_add(struct rate_meter *m, uint64_t bytes, double now);
double rate_meter_rate(struct rate_meter *m, double now);

#endif
