/* choker.c: who gets our upload slots each round: tit-for-tat, seed rotation, optimistic unchoke (BEP 3). */
#include "choker.h"

/*
 * Seeding: a peer holds a regular slot for this long while others wait,
 * then yields to them; with nobody waiting it keeps the slot.
 */
#define SEED_TURN CHOKER_OPTIMISTIC_INTERVAL

#define NO_PEER UINT32_MAX

/* Lower cls wins, then higher rate, then sticky (already unchoked), then tie. */
struct rank {
	int cls;
	double rate;
	int sticky;
	uint64_t tie;
};

/* splitmix64 step and finalizer: per-round tie-breaks without any table. */
static uint64_t
mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
rng_next(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ULL;
	return mix(*s);
}

void
choker_init(struct choker_state *st, uint64_t seed)
{
	st->optimistic = NO_PEER;
	st->optimistic_since = 0;
	st->rng = seed;
}

/*
 * Downloading, BEP 3: reciprocate to whoever gives us most; keeping the
 * current holders on ties avoids fibrillation. Seeding: recently unchoked
 * peers first (fastest first among them), then the waiting peers (lowest
 * recent rate first: their rate has decayed longest), then peers whose
 * turn is over -- so slots rotate through every interested peer.
 */
static struct rank
rank_of(const struct choker_peer *cp, int seeding, double now, uint64_t salt)
{
	struct rank r;

	r.tie = mix(cp->id ^ salt);
	r.sticky = 0;
	if (!seeding) {
		r.cls = 0;
		r.rate = cp->down_rate;
		r.sticky = !cp->choked;
	} else if (cp->choked) {
		r.cls = 1;
		r.rate = -cp->up_rate;
	} else {
		r.cls = now - cp->unchoked_since < SEED_TURN ? 0 : 2;
		r.rate = cp->up_rate;
	}
	return r;
}

static int
rank_better(const struct rank *a, const struct rank *b)
{
	if (a->cls != b->cls)
		return a->cls < b->cls;
	if (a->rate != b->rate)
		return a->rate > b->rate;
	if (a->sticky != b->sticky)
		return a->sticky > b->sticky;
	return a->tie < b->tie;
}

/* Snubbed peers get no regular slot: they only get the optimistic chance. */
static int
regular_candidate(const struct choker_peer *cp, int seeding)
{
	return cp->interested && !cp->unchoke && (seeding || !cp->snubbed);
}

/* Best peer for a regular slot, or n. Slots are few, so repeated scans beat sorting. */
static size_t
best_candidate(const struct choker_peer *peers, size_t n, int seeding, double now,
    uint64_t salt)
{
	struct rank best = { 0, 0, 0, 0 }, r;
	size_t bi = n;

	for (size_t i = 0; i < n; i++) {
		if (!regular_candidate(&peers[i], seeding))
			continue;
		r = rank_of(&peers[i], seeding, now, salt);
		if (bi == n || rank_better(&r, &best)) {
			best = r;
			bi = i;
		}
	}
	return bi;
}

static size_t
find_peer(const struct choker_peer *peers, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (peers[i].id == id)
			return i;
	return n;
}

/*
 * A new optimistic unchoke, uniformly at random among interested peers
 * without a slot, preferring those we choke now and not the previous one
 * (tier 2 beats 1 beats 0). Returns n if nobody is interested.
 */
static size_t
choose_optimistic(struct choker_state *st, const struct choker_peer *peers, size_t n)
{
	size_t pick = n, seen = 0;
	int best = -1;

	for (size_t i = 0; i < n; i++) {
		const struct choker_peer *cp = &peers[i];
		int tier;

		if (!cp->interested || cp->unchoke)
			continue;
		tier = (cp->id != st->optimistic) + (cp->choked != 0);
		if (tier > best) {
			best = tier;
			seen = 0;
		}
		/* Reservoir sampling: the k-th peer of the best tier replaces with 1/k. */
		if (tier == best && rng_next(&st->rng) % ++seen == 0)
			pick = i;
	}
	return pick;
}

void
choker_run(struct choker_state *st, struct choker_peer *peers, size_t n, int seeding,
    int slots, double now)
{
	uint64_t salt = rng_next(&st->rng);
	size_t cur, i;
	int keep;

	if (slots < 1)
		slots = 1;
	for (i = 0; i < n; i++)
		peers[i].unchoke = 0;

	/* BEP 3: the optimistic unchoke rotates every 30 s, not every round. */
	cur = find_peer(peers, n, st->optimistic);
	keep = cur < n && peers[cur].interested &&
	    now - st->optimistic_since < CHOKER_OPTIMISTIC_INTERVAL &&
	    now >= st->optimistic_since;
	if (keep)
		peers[cur].unchoke = 1;

	for (int k = 0; k < slots - 1; k++) {
		if ((i = best_candidate(peers, n, seeding, now, salt)) == n)
			break;
		peers[i].unchoke = 1;
	}

	if (keep)
		return;
	if ((i = choose_optimistic(st, peers, n)) == n) {
		st->optimistic = NO_PEER;
		return;
	}
	peers[i].unchoke = 1;
	st->optimistic = peers[i].id;
	st->optimistic_since = now;
}
