/* transfer.c: a torrent's swarm: requests, piece assembly and checks, uploads, syncing. */
#include "transfer.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bitfield.h"
#include "conf.h"
#include "choker.h"
#include "extmsg.h"
#include "log.h"
#include "metainfo.h"
#include "netaddr.h"
#include "peer.h"
#include "picker.h"
#include "ratelimit.h"
#include "rpc.h"
#include "session.h"
#include "sha.h"
#include "storage.h"
#include "store.h"
#include "torrent.h"
#include "tracker_client.h"
#include "wire.h"
#include "worker.h"

#define REQUEST_TIMEOUT 60.0
#define SNUB_AFTER 60.0
#define SYNC_EVERY 2.0		/* seconds of progress a crash may cost, at most */
#define SYNC_PIECES 256		/* or this many pieces, whichever first */
#define MAX_UPLOAD_QUEUE 2000	/* we advertise reqq 2000; more is a flood */
#define MAX_UNREQUESTED 64	/* blocks never requested, tolerated before a drop */
#define CANCEL_MEMORY 512	/* cancels remembered per peer: their blocks may still come */
#define REJECT_BACKLOG (64u * 1024)	/* unsent output past which a choked requester is dropped */
#define KNOWN_PEERS 50		/* addresses from peer.add redialled while downloading */
#define REDIAL_EVERY 30.0
#define PEX_FIRST 2.0		/* seconds after a connection before its first ut_pex */
#define PEX_EVERY 60.0		/* BEP 11: at most one message a minute */
#define PEX_MAX 50		/* BEP 11: at most 50 added per message */
#define EXTENT_MAX (1u << 20)
#define CACHE_BYTES (32u << 20)
#define BAN_STRIKES 2		/* failed pieces a peer alone sent before a ban */
#define MAX_BAN_RECORDS 64
#define SPARE_BUFFERS 8		/* piece buffers kept for reuse: fresh ones cost page faults */
/* Pieces waiting to be hashed and written, in bytes: past this we stop asking for more. */
#define HASH_BACKLOG (16u << 20)

struct upreq {
	uint32_t piece, begin, len;
};

struct tpeer {
	struct peer *p;
	struct transfer *tr;
	struct upreq *up;		/* requests it made of us, FIFO */
	size_t nup, capup, uphead;
	uint32_t unrequested;
	struct { uint32_t piece, begin; } cancelled[CANCEL_MEMORY];	/* ring */
	unsigned ncancelled;
	uint32_t strikes;
	double last_block;
	double unchoked_at;
	uint32_t pieces_from;		/* verified pieces it sent blocks of */
	double pex_next;		/* when it gets our next ut_pex */
	int64_t meta_size;		/* the info dict size it offered (BEP 9); 0: none */
};

/* A piece being received: its bytes and who sent each block. */
struct assembly {
	uint8_t *data;
	uint32_t *senders;		/* peer number per block */
};

/* An extent of a piece read from disk for uploads. */
struct extent {
	uint32_t piece;
	uint32_t off;
	uint32_t len;
	uint8_t *data;
	int loading;
	int valid;
	double used;
};

/* Per-block hashes of a piece that failed, kept to find the liar later. */
struct ban_record {
	uint32_t piece;
	uint32_t nblocks;
	uint8_t (*hash)[20];
	uint32_t *senders;
	char (*addrs)[NETADDR_STRLEN];
};

struct transfer {
	struct session *s;
	struct torrent *t;
	double started;			/* loop time it was created */
	uint8_t ih[20];
	uint32_t npieces;
	uint32_t piece_length;
	uint8_t *hashes;		/* copy: jobs outlive the torrent */
	struct storage *st;		/* own copy, freed only when no job uses it */
	struct picker *picker;
	struct choker_state choker;
	double last_choke;
	struct tpeer **peers;
	size_t npeers, cap;
	struct assembly *asm_;		/* by piece; data NULL when not assembling */
	uint32_t *unsynced;		/* written and verified, not yet fdatasync'd */
	size_t nunsynced, capunsynced;
	int sync_inflight;
	double last_sync;
	struct extent *cache;
	size_t ncache;
	uint8_t *scratch;		/* for a request that spans extents */
	struct ban_record bans[MAX_BAN_RECORDS];
	size_t nbans;
	uint8_t *spare[SPARE_BUFFERS];
	size_t nspare;
	struct known {
		struct netaddr addr;
		double next_try;
	} known[KNOWN_PEERS];		/* dialled again while we still download */
	size_t nknown;
	struct tracker_client *trackers;
	uint64_t backlog;		/* bytes of complete pieces not yet hashed and written */
	unsigned jobs;			/* worker jobs holding a pointer to us */
	/* metadata mode: a magnet's info dict is fetched before anything else */
	int magnet;
	uint8_t *meta;
	struct extmsg_asm meta_asm;
	int64_t meta_size;
	ev_timer meta_done;		/* hands the info dict over outside peer callbacks */
	int freeing;
	ev_timer pump;			/* retries uploads held back by the rate limit */
};

static void fill_requests(struct transfer *tr, struct tpeer *tp);
static void serve_uploads(struct transfer *tr, struct tpeer *tp);
static void transfer_destroy(struct transfer *tr);

static double
tnow(struct transfer *tr)
{
	return ev_now(session_loop(tr->s));
}

static uint32_t
piece_size(const struct transfer *tr, uint32_t piece)
{
	return storage_piece_size(tr->st, piece);
}

static void
pump_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct transfer *tr = w->data;

	(void)loop;
	(void)revents;
	for (size_t i = 0; i < tr->npeers; i++)
		serve_uploads(tr, tr->peers[i]);
}

static void
known_add(struct transfer *tr, const struct netaddr *a, double next_try)
{
	for (size_t i = 0; i < tr->nknown; i++)
		if (netaddr_equal(&tr->known[i].addr, a))
			return;
	if (tr->nknown == KNOWN_PEERS)
		return;
	tr->known[tr->nknown].addr = *a;
	tr->known[tr->nknown].next_try = next_try;
	tr->nknown++;
}

static int
load_known(void *ctx, const char *addr, int64_t seen_at)
{
	struct transfer *tr = ctx;
	struct netaddr a;
	char err[64];

	(void)seen_at;
	if (netaddr_parse(addr, &a, err, sizeof(err)) == 0)
		known_add(tr, &a, 0);
	return 0;
}

static void meta_done_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void known_add(struct transfer *tr, const struct netaddr *a, double next_try);

static void
tc_stats(void *ctx, uint64_t *up, uint64_t *down, uint64_t *left)
{
	struct transfer *tr = ctx;

	torrent_counters(tr->t, up, down, left);
}

static void
tc_peer(void *ctx, const struct netaddr *a)
{
	/* Dialled by the next tick, like a peer given by hand. */
	known_add(ctx, a, 0);
}

static void
start_trackers(struct transfer *tr)
{
	struct tracker_client_cb cb = { tc_stats, tc_peer, tr };
	const char *const *urls;
	const uint32_t *tiers;
	size_t n = torrent_trackers(tr->t, &urls, &tiers);

	if (n > 0)
		tr->trackers = tracker_client_new(tr->s, tr->ih, urls, tiers, n, &cb);
}

