/* tracker_server.c: a small bounded tracker: compact peer tables per swarm, HTTP with keep-alive, UDP in batches with keyed connection ids. */
#include "tracker_server.h"

#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "netaddr.h"
#include "session.h"
#include "sha.h"
#include "tracker_msg.h"

#define TS_MAX_SWARMS 100000
#define TS_MAX_PEERS 2000		/* per swarm; the oldest goes first */
#define TS_INTERVAL 120			/* seconds we ask clients to wait */
#define TS_EXPIRE (3 * TS_INTERVAL)
#define TS_DEFAULT_NUMWANT 50
#define TS_MAX_HTTP 512
#define TS_HTTP_MAX_REQ 8192
#define TS_HTTP_MAX_OUT 65536		/* answers queued before we stop reading pipelined requests */
#define TS_HTTP_IDLE 15.0
/*
 * Datagrams per recvmmsg/sendmmsg. Not more: with 64 requests in flight a
 * batch of 64 took them all, and client and tracker took turns instead of
 * working at the same time (58000 announces/s against 77000-93000 with 16).
 */
#define TS_UDP_BATCH 16
#define TS_UDP_ROUNDS 16		/* batches per wake-up, so TCP is not starved */
#define TS_UDP_MAX_OUT 4096		/* 20 + 200 * 18: the largest answer we build */
#define TS_CID_PERIOD 60		/* BEP 15: a connection id lives about 2 minutes */
#define TS_PT_MIN 4			/* slots of a new peer table */

/*
 * Peers are not structs but slots in an open-addressing table per swarm and
 * address family: the compact address (BEP 23: 4 or 16 bytes of IP, 2 of
 * port, network order) followed by a 16-bit stamp. A million IPv4 peers then
 * take 8 bytes each plus the table's slack, with no allocation per peer. No
 * peer has port 0 (announces with it are refused), so a zero port marks an
 * empty slot.
 */
#define TS_KEY4 6
#define TS_KEY6 18
/* The stamp: the seed bit, and when the peer last announced in seconds modulo 2^15. */
#define TS_STAMP_SEED 0x8000u
#define TS_STAMP_TIME 0x7fffu

struct ptab {
	uint8_t *slots;		/* cap slots of key + 2 bytes */
	uint32_t cap;		/* slots, or 0; any number (not a power of two: see pt_home) */
	uint32_t n;
};

struct swarm {
	uint8_t ih[20];
	uint32_t downloaded;
	uint32_t seeds;		/* peers (of both tables) with nothing left to get */
	struct ptab p4, p6;
};

struct http_conn {
	struct http_conn *next;
	struct tracker_server *ts;
	int fd;
	int events;		/* what io watches, so it is restarted only on a change */
	struct netaddr addr;
	ev_io io;
	ev_timer idle;
	struct buf in;
	struct buf out;
	int close_after;
	int dead;
};

/* Buffers for one recvmmsg/sendmmsg round, allocated once. */
struct udp_batch {
	struct mmsghdr in[TS_UDP_BATCH];
	struct iovec iin[TS_UDP_BATCH];
	struct sockaddr_storage from[TS_UDP_BATCH];
	uint8_t pkt[TS_UDP_BATCH][2048];
	struct mmsghdr out[TS_UDP_BATCH];
	struct iovec iout[TS_UDP_BATCH];
	struct buf ob[TS_UDP_BATCH];
};

struct tracker_server {
	struct session *s;
	struct netaddr addr;
	int tcp_fd, udp_fd;
	ev_io tcp_io, udp_io;
	ev_timer sweep;
	struct swarm **swarms;	/* open addressing by keyed hash of the info-hash */
	size_t swarm_cap;	/* a power of two */
	size_t nswarms;
	size_t npeers;
	uint64_t announces;
	struct http_conn *conns;
	int nconns;
	uint8_t secret[16];	/* connection ids */
	uint8_t hkey[16];	/* table hashes: peers can't aim at one slot chain */
	uint64_t rnd;		/* xorshift state: where a peer list starts */
	struct buf body;	/* an HTTP answer's body, reused */
	struct tracker_msg_reply reply;	/* 26 KB: one, reused, not on the stack */
	struct udp_batch *ub;
};

static double
ts_now(struct tracker_server *ts)
{
	return ev_now(session_loop(ts->s));
}

/* --- keyed hashing --- */

static uint64_t
rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static uint64_t
le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

#define SIPROUND do { \
	v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32); \
	v2 += v3; v3 = rotl(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = rotl(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32); \
} while (0)

/*
 * SipHash (Aumasson and Bernstein, 2012) with c compression and d finalisation
 * rounds: 2-4 where a forged value must be infeasible (connection ids), 1-3 for
 * table slots. A keyed PRF instead of SHA-1 through EVP: the id is checked on
 * every UDP announce, and OpenSSL (EVP SHA-1 and RAND_bytes per reply) took 9%
 * of the tracker's CPU, a fifth of its time outside the kernel.
 */
