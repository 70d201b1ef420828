/* test-worker.c: the worker pool and the parallel hasher, against real files. */
#include <check.h>
#include <ev.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bitfield.h"
#include "hasher.h"
#include "sha.h"
#include "storage.h"
#include "worker.h"

#include "testmain.h"

static int runs, dones, not_ran;

static void
guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void
count_run(void *arg)
{
	__atomic_add_fetch(&runs, 1, __ATOMIC_SEQ_CST);
	(void)arg;
}

static void
count_done(void *arg, int ran)
{
	struct ev_loop *loop = arg;

	dones++;
	if (!ran)
		not_ran++;
	if (dones == 100)
		ev_break(loop, EVBREAK_ALL);
}

START_TEST(pool_runs_every_job_and_reports_on_loop)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct worker_pool *wp = worker_pool_new(loop, 3);
	ev_timer guard;

	runs = dones = not_ran = 0;
	ck_assert_ptr_nonnull(wp);
	ck_assert_int_eq(worker_pool_threads(wp), 3);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(worker_submit(wp, count_run, count_done, loop), 0);
	/* The pool's watcher doesn't keep a loop alive; the guard does, for 10 s. */
	ev_timer_init(&guard, guard_cb, 10., 0.);
	ev_timer_start(loop, &guard);
	ev_run(loop, 0);
	ck_assert_int_eq(dones, 100);
	ck_assert_int_eq(runs, 100);
	ck_assert_int_eq(not_ran, 0);
	ck_assert_uint_eq(worker_pool_pending(wp), 0);
	worker_pool_free(wp);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(pool_free_reports_jobs_that_never_ran)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct worker_pool *wp = worker_pool_new(loop, 1);

	runs = dones = not_ran = 0;
	for (int i = 0; i < 50; i++)
		worker_submit(wp, count_run, count_done, loop);
	worker_pool_free(wp);
	/* Every job's done ran exactly once, ran or not. */
	ck_assert_int_eq(dones, 50);
	ck_assert_int_eq(runs + not_ran, 50);
	ev_loop_destroy(loop);
}
END_TEST

/* --- hasher --- */

struct hres {
	int calls;
	enum hasher_status status;
	char err[256];
	uint64_t last_done;
	struct ev_loop *loop;
};

static void
h_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct hres *r = ctx;
	ck_assert_uint_le(done, total);
	ck_assert_uint_ge(done, r->last_done);
	r->last_done = done;
}

static void
h_done(void *ctx, enum hasher_status st, const char *err)
{
	struct hres *r = ctx;

	r->calls++;
	r->status = st;
	snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
	ev_break(r->loop, EVBREAK_ALL);
}

static char dir[64];

static void
write_file(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
	close(fd);
}

/* Two files with a piece spanning both: 3 pieces of 16 KiB and a short one. */
#define PLEN 16384
#define LEN_A 20000
#define LEN_B 35000

static uint8_t data[LEN_A + LEN_B];

