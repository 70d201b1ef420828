/* choker.h: whom to unchoke: tit-for-tat while downloading, rotation while seeding, optimistic unchoke. Pure. */
#ifndef P2P_CHOKER_H
#define P2P_CHOKER_H

#include <stddef.h>
#include <stdint.h>

#define CHOKER_INTERVAL 10.0		/* seconds between rounds (BEP 3 practice) */
#define CHOKER_OPTIMISTIC_INTERVAL 30.0

struct choker_peer {
	uint32_t id;
	int interested;			/* the peer wants our data */
	int choked;			/* we choke it now */
	int snubbed;			/* it sent us nothing for a long while */
	double down_rate;		/* bytes/s we get from it (recent) */
	double up_rate;			/* bytes/s we send it (recent) */
	double unchoked_since;		/* when we last unchoked it; 0 if choked */
	int unchoke;			/* out: 1 to unchoke, 0 to choke */
};

struct choker_state {
	uint32_t optimistic;		/* id of the optimistic unchoke; UINT32_MAX none */
	double optimistic_since;
	uint64_t rng;			/* seed; advanced on each use */
};

void choker_init(struct choker_state *st, uint64_t seed);
/*
 * One round over n peers with `slots` upload slots (>= 1). Downloading:
 * the slots-1 interested peers that give us most (not snubbed) plus one
 * optimistic unchoke, rotated every CHOKER_OPTIMISTIC_INTERVAL among
 * interested choked peers at random. Seeding: the interested peers we
 * upload to fastest, preferring those unchoked most recently, so slots
 * rotate (libtorrent's "fastest upload" seeding choker with rotation), plus
 * the optimistic one. Uninterested peers are never counted against the slots.
 * Sets each peer's unchoke field.
 */
void choker_run(struct choker_state *st, struct choker_peer *peers, size_t n, int seeding,
    int slots, double now);

#endif
