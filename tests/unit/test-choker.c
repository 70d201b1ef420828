/* test-choker.c: upload slots: tit-for-tat, optimistic rotation, seeding rotation (daemon/choker.c). */
#include "testmain.h"
#include "choker.h"

#include <stdint.h>
#include <string.h>

#define NPEERS 10

/* Ten interested peers; peer i gives us i KB/s. */
static void
setup(struct choker_peer *ps, size_t n)
{
	memset(ps, 0, n * sizeof(*ps));
	for (size_t i = 0; i < n; i++) {
		ps[i].id = (uint32_t)(100 + i);
		ps[i].interested = 1;
		ps[i].choked = 1;
		ps[i].down_rate = 1000.0 * (double)i;
	}
}

/* What the caller does with the result: choke or unchoke, note when. */
static void
apply(struct choker_peer *ps, size_t n, double now)
{
	for (size_t i = 0; i < n; i++) {
		if (ps[i].unchoke && ps[i].choked) {
			ps[i].choked = 0;
			ps[i].unchoked_since = now;
		} else if (!ps[i].unchoke && !ps[i].choked) {
			ps[i].choked = 1;
			ps[i].unchoked_since = 0;
		}
	}
}

static int
nunchoked(const struct choker_peer *ps, size_t n)
{
	int k = 0;

	for (size_t i = 0; i < n; i++)
		k += ps[i].unchoke;
	return k;
}

static size_t
index_of(const struct choker_peer *ps, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ps[i].id == id)
			return i;
	return n;
}

START_TEST(test_init)
{
	struct choker_state st;

	choker_init(&st, 5);
	ck_assert_uint_eq(st.optimistic, UINT32_MAX);
}
END_TEST

START_TEST(test_best_three_plus_optimistic)
{
	struct choker_peer ps[NPEERS];
	struct choker_state st;
	size_t o;

	for (uint64_t seed = 0; seed < 20; seed++) {
		setup(ps, NPEERS);
		choker_init(&st, seed);
		choker_run(&st, ps, NPEERS, 0, 4, 0.0);
		ck_assert_int_eq(nunchoked(ps, NPEERS), 4);
		ck_assert(ps[9].unchoke && ps[8].unchoke && ps[7].unchoke);
		o = index_of(ps, NPEERS, st.optimistic);
		ck_assert_uint_lt(o, 7);
		ck_assert(ps[o].unchoke);
	}
}
END_TEST

START_TEST(test_optimistic_rotation)
{
	struct choker_peer ps[NPEERS];
	struct choker_state st;
	uint32_t first, second;

	setup(ps, NPEERS);
	choker_init(&st, 1);
	choker_run(&st, ps, NPEERS, 0, 4, 0.0);
	apply(ps, NPEERS, 0.0);
	first = st.optimistic;
	/* BEP 3: rounds every 10 s, but the optimistic one stays 30 s. */
	for (double t = 10.0; t < 30.0; t += 10.0) {
		choker_run(&st, ps, NPEERS, 0, 4, t);
		apply(ps, NPEERS, t);
		ck_assert_uint_eq(st.optimistic, first);
		ck_assert(ps[index_of(ps, NPEERS, first)].unchoke);
		ck_assert_int_eq(nunchoked(ps, NPEERS), 4);
	}
	choker_run(&st, ps, NPEERS, 0, 4, 30.0);
	apply(ps, NPEERS, 30.0);
	second = st.optimistic;
	ck_assert_uint_ne(second, first);
	ck_assert_uint_ne(second, UINT32_MAX);
	/* The old one gives us little: choked again. */
	ck_assert(!ps[index_of(ps, NPEERS, first)].unchoke);
	ck_assert(ps[index_of(ps, NPEERS, second)].unchoke);
	ck_assert_int_eq(nunchoked(ps, NPEERS), 4);
	for (double t = 40.0; t < 60.0; t += 10.0) {
		choker_run(&st, ps, NPEERS, 0, 4, t);
		ck_assert_uint_eq(st.optimistic, second);
	}
	choker_run(&st, ps, NPEERS, 0, 4, 60.0);
	ck_assert_uint_ne(st.optimistic, second);
}
END_TEST