static uint64_t
siphash(const uint8_t key[16], const uint8_t *p, size_t n, int c, int d)
{
	uint64_t k0 = le64(key), k1 = le64(key + 8), m;
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
	uint8_t last[8] = { 0 };
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		m = le64(p + i);
		v3 ^= m;
		for (int r = 0; r < c; r++)
			SIPROUND;
		v0 ^= m;
	}
	memcpy(last, p + i, n - i);
	last[7] = (uint8_t)n;
	m = le64(last);
	v3 ^= m;
	for (int r = 0; r < c; r++)
		SIPROUND;
	v0 ^= m;
	v2 ^= 0xff;
	for (int r = 0; r < d; r++)
		SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* xorshift64*: the random start of a peer list needs spread, not secrecy. */
static uint32_t
ts_random(struct tracker_server *ts)
{
	ts->rnd ^= ts->rnd >> 12;
	ts->rnd ^= ts->rnd << 25;
	ts->rnd ^= ts->rnd >> 27;
	return (uint32_t)((ts->rnd * 0x2545f4914f6cdd1dULL) >> 32);
}

/* --- peer tables --- */

static size_t
pt_key_len(const struct ptab *pt, const struct swarm *sw)
{
	return pt == &sw->p4 ? TS_KEY4 : TS_KEY6;
}

static int
pt_empty(const uint8_t *slot, size_t klen)
{
	return slot[klen - 2] == 0 && slot[klen - 1] == 0;
}

static uint16_t
pt_stamp(const uint8_t *slot, size_t klen)
{
	return (uint16_t)(slot[klen] | slot[klen + 1] << 8);
}

static void
pt_set_stamp(uint8_t *slot, size_t klen, uint16_t st)
{
	slot[klen] = (uint8_t)st;
	slot[klen + 1] = (uint8_t)(st >> 8);
}

/*
 * The slot a key hashes to: the top of hash * cap, so cap needs not be a power
 * of two and tables can grow by half instead of doubling (a million peers in
 * 1000 swarms took 16.6 bytes each with doubling, 13.1 with this).
 */
static uint32_t
pt_home(const struct tracker_server *ts, const struct ptab *pt, const uint8_t *key,
    size_t klen)
{
	return (uint32_t)(((siphash(ts->hkey, key, klen, 1, 3) & 0xffffffffu) *
	    (uint64_t)pt->cap) >> 32);
}

static uint32_t
pt_next(const struct ptab *pt, uint32_t i)
{
	return i + 1 == pt->cap ? 0 : i + 1;
}

/* Slots from a forward to b, going round the end. */
static uint32_t
pt_dist(const struct ptab *pt, uint32_t a, uint32_t b)
{
	return b >= a ? b - a : b + pt->cap - a;
}

/* Linear probing stays short up to 80% full. */
static int
pt_full(const struct ptab *pt, uint32_t n)
{
	return (uint64_t)n * 5 > (uint64_t)pt->cap * 4;
}

/* The slot holding key, or the empty slot where it would go; the table has an empty slot. */
static uint32_t
pt_probe(const struct tracker_server *ts, const struct ptab *pt, const uint8_t *key,
    size_t klen)
{
	uint32_t i = pt_home(ts, pt, key, klen);

	for (;;) {
		const uint8_t *slot = pt->slots + (size_t)i * (klen + 2);
		if (pt_empty(slot, klen) || memcmp(slot, key, klen) == 0)
			return i;
		i = pt_next(pt, i);
	}
}

/* A table for n peers after a sweep: 75% full, room to grow a little before a rebuild. */
static uint32_t
pt_cap_for(uint32_t n)
{
	uint32_t cap = n + n / 3 + 1;

	return cap < TS_PT_MIN ? TS_PT_MIN : cap;
}

/*
 * Moves pt into a fresh table of cap slots, keeping the peers whose stamps
 * keep() accepts (NULL: all); returns how many were dropped, or -1 out of memory.
 */
static long
pt_rebuild(const struct tracker_server *ts, struct ptab *pt, size_t klen, uint32_t cap,
    int (*keep)(uint16_t stamp, void *arg), void *arg, uint32_t *seeds_dropped)
{
	struct ptab nt = { NULL, cap, 0 };
	long dropped = 0;

	if (cap > 0 && (nt.slots = calloc(cap, klen + 2)) == NULL)
		return -1;
	for (uint32_t i = 0; i < pt->cap; i++) {
		const uint8_t *slot = pt->slots + (size_t)i * (klen + 2);
		if (pt_empty(slot, klen))
			continue;
		if (keep && !keep(pt_stamp(slot, klen), arg)) {
			dropped++;
			if (pt_stamp(slot, klen) & TS_STAMP_SEED)
				(*seeds_dropped)++;
			continue;
		}
		memcpy(nt.slots + (size_t)pt_probe(ts, &nt, slot, klen) * (klen + 2), slot,
		    klen + 2);
		nt.n++;
	}
	free(pt->slots);
	*pt = nt;
	return dropped;
}

