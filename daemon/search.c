/* search.c: finding files by name: the local index, connected peers, and peers found by DHT word keys. */
#include "search.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>

#include "buf.h"
#include "ctl.h"
#include "log.h"
#include "metainfo.h"
#include "netaddr.h"
#include "peer.h"
#include "ratelimit.h"
#include "rpc.h"
#include "search_conn.h"
#include "search_msg.h"
#include "session.h"
#include "sha.h"
#include "store.h"
#include "torrent.h"

#define KEEP_SEARCHES 16	/* searches kept for search.results and get */
#define RESULTS_MAX 200		/* merged results per search */
#define SOURCES_MAX 16		/* addresses kept per result (for get) */
#define ASKED_MAX 64		/* peers asked per search */
#define DIAL_MAX 32		/* search connections open per search */
#define CONNS_MAX 128		/* search connections in all, both directions */
#define INCOMING_MAX 64
#define LOOKUP_WORDS 2		/* DHT word keys looked up per search */
#define KEYS_MAX 4096		/* word keys we announce */
#define KEYWORDS_PER_TORRENT 8	/* issue 5: at most 8 words per torrent on the DHT */
#define KEYS_EVERY 60.0
#define KEYS_SOON 1.0		/* after a change, at most this often */
#define ANNOUNCES_PER_TICK 2
#define LOCAL_MAX 50
#define RATE_SLOTS 256
#define QUERIES_PER_MINUTE 10	/* answered per peer address */
#define TIMEOUT_DEFAULT 5.0
#define TIMEOUT_MAX 60.0

struct hit {
	struct search_result r;
	struct netaddr src[SOURCES_MAX];
	size_t nsrc;
	uint32_t sources;	/* distinct peers that offered it */
	int number;		/* 1, 2, ... in the order results arrived */
	int quality;		/* search_match_quality */
	int kind;		/* 0: from the network; STORE_HIT_LOCAL or STORE_HIT_SEEN */
};

struct query {
	ev_timer deadline_timer;	/* search.done exactly when the timeout passes */
	struct search *se;
	int64_t id;
	char q[SEARCH_MAX_QUERY + 1];
	uint32_t qid;
	int running;
	struct hit *hits;
	size_t nhits;
	struct netaddr asked[ASKED_MAX];
	size_t nasked;
	uint8_t keys[LOOKUP_WORDS][20];
	size_t nkeys;
	unsigned conns;
	unsigned answers;
	unsigned dropped;	/* answers refused: malformed, or results that do not match */
};

struct conn_ref {
	struct search_conn *c;
	int64_t query;		/* 0 for an incoming connection */
};


struct search {
	struct session *s;
	int answer;
	struct query queries[KEEP_SEARCHES];
	int64_t last_id;
	uint8_t (*keys)[20];
	size_t nkeys;
	size_t key_cursor;
	double keys_at;
	int keys_dirty;		/* torrents changed since keys_at */
	struct addr_bucket rate[RATE_SLOTS];
	struct conn_ref conns[CONNS_MAX];
	size_t nincoming;
	ev_timer tick;
};

static double
now_of(const struct search *se)
{
	return ev_now(session_loop(se->s));
}

static struct query *
query_get(struct search *se, int64_t id)
{
	struct query *q;

	if (id == 0)
		id = se->last_id;
	if (id <= 0)
		return NULL;
	q = &se->queries[(id - 1) % KEEP_SEARCHES];
	return q->id == id ? q : NULL;
}

/* --- results --- */

static json_t *
hit_json(const struct query *q, const struct hit *h)
{
	char hex[41];

	sha_hex(h->r.info_hash, 20, hex);
	return json_pack("{s:I, s:i, s:s, s:s, s:I, s:i, s:i, s:s, s:i}",
	    "search", (json_int_t)q->id, "number", h->number, "info_hash", hex, "name", h->r.name,
	    "size", (json_int_t)h->r.size, "files", (int)h->r.files, "sources", (int)h->sources,
	    "origin", h->kind == STORE_HIT_LOCAL ? "local" : h->kind == STORE_HIT_SEEN ? "seen" :
	    "network", "exact", h->quality);
}

