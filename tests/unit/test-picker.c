/* test-picker.c: block selection: rarest first, partials first, endgame, blame, scale (daemon/picker.c). */
#include "testmain.h"
#include "bitfield.h"
#include "picker.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLK 16384u

static struct bitfield
bf_all(uint32_t n)
{
	struct bitfield bf;

	ck_assert_int_eq(bitfield_init(&bf, n), 0);
	bitfield_set_all(&bf);
	return bf;
}

static struct bitfield
bf_none(uint32_t n)
{
	struct bitfield bf;

	ck_assert_int_eq(bitfield_init(&bf, n), 0);
	return bf;
}

static struct bitfield
bf_one(uint32_t n, uint32_t i)
{
	struct bitfield bf = bf_none(n);

	bitfield_set(&bf, i);
	return bf;
}

/* Receives every block in out[] from peer, verifying pieces that complete. */
static void
receive_all(struct picker *p, const struct picker_block *out, size_t n, uint32_t peer)
{
	size_t nc;

	for (size_t i = 0; i < n; i++) {
		int r = picker_block_received(p, out[i].piece, out[i].begin, peer, NULL, 0, &nc);

		ck_assert_int_ge(r, 0);
		if (r == 1)
			picker_piece_verified(p, out[i].piece);
	}
}

START_TEST(test_geometry)
{
	struct bitfield wrong = bf_none(3);

	ck_assert_ptr_null(picker_new(4, 0, 100, NULL, 1));
	ck_assert_ptr_null(picker_new(4, 100, 300, NULL, 1));	/* last piece empty */
	ck_assert_ptr_null(picker_new(4, 100, 401, NULL, 1));	/* too long */
	ck_assert_ptr_null(picker_new(4, 100, 400, &wrong, 1));
	picker_free(picker_new(4, 100, 400, NULL, 1));
	picker_free(NULL);
	bitfield_free(&wrong);
}
END_TEST

START_TEST(test_rarest_first)
{
	/* Two peers have all but piece 7, a third has everything: 7 is rarest. */
	for (uint64_t seed = 1; seed <= 20; seed++) {
		struct picker *p = picker_new(10, BLK, 10 * BLK, NULL, seed);
		struct bitfield all = bf_all(10), most = bf_all(10);
		struct picker_block out[1];

		bitfield_clear(&most, 7);
		picker_add_peer_bitfield(p, &most);
		picker_add_peer_bitfield(p, &most);
		picker_add_peer_bitfield(p, &all);
		ck_assert_uint_eq(picker_availability(p, 7), 1);
		ck_assert_uint_eq(picker_availability(p, 3), 3);
		ck_assert_uint_eq(picker_pick(p, &all, 1, 0, out, 1, NULL), 1);
		ck_assert_uint_eq(out[0].piece, 7);
		/* Next: a piece of availability 3, 7 is taken. */
		ck_assert_uint_eq(picker_pick(p, &all, 1, 0, out, 1, NULL), 1);
		ck_assert_uint_ne(out[0].piece, 7);
		picker_free(p);
		bitfield_free(&all);
		bitfield_free(&most);
	}
}
END_TEST

START_TEST(test_rarest_via_haves)
{
	struct picker *p = picker_new(50, BLK, 50 * BLK, NULL, 3);
	struct bitfield all = bf_all(50);
	struct picker_block out[3];

	/* Everything twice, then 3 more haves push all but 11, 12, 40 to 3. */
	picker_add_peer_bitfield(p, &all);
	picker_add_peer_bitfield(p, &all);
	for (uint32_t i = 0; i < 50; i++)
		if (i != 11 && i != 12 && i != 40)
			picker_add_peer_have(p, i);
	ck_assert_uint_eq(picker_pick(p, &all, 9, 0, out, 3, NULL), 3);
	for (int i = 0; i < 3; i++)
		ck_assert(out[i].piece == 11 || out[i].piece == 12 || out[i].piece == 40);
	ck_assert_uint_ne(out[0].piece, out[1].piece);
	ck_assert_uint_ne(out[1].piece, out[2].piece);
	ck_assert_uint_ne(out[0].piece, out[2].piece);
	picker_free(p);
	bitfield_free(&all);
}
END_TEST

/* The first pieces picked for a seed under a given rng seed. */
static void
first_picks(uint64_t seed, uint32_t *pieces, size_t n)
{
	struct picker *p = picker_new(1000, BLK, 1000 * BLK, NULL, seed);
	struct bitfield all = bf_all(1000);
	struct picker_block out[1];

	picker_add_peer_bitfield(p, &all);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(picker_pick(p, &all, 1, 0, out, 1, NULL), 1);
		pieces[i] = out[0].piece;
	}
	picker_free(p);
	bitfield_free(&all);
}

