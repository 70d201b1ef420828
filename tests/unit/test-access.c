/* test-access.c: the confused-deputy check: mode bits against a client's uid and groups. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access.h"

#include "testmain.h"

/* A client that is neither root nor us, in groups 500 and 600. */
static struct access_cred
client(void)
{
	struct access_cred c;

	memset(&c, 0, sizeof(c));
	c.uid = 4242;
	c.gid = 500;
	c.groups[0] = 500;
	c.groups[1] = 600;
	c.ngroups = 2;
	return c;
}

static struct stat
obj(uid_t uid, gid_t gid, mode_t mode)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_uid = uid;
	st.st_gid = gid;
	st.st_mode = S_IFREG | mode;
	return st;
}

START_TEST(mode_bits_table)
{
	static const struct {
		uid_t uid;
		gid_t gid;
		mode_t mode;
		int need_x, ok;
	} t[] = {
		{ 4242, 0, 0400, 0, 1 },	/* owner may read */
		{ 4242, 0, 0044, 0, 0 },	/* owner class wins even if it grants less */
		{ 0, 600, 0040, 0, 1 },		/* supplementary group */
		{ 0, 500, 0040, 0, 1 },		/* primary group */
		{ 0, 700, 0040, 0, 0 },		/* another group */
		{ 0, 600, 0404, 0, 0 },		/* group class wins over other */
		{ 0, 0, 0004, 0, 1 },		/* world-readable */
		{ 0, 0, 0600, 0, 0 },		/* root's private file */
		{ 0, 0, 0004, 1, 0 },		/* a directory needs x too */
		{ 0, 0, 0005, 1, 1 },
	};
	struct access_cred c = client();

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct stat st = obj(t[i].uid, t[i].gid, t[i].mode);
		ck_assert_msg(access_mode_ok(&c, &st, t[i].need_x) == t[i].ok, "row %zu", i);
	}
	c.unrestricted = 1;
	{
		struct stat st = obj(0, 0, 0);
		ck_assert_int_eq(access_mode_ok(&c, &st, 1), 1);
	}
}
END_TEST

START_TEST(root_and_self_are_unrestricted)
{
	struct access_cred c;

	ck_assert_int_eq(access_cred_load(&c, 0, 0), 0);
	ck_assert_int_eq(c.unrestricted, 1);
	ck_assert_int_eq(access_cred_load(&c, geteuid(), getegid()), 0);
	ck_assert_int_eq(c.unrestricted, 1);
}
END_TEST

START_TEST(path_walk_checks_every_directory)
{
	char dir[64], p[128], err[256];
	struct access_cred c = client();

	snprintf(dir, sizeof(dir), "/tmp/p2p-access-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0755), 0);
	snprintf(p, sizeof(p), "%s/open.bin", dir);
	ck_assert_int_eq(close(creat(p, 0644)), 0);
	ck_assert_int_eq(chmod(p, 0644), 0);
	/* Owned by us (not the client): only the "other" bits count for it. */
	ck_assert_int_eq(access_check_path(&c, p, err, sizeof(err)), 0);
	ck_assert_int_eq(chmod(p, 0640), 0);
	ck_assert_int_eq(access_check_path(&c, p, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "permission denied"));
	ck_assert_int_eq(chmod(p, 0644), 0);
	/* A closed directory on the way stops it, and the message names it. */
	ck_assert_int_eq(chmod(dir, 0700), 0);
	ck_assert_int_eq(access_check_path(&c, p, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, dir));
	ck_assert_int_eq(chmod(dir, 0755), 0);
	/* A missing path is refused with its reason. */
	snprintf(p, sizeof(p), "%s/nope", dir);
	ck_assert_int_eq(access_check_path(&c, p, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "No such file"));
	snprintf(p, sizeof(p), "rm -rf %s", dir);
	ck_assert_int_eq(system(p), 0);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("access");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, mode_bits_table);
	tcase_add_test(tc, root_and_self_are_unrestricted);
	tcase_add_test(tc, path_walk_checks_every_directory);
	suite_add_tcase(s, tc);
	return s;
}