static struct hit *
hit_find(struct query *q, const uint8_t ih[20])
{
	for (size_t i = 0; i < q->nhits; i++)
		if (memcmp(q->hits[i].r.info_hash, ih, 20) == 0)
			return &q->hits[i];
	return NULL;
}

static struct hit *
hit_add(struct query *q, const struct search_result *r, int kind)
{
	struct hit *h;

	if (q->nhits == RESULTS_MAX)
		return NULL;
	h = &q->hits[q->nhits++];
	memset(h, 0, sizeof(*h));
	h->r = *r;
	h->number = (int)q->nhits;
	h->kind = kind;
	h->quality = search_match_quality(r->name, q->q);
	return h;
}

/* A result a peer at from offered: merged by info-hash, counted as a source, streamed. */
static void
merge(struct search *se, struct query *q, const struct netaddr *from,
    const struct search_result *r)
{
	struct hit *h = hit_find(q, r->info_hash);
	int fresh = h == NULL;

	if (h == NULL && (h = hit_add(q, r, 0)) == NULL)
		return;
	for (size_t i = 0; i < h->nsrc; i++)
		if (netaddr_equal(&h->src[i], from))
			return;
	if (h->nsrc < SOURCES_MAX)
		h->src[h->nsrc++] = *from;
	h->sources++;
	store_seen_put(session_store(se->s), r->info_hash, h->r.name, h->r.size, h->r.files,
	    h->sources, (int64_t)time(NULL));
	{
		json_t *ev = hit_json(q, h);

		json_object_set_new(ev, "update", json_boolean(!fresh));
		session_event(se->s, CTL_EV_SEARCH_RESULT, ev);
	}
}

static void
merge_answer(struct search *se, struct query *q, const struct netaddr *from,
    const struct search_msg *m)
{
	q->answers++;
	for (size_t i = 0; i < m->nresults; i++) {
		/* A peer that names things the query doesn't match is lying or broken. */
		if (!search_name_matches(m->results[i].name, q->q)) {
			q->dropped++;
			continue;
		}
		merge(se, q, from, &m->results[i]);
	}
}

static void
finish(struct search *se, struct query *q)
{
	if (!q->running)
		return;
	q->running = 0;
	ev_timer_stop(session_loop(se->s), &q->deadline_timer);
	session_event(se->s, CTL_EV_SEARCH_DONE, json_pack("{s:I, s:I, s:i, s:i, s:i}",
	    "search", (json_int_t)q->id, "results", (json_int_t)q->nhits,
	    "peers_asked", (int)q->nasked, "answers", (int)q->answers,
	    "dropped", (int)q->dropped));
}

/* --- connections --- */

static struct conn_ref *
conn_ref(struct search *se, const struct search_conn *c)
{
	for (size_t i = 0; i < CONNS_MAX; i++)
		if (se->conns[i].c == c)
			return &se->conns[i];
	return NULL;
}

static void
on_results(void *ctx, struct search_conn *c, const struct netaddr *from,
    const struct search_msg *m)
{
	struct search *se = ctx;
	struct conn_ref *r = conn_ref(se, c);
	struct query *q = r ? query_get(se, r->query) : NULL;

	if (q != NULL && q->running)
		merge_answer(se, q, from, m);
}

static int answer_query(struct search *se, const struct netaddr *from,
    const struct search_msg *m, struct buf *reply);

static int
on_query(void *ctx, const struct netaddr *from, const struct search_msg *m, struct buf *reply)
{
	return answer_query(ctx, from, m, reply);
}

static void
on_closed(void *ctx, struct search_conn *c, const char *why)
{
	struct search *se = ctx;
	struct conn_ref *r = conn_ref(se, c);
	struct query *q;

	(void)why;
	if (r == NULL)
		return;
	if (r->query == 0)
		se->nincoming--;
	else if ((q = query_get(se, r->query)) != NULL && q->conns > 0)
		q->conns--;
	r->c = NULL;
}

static const struct search_conn_cb conn_cb_template = { on_results, on_query, on_closed, NULL };