static struct storage *
make_storage(void)
{
	char a[128], b[128];
	struct storage_file f[2];

	snprintf(dir, sizeof(dir), "/tmp/p2p-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + (i >> 8));
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	write_file(a, data, LEN_A);
	write_file(b, data + LEN_A, LEN_B);
	f[0].path = "a";
	f[0].length = LEN_A;
	f[1].path = "b";
	f[1].length = LEN_B;
	return storage_new(dir, f, 2, PLEN, LEN_A + LEN_B);
}

static void
cleanup(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
run_hasher(struct storage *st, const uint8_t *expected, uint8_t *out,
    struct bitfield *have, struct hres *r)
{
	struct worker_pool *wp;
	struct hasher_cb cb = { h_progress, h_done, r };
	ev_timer guard;

	r->loop = ev_loop_new(0);
	wp = worker_pool_new(r->loop, 2);
	ck_assert_ptr_nonnull(hasher_start(wp, st, expected, out, have, &cb));
	ev_timer_init(&guard, guard_cb, 10., 0.);
	ev_timer_start(r->loop, &guard);
	ev_run(r->loop, 0);
	worker_pool_free(wp);
	ev_loop_destroy(r->loop);
}

START_TEST(hasher_create_matches_sha1_of_each_piece)
{
	struct storage *st = make_storage();
	uint8_t hashes[4 * 20], want[20];
	struct hres r = { 0 };

	ck_assert_uint_eq(storage_piece_count(st), 4);
	ck_assert_uint_eq(storage_piece_size(st, 3), LEN_A + LEN_B - 3 * PLEN);
	run_hasher(st, NULL, hashes, NULL, &r);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.status, HASHER_DONE);
	for (uint32_t p = 0; p < 4; p++) {
		sha1(data + p * PLEN, storage_piece_size(st, p), want);
		ck_assert_mem_eq(hashes + 20 * p, want, 20);
	}
	ck_assert_uint_eq(r.last_done, LEN_A + LEN_B);
	storage_free(st);
	cleanup();
}
END_TEST

START_TEST(hasher_verify_finds_exactly_the_bad_piece)
{
	struct storage *st = make_storage();
	uint8_t expected[4 * 20];
	struct bitfield have;
	struct hres r = { 0 };
	char b[128];
	int fd;

	for (uint32_t p = 0; p < 4; p++)
		sha1(data + p * PLEN, storage_piece_size(st, p), expected + 20 * p);
	/* Corrupt one byte of file b inside piece 2 (bytes 32768..49151). */
	snprintf(b, sizeof(b), "%s/b", dir);
	fd = open(b, O_WRONLY);
	ck_assert_int_eq(pwrite(fd, "\xff\xfe", 1, 40000 - LEN_A), 1);
	close(fd);
	bitfield_init(&have, 4);
	run_hasher(st, expected, NULL, &have, &r);
	ck_assert_int_eq(r.status, HASHER_DONE);
	ck_assert_int_eq(bitfield_get(&have, 0), 1);
	ck_assert_int_eq(bitfield_get(&have, 1), 1);
	ck_assert_int_eq(bitfield_get(&have, 2), 0);
	ck_assert_int_eq(bitfield_get(&have, 3), 1);
	bitfield_free(&have);
	storage_free(st);
	cleanup();
}
END_TEST

START_TEST(hasher_verify_treats_missing_file_as_missing_pieces)
{
	struct storage *st = make_storage();
	uint8_t expected[4 * 20];
	struct bitfield have;
	struct hres r = { 0 };
	char b[128];

	for (uint32_t p = 0; p < 4; p++)
		sha1(data + p * PLEN, storage_piece_size(st, p), expected + 20 * p);
	snprintf(b, sizeof(b), "%s/b", dir);
	unlink(b);
	bitfield_init(&have, 4);
	run_hasher(st, expected, NULL, &have, &r);
	ck_assert_int_eq(r.status, HASHER_DONE);
	/* Piece 0 lies in a only; piece 1 spans a and b. */
	ck_assert_int_eq(bitfield_get(&have, 0), 1);
	ck_assert_uint_eq(have.count, 1);
	bitfield_free(&have);
	storage_free(st);
	cleanup();
}
END_TEST

START_TEST(hasher_create_fails_on_a_short_file)
{
	struct storage *st = make_storage();
	uint8_t hashes[4 * 20];
	struct hres r = { 0 };
	char b[128];

	snprintf(b, sizeof(b), "%s/b", dir);
	ck_assert_int_eq(truncate(b, 100), 0);
	run_hasher(st, NULL, hashes, NULL, &r);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.status, HASHER_FAILED);
	ck_assert_ptr_nonnull(strstr(r.err, "shorter"));
	storage_free(st);
	cleanup();
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("worker");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, pool_runs_every_job_and_reports_on_loop);
	tcase_add_test(tc, pool_free_reports_jobs_that_never_ran);
	tcase_add_test(tc, hasher_create_matches_sha1_of_each_piece);
	tcase_add_test(tc, hasher_verify_finds_exactly_the_bad_piece);
	tcase_add_test(tc, hasher_verify_treats_missing_file_as_missing_pieces);
	tcase_add_test(tc, hasher_create_fails_on_a_short_file);
	suite_add_tcase(s, tc);
	return s;
}