/* A magnet without its info dict: peers are met only to fetch it (BEP 9). */
static struct transfer *
magnet_new(struct session *s, struct torrent *t)
{
	struct transfer *tr = calloc(1, sizeof(*tr));

	if (tr == NULL)
		return NULL;
	tr->s = s;
	tr->t = t;
	tr->magnet = 1;
	tr->meta_size = -1;
	memcpy(tr->ih, torrent_info_hash(t), 20);
	ev_timer_init(&tr->pump, pump_cb, 0., 0.);
	tr->pump.data = tr;
	ev_timer_init(&tr->meta_done, meta_done_cb, 0., 0.);
	tr->meta_done.data = tr;
	tr->started = tr->last_sync = tr->last_choke = tnow(tr);
	store_peers_get(session_store(s), torrent_id(t), KNOWN_PEERS, load_known, tr);
	start_trackers(tr);
	return tr;
}

int64_t
transfer_metadata_size(const struct transfer *tr)
{
	return tr->magnet ? tr->meta_size : -1;
}

static void
request_metadata(struct transfer *tr, struct peer *p)
{
	uint32_t n = extmsg_metadata_pieces(tr->meta_size);

	if (tr->meta == NULL || !peer_is_active(p))
		return;
	for (uint32_t i = 0; i < n; i++)
		if (!extmsg_asm_has(&tr->meta_asm, i) && peer_send_metadata_request(p, i) == -1)
			return;
}

void
transfer_peer_ext(struct transfer *tr, struct peer *p, int has_ut_metadata,
    int64_t metadata_size)
{
	char err[128];

	if (!tr->magnet || !has_ut_metadata)
		return;
	if (peer_data(p) != NULL)
		((struct tpeer *)peer_data(p))->meta_size = metadata_size;
	/* BEP 9's own cap, and the configured max_metadata_size below it. */
	if (metadata_size <= 0 || metadata_size > EXTMSG_MAX_METADATA ||
	    metadata_size > session_conf(tr->s)->max_metadata_size) {
		log_info("peer %s: offers metadata of %lld bytes; not asking it "
		    "(max_metadata_size %d)", peer_addr_str(p), (long long)metadata_size,
		    session_conf(tr->s)->max_metadata_size);
		return;
	}
	if (tr->meta == NULL) {
		/* The first size we hear is the one we try; a liar fails the hash check. */
		if ((tr->meta = malloc((size_t)metadata_size)) == NULL ||
		    extmsg_asm_init(&tr->meta_asm, tr->meta, (size_t)metadata_size, err,
		    sizeof(err)) == -1) {
			free(tr->meta);
			tr->meta = NULL;
			return;
		}
		tr->meta_size = metadata_size;
		log_info("torrent %lld: fetching its %lld-byte info dict (BEP 9)",
		    (long long)torrent_id(tr->t), (long long)metadata_size);
	}
	if (metadata_size == tr->meta_size)
		request_metadata(tr, p);
}

void
transfer_peer_metadata(struct transfer *tr, struct peer *p, uint32_t piece,
    const uint8_t *data, size_t len)
{
	uint8_t md[20];

	if (!tr->magnet || tr->meta == NULL || ev_is_active(&tr->meta_done))
		return;
	/* A duplicate or a piece we didn't need is dropped, not held against it. */
	if (extmsg_asm_add(&tr->meta_asm, piece, data, len, NULL, 0) != 1)
		return;
	sha1(tr->meta, (size_t)tr->meta_size, md);
	if (memcmp(md, tr->ih, 20) != 0) {
		/* BEP 9: the info-hash is the only check; start over. */
		log_warnx("torrent %lld: the info dict from peers does not match the "
		    "info-hash; fetching it again", (long long)torrent_id(tr->t));
		/*
		 * The size may have been the lie: forget it, so the next peer's
		 * size is tried, and ask the peers still here afresh.
		 */
		free(tr->meta);
		tr->meta = NULL;
		tr->meta_size = -1;
		peer_close(p, "bad-metadata");
		for (size_t i = 0; i < tr->npeers; i++) {
			struct tpeer *tp = tr->peers[i];

			if (tp->p != p && tp->meta_size > 0)
				transfer_peer_ext(tr, tp->p, 1, tp->meta_size);
		}
		return;
	}
	/* Outside this peer's callback: the swap frees every peer of ours. */
	ev_timer_set(&tr->meta_done, 0., 0.);
	ev_timer_start(session_loop(tr->s), &tr->meta_done);
}

static void
meta_done_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct transfer *tr = w->data;

	(void)loop;
	(void)revents;
	/* This frees tr: nothing may follow. */
	torrent_set_metadata(tr->t, tr->meta, (size_t)tr->meta_size);
}

struct transfer *
transfer_new(struct session *s, struct torrent *t)
{
	const struct metainfo *mi = torrent_metainfo(t);
	struct transfer *tr;
	uint64_t seed;

	if (mi == NULL)
		return magnet_new(s, t);
	if ((tr = calloc(1, sizeof(*tr))) == NULL)
		return NULL;
	tr->s = s;
	tr->t = t;
	memcpy(tr->ih, mi->info_hash, 20);
	tr->npieces = mi->piece_count;
	tr->piece_length = mi->piece_length;
	tr->ncache = CACHE_BYTES / (mi->piece_length < EXTENT_MAX ? mi->piece_length :
	    EXTENT_MAX);
	if (tr->ncache < 4)
		tr->ncache = 4;
	sha_random(&seed, sizeof(seed));
	choker_init(&tr->choker, seed);
	if ((tr->hashes = malloc(20 * (size_t)tr->npieces)) == NULL ||
	    (tr->st = storage_from_metainfo(mi, torrent_path(t))) == NULL ||
	    (tr->picker = picker_new(tr->npieces, tr->piece_length, mi->total_length,
	    torrent_have(t), seed)) == NULL ||
	    (tr->asm_ = calloc(tr->npieces, sizeof(*tr->asm_))) == NULL ||
	    (tr->cache = calloc(tr->ncache, sizeof(*tr->cache))) == NULL ||
	    (tr->scratch = malloc(WIRE_MAX_REQUEST)) == NULL) {
		transfer_destroy(tr);
		return NULL;
	}
	memcpy(tr->hashes, mi->pieces, 20 * (size_t)tr->npieces);
	ev_timer_init(&tr->meta_done, meta_done_cb, 0., 0.);
	tr->meta_done.data = tr;
	store_peers_get(session_store(s), torrent_id(t), KNOWN_PEERS, load_known, tr);
	ev_timer_init(&tr->pump, pump_cb, 0., 0.);
	tr->pump.data = tr;
	tr->started = tr->last_sync = tr->last_choke = tnow(tr);
	start_trackers(tr);
	return tr;
}

