/* dht.c: a BEP 5 DHT node (routing table, lookups, peer store, tokens); no I/O of its own. */
#include "dht.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "buf.h"
#include "log.h"
#include "netaddr.h"
#include "ratelimit.h"
#include "sha.h"

#define K 8			/* bucket size and replication factor (BEP 5) */
#define NBUCKETS 160		/* one per shared-prefix length with our id */
#define MAX_PENDING 1024	/* queries awaiting an answer */
#define MAX_SEARCHES 64		/* lookups at once */
#define SEARCH_NODES 24		/* candidates a lookup keeps, closest first */
#define ALPHA 4			/* queries in flight per lookup */
#define QUERY_TIMEOUT 2.0
#define SEARCH_TIMEOUT 30.0
#define QUESTIONABLE 900.0	/* BEP 5: 15 minutes without a sign of life */
#define BAD_FAILS 3		/* unanswered queries in a row before a node is dropped */
#define REPING_AFTER 60.0	/* do not ping the same unverified node more often */
#define TOKEN_ROTATE 300.0	/* BEP 5: tokens up to ten minutes old are accepted */
#define TOKEN_LEN 8
#define SECRET_LEN 16
#define STORE_HASHES 512	/* info-hashes we store peers for */
#define STORE_PEERS 100		/* peers kept per info-hash */
#define STORE_TTL 1800.0	/* announces last 30 minutes */
#define STORE_VALUES 50		/* peers in one get_peers reply */
#define RATE_SLOTS 1024		/* per-address query limiter, hashed */
#define RATE_PER_SEC 5.0	/* queries per second per address (libtorrent's figure) */
#define RATE_BURST 10.0
#define HISTORY 16384		/* when each recent lookup started: more than max torrents */
#define HISTORY_PROBES 8
#define AMPLIFY 4		/* replies to unverified addresses stay within 4x the query */
#define SELF_LOOKUP_SPARSE 15.0	/* table below K nodes: look ourselves up this often */
#define SELF_LOOKUP_FULL 900.0
#define MAINT_PINGS 4		/* questionable nodes pinged per tick */
#define REFRESH 900.0		/* BEP 5: refresh a bucket not looked into for 15 minutes */

static const uint8_t dht_version[4] = { 'P', 'D', 0, 1 };

struct dnode {
	uint8_t id[KRPC_ID_LEN];
	struct netaddr addr;
	double last_reply;	/* 0: never answered us (unverified) */
	double last_heard;
	double pinged_at;
	int fails;		/* queries unanswered in a row */
};

struct bucket {
	struct dnode n[K];
	int count;
};

struct pending {
	int used;
	uint16_t cookie;
	enum krpc_method method;
	struct netaddr to;
	double sent;
	int search;		/* index into searches, or -1 */
	uint32_t gen;		/* the search's generation when sent */
};

enum cand_state { C_NEW, C_ASKED, C_REPLIED, C_FAILED };

struct cand {
	uint8_t id[KRPC_ID_LEN];
	struct netaddr addr;
	enum cand_state state;
	uint8_t token[KRPC_MAX_TOKEN];
	size_t token_len;
};

struct search {
	int used;
	uint32_t gen;
	uint8_t target[KRPC_ID_LEN];
	int fam;		/* 0 IPv4, 1 IPv6 */
	int get_peers;		/* else find_node */
	uint16_t port;		/* announce this port at the end; 0: do not */
	double started;
	int inflight;
	struct cand c[SEARCH_NODES];
	int n;
	size_t peers;
};

struct speer {
	uint8_t c[18];		/* compact address */
	uint8_t clen;
	double at;
};

struct sentry {
	uint8_t ih[KRPC_ID_LEN];
	struct speer p[STORE_PEERS];
	int n;
};


struct history {
	uint8_t target[KRPC_ID_LEN];
	int fam;
	double at;
};

struct dht_stats {
	uint64_t packets_in, packets_out, bytes_in, bytes_out;
	uint64_t queries_in, replies_in, errors_in, queries_out, timeouts;
	uint64_t malformed, rate_limited, unexpected, send_full;
	uint64_t peers_found, announces_in, lookups;
};

struct dht {
	uint8_t id[KRPC_ID_LEN];
	unsigned families;
	struct dht_cb cb;
	struct bucket table[2][NBUCKETS];
	struct pending pending[MAX_PENDING];
	size_t pending_next;
	struct search searches[MAX_SEARCHES];
	uint32_t search_gen;
	struct sentry *store[STORE_HASHES];
	struct addr_bucket rate[RATE_SLOTS];
	struct history history[HISTORY];
	uint8_t secret[SECRET_LEN], old_secret[SECRET_LEN];
	double secret_at;
	double last_store_expiry;
	double self_lookup[2];
	double refreshed[2][NBUCKETS];
	struct dht_stats st;
	struct krpc_msg msg;	/* 20 KiB: kept here rather than on the stack */
	struct buf out;
};

static int
fam_of(const struct netaddr *a)
{
	return netaddr_family(a) == AF_INET6 ? 1 : 0;
}