START_TEST(test_random_tiebreak)
{
	uint32_t a[8], b[8], first;
	int differ = 0;

	/* Same seed, same picks; other seeds start elsewhere among 1000 equals. */
	first_picks(42, a, 8);
	first_picks(42, b, 8);
	ck_assert_mem_eq(a, b, sizeof(a));
	for (uint64_t s = 0; s < 16; s++) {
		first_picks(s, &first, 1);
		differ += first != a[0];
	}
	ck_assert_int_ge(differ, 14);
}
END_TEST

START_TEST(test_partial_first)
{
	/* 4 blocks per piece; A takes 2 of one piece, B must finish it first. */
	struct picker *p = picker_new(20, 4 * BLK, 20 * 4 * BLK, NULL, 5);
	struct bitfield all = bf_all(20);
	struct picker_block out[8];
	uint32_t first;

	picker_add_peer_bitfield(p, &all);
	ck_assert_uint_eq(picker_pick(p, &all, 1, 0, out, 2, NULL), 2);
	first = out[0].piece;
	ck_assert_uint_eq(out[0].begin, 0);
	ck_assert_uint_eq(out[1].piece, first);
	ck_assert_uint_eq(out[1].begin, BLK);
	ck_assert_uint_eq(picker_pick(p, &all, 2, 0, out, 6, NULL), 6);
	ck_assert_uint_eq(out[0].piece, first);
	ck_assert_uint_eq(out[0].begin, 2 * BLK);
	ck_assert_uint_eq(out[1].piece, first);
	ck_assert_uint_eq(out[1].begin, 3 * BLK);
	/* Then a new piece, whole. */
	ck_assert_uint_ne(out[2].piece, first);
	for (int i = 3; i < 6; i++)
		ck_assert_uint_eq(out[i].piece, out[2].piece);
	ck_assert_uint_eq(picker_peer_requests(p, 1), 2);
	ck_assert_uint_eq(picker_peer_requests(p, 2), 6);
	picker_free(p);
	bitfield_free(&all);
}
END_TEST

START_TEST(test_no_duplicates)
{
	/* Three seeds take turns until nothing is left: every block exactly once. */
	const uint32_t np = 37, plen = 3 * BLK;
	const uint64_t total = (uint64_t)np * plen - 5000;
	struct picker *p = picker_new(np, plen, total, NULL, 7);
	struct bitfield all = bf_all(np);
	static uint8_t seen[37][3];
	struct picker_block out[5];
	size_t got, total_blocks = 0;
	uint32_t peer = 0;

	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < 3; i++)
		picker_add_peer_bitfield(p, &all);
	ck_assert(!picker_in_endgame(p));
	/*
	 * The call that hands out the last free blocks may top up with
	 * endgame duplicates: only then is anything handed out twice.
	 */
	while (!picker_in_endgame(p)) {
		got = picker_pick(p, &all, peer, 0, out, 5, NULL);
		ck_assert_uint_gt(got, 0);
		for (size_t i = 0; i < got; i++) {
			uint8_t *s = &seen[out[i].piece][out[i].begin / BLK];

			ck_assert(*s == 0 || picker_in_endgame(p));
			total_blocks += *s == 0;
			*s = 1;
			ck_assert(picker_is_requested(p, out[i].piece, out[i].begin, peer));
		}
		peer = (peer + 1) % 3;
	}
	ck_assert_uint_eq(total_blocks, np * 3);
	picker_free(p);
	bitfield_free(&all);
}
END_TEST

START_TEST(test_short_last_piece)
{
	/* 3 pieces of 2 blocks; the last is 20000 bytes: a full and a 3616-byte block. */
	struct picker *p = picker_new(3, 2 * BLK, 2 * 2 * BLK + 20000, NULL, 1);
	struct bitfield last = bf_one(3, 2);
	struct picker_block out[4];

	picker_add_peer_bitfield(p, &last);
	ck_assert_uint_eq(picker_pick(p, &last, 1, 0, out, 4, NULL), 2);
	ck_assert_uint_eq(out[0].piece, 2);
	ck_assert_uint_eq(out[0].begin, 0);
	ck_assert_uint_eq(out[0].length, BLK);
	ck_assert_uint_eq(out[1].begin, BLK);
	ck_assert_uint_eq(out[1].length, 20000 - BLK);
	/* Beyond the end, and unaligned, is no block. */
	ck_assert_int_eq(picker_block_received(p, 2, 2 * BLK, 1, NULL, 0, NULL), -1);
	ck_assert_int_eq(picker_block_received(p, 2, 100, 1, NULL, 0, NULL), -1);
	ck_assert_int_eq(picker_block_received(p, 3, 0, 1, NULL, 0, NULL), -1);
	ck_assert_int_eq(picker_block_received(p, 2, 0, 1, NULL, 0, NULL), 0);
	ck_assert_int_eq(picker_block_received(p, 2, BLK, 1, NULL, 0, NULL), 1);
	picker_free(p);
	bitfield_free(&last);
}
END_TEST