/* Empties slot i, moving later peers of its probe run back so lookups still find them. */
static void
pt_delete(const struct tracker_server *ts, struct ptab *pt, size_t klen, uint32_t i)
{
	uint32_t j = i;
	size_t sz = klen + 2;

	for (;;) {
		uint8_t *hole = pt->slots + (size_t)i * sz, *slot;
		uint32_t home;

		memset(hole, 0, sz);
		for (;;) {
			j = pt_next(pt, j);
			slot = pt->slots + (size_t)j * sz;
			if (pt_empty(slot, klen)) {
				pt->n--;
				return;
			}
			home = pt_home(ts, pt, slot, klen);
			/* It stays if its home lies cyclically in (i, j]. */
			if (pt_dist(pt, home, j) >= pt_dist(pt, i, j))
				break;
		}
		memcpy(hole, slot, sz);
		i = j;
	}
}

/* Age in seconds of a stamp; right while peers are swept long before 2^15 s. */
static uint32_t
stamp_age(uint16_t st, uint32_t now15)
{
	return (now15 - (st & TS_STAMP_TIME)) & TS_STAMP_TIME;
}

/* --- swarms --- */

static uint32_t
swarm_hash(const struct tracker_server *ts, const uint8_t ih[20])
{
	return (uint32_t)siphash(ts->hkey, ih, 20, 1, 3);
}

/* The index slot of ih: its swarm, or the NULL slot where it would go. */
static size_t
swarm_slot(const struct tracker_server *ts, const uint8_t ih[20])
{
	size_t mask = ts->swarm_cap - 1, i = swarm_hash(ts, ih) & mask;

	while (ts->swarms[i] && memcmp(ts->swarms[i]->ih, ih, 20) != 0)
		i = (i + 1) & mask;
	return i;
}

/* A new index of cap slots (at most half full) holding the swarms of the old one. */
static int
swarm_index_rebuild(struct tracker_server *ts, size_t cap)
{
	struct swarm **old = ts->swarms;
	size_t ocap = ts->swarm_cap;

	if ((ts->swarms = calloc(cap, sizeof(*ts->swarms))) == NULL) {
		ts->swarms = old;
		return -1;
	}
	ts->swarm_cap = cap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i])
			ts->swarms[swarm_slot(ts, old[i]->ih)] = old[i];
	free(old);
	return 0;
}

static struct swarm *
swarm_get(struct tracker_server *ts, const uint8_t ih[20], int create)
{
	size_t i = swarm_slot(ts, ih);
	struct swarm *sw;

	if (ts->swarms[i] || !create)
		return ts->swarms[i];
	if (ts->nswarms >= TS_MAX_SWARMS)
		return NULL;
	if ((ts->nswarms + 1) * 2 > ts->swarm_cap) {
		if (swarm_index_rebuild(ts, ts->swarm_cap * 2) == -1)
			return NULL;
		i = swarm_slot(ts, ih);
	}
	if ((sw = calloc(1, sizeof(*sw))) == NULL)
		return NULL;
	memcpy(sw->ih, ih, 20);
	ts->swarms[i] = sw;
	ts->nswarms++;
	return sw;
}

static void
swarm_free(struct swarm *sw)
{
	free(sw->p4.slots);
	free(sw->p6.slots);
	free(sw);
}

/* When the swarm is full: the peer that announced longest ago, in either table. */
static void
swarm_evict_oldest(struct tracker_server *ts, struct swarm *sw, uint32_t now15)
{
	struct ptab *best = NULL;
	uint32_t bi = 0, bage = 0;

	for (int f = 0; f < 2; f++) {
		struct ptab *pt = f ? &sw->p6 : &sw->p4;
		size_t klen = pt_key_len(pt, sw);
		for (uint32_t i = 0; i < pt->cap; i++) {
			const uint8_t *slot = pt->slots + (size_t)i * (klen + 2);
			uint32_t age;
			if (pt_empty(slot, klen))
				continue;
			age = stamp_age(pt_stamp(slot, klen), now15);
			if (best == NULL || age > bage) {
				best = pt;
				bi = i;
				bage = age;
			}
		}
	}
	if (best == NULL)
		return;
	if (pt_stamp(best->slots + (size_t)bi * (pt_key_len(best, sw) + 2),
	    pt_key_len(best, sw)) & TS_STAMP_SEED)
		sw->seeds--;
	pt_delete(ts, best, pt_key_len(best, sw), bi);
	ts->npeers--;
}

/* The table and key of address a in sw; key gets the compact form. */
static struct ptab *
swarm_table(struct swarm *sw, const struct netaddr *a, uint8_t key[TS_KEY6], size_t *klen)
{
	int n = netaddr_to_compact(a, key, TS_KEY6);

	if (n == TS_KEY4) {
		*klen = TS_KEY4;
		return &sw->p4;
	}
	if (n == TS_KEY6) {
		*klen = TS_KEY6;
		return &sw->p6;
	}
	return NULL;
}