static int
fam_served(const struct dht *d, int fam)
{
	return (d->families & (fam ? DHT_IPV6 : DHT_IPV4)) != 0;
}

/* --- routing table --- */

static struct bucket *
bucket_for(struct dht *d, int fam, const uint8_t id[KRPC_ID_LEN])
{
	int i = krpc_id_prefix_len(d->id, id);

	return &d->table[fam][i >= NBUCKETS ? NBUCKETS - 1 : i];
}

static void
bucket_remove(struct bucket *b, int i)
{
	b->n[i] = b->n[b->count - 1];
	b->count--;
}

static struct dnode *
table_find_addr(struct dht *d, const struct netaddr *a)
{
	int fam = fam_of(a);

	for (int i = 0; i < NBUCKETS; i++)
		for (int j = 0; j < d->table[fam][i].count; j++)
			if (netaddr_equal(&d->table[fam][i].n[j].addr, a))
				return &d->table[fam][i].n[j];
	return NULL;
}

/* A node whose id and address match one that answered us: it may get full-size replies. */
static int
table_verified(struct dht *d, const uint8_t id[KRPC_ID_LEN], const struct netaddr *a)
{
	struct bucket *b = bucket_for(d, fam_of(a), id);

	for (int i = 0; i < b->count; i++)
		if (netaddr_equal(&b->n[i].addr, a) && b->n[i].last_reply > 0)
			return 1;
	return 0;
}

static void send_ping(struct dht *d, const struct netaddr *to, double now);
static size_t store_values(struct dht *d, const uint8_t ih[KRPC_ID_LEN], int fam,
    struct netaddr *out, size_t max);

/*
 * We heard from a node. replied: it answered one of our queries, which
 * proves the address is real; a node that only queried us is kept as
 * unverified and pinged once. Nodes named in other nodes' replies never
 * come here until they answer themselves, so nobody can fill our table with
 * addresses of their choosing.
 */
static void
table_heard(struct dht *d, const uint8_t id[KRPC_ID_LEN], const struct netaddr *a,
    int replied, double now)
{
	int fam = fam_of(a);
	struct bucket *b;
	struct dnode *n;

	if (!fam_served(d, fam) || memcmp(id, d->id, KRPC_ID_LEN) == 0 || netaddr_port(a) == 0)
		return;
	b = bucket_for(d, fam, id);
	for (int i = 0; i < b->count; i++) {
		n = &b->n[i];
		if (memcmp(n->id, id, KRPC_ID_LEN) != 0)
			continue;
		/* Same id from elsewhere: keep the node we know unless it went bad. */
		if (!netaddr_equal(&n->addr, a)) {
			if (n->fails < BAD_FAILS && n->last_reply > 0)
				return;
			n->addr = *a;
			n->last_reply = 0;
		}
		n->last_heard = now;
		if (replied) {
			n->last_reply = now;
			n->fails = 0;
		}
		return;
	}
	if (b->count == K) {
		int victim = -1;

		/* A dead node gives way to anyone; a never-verified one to a verified one. */
		for (int i = 0; i < K && victim == -1; i++)
			if (b->n[i].fails >= BAD_FAILS)
				victim = i;
		for (int i = 0; i < K && victim == -1 && replied; i++)
			if (b->n[i].last_reply == 0)
				victim = i;
		if (victim == -1) {
			/* Full of live nodes: make sure the stalest still answers (BEP 5). */
			int old = 0;

			for (int i = 1; i < K; i++)
				if (b->n[i].last_heard < b->n[old].last_heard)
					old = i;
			if (now - b->n[old].last_heard > QUESTIONABLE &&
			    now - b->n[old].pinged_at > REPING_AFTER) {
				b->n[old].pinged_at = now;
				send_ping(d, &b->n[old].addr, now);
			}
			return;
		}
		bucket_remove(b, victim);
	}
	n = &b->n[b->count++];
	memset(n, 0, sizeof(*n));
	memcpy(n->id, id, KRPC_ID_LEN);
	n->addr = *a;
	n->last_heard = now;
	if (replied)
		n->last_reply = now;
	else {
		n->pinged_at = now;
		send_ping(d, a, now);
	}
}

static void
table_failed(struct dht *d, const struct netaddr *a)
{
	struct dnode *n = table_find_addr(d, a);
	struct bucket *b;

	if (n == NULL || ++n->fails < BAD_FAILS)
		return;
	b = bucket_for(d, fam_of(a), n->id);
	bucket_remove(b, (int)(n - b->n));
}

/* The K nodes of the table closest to target, closest first; returns the count. */
static size_t
table_closest(struct dht *d, int fam, const uint8_t target[KRPC_ID_LEN], struct krpc_node *out)
{
	size_t n = 0;

	for (int i = 0; i < NBUCKETS; i++) {
		for (int j = 0; j < d->table[fam][i].count; j++) {
			const struct dnode *dn = &d->table[fam][i].n[j];
			size_t at;

			if (dn->fails >= BAD_FAILS)
				continue;
			for (at = n; at > 0 && krpc_id_closer(target, dn->id, out[at - 1].id) < 0; at--)
				;
			if (at >= K)
				continue;
			if (n < K)
				n++;
			memmove(&out[at + 1], &out[at], (n - 1 - at) * sizeof(out[0]));
			memcpy(out[at].id, dn->id, KRPC_ID_LEN);
			out[at].addr = dn->addr;
		}
	}
	return n;
}

