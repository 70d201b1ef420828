/* picker.c: which block to request next: availability buckets, partial pieces first, bounded endgame. */
#include "picker.h"

#include <stdlib.h>
#include <string.h>

#include "bitfield.h"

/*
 * Layout (the idea of libtorrent's piece_picker): order[] holds every piece
 * we lack, grouped into buckets by availability -- bucket k is
 * order[bstart[k] .. bstart[k+1]) -- with the pieces we have before
 * bstart[0] and after bstart[nbuckets]. A have message moves its piece
 * across one bucket boundary with one swap, so availability costs O(1) per
 * piece; a completed piece leaves toward the nearer end.
 *
 * Picking walks the buckets from availability 1 up, starting each bucket at
 * a random offset: rarest first with a random tie-break, and a peer with
 * most pieces finds one in a few steps. A peer with few useful pieces
 * would make the walk long, so after a step budget the bitfields are
 * intersected 64 pieces at a time instead. Pieces nobody announced (bucket
 * 0) are never picked: the caller reports every peer's bitfield and haves.
 *
 * Per-block state exists only for partial pieces (some block requested or
 * received). Partials with a missing block are also on open[], served
 * before any new piece is started, so pieces finish. Endgame is per peer:
 * once nothing unrequested is left in the pieces it has, it may duplicate
 * others' requests (BEP 3's "end game"), at most MAX_REQUESTERS per block.
 */

#define BLOCK_LEN	16384u
#define MAX_REQUESTERS	4	/* endgame: peers asking for one block at once */
#define MAX_CONTRIB	16	/* peers remembered per piece for blame */
#define WALK_MIN	4096	/* bucket steps before scanning the bitfields instead... */
#define WALK_DIV	16	/* ...or npieces / WALK_DIV, whichever is more */
#define NONE		UINT32_MAX

enum {
	BLK_MISSING,		/* neither requested nor received */
	BLK_REQUESTED,
	BLK_RECEIVED,
};

struct pblock {
	uint32_t req[MAX_REQUESTERS];	/* peers with a request out; times are in their lists */
	uint8_t nreq;
	uint8_t state;
};

struct partial {
	uint32_t piece;
	uint32_t nblocks;
	uint32_t nmissing;
	uint32_t nreceived;
	uint32_t hint;		/* no missing block below this one */
	uint32_t openpos;	/* index in open[], NONE while nothing is missing */
	int failed;		/* last attempt failed its hash; contributors kept for blame */
	uint32_t ncontrib;
	uint32_t contrib[MAX_CONTRIB];
	struct pblock *blocks;
};

struct preq {
	uint32_t piece;
	uint32_t block;
	double time;
};

/* A peer's outstanding requests, so expiry and disconnects never scan the partials. */
struct ppeer {
	uint32_t id;
	struct preq *reqs;
	size_t nreqs, cap;
	/*
	 * No fresh piece of this peer was left when it had dry_count pieces
	 * and the fresh pool was at dry_epoch: until either changes, skip
	 * the search, so a peer with nothing for us costs next to nothing.
	 */
	int dry;
	uint32_t dry_count;
	uint64_t dry_epoch;
};

struct cand {
	uint64_t key;		/* availability, then a random tie-break */
	uint32_t piece;
};

struct picker {
	uint32_t npieces;
	uint32_t piece_length;
	uint64_t total_length;
	uint64_t rng;

	struct bitfield have;
	struct bitfield fresh;	/* lacking and not partial: where new pieces come from */
	uint64_t fresh_epoch;	/* bumped when a piece rejoins the fresh pool */

	uint32_t *avail;
	uint32_t *order;
	uint32_t *pos;		/* index of each piece in order[] */
	uint32_t *bstart;	/* nbuckets + 1 entries; pieces we have lie outside */
	uint32_t nbuckets, bcap;

	uint32_t *pidx;		/* partials[] slot of each piece, NONE */
	struct partial *partials;
	uint32_t npartials, partcap;
	uint32_t *open;		/* pieces of partials with a missing block; capacity partcap */
	uint32_t nopen;

	struct ppeer *peers;	/* a torrent has tens to hundreds of peers: a list is enough */
	size_t npeers, peercap;

	struct cand *cands;	/* pick_scan's heap of the best candidates */
	size_t candcap;
};

/* One picker_pick call. */
struct pick {
	struct picker *p;
	const struct bitfield *has;
	const struct bitfield *allowed;
	struct ppeer *pp;
	double now;
	struct picker_block *out;
	size_t max, n;
	int oom;		/* a search cut short: no conclusions from it */
};

