/* access.c: checks a path against a control client's uid and groups, as the kernel would. */
#include "access.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Why a check of mode bits and not setfsuid(2) in a thread: under systemd the
 * daemon runs as the unprivileged user p2pd with no capabilities, so it cannot
 * take on a client's identity; the only way it can tell what a client may read
 * is to do the kernel's arithmetic itself. The groups are looked up on the
 * loop, once per request (NSS may block on a network directory; control
 * requests are rare and come from local users); the path checks are a few
 * lstat calls, on the loop for torrent.add and in the scan's worker for shares.
 */

int
access_cred_load(struct access_cred *c, uid_t uid, gid_t gid)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int n = ACCESS_MAX_GROUPS;

	memset(c, 0, sizeof(*c));
	c->uid = uid;
	c->gid = gid;
	c->groups[0] = gid;
	c->ngroups = 1;
	if (uid == 0 || uid == geteuid()) {
		c->unrestricted = 1;
		return 0;
	}
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0)
		return -1;
	if (res == NULL)
		return 0;	/* no passwd entry: no supplementary groups either */
	if (getgrouplist(pw.pw_name, gid, c->groups, &n) == -1)
		return -1;	/* more than ACCESS_MAX_GROUPS: refuse rather than guess */
	c->ngroups = n;
	return 0;
}

static int
in_groups(const struct access_cred *c, gid_t g)
{
	if (g == c->gid)
		return 1;
	for (int i = 0; i < c->ngroups; i++)
		if (c->groups[i] == g)
			return 1;
	return 0;
}

/* The rwx bits that apply to c: the kernel takes the first class that matches. */
static mode_t
class_bits(const struct access_cred *c, const struct stat *st)
{
	if (st->st_uid == c->uid)
		return (st->st_mode >> 6) & 07;
	if (in_groups(c, st->st_gid))
		return (st->st_mode >> 3) & 07;
	return st->st_mode & 07;
}

int
access_mode_ok(const struct access_cred *c, const struct stat *st, int need_x)
{
	mode_t want = S_IROTH | (need_x ? S_IXOTH : 0);

	return c->unrestricted || (class_bits(c, st) & want) == want;
}

/* 1 if the directory may be searched (x) by c. */
static int
search_ok(const struct access_cred *c, const struct stat *st)
{
	return (class_bits(c, st) & S_IXOTH) != 0;
}

/* Resolves path and checks every directory above it; 0 with real filled, or -1. */
static int
check_ancestors(const struct access_cred *c, const char *path, char *real, char *err,
    size_t errlen)
{
	char prefix[PATH_MAX];
	struct stat st;

	/* The daemon follows links the same way, so check where they lead. */
	if (realpath(path, real) == NULL) {
		snprintf(err, errlen, "cannot use %s: %s", path, strerror(errno));
		return -1;
	}
	if (lstat("/", &st) == -1 || !search_ok(c, &st)) {
		snprintf(err, errlen, "permission denied: uid %u cannot enter /", (unsigned)c->uid);
		return -1;
	}
	for (size_t i = 1; real[i] != '\0'; i++) {
		if (real[i] != '/')
			continue;
		memcpy(prefix, real, i);
		prefix[i] = '\0';
		if (lstat(prefix, &st) == -1 || !S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "cannot check %s: %s changed while checking", path,
			    prefix);
			return -1;
		}
		if (!search_ok(c, &st)) {
			snprintf(err, errlen, "permission denied: uid %u cannot enter %s, so "
			    "p2pd will not use %s for it", (unsigned)c->uid, prefix, path);
			return -1;
		}
	}
	if (lstat(real, &st) == -1 || S_ISLNK(st.st_mode)) {
		snprintf(err, errlen, "cannot check %s: it changed while checking", path);
		return -1;
	}
	return 0;
}

int
access_check_path(const struct access_cred *c, const char *path, char *err,
    size_t errlen)
{
	char real[PATH_MAX];
	struct stat st;

	if (c->unrestricted)
		return 0;
	if (check_ancestors(c, path, real, err, errlen) == -1)
		return -1;
	if (lstat(real, &st) == -1 || !access_mode_ok(c, &st, S_ISDIR(st.st_mode))) {
		snprintf(err, errlen, "permission denied: uid %u cannot read %s itself, so "
		    "p2pd will not read it for it", (unsigned)c->uid, path);
		return -1;
	}
	return 0;
}

int
access_check_dir_writable(const struct access_cred *c, const char *path, char *err,
    size_t errlen)
{
	char real[PATH_MAX];
	struct stat st;

	if (c->unrestricted)
		return 0;
	if (check_ancestors(c, path, real, err, errlen) == -1)
		return -1;
	if (lstat(real, &st) == -1 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a directory", path);
		return -1;
	}
	if ((class_bits(c, &st) & (S_IWOTH | S_IXOTH)) != (S_IWOTH | S_IXOTH)) {
		snprintf(err, errlen, "permission denied: uid %u cannot create files in %s "
		    "itself, so p2pd will not download there for it", (unsigned)c->uid, path);
		return -1;
	}
	return 0;
}