START_TEST(test_good_optimistic_keeps_slot)
{
	/* An optimistic unchoke that turns out fast earns a regular slot. */
	struct choker_peer ps[NPEERS];
	struct choker_state st;
	size_t o;

	setup(ps, NPEERS);
	choker_init(&st, 3);
	choker_run(&st, ps, NPEERS, 0, 4, 0.0);
	apply(ps, NPEERS, 0.0);
	o = index_of(ps, NPEERS, st.optimistic);
	ps[o].down_rate = 1e6;
	choker_run(&st, ps, NPEERS, 0, 4, 30.0);
	ck_assert(ps[o].unchoke);
	ck_assert_uint_ne(st.optimistic, ps[o].id);
	ck_assert(ps[9].unchoke && ps[8].unchoke);
	ck_assert(!ps[7].unchoke || st.optimistic == ps[7].id);
	ck_assert_int_eq(nunchoked(ps, NPEERS), 4);
}
END_TEST

START_TEST(test_uninterested)
{
	struct choker_peer ps[NPEERS];
	struct choker_state st;

	/* The five fastest do not want our data: no slot for them. */
	setup(ps, NPEERS);
	for (int i = 5; i < NPEERS; i++)
		ps[i].interested = 0;
	choker_init(&st, 2);
	choker_run(&st, ps, NPEERS, 0, 4, 0.0);
	for (int i = 5; i < NPEERS; i++)
		ck_assert(!ps[i].unchoke);
	ck_assert_int_eq(nunchoked(ps, NPEERS), 4);
	ck_assert(ps[4].unchoke && ps[3].unchoke && ps[2].unchoke);

	/* And they take no slots: three interested, all unchoked. */
	setup(ps, NPEERS);
	for (int i = 3; i < NPEERS; i++)
		ps[i].interested = 0;
	choker_run(&st, ps, NPEERS, 0, 4, 10.0);
	ck_assert(ps[0].unchoke && ps[1].unchoke && ps[2].unchoke);
	ck_assert_int_eq(nunchoked(ps, NPEERS), 3);

	/* Nobody interested: nobody unchoked, no optimistic. */
	for (int i = 0; i < NPEERS; i++)
		ps[i].interested = 0;
	choker_run(&st, ps, NPEERS, 1, 4, 20.0);
	ck_assert_int_eq(nunchoked(ps, NPEERS), 0);
	ck_assert_uint_eq(st.optimistic, UINT32_MAX);
}
END_TEST

START_TEST(test_optimistic_loses_interest)
{
	struct choker_peer ps[NPEERS];
	struct choker_state st;
	size_t o;

	setup(ps, NPEERS);
	choker_init(&st, 4);
	choker_run(&st, ps, NPEERS, 0, 4, 0.0);
	apply(ps, NPEERS, 0.0);
	o = index_of(ps, NPEERS, st.optimistic);
	ps[o].interested = 0;
	choker_run(&st, ps, NPEERS, 0, 4, 10.0);
	ck_assert(!ps[o].unchoke);
	ck_assert_uint_ne(st.optimistic, ps[o].id);
	ck_assert_int_eq(nunchoked(ps, NPEERS), 4);
}
END_TEST

START_TEST(test_snubbed)
{
	struct choker_peer ps[NPEERS];
	struct choker_state st;

	for (uint64_t seed = 0; seed < 20; seed++) {
		setup(ps, NPEERS);
		ps[9].snubbed = 1;
		ps[8].snubbed = 1;
		choker_init(&st, seed);
		choker_run(&st, ps, NPEERS, 0, 4, 0.0);
		ck_assert(ps[7].unchoke && ps[6].unchoke && ps[5].unchoke);
		/* A snubbed peer may only hold the optimistic slot. */
		ck_assert(!ps[9].unchoke || st.optimistic == ps[9].id);
		ck_assert(!ps[8].unchoke || st.optimistic == ps[8].id);
		ck_assert_int_eq(nunchoked(ps, NPEERS), 4);
	}
	/* It had a slot and lost it once snubbed. */
	setup(ps, NPEERS);
	choker_init(&st, 7);
	choker_run(&st, ps, NPEERS, 0, 4, 0.0);
	apply(ps, NPEERS, 0.0);
	ck_assert(ps[9].unchoke);
	ps[9].snubbed = 1;
	choker_run(&st, ps, NPEERS, 0, 4, 10.0);
	ck_assert(!ps[9].unchoke || st.optimistic == ps[9].id);
	ck_assert(ps[8].unchoke && ps[7].unchoke && ps[6].unchoke);
}
END_TEST