START_TEST(test_tiny_last_piece)
{
	/* Pieces not a multiple of a block: 40000 = 16384 + 16384 + 7232; last piece 1000. */
	struct picker *p = picker_new(3, 40000, 80000 + 1000, NULL, 1);
	struct bitfield all = bf_all(3);
	struct picker_block out[8];
	size_t n;
	uint32_t sum[3] = { 0, 0, 0 };

	picker_add_peer_bitfield(p, &all);
	n = picker_pick(p, &all, 1, 0, out, 8, NULL);
	ck_assert_uint_eq(n, 7);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_le(out[i].begin + out[i].length, out[i].piece == 2 ? 1000 : 40000);
		sum[out[i].piece] += out[i].length;
	}
	ck_assert_uint_eq(sum[0], 40000);
	ck_assert_uint_eq(sum[1], 40000);
	ck_assert_uint_eq(sum[2], 1000);
	picker_free(p);
	bitfield_free(&all);
}
END_TEST

START_TEST(test_endgame)
{
	/* One piece of 2 blocks; A asks for both, then everyone else duplicates. */
	struct picker *p = picker_new(1, 2 * BLK, 2 * BLK, NULL, 1);
	struct bitfield all = bf_all(1);
	struct picker_block out[4];
	uint32_t cancel[4];
	size_t nc = 99;
	int seen[4] = { 0, 0, 0, 0 };

	for (int i = 0; i < 5; i++)
		picker_add_peer_bitfield(p, &all);
	ck_assert_uint_eq(picker_pick(p, &all, 10, 0, out, 4, NULL), 2);
	ck_assert(picker_in_endgame(p));
	/* Nothing new for A itself: never twice to one peer. */
	ck_assert_uint_eq(picker_pick(p, &all, 10, 0, out, 4, NULL), 0);
	ck_assert_uint_eq(picker_pick(p, &all, 11, 0, out, 4, NULL), 2);
	ck_assert_uint_eq(out[0].piece, 0);
	ck_assert_uint_ne(out[0].begin, out[1].begin);
	ck_assert_uint_eq(picker_pick(p, &all, 11, 0, out, 4, NULL), 0);
	ck_assert_uint_eq(picker_pick(p, &all, 12, 0, out, 4, NULL), 2);
	ck_assert_uint_eq(picker_pick(p, &all, 13, 0, out, 4, NULL), 2);
	/* Four requesters per block at most. */
	ck_assert_uint_eq(picker_pick(p, &all, 14, 0, out, 4, NULL), 0);
	ck_assert_uint_eq(picker_peer_requests(p, 14), 0);

	ck_assert_int_eq(picker_block_received(p, 0, 0, 10, cancel, 4, &nc), 0);
	ck_assert_uint_eq(nc, 3);
	for (size_t i = 0; i < nc; i++) {
		ck_assert(cancel[i] >= 11 && cancel[i] <= 13);
		seen[cancel[i] - 10] = 1;
	}
	ck_assert(seen[1] && seen[2] && seen[3]);
	ck_assert(!picker_is_requested(p, 0, 0, 11));
	ck_assert(picker_is_requested(p, 0, BLK, 11));
	ck_assert_uint_eq(picker_peer_requests(p, 11), 1);
	/* The cancelled copy arriving anyway is dropped. */
	ck_assert_int_eq(picker_block_received(p, 0, 0, 11, cancel, 4, &nc), -1);
	ck_assert_uint_eq(nc, 0);
	/* max_cancel bounds the list. */
	ck_assert_int_eq(picker_block_received(p, 0, BLK, 13, cancel, 1, &nc), 1);
	ck_assert_uint_eq(nc, 1);
	ck_assert_uint_eq(picker_peer_requests(p, 10), 0);
	ck_assert_uint_eq(picker_peer_requests(p, 12), 0);
	picker_piece_verified(p, 0);
	ck_assert(picker_complete(p));
	ck_assert(!picker_in_endgame(p));
	picker_free(p);
	bitfield_free(&all);
}
END_TEST

