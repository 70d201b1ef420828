/* test-storage.c: piece <-> file mapping, reads and writes, and I/O that refuses symlinks. */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage.h"

#include "testmain.h"

static char dir[64];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/p2p-storage-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* A torrent "top" with three files, the middle one empty, pieces of 16 KiB. */
static struct storage *
make(void)
{
	static const struct storage_file f[] = {
		{ "top/a.bin", 20000 },
		{ "top/empty", 0 },
		{ "top/sub/b.bin", 30000 },
	};

	return storage_new(dir, f, 3, 16384, 50000);
}

START_TEST(layout_maps_pieces_to_files)
{
	struct storage *st = make();
	size_t first, last;
	uint32_t p0, p1;

	ck_assert_ptr_nonnull(st);
	ck_assert_uint_eq(storage_piece_count(st), 4);
	ck_assert_uint_eq(storage_piece_size(st, 3), 50000 - 3 * 16384);
	ck_assert_uint_eq(storage_piece_size(st, 4), 0);
	storage_piece_files(st, 0, &first, &last);
	ck_assert_uint_eq(first, 0);
	ck_assert_uint_eq(last, 0);
	/* Piece 1 (16384..32767) spans a.bin, the empty file and b.bin. */
	storage_piece_files(st, 1, &first, &last);
	ck_assert_uint_eq(first, 0);
	ck_assert_uint_eq(last, 2);
	ck_assert_int_eq(storage_file_pieces(st, 2, &p0, &p1), 0);
	ck_assert_uint_eq(p0, 1);
	ck_assert_uint_eq(p1, 3);
	ck_assert_int_eq(storage_file_pieces(st, 1, &p0, &p1), -1);
	storage_free(st);
}
END_TEST

START_TEST(write_then_read_round_trips_across_files)
{
	struct storage *st = make();
	struct storage_reader *r = storage_reader_new(st);
	static uint8_t in[50000], out[50000];
	char err[256], path[256];
	struct stat sb;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 31 + 7);
	/* Out of order, as pieces arrive from a swarm. */
	ck_assert_int_eq(storage_write(r, 32768, in + 32768, 50000 - 32768, err,
	    sizeof(err)), STORAGE_OK);
	ck_assert_int_eq(storage_write(r, 0, in, 32768, err, sizeof(err)), STORAGE_OK);
	ck_assert_int_eq(storage_read(r, 0, out, sizeof(out), err, sizeof(err)), STORAGE_OK);
	ck_assert_mem_eq(in, out, sizeof(in));
	snprintf(path, sizeof(path), "%s/top/sub/b.bin", dir);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_int_eq(sb.st_size, 30000);
	ck_assert_int_eq(storage_read(r, 49999, out, 2, err, sizeof(err)), STORAGE_ERROR);
	storage_reader_free(r);
	storage_free(st);
}
END_TEST

START_TEST(read_of_missing_data_is_missing_not_error)
{
	struct storage *st = make();
	struct storage_reader *r = storage_reader_new(st);
	uint8_t buf[100];
	char err[256];

	ck_assert_int_eq(storage_read(r, 0, buf, sizeof(buf), err, sizeof(err)),
	    STORAGE_MISSING);
	storage_reader_free(r);
	storage_free(st);
}
END_TEST

START_TEST(write_refuses_a_symlinked_directory)
{
	struct storage *st = make();
	struct storage_reader *r = storage_reader_new(st);
	char outside[128], link[128], canary[160], err[256];
	uint8_t buf[100] = { 1 };
	struct stat sb;

	/* An attacker-made link where the torrent's directory would go. */
	snprintf(outside, sizeof(outside), "%s-outside", dir);
	ck_assert_int_eq(mkdir(outside, 0755), 0);
	snprintf(link, sizeof(link), "%s/top", dir);
	ck_assert_int_eq(symlink(outside, link), 0);
	ck_assert_int_eq(storage_write(r, 0, buf, sizeof(buf), err, sizeof(err)),
	    STORAGE_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "not a directory"));
	snprintf(canary, sizeof(canary), "%s/a.bin", outside);
	ck_assert_int_eq(stat(canary, &sb), -1);
	rmdir(outside);
	storage_reader_free(r);
	storage_free(st);
}
END_TEST