/* --- sending --- */

static void
emit(struct dht *d, const struct netaddr *to)
{
	d->st.packets_out++;
	d->st.bytes_out += d->out.len;
	d->cb.send(d->cb.ctx, to, d->out.data, d->out.len);
}

/* Registers a query; fills the 4-byte transaction id. -1 when too many are pending. */
static int
pending_add(struct dht *d, const struct netaddr *to, enum krpc_method method, int search,
    double now, uint8_t tid[4])
{
	for (size_t k = 0; k < MAX_PENDING; k++) {
		size_t i = (d->pending_next + k) % MAX_PENDING;
		struct pending *p = &d->pending[i];

		if (p->used)
			continue;
		p->used = 1;
		if (sha_random(&p->cookie, sizeof(p->cookie)) == -1)
			p->cookie = (uint16_t)(i * 7919u + (unsigned)now);
		p->method = method;
		p->to = *to;
		p->sent = now;
		p->search = search;
		p->gen = search >= 0 ? d->searches[search].gen : 0;
		tid[0] = (uint8_t)(i >> 8);
		tid[1] = (uint8_t)i;
		tid[2] = (uint8_t)(p->cookie >> 8);
		tid[3] = (uint8_t)p->cookie;
		d->pending_next = (i + 1) % MAX_PENDING;
		return (int)i;
	}
	d->st.send_full++;
	return -1;
}

static int
send_query(struct dht *d, const struct netaddr *to, enum krpc_method method,
    const uint8_t *target, int search, const uint8_t *token, size_t token_len,
    uint16_t port, double now)
{
	uint8_t tid[4];
	int slot = pending_add(d, to, method, search, now, tid);
	struct krpc_head h = { tid, sizeof(tid), dht_version, sizeof(dht_version), NULL };
	unsigned want = fam_of(to) ? KRPC_WANT_N6 : KRPC_WANT_N4;
	int rc = -1;

	if (slot == -1)
		return -1;
	buf_reset(&d->out);
	switch (method) {
	case KRPC_PING:
		rc = krpc_put_ping(&d->out, &h, d->id);
		break;
	case KRPC_FIND_NODE:
		rc = krpc_put_find_node(&d->out, &h, d->id, target, want);
		break;
	case KRPC_GET_PEERS:
		rc = krpc_put_get_peers(&d->out, &h, d->id, target, want);
		break;
	case KRPC_ANNOUNCE_PEER:
		rc = krpc_put_announce_peer(&d->out, &h, d->id, target, port, 0, token, token_len);
		break;
	default:
		break;
	}
	if (rc == -1) {
		d->pending[slot].used = 0;
		return -1;
	}
	d->st.queries_out++;
	emit(d, to);
	return 0;
}

static void
send_ping(struct dht *d, const struct netaddr *to, double now)
{
	send_query(d, to, KRPC_PING, NULL, -1, NULL, 0, 0, now);
}

/* --- lookups --- */

static int
search_add(struct search *s, const uint8_t *self, const uint8_t id[KRPC_ID_LEN],
    const struct netaddr *a)
{
	int at;

	if (fam_of(a) != s->fam || memcmp(id, self, KRPC_ID_LEN) == 0 || netaddr_port(a) == 0)
		return 0;
	for (int i = 0; i < s->n; i++)
		if (memcmp(s->c[i].id, id, KRPC_ID_LEN) == 0 || netaddr_equal(&s->c[i].addr, a))
			return 0;
	for (at = s->n; at > 0 && krpc_id_closer(s->target, id, s->c[at - 1].id) < 0; at--)
		;
	if (at >= SEARCH_NODES)
		return 0;
	if (s->n < SEARCH_NODES)
		s->n++;
	memmove(&s->c[at + 1], &s->c[at], (size_t)(s->n - 1 - at) * sizeof(s->c[0]));
	memset(&s->c[at], 0, sizeof(s->c[at]));
	memcpy(s->c[at].id, id, KRPC_ID_LEN);
	s->c[at].addr = *a;
	s->c[at].state = C_NEW;
	return 1;
}

/*
 * When each recent lookup started, hashed on its target (ids are uniform) and
 * probed a few slots: the daemon asks about every torrent every second, so this
 * must not cost a scan. A full neighbourhood gives up its oldest entry.
 */
static struct history *
history_slot(struct dht *d, const uint8_t target[KRPC_ID_LEN], int fam, int create)
{
	uint32_t h = ((uint32_t)target[0] << 24 | (uint32_t)target[1] << 16 |
	    (uint32_t)target[2] << 8 | target[3]) ^ (uint32_t)fam;
	struct history *oldest = NULL;

	for (int k = 0; k < HISTORY_PROBES; k++) {
		struct history *e = &d->history[(h + (uint32_t)k) % HISTORY];

		if (e->at > 0 && e->fam == fam && memcmp(e->target, target, KRPC_ID_LEN) == 0)
			return e;
		if (oldest == NULL || e->at < oldest->at)
			oldest = e;
	}
	return create ? oldest : NULL;
}

