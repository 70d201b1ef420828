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
 * is to do the kernel's arithmetic itself. The check runs on the loop: it is a
 * few lstat calls and one passwd/group lookup per request (NSS may block on a
 * network directory; control requests are rare and come from local users).
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

int
access_mode_ok(const struct access_cred *c, const struct stat *st, int need_x)
{
	mode_t want = S_IROTH | (need_x ? S_IXOTH : 0), have;

	if (c->unrestricted)
		return 1;
	/* The kernel takes the first class that matches, even if it grants less. */
	if (st->st_uid == c->uid)
		have = (st->st_mode >> 6) & 07;
	else if (in_groups(c, st->st_gid))
		have = (st->st_mode >> 3) & 07;
	else
		have = st->st_mode & 07;
	return (have & want) == want;
}

/* 1 if the directory may be searched (x) by c. */
static int
search_ok(const struct access_cred *c, const struct stat *st)
{
	mode_t have;

	if (st->st_uid == c->uid)
		have = (st->st_mode >> 6) & 07;
	else if (in_groups(c, st->st_gid))
		have = (st->st_mode >> 3) & 07;
	else
		have = st->st_mode & 07;
	return (have & S_IXOTH) != 0;
}

int
access_check_path(const struct access_cred *c, const char *path, char *err,
    size_t errlen)
{
	char real[PATH_MAX], prefix[PATH_MAX];
	struct stat st;
	size_t i;

	if (c->unrestricted)
		return 0;
	/* The daemon follows links the same way, so check where they lead. */
	if (realpath(path, real) == NULL) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	/* Every directory above the object must be searchable by the client. */
	for (i = 1; ; i++) {
		if (real[i] != '/' && real[i] != '\0')
			continue;
		if (real[i] == '\0')
			break;
		memcpy(prefix, real, i);
		prefix[i] = '\0';
		if (lstat(prefix, &st) == -1 || !S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "cannot check %s: %s changed while checking", path,
			    prefix);
			return -1;
		}
		if (!search_ok(c, &st)) {
			snprintf(err, errlen, "permission denied: uid %u cannot enter %s, so "
			    "p2pd will not read %s for it", (unsigned)c->uid, prefix, path);
			return -1;
		}
	}
	if (lstat("/", &st) == -1 || !search_ok(c, &st)) {
		snprintf(err, errlen, "permission denied: uid %u cannot enter /", (unsigned)c->uid);
		return -1;
	}
	if (lstat(real, &st) == -1 || S_ISLNK(st.st_mode)) {
		snprintf(err, errlen, "cannot check %s: it changed while checking", path);
		return -1;
	}
	if (!access_mode_ok(c, &st, S_ISDIR(st.st_mode))) {
		snprintf(err, errlen, "permission denied: uid %u cannot read %s itself, so "
		    "p2pd will not read it for it", (unsigned)c->uid, path);
		return -1;
	}
	return 0;
}