/* Updates the announcing peer; returns 0, or -1 out of memory. */
static int
swarm_announce(struct tracker_server *ts, struct swarm *sw, const struct netaddr *a,
    const struct tracker_msg_announce *an, double now)
{
	uint32_t now15 = (uint32_t)(int64_t)now & TS_STAMP_TIME;
	uint16_t st = (uint16_t)(now15 | (an->left == 0 ? TS_STAMP_SEED : 0));
	uint8_t key[TS_KEY6], *slot;
	struct ptab *pt;
	size_t klen;
	uint32_t i;

	if ((pt = swarm_table(sw, a, key, &klen)) == NULL)
		return 0;
	if (pt->cap > 0) {
		i = pt_probe(ts, pt, key, klen);
		slot = pt->slots + (size_t)i * (klen + 2);
		if (!pt_empty(slot, klen)) {
			uint16_t old = pt_stamp(slot, klen);
			if (an->event == TRACKER_MSG_EVENT_STOPPED) {
				if (old & TS_STAMP_SEED)
					sw->seeds--;
				pt_delete(ts, pt, klen, i);
				ts->npeers--;
				return 0;
			}
			if (an->event == TRACKER_MSG_EVENT_COMPLETED)
				sw->downloaded++;
			sw->seeds += (st & TS_STAMP_SEED ? 1u : 0u) - (old & TS_STAMP_SEED ? 1u : 0u);
			pt_set_stamp(slot, klen, st);
			return 0;
		}
	}
	if (an->event == TRACKER_MSG_EVENT_STOPPED)
		return 0;
	if (an->event == TRACKER_MSG_EVENT_COMPLETED)
		sw->downloaded++;
	if (sw->p4.n + sw->p6.n >= TS_MAX_PEERS)
		swarm_evict_oldest(ts, sw, now15);
	if (pt_full(pt, pt->n + 1) && pt_rebuild(ts, pt, klen, pt->cap < TS_PT_MIN ? TS_PT_MIN :
	    pt->cap + pt->cap / 2, NULL, NULL, NULL) == -1)
		return -1;
	i = pt_probe(ts, pt, key, klen);
	slot = pt->slots + (size_t)i * (klen + 2);
	memcpy(slot, key, klen);
	pt_set_stamp(slot, klen, st);
	pt->n++;
	ts->npeers++;
	if (st & TS_STAMP_SEED)
		sw->seeds++;
	return 0;
}

/*
 * An empty reply with our interval. Only the fields the builders read are
 * set: clearing all 26 KB of r on every announce was 3% of the tracker's CPU.
 */
static void
reply_init(struct tracker_msg_reply *r)
{
	r->failed = 0;
	r->failure[0] = r->warning[0] = '\0';
	r->interval = TS_INTERVAL;
	r->min_interval = 0;
	r->complete = r->incomplete = 0;
	r->npeers = r->dropped = r->skipped = 0;
}

/*
 * Fills r with up to numwant other peers of a's family, starting at a random
 * slot; the counts cover both families.
 */
static void
swarm_reply(struct tracker_server *ts, struct swarm *sw, const struct netaddr *a,
    int32_t numwant, struct tracker_msg_reply *r)
{
	size_t want = numwant < 0 ? TS_DEFAULT_NUMWANT : (size_t)numwant, klen;
	uint8_t key[TS_KEY6];
	struct ptab *pt = swarm_table(sw, a, key, &klen);

	reply_init(r);
	r->complete = sw->seeds;
	r->incomplete = (int64_t)(sw->p4.n + sw->p6.n) - sw->seeds;
	if (want > TRACKER_MSG_MAX_PEERS)
		want = TRACKER_MSG_MAX_PEERS;
	if (pt == NULL || pt->n == 0 || want == 0)
		return;
	for (uint32_t k = 0, i = ts_random(ts) % pt->cap; k < pt->cap && r->npeers < want;
	    k++, i = pt_next(pt, i)) {
		const uint8_t *slot = pt->slots + (size_t)i * (klen + 2);
		if (!pt_empty(slot, klen) && memcmp(slot, key, klen) != 0)
			netaddr_from_compact(&r->peers[r->npeers++], slot, klen);
	}
}

static int
stamp_fresh(uint16_t st, void *arg)
{
	return stamp_age(st, *(uint32_t *)arg) <= TS_EXPIRE;
}

/*
 * Drops peers silent for TS_EXPIRE, shrinks their tables, and moves the
 * swarms that still have peers into a fresh index (deleting from an
 * open-addressing index in place would break its probe runs).
 */