static struct history *
history_find(struct dht *d, const uint8_t target[KRPC_ID_LEN], int fam)
{
	return history_slot(d, target, fam, 0);
}

static void
history_note(struct dht *d, const uint8_t target[KRPC_ID_LEN], int fam, double now)
{
	struct history *h = history_slot(d, target, fam, 1);

	memcpy(h->target, target, KRPC_ID_LEN);
	h->fam = fam;
	h->at = now;
}

/* BEP 5: at the end of a get_peers lookup, announce to the closest nodes that gave a token. */
static void
search_finish(struct dht *d, struct search *s, double now)
{
	int done = 0;

	for (int i = 0; i < s->n && done < K && s->port != 0; i++) {
		if (s->c[i].state != C_REPLIED || s->c[i].token_len == 0)
			continue;
		send_query(d, &s->c[i].addr, KRPC_ANNOUNCE_PEER, s->target, -1, s->c[i].token,
		    s->c[i].token_len, s->port, now);
		done++;
	}
	log_debug("dht: lookup done after %.2f s, %zu peers, announced to %d nodes",
	    now - s->started, s->peers, done);
	s->used = 0;
}

static void
search_step(struct dht *d, struct search *s, double now)
{
	int considered = 0, waiting = 0;

	for (int i = 0; i < s->n && considered < K; i++) {
		struct cand *c = &s->c[i];
		int idx = (int)(s - d->searches);

		if (c->state == C_FAILED)
			continue;
		considered++;
		if (c->state == C_REPLIED)
			continue;
		waiting++;
		if (c->state != C_NEW || s->inflight >= ALPHA)
			continue;
		if (send_query(d, &c->addr, s->get_peers ? KRPC_GET_PEERS : KRPC_FIND_NODE,
		    s->target, idx, NULL, 0, 0, now) == -1)
			continue;
		c->state = C_ASKED;
		s->inflight++;
	}
	/* Done when the K closest live candidates all answered, or nothing is left to ask. */
	if (waiting == 0 || (s->inflight == 0) || now - s->started > SEARCH_TIMEOUT)
		search_finish(d, s, now);
}

static int
search_start(struct dht *d, int fam, const uint8_t target[KRPC_ID_LEN], int get_peers,
    uint16_t port, double now)
{
	struct krpc_node seed[K];
	struct search *s = NULL;
	size_t n = table_closest(d, fam, target, seed);

	if (n == 0)
		return -1;
	for (int i = 0; i < MAX_SEARCHES && s == NULL; i++)
		if (!d->searches[i].used)
			s = &d->searches[i];
	if (s == NULL)
		return -1;
	memset(s, 0, sizeof(*s));
	s->used = 1;
	s->gen = ++d->search_gen;
	memcpy(s->target, target, KRPC_ID_LEN);
	s->fam = fam;
	s->get_peers = get_peers;
	s->port = port;
	s->started = now;
	for (size_t i = 0; i < n; i++)
		search_add(s, d->id, seed[i].id, &seed[i].addr);
	history_note(d, target, fam, now);
	/* We may be one of the nodes closest to it: peers announced to us count too. */
	if (get_peers) {
		struct netaddr local[STORE_VALUES];
		size_t nl = store_values(d, target, fam, local, STORE_VALUES);

		for (size_t i = 0; i < nl; i++) {
			s->peers++;
			d->st.peers_found++;
			d->cb.peer(d->cb.ctx, target, &local[i]);
		}
	}
	d->st.lookups++;
	search_step(d, s, now);
	return 1;
}

static struct search *
search_running(struct dht *d, const uint8_t target[KRPC_ID_LEN], int fam)
{
	for (int i = 0; i < MAX_SEARCHES; i++)
		if (d->searches[i].used && d->searches[i].fam == fam &&
		    memcmp(d->searches[i].target, target, KRPC_ID_LEN) == 0)
			return &d->searches[i];
	return NULL;
}

int
dht_search(struct dht *d, const uint8_t info_hash[KRPC_ID_LEN], uint16_t port,
    double min_interval, double now)
{
	int started = 0, busy = 0;

	for (int fam = 0; fam < 2; fam++) {
		struct history *h;

		if (!fam_served(d, fam))
			continue;
		h = history_find(d, info_hash, fam);
		if (search_running(d, info_hash, fam) != NULL ||
		    (h != NULL && now - h->at < min_interval)) {
			busy = 1;
			continue;
		}
		if (search_start(d, fam, info_hash, 1, port, now) == 1)
			started = 1;
	}
	return started ? 1 : busy ? 0 : -1;
}

static struct cand *
search_cand(struct search *s, const struct netaddr *a)
{
	for (int i = 0; i < s->n; i++)
		if (netaddr_equal(&s->c[i].addr, a))
			return &s->c[i];
	return NULL;
}