static void
transfer_destroy(struct transfer *tr)
{
	for (uint32_t i = 0; tr->asm_ && i < tr->npieces; i++) {
		free(tr->asm_[i].data);
		free(tr->asm_[i].senders);
	}
	for (size_t i = 0; tr->cache && i < tr->ncache; i++)
		free(tr->cache[i].data);
	while (tr->nspare > 0)
		free(tr->spare[--tr->nspare]);
	for (size_t i = 0; i < tr->nbans; i++) {
		free(tr->bans[i].hash);
		free(tr->bans[i].senders);
		free(tr->bans[i].addrs);
	}
	ev_timer_stop(session_loop(tr->s), &tr->pump);
	ev_timer_stop(session_loop(tr->s), &tr->meta_done);
	free(tr->meta);
	free(tr->asm_);
	free(tr->cache);
	free(tr->scratch);
	free(tr->unsynced);
	free(tr->peers);
	picker_free(tr->picker);
	storage_free(tr->st);
	free(tr->hashes);
	free(tr);
}

static void
job_released(struct transfer *tr)
{
	tr->jobs--;
	if (tr->freeing && tr->jobs == 0)
		transfer_destroy(tr);
}

void
transfer_free(struct transfer *tr)
{
	if (tr == NULL)
		return;
	tr->freeing = 1;
	/* No "stopped" when a magnet's metadata transfer hands over to the real one. */
	tracker_client_free(tr->trackers, !(tr->magnet && tr->t &&
	    torrent_metainfo(tr->t) != NULL));
	tr->trackers = NULL;
	/* peer_free calls transfer_peer_gone, which shrinks the array. */
	while (tr->npeers > 0)
		peer_free(tr->peers[tr->npeers - 1]->p);
	ev_timer_stop(session_loop(tr->s), &tr->pump);
	ev_timer_stop(session_loop(tr->s), &tr->meta_done);
	tr->t = NULL;
	if (tr->jobs == 0)
		transfer_destroy(tr);
}

struct torrent *transfer_torrent(const struct transfer *tr) { return tr->t; }
uint32_t transfer_piece_count(const struct transfer *tr) { return tr->npieces; }
const uint8_t *transfer_info_hash(const struct transfer *tr) { return tr->ih; }
size_t transfer_peer_count(const struct transfer *tr) { return tr->npeers; }

const struct bitfield *
transfer_have(const struct transfer *tr)
{
	return torrent_have(tr->t);
}

/* --- peers joining and leaving --- */

int
transfer_attach(struct transfer *tr, struct peer *p)
{
	struct tpeer *tp;

	if (tr->freeing || tr->t == NULL)
		return -1;
	if (tr->npeers >= (size_t)session_setting(tr->s, SETTING_MAX_CONN_TORRENT)) {
		log_info("peer %s: refused: max_connections_per_torrent reached",
		    peer_addr_str(p));
		return -1;
	}
	if (tr->npeers == tr->cap) {
		size_t ncap = tr->cap ? tr->cap * 2 : 16;
		struct tpeer **v = realloc(tr->peers, ncap * sizeof(*v));
		if (v == NULL)
			return -1;
		tr->peers = v;
		tr->cap = ncap;
	}
	if ((tp = calloc(1, sizeof(*tp))) == NULL)
		return -1;
	tp->p = p;
	tp->tr = tr;
	tp->pex_next = tnow(tr) + PEX_FIRST;
	peer_set_data(p, tp);
	tr->peers[tr->npeers++] = tp;
	return 0;
}

static void
update_interest(struct transfer *tr, struct tpeer *tp)
{
	const struct bitfield *ph = peer_has(tp->p), *have = transfer_have(tr);
	int want = 0;

	if (!bitfield_full(have)) {
		size_t n = bitfield_bytes(have->nbits);
		for (size_t i = 0; i < n && !want; i++)
			want = (ph->bits[i] & ~have->bits[i]) != 0;
	}
	peer_send_interested(tp->p, want);
}

void
transfer_peer_ready(struct transfer *tr, struct peer *p)
{
	(void)tr;
	(void)p;
	/* Nothing to do until its bitfield or first have arrives. */
}

void
transfer_peer_gone(struct transfer *tr, struct peer *p)
{
	struct tpeer *tp = peer_data(p);

	if (tp == NULL)
		return;
	if (tr->picker && peer_has(p)->nbits)
		picker_remove_peer_bitfield(tr->picker, peer_has(p));
	if (tr->picker)
		picker_peer_dropped(tr->picker, peer_num(p));
	for (size_t i = 0; i < tr->npeers; i++) {
		if (tr->peers[i] == tp) {
			tr->peers[i] = tr->peers[--tr->npeers];
			break;
		}
	}
	free(tp->up);
	free(tp);
	peer_set_data(p, NULL);
	/* The requests it held can go to others now. */
	if (!tr->freeing)
		for (size_t i = 0; i < tr->npeers; i++)
			fill_requests(tr, tr->peers[i]);
}

void
transfer_peer_bitfield(struct transfer *tr, struct peer *p)
{
	struct tpeer *tp = peer_data(p);

	if (tr->magnet)
		return;
	picker_add_peer_bitfield(tr->picker, peer_has(p));
	if (peer_is_seed(p) && bitfield_full(transfer_have(tr))) {
		peer_close(p, "both-seeds");
		return;
	}
	update_interest(tr, tp);
	fill_requests(tr, tp);
}

void
transfer_peer_forget_pieces(struct transfer *tr, struct peer *p)
{
	if (tr->magnet)
		return;
	picker_remove_peer_bitfield(tr->picker, peer_has(p));
}

void
transfer_peer_have(struct transfer *tr, struct peer *p, uint32_t piece)
{
	struct tpeer *tp = peer_data(p);

	if (tr->magnet)
		return;
	picker_add_peer_have(tr->picker, piece);
	if (!bitfield_get(transfer_have(tr), piece)) {
		peer_send_interested(p, 1);
		fill_requests(tr, tp);
	}
	if (peer_is_seed(p) && bitfield_full(transfer_have(tr)))
		peer_close(p, "both-seeds");
}

void
transfer_peer_choke(struct transfer *tr, struct peer *p, int choked)
{
	struct tpeer *tp = peer_data(p);

	if (tr->magnet)
		return;
	/* BEP 6: a Fast peer rejects what it drops; others drop all on choke. */
	if (choked && !peer_fast(p))
		picker_peer_dropped(tr->picker, peer_num(p));
	if (!choked)
		fill_requests(tr, tp);
}

static int
unchoked_count(const struct transfer *tr)
{
	int n = 0;

	for (size_t i = 0; i < tr->npeers; i++)
		if (!peer_am_choking(tr->peers[i]->p))
			n++;
	return n;
}

void
transfer_peer_interest(struct transfer *tr, struct peer *p, int interested)
{
	struct tpeer *tp = peer_data(p);

	if (tr->magnet)
		return;
	/* A free slot goes at once rather than at the next choking round. */
	if (interested && peer_am_choking(p) &&
	    unchoked_count(tr) < session_setting(tr->s, SETTING_UPLOAD_SLOTS)) {
		peer_send_choke(p, 0);
		tp->unchoked_at = tnow(tr);
	}
	if (!interested && !peer_am_choking(p))
		peer_send_choke(p, 1);
}

