/* failsync.c: test-only LD_PRELOAD shim that makes fsync/fdatasync fail with EIO. */
/*
 * Loaded into p2pd by tests/transfer/test_faults.py to prove the crash rule
 * (docs/design.md): a piece is recorded only after its sync succeeded. A sync
 * of a file whose path contains $FAILSYNC_MATCH fails with EIO once
 * $FAILSYNC_AFTER such syncs have succeeded; other files (the SQLite
 * database) sync normally, so only the data path sees the fault. Every
 * failure is counted in the file $FAILSYNC_LOG (one line each), so the test
 * knows the fault really happened.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* dlsym RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fsync(int fd);
int fdatasync(int fd);

static int synced;	/* matching syncs let through so far */

/* 1 if this sync should fail: the fd's file matches and the budget is spent. */
static int
should_fail(int fd)
{
	const char *match = getenv("FAILSYNC_MATCH");
	const char *after = getenv("FAILSYNC_AFTER");
	const char *logpath = getenv("FAILSYNC_LOG");
	char link[64], target[4096];
	ssize_t n;
	int fail;

	if (match == NULL || match[0] == '\0')
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, target, sizeof(target) - 1)) < 0)
		return 0;
	target[n] = '\0';
	if (strstr(target, match) == NULL)
		return 0;
	/* Workers sync in parallel: the count must not lose increments. */
	fail = __atomic_fetch_add(&synced, 1, __ATOMIC_SEQ_CST) >=
	    (after ? atoi(after) : 0);
	if (fail && logpath != NULL) {
		int lfd = open(logpath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (lfd >= 0) {
			dprintf(lfd, "EIO %s\n", target);
			close(lfd);
		}
	}
	return fail;
}

/* The next definition of name; memcpy because ISO C has no void * to function cast. */
static int (*next_fn(const char *name))(int)
{
	void *sym = dlsym(RTLD_NEXT, name);
	int (*fn)(int) = NULL;

	if (sym != NULL)
		memcpy(&fn, &sym, sizeof(fn));
	return fn;
}

int
fsync(int fd)
{
	int (*real)(int) = next_fn("fsync");

	if (should_fail(fd)) {
		errno = EIO;
		return -1;
	}
	return real ? real(fd) : 0;
}

int
fdatasync(int fd)
{
	int (*real)(int) = next_fn("fdatasync");

	if (should_fail(fd)) {
		errno = EIO;
		return -1;
	}
	return real ? real(fd) : 0;
}