/* An answer (or silence: m NULL) from a candidate of a running lookup. */
static void
search_answer(struct dht *d, const struct pending *p, const struct krpc_msg *m, double now)
{
	struct search *s;
	struct cand *c;

	if (p->search < 0 || p->search >= MAX_SEARCHES)
		return;
	s = &d->searches[p->search];
	if (!s->used || s->gen != p->gen)
		return;
	s->inflight--;
	if ((c = search_cand(s, &p->to)) != NULL) {
		c->state = m != NULL && m->type == KRPC_RESPONSE ? C_REPLIED : C_FAILED;
		if (m != NULL && (m->has & KRPC_HAS_TOKEN) && m->token_len <= KRPC_MAX_TOKEN) {
			memcpy(c->token, m->token, m->token_len);
			c->token_len = m->token_len;
		}
	}
	if (m != NULL && m->type == KRPC_RESPONSE) {
		const struct krpc_node *nodes = s->fam ? m->nodes6 : m->nodes;
		size_t nn = s->fam ? m->nnodes6 : m->nnodes;

		for (size_t i = 0; i < nn; i++)
			search_add(s, d->id, nodes[i].id, &nodes[i].addr);
		for (size_t i = 0; s->get_peers && i < m->nvalues; i++) {
			if (netaddr_port(&m->values[i]) == 0)
				continue;
			s->peers++;
			d->st.peers_found++;
			d->cb.peer(d->cb.ctx, s->target, &m->values[i]);
		}
	}
	search_step(d, s, now);
}

/* --- the peer store --- */

static struct sentry *
store_find(struct dht *d, const uint8_t ih[KRPC_ID_LEN], int create)
{
	int free_slot = -1;

	for (int i = 0; i < STORE_HASHES; i++) {
		if (d->store[i] == NULL) {
			if (free_slot == -1)
				free_slot = i;
			continue;
		}
		if (memcmp(d->store[i]->ih, ih, KRPC_ID_LEN) == 0)
			return d->store[i];
	}
	if (!create || free_slot == -1)
		return NULL;
	if ((d->store[free_slot] = calloc(1, sizeof(struct sentry))) == NULL)
		return NULL;
	memcpy(d->store[free_slot]->ih, ih, KRPC_ID_LEN);
	return d->store[free_slot];
}

static void
store_put(struct dht *d, const uint8_t ih[KRPC_ID_LEN], const struct netaddr *a, double now)
{
	struct sentry *e = store_find(d, ih, 1);
	struct speer sp;
	int oldest = 0;
	int len;

	if (e == NULL)
		return;
	memset(&sp, 0, sizeof(sp));
	if ((len = netaddr_to_compact(a, sp.c, sizeof(sp.c))) <= 0)
		return;
	sp.clen = (uint8_t)len;
	sp.at = now;
	for (int i = 0; i < e->n; i++) {
		if (e->p[i].clen == sp.clen && memcmp(e->p[i].c, sp.c, sp.clen) == 0) {
			e->p[i].at = now;
			return;
		}
		if (e->p[i].at < e->p[oldest].at)
			oldest = i;
	}
	if (e->n < STORE_PEERS)
		e->p[e->n++] = sp;
	else
		e->p[oldest] = sp;
}

static void
store_expire(struct dht *d, double now)
{
	for (int i = 0; i < STORE_HASHES; i++) {
		struct sentry *e = d->store[i];

		if (e == NULL)
			continue;
		for (int j = 0; j < e->n;)
			if (now - e->p[j].at > STORE_TTL)
				e->p[j] = e->p[--e->n];
			else
				j++;
		if (e->n == 0) {
			free(e);
			d->store[i] = NULL;
		}
	}
}

static size_t
store_values(struct dht *d, const uint8_t ih[KRPC_ID_LEN], int fam, struct netaddr *out,
    size_t max)
{
	struct sentry *e = store_find(d, ih, 0);
	size_t n = 0;

	for (int i = 0; e != NULL && i < e->n && n < max; i++)
		if (netaddr_from_compact(&out[n], e->p[i].c, e->p[i].clen) == 0 &&
		    fam_of(&out[n]) == fam)
			n++;
	return n;
}

/* --- tokens (BEP 5): a hash of the asker's IP and a secret that changes every 5 minutes --- */

static void
token_make(const uint8_t secret[SECRET_LEN], const struct netaddr *a, uint8_t out[TOKEN_LEN])
{
	uint8_t in[SECRET_LEN + 18], md[SHA1_LEN];	/* the compact form has the port too */
	int len = netaddr_to_compact(a, in + SECRET_LEN, 18);
	size_t iplen = len == 18 ? 16 : 4;	/* the IP only: a token outlives the source port */

	memcpy(in, secret, SECRET_LEN);
	sha1(in, SECRET_LEN + iplen, md);
	memcpy(out, md, TOKEN_LEN);
}

static int
token_ok(struct dht *d, const struct netaddr *a, const uint8_t *tok, size_t len)
{
	uint8_t want[TOKEN_LEN];

	if (len != TOKEN_LEN)
		return 0;
	token_make(d->secret, a, want);
	if (memcmp(want, tok, TOKEN_LEN) == 0)
		return 1;
	token_make(d->old_secret, a, want);
	return memcmp(want, tok, TOKEN_LEN) == 0;
}