void
transfer_peer_allowed_fast(struct transfer *tr, struct peer *p, uint32_t piece)
{
	(void)piece;
	if (peer_choking_us(p))
		fill_requests(tr, peer_data(p));
}

/* --- downloading --- */

static void
fill_requests(struct transfer *tr, struct tpeer *tp)
{
	struct picker_block blocks[64];
	struct peer *p = tp->p;
	const struct bitfield *allowed = NULL;
	double now = tnow(tr), rate;
	size_t outstanding, target, n;

	if (tr->freeing || tr->magnet || !peer_is_active(p) || !peer_am_interested(p) ||
	    bitfield_full(transfer_have(tr)))
		return;
	/* A disk slower than the network must not turn into memory: wait for it. */
	if (tr->backlog >= HASH_BACKLOG)
		return;
	if (peer_choking_us(p)) {
		if (!peer_fast(p) || (allowed = peer_allowed_fast(p)) == NULL)
			return;
	}
	/* Keep about two seconds of data in flight, so the pipe never drains. */
	rate = peer_down_rate(p, now);
	target = (size_t)(rate * 2.0 / WIRE_BLOCK);
	if (target < 16)
		target = 16;
	if (target > peer_reqq(p))
		target = peer_reqq(p);
	if (target > 1000)
		target = 1000;
	outstanding = picker_peer_requests(tr->picker, peer_num(p));
	while (outstanding < target) {
		size_t want = target - outstanding;
		if (want > 64)
			want = 64;
		n = picker_pick(tr->picker, peer_has(p), peer_num(p), now, blocks, want, allowed);
		if (n == 0)
			break;
		for (size_t i = 0; i < n; i++)
			if (peer_send_request(p, blocks[i].piece, blocks[i].begin,
			    blocks[i].length) == -1)
				return;
		outstanding += n;
	}
}

struct hash_job {
	struct transfer *tr;
	uint32_t piece;
	uint32_t len;
	uint8_t *data;
	uint32_t *senders;
	uint8_t expected[20];
	int ok;
	int io_failed;
	char err[256];
};

static void
hash_write_run(void *arg)
{
	struct hash_job *j = arg;
	struct storage_reader *w;
	uint8_t md[20];

	sha1(j->data, j->len, md);
	if (memcmp(md, j->expected, 20) != 0)
		return;
	j->ok = 1;
	if ((w = storage_reader_new(j->tr->st)) == NULL) {
		j->io_failed = 1;
		snprintf(j->err, sizeof(j->err), "out of memory");
		return;
	}
	if (storage_write(w, (uint64_t)j->piece * j->tr->piece_length, j->data, j->len,
	    j->err, sizeof(j->err)) != STORAGE_OK)
		j->io_failed = 1;
	storage_reader_free(w);
}

static struct tpeer *
find_peer_num(struct transfer *tr, uint32_t num)
{
	for (size_t i = 0; i < tr->npeers; i++)
		if (peer_num(tr->peers[i]->p) == num)
			return tr->peers[i];
	return NULL;
}

static void
ban_peer(struct transfer *tr, struct tpeer *tp, const char *addr, const char *reason)
{
	struct netaddr a;
	char err[64];

	if (tp)
		a = *peer_addr(tp->p);
	else if (netaddr_parse(addr, &a, err, sizeof(err)) == -1)
		return;
	if (session_ban(tr->s, &a, reason))
		session_event(tr->s, CTL_EV_PEER_BANNED, json_pack("{s:I, s:s, s:s}", "id",
		    (json_int_t)torrent_id(tr->t), "address", addr, "reason", reason));
	if (tp)
		peer_close(tp->p, "banned");
}

/* Remembers per-block hashes of a failed piece and who sent each block. */
static void
record_failure(struct transfer *tr, struct hash_job *j)
{
	uint32_t nb = (j->len + WIRE_BLOCK - 1) / WIRE_BLOCK;
	struct ban_record *r;

	if (tr->nbans == MAX_BAN_RECORDS)
		return;
	r = &tr->bans[tr->nbans];
	r->hash = calloc(nb, sizeof(*r->hash));
	r->senders = calloc(nb, sizeof(*r->senders));
	r->addrs = calloc(nb, sizeof(*r->addrs));
	if (!r->hash || !r->senders || !r->addrs) {
		free(r->hash);
		free(r->senders);
		free(r->addrs);
		return;
	}
	r->piece = j->piece;
	r->nblocks = nb;
	for (uint32_t b = 0; b < nb; b++) {
		uint32_t off = b * WIRE_BLOCK;
		uint32_t bl = j->len - off < WIRE_BLOCK ? j->len - off : WIRE_BLOCK;
		struct tpeer *tp = find_peer_num(tr, j->senders[b]);
		sha1(j->data + off, bl, r->hash[b]);
		r->senders[b] = j->senders[b];
		snprintf(r->addrs[b], NETADDR_STRLEN, "%s", tp ? peer_addr_str(tp->p) : "");
	}
	tr->nbans++;
}

/*
 * The piece now passed: blocks that differ from the failed copy came from
 * the peers that lied (libtorrent calls this smart ban). Honest peers that
 * shared a bad piece go free.
 */
static void
settle_failures(struct transfer *tr, struct hash_job *j)
{
	for (size_t i = 0; i < tr->nbans; i++) {
		struct ban_record *r = &tr->bans[i];
		if (r->piece != j->piece)
			continue;
		for (uint32_t b = 0; b < r->nblocks; b++) {
			uint32_t off = b * WIRE_BLOCK;
			uint32_t bl = j->len - off < WIRE_BLOCK ? j->len - off : WIRE_BLOCK;
			uint8_t md[20];
			sha1(j->data + off, bl, md);
			if (memcmp(md, r->hash[b], 20) != 0 && r->addrs[b][0])
				ban_peer(tr, find_peer_num(tr, r->senders[b]), r->addrs[b],
				    "sent-corrupt-data");
		}
		free(r->hash);
		free(r->senders);
		free(r->addrs);
		tr->bans[i] = tr->bans[--tr->nbans];
		i--;
	}
}

static void
piece_failed(struct transfer *tr, struct hash_job *j)
{
	uint32_t nb = (j->len + WIRE_BLOCK - 1) / WIRE_BLOCK;
	json_t *peers = json_array();
	struct tpeer *only = NULL;
	int distinct = 0;

	log_warnx("torrent %lld: piece %u failed its hash check", (long long)torrent_id(tr->t),
	    j->piece);
	picker_piece_failed(tr->picker, j->piece);
	record_failure(tr, j);
	for (uint32_t b = 0; b < nb; b++) {
		struct tpeer *tp = find_peer_num(tr, j->senders[b]);
		int seen = 0;
		for (uint32_t c = 0; c < b; c++)
			seen |= j->senders[c] == j->senders[b];
		if (seen)
			continue;
		/* Peers gone since count too: they may be the ones who lied. */
		distinct++;
		only = tp;
		if (tp)
			json_array_append_new(peers, json_string(peer_addr_str(tp->p)));
	}
	session_event(tr->s, CTL_EV_PIECE_FAILED, json_pack("{s:I, s:I, s:o}", "id",
	    (json_int_t)torrent_id(tr->t), "piece", (json_int_t)j->piece, "peers", peers));
	/* A peer that alone sent bad pieces more than once is not mistaken. */
	if (distinct == 1 && only != NULL && ++only->strikes >= BAN_STRIKES)
		ban_peer(tr, only, peer_addr_str(only->p), "repeated-hash-failures");
}

