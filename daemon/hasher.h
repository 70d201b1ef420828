/* hasher.h: hashes a torrent's pieces on all worker threads, for share and verify. */
#ifndef P2P_HASHER_H
#define P2P_HASHER_H

#include <stdint.h>

struct hasher;
struct storage;
struct worker_pool;
struct bitfield;

enum hasher_status {
	HASHER_DONE = 0,
	HASHER_FAILED = -1,	/* I/O error; the message says which file */
	HASHER_CANCELLED = 1,
};

/* Both run on the loop thread. */
typedef void (*hasher_progress_fn)(void *ctx, uint64_t done_bytes, uint64_t total_bytes);
typedef void (*hasher_done_fn)(void *ctx, enum hasher_status status, const char *err);

struct hasher_cb {
	hasher_progress_fn progress;
	hasher_done_fn done;
	void *ctx;
};

/*
 * Create mode (expected == NULL): writes each piece's SHA-1 into
 * hashes_out[20 * i]; a missing or short file fails the run.
 * Verify mode: sets have_out's bit i for each piece whose bytes match
 * expected[20 * i]; missing data just leaves bits clear.
 * The storage, expected, hashes_out and have_out must live until done is
 * called. done is always called exactly once, later, from the loop; the
 * hasher frees itself after it returns. NULL if the run could not start.
 */
struct hasher *hasher_start(struct worker_pool *wp, struct storage *st,
    const uint8_t *expected, uint8_t *hashes_out, struct bitfield *have_out,
    const struct hasher_cb *cb);
/* Asks the run to stop soon; done follows with HASHER_CANCELLED. */
void hasher_cancel(struct hasher *h);

#endif