/* splitmix64: tiny, seedable, plenty for tie-breaks. */
static uint64_t
rng_next(uint64_t *s)
{
	uint64_t z;

	z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t
piece_len(const struct picker *p, uint32_t piece)
{
	if (piece + 1 < p->npieces)
		return p->piece_length;
	return (uint32_t)(p->total_length - (uint64_t)piece * p->piece_length);
}

static uint32_t
piece_blocks(const struct picker *p, uint32_t piece)
{
	return (piece_len(p, piece) + BLOCK_LEN - 1) / BLOCK_LEN;
}

/* Block number of (piece, begin), or NONE if that is no block of the torrent. */
static uint32_t
block_of(const struct picker *p, uint32_t piece, uint32_t begin)
{
	if (piece >= p->npieces || begin % BLOCK_LEN != 0 || begin >= piece_len(p, piece))
		return NONE;
	return begin / BLOCK_LEN;
}

/* bitfield_get for the hot loops; callers keep i in range. */
static inline int
bit(const struct bitfield *bf, uint32_t i)
{
	return (bf->bits[i >> 3] >> (7 - (i & 7))) & 1;
}

/* Next set bit at or after i, or nbits. */
static uint32_t
next_set(const struct bitfield *bf, uint64_t i)
{
	while (i < bf->nbits) {
		uint8_t byte = bf->bits[i >> 3] & (uint8_t)(0xff >> (i & 7));

		if (byte == 0) {
			i = (i | 7) + 1;
			continue;
		}
		i = (i & ~(uint64_t)7) + (uint64_t)__builtin_clz(byte) - 24;
		return i < bf->nbits ? (uint32_t)i : bf->nbits;
	}
	return bf->nbits;
}

/* Availability buckets. */

static void
order_swap(struct picker *p, uint32_t a, uint32_t b)
{
	uint32_t pa = p->order[a], pb = p->order[b];

	p->order[a] = pb;
	p->pos[pb] = a;
	p->order[b] = pa;
	p->pos[pa] = b;
}

/* Opens an empty bucket above the top one. */
static int
bucket_grow(struct picker *p)
{
	if (p->nbuckets + 2 > p->bcap) {
		uint32_t cap = p->bcap * 2;
		uint32_t *nb = realloc(p->bstart, cap * sizeof(*nb));

		if (nb == NULL)
			return -1;
		p->bstart = nb;
		p->bcap = cap;
	}
	p->bstart[p->nbuckets + 1] = p->bstart[p->nbuckets];
	p->nbuckets++;
	return 0;
}

/* Empty top buckets would only lengthen walks. */
static void
bucket_trim(struct picker *p)
{
	while (p->nbuckets > 1 && p->bstart[p->nbuckets - 1] == p->bstart[p->nbuckets])
		p->nbuckets--;
}

static void
avail_inc(struct picker *p, uint32_t piece)
{
	uint32_t k = p->avail[piece], last;

	if (k == UINT32_MAX)
		return;
	if (bit(&p->have, piece)) {
		p->avail[piece]++;
		return;
	}
	/* Out of memory: the count saturates rather than breaking the buckets. */
	if (k + 1 == p->nbuckets && bucket_grow(p) == -1)
		return;
	/* Last of bucket k becomes first of bucket k + 1. */
	last = p->bstart[k + 1] - 1;
	order_swap(p, p->pos[piece], last);
	p->bstart[k + 1]--;
	p->avail[piece]++;
}

static void
avail_dec(struct picker *p, uint32_t piece)
{
	uint32_t k = p->avail[piece];

	if (k == 0)
		return;
	p->avail[piece]--;
	if (bit(&p->have, piece))
		return;
	/* First of bucket k becomes last of bucket k - 1. */
	order_swap(p, p->pos[piece], p->bstart[k]);
	p->bstart[k]++;
	bucket_trim(p);
}

/*
 * Moves piece out of the buckets, one swap per bucket on the way to the
 * nearer end: once per piece. Rare pieces, finished first, leave at the front.
 */
static void
mark_have(struct picker *p, uint32_t piece)
{
	uint32_t k = p->avail[piece];

	if (bit(&p->have, piece))
		return;
	if (k + 1 <= p->nbuckets - k) {
		/* First of bucket j becomes last of bucket j - 1, down to the front. */
		for (uint32_t j = k + 1; j-- > 0;) {
			order_swap(p, p->pos[piece], p->bstart[j]);
			p->bstart[j]++;
		}
	} else {
		for (uint32_t j = k; j < p->nbuckets; j++) {
			order_swap(p, p->pos[piece], p->bstart[j + 1] - 1);
			p->bstart[j + 1]--;
		}
	}
	bitfield_set(&p->have, piece);
	bitfield_clear(&p->fresh, piece);
	bucket_trim(p);
}

/* Partial pieces. */

static struct partial *
partial_get(const struct picker *p, uint32_t piece)
{
	if (piece >= p->npieces || p->pidx[piece] == NONE)
		return NULL;
	return &p->partials[p->pidx[piece]];
}

static void
open_add(struct picker *p, struct partial *pt)
{
	if (pt->openpos != NONE)
		return;
	pt->openpos = p->nopen;
	p->open[p->nopen++] = pt->piece;
}

static void
open_remove(struct picker *p, struct partial *pt)
{
	uint32_t last;

	if (pt->openpos == NONE)
		return;
	last = p->open[--p->nopen];
	p->open[pt->openpos] = last;
	partial_get(p, last)->openpos = pt->openpos;
	pt->openpos = NONE;
}

static int
partial_grow(struct picker *p)
{
	uint32_t cap = p->partcap ? p->partcap * 2 : 64;
	struct partial *np;
	uint32_t *no;

	if ((np = realloc(p->partials, cap * sizeof(*np))) == NULL)
		return -1;
	p->partials = np;
	if ((no = realloc(p->open, cap * sizeof(*no))) == NULL)
		return -1;
	p->open = no;
	p->partcap = cap;
	return 0;
}

/* Starts per-block state for piece. Invalidates other partial pointers. */
static struct partial *
partial_new(struct picker *p, uint32_t piece)
{
	struct partial *pt;
	struct pblock *blocks;
	uint32_t nblocks = piece_blocks(p, piece);

	if (p->npartials == p->partcap && partial_grow(p) == -1)
		return NULL;
	if ((blocks = calloc(nblocks, sizeof(*blocks))) == NULL)
		return NULL;
	pt = &p->partials[p->npartials];
	memset(pt, 0, sizeof(*pt));
	pt->piece = piece;
	pt->nblocks = pt->nmissing = nblocks;
	pt->openpos = NONE;
	pt->blocks = blocks;
	p->pidx[piece] = p->npartials++;
	bitfield_clear(&p->fresh, piece);
	open_add(p, pt);
	return pt;
}

/* Drops per-block state. Invalidates partial pointers. */
static void
partial_free(struct picker *p, uint32_t piece)
{
	uint32_t slot = p->pidx[piece], last;
	struct partial *pt = &p->partials[slot];

	open_remove(p, pt);
	free(pt->blocks);
	last = --p->npartials;
	if (slot != last) {
		p->partials[slot] = p->partials[last];
		p->pidx[p->partials[slot].piece] = slot;
	}
	p->pidx[piece] = NONE;
}

/*
 * A partial nothing arrived for and nobody asks for any more goes back to
 * the fresh pool, so it is ranked by rarity again and costs no memory.
 */
static void
partial_revert(struct picker *p, uint32_t piece)
{
	struct partial *pt = partial_get(p, piece);

	if (pt == NULL || pt->nmissing != pt->nblocks || (pt->failed && pt->ncontrib > 0))
		return;
	partial_free(p, piece);
	bitfield_set(&p->fresh, piece);
	p->fresh_epoch++;
}

static void
contrib_add(struct partial *pt, uint32_t peer)
{
	for (uint32_t i = 0; i < pt->ncontrib; i++)
		if (pt->contrib[i] == peer)
			return;
	if (pt->ncontrib < MAX_CONTRIB)
		pt->contrib[pt->ncontrib++] = peer;
}

/* Peers and their request lists. */

static struct ppeer *
peer_find(const struct picker *p, uint32_t id)
{
	for (size_t i = 0; i < p->npeers; i++)
		if (p->peers[i].id == id)
			return &p->peers[i];
	return NULL;
}

static struct ppeer *
peer_get(struct picker *p, uint32_t id)
{
	struct ppeer *pp = peer_find(p, id);

	if (pp != NULL)
		return pp;
	if (p->npeers == p->peercap) {
		size_t cap = p->peercap ? p->peercap * 2 : 16;
		struct ppeer *np = realloc(p->peers, cap * sizeof(*np));

		if (np == NULL)
			return NULL;
		p->peers = np;
		p->peercap = cap;
	}
	pp = &p->peers[p->npeers++];
	memset(pp, 0, sizeof(*pp));
	pp->id = id;
	return pp;
}

static void
peer_forget(struct picker *p, struct ppeer *pp)
{
	free(pp->reqs);
	*pp = p->peers[--p->npeers];
}

static int
peer_append(struct ppeer *pp, uint32_t piece, uint32_t block, double now)
{
	if (pp->nreqs == pp->cap) {
		size_t cap = pp->cap ? pp->cap * 2 : 32;
		struct preq *nr = realloc(pp->reqs, cap * sizeof(*nr));

		if (nr == NULL)
			return -1;
		pp->reqs = nr;
		pp->cap = cap;
	}
	pp->reqs[pp->nreqs].piece = piece;
	pp->reqs[pp->nreqs].block = block;
	pp->reqs[pp->nreqs].time = now;
	pp->nreqs++;
	return 0;
}

/* Order does not matter, so removal swaps in the last entry. */
static void
peer_unlist(struct picker *p, uint32_t id, uint32_t piece, uint32_t block)
{
	struct ppeer *pp = peer_find(p, id);

	if (pp == NULL)
		return;
	for (size_t i = 0; i < pp->nreqs; i++) {
		if (pp->reqs[i].piece == piece && pp->reqs[i].block == block) {
			pp->reqs[i] = pp->reqs[--pp->nreqs];
			return;
		}
	}
}

/* Takes peer off the block's requesters; a block nobody asks for is missing again. */
static int
block_unrequest(struct picker *p, struct partial *pt, uint32_t b, uint32_t peer)
{
	struct pblock *blk = &pt->blocks[b];
	uint8_t i;

	for (i = 0; i < blk->nreq && blk->req[i] != peer; i++)
		;
	if (i == blk->nreq)
		return 0;
	blk->req[i] = blk->req[--blk->nreq];
	if (blk->nreq == 0 && blk->state == BLK_REQUESTED) {
		blk->state = BLK_MISSING;
		pt->nmissing++;
		if (b < pt->hint)
			pt->hint = b;
		open_add(p, pt);
	}
	return 1;
}

/* Forgets every request for piece, in the blocks and in the peers' lists. */
static void
partial_unrequest_all(struct picker *p, struct partial *pt)
{
	for (uint32_t b = 0; b < pt->nblocks; b++) {
		struct pblock *blk = &pt->blocks[b];

		for (uint8_t i = 0; i < blk->nreq; i++)
			peer_unlist(p, blk->req[i], pt->piece, b);
		blk->nreq = 0;
	}
}

/* Picking. */

static int
wanted(const struct pick *pk, uint32_t piece)
{
	return bit(pk->has, piece) &&
	    (pk->allowed == NULL || bit(pk->allowed, piece));
}

static int
emit(struct pick *pk, struct partial *pt, uint32_t b)
{
	struct pblock *blk = &pt->blocks[b];
	uint32_t len = piece_len(pk->p, pt->piece), begin = b * BLOCK_LEN;
	struct picker_block *o;

	if (peer_append(pk->pp, pt->piece, b, pk->now) == -1) {
		pk->oom = 1;
		return -1;
	}
	blk->req[blk->nreq++] = pk->pp->id;
	if (blk->state == BLK_MISSING) {
		blk->state = BLK_REQUESTED;
		if (--pt->nmissing == 0)
			open_remove(pk->p, pt);
	}
	o = &pk->out[pk->n++];
	o->piece = pt->piece;
	o->begin = begin;
	o->length = len - begin < BLOCK_LEN ? len - begin : BLOCK_LEN;
	return 0;
}

/* Hands out pt's missing blocks in order; the hint keeps this linear over a piece's life. */
static int
take_missing(struct pick *pk, struct partial *pt)
{
	uint32_t b;

	for (b = pt->hint; b < pt->nblocks && pt->nmissing > 0 && pk->n < pk->max; b++) {
		if (pt->blocks[b].state != BLK_MISSING)
			continue;
		if (emit(pk, pt, b) == -1) {
			pt->hint = b;
			return -1;
		}
	}
	pt->hint = b;
	return 0;
}

static int
take_new(struct pick *pk, uint32_t piece)
{
	struct partial *pt = partial_new(pk->p, piece);

	if (pt == NULL) {
		pk->oom = 1;
		return -1;
	}
	return take_missing(pk, pt);
}

/* Started pieces first, so they finish and can be shared. */
static void
pick_open(struct pick *pk)
{
	struct picker *p = pk->p;

	for (uint32_t i = 0; i < p->nopen && pk->n < pk->max;) {
		uint32_t piece = p->open[i];

		if (wanted(pk, piece) && take_missing(pk, partial_get(p, piece)) == -1)
			return;
		/* A piece that ran out of missing blocks left open[] by a swap. */
		if (i < p->nopen && p->open[i] == piece)
			i++;
	}
}

/* Rarest first along the buckets. -1 when it gave up on the step budget. */
static int
pick_walk(struct pick *pk)
{
	struct picker *p = pk->p;
	size_t steps = 0, budget = p->npieces / WALK_DIV;

	if (budget < WALK_MIN)
		budget = WALK_MIN;
	for (uint32_t k = 1; k < p->nbuckets; k++) {
		uint32_t lo = p->bstart[k], size = p->bstart[k + 1] - lo;
		uint64_t off;

		if (size == 0)
			continue;
		off = rng_next(&p->rng) % size;
		for (uint64_t j = 0; j < size; j++) {
			uint32_t piece = p->order[lo + (off + j) % size];

			if (++steps > budget)
				return -1;
			if (!bit(&p->fresh, piece) || !bit(pk->has, piece))
				continue;
			if (take_new(pk, piece) == -1 || pk->n == pk->max)
				return 0;
		}
	}
	return 0;
}

static int
cand_less(const struct cand *a, const struct cand *b)
{
	return a->key < b->key;
}

/* Restores the max-heap below slot i. */
static void
heap_down(struct cand *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		struct cand t;

		if (l < n && cand_less(&h[m], &h[l]))
			m = l;
		if (l + 1 < n && cand_less(&h[m], &h[l + 1]))
			m = l + 1;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void
heap_up(struct cand *h, size_t i)
{
	while (i > 0 && cand_less(&h[(i - 1) / 2], &h[i])) {
		struct cand t = h[i];

		h[i] = h[(i - 1) / 2];
		h[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

/* Keeps the `want` lowest keys seen in a max-heap: the worst is on top, to be replaced. */
static void
cand_offer(struct picker *p, size_t *n, size_t want, uint32_t piece)
{
	struct cand c;

	if (p->avail[piece] == 0)
		return;
	c.key = (uint64_t)p->avail[piece] << 32 | (rng_next(&p->rng) & 0xffffffffu);
	c.piece = piece;
	if (*n < want) {
		p->cands[*n] = c;
		heap_up(p->cands, (*n)++);
	} else if (cand_less(&c, &p->cands[0])) {
		p->cands[0] = c;
		heap_down(p->cands, *n, 0);
	}
}

static int
cand_cmp(const void *a, const void *b)
{
	uint64_t ka = ((const struct cand *)a)->key, kb = ((const struct cand *)b)->key;

	return ka < kb ? -1 : ka > kb;
}

static uint64_t
load8(const uint8_t *b, size_t len)
{
	uint64_t w = 0;

	memcpy(&w, b, len);
	return w;
}

/*
 * For peers with few useful pieces (or an allowed-fast set) walking the
 * buckets finds little: intersect the bitfields 64 pieces at a time
 * instead and keep the rarest few. Costs npieces / 64 plus the candidates.
 */
static void
pick_scan(struct pick *pk)
{
	struct picker *p = pk->p;
	const uint8_t *h = pk->has->bits, *f = p->fresh.bits;
	const uint8_t *a = pk->allowed ? pk->allowed->bits : NULL;
	size_t nbytes = bitfield_bytes(p->npieces), ncand = 0;
	size_t want = pk->max - pk->n;	/* every piece yields a block at least */

	if (want > p->candcap) {
		struct cand *c = realloc(p->cands, want * sizeof(*c));

		if (c == NULL) {
			pk->oom = 1;
			return;
		}
		p->cands = c;
		p->candcap = want;
	}
	for (size_t i = 0; i < nbytes; i += 8) {
		size_t len = nbytes - i < 8 ? nbytes - i : 8;
		uint64_t w = load8(h + i, len) & load8(f + i, len);

		if (a != NULL)
			w &= load8(a + i, len);
		if (w == 0)
			continue;
		for (size_t j = i; j < i + len; j++) {
			unsigned byte = h[j] & f[j] & (a ? a[j] : 0xffu);

			for (; byte != 0; byte &= byte - 1)
				cand_offer(p, &ncand, want, (uint32_t)(j * 8 + 7) -
				    (uint32_t)__builtin_ctz(byte));
		}
	}
	qsort(p->cands, ncand, sizeof(*p->cands), cand_cmp);
	for (size_t i = 0; i < ncand && pk->n < pk->max; i++)
		if (take_new(pk, p->cands[i].piece) == -1)
			return;
}

static void
pick_fresh(struct pick *pk)
{
	struct picker *p = pk->p;
	struct ppeer *pp = pk->pp;

	if (p->fresh.count == 0 || pk->n == pk->max)
		return;
	if (pk->allowed == NULL && pp->dry && pp->dry_count == pk->has->count &&
	    pp->dry_epoch == p->fresh_epoch)
		return;
	if (pk->allowed != NULL || pick_walk(pk) == -1)
		pick_scan(pk);
	/* Short of max after an exhaustive search: nothing fresh is left for it. */
	if (pk->allowed == NULL && !pk->oom) {
		pp->dry = pk->n < pk->max;
		pp->dry_count = pk->has->count;
		pp->dry_epoch = p->fresh_epoch;
	}
}

static int
requested_by(const struct pblock *blk, uint32_t peer)
{
	for (uint8_t i = 0; i < blk->nreq; i++)
		if (blk->req[i] == peer)
			return 1;
	return 0;
}

/*
 * Endgame: nothing unrequested is left in the pieces this peer has, so it
 * duplicates requests of others, least-requested blocks first, at most
 * MAX_REQUESTERS per block and never twice to one peer. Only partial
 * pieces are scanned, and they are bounded by the requests in flight.
 */
static void
pick_endgame(struct pick *pk)
{
	struct picker *p = pk->p;

	for (uint8_t lvl = 1; lvl < MAX_REQUESTERS && pk->n < pk->max; lvl++) {
		for (uint32_t s = 0; s < p->npartials && pk->n < pk->max; s++) {
			struct partial *pt = &p->partials[s];

			if (pt->nmissing + pt->nreceived == pt->nblocks || !wanted(pk, pt->piece))
				continue;
			for (uint32_t b = 0; b < pt->nblocks && pk->n < pk->max; b++) {
				struct pblock *blk = &pt->blocks[b];

				if (blk->state != BLK_REQUESTED || blk->nreq != lvl ||
				    requested_by(blk, pk->pp->id))
					continue;
				if (emit(pk, pt, b) == -1)
					return;
			}
		}
	}
}

size_t
picker_pick(struct picker *p, const struct bitfield *peer_has, uint32_t peer,
    double now, struct picker_block *out, size_t max, const struct bitfield *allowed)
{
	struct pick pk;

	if (max == 0 || picker_complete(p) || peer_has == NULL ||
	    peer_has->nbits != p->npieces || peer_has->count == 0)
		return 0;
	if (allowed != NULL && (allowed->nbits != p->npieces || allowed->count == 0))
		return 0;
	memset(&pk, 0, sizeof(pk));
	pk.p = p;
	pk.has = peer_has;
	pk.allowed = allowed;
	pk.now = now;
	pk.out = out;
	pk.max = max;
	if ((pk.pp = peer_get(p, peer)) == NULL)
		return 0;
	pick_open(&pk);
	pick_fresh(&pk);
	/* Whatever is still free: nothing unrequested is left for this peer. */
	if (pk.n < pk.max)
		pick_endgame(&pk);
	return pk.n;
}

/* Construction. */

static int
geometry_ok(uint32_t npieces, uint32_t piece_length, uint64_t total_length)
{
	if (npieces == 0)
		return total_length == 0;
	if (piece_length == 0)
		return 0;
	return total_length > (uint64_t)(npieces - 1) * piece_length &&
	    total_length <= (uint64_t)npieces * piece_length;
}

static int
alloc_tables(struct picker *p)
{
	size_t n = (size_t)p->npieces + 1;

	p->avail = calloc(n, sizeof(*p->avail));
	p->order = calloc(n, sizeof(*p->order));
	p->pos = calloc(n, sizeof(*p->pos));
	p->pidx = malloc(n * sizeof(*p->pidx));
	p->bcap = 64;
	p->bstart = calloc(p->bcap, sizeof(*p->bstart));
	if (p->avail == NULL || p->order == NULL || p->pos == NULL ||
	    p->pidx == NULL || p->bstart == NULL)
		return -1;
	memset(p->pidx, 0xff, n * sizeof(*p->pidx));
	if (bitfield_init(&p->have, p->npieces) == -1 ||
	    bitfield_init(&p->fresh, p->npieces) == -1)
		return -1;
	return 0;
}

/* Lacking pieces first, shuffled so equal availability starts in random order. */
static void
fill_order(struct picker *p, const struct bitfield *have)
{
	uint32_t lo = 0, hi = p->npieces;

	for (uint32_t i = 0; i < p->npieces; i++) {
		if (have != NULL && bitfield_get(have, i)) {
			bitfield_set(&p->have, i);
			p->order[--hi] = i;
		} else {
			bitfield_set(&p->fresh, i);
			p->order[lo++] = i;
		}
	}
	for (uint32_t i = lo; i > 1; i--) {
		uint32_t j = (uint32_t)(rng_next(&p->rng) % i), t = p->order[i - 1];

		p->order[i - 1] = p->order[j];
		p->order[j] = t;
	}
	for (uint32_t i = 0; i < p->npieces; i++)
		p->pos[p->order[i]] = i;
	p->nbuckets = 1;
	p->bstart[0] = 0;
	p->bstart[1] = lo;
}

struct picker *
picker_new(uint32_t npieces, uint32_t piece_length, uint64_t total_length,
    const struct bitfield *have, uint64_t seed)
{
	struct picker *p;

	if (!geometry_ok(npieces, piece_length, total_length) ||
	    (have != NULL && have->nbits != npieces))
		return NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->npieces = npieces;
	p->piece_length = piece_length;
	p->total_length = total_length;
	p->rng = seed;
	if (alloc_tables(p) == -1) {
		picker_free(p);
		return NULL;
	}
	fill_order(p, have);
	return p;
}

void
picker_free(struct picker *p)
{
	if (p == NULL)
		return;
	for (uint32_t i = 0; i < p->npartials; i++)
		free(p->partials[i].blocks);
	for (size_t i = 0; i < p->npeers; i++)
		free(p->peers[i].reqs);
	free(p->partials);
	free(p->open);
	free(p->peers);
	free(p->cands);
	free(p->avail);
	free(p->order);
	free(p->pos);
	free(p->pidx);
	free(p->bstart);
	bitfield_free(&p->have);
	bitfield_free(&p->fresh);
	free(p);
}

/* Availability. */

void
picker_add_peer_have(struct picker *p, uint32_t piece)
{
	if (piece < p->npieces)
		avail_inc(p, piece);
}

/*
 * Moves every piece of bf one bucket up (add) or down, by a stable
 * counting sort: the random order within buckets survives. The old count
 * of position j is its bucket, so the keys come from streaming over
 * bstart and a lookup in bf (small, cached), not from avail[] (large,
 * random). tmp has room for 2 * nwant entries, bstart for nbuckets + 2.
 */
static void
order_rebuild(struct picker *p, const struct bitfield *bf, int add, uint32_t *tmp)
{
	uint32_t base = p->bstart[0], nwant = p->bstart[p->nbuckets] - base;
	uint32_t *key = tmp, *out = tmp + nwant, *lack = p->order + base, nb = 1, k = 0;

	for (uint32_t j = 0; j < nwant; j++) {
		while (base + j >= p->bstart[k + 1])
			k++;
		key[j] = k;
		if (bit(bf, lack[j]) && (add || k > 0))
			key[j] = add ? k + 1 : k - 1;
		if (key[j] >= nb)
			nb = key[j] + 1;
	}
	/* Counts, then starts; placing advances bstart[k] to the end of bucket k. */
	memset(p->bstart, 0, (nb + 1) * sizeof(*p->bstart));
	for (uint32_t j = 0; j < nwant; j++)
		p->bstart[key[j] + 1]++;
	for (k = 0; k < nb; k++)
		p->bstart[k + 1] += p->bstart[k];
	for (uint32_t j = 0; j < nwant; j++)
		out[p->bstart[key[j]]++] = lack[j];
	for (k = nb; k > 0; k--)
		p->bstart[k] = p->bstart[k - 1] + base;
	p->bstart[0] = base;
	p->nbuckets = nb;
	memcpy(lack, out, (size_t)nwant * sizeof(*out));
	for (uint32_t j = 0; j < nwant; j++)
		p->pos[out[j]] = base + j;
}

/*
 * Large bitfields (a seed joining a big torrent): one sort instead of a
 * few cache misses per piece. -1, with nothing changed, if out of memory.
 */
static int
bulk_update(struct picker *p, const struct bitfield *bf, int add)
{
	uint32_t *tmp;

	/* Adding raises the top availability by one at most. */
	while (p->bcap < p->nbuckets + 2) {
		uint32_t *n = realloc(p->bstart, 2 * p->bcap * sizeof(*n));

		if (n == NULL)
			return -1;
		p->bstart = n;
		p->bcap *= 2;
	}
	tmp = malloc(((size_t)p->bstart[p->nbuckets] - p->bstart[0] + 1) * 2 * sizeof(*tmp));
	if (tmp == NULL)
		return -1;
	order_rebuild(p, bf, add, tmp);
	free(tmp);
	for (size_t j = 0; j < bitfield_bytes(bf->nbits); j++) {
		for (uint32_t i = (uint32_t)j * 8, b = bf->bits[j]; b != 0; i++, b = (b << 1) & 0xff) {
			if (!(b & 0x80))
				continue;
			if (add && p->avail[i] < UINT32_MAX)
				p->avail[i]++;
			else if (!add && p->avail[i] > 0)
				p->avail[i]--;
		}
	}
	return 0;
}

/* Whether re-sorting beats one bucket move (a few cache misses) per piece. */
static int
bulk_pays(const struct picker *p, const struct bitfield *bf)
{
	return (uint64_t)bf->count * 4 >= p->bstart[p->nbuckets] - p->bstart[0] &&
	    bf->count >= 4096;
}

void
picker_add_peer_bitfield(struct picker *p, const struct bitfield *bf)
{
	if (bf == NULL || bf->nbits != p->npieces)
		return;
	if (bulk_pays(p, bf) && bulk_update(p, bf, 1) == 0)
		return;
	for (uint32_t i = next_set(bf, 0); i < bf->nbits; i = next_set(bf, (uint64_t)i + 1))
		avail_inc(p, i);
}

void
picker_remove_peer_bitfield(struct picker *p, const struct bitfield *bf)
{
	if (bf == NULL || bf->nbits != p->npieces)
		return;
	if (bulk_pays(p, bf) && bulk_update(p, bf, 0) == 0)
		return;
	for (uint32_t i = next_set(bf, 0); i < bf->nbits; i = next_set(bf, (uint64_t)i + 1))
		avail_dec(p, i);
}

uint32_t
picker_availability(const struct picker *p, uint32_t piece)
{
	return piece < p->npieces ? p->avail[piece] : 0;
}

/* Blocks. */

int
picker_block_received(struct picker *p, uint32_t piece, uint32_t begin, uint32_t peer,
    uint32_t *cancel_peers, size_t max_cancel, size_t *ncancel)
{
	uint32_t b = block_of(p, piece, begin);
	struct partial *pt;
	struct pblock *blk;
	size_t nc = 0;

	if (ncancel != NULL)
		*ncancel = 0;
	if (b == NONE || (pt = partial_get(p, piece)) == NULL)
		return -1;
	blk = &pt->blocks[b];
	/* Missing: nobody asked (or the ask was dropped); received: a late duplicate. */
	if (blk->state != BLK_REQUESTED)
		return -1;
	for (uint8_t i = 0; i < blk->nreq; i++) {
		peer_unlist(p, blk->req[i], piece, b);
		if (blk->req[i] != peer && nc < max_cancel && cancel_peers != NULL)
			cancel_peers[nc++] = blk->req[i];
	}
	blk->nreq = 0;
	blk->state = BLK_RECEIVED;
	pt->nreceived++;
	/* The first block of a new attempt: blame for the failed one is over. */
	if (pt->failed) {
		pt->failed = 0;
		pt->ncontrib = 0;
	}
	contrib_add(pt, peer);
	if (ncancel != NULL)
		*ncancel = nc;
	return pt->nreceived == pt->nblocks ? 1 : 0;
}

int
picker_is_requested(const struct picker *p, uint32_t piece, uint32_t begin, uint32_t peer)
{
	uint32_t b = block_of(p, piece, begin);
	const struct partial *pt;

	if (b == NONE || (pt = partial_get(p, piece)) == NULL)
		return 0;
	return requested_by(&pt->blocks[b], peer);
}

void
picker_block_dropped(struct picker *p, uint32_t piece, uint32_t begin, uint32_t peer)
{
	uint32_t b = block_of(p, piece, begin);
	struct partial *pt;

	if (b == NONE || (pt = partial_get(p, piece)) == NULL)
		return;
	if (block_unrequest(p, pt, b, peer)) {
		peer_unlist(p, peer, piece, b);
		partial_revert(p, piece);
	}
}

void
picker_peer_dropped(struct picker *p, uint32_t peer)
{
	struct ppeer *pp = peer_find(p, peer);

	if (pp == NULL)
		return;
	for (size_t i = 0; i < pp->nreqs; i++) {
		struct partial *pt = partial_get(p, pp->reqs[i].piece);

		if (pt != NULL)
			block_unrequest(p, pt, pp->reqs[i].block, peer);
		partial_revert(p, pp->reqs[i].piece);
	}
	peer_forget(p, pp);
}

size_t
picker_expire(struct picker *p, uint32_t peer, double now, double timeout)
{
	struct ppeer *pp = peer_find(p, peer);
	size_t n = 0;

	if (pp == NULL)
		return 0;
	/* Backwards, because removal swaps in the last (already seen) entry. */
	for (size_t i = pp->nreqs; i-- > 0;) {
		struct preq r = pp->reqs[i];
		struct partial *pt;

		if (now - r.time <= timeout)
			continue;
		pp->reqs[i] = pp->reqs[--pp->nreqs];
		if ((pt = partial_get(p, r.piece)) != NULL)
			block_unrequest(p, pt, r.block, peer);
		partial_revert(p, r.piece);
		n++;
	}
	return n;
}

/* Pieces. */

void
picker_piece_verified(struct picker *p, uint32_t piece)
{
	struct partial *pt;

	if (piece >= p->npieces || bit(&p->have, piece))
		return;
	if ((pt = partial_get(p, piece)) != NULL) {
		partial_unrequest_all(p, pt);
		partial_free(p, piece);
	}
	mark_have(p, piece);
}

void
picker_piece_failed(struct picker *p, uint32_t piece)
{
	struct partial *pt = partial_get(p, piece);

	if (pt == NULL)
		return;
	partial_unrequest_all(p, pt);
	for (uint32_t b = 0; b < pt->nblocks; b++)
		pt->blocks[b].state = BLK_MISSING;
	pt->nmissing = pt->nblocks;
	pt->nreceived = 0;
	pt->hint = 0;
	pt->failed = 1;
	open_add(p, pt);
}

size_t
picker_piece_contributors(const struct picker *p, uint32_t piece, uint32_t *out, size_t max)
{
	const struct partial *pt = partial_get(p, piece);
	size_t n = 0;

	if (pt == NULL)
		return 0;
	for (; n < pt->ncontrib && n < max; n++)
		out[n] = pt->contrib[n];
	return n;
}

/* State. */

/* Every missing block is requested by someone (BEP 3's "endgame"). */
int
picker_in_endgame(const struct picker *p)
{
	return !picker_complete(p) && p->fresh.count == 0 && p->nopen == 0;
}

uint32_t
picker_have_count(const struct picker *p)
{
	return p->have.count;
}

int
picker_complete(const struct picker *p)
{
	return p->have.count == p->npieces;
}

size_t
picker_peer_requests(const struct picker *p, uint32_t peer)
{
	const struct ppeer *pp = peer_find(p, peer);

	return pp ? pp->nreqs : 0;
}