START_TEST(test_endgame_only_when_nothing_left)
{
	/* B has only piece 0, which A is fetching; B duplicates, but a seed C gets new pieces. */
	struct picker *p = picker_new(10, BLK, 10 * BLK, NULL, 2);
	struct bitfield all = bf_all(10), zero = bf_one(10, 0);
	struct picker_block out[4];

	picker_add_peer_bitfield(p, &all);
	picker_add_peer_bitfield(p, &zero);
	picker_add_peer_bitfield(p, &zero);
	ck_assert_uint_eq(picker_pick(p, &zero, 1, 0, out, 4, NULL), 1);
	ck_assert_uint_eq(out[0].piece, 0);
	ck_assert(!picker_in_endgame(p));
	ck_assert_uint_eq(picker_pick(p, &zero, 2, 0, out, 4, NULL), 1);
	ck_assert_uint_eq(out[0].piece, 0);
	ck_assert(picker_is_requested(p, 0, 0, 1) && picker_is_requested(p, 0, 0, 2));
	ck_assert_uint_eq(picker_pick(p, &all, 3, 0, out, 4, NULL), 4);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_ne(out[i].piece, 0);
	picker_free(p);
	bitfield_free(&all);
	bitfield_free(&zero);
}
END_TEST

START_TEST(test_unrequested_block)
{
	struct picker *p = picker_new(4, 2 * BLK, 8 * BLK, NULL, 1);
	struct bitfield all = bf_all(4);
	struct picker_block out[2];

	picker_add_peer_bitfield(p, &all);
	ck_assert_int_eq(picker_block_received(p, 1, 0, 1, NULL, 0, NULL), -1);
	ck_assert_uint_eq(picker_pick(p, &all, 1, 0, out, 1, NULL), 1);
	/* The other block of the same piece was never asked for. */
	ck_assert_int_eq(picker_block_received(p, out[0].piece, BLK, 1, NULL, 0, NULL), -1);
	ck_assert_int_eq(picker_block_received(p, out[0].piece, 0, 1, NULL, 0, NULL), 0);
	/* Twice: already have it. */
	ck_assert_int_eq(picker_block_received(p, out[0].piece, 0, 1, NULL, 0, NULL), -1);
	picker_free(p);
	bitfield_free(&all);
}
END_TEST

START_TEST(test_piece_failed)
{
	struct picker *p = picker_new(2, 2 * BLK, 4 * BLK, NULL, 1);
	struct bitfield one = bf_one(2, 1);
	struct picker_block out[4];
	uint32_t who[4];

	picker_add_peer_bitfield(p, &one);
	ck_assert_uint_eq(picker_pick(p, &one, 1, 0, out, 1, NULL), 1);
	ck_assert_uint_eq(picker_pick(p, &one, 2, 0, out + 1, 1, NULL), 1);
	ck_assert_int_eq(picker_block_received(p, 1, out[0].begin, 1, NULL, 0, NULL), 0);
	ck_assert_int_eq(picker_block_received(p, 1, out[1].begin, 2, NULL, 0, NULL), 1);
	ck_assert_uint_eq(picker_piece_contributors(p, 1, who, 4), 2);
	ck_assert(who[0] + who[1] == 3 && who[0] != who[1]);
	ck_assert_uint_eq(picker_piece_contributors(p, 1, who, 1), 1);

	picker_piece_failed(p, 1);
	/* Blame survives the reset... */
	ck_assert_uint_eq(picker_piece_contributors(p, 1, who, 4), 2);
	ck_assert_uint_eq(picker_have_count(p), 0);
	/* ...every block is missing again... */
	ck_assert_uint_eq(picker_pick(p, &one, 3, 0, out, 4, NULL), 2);
	ck_assert_uint_eq(out[0].piece, 1);
	ck_assert_uint_eq(out[0].begin, 0);
	ck_assert_uint_eq(out[1].begin, BLK);
	/* ...and the new attempt starts a new list. */
	ck_assert_int_eq(picker_block_received(p, 1, 0, 3, NULL, 0, NULL), 0);
	ck_assert_uint_eq(picker_piece_contributors(p, 1, who, 4), 1);
	ck_assert_uint_eq(who[0], 3);
	ck_assert_int_eq(picker_block_received(p, 1, BLK, 3, NULL, 0, NULL), 1);
	picker_piece_verified(p, 1);
	ck_assert_uint_eq(picker_piece_contributors(p, 1, who, 4), 0);
	ck_assert_uint_eq(picker_have_count(p), 1);
	ck_assert(!picker_complete(p));
	picker_free(p);
	bitfield_free(&one);
}
END_TEST