static void
queue_sync_piece(struct transfer *tr, uint32_t piece)
{
	if (tr->nunsynced == tr->capunsynced) {
		size_t ncap = tr->capunsynced ? tr->capunsynced * 2 : 256;
		uint32_t *v = realloc(tr->unsynced, ncap * sizeof(*v));
		if (v == NULL)
			return;	/* it stays unrecorded: re-downloaded after a crash */
		tr->unsynced = v;
		tr->capunsynced = ncap;
	}
	tr->unsynced[tr->nunsynced++] = piece;
}

static void start_sync(struct transfer *tr);

static void
piece_passed(struct transfer *tr, struct hash_job *j)
{
	json_t *peers = json_array();

	picker_piece_verified(tr->picker, j->piece);
	settle_failures(tr, j);
	for (uint32_t b = 0; b < (j->len + WIRE_BLOCK - 1) / WIRE_BLOCK; b++) {
		struct tpeer *tp = find_peer_num(tr, j->senders[b]);
		int seen = 0;
		for (uint32_t c = 0; c < b; c++)
			seen |= j->senders[c] == j->senders[b];
		if (!seen && tp) {
			tp->pieces_from++;
			json_array_append_new(peers, json_string(peer_addr_str(tp->p)));
		}
	}
	session_event(tr->s, CTL_EV_PIECE_VERIFIED, json_pack("{s:I, s:I, s:o}", "id",
	    (json_int_t)torrent_id(tr->t), "piece", (json_int_t)j->piece, "peers", peers));
	queue_sync_piece(tr, j->piece);
	/* Announce and serve it now; the database learns of it after the sync. */
	torrent_piece_done(tr->t, j->piece);
	for (size_t i = 0; i < tr->npeers; i++) {
		struct tpeer *tp = tr->peers[i];
		if (!peer_is_active(tp->p))
			continue;
		/* Seeds get it too: their view of our progress comes from it. */
		peer_send_have(tp->p, j->piece);
		if (peer_am_interested(tp->p))
			update_interest(tr, tp);
	}
	if (bitfield_full(transfer_have(tr)) && tr->trackers)
		tracker_client_announce(tr->trackers, TRACKER_CLIENT_COMPLETED);
	if (bitfield_full(transfer_have(tr)) || tr->nunsynced >= SYNC_PIECES)
		start_sync(tr);
}

static uint8_t *
buffer_get(struct transfer *tr)
{
	if (tr->nspare > 0)
		return tr->spare[--tr->nspare];
	return malloc(tr->piece_length);
}

static void
buffer_put(struct transfer *tr, uint8_t *p)
{
	if (p != NULL && !tr->freeing && tr->nspare < SPARE_BUFFERS)
		tr->spare[tr->nspare++] = p;
	else
		free(p);
}

static void
hash_write_done(void *arg, int ran)
{
	struct hash_job *j = arg;
	struct transfer *tr = j->tr;

	if (ran && !tr->freeing) {
		if (!j->ok)
			piece_failed(tr, j);
		else if (j->io_failed)
			torrent_io_error(tr->t, j->err);	/* frees tr (zombie) */
		else
			piece_passed(tr, j);
	}
	buffer_put(tr, j->data);
	free(j->senders);
	tr->backlog -= j->len;
	if (!tr->freeing && tr->backlog + j->len >= HASH_BACKLOG && tr->backlog < HASH_BACKLOG)
		for (size_t i = 0; i < tr->npeers; i++)
			fill_requests(tr, tr->peers[i]);
	free(j);
	job_released(tr);
}

static void
piece_complete(struct transfer *tr, uint32_t piece)
{
	struct hash_job *j = calloc(1, sizeof(*j));

	if (j == NULL) {
		picker_piece_failed(tr->picker, piece);
		return;
	}
	j->tr = tr;
	j->piece = piece;
	j->len = piece_size(tr, piece);
	j->data = tr->asm_[piece].data;
	j->senders = tr->asm_[piece].senders;
	tr->asm_[piece].data = NULL;
	tr->asm_[piece].senders = NULL;
	memcpy(j->expected, tr->hashes + 20 * (size_t)piece, 20);
	if (worker_submit(session_pool(tr->s), hash_write_run, hash_write_done, j) == -1) {
		free(j->data);
		free(j->senders);
		free(j);
		picker_piece_failed(tr->picker, piece);
		return;
	}
	tr->backlog += j->len;
	tr->jobs++;
}

static int
was_cancelled(struct tpeer *tp, uint32_t piece, uint32_t begin)
{
	unsigned n = tp->ncancelled < CANCEL_MEMORY ? tp->ncancelled : CANCEL_MEMORY;

	for (unsigned i = 0; i < n; i++)
		if (tp->cancelled[i].piece == piece && tp->cancelled[i].begin == begin)
			return 1;
	return 0;
}

void
transfer_peer_block(struct transfer *tr, struct peer *p, uint32_t piece, uint32_t begin,
    const uint8_t *data, uint32_t len)
{
	struct tpeer *tp = peer_data(p);
	uint32_t psize = piece_size(tr, piece), cancels[8];
	size_t ncancel = 0;
	struct assembly *a = &tr->asm_[piece];
	int r;

	if (begin % WIRE_BLOCK != 0 || begin >= psize ||
	    len != (psize - begin < WIRE_BLOCK ? psize - begin : WIRE_BLOCK) ||
	    !picker_is_requested(tr->picker, piece, begin, peer_num(p))) {
		/* BEP 6: a cancelled block may still come; one never asked for may not. */
		if (!was_cancelled(tp, piece, begin) && ++tp->unrequested > MAX_UNREQUESTED)
			peer_close(p, "unrequested-data");
		return;
	}
	if (a->data == NULL) {
		a->data = buffer_get(tr);
		a->senders = calloc((psize + WIRE_BLOCK - 1) / WIRE_BLOCK, sizeof(uint32_t));
		if (a->data == NULL || a->senders == NULL) {
			free(a->data);
			free(a->senders);
			a->data = NULL;
			a->senders = NULL;
			picker_block_dropped(tr->picker, piece, begin, peer_num(p));
			return;
		}
	}
	r = picker_block_received(tr->picker, piece, begin, peer_num(p), cancels, 8, &ncancel);
	if (r < 0)
		return;
	memcpy(a->data + begin, data, len);
	a->senders[begin / WIRE_BLOCK] = peer_num(p);
	tp->last_block = tnow(tr);
	if (peer_snubbed(p))
		peer_set_snubbed(p, 0);
	torrent_add_counters(tr->t, 0, len);
	for (size_t i = 0; i < ncancel; i++) {
		struct tpeer *o = find_peer_num(tr, cancels[i]);
		if (o) {
			peer_send_cancel(o->p, piece, begin, len);
			o->cancelled[o->ncancelled % CANCEL_MEMORY].piece = piece;
			o->cancelled[o->ncancelled % CANCEL_MEMORY].begin = begin;
			o->ncancelled++;
		}
	}
	if (r == 1)
		piece_complete(tr, piece);
	fill_requests(tr, tp);
}