static struct conn_ref *
conn_slot(struct search *se)
{
	for (size_t i = 0; i < CONNS_MAX; i++)
		if (se->conns[i].c == NULL)
			return &se->conns[i];
	return NULL;
}

static int
asked_before(struct query *q, const struct netaddr *a)
{
	for (size_t i = 0; i < q->nasked; i++)
		if (netaddr_equal(&q->asked[i], a))
			return 1;
	if (q->nasked == ASKED_MAX)
		return 1;
	q->asked[q->nasked++] = *a;
	return 0;
}

static void
dial(struct search *se, struct query *q, const uint8_t key[20], const struct netaddr *a)
{
	struct search_conn_cb cb = conn_cb_template;
	struct conn_ref *r;

	if (q->conns >= DIAL_MAX || session_is_own_addr(se->s, a) || asked_before(q, a) ||
	    (r = conn_slot(se)) == NULL)
		return;
	cb.ctx = se;
	r->c = search_conn_dial(session_loop(se->s), a, session_bind_addr(se->s, netaddr_family(a)),
	    key, session_peer_id(se->s), q->qid, q->q, &cb);
	if (r->c == NULL)
		return;
	r->query = q->id;
	q->conns++;
}

void
search_dht_peer(struct search *se, const uint8_t key[20], const struct netaddr *a)
{
	/* NULL while the session is being built or torn down. */
	for (int i = 0; se != NULL && i < KEEP_SEARCHES; i++) {
		struct query *q = &se->queries[i];

		if (!q->running)
			continue;
		for (size_t k = 0; k < q->nkeys; k++)
			if (memcmp(q->keys[k], key, 20) == 0)
				dial(se, q, key, a);
	}
}

int
search_accept(struct search *se, int fd, const struct netaddr *from, const uint8_t *in,
    size_t inlen, const uint8_t key[20])
{
	struct search_conn_cb cb = conn_cb_template;
	struct conn_ref *r;

	if (!se->answer || se->nincoming >= INCOMING_MAX || (r = conn_slot(se)) == NULL)
		return -1;
	cb.ctx = se;
	r->c = search_conn_accept(session_loop(se->s), fd, from, in, inlen, key,
	    session_peer_id(se->s), &cb);
	if (r->c == NULL)
		return -1;
	r->query = 0;
	se->nincoming++;
	return 0;
}

/* --- answering --- */

/* What we really share and let be found: complete, public, not excluded. */
static int
answerable(struct torrent *t)
{
	return torrent_state(t) == TORRENT_SEEDING && !torrent_is_private(t) &&
	    torrent_searchable(t) && torrent_metainfo(t) != NULL;
}

static int
torrent_matches(struct torrent *t, const char *query)
{
	const struct metainfo *mi = torrent_metainfo(t);

	if (search_name_matches(torrent_name(t), query))
		return 1;
	for (size_t i = 0; mi->multi_file && i < mi->file_count && i < 10000; i++)
		if (search_name_matches(mi->files[i].path, query))
			return 1;
	return 0;
}

static int
cmp_quality(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;

	return y->quality - x->quality;
}

static int
answer_query(struct search *se, const struct netaddr *from, const struct search_msg *m,
    struct buf *reply)
{
	static struct hit found[SEARCH_MAX_RESULTS];
	struct search_result out[SEARCH_MAX_RESULTS];
	size_t n = 0;