START_TEST(test_seeding_rotation)
{
	struct choker_peer ps[NPEERS];
	struct choker_state st;
	int ever[NPEERS], rounds = 0, all = 0;

	setup(ps, NPEERS);
	memset(ever, 0, sizeof(ever));
	choker_init(&st, 11);
	/* We upload at 5 KB/s to whoever is unchoked; rates decay when choked. */
	while (!all && rounds < 30) {
		double now = 10.0 * rounds++;

		choker_run(&st, ps, NPEERS, 1, 4, now);
		ck_assert_int_eq(nunchoked(ps, NPEERS), 4);
		apply(ps, NPEERS, now);
		all = 1;
		for (int i = 0; i < NPEERS; i++) {
			ps[i].up_rate = ps[i].choked ? ps[i].up_rate / 2 : 5000.0 + i;
			ever[i] |= ps[i].unchoke;
			all &= ever[i];
		}
	}
	/* Four slots, ten peers, 30 s turns: everyone within a few turns. */
	ck_assert(all);
	ck_assert_int_le(rounds, 12);
}
END_TEST

START_TEST(test_seeding_prefers_fast)
{
	/* Nobody waits: the slots stay with the peers we upload to fastest. */
	struct choker_peer ps[6];
	struct choker_state st;

	setup(ps, 6);
	for (int i = 0; i < 6; i++) {
		ps[i].choked = 0;
		ps[i].unchoked_since = 100.0;
		ps[i].up_rate = 1000.0 * (double)(6 - i);
	}
	choker_init(&st, 1);
	choker_run(&st, ps, 6, 1, 4, 110.0);
	ck_assert_int_eq(nunchoked(ps, 6), 4);
	ck_assert(ps[0].unchoke && ps[1].unchoke && ps[2].unchoke);
}
END_TEST

START_TEST(test_one_slot)
{
	struct choker_peer ps[5];
	struct choker_state st;
	uint32_t first;

	setup(ps, 5);
	choker_init(&st, 9);
	choker_run(&st, ps, 5, 0, 1, 0.0);
	apply(ps, 5, 0.0);
	/* The single slot is the optimistic one, even over the best uploader. */
	ck_assert_int_eq(nunchoked(ps, 5), 1);
	first = st.optimistic;
	ck_assert(ps[index_of(ps, 5, first)].unchoke);
	choker_run(&st, ps, 5, 0, 1, 20.0);
	apply(ps, 5, 20.0);
	ck_assert_uint_eq(st.optimistic, first);
	ck_assert_int_eq(nunchoked(ps, 5), 1);
	choker_run(&st, ps, 5, 0, 1, 30.0);
	ck_assert_uint_ne(st.optimistic, first);
	ck_assert_int_eq(nunchoked(ps, 5), 1);
	/* Fewer than one slot is one slot. */
	choker_run(&st, ps, 5, 1, 0, 40.0);
	ck_assert_int_eq(nunchoked(ps, 5), 1);
}
END_TEST

START_TEST(test_no_peers)
{
	struct choker_state st;
	struct choker_peer one[1];

	choker_init(&st, 1);
	choker_run(&st, NULL, 0, 0, 4, 0.0);
	ck_assert_uint_eq(st.optimistic, UINT32_MAX);
	choker_run(&st, NULL, 0, 1, 4, 10.0);
	ck_assert_uint_eq(st.optimistic, UINT32_MAX);
	/* The optimistic peer left between rounds. */
	setup(one, 1);
	choker_run(&st, one, 1, 0, 4, 20.0);
	ck_assert(one[0].unchoke);
	choker_run(&st, NULL, 0, 0, 4, 30.0);
	ck_assert_uint_eq(st.optimistic, UINT32_MAX);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("choker");
	TCase *tc = tcase_create("choker");

	tcase_add_test(tc, test_init);
	tcase_add_test(tc, test_best_three_plus_optimistic);
	tcase_add_test(tc, test_optimistic_rotation);
	tcase_add_test(tc, test_good_optimistic_keeps_slot);
	tcase_add_test(tc, test_uninterested);
	tcase_add_test(tc, test_optimistic_loses_interest);
	tcase_add_test(tc, test_snubbed);
	tcase_add_test(tc, test_seeding_rotation);
	tcase_add_test(tc, test_seeding_prefers_fast);
	tcase_add_test(tc, test_one_slot);
	tcase_add_test(tc, test_no_peers);
	suite_add_tcase(s, tc);
	return s;
}