void
transfer_peer_reject(struct transfer *tr, struct peer *p, uint32_t piece, uint32_t begin,
    uint32_t len)
{
	struct tpeer *tp = peer_data(p);

	(void)len;
	/*
	 * BEP 6: every cancel may be answered by a reject, and in endgame we
	 * cancel many. A reject carries no data, so one we can't place is harmless.
	 */
	if (!picker_is_requested(tr->picker, piece, begin, peer_num(p)))
		return;
	picker_block_dropped(tr->picker, piece, begin, peer_num(p));
	fill_requests(tr, tp);
}

/* --- uploading --- */

struct read_job {
	struct transfer *tr;
	struct extent *e;
	uint32_t piece, off, len;
	uint8_t *data;
	int status;
	char err[256];
};

static void
read_run(void *arg)
{
	struct read_job *j = arg;
	struct storage_reader *r = storage_reader_new(j->tr->st);

	if (r == NULL) {
		j->status = STORAGE_ERROR;
		snprintf(j->err, sizeof(j->err), "out of memory");
		return;
	}
	j->status = storage_read(r, (uint64_t)j->piece * j->tr->piece_length + j->off,
	    j->data, j->len, j->err, sizeof(j->err));
	if (j->status == STORAGE_MISSING) {
		char why[sizeof(j->err)];

		/* storage says which file and how (gone, or shorter than it was). */
		snprintf(why, sizeof(why), "%s", j->err);
		snprintf(j->err, sizeof(j->err), "data for piece %u is missing on disk "
		    "(file deleted or truncated?): %s", j->piece, why);
	}
	storage_reader_free(r);
}

static void
read_done(void *arg, int ran)
{
	struct read_job *j = arg;
	struct transfer *tr = j->tr;

	j->e->loading = 0;
	if (ran && !tr->freeing && j->status == STORAGE_OK) {
		j->e->valid = 1;
		j->e->used = tnow(tr);
		for (size_t i = 0; i < tr->npeers; i++)
			serve_uploads(tr, tr->peers[i]);
	} else if (ran && !tr->freeing) {
		torrent_io_error(tr->t, j->err);
	}
	job_released(tr);
	free(j);
}

static uint32_t
extent_size(const struct transfer *tr)
{
	return tr->piece_length < EXTENT_MAX ? tr->piece_length : EXTENT_MAX;
}

/* The cached extent holding (piece, off), starting a read if absent. NULL: not ready. */
static struct extent *
extent_get(struct transfer *tr, uint32_t piece, uint32_t off)
{
	uint32_t es = extent_size(tr), eoff = off / es * es;
	struct extent *victim = NULL;
	struct read_job *j;

	for (size_t i = 0; i < tr->ncache; i++) {
		struct extent *e = &tr->cache[i];
		if ((e->valid || e->loading) && e->piece == piece && e->off == eoff) {
			if (e->loading)
				return NULL;
			e->used = tnow(tr);
			return e;
		}
		if (!e->loading && (victim == NULL || !e->valid ||
		    (victim->valid && e->used < victim->used)))
			victim = e;
	}
	if (victim == NULL)
		return NULL;	/* every slot is loading; retried when one lands */
	if (victim->data == NULL && (victim->data = malloc(es)) == NULL)
		return NULL;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	victim->valid = 0;
	victim->loading = 1;
	victim->piece = piece;
	victim->off = eoff;
	victim->len = piece_size(tr, piece) - eoff < es ? piece_size(tr, piece) - eoff : es;
	j->tr = tr;
	j->e = victim;
	j->piece = piece;
	j->off = eoff;
	j->len = victim->len;
	j->data = victim->data;
	if (worker_submit(session_pool(tr->s), read_run, read_done, j) == -1) {
		victim->loading = 0;
		free(j);
		return NULL;
	}
	tr->jobs++;
	return NULL;
}

/* Points *out at len bytes of piece from offset begin, if cached. */
static int
block_bytes(struct transfer *tr, const struct upreq *q, const uint8_t **out)
{
	uint32_t done = 0;
	struct extent *first = extent_get(tr, q->piece, q->begin);

	if (first == NULL)
		return -1;
	if (q->begin + q->len <= first->off + first->len) {
		*out = first->data + (q->begin - first->off);
		return 0;
	}
	/* It spans extents: gather into scratch. */
	while (done < q->len) {
		struct extent *e = extent_get(tr, q->piece, q->begin + done);
		uint32_t at, n;
		if (e == NULL)
			return -1;
		at = q->begin + done - e->off;
		n = e->len - at < q->len - done ? e->len - at : q->len - done;
		memcpy(tr->scratch + done, e->data + at, n);
		done += n;
	}
	*out = tr->scratch;
	return 0;
}

static void
serve_uploads(struct transfer *tr, struct tpeer *tp)
{
	struct ratelimit *rl = session_rate_up(tr->s);
	double now = tnow(tr);

	while (!tr->freeing && !tr->magnet && tp->uphead < tp->nup && peer_is_active(tp->p) &&
	    peer_send_queued(tp->p) < PEER_SEND_LOW) {
		struct upreq *q = &tp->up[tp->uphead];
		const uint8_t *data;
		double wait = ratelimit_wait(rl, q->len, now);

		if (wait > 0) {
			if (!ev_is_active(&tr->pump)) {
				ev_timer_set(&tr->pump, wait, 0.);
				ev_timer_start(session_loop(tr->s), &tr->pump);
			}
			return;
		}
		if (block_bytes(tr, q, &data) == -1)
			return;
		ratelimit_take(rl, q->len, now);
		if (peer_send_block(tp->p, q->piece, q->begin, data, q->len) == -1)
			return;
		torrent_add_counters(tr->t, q->len, 0);
		tp->uphead++;
	}
	if (tp->uphead == tp->nup)
		tp->uphead = tp->nup = 0;
}

void
transfer_peer_request(struct transfer *tr, struct peer *p, uint32_t piece, uint32_t begin,
    uint32_t len)
{
	struct tpeer *tp = peer_data(p);
	uint32_t psize = piece_size(tr, piece);

	if (!bitfield_get(transfer_have(tr), piece)) {
		peer_close(p, "request-for-piece-we-lack");
		return;
	}
	if (begin > psize || len > psize - begin) {
		peer_close(p, "request-out-of-range");
		return;
	}
	if (peer_am_choking(p)) {
		/*
		 * It may have sent this before our choke arrived: not an offence. But
		 * rejects piling up unread mean it floods and doesn't read: drop it
		 * before 500 such peers hold 8 MiB each.
		 */
		if (peer_send_queued(p) > REJECT_BACKLOG) {
			peer_close(p, "request-flood");
			return;
		}
		peer_send_reject(p, piece, begin, len);
		return;
	}
	if (tp->nup - tp->uphead >= MAX_UPLOAD_QUEUE) {
		peer_close(p, "request-flood");
		return;
	}
	if (tp->nup == tp->capup) {
		if (tp->uphead > 0) {
			memmove(tp->up, tp->up + tp->uphead, (tp->nup - tp->uphead) * sizeof(*tp->up));
			tp->nup -= tp->uphead;
			tp->uphead = 0;
		} else {
			size_t ncap = tp->capup ? tp->capup * 2 : 64;
			struct upreq *v = realloc(tp->up, ncap * sizeof(*v));
			if (v == NULL) {
				peer_send_reject(p, piece, begin, len);
				return;
			}
			tp->up = v;
			tp->capup = ncap;
		}
	}
	tp->up[tp->nup].piece = piece;
	tp->up[tp->nup].begin = begin;
	tp->up[tp->nup].len = len;
	tp->nup++;
	serve_uploads(tr, tp);
}