START_TEST(write_refuses_a_symlinked_file)
{
	struct storage *st = make();
	struct storage_reader *r = storage_reader_new(st);
	char target[128], path[128], err[256];
	uint8_t buf[100] = { 1 };
	struct stat sb;

	snprintf(path, sizeof(path), "%s/top", dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(target, sizeof(target), "%s-target", dir);
	snprintf(path, sizeof(path), "%s/top/a.bin", dir);
	ck_assert_int_eq(symlink(target, path), 0);
	ck_assert_int_eq(storage_write(r, 0, buf, sizeof(buf), err, sizeof(err)),
	    STORAGE_ERROR);
	ck_assert_int_eq(stat(target, &sb), -1);
	storage_reader_free(r);
	storage_free(st);
}
END_TEST

/* Reads walk below the base too: a linked directory must not show outside bytes. */
START_TEST(read_refuses_a_symlinked_directory)
{
	struct storage *st = make();
	struct storage_reader *r = storage_reader_new(st);
	char path[128], outside[128], err[256];
	uint8_t buf[100];
	int fd;

	snprintf(outside, sizeof(outside), "%s-outside", dir);
	ck_assert_int_eq(mkdir(outside, 0755), 0);
	snprintf(path, sizeof(path), "%s/a.bin", outside);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 20000), 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/top", dir);
	ck_assert_int_eq(symlink(outside, path), 0);
	ck_assert_int_ne(storage_read(r, 0, buf, sizeof(buf), err, sizeof(err)), STORAGE_OK);
	storage_reader_free(r);
	storage_free(st);
	snprintf(path, sizeof(path), "rm -rf %s", outside);
	ck_assert_int_eq(system(path), 0);
}
END_TEST

/* remove --delete-data: unlink below the base, never through a link. */
START_TEST(unlink_beneath_refuses_links)
{
	char path[128], outside[128];
	struct stat sb;
	int fd;

	snprintf(outside, sizeof(outside), "%s-outside", dir);
	ck_assert_int_eq(mkdir(outside, 0755), 0);
	snprintf(path, sizeof(path), "%s/a.bin", outside);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/top", dir);
	ck_assert_int_eq(symlink(outside, path), 0);
	ck_assert_int_eq(storage_unlink_beneath(dir, "top/a.bin", 0), -1);
	snprintf(path, sizeof(path), "%s/a.bin", outside);
	ck_assert_int_eq(stat(path, &sb), 0);
	/* The link itself, as the last component, is removed, not its target. */
	ck_assert_int_eq(storage_unlink_beneath(dir, "top", 0), 0);
	ck_assert_int_eq(stat(path, &sb), 0);
	/* A real file below the base goes. */
	snprintf(path, sizeof(path), "%s/top", dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/top/f", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(storage_unlink_beneath(dir, "top/f", 0), 0);
	ck_assert_int_eq(storage_unlink_beneath(dir, "top", 1), 0);
	ck_assert_int_eq(stat(path, &sb), -1);
	snprintf(path, sizeof(path), "rm -rf %s", outside);
	ck_assert_int_eq(system(path), 0);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("storage");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, layout_maps_pieces_to_files);
	tcase_add_test(tc, write_then_read_round_trips_across_files);
	tcase_add_test(tc, read_of_missing_data_is_missing_not_error);
	tcase_add_test(tc, write_refuses_a_symlinked_directory);
	tcase_add_test(tc, write_refuses_a_symlinked_file);
	tcase_add_test(tc, read_refuses_a_symlinked_directory);
	tcase_add_test(tc, unlink_beneath_refuses_links);
	suite_add_tcase(s, tc);
	return s;
}
