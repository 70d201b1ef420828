/* share.h: turns a file or directory into a new seeding torrent, hashed in the worker pool. */
#ifndef P2P_SHARE_H
#define P2P_SHARE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct session;
struct shares;

struct access_cred;

struct share_params {
	const char *path;		/* absolute */
	const char *name;		/* NULL: the path's last component */
	uint32_t piece_length;		/* 0: automatic */
	int private_flag;
	int no_search;			/* keep it out of other peers' searches */
	const char *const *trackers;
	size_t tracker_count;
	const struct access_cred *cred;	/* the client's, to check what it could read; NULL: none */
	uint64_t client;		/* who to answer when done ... */
	json_t *req_id;			/* ... or NULL: answer nobody */
};

struct shares *shares_new(struct session *s);
/* Cancels every running share; their waiters hear shutting_down. */
void shares_free(struct shares *sh);
size_t shares_running(const struct shares *sh);

/*
 * Starts a share job; its number goes to *job. 0, or an RPC error code with a
 * message. The outcome arrives as share.done / share.failed events and, if
 * req_id is set, as the answer to that request.
 */
int share_start(struct shares *sh, const struct share_params *p, uint64_t *job,
    char *err, size_t errlen);

#endif
