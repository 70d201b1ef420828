/* picker.h: which block to ask which peer for: rarest first, partial pieces first, endgame. Pure. */
#ifndef P2P_PICKER_H
#define P2P_PICKER_H

#include <stddef.h>
#include <stdint.h>

struct picker;
struct bitfield;

/*
 * Peers are named by a small integer the caller gives (unique among the
 * torrent's live peers). The picker does no I/O and takes no time source:
 * "now" is passed in, randomness comes from a seed, so unit tests replay.
 */
struct picker_block {
	uint32_t piece;
	uint32_t begin;
	uint32_t length;
};

/* have: pieces we already hold (may be NULL). NULL if out of memory. */
struct picker *picker_new(uint32_t npieces, uint32_t piece_length, uint64_t total_length,
    const struct bitfield *have, uint64_t seed);
void picker_free(struct picker *p);

/* Availability: what peers announce. */
void picker_add_peer_have(struct picker *p, uint32_t piece);
void picker_add_peer_bitfield(struct picker *p, const struct bitfield *bf);
void picker_remove_peer_bitfield(struct picker *p, const struct bitfield *bf);
uint32_t picker_availability(const struct picker *p, uint32_t piece);

/*
 * Picks up to max blocks to request from peer, among pieces peer_has and we
 * lack: blocks of partial pieces first (to finish them), then pieces by
 * rarest availability with random tie-breaks. Outside endgame a block is
 * never handed to two peers. When every missing block is already requested,
 * the picker enters endgame and hands out blocks other peers hold requests
 * for (never twice to the same peer). allowed (may be NULL) restricts the
 * choice to those pieces (allowed-fast while choked). Returns the count.
 */
size_t picker_pick(struct picker *p, const struct bitfield *peer_has, uint32_t peer,
    double now, struct picker_block *out, size_t max, const struct bitfield *allowed);

/*
 * A block arrived from peer. Returns 1 if it completes its piece (all blocks
 * received: time to hash), 0 if accepted, -1 if we never asked anyone for it
 * or already have it (the caller drops the data). In endgame, the other
 * peers that still have it requested are written to cancel_peers (up to
 * max_cancel) so the caller can send cancels; *ncancel gets their count.
 */
int picker_block_received(struct picker *p, uint32_t piece, uint32_t begin, uint32_t peer,
    uint32_t *cancel_peers, size_t max_cancel, size_t *ncancel);
/* 1 if peer has an outstanding request for this block. */
int picker_is_requested(const struct picker *p, uint32_t piece, uint32_t begin, uint32_t peer);
/* The request is gone (reject, choke, timeout, cancel): the block is missing again unless others asked. */
void picker_block_dropped(struct picker *p, uint32_t piece, uint32_t begin, uint32_t peer);
/* Every request of peer is gone (disconnect, choke without Fast). */
void picker_peer_dropped(struct picker *p, uint32_t peer);
/* Requests of peer older than now - timeout are dropped; returns how many. */
size_t picker_expire(struct picker *p, uint32_t peer, double now, double timeout);
/* Hash check results. A failed piece starts over: all its blocks missing. */
void picker_piece_verified(struct picker *p, uint32_t piece);
void picker_piece_failed(struct picker *p, uint32_t piece);
/* Peers that sent at least one block of piece (for blame after a failed check). */
size_t picker_piece_contributors(const struct picker *p, uint32_t piece, uint32_t *out, size_t max);

int picker_in_endgame(const struct picker *p);
uint32_t picker_have_count(const struct picker *p);
int picker_complete(const struct picker *p);
/* Outstanding requests of peer. */
size_t picker_peer_requests(const struct picker *p, uint32_t peer);

#endif