void
transfer_peer_cancel(struct transfer *tr, struct peer *p, uint32_t piece, uint32_t begin,
    uint32_t len)
{
	struct tpeer *tp = peer_data(p);

	(void)tr;
	for (size_t i = tp->uphead; i < tp->nup; i++) {
		struct upreq *q = &tp->up[i];
		if (q->piece == piece && q->begin == begin && q->len == len) {
			memmove(q, q + 1, (tp->nup - i - 1) * sizeof(*q));
			tp->nup--;
			/* BEP 6: a cancelled request is answered with a reject. */
			peer_send_reject(p, piece, begin, len);
			return;
		}
	}
}

void
transfer_peer_writable(struct transfer *tr, struct peer *p)
{
	serve_uploads(tr, peer_data(p));
}

/* --- syncing: the database only learns of pieces whose bytes are durable --- */

struct sync_job {
	struct transfer *tr;
	uint32_t *pieces;
	size_t npieces;
	size_t *files;
	size_t nfiles;
	int complete;		/* the torrent is whole: create its empty files too */
	int failed;
	char err[256];
};

static void
sync_run(void *arg)
{
	struct sync_job *j = arg;

	/* Empty files own no piece, so no write made them: do it at the end. */
	if (j->complete && storage_create_empty(j->tr->st, j->err, sizeof(j->err)) !=
	    STORAGE_OK) {
		j->failed = 1;
		return;
	}
	j->failed = storage_sync(j->tr->st, j->files, j->nfiles, j->err, sizeof(j->err)) !=
	    STORAGE_OK;
}

static void
sync_done(void *arg, int ran)
{
	struct sync_job *j = arg;
	struct transfer *tr = j->tr;

	tr->sync_inflight = 0;
	if (ran && !tr->freeing) {
		if (j->failed)
			torrent_io_error(tr->t, j->err);
		else
			torrent_pieces_synced(tr->t, j->pieces, j->npieces);
	}
	free(j->pieces);
	free(j->files);
	free(j);
	job_released(tr);
}

static int
cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

/* The distinct files the unsynced pieces touch. */
static size_t *
dirty_files(struct transfer *tr, size_t *n)
{
	size_t cap = 16, k = 0, *v = malloc(cap * sizeof(*v));

	for (size_t i = 0; v && i < tr->nunsynced; i++) {
		size_t first, last;
		storage_piece_files(tr->st, tr->unsynced[i], &first, &last);
		for (size_t f = first; f <= last; f++) {
			if (k == cap) {
				size_t *nv = realloc(v, (cap *= 2) * sizeof(*v));
				if (nv == NULL) {
					free(v);
					return NULL;
				}
				v = nv;
			}
			v[k++] = f;
		}
	}
	if (v == NULL)
		return NULL;
	qsort(v, k, sizeof(*v), cmp_size);
	*n = 0;
	for (size_t i = 0; i < k; i++)
		if (i == 0 || v[i] != v[i - 1])
			v[(*n)++] = v[i];
	return v;
}

static void
start_sync(struct transfer *tr)
{
	struct sync_job *j;

	if (tr->sync_inflight || tr->nunsynced == 0 || tr->freeing)
		return;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return;
	j->tr = tr;
	j->pieces = tr->unsynced;
	j->npieces = tr->nunsynced;
	if ((j->files = dirty_files(tr, &j->nfiles)) == NULL) {
		free(j);
		return;
	}
	j->complete = bitfield_full(transfer_have(tr));
	tr->unsynced = NULL;
	tr->nunsynced = tr->capunsynced = 0;
	if (worker_submit(session_pool(tr->s), sync_run, sync_done, j) == -1) {
		/* Put them back; the next try or the final flush records them. */
		tr->unsynced = j->pieces;
		tr->nunsynced = tr->capunsynced = j->npieces;
		free(j->files);
		free(j);
		return;
	}
	tr->sync_inflight = 1;
	tr->last_sync = tnow(tr);
	tr->jobs++;
}

void
transfer_flush(struct transfer *tr)
{
	size_t *files, nfiles;
	char err[256];

	/* Shutdown: the pool is stopped, so sync here, on the loop, once. */
	if (tr->freeing || tr->nunsynced == 0 || tr->t == NULL)
		return;
	if ((files = dirty_files(tr, &nfiles)) == NULL)
		return;
	if (bitfield_full(transfer_have(tr)))
		storage_create_empty(tr->st, err, sizeof(err));
	if (storage_sync(tr->st, files, nfiles, err, sizeof(err)) == STORAGE_OK)
		torrent_pieces_synced(tr->t, tr->unsynced, tr->nunsynced);
	else
		log_warnx("torrent %lld: final sync failed: %s; those pieces will be fetched "
		    "again", (long long)torrent_id(tr->t), err);
	tr->nunsynced = 0;
	free(files);
}

/* --- housekeeping --- */

static void
choke_round(struct transfer *tr, double now)
{
	struct choker_peer *cp = calloc(tr->npeers ? tr->npeers : 1, sizeof(*cp));
	int slots = session_setting(tr->s, SETTING_UPLOAD_SLOTS);

	if (cp == NULL)
		return;
	for (size_t i = 0; i < tr->npeers; i++) {
		struct peer *p = tr->peers[i]->p;
		cp[i].id = peer_num(p);
		cp[i].interested = peer_is_active(p) && peer_interested_in_us(p);
		cp[i].choked = peer_am_choking(p);
		cp[i].snubbed = peer_snubbed(p);
		cp[i].down_rate = peer_down_rate(p, now);
		cp[i].up_rate = peer_up_rate(p, now);
		cp[i].unchoked_since = peer_am_choking(p) ? 0 : tr->peers[i]->unchoked_at;
	}
	choker_run(&tr->choker, cp, tr->npeers, bitfield_full(transfer_have(tr)), slots, now);
	for (size_t i = 0; i < tr->npeers; i++) {
		struct tpeer *tp = tr->peers[i];
		if (!peer_is_active(tp->p))
			continue;
		if (cp[i].unchoke && peer_am_choking(tp->p)) {
			tp->unchoked_at = now;
			peer_send_choke(tp->p, 0);
		} else if (!cp[i].unchoke && !peer_am_choking(tp->p)) {
			peer_send_choke(tp->p, 1);
			/* What it asked for is dropped: tell a Fast peer so. */
			for (size_t k = tp->uphead; k < tp->nup; k++)
				peer_send_reject(tp->p, tp->up[k].piece, tp->up[k].begin,
				    tp->up[k].len);
			tp->uphead = tp->nup = 0;
		}
	}
	free(cp);
	tr->last_choke = now;
}