START_TEST(test_expire)
{
	struct picker *p = picker_new(10, 4 * BLK, 40 * BLK, NULL, 1);
	struct bitfield all = bf_all(10);
	struct picker_block a[2], b[2], out[4];

	picker_add_peer_bitfield(p, &all);
	ck_assert_uint_eq(picker_pick(p, &all, 1, 0.0, a, 2, NULL), 2);
	ck_assert_uint_eq(picker_pick(p, &all, 1, 5.0, b, 2, NULL), 2);
	ck_assert_uint_eq(picker_expire(p, 1, 9.0, 10.0), 0);
	ck_assert_uint_eq(picker_expire(p, 1, 12.0, 10.0), 2);
	ck_assert_uint_eq(picker_peer_requests(p, 1), 2);
	ck_assert(!picker_is_requested(p, a[0].piece, a[0].begin, 1));
	ck_assert(picker_is_requested(p, b[0].piece, b[0].begin, 1));
	/* Another peer gets the expired blocks first: they are of a partial piece. */
	ck_assert_uint_eq(picker_pick(p, &all, 2, 12.0, out, 2, NULL), 2);
	ck_assert_uint_eq(out[0].piece, a[0].piece);
	ck_assert_uint_eq(out[0].begin, a[0].begin);
	ck_assert_uint_eq(out[1].begin, a[1].begin);
	ck_assert_uint_eq(picker_expire(p, 1, 100.0, 10.0), 2);
	ck_assert_uint_eq(picker_expire(p, 3, 100.0, 10.0), 0);
	picker_free(p);
	bitfield_free(&all);
}
END_TEST

START_TEST(test_block_dropped)
{
	struct picker *p = picker_new(3, BLK, 3 * BLK, NULL, 1);
	struct bitfield all = bf_all(3);
	struct picker_block out[3], again[3];

	picker_add_peer_bitfield(p, &all);
	ck_assert_uint_eq(picker_pick(p, &all, 1, 0, out, 3, NULL), 3);
	ck_assert_uint_eq(picker_pick(p, &all, 2, 0, again, 3, NULL), 3);	/* endgame */
	picker_block_dropped(p, out[1].piece, out[1].begin, 1);
	ck_assert_uint_eq(picker_peer_requests(p, 1), 2);
	/* Peer 2 still asks: not missing, and peer 1 may ask again. */
	ck_assert(picker_in_endgame(p));
	picker_peer_dropped(p, 2);
	ck_assert_uint_eq(picker_peer_requests(p, 2), 0);
	ck_assert(!picker_in_endgame(p));
	ck_assert_uint_eq(picker_pick(p, &all, 3, 0, again, 3, NULL), 3);
	ck_assert_uint_eq(again[0].piece, out[1].piece);
	/* A drop for a block the peer never asked for changes nothing. */
	picker_block_dropped(p, out[0].piece, out[0].begin, 9);
	ck_assert(picker_is_requested(p, out[0].piece, out[0].begin, 1));
	picker_free(p);
	bitfield_free(&all);
}
END_TEST

START_TEST(test_peer_dropped)
{
	struct picker *p = picker_new(100, 2 * BLK, 200 * BLK, NULL, 4);
	struct bitfield all = bf_all(100);
	struct picker_block out[8], again[8];

	picker_add_peer_bitfield(p, &all);
	ck_assert_uint_eq(picker_pick(p, &all, 1, 0, out, 7, NULL), 7);
	ck_assert_uint_eq(out[0].piece, out[1].piece);
	ck_assert_int_eq(picker_block_received(p, out[0].piece, out[0].begin, 1, NULL, 0, NULL), 0);
	picker_peer_dropped(p, 1);
	ck_assert_uint_eq(picker_peer_requests(p, 1), 0);
	for (int i = 0; i < 7; i++)
		ck_assert(!picker_is_requested(p, out[i].piece, out[i].begin, 1));
	/* The piece with progress comes first; the others are fresh again. */
	ck_assert_uint_eq(picker_pick(p, &all, 2, 0, again, 1, NULL), 1);
	ck_assert_uint_eq(again[0].piece, out[1].piece);
	ck_assert_uint_eq(again[0].begin, out[1].begin);
	ck_assert_int_eq(picker_block_received(p, out[2].piece, out[2].begin, 1, NULL, 0, NULL), -1);
	ck_assert_int_eq(picker_block_received(p, out[6].piece, out[6].begin, 1, NULL, 0, NULL), -1);
	picker_peer_dropped(p, 77);
	picker_free(p);
	bitfield_free(&all);
}
END_TEST

START_TEST(test_allowed)
{
	struct picker *p = picker_new(100, 2 * BLK, 200 * BLK, NULL, 4);
	struct bitfield all = bf_all(100), allowed = bf_one(100, 63), none = bf_none(100);
	struct picker_block out[8];

	picker_add_peer_bitfield(p, &all);
	bitfield_set(&allowed, 80);
	ck_assert_uint_eq(picker_pick(p, &all, 1, 0, out, 8, &allowed), 4);
	for (int i = 0; i < 4; i++)
		ck_assert(out[i].piece == 63 || out[i].piece == 80);
	ck_assert_uint_eq(picker_pick(p, &all, 1, 0, out, 8, &allowed), 0);
	ck_assert_uint_eq(picker_pick(p, &all, 2, 0, out, 8, &none), 0);
	/* Allowed but the peer lacks it. */
	bitfield_clear(&all, 5);
	bitfield_clear_all(&allowed);
	bitfield_set(&allowed, 5);
	ck_assert_uint_eq(picker_pick(p, &all, 2, 0, out, 8, &allowed), 0);
	picker_free(p);
	bitfield_free(&all);
	bitfield_free(&allowed);
	bitfield_free(&none);
}
END_TEST