static void
sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tracker_server *ts = w->data;
	uint32_t now15 = (uint32_t)(int64_t)ev_now(loop) & TS_STAMP_TIME;
	size_t cap = 64, live = 0;
	struct swarm **old = ts->swarms;
	size_t ocap = ts->swarm_cap;

	(void)revents;
	for (size_t b = 0; b < ocap; b++) {
		struct swarm *sw = old[b];
		if (sw == NULL)
			continue;
		for (int f = 0; f < 2; f++) {
			struct ptab *pt = f ? &sw->p6 : &sw->p4;
			size_t klen = pt_key_len(pt, sw);
			uint32_t stale = 0, seeds = 0;
			long dropped;
			for (uint32_t i = 0; i < pt->cap; i++) {
				const uint8_t *slot = pt->slots + (size_t)i * (klen + 2);
				if (!pt_empty(slot, klen) && !stamp_fresh(pt_stamp(slot, klen), &now15))
					stale++;
			}
			if (stale == 0 && (pt->n > 0 || pt->cap == 0))
				continue;
			/* Out of memory: the old table stays, to be swept next time. */
			dropped = pt_rebuild(ts, pt, klen, pt->n == stale ? 0 :
			    pt_cap_for(pt->n - stale), stamp_fresh, &now15, &seeds);
			if (dropped > 0) {
				ts->npeers -= (size_t)dropped;
				sw->seeds -= seeds;
			}
		}
		if (sw->p4.n + sw->p6.n > 0)
			live++;
	}
	if (live == ts->nswarms)
		return;
	while (live * 2 > cap)
		cap *= 2;
	if ((ts->swarms = calloc(cap, sizeof(*ts->swarms))) == NULL) {
		ts->swarms = old;	/* empty swarms stay until a sweep has memory */
		return;
	}
	ts->swarm_cap = cap;
	for (size_t b = 0; b < ocap; b++) {
		struct swarm *sw = old[b];
		if (sw == NULL)
			continue;
		if (sw->p4.n + sw->p6.n > 0) {
			ts->swarms[swarm_slot(ts, sw->ih)] = sw;
		} else {
			swarm_free(sw);
			ts->nswarms--;
		}
	}
	free(old);
}

/* The whole of an announce, for either transport: 0, or -1 with a reason. */
static int
do_announce(struct tracker_server *ts, const struct netaddr *from,
    const struct tracker_msg_announce *an, struct tracker_msg_reply *r,
    const char **why)
{
	struct netaddr a = *from;
	struct swarm *sw;

	ts->announces++;
	/* The address is the one the packet came from; only the port is theirs to say. */
	netaddr_set_port(&a, an->port);
	if (an->port == 0) {
		*why = "port 0 is not a listening port";
		return -1;
	}
	if ((sw = swarm_get(ts, an->info_hash, an->event != TRACKER_MSG_EVENT_STOPPED)) == NULL) {
		if (an->event == TRACKER_MSG_EVENT_STOPPED) {
			reply_init(r);
			return 0;
		}
		*why = "tracker is full";
		return -1;
	}
	if (swarm_announce(ts, sw, &a, an, ts_now(ts)) == -1) {
		*why = "out of memory";
		return -1;
	}
	swarm_reply(ts, sw, &a, an->numwant, r);
	return 0;
}

static void
do_scrape(struct tracker_server *ts, const uint8_t (*hashes)[20], size_t n,
    struct tracker_msg_scrape *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n && i < TRACKER_MSG_MAX_SCRAPE; i++) {
		struct swarm *sw = swarm_get(ts, hashes[i], 0);
		struct tracker_msg_scrape_entry *e = &out->files[out->n++];
		memcpy(e->info_hash, hashes[i], 20);
		if (sw) {
			e->complete = sw->seeds;
			e->incomplete = sw->p4.n + sw->p6.n - sw->seeds;
			e->downloaded = sw->downloaded;
		}
	}
}

/* --- UDP (BEP 15) --- */

/* A connection id the client can't forge: a keyed hash of its address and the period. */
static uint64_t
make_cid(const struct tracker_server *ts, const struct netaddr *a, int64_t period)
{
	uint8_t in[16 + 8], ip[TS_KEY6];
	int n = netaddr_to_compact(a, ip, sizeof(ip));

	memset(in, 0, sizeof(in));
	if (n > 2)
		memcpy(in, ip, (size_t)n - 2);	/* the IP, not the port */
	for (int i = 0; i < 8; i++)
		in[16 + i] = (uint8_t)((uint64_t)period >> (8 * i));
	return siphash(ts->secret, in, sizeof(in), 2, 4);
}

static int
cid_ok(const struct tracker_server *ts, const struct netaddr *a, uint64_t cid)
{
	int64_t period = (int64_t)ev_now(session_loop(ts->s)) / TS_CID_PERIOD;

	return cid == make_cid(ts, a, period) || cid == make_cid(ts, a, period - 1);
}

/* The answer to one datagram into b (left empty when there is none to send). */
static void
udp_packet(struct tracker_server *ts, const uint8_t *p, size_t len, const struct netaddr *from,
    struct buf *b)
{
	struct tracker_msg_udp_hdr h;
	struct tracker_msg_announce an;
	struct tracker_msg_reply *r = &ts->reply;
	struct tracker_msg_scrape sc;
	uint8_t hashes[TRACKER_MSG_MAX_SCRAPE][20];
	const char *why = NULL;
	uint64_t cid;
	uint32_t tid;
	size_t n;
	char err[128];

