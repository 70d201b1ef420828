/* test-ratelimit.c: token buckets and rate meters (daemon/ratelimit.c). */
#include "testmain.h"
#include "ratelimit.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "netaddr.h"

/* Takes want bytes every step seconds from t0 to t1; returns the bytes granted. */
static uint64_t
drain(struct ratelimit *r, double t0, double t1, double step, uint64_t want)
{
	uint64_t total = 0, most = 0;

	/* One assertion at the end: Check records each one, which is slow in a loop. */
	for (double t = t0; t < t1; t += step) {
		uint64_t n = ratelimit_take(r, want, t);

		most = n > most ? n : most;
		total += n;
	}
	ck_assert_uint_le(most, want);
	return total;
}

START_TEST(test_long_run_average)
{
	static const uint64_t rates[] = { 20000, 100000, 1000000, 50000000 };

	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		struct ratelimit r;
		uint64_t got;

		ratelimit_init(&r, rates[i], 1000.0);
		/* Ask for far more than the rate: the limit alone decides. */
		got = drain(&r, 1000.0, 1060.0, 0.001, 4 * rates[i] / 1000 + 16384);
		ck_assert_double_le(fabs((double)got / 60.0 - (double)rates[i]),
		    0.05 * (double)rates[i]);
	}
}
END_TEST

START_TEST(test_coarse_steps)
{
	/* A caller woken only every 100 ms still gets the rate (burst >= 0.1 s). */
	struct ratelimit r;
	uint64_t got;

	ratelimit_init(&r, 200000, 0.0);
	got = drain(&r, 0.0, 30.0, 0.1, 1 << 20);
	ck_assert_double_le(fabs((double)got / 30.0 - 200000.0), 0.05 * 200000.0);
}
END_TEST

START_TEST(test_burst_bound)
{
	struct ratelimit r;
	uint64_t n;

	/* Idle for a long time: at most a burst (a quarter second) at once. */
	ratelimit_init(&r, 100000, 0.0);
	n = ratelimit_take(&r, 10000000, 100.0);
	ck_assert_uint_eq(n, 25000);
	ck_assert_uint_eq(ratelimit_take(&r, 10000000, 100.0), 0);
	/* 16 KiB then takes 0.16384 s. */
	ck_assert_double_eq_tol(ratelimit_wait(&r, 16384, 100.0), 0.16384, 1e-9);
	ck_assert_double_eq_tol(ratelimit_wait(&r, 16384, 100.1), 0.06384, 1e-9);
	ck_assert_double_eq(ratelimit_wait(&r, 16384, 100.2), 0.0);
	/* Waiting for more than a burst means waiting for a burst. */
	ck_assert_double_eq_tol(ratelimit_wait(&r, 1 << 30, 100.0), 0.25, 1e-9);
	/* A slow limit still lets a whole block through at once. */
	ratelimit_init(&r, 1000, 0.0);
	ck_assert_uint_eq(ratelimit_take(&r, 1 << 20, 500.0), RATELIMIT_MIN_BURST);
	ck_assert_double_eq_tol(ratelimit_wait(&r, 16384, 500.0), 16.384, 1e-9);
}
END_TEST

START_TEST(test_partial_grant)
{
	struct ratelimit r;

	ratelimit_init(&r, 100000, 0.0);
	ck_assert_uint_eq(ratelimit_take(&r, 20000, 0.0), 20000);
	ck_assert_uint_eq(ratelimit_take(&r, 20000, 0.0), 5000);
	ck_assert_uint_eq(ratelimit_take(&r, 20000, 0.0), 0);
	ck_assert_uint_eq(ratelimit_take(&r, 20000, 0.01), 1000);
	ck_assert_uint_eq(ratelimit_take(&r, 0, 5.0), 0);
	/* A clock that goes back grants nothing extra. */
	ck_assert_uint_eq(ratelimit_take(&r, 100000, 5.0), 25000);
	ck_assert_uint_eq(ratelimit_take(&r, 100000, 4.0), 0);
}
END_TEST

START_TEST(test_unlimited)
{
	struct ratelimit r;

	ratelimit_init(&r, 0, 0.0);
	ck_assert_uint_eq(ratelimit_take(&r, UINT64_MAX, 0.0), UINT64_MAX);
	ck_assert_uint_eq(ratelimit_take(&r, 12345, 0.0), 12345);
	ck_assert_double_eq(ratelimit_wait(&r, 1 << 30, 0.0), 0.0);
}
END_TEST

START_TEST(test_rate_change)
{
	struct ratelimit r;
	uint64_t got;

	ratelimit_init(&r, 100000, 0.0);
	got = drain(&r, 0.0, 10.0, 0.001, 1 << 20);
	ck_assert_double_le(fabs((double)got / 10.0 - 100000.0), 5000.0);
	/* Slower: the saved tokens shrink to the new burst, then the new rate holds. */
	ratelimit_set_rate(&r, 20000, 10.0);
	ck_assert_uint_le(ratelimit_take(&r, 1 << 20, 10.0), RATELIMIT_MIN_BURST);
	got = drain(&r, 10.0, 30.0, 0.001, 1 << 20);
	ck_assert_double_le(fabs((double)got / 20.0 - 20000.0), 1000.0);
	/* Unlimited, and back. */
	ratelimit_set_rate(&r, 0, 30.0);
	ck_assert_uint_eq(ratelimit_take(&r, 1 << 30, 30.0), 1 << 30);
	ratelimit_set_rate(&r, 400000, 31.0);
	got = drain(&r, 31.0, 41.0, 0.001, 1 << 20);
	ck_assert_double_le(fabs((double)got / 10.0 - 400000.0), 20000.0);
}
END_TEST