static void
secret_rotate(struct dht *d, double now)
{
	memcpy(d->old_secret, d->secret, SECRET_LEN);
	if (sha_random(d->secret, SECRET_LEN) == -1)
		log_warnx("dht: no randomness for the token secret; keeping the old one");
	d->secret_at = now;
}

/* --- answering queries --- */

static int
query_allowed(struct dht *d, const struct netaddr *from, double now)
{
	return ratelimit_addr_allow(d->rate, RATE_SLOTS, from, RATE_PER_SEC, RATE_BURST, now);
}

static void
reply_error(struct dht *d, const struct netaddr *to, const struct krpc_msg *m, int code,
    const char *why)
{
	struct krpc_head h = { m->tid, m->tid_len, dht_version, sizeof(dht_version), NULL };

	buf_reset(&d->out);
	if (krpc_put_error(&d->out, &h, code, why) == 0)
		emit(d, to);
}

/* Builds a find_node or get_peers reply that fits in limit bytes, dropping peers, then nodes. */
static int
build_reply(struct dht *d, const struct krpc_msg *m, const struct krpc_head *h,
    const struct netaddr *from, size_t limit)
{
	const uint8_t *target = m->method == KRPC_FIND_NODE ? m->target : m->info_hash;
	unsigned want = m->want ? m->want : fam_of(from) ? KRPC_WANT_N6 : KRPC_WANT_N4;
	struct krpc_node n4[K], n6[K];
	struct netaddr values[STORE_VALUES];
	struct krpc_closest c = { NULL, 0, NULL, 0 };
	size_t nv = 0;
	uint8_t token[TOKEN_LEN];

	if ((want & KRPC_WANT_N4) && fam_served(d, 0)) {
		c.v4 = n4;
		c.n4 = table_closest(d, 0, target, n4);
	}
	if ((want & KRPC_WANT_N6) && fam_served(d, 1)) {
		c.v6 = n6;
		c.n6 = table_closest(d, 1, target, n6);
	}
	if (m->method == KRPC_GET_PEERS) {
		nv = store_values(d, m->info_hash, fam_of(from), values, STORE_VALUES);
		token_make(d->secret, from, token);
	}
	for (;;) {
		int rc;

		buf_reset(&d->out);
		if (m->method == KRPC_FIND_NODE)
			rc = krpc_put_reply_find_node(&d->out, h, d->id, &c);
		else
			rc = krpc_put_reply_get_peers(&d->out, h, d->id, token, TOKEN_LEN,
			    nv > 0 ? values : NULL, nv, &c);
		if (rc == 0 && d->out.len <= limit)
			return 0;
		/* Too big for an unverified asker: trim and try again (bounded). */
		if (nv > 0)
			nv = nv / 2;
		else if (c.n6 > 1)
			c.n6 /= 2;
		else if (c.n4 > 1)
			c.n4 /= 2;
		else
			return -1;
	}
}

static void
answer_query(struct dht *d, const struct netaddr *from, const struct krpc_msg *m, size_t qlen,
    double now)
{
	struct krpc_head h = { m->tid, m->tid_len, dht_version, sizeof(dht_version), from };
	size_t limit = table_verified(d, m->id, from) ? KRPC_MAX_MSG : AMPLIFY * qlen;
	struct netaddr peer;

	switch (m->method) {
	case KRPC_PING:
		buf_reset(&d->out);
		if (krpc_put_reply_id(&d->out, &h, d->id) == 0 && d->out.len <= limit)
			emit(d, from);
		break;
	case KRPC_FIND_NODE:
	case KRPC_GET_PEERS:
		if (build_reply(d, m, &h, from, limit) == 0)
			emit(d, from);
		break;
	case KRPC_ANNOUNCE_PEER:
		if (!token_ok(d, from, m->token, m->token_len)) {
			reply_error(d, from, m, KRPC_ERR_PROTOCOL, "bad token");
			return;
		}
		peer = *from;
		if (!m->implied_port)
			netaddr_set_port(&peer, m->port);
		if (netaddr_port(&peer) == 0) {
			reply_error(d, from, m, KRPC_ERR_PROTOCOL, "port 0");
			return;
		}
		store_put(d, m->info_hash, &peer, now);
		d->st.announces_in++;
		buf_reset(&d->out);
		if (krpc_put_reply_id(&d->out, &h, d->id) == 0)
			emit(d, from);
		break;
	default:
		reply_error(d, from, m, KRPC_ERR_METHOD, "method unknown");
		return;
	}
	table_heard(d, m->id, from, 0, now);
}

/* --- input --- */

static struct pending *
pending_match(struct dht *d, const struct krpc_msg *m, const struct netaddr *from)
{
	size_t slot;
	struct pending *p;

	if (m->tid_len != 4)
		return NULL;
	slot = (size_t)m->tid[0] << 8 | m->tid[1];
	if (slot >= MAX_PENDING)
		return NULL;
	p = &d->pending[slot];
	/* Only the address we asked may answer: a forged reply would need the cookie and source. */
	if (!p->used || p->cookie != ((uint16_t)(m->tid[2] << 8 | m->tid[3])) ||
	    !netaddr_equal(&p->to, from))
		return NULL;
	return p;
}