	if (!se->answer)
		return -1;
	if (!ratelimit_addr_allow(se->rate, RATE_SLOTS, from, QUERIES_PER_MINUTE / 60.0,
	    QUERIES_PER_MINUTE, now_of(se))) {
		char txt[NETADDR_STRLEN];

		log_info("search: %s asks more than %d times a minute: dropped",
		    netaddr_format(from, txt, sizeof(txt)), QUERIES_PER_MINUTE);
		return -1;
	}
	for (struct torrent *t = session_torrent_first(se->s); t != NULL && n < SEARCH_MAX_RESULTS;
	    t = session_torrent_next(se->s, t)) {
		const struct metainfo *mi;

		if (!answerable(t) || !torrent_matches(t, m->query))
			continue;
		mi = torrent_metainfo(t);
		memset(&found[n], 0, sizeof(found[n]));
		memcpy(found[n].r.info_hash, torrent_info_hash(t), 20);
		/* Cut at a character boundary, controls blanked: one odd name must not void the answer. */
		if (search_name_sanitize(found[n].r.name, sizeof(found[n].r.name),
		    torrent_name(t)) == -1 || mi->total_length > INT64_MAX)
			continue;
		found[n].r.size = mi->total_length;
		found[n].r.files = mi->file_count > SEARCH_MAX_FILES ? SEARCH_MAX_FILES :
		    (uint32_t)mi->file_count;
		found[n].quality = search_match_quality(found[n].r.name, m->query);
		n++;
	}
	qsort(found, n, sizeof(found[0]), cmp_quality);
	for (size_t i = 0; i < n; i++)
		out[i] = found[i].r;
	return search_msg_build_results(reply, m->id, out, n) == -1 ? -1 : 0;
}

int
search_answering(const struct search *se)
{
	return se->answer;
}

int
search_peer_message(struct search *se, const struct netaddr *from, const uint8_t *p,
    size_t len, struct buf *reply)
{
	static struct search_msg m;
	char err[160];

	if (search_msg_parse(p, len, &m, err, sizeof(err)) == -1) {
		log_info("search: bad p2p_search message: %s", err);
		return -1;
	}
	if (m.type == SEARCH_MSG_QUERY) {
		if (!se->answer)
			return 0;	/* we said nothing about answering: not the peer's fault */
		return answer_query(se, from, &m, reply) == 0 ? 1 : -1;
	}
	for (int i = 0; i < KEEP_SEARCHES; i++) {
		struct query *q = &se->queries[i];

		if (q->running && q->qid == m.id) {
			merge_answer(se, q, from, &m);
			return 0;
		}
	}
	return 0;	/* a late answer: harmless */
}

/* --- the word keys we announce --- */

static int
key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 20);
}

static void
keys_rebuild(struct search *se)
{
	uint8_t (*keys)[20] = calloc(KEYS_MAX, 20);
	size_t n = 0, w = 0;

	if (keys == NULL)
		return;
	for (struct torrent *t = session_torrent_first(se->s); t != NULL && n < KEYS_MAX;
	    t = session_torrent_next(se->s, t)) {
		char words[KEYWORDS_PER_TORRENT][SEARCH_WORD_MAX + 1];
		size_t nw;

		if (!answerable(t))
			continue;
		nw = search_name_keywords(torrent_name(t), words, KEYWORDS_PER_TORRENT);
		for (size_t i = 0; i < nw && n < KEYS_MAX; i++)
			search_word_key(words[i], keys[n++]);
	}
	qsort(keys, n, 20, key_cmp);
	for (size_t i = 0; i < n; i++)
		if (w == 0 || memcmp(keys[w - 1], keys[i], 20) != 0)
			memcpy(keys[w++], keys[i], 20);
	free(se->keys);
	se->keys = keys;
	se->nkeys = w;
	if (se->key_cursor >= w)
		se->key_cursor = 0;
}

int
search_key_known(const struct search *se, const uint8_t key[20])
{
	return se != NULL && se->answer && se->nkeys > 0 &&
	    bsearch(key, se->keys, se->nkeys, 20, key_cmp) != NULL;
}

void
search_tick(struct search *se, double now)
{
	/* A burst of changes (a hundred torrents added) rebuilds once, not a hundred times. */
	if (se->answer && (now - se->keys_at >= KEYS_EVERY ||
	    (se->keys_dirty && now - se->keys_at >= KEYS_SOON))) {
		keys_rebuild(se);
		se->keys_at = now;
		se->keys_dirty = 0;
	}
	for (int i = 0; i < ANNOUNCES_PER_TICK && se->nkeys > 0; i++) {
		session_dht_announce(se->s, se->keys[se->key_cursor]);
		se->key_cursor = (se->key_cursor + 1) % se->nkeys;
	}
}

static void
deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct query *q = w->data;

	(void)loop;
	(void)revents;
	finish(q->se, q);
}

static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	search_tick(w->data, ev_now(loop));
}