START_TEST(test_availability)
{
	struct picker *p = picker_new(20, BLK, 20 * BLK, NULL, 1);
	struct bitfield a = bf_none(20), b = bf_none(20), have = bf_none(20);
	struct picker_block out[20];

	for (uint32_t i = 0; i < 20; i += 2)
		bitfield_set(&a, i);
	for (uint32_t i = 0; i < 20; i += 3)
		bitfield_set(&b, i);
	picker_add_peer_bitfield(p, &a);
	picker_add_peer_bitfield(p, &b);
	for (uint32_t i = 0; i < 20; i++)
		ck_assert_uint_eq(picker_availability(p, i), (i % 2 == 0) + (i % 3 == 0));
	/* B announces 1 and is remembered with it. */
	picker_add_peer_have(p, 1);
	bitfield_set(&b, 1);
	ck_assert_uint_eq(picker_availability(p, 1), 1);
	/* Pieces we complete keep their count. */
	ck_assert_uint_eq(picker_pick(p, &a, 1, 0, out, 1, NULL), 1);
	receive_all(p, out, 1, 1);
	picker_remove_peer_bitfield(p, &a);
	for (uint32_t i = 0; i < 20; i++)
		ck_assert_uint_eq(picker_availability(p, i), (i % 3 == 0) + (i == 1));
	picker_remove_peer_bitfield(p, &b);
	for (uint32_t i = 0; i < 20; i++)
		ck_assert_uint_eq(picker_availability(p, i), 0);
	/* Nobody has anything: nothing to pick, and counts stay at 0. */
	ck_assert_uint_eq(picker_pick(p, &a, 1, 0, out, 20, NULL), 0);
	picker_remove_peer_bitfield(p, &b);
	ck_assert_uint_eq(picker_availability(p, 0), 0);
	ck_assert_uint_eq(picker_availability(p, 99), 0);
	picker_add_peer_have(p, 99);
	/* A wrong-sized bitfield is ignored. */
	bitfield_free(&have);
	have = bf_all(21);
	picker_add_peer_bitfield(p, &have);
	ck_assert_uint_eq(picker_availability(p, 3), 0);
	picker_free(p);
	bitfield_free(&a);
	bitfield_free(&b);
	bitfield_free(&have);
}
END_TEST

START_TEST(test_have_at_start)
{
	struct bitfield have = bf_all(10), all = bf_all(10);
	struct picker *p;
	struct picker_block out[10];

	bitfield_clear(&have, 4);
	p = picker_new(10, BLK, 10 * BLK, &have, 1);
	ck_assert_uint_eq(picker_have_count(p), 9);
	picker_add_peer_bitfield(p, &all);
	ck_assert_uint_eq(picker_pick(p, &all, 1, 0, out, 10, NULL), 1);
	ck_assert_uint_eq(out[0].piece, 4);
	receive_all(p, out, 1, 1);
	ck_assert(picker_complete(p));
	ck_assert_uint_eq(picker_pick(p, &all, 1, 0, out, 10, NULL), 0);
	/* Verifying again, or a failure of a piece we have, is harmless. */
	picker_piece_verified(p, 4);
	picker_piece_failed(p, 4);
	ck_assert(picker_complete(p));
	picker_free(p);
	bitfield_free(&have);
	bitfield_free(&all);
}
END_TEST

START_TEST(test_no_useful_piece)
{
	struct bitfield have = bf_none(1000), peer = bf_none(1000), all = bf_all(1000);
	struct picker *p;
	struct picker_block out[4];

	for (uint32_t i = 0; i < 1000; i += 2) {
		bitfield_set(&have, i);
		bitfield_set(&peer, i);
	}
	p = picker_new(1000, BLK, 1000 * BLK, &have, 1);
	picker_add_peer_bitfield(p, &all);
	picker_add_peer_bitfield(p, &peer);
	ck_assert_uint_eq(picker_pick(p, &peer, 1, 0, out, 4, NULL), 0);
	ck_assert_uint_eq(picker_peer_requests(p, 1), 0);
	ck_assert_uint_eq(picker_pick(p, &all, 2, 0, out, 4, NULL), 4);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(out[i].piece % 2, 1);
	ck_assert_uint_eq(picker_pick(p, &all, 2, 0, out, 0, NULL), 0);
	/* Asked again: still nothing; then it announces a piece we lack. */
	ck_assert_uint_eq(picker_pick(p, &peer, 1, 0, out, 4, NULL), 0);
	bitfield_set(&peer, 501);
	picker_add_peer_have(p, 501);
	ck_assert_uint_eq(picker_pick(p, &peer, 1, 0, out, 4, NULL), 1);
	ck_assert_uint_eq(out[0].piece, 501);
	picker_free(p);
	bitfield_free(&have);
	bitfield_free(&peer);
	bitfield_free(&all);
}
END_TEST

