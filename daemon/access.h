/* access.h: could this control client read that path itself? (no confused deputy) */
#ifndef P2P_ACCESS_H
#define P2P_ACCESS_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#define ACCESS_MAX_GROUPS 256

/* Who asked: from SO_PEERCRED, with the supplementary groups of that uid. */
struct access_cred {
	uid_t uid;
	gid_t gid;
	gid_t groups[ACCESS_MAX_GROUPS];
	int ngroups;
	int unrestricted;	/* root, or the daemon's own user: no check */
};

/*
 * Fills c for the client uid/gid: unrestricted if uid is 0 or the daemon's
 * effective uid; else the supplementary groups from getgrouplist(3) (a uid
 * without a passwd entry keeps only gid). 0, or -1 if the groups could not
 * be read (then the caller refuses: no groups known, no access guessed).
 */
int access_cred_load(struct access_cred *c, uid_t uid, gid_t gid);

/* 1 if c may read (and, need_x, search) an object with this owner and mode. */
int access_mode_ok(const struct access_cred *c, const struct stat *st, int need_x);

/*
 * 0 if the client could read path: every directory on the way (after
 * resolving links, as the daemon will) searchable, the object itself
 * readable (a directory: readable and searchable). -1 with a message in err
 * naming the first component that stops it. POSIX ACLs are not consulted:
 * mode bits only, which can refuse what an ACL allows, never the reverse.
 */
int access_check_path(const struct access_cred *c, const char *path, char *err,
    size_t errlen);
/*
 * 0 if the client could create files in the existing directory path itself
 * (every directory on the way searchable, the last one writable and
 * searchable), as for torrent.add's "dir": the daemon must not write where
 * its client could not. -1 with a message in err.
 */
int access_check_dir_writable(const struct access_cred *c, const char *path, char *err,
    size_t errlen);

#endif