void
search_torrents_changed(struct search *se)
{
	se->keys_dirty = 1;
}

/* --- starting a search --- */

static int
local_hit(void *ctx, const struct store_hit *sh)
{
	struct query *q = ctx;
	struct search_result r;
	struct hit *h;

	if (hit_find(q, sh->info_hash) != NULL)
		return 0;
	memset(&r, 0, sizeof(r));
	memcpy(r.info_hash, sh->info_hash, 20);
	snprintf(r.name, sizeof(r.name), "%s", sh->name ? sh->name : "?");
	r.size = sh->size;
	r.files = sh->files;
	if ((h = hit_add(q, &r, sh->kind)) != NULL)
		h->sources = sh->sources;
	return 0;
}

/* Asks every connected peer that speaks p2p_search, once per address. */
static void
ask_connected(struct search *se, struct query *q)
{
	struct buf b;
	size_t n;
	struct peer *const *peers = session_peers(se->s, &n);

	buf_init(&b, SEARCH_MSG_MAX);
	if (search_msg_build_query(&b, q->qid, q->q) == -1) {
		buf_free(&b);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct netaddr *a = peer_addr(peers[i]);

		if (!peer_searchable(peers[i]) || asked_before(q, a))
			continue;
		peer_send_search(peers[i], b.data, b.len);
	}
	buf_free(&b);
}

static void
look_up_words(struct search *se, struct query *q)
{
	char words[LOOKUP_WORDS][SEARCH_WORD_MAX + 1];
	size_t n = search_name_keywords(q->q, words, LOOKUP_WORDS);

	/* Only distinctive words are announced, so only those are worth a lookup. */
	for (size_t i = 0; i < n; i++) {
		search_word_key(words[i], q->keys[i]);
		/* Counted first: a lookup can report peers (from our own store) before it returns. */
		q->nkeys = i + 1;
		session_dht_lookup(se->s, q->keys[i]);
	}
}

json_t *
search_start(struct search *se, const char *query, int local, double timeout,
    int *code, char *err, size_t errlen)
{
	char words[SEARCH_MAX_WORDS + 1][SEARCH_WORD_MAX + 1];
	size_t nw = search_words(query, words, SEARCH_MAX_WORDS + 1);
	int64_t id = se->last_id + 1;
	struct query *q = &se->queries[(id - 1) % KEEP_SEARCHES];
	json_t *res, *list;
	size_t len = 0;

	if (nw == 0 || nw > SEARCH_MAX_WORDS) {
		*code = RPC_ERR_PARAMS;
		snprintf(err, errlen, nw == 0 ? "nothing to search for: give at least one word" :
		    "too many words: at most %d", SEARCH_MAX_WORDS);
		return NULL;
	}
	if (timeout <= 0)
		timeout = TIMEOUT_DEFAULT;
	if (timeout > TIMEOUT_MAX)
		timeout = TIMEOUT_MAX;
	/* The slot's previous search ends here; its connections stop counting for it. */
	finish(se, q);
	free(q->hits);
	memset(q, 0, sizeof(*q));
	if ((q->hits = calloc(RESULTS_MAX, sizeof(*q->hits))) == NULL) {
		*code = RPC_ERR_INTERNAL;
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < nw; i++) {
		size_t wl = strlen(words[i]);

		if (len + wl + 2 > sizeof(q->q))
			break;
		if (len > 0)
			q->q[len++] = ' ';
		memcpy(q->q + len, words[i], wl + 1);
		len += wl;
	}
	q->id = id;
	se->last_id = id;
	if (sha_random(&q->qid, sizeof(q->qid)) == -1)
		q->qid = (uint32_t)id;
	store_search_hits(session_store(se->s), query, LOCAL_MAX, local_hit, q);
	res = json_object();
	list = json_array();
	for (size_t i = 0; i < q->nhits; i++)
		json_array_append_new(list, hit_json(q, &q->hits[i]));
	json_object_set_new(res, "search", json_integer(id));
	json_object_set_new(res, "query", json_string(q->q));
	json_object_set_new(res, "results", list);
	if (local) {
		json_object_set_new(res, "network", json_false());
		return res;
	}
	q->running = 1;
	q->se = se;
	ev_timer_init(&q->deadline_timer, deadline_cb, timeout, 0.);
	q->deadline_timer.data = q;
	ev_timer_start(session_loop(se->s), &q->deadline_timer);
	json_object_set_new(res, "network", json_true());
	json_object_set_new(res, "timeout", json_real(timeout));
	ask_connected(se, q);
	look_up_words(se, q);
	return res;
}