START_TEST(test_pieces_return)
{
	/* B only has 5, which A is fetching; once A leaves, 5 is B's to fetch. */
	struct picker *p = picker_new(10, BLK, 10 * BLK, NULL, 1);
	struct bitfield all = bf_all(10), five = bf_one(10, 5);
	struct picker_block out[10];

	picker_add_peer_bitfield(p, &all);
	picker_add_peer_bitfield(p, &five);
	ck_assert_uint_eq(picker_pick(p, &all, 1, 0, out, 10, NULL), 10);
	ck_assert_uint_eq(picker_pick(p, &five, 2, 0, out, 10, NULL), 1);	/* endgame */
	picker_block_dropped(p, 5, 0, 2);
	ck_assert_uint_eq(picker_pick(p, &five, 2, 0, out, 10, NULL), 1);
	picker_block_dropped(p, 5, 0, 2);
	picker_peer_dropped(p, 1);
	ck_assert(!picker_in_endgame(p));
	ck_assert_uint_eq(picker_pick(p, &five, 2, 0, out, 10, NULL), 1);
	ck_assert_uint_eq(out[0].piece, 5);
	ck_assert(!picker_in_endgame(p));
	/* Nine fresh pieces, then a duplicate of B's request tops it up. */
	ck_assert_uint_eq(picker_pick(p, &all, 3, 0, out, 10, NULL), 10);
	ck_assert_uint_eq(out[9].piece, 5);
	ck_assert(picker_in_endgame(p));
	picker_free(p);
	bitfield_free(&all);
	bitfield_free(&five);
}
END_TEST

START_TEST(test_sparse_peer)
{
	/* A peer with 3 of 200000 pieces: found by the bitfield scan, rarest first. */
	const uint32_t n = 200000;
	struct picker *p = picker_new(n, BLK, (uint64_t)n * BLK, NULL, 9);
	struct bitfield all = bf_all(n), few = bf_none(n);
	struct picker_block out[4];

	bitfield_set(&few, 17);
	bitfield_set(&few, 123456);
	bitfield_set(&few, n - 1);
	picker_add_peer_bitfield(p, &all);
	picker_add_peer_bitfield(p, &all);
	picker_add_peer_bitfield(p, &few);
	picker_add_peer_have(p, 17);
	ck_assert_uint_eq(picker_pick(p, &few, 1, 0, out, 4, NULL), 3);
	ck_assert(out[0].piece == 123456 || out[0].piece == n - 1);
	ck_assert(out[1].piece == 123456 || out[1].piece == n - 1);
	ck_assert_uint_eq(out[2].piece, 17);
	picker_free(p);
	bitfield_free(&all);
	bitfield_free(&few);
}
END_TEST

START_TEST(test_completion)
{
	struct picker *p = picker_new(9, 3 * BLK, 9 * 3 * BLK - 1, NULL, 8);
	struct bitfield all = bf_all(9);
	struct picker_block out[5];
	size_t n;
	int rounds = 0;

	picker_add_peer_bitfield(p, &all);
	while (!picker_complete(p) && rounds++ < 100) {
		n = picker_pick(p, &all, 1, 0, out, 5, NULL);
		ck_assert_uint_gt(n, 0);
		receive_all(p, out, n, 1);
	}
	ck_assert(picker_complete(p));
	ck_assert_uint_eq(picker_have_count(p), 9);
	ck_assert_uint_eq(picker_peer_requests(p, 1), 0);
	ck_assert_uint_eq(picker_pick(p, &all, 1, 0, out, 5, NULL), 0);
	picker_free(p);
	bitfield_free(&all);
}
END_TEST

START_TEST(test_empty_torrent)
{
	struct picker *p = picker_new(0, 0, 0, NULL, 1);
	struct bitfield none = bf_none(0);
	struct picker_block out[1];

	ck_assert_ptr_nonnull(p);
	ck_assert(picker_complete(p));
	ck_assert_uint_eq(picker_pick(p, &none, 1, 0, out, 1, NULL), 0);
	picker_free(p);
	bitfield_free(&none);
}
END_TEST

/* The scale test: peers with outstanding requests, as on the wire. */
#define SCALE_PIECES	(1u << 20)
#define SCALE_PEERS	50
#define SCALE_PIPE	64