static int
connected_to(const struct transfer *tr, const struct netaddr *a)
{
	for (size_t i = 0; i < tr->npeers; i++)
		if (netaddr_equal(peer_addr(tr->peers[i]->p), a))
			return 1;
	return 0;
}

/*
 * Peers given by hand are remembered (in the database too), so a dropped
 * connection or a restart doesn't leave a download without its sources.
 */
static void
redial(struct transfer *tr, double now)
{
	char err[160];

	for (size_t i = 0; i < tr->nknown; i++) {
		struct known *k = &tr->known[i];
		if (k->next_try > now || connected_to(tr, &k->addr))
			continue;
		k->next_try = now + REDIAL_EVERY;
		if (session_peer_allowed(tr->s, &k->addr, err, sizeof(err)) == 0)
			peer_connect(tr->s, tr, &k->addr);
	}
}

double
transfer_started(const struct transfer *tr)
{
	return tr->started;
}

size_t
transfer_known(const struct transfer *tr, struct netaddr *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < tr->npeers && n < max; i++)
		if (peer_listen_addr(tr->peers[i]->p, &out[n]) == 0)
			n++;
	for (size_t i = 0; i < tr->nknown && n < max; i++)
		out[n++] = tr->known[i].addr;
	return n;
}

void
transfer_add_peer(struct transfer *tr, const struct netaddr *a)
{
	if (netaddr_port(a) == 0)
		return;
	known_add(tr, a, 0);
	/* Dial now rather than at the next tick: a fresh magnet is waiting for exactly this. */
	if (tr->magnet || !bitfield_full(transfer_have(tr)))
		redial(tr, tnow(tr));
}

void
transfer_peer_pex(struct transfer *tr, struct peer *p, const struct netaddr *a)
{
	(void)p;
	/* Dialled by the tick while we still download, like any known address. */
	if (netaddr_port(a) != 0)
		known_add(tr, a, 0);
}

/* BEP 11: tell each peer, once a minute, whom else we are connected to. */
static void
send_pex(struct transfer *tr, double now)
{
	struct extmsg_pex_peer list[PEX_MAX];
	size_t n = 0;

	for (size_t i = 0; i < tr->npeers && n < PEX_MAX; i++) {
		if (!peer_is_active(tr->peers[i]->p) ||
		    peer_listen_addr(tr->peers[i]->p, &list[n].addr) == -1)
			continue;
		list[n].flags = peer_is_seed(tr->peers[i]->p) ? EXTMSG_PEX_F_SEED : 0;
		n++;
	}
	for (size_t i = 0; i < tr->npeers; i++) {
		struct tpeer *tp = tr->peers[i];
		struct extmsg_pex_peer others[PEX_MAX];
		struct netaddr self;
		size_t k = 0;

		if (tp->pex_next > now || !peer_is_active(tp->p))
			continue;
		tp->pex_next = now + PEX_EVERY;
		if (peer_listen_addr(tp->p, &self) == -1)
			self = *peer_addr(tp->p);
		for (size_t j = 0; j < n; j++)
			if (!netaddr_equal(&list[j].addr, &self))
				others[k++] = list[j];
		if (k > 0)
			peer_send_pex(tp->p, others, k);
	}
}

void
transfer_tick(struct transfer *tr, double now)
{
	if (tr->magnet) {
		/* Ask again for what hasn't come: a peer may have ignored us. */
		if (tr->meta && now - tr->last_choke >= 10.0) {
			tr->last_choke = now;
			for (size_t i = 0; i < tr->npeers; i++)
				request_metadata(tr, tr->peers[i]->p);
		}
		if (tr->trackers)
			tracker_client_tick(tr->trackers, now);
		redial(tr, now);
		return;
	}
	for (size_t i = 0; i < tr->npeers; i++) {
		struct tpeer *tp = tr->peers[i];
		struct peer *p = tp->p;
		if (!peer_is_active(p))
			continue;
		if (picker_expire(tr->picker, peer_num(p), now, REQUEST_TIMEOUT) > 0 ||
		    (picker_peer_requests(tr->picker, peer_num(p)) > 0 &&
		    now - tp->last_block > SNUB_AFTER && tp->last_block > 0))
			peer_set_snubbed(p, 1);
		if (peer_is_seed(p) && bitfield_full(transfer_have(tr))) {
			peer_close(p, "both-seeds");
			continue;
		}
		if (peer_am_interested(p))
			update_interest(tr, tp);
		fill_requests(tr, tp);
		serve_uploads(tr, tp);
	}
	if (now - tr->last_choke >= CHOKER_INTERVAL)
		choke_round(tr, now);
	if (tr->trackers)
		tracker_client_tick(tr->trackers, now);
	if (session_pex_enabled(tr->s))
		send_pex(tr, now);
	if (!bitfield_full(transfer_have(tr)))
		redial(tr, now);
	if (tr->nunsynced > 0 && now - tr->last_sync >= SYNC_EVERY)
		start_sync(tr);
}

/* --- queries --- */

int
transfer_connect(struct transfer *tr, const struct netaddr *a, char *err, size_t errlen)
{
	int code = session_peer_allowed(tr->s, a, err, errlen);

	if (code != 0)
		return code;
	for (size_t i = 0; i < tr->npeers; i++) {
		if (netaddr_equal(peer_addr(tr->peers[i]->p), a)) {
			snprintf(err, errlen, "already connected to that peer");
			return RPC_ERR_BUSY;
		}
	}
	known_add(tr, a, tnow(tr) + REDIAL_EVERY);
	if (peer_connect(tr->s, tr, a) == NULL) {
		snprintf(err, errlen, "cannot connect (see the daemon's log)");
		return RPC_ERR_IO;
	}
	return 0;
}

json_t *
transfer_peers_json(struct transfer *tr)
{
	json_t *a = json_array();
	double now = tnow(tr);

	for (size_t i = 0; i < tr->npeers; i++) {
		json_t *o;
		if (!peer_is_active(tr->peers[i]->p))
			continue;
		o = peer_json(tr->peers[i]->p, now, tr->npieces);
		json_object_set_new(o, "pieces_from", json_integer(tr->peers[i]->pieces_from));
		json_array_append_new(a, o);
	}
	return a;
}

double
transfer_down_rate(struct transfer *tr)
{
	double r = 0, now = tnow(tr);

	for (size_t i = 0; i < tr->npeers; i++)
		r += peer_down_rate(tr->peers[i]->p, now);
	return r;
}

double
transfer_up_rate(struct transfer *tr)
{
	double r = 0, now = tnow(tr);

	for (size_t i = 0; i < tr->npeers; i++)
		r += peer_up_rate(tr->peers[i]->p, now);
	return r;
}

json_t *
transfer_trackers_json(struct transfer *tr)
{
	return tr->trackers ? tracker_client_json(tr->trackers, tnow(tr)) : NULL;
}