static int
cmp_rank(const void *a, const void *b)
{
	const struct hit *x = *(const struct hit *const *)a, *y = *(const struct hit *const *)b;

	if (x->quality != y->quality)
		return y->quality - x->quality;
	if (x->sources != y->sources)
		return x->sources < y->sources ? 1 : -1;
	return x->number - y->number;
}

json_t *
search_results(struct search *se, int64_t id, int *code, char *err, size_t errlen)
{
	struct query *q = query_get(se, id);
	const struct hit *order[RESULTS_MAX];
	json_t *list;

	if (q == NULL) {
		*code = RPC_ERR_NOT_FOUND;
		snprintf(err, errlen, id == 0 ? "no search yet" : "no search %lld (only the last %d "
		    "are kept)", (long long)id, KEEP_SEARCHES);
		return NULL;
	}
	for (size_t i = 0; i < q->nhits; i++)
		order[i] = &q->hits[i];
	qsort(order, q->nhits, sizeof(order[0]), cmp_rank);
	list = json_array();
	for (size_t i = 0; i < q->nhits; i++)
		json_array_append_new(list, hit_json(q, order[i]));
	return json_pack("{s:I, s:s, s:b, s:o}", "search", (json_int_t)q->id, "query", q->q,
	    "running", q->running, "results", list);
}

int
search_pick(struct search *se, int64_t id, int64_t n, const uint8_t *info_hash,
    uint8_t ih_out[20], char *name, size_t namelen, struct netaddr *sources, size_t max,
    int *code, char *err, size_t errlen)
{
	const struct hit *h = NULL;
	struct query *q;
	size_t k;

	if (info_hash != NULL) {
		for (int i = 0; i < KEEP_SEARCHES && h == NULL; i++)
			if (se->queries[i].id > 0)
				h = hit_find(&se->queries[i], info_hash);
		if (h == NULL) {
			/* Not from a search: a bare magnet, found by the DHT alone. */
			memcpy(ih_out, info_hash, 20);
			name[0] = '\0';
			return 0;
		}
	} else {
		if ((q = query_get(se, id)) == NULL || n < 1 || (size_t)n > q->nhits) {
			*code = RPC_ERR_NOT_FOUND;
			snprintf(err, errlen, "no result %lld in %s", (long long)n,
			    q == NULL ? "any kept search" : "that search");
			return -1;
		}
		h = &q->hits[n - 1];
	}
	memcpy(ih_out, h->r.info_hash, 20);
	snprintf(name, namelen, "%s", h->r.name);
	for (k = 0; k < h->nsrc && k < max; k++)
		sources[k] = h->src[k];
	return (int)k;
}

/* --- life cycle --- */

struct search *
search_new(struct session *s, int answer)
{
	struct search *se = calloc(1, sizeof(*se));

	if (se == NULL)
		return NULL;
	se->s = s;
	se->answer = answer;
	ev_timer_init(&se->tick, tick_cb, 1.0, 1.0);
	se->tick.data = se;
	ev_timer_start(session_loop(s), &se->tick);
	search_torrents_changed(se);
	return se;
}

void
search_free(struct search *se)
{
	if (se == NULL)
		return;
	ev_timer_stop(session_loop(se->s), &se->tick);
	for (int i = 0; i < KEEP_SEARCHES; i++)
		if (se->queries[i].running)
			ev_timer_stop(session_loop(se->s), &se->queries[i].deadline_timer);
	for (size_t i = 0; i < CONNS_MAX; i++)
		search_conn_free(se->conns[i].c);
	for (int i = 0; i < KEEP_SEARCHES; i++)
		free(se->queries[i].hits);
	free(se->keys);
	free(se);
}