void
dht_input(struct dht *d, const struct netaddr *from, const uint8_t *p, size_t len, double now)
{
	struct krpc_msg *m = &d->msg;
	struct pending *pd, copy;
	char err[128];

	d->st.packets_in++;
	d->st.bytes_in += len;
	if (!fam_served(d, fam_of(from)) || netaddr_port(from) == 0)
		return;
	if (krpc_parse(p, len, m, err, sizeof(err)) == -1) {
		d->st.malformed++;
		log_debug("dht: dropped a datagram: %s", err);
		/* A query we could not read still gets an error, so honest nodes learn why. */
		if (m->type == KRPC_QUERY && m->tid_len > 0 && query_allowed(d, from, now))
			reply_error(d, from, m, KRPC_ERR_PROTOCOL, "malformed query");
		return;
	}
	if (m->type == KRPC_QUERY) {
		if (!query_allowed(d, from, now)) {
			d->st.rate_limited++;
			return;
		}
		d->st.queries_in++;
		answer_query(d, from, m, len, now);
		return;
	}
	if ((pd = pending_match(d, m, from)) == NULL) {
		d->st.unexpected++;
		return;
	}
	copy = *pd;
	pd->used = 0;
	if (m->type == KRPC_ERROR) {
		d->st.errors_in++;
		log_debug("dht: error %d from a node: %s", m->code, m->message);
		table_failed(d, from);
		search_answer(d, &copy, NULL, now);
		return;
	}
	d->st.replies_in++;
	table_heard(d, m->id, from, 1, now);
	search_answer(d, &copy, m, now);
}

void
dht_ping(struct dht *d, const struct netaddr *a, double now)
{
	if (!fam_served(d, fam_of(a)) || netaddr_port(a) == 0 || table_find_addr(d, a) != NULL)
		return;
	send_ping(d, a, now);
}

/* --- upkeep --- */

static void
expire_pending(struct dht *d, double now)
{
	for (size_t i = 0; i < MAX_PENDING; i++) {
		struct pending *p = &d->pending[i], copy;

		if (!p->used || now - p->sent < QUERY_TIMEOUT)
			continue;
		copy = *p;
		p->used = 0;
		d->st.timeouts++;
		table_failed(d, &copy.to);
		search_answer(d, &copy, NULL, now);
	}
}

/* Pings a few nodes that have been quiet for 15 minutes, so dead ones leave the table. */
static void
ping_questionable(struct dht *d, double now)
{
	int sent = 0;

	for (int fam = 0; fam < 2; fam++)
		for (int i = 0; i < NBUCKETS && sent < MAINT_PINGS; i++)
			for (int j = 0; j < d->table[fam][i].count && sent < MAINT_PINGS; j++) {
				struct dnode *n = &d->table[fam][i].n[j];

				if (now - n->last_heard < QUESTIONABLE ||
				    now - n->pinged_at < REPING_AFTER)
					continue;
				n->pinged_at = now;
				send_ping(d, &n->addr, now);
				sent++;
			}
}

static size_t
table_count(const struct dht *d, int fam, size_t *good, double now)
{
	size_t n = 0, g = 0;

	for (int i = 0; i < NBUCKETS; i++)
		for (int j = 0; j < d->table[fam][i].count; j++) {
			const struct dnode *dn = &d->table[fam][i].n[j];

			n++;
			if (dn->last_reply > 0 && now - dn->last_reply < QUESTIONABLE)
				g++;
		}
	if (good != NULL)
		*good = g;
	return n;
}

/*
 * Nodes far from us only enter our table by answering us, so each bucket
 * gets a lookup of a random id in its range, once at start and then every
 * 15 minutes (BEP 5); without it a lookup could not leave our half of the
 * id space. One lookup per tick keeps the start-up burst small.
 */
static void
refresh_buckets(struct dht *d, int fam, double now)
{
	int depth = -1;
	uint8_t target[KRPC_ID_LEN];

	for (int i = NBUCKETS - 1; i >= 0 && depth == -1; i--)
		if (d->table[fam][i].count > 0)
			depth = i;
	for (int i = 0; i <= depth; i++) {
		int byte = i / 8, bit = 7 - i % 8;
		uint8_t keep = (uint8_t)(0xff << (bit + 1));

		if (d->refreshed[fam][i] > 0 && now - d->refreshed[fam][i] < REFRESH)
			continue;
		d->refreshed[fam][i] = now;
		if (sha_random(target, sizeof(target)) == -1)
			return;
		/* Our first i bits, then bit i flipped: an id in bucket i. */
		memcpy(target, d->id, (size_t)byte);
		target[byte] = (uint8_t)((d->id[byte] & keep) | (~d->id[byte] & (1u << bit)) |
		    (target[byte] & ((1u << bit) - 1)));
		search_start(d, fam, target, 0, 0, now);
		return;
	}
}