static uint64_t
xs(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(test_scale)
{
	static struct bitfield bf[SCALE_PEERS];
	static uint8_t raw[SCALE_PIECES / 8];
	static struct picker_block pend[SCALE_PEERS][SCALE_PIPE];
	size_t npend[SCALE_PEERS], nc, dups = 0;
	uint32_t cancel[4];
	uint64_t s = 0x9e3779b97f4a7c15ULL;
	struct picker *p;
	double t0 = mono(), t;
	int rounds = 0;

	for (int i = 0; i < SCALE_PEERS; i++) {
		ck_assert_int_eq(bitfield_init(&bf[i], SCALE_PIECES), 0);
		for (size_t j = 0; j < sizeof(raw); j++)
			raw[j] = (uint8_t)xs(&s);
		ck_assert_int_eq(bitfield_load(&bf[i], raw, sizeof(raw)), 0);
		npend[i] = 0;
	}
	/* Nobody-has pieces go to a random peer, so the swarm holds everything. */
	for (uint32_t k = 0; k < SCALE_PIECES; k++) {
		int any = 0;

		for (int i = 0; i < SCALE_PEERS && !any; i++)
			any = bitfield_get(&bf[i], k);
		if (!any)
			bitfield_set(&bf[xs(&s) % SCALE_PEERS], k);
	}
	p = picker_new(SCALE_PIECES, BLK, (uint64_t)SCALE_PIECES * BLK, NULL, 77);
	ck_assert_ptr_nonnull(p);
	for (int i = 0; i < SCALE_PEERS; i++)
		picker_add_peer_bitfield(p, &bf[i]);

	while (!picker_complete(p) && rounds++ < 100000) {
		for (int i = 0; i < SCALE_PEERS; i++) {
			for (size_t j = 0; j < npend[i]; j++) {
				int r = picker_block_received(p, pend[i][j].piece, pend[i][j].begin,
				    (uint32_t)i, cancel, 4, &nc);

				dups += r == -1;
				if (r == 1)
					picker_piece_verified(p, pend[i][j].piece);
			}
			npend[i] = picker_pick(p, &bf[i], (uint32_t)i, rounds, pend[i],
			    SCALE_PIPE, NULL);
		}
		/* One peer reconnects now and then. */
		if (rounds % 97 == 0) {
			picker_peer_dropped(p, 3);
			npend[3] = 0;
		}
	}
	t = mono() - t0;
	ck_assert(picker_complete(p));
	ck_assert_uint_eq(picker_have_count(p), SCALE_PIECES);
	fprintf(stderr, "picker scale: %u pieces, %d peers, %d rounds, %zu endgame dups, %.2f s\n",
	    SCALE_PIECES, SCALE_PEERS, rounds, dups, t);
	/* Two leave: counts drop by exactly their bits. */
	for (uint32_t k = 0; k < SCALE_PIECES; k += 4099) {
		uint32_t n = 0;

		for (int i = 0; i < SCALE_PEERS; i++)
			n += (uint32_t)bitfield_get(&bf[i], k);
		ck_assert_uint_eq(picker_availability(p, k), n);
	}
	picker_remove_peer_bitfield(p, &bf[0]);
	picker_remove_peer_bitfield(p, &bf[1]);
	for (uint32_t k = 0; k < SCALE_PIECES; k += 4099) {
		uint32_t n = 0;

		for (int i = 2; i < SCALE_PEERS; i++)
			n += (uint32_t)bitfield_get(&bf[i], k);
		ck_assert_uint_eq(picker_availability(p, k), n);
	}
	for (int i = 0; i < SCALE_PEERS; i++)
		bitfield_free(&bf[i]);
	picker_free(p);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("picker");
	TCase *tc = tcase_create("picker");
	TCase *sc = tcase_create("scale");

	tcase_add_test(tc, test_geometry);
	tcase_add_test(tc, test_rarest_first);
	tcase_add_test(tc, test_rarest_via_haves);
	tcase_add_test(tc, test_random_tiebreak);
	tcase_add_test(tc, test_partial_first);
	tcase_add_test(tc, test_no_duplicates);
	tcase_add_test(tc, test_short_last_piece);
	tcase_add_test(tc, test_tiny_last_piece);
	tcase_add_test(tc, test_endgame);
	tcase_add_test(tc, test_endgame_only_when_nothing_left);
	tcase_add_test(tc, test_unrequested_block);
	tcase_add_test(tc, test_piece_failed);
	tcase_add_test(tc, test_expire);
	tcase_add_test(tc, test_block_dropped);
	tcase_add_test(tc, test_peer_dropped);
	tcase_add_test(tc, test_allowed);
	tcase_add_test(tc, test_availability);
	tcase_add_test(tc, test_have_at_start);
	tcase_add_test(tc, test_no_useful_piece);
	tcase_add_test(tc, test_pieces_return);
	tcase_add_test(tc, test_sparse_peer);
	tcase_add_test(tc, test_completion);
	tcase_add_test(tc, test_empty_torrent);
	tcase_add_test(sc, test_scale);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, sc);
	return s;
}