	/* Malformed datagrams get no answer: answering would let a spoofer aim us. */
	if (tracker_msg_udp_hdr_parse(p, len, &h, err, sizeof(err)) == -1)
		return;
	switch (h.action) {
	case TRACKER_MSG_CONNECT:
		if (tracker_msg_udp_connect_parse(p, len, &tid, err, sizeof(err)) == 0)
			tracker_msg_udp_connect_resp_build(b, tid, make_cid(ts, from,
			    (int64_t)ev_now(session_loop(ts->s)) / TS_CID_PERIOD));
		break;
	case TRACKER_MSG_ANNOUNCE:
		if (tracker_msg_udp_announce_parse(p, len, &cid, &tid, &an, err, sizeof(err)) == -1)
			break;
		if (!cid_ok(ts, from, cid))
			tracker_msg_udp_error_build(b, tid, "connection id expired or forged");
		else if (do_announce(ts, from, &an, r, &why) == -1)
			tracker_msg_udp_error_build(b, tid, why);
		else if (tracker_msg_udp_announce_resp_build(b, tid, r,
		    netaddr_family(from) == AF_INET6) == -1)
			buf_reset(b);
		break;
	case TRACKER_MSG_SCRAPE:
		if (tracker_msg_udp_scrape_parse(p, len, &cid, &tid, hashes, &n, err,
		    sizeof(err)) == -1)
			break;
		if (!cid_ok(ts, from, cid)) {
			tracker_msg_udp_error_build(b, tid, "connection id expired or forged");
			break;
		}
		do_scrape(ts, (const uint8_t (*)[20])hashes, n, &sc);
		if (tracker_msg_udp_scrape_resp_build(b, tid, &sc) == -1)
			buf_reset(b);
		break;
	}
}

/*
 * Up to TS_UDP_BATCH datagrams per recvmmsg and their answers in one
 * sendmmsg: under load the two system calls per announce were most of the
 * tracker's CPU. A few rounds per wake-up, then back to the loop.
 */
static void
udp_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tracker_server *ts = w->data;
	struct udp_batch *ub = ts->ub;

	(void)loop;
	(void)revents;
	for (int round = 0; round < TS_UDP_ROUNDS; round++) {
		int n, m = 0;

		for (int i = 0; i < TS_UDP_BATCH; i++) {
			ub->iin[i].iov_base = ub->pkt[i];
			ub->iin[i].iov_len = sizeof(ub->pkt[i]);
			memset(&ub->in[i].msg_hdr, 0, sizeof(ub->in[i].msg_hdr));
			ub->in[i].msg_hdr.msg_iov = &ub->iin[i];
			ub->in[i].msg_hdr.msg_iovlen = 1;
			ub->in[i].msg_hdr.msg_name = &ub->from[i];
			ub->in[i].msg_hdr.msg_namelen = sizeof(ub->from[i]);
		}
		n = recvmmsg(ts->udp_fd, ub->in, TS_UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		for (int i = 0; i < n; i++) {
			struct netaddr from;
			struct buf *b = &ub->ob[m];

			if (netaddr_from_sockaddr(&from, (struct sockaddr *)&ub->from[i],
			    ub->in[i].msg_hdr.msg_namelen) == -1)
				continue;
			buf_reset(b);
			udp_packet(ts, ub->pkt[i], ub->in[i].msg_len, &from, b);
			if (b->len == 0)
				continue;
			ub->iout[m].iov_base = b->data;
			ub->iout[m].iov_len = b->len;
			memset(&ub->out[m].msg_hdr, 0, sizeof(ub->out[m].msg_hdr));
			ub->out[m].msg_hdr.msg_iov = &ub->iout[m];
			ub->out[m].msg_hdr.msg_iovlen = 1;
			ub->out[m].msg_hdr.msg_name = &ub->from[i];
			ub->out[m].msg_hdr.msg_namelen = ub->in[i].msg_hdr.msg_namelen;
			m++;
		}
		/* A full socket buffer drops the rest, as it would drop a lost datagram. */
		for (int sent = 0; sent < m; ) {
			int k = sendmmsg(ts->udp_fd, ub->out + sent, (unsigned)(m - sent),
			    MSG_DONTWAIT | MSG_NOSIGNAL);
			if (k <= 0) {
				if (k < 0 && errno == EINTR)
					continue;
				/* One bad address must not cost the answers after it. */
				sent++;
				continue;
			}
			sent += k;
		}
		if (n < TS_UDP_BATCH)
			return;
	}
}

/* --- HTTP --- */