void
dht_tick(struct dht *d, double now)
{
	expire_pending(d, now);
	for (int i = 0; i < MAX_SEARCHES; i++)
		if (d->searches[i].used)
			search_step(d, &d->searches[i], now);
	if (now - d->secret_at >= TOKEN_ROTATE)
		secret_rotate(d, now);
	if (now - d->last_store_expiry >= 60.0) {
		store_expire(d, now);
		d->last_store_expiry = now;
	}
	ping_questionable(d, now);
	/* Looking ourselves up fills the buckets near us, which lookups for others rely on. */
	for (int fam = 0; fam < 2; fam++) {
		size_t n = fam_served(d, fam) ? table_count(d, fam, NULL, now) : 0;
		double every = n < K ? SELF_LOOKUP_SPARSE : SELF_LOOKUP_FULL;

		if (n == 0 || now - d->self_lookup[fam] < every ||
		    search_running(d, d->id, fam) != NULL)
			continue;
		d->self_lookup[fam] = now;
		search_start(d, fam, d->id, 0, 0, now);
	}
	for (int fam = 0; fam < 2; fam++)
		if (fam_served(d, fam))
			refresh_buckets(d, fam, now);
}

/* --- life cycle and reports --- */

struct dht *
dht_new(const uint8_t id[KRPC_ID_LEN], unsigned families, const struct dht_cb *cb)
{
	struct dht *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	memcpy(d->id, id, KRPC_ID_LEN);
	d->families = families;
	d->cb = *cb;
	buf_init(&d->out, KRPC_MAX_MSG);
	if (sha_random(d->secret, SECRET_LEN) == -1 || sha_random(d->old_secret, SECRET_LEN) == -1) {
		log_warnx("dht: no randomness for the token secret");
		free(d);
		return NULL;
	}
	return d;
}

void
dht_free(struct dht *d)
{
	if (d == NULL)
		return;
	for (int i = 0; i < STORE_HASHES; i++)
		free(d->store[i]);
	buf_free(&d->out);
	free(d);
}

const uint8_t *
dht_id(const struct dht *d)
{
	return d->id;
}

size_t
dht_good_nodes(const struct dht *d, struct krpc_node *out, size_t max)
{
	size_t n = 0;

	/* Nearest buckets last in the table's order, so walk from the deep end. */
	for (int fam = 0; fam < 2; fam++)
		for (int i = NBUCKETS - 1; i >= 0; i--)
			for (int j = 0; j < d->table[fam][i].count && n < max; j++) {
				const struct dnode *dn = &d->table[fam][i].n[j];

				if (dn->last_reply == 0 || dn->fails > 0)
					continue;
				memcpy(out[n].id, dn->id, KRPC_ID_LEN);
				out[n].addr = dn->addr;
				n++;
			}
	return n;
}

size_t
dht_node_count(const struct dht *d, size_t *good)
{
	size_t n = 0, g = 0;

	for (int fam = 0; fam < 2; fam++)
		for (int i = 0; i < NBUCKETS; i++)
			for (int j = 0; j < d->table[fam][i].count; j++) {
				n++;
				g += d->table[fam][i].n[j].last_reply > 0 &&
				    d->table[fam][i].n[j].fails == 0;
			}
	if (good != NULL)
		*good = g;
	return n;
}

json_t *
dht_json(const struct dht *d, double now)
{
	char hex[2 * KRPC_ID_LEN + 1];
	size_t good4 = 0, good6 = 0, stored = 0, hashes = 0, running = 0;
	size_t n4 = table_count(d, 0, &good4, now), n6 = table_count(d, 1, &good6, now);

	sha_hex(d->id, KRPC_ID_LEN, hex);
	for (int i = 0; i < STORE_HASHES; i++)
		if (d->store[i] != NULL) {
			hashes++;
			stored += (size_t)d->store[i]->n;
		}
	for (int i = 0; i < MAX_SEARCHES; i++)
		running += d->searches[i].used != 0;
	return json_pack("{s:b, s:s, s:{s:I, s:I}, s:{s:I, s:I}, s:I, s:I, s:{s:I, s:I}, "
	    "s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
	    "enabled", 1, "node_id", hex,
	    "nodes", "ipv4", (json_int_t)n4, "ipv6", (json_int_t)n6,
	    "good", "ipv4", (json_int_t)good4, "ipv6", (json_int_t)good6,
	    "lookups_running", (json_int_t)running,
	    "lookups", (json_int_t)d->st.lookups,
	    "stored", "info_hashes", (json_int_t)hashes, "peers", (json_int_t)stored,
	    "traffic",
	    "packets_in", (json_int_t)d->st.packets_in,
	    "packets_out", (json_int_t)d->st.packets_out,
	    "bytes_in", (json_int_t)d->st.bytes_in,
	    "bytes_out", (json_int_t)d->st.bytes_out,
	    "queries_in", (json_int_t)d->st.queries_in,
	    "queries_out", (json_int_t)d->st.queries_out,
	    "replies_in", (json_int_t)d->st.replies_in,
	    "errors_in", (json_int_t)d->st.errors_in,
	    "timeouts", (json_int_t)d->st.timeouts,
	    "malformed", (json_int_t)d->st.malformed,
	    "rate_limited", (json_int_t)d->st.rate_limited,
	    "peers_found", (json_int_t)d->st.peers_found);
}
