/* hasher.c: splits a torrent into piece ranges and hashes them in the worker pool. */
#include "hasher.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitfield.h"
#include "storage.h"
#include "worker.h"

/*
 * A range is small enough that cancellation and progress stay prompt, and
 * large enough that queue overhead is noise next to hashing a piece.
 */
#define RANGE_BYTES (16u << 20)

struct hasher {
	struct worker_pool *wp;
	struct storage *st;
	const uint8_t *expected;
	uint8_t *hashes_out;
	struct bitfield *have_out;
	struct hasher_cb cb;
	uint32_t npieces;
	uint32_t per_range;
	uint32_t next_piece;	/* first piece not yet handed to a job */
	unsigned inflight;
	unsigned max_inflight;
	uint64_t done_bytes;
	atomic_int cancel;
	int failed;
	char err[512];
};

struct range_job {
	struct hasher *h;
	uint32_t first, count;
	uint64_t bytes;
	uint8_t *matched;	/* verify mode: one flag per piece in range */
	int status;		/* enum storage_status of the run */
	char err[512];
};

static void
range_run(void *arg)
{
	struct range_job *j = arg;
	struct hasher *h = j->h;
	struct storage_reader *r = storage_reader_new(h->st);
	uint8_t *buf = malloc(storage_piece_size(h->st, 0));
	uint8_t md[20];

	if (r == NULL || buf == NULL) {
		j->status = STORAGE_ERROR;
		snprintf(j->err, sizeof(j->err), "out of memory while hashing");
		goto out;
	}
	for (uint32_t k = 0; k < j->count; k++) {
		uint32_t p = j->first + k;
		enum storage_status s;

		if (atomic_load(&h->cancel))
			break;
		s = storage_hash_piece(r, p, buf, md, j->err, sizeof(j->err));
		j->bytes += storage_piece_size(h->st, p);
		if (s == STORAGE_ERROR || (s == STORAGE_MISSING && !h->expected)) {
			if (s == STORAGE_MISSING)
				snprintf(j->err, sizeof(j->err),
				    "a file is missing or shorter than when it was listed; "
				    "was it changed while hashing?");
			j->status = STORAGE_ERROR;
			break;
		}
		if (s != STORAGE_OK)
			continue;
		if (h->expected)
			j->matched[k] = memcmp(md, h->expected + 20 * (size_t)p, 20) == 0;
		else
			memcpy(h->hashes_out + 20 * (size_t)p, md, 20);
	}
out:
	free(buf);
	storage_reader_free(r);
}

static void hasher_feed(struct hasher *h);

static void
hasher_finish(struct hasher *h)
{
	enum hasher_status s = HASHER_DONE;

	if (h->failed)
		s = HASHER_FAILED;
	else if (atomic_load(&h->cancel))
		s = HASHER_CANCELLED;
	h->cb.done(h->cb.ctx, s, h->failed ? h->err : NULL);
	free(h);
}

static void
range_done(void *arg, int ran)
{
	struct range_job *j = arg;
	struct hasher *h = j->h;

	h->inflight--;
	if (!ran) {
		atomic_store(&h->cancel, 1);
	} else if (j->status == STORAGE_ERROR && !h->failed) {
		h->failed = 1;
		snprintf(h->err, sizeof(h->err), "%s", j->err);
		atomic_store(&h->cancel, 1);
	} else if (h->expected) {
		for (uint32_t k = 0; k < j->count; k++)
			if (j->matched[k])
				bitfield_set(h->have_out, j->first + k);
	}
	h->done_bytes += j->bytes;
	free(j->matched);
	free(j);
	if (!atomic_load(&h->cancel) && h->cb.progress)
		h->cb.progress(h->cb.ctx, h->done_bytes, storage_total_length(h->st));
	hasher_feed(h);
	if (h->inflight == 0 && (h->next_piece >= h->npieces || atomic_load(&h->cancel)))
		hasher_finish(h);
}

/* Keeps a few ranges queued per thread, so other jobs interleave fairly. */
static void
hasher_feed(struct hasher *h)
{
	while (!atomic_load(&h->cancel) && h->inflight < h->max_inflight &&
	    h->next_piece < h->npieces) {
		struct range_job *j = calloc(1, sizeof(*j));
		uint32_t left = h->npieces - h->next_piece;

		if (j == NULL)
			goto oom;
		j->h = h;
		j->first = h->next_piece;
		j->count = left < h->per_range ? left : h->per_range;
		if (h->expected && (j->matched = calloc(j->count, 1)) == NULL) {
			free(j);
			goto oom;
		}
		if (worker_submit(h->wp, range_run, range_done, j) == -1) {
			free(j->matched);
			free(j);
			goto oom;
		}
		h->next_piece += j->count;
		h->inflight++;
	}
	return;
oom:
	/* A pool that is stopping means shutdown: that cancels, it is no failure. */
	if (!h->failed && !worker_pool_stopping(h->wp)) {
		h->failed = 1;
		snprintf(h->err, sizeof(h->err), "cannot queue hashing work");
	}
	atomic_store(&h->cancel, 1);
}

struct hasher *
hasher_start(struct worker_pool *wp, struct storage *st, const uint8_t *expected,
    uint8_t *hashes_out, struct bitfield *have_out, const struct hasher_cb *cb)
{
	struct hasher *h = calloc(1, sizeof(*h));
	uint32_t plen;

	if (h == NULL)
		return NULL;
	h->wp = wp;
	h->st = st;
	h->expected = expected;
	h->hashes_out = hashes_out;
	h->have_out = have_out;
	h->cb = *cb;
	h->npieces = storage_piece_count(st);
	plen = storage_piece_size(st, 0);
	h->per_range = plen >= RANGE_BYTES ? 1 : RANGE_BYTES / (plen ? plen : 1);
	h->max_inflight = 2 * (unsigned)worker_pool_threads(wp);
	atomic_init(&h->cancel, 0);
	hasher_feed(h);
	if (h->inflight == 0) {
		/* Nothing was queued: no pieces, or no memory. */
		free(h);
		return NULL;
	}
	return h;
}

void
hasher_cancel(struct hasher *h)
{
	atomic_store(&h->cancel, 1);
}