static void
http_free(struct http_conn *c)
{
	struct tracker_server *ts = c->ts;
	struct http_conn **pp;

	for (pp = &ts->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	ts->nconns--;
	ev_io_stop(session_loop(ts->s), &c->io);
	ev_timer_stop(session_loop(ts->s), &c->idle);
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

static int
put_dec(struct buf *b, size_t v)
{
	char tmp[24];
	size_t n = sizeof(tmp);

	do {
		tmp[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	return buf_append(b, tmp + n, sizeof(tmp) - n);
}

/*
 * Head and body go into one buffer, so the answer leaves in one write. The
 * head is pieced together, not printf'd: vfprintf was 8% of the tracker's CPU
 * on keep-alive connections.
 */
static void
http_respond(struct http_conn *c, const char *status, const struct buf *body)
{
	struct buf *o = &c->out;

	if (buf_puts(o, "HTTP/1.1 ") == -1 || buf_puts(o, status) == -1 ||
	    buf_puts(o, "\r\nContent-Type: text/plain\r\nContent-Length: ") == -1 ||
	    put_dec(o, body->len) == -1 || buf_puts(o, c->close_after ?
	    "\r\nConnection: close\r\n\r\n" : "\r\n\r\n") == -1 ||
	    buf_append(o, body->data, body->len) == -1)
		c->dead = 1;
}

/* Handles one request whose head is p[0..len) (without the blank line). */
static void
http_request(struct http_conn *c, char *p, size_t len)
{
	struct tracker_server *ts = c->ts;
	struct tracker_msg_announce an;
	struct tracker_msg_scrape sc;
	uint8_t hashes[TRACKER_MSG_MAX_SCRAPE][20];
	char *eol, *sp, *q, err[160];
	const char *why = NULL;
	struct buf *body = &ts->body;
	size_t n;

	p[len] = '\0';
	eol = strstr(p, "\r\n");
	if (eol)
		*eol = '\0';
	/* HTTP/1.0 closes unless asked not to; 1.1 keeps alive unless asked to close. */
	c->close_after = strstr(p, "HTTP/1.1") == NULL;
	if (eol && strcasestr(eol + 2, "connection: close"))
		c->close_after = 1;
	buf_reset(body);
	if (strncmp(p, "GET /", 5) != 0 || (sp = strchr(p + 4, ' ')) == NULL) {
		c->close_after = 1;
		buf_puts(body, "bad request\n");
		http_respond(c, "400 Bad Request", body);
		return;
	}
	*sp = '\0';
	q = strchr(p + 4, '?');
	if (q)
		*q++ = '\0';
	if (strcmp(p + 4, "/announce") == 0) {
		if (tracker_msg_http_announce_parse(q ? q : "", q ? strlen(q) : 0, &an, err,
		    sizeof(err)) == -1)
			tracker_msg_http_failure_build(body, err);
		else if (do_announce(ts, &c->addr, &an, &ts->reply, &why) == -1)
			tracker_msg_http_failure_build(body, why);
		else
			tracker_msg_http_reply_build(body, &ts->reply);
	} else if (strcmp(p + 4, "/scrape") == 0) {
		if (tracker_msg_http_scrape_query_parse(q ? q : "", q ? strlen(q) : 0, hashes, &n,
		    err, sizeof(err)) == -1) {
			tracker_msg_http_failure_build(body, err);
		} else {
			do_scrape(ts, (const uint8_t (*)[20])hashes, n, &sc);
			tracker_msg_http_scrape_build(body, &sc);
		}
	} else {
		buf_puts(body, "not found: this tracker serves /announce and /scrape\n");
		http_respond(c, "404 Not Found", body);
		return;
	}
	http_respond(c, "200 OK", body);
}

/*
 * Answers every whole request in c->in (pipelined ones too, until an answer
 * says close or TS_HTTP_MAX_OUT is queued), so that one write carries them.
 */
static void
http_drain(struct http_conn *c)
{
	size_t off = 0;

	while (!c->dead && !c->close_after && c->out.len < TS_HTTP_MAX_OUT) {
		char *head = (char *)c->in.data + off, *end;
		end = memmem(head, c->in.len - off, "\r\n\r\n", 4);
		if (end == NULL)
			break;
		http_request(c, head, (size_t)(end - head));
		off += (size_t)(end - head) + 4;
	}
	buf_consume(&c->in, off);
}

static void
http_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct http_conn *c = w->data;
	int events;

	if (revents & EV_READ) {
		ssize_t n = -1;
		/* Room for the NUL http_request puts after a head. */
		if (buf_reserve(&c->in, 2048) == -1 && buf_reserve(&c->in, 1) == -1)
			c->dead = 1;	/* a request head over 8 KiB */
		else
			n = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			c->dead = 1;
		else if (n > 0)
			c->in.len += (size_t)n;
		if (!c->dead)
			http_drain(c);
		ev_timer_again(loop, &c->idle);
	}
	/* One write in the common case: the answers were built whole. */
	while (!c->dead && c->out.len > 0) {
		ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				c->dead = 1;
			break;
		}
		buf_consume(&c->out, (size_t)n);
		if (c->out.len == 0 && c->close_after)
			c->dead = 1;
		/* Room again: requests held back by TS_HTTP_MAX_OUT are answered now. */
		if (c->out.len == 0 && !c->dead && c->in.len > 0)
			http_drain(c);
	}
	if (c->dead) {
		http_free(c);
		return;
	}
	/* epoll_ctl costs a system call: only when what we wait for changes. */
	events = EV_READ | (c->out.len ? EV_WRITE : 0);
	if (events != c->events) {
		ev_io_stop(loop, &c->io);
		ev_io_set(&c->io, c->fd, events);
		ev_io_start(loop, &c->io);
		c->events = events;
	}
}

static void
http_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	http_free(w->data);
}

static void
tcp_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tracker_server *ts = w->data;

	(void)revents;
	for (int i = 0; i < 32; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct http_conn *c;
		int one = 1;
		int fd = accept4(ts->tcp_fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1)
			return;
		if (ts->nconns >= TS_MAX_HTTP || (c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		/* Answers go in one segment, without waiting on Nagle and delayed ACK. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->ts = ts;
		c->fd = fd;
		netaddr_from_sockaddr(&c->addr, (struct sockaddr *)&ss, sl);
		buf_init(&c->in, TS_HTTP_MAX_REQ);
		buf_init(&c->out, 0);
		ev_io_init(&c->io, http_cb, fd, EV_READ);
		c->events = EV_READ;
		c->io.data = c;
		ev_io_start(loop, &c->io);
		ev_timer_init(&c->idle, http_idle_cb, TS_HTTP_IDLE, TS_HTTP_IDLE);
		c->idle.data = c;
		ev_timer_again(loop, &c->idle);
		c->next = ts->conns;
		ts->conns = c;
		ts->nconns++;
	}
}

/* --- set-up --- */

static int
bind_socket(const struct netaddr *a, int type, char *err, size_t errlen)
{
	int fd = socket(netaddr_family(a), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	char as[NETADDR_STRLEN];

	if (fd == -1) {
		snprintf(err, errlen, "tracker: socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (netaddr_family(a) == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1 ||
	    (type == SOCK_STREAM && listen(fd, 128) == -1)) {
		snprintf(err, errlen, "cannot serve the tracker on %s (%s): %s",
		    netaddr_format(a, as, sizeof(as)), type == SOCK_STREAM ? "TCP" : "UDP",
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct tracker_server *
tracker_server_new(struct session *s, const char *addr, char *err, size_t errlen)
{
	struct tracker_server *ts = calloc(1, sizeof(*ts));
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct ev_loop *loop = session_loop(s);
	char as[NETADDR_STRLEN];

	if (ts == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ts->s = s;
	ts->tcp_fd = ts->udp_fd = -1;
	buf_init(&ts->body, TRACKER_MSG_MAX_BODY);
	ts->swarm_cap = 64;
	if ((ts->swarms = calloc(ts->swarm_cap, sizeof(*ts->swarms))) == NULL ||
	    (ts->ub = calloc(1, sizeof(*ts->ub))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (int i = 0; i < TS_UDP_BATCH; i++)
		buf_init(&ts->ub->ob[i], TS_UDP_MAX_OUT);
	if (netaddr_parse(addr, &ts->addr, err, errlen) == -1 ||
	    (ts->tcp_fd = bind_socket(&ts->addr, SOCK_STREAM, err, errlen)) == -1)
		goto fail;
	/* Port 0: UDP takes the port TCP was given, so one address serves both. */
	if (getsockname(ts->tcp_fd, (struct sockaddr *)&ss, &sl) == 0)
		netaddr_from_sockaddr(&ts->addr, (struct sockaddr *)&ss, sl);
	if ((ts->udp_fd = bind_socket(&ts->addr, SOCK_DGRAM, err, errlen)) == -1)
		goto fail;
	sha_random(ts->secret, sizeof(ts->secret));
	sha_random(ts->hkey, sizeof(ts->hkey));
	sha_random(&ts->rnd, sizeof(ts->rnd));
	ts->rnd |= 1;	/* xorshift must not start at 0 */
	ev_io_init(&ts->tcp_io, tcp_accept_cb, ts->tcp_fd, EV_READ);
	ts->tcp_io.data = ts;
	ev_io_start(loop, &ts->tcp_io);
	ev_io_init(&ts->udp_io, udp_cb, ts->udp_fd, EV_READ);
	ts->udp_io.data = ts;
	ev_io_start(loop, &ts->udp_io);
	ev_timer_init(&ts->sweep, sweep_cb, 30., 30.);
	ts->sweep.data = ts;
	ev_timer_start(loop, &ts->sweep);
	log_info("tracker: serving http://%s/announce and udp://%s",
	    netaddr_format(&ts->addr, as, sizeof(as)), as);
	return ts;
fail:
	tracker_server_free(ts);
	return NULL;
}

void
tracker_server_free(struct tracker_server *ts)
{
	struct ev_loop *loop;

	if (ts == NULL)
		return;
	loop = session_loop(ts->s);
	while (ts->conns)
		http_free(ts->conns);
	ev_io_stop(loop, &ts->tcp_io);
	ev_io_stop(loop, &ts->udp_io);
	ev_timer_stop(loop, &ts->sweep);
	if (ts->tcp_fd != -1)
		close(ts->tcp_fd);
	if (ts->udp_fd != -1)
		close(ts->udp_fd);
	for (size_t b = 0; ts->swarms && b < ts->swarm_cap; b++)
		if (ts->swarms[b])
			swarm_free(ts->swarms[b]);
	free(ts->swarms);
	if (ts->ub)
		for (int i = 0; i < TS_UDP_BATCH; i++)
			buf_free(&ts->ub->ob[i]);
	free(ts->ub);
	buf_free(&ts->body);
	free(ts);
}

json_t *
tracker_server_json(const struct tracker_server *ts)
{
	char as[NETADDR_STRLEN];

	return json_pack("{s:s, s:I, s:I, s:I}", "listen",
	    netaddr_format(&ts->addr, as, sizeof(as)), "swarms", (json_int_t)ts->nswarms,
	    "peers", (json_int_t)ts->npeers, "announces", (json_int_t)ts->announces);
}