START_TEST(test_meter_accuracy)
{
	struct rate_meter m;
	double t, worst = 0;

	rate_meter_init(&m);
	ck_assert_double_eq(rate_meter_rate(&m, 50.0), 0.0);
	/* 100 KB/s in 1000-byte pieces. */
	for (t = 50.0; t < 70.0; t += 0.01) {
		rate_meter_add(&m, 1000, t);
		if (t > 51.0 && fabs(rate_meter_rate(&m, t) - 100000.0) > worst)
			worst = fabs(rate_meter_rate(&m, t) - 100000.0);
	}
	ck_assert_double_le(worst, 5000.0);
	/* Faster: the meter follows within a window. */
	for (; t < 80.0; t += 0.01)
		rate_meter_add(&m, 3000, t);
	ck_assert_double_le(fabs(rate_meter_rate(&m, t) - 300000.0), 15000.0);
}
END_TEST

START_TEST(test_meter_young)
{
	/* A meter one second old is not diluted by the window it has not lived. */
	struct rate_meter m = { { 0 }, 0, 0, 0 };

	for (double t = 7.5; t < 8.5; t += 0.01)
		rate_meter_add(&m, 500, t);
	ck_assert_double_le(fabs(rate_meter_rate(&m, 8.5) - 50000.0), 2500.0);
	/* One add alone reads as that much in a second, not as infinity. */
	rate_meter_init(&m);
	rate_meter_add(&m, 16384, 3.0);
	ck_assert_double_eq(rate_meter_rate(&m, 3.0), 16384.0);
}
END_TEST

START_TEST(test_meter_decay)
{
	struct rate_meter m;
	double t, r1, r2;

	rate_meter_init(&m);
	for (t = 0.0; t < 10.0; t += 0.01)
		rate_meter_add(&m, 100, t);
	r1 = rate_meter_rate(&m, 12.0);
	r2 = rate_meter_rate(&m, 14.0);
	ck_assert_double_lt(r1, 10000.0 * 0.7);
	ck_assert_double_gt(r1, 0.0);
	ck_assert_double_lt(r2, r1);
	ck_assert_double_eq(rate_meter_rate(&m, 10.0 + RATE_METER_WINDOW + 1), 0.0);
	ck_assert_double_eq(rate_meter_rate(&m, 1e6), 0.0);
	/* And comes back when data flows again. */
	for (t = 1e6; t < 1e6 + 5; t += 0.01)
		rate_meter_add(&m, 100, t);
	ck_assert_double_le(fabs(rate_meter_rate(&m, t) - 10000.0), 500.0);
}
END_TEST

static struct netaddr
addr(const char *s)
{
	struct netaddr a;
	char err[64];

	ck_assert_int_eq(netaddr_parse(s, &a, err, sizeof(err)), 0);
	return a;
}

START_TEST(test_addr_burst_then_rate)
{
	static struct addr_bucket t[64];
	struct netaddr a = addr("192.0.2.1:6881");
	int ok = 0;

	memset(t, 0, sizeof(t));
	for (int i = 0; i < 100; i++)
		ok += ratelimit_addr_allow(t, 64, &a, 5, 10, 1000);
	ck_assert_int_eq(ok, 10);
	ok = 0;
	for (int i = 0; i < 100; i++)
		ok += ratelimit_addr_allow(t, 64, &a, 5, 10, 1001);
	ck_assert_int_eq(ok, 5);
}
END_TEST

/* A flooder that changes its source port is still the same address. */
START_TEST(test_addr_port_does_not_matter)
{
	static struct addr_bucket t[64];
	char s[32];
	int ok = 0;

	memset(t, 0, sizeof(t));
	for (int i = 0; i < 100; i++) {
		struct netaddr a;

		snprintf(s, sizeof(s), "192.0.2.1:%d", 1000 + i);
		a = addr(s);
		ok += ratelimit_addr_allow(t, 64, &a, 5, 10, 1000);
	}
	ck_assert_int_eq(ok, 10);
	ok = 0;
	for (int i = 0; i < 100; i++) {
		struct netaddr a;

		snprintf(s, sizeof(s), "[2001:db8::1]:%d", 1000 + i);
		a = addr(s);
		ok += ratelimit_addr_allow(t, 64, &a, 5, 10, 1000);
	}
	ck_assert_int_eq(ok, 10);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = tcase_create("ratelimit");

	tcase_add_test(tc, test_long_run_average);
	tcase_add_test(tc, test_coarse_steps);
	tcase_add_test(tc, test_burst_bound);
	tcase_add_test(tc, test_partial_grant);
	tcase_add_test(tc, test_unlimited);
	tcase_add_test(tc, test_rate_change);
	tcase_add_test(tc, test_meter_accuracy);
	tcase_add_test(tc, test_meter_young);
	tcase_add_test(tc, test_meter_decay);
	tcase_add_test(tc, test_addr_burst_then_rate);
	tcase_add_test(tc, test_addr_port_does_not_matter);
	suite_add_tcase(s, tc);
	return s;
}
