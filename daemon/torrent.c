/* torrent.c: per-torrent state, piece bookkeeping, checks and their persistence. */
#include "torrent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bitfield.h"
#include "conf.h"
#include "hasher.h"
#include "log.h"
#include "magnet.h"
#include "metainfo.h"
#include "netaddr.h"
#include "rpc.h"
#include "session.h"
#include "sha.h"
#include "storage.h"
#include "store.h"
#include "transfer.h"

/* hash.progress events per second per check, so a subscriber isn't flooded. */
#define PROGRESS_INTERVAL 0.25

struct waiter {
	struct waiter *next;
	uint64_t client;
	json_t *req_id;
};

struct torrent {
	struct session *s;
	int64_t id;
	uint8_t ih[20];
	char hex[41];
	char *name;
	struct metainfo *mi;		/* NULL until a magnet has metadata */
	struct storage *st;		/* NULL when mi is */
	char *data_path;
	char *save_dir;
	int origin;
	int paused;
	int searchable;			/* others' searches may find it */
	char *error;			/* non-NULL: state error */
	struct bitfield have;
	int64_t added_at;
	int64_t completed_at;
	uint64_t uploaded;
	uint64_t downloaded;
	char **trackers;
	uint32_t *tiers;
	size_t ntrackers;
	/* a running check */
	struct hasher *hasher;
	struct bitfield check_have;
	uint64_t check_done;
	uint64_t check_total;
	double last_progress;
	struct waiter *waiters;
	int freeing;			/* torrent_free ran; the check's end frees */
	struct bitfield synced;		/* what the database records: a subset of have */
	struct transfer *tr;		/* while downloading or seeding */
	double last_save;
	int counters_dirty;		/* uploaded/downloaded changed since the save */
};

static const char *const state_names[] = {
	[TORRENT_CHECKING] = "checking",
	[TORRENT_DOWNLOADING] = "downloading",
	[TORRENT_SEEDING] = "seeding",
	[TORRENT_PAUSED] = "paused",
	[TORRENT_ERROR] = "error",
};

const char *
torrent_state_name(enum torrent_state s)
{
	return state_names[s];
}

enum torrent_state
torrent_state(const struct torrent *t)
{
	if (t->hasher)
		return TORRENT_CHECKING;
	if (t->error)
		return TORRENT_ERROR;
	if (t->paused)
		return TORRENT_PAUSED;
	if (t->mi && bitfield_full(&t->have))
		return TORRENT_SEEDING;
	return TORRENT_DOWNLOADING;
}

/* A transfer runs exactly while the torrent is downloading or seeding. */
static void
torrent_update_transfer(struct torrent *t)
{
	enum torrent_state st = torrent_state(t);
	/* Without metadata (a magnet) the transfer's first job is to fetch it. */
	int want = !t->freeing && (st == TORRENT_DOWNLOADING || st == TORRENT_SEEDING);

	if (want && t->tr == NULL) {
		if ((t->tr = transfer_new(t->s, t)) == NULL)
			log_warnx("torrent %lld: cannot start its transfer (out of memory)",
			    (long long)t->id);
	} else if (!want && t->tr != NULL) {
		struct transfer *tr = t->tr;
		t->tr = NULL;
		if (st != TORRENT_ERROR)
			transfer_flush(tr);
		transfer_free(tr);
	}
}

/* Every state change goes through here: one log line and one event. */
static void
torrent_changed(struct torrent *t, enum torrent_state from, const char *reason)
{
	enum torrent_state to = torrent_state(t);
	json_t *ev;

	torrent_update_transfer(t);
	if (from == to || t->freeing)
		return;
	log_info("torrent %lld %s: %s -> %s reason=%s", (long long)t->id, t->hex,
	    state_names[from], state_names[to], reason);
	ev = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)t->id,
	    "info_hash", t->hex, "from", state_names[from], "to", state_names[to]);
	if (ev && to == TORRENT_ERROR)
		json_object_set_new(ev, "error", json_string(t->error));
	session_event(t->s, CTL_EV_TORRENT_STATE, ev);
}

static int
copy_trackers(struct torrent *t, const struct store_torrent *row)
{
	if (row->tracker_count == 0)
		return 0;
	t->trackers = calloc(row->tracker_count, sizeof(*t->trackers));
	t->tiers = calloc(row->tracker_count, sizeof(*t->tiers));
	if (t->trackers == NULL || t->tiers == NULL)
		return -1;
	for (size_t i = 0; i < row->tracker_count; i++) {
		if ((t->trackers[i] = strdup(row->trackers[i].url)) == NULL)
			return -1;
		t->tiers[i] = row->trackers[i].tier;
		t->ntrackers++;
	}
	return 0;
}

static void torrent_start_check(struct torrent *t);

struct torrent *
torrent_new(struct session *s, const struct store_torrent *row, struct metainfo *mi)
{
	struct torrent *t = calloc(1, sizeof(*t));
	int owed = row->needs_check;

	if (t == NULL)
		goto fail;
	t->s = s;
	t->id = row->id;
	memcpy(t->ih, row->info_hash, 20);
	sha_hex(t->ih, 20, t->hex);
	t->mi = mi;
	mi = NULL;
	t->name = strdup(row->name ? row->name : t->hex);
	t->data_path = strdup(row->data_path ? row->data_path : "");
	t->save_dir = strdup(row->save_dir ? row->save_dir : "");
	if (!t->name || !t->data_path || !t->save_dir || copy_trackers(t, row) == -1)
		goto fail;
	if (row->error && (t->error = strdup(row->error)) == NULL)
		goto fail;
	t->origin = row->origin;
	t->paused = row->paused;
	t->searchable = row->searchable;
	t->added_at = row->added_at;
	t->completed_at = row->completed_at;
	t->uploaded = row->uploaded;
	t->downloaded = row->downloaded;
	if (bitfield_init(&t->have, t->mi ? t->mi->piece_count : 0) == -1 ||
	    bitfield_init(&t->synced, t->mi ? t->mi->piece_count : 0) == -1)
		goto fail;
	if (t->mi) {
		if ((t->st = storage_from_metainfo(t->mi, t->data_path)) == NULL)
			goto fail;
		/* Under-claim rather than trust a have-set that doesn't fit. */
		if (row->have && bitfield_load(&t->have, row->have, row->have_len) == -1) {
			log_warnx("torrent %lld: stored piece set is invalid; checking the data",
			    (long long)t->id);
			owed = 1;
		}
	}
	if (t->mi)
		bitfield_load(&t->synced, t->have.bits, bitfield_bytes(t->have.nbits));
	t->last_save = ev_now(session_loop(s));
	if (owed && t->mi)
		torrent_start_check(t);
	else
		torrent_update_transfer(t);
	return t;
fail:
	log_warnx("torrent %lld: out of memory or bad layout while loading", (long long)row->id);
	metainfo_free(mi);
	if (t)
		torrent_free(t);
	return NULL;
}

static void
torrent_destroy(struct torrent *t)
{
	struct waiter *w;

	while ((w = t->waiters) != NULL) {
		t->waiters = w->next;
		json_decref(w->req_id);
		free(w);
	}
	for (size_t i = 0; i < t->ntrackers; i++)
		free(t->trackers[i]);
	free(t->trackers);
	free(t->tiers);
	bitfield_free(&t->have);
	bitfield_free(&t->synced);
	bitfield_free(&t->check_have);
	storage_free(t->st);
	metainfo_free(t->mi);
	free(t->name);
	free(t->data_path);
	free(t->save_dir);
	free(t->error);
	free(t);
}

static void answer_waiters(struct torrent *t, const char *err);

void
torrent_free(struct torrent *t)
{
	if (t == NULL)
		return;
	answer_waiters(t, "the torrent was removed or p2pd is stopping before the check ended");
	t->freeing = 1;
	if (t->tr) {
		transfer_free(t->tr);
		t->tr = NULL;
	}
	if (t->hasher) {
		hasher_cancel(t->hasher);
		return;
	}
	torrent_destroy(t);
}

int64_t
torrent_id(const struct torrent *t)
{
	return t->id;
}

const uint8_t *
torrent_info_hash(const struct torrent *t)
{
	return t->ih;
}

const char *
torrent_hex(const struct torrent *t)
{
	return t->hex;
}

const char *
torrent_name(const struct torrent *t)
{
	return t->name;
}

const char *
torrent_path(const struct torrent *t)
{
	return t->data_path;
}

/* 1 if a is b, or one of them is a directory holding the other. */
static int
paths_overlap(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b), n = na < nb ? na : nb;

	if (strncmp(a, b, n) != 0)
		return 0;
	return na == nb || (na < nb ? b[na] == '/' : a[nb] == '/');
}

struct torrent *
torrent_path_user(struct session *s, const char *path, const struct torrent *except)
{
	for (struct torrent *t = session_torrent_first(s); t != NULL;
	    t = session_torrent_next(s, t)) {
		/* A magnet without metadata has no files yet. */
		if (t == except || t->mi == NULL || t->data_path == NULL)
			continue;
		if (paths_overlap(t->data_path, path))
			return t;
	}
	return NULL;
}

int
torrent_origin(const struct torrent *t)
{
	return t->origin;
}

int
torrent_searchable(const struct torrent *t)
{
	return t->searchable;
}

int
torrent_is_private(const struct torrent *t)
{
	return t->mi != NULL && t->mi->private_flag;
}

const struct metainfo *
torrent_metainfo(const struct torrent *t)
{
	return t->mi;
}

static uint64_t
have_bytes(const struct torrent *t)
{
	uint64_t n;
	uint32_t last;

	if (t->mi == NULL || t->have.count == 0)
		return 0;
	n = (uint64_t)t->have.count * t->mi->piece_length;
	last = t->mi->piece_count - 1;
	if (bitfield_get(&t->have, last))
		n -= t->mi->piece_length - metainfo_piece_size(t->mi, last);
	return n;
}

static const char *
origin_name(int origin)
{
	switch (origin) {
	case STORE_ORIGIN_SHARED: return "shared";
	case STORE_ORIGIN_MAGNET: return "magnet";
	default: return "added";
	}
}

static void
add_detail(const struct torrent *t, json_t *o)
{
	json_t *tr = json_array();
	char *m = torrent_magnet(t);

	json_object_set_new(o, "magnet", m ? json_string(m) : json_null());
	free(m);
	for (size_t i = 0; i < t->ntrackers; i++)
		json_array_append_new(tr, json_pack("{s:s, s:I}", "url", t->trackers[i],
		    "tier", (json_int_t)t->tiers[i]));
	json_object_set_new(o, "trackers", tr);
	if (t->mi && t->mi->comment)
		json_object_set_new(o, "comment", json_string(t->mi->comment));
	if (t->mi && t->mi->created_by)
		json_object_set_new(o, "created_by", json_string(t->mi->created_by));
	if (t->mi && t->mi->creation_date)
		json_object_set_new(o, "creation_date", json_integer(t->mi->creation_date));
}

json_t *
torrent_json(const struct torrent *t, int detail)
{
	const struct metainfo *mi = t->mi;
	uint64_t size = mi ? mi->total_length : 0;
	uint64_t hb = have_bytes(t);
	enum torrent_state st = torrent_state(t);
	json_t *o;

	o = json_pack("{s:I, s:s, s:s, s:s, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:b, s:s, s:s, s:I, s:I, s:I, s:I}",
	    "id", (json_int_t)t->id,
	    "info_hash", t->hex,
	    "name", t->name,
	    "state", state_names[st],
	    "size", (json_int_t)size,
	    "have_bytes", (json_int_t)hb,
	    "progress", size ? (double)hb / (double)size : 0.0,
	    "pieces", (json_int_t)(mi ? mi->piece_count : 0),
	    "pieces_have", (json_int_t)t->have.count,
	    "piece_length", (json_int_t)(mi ? mi->piece_length : 0),
	    "files", (json_int_t)(mi ? mi->file_count : 0),
	    "private", mi ? mi->private_flag : 0,
	    "origin", origin_name(t->origin),
	    "path", t->data_path,
	    "added", (json_int_t)t->added_at,
	    "completed", (json_int_t)t->completed_at,
	    "uploaded", (json_int_t)t->uploaded,
	    "downloaded", (json_int_t)t->downloaded);
	if (o == NULL)
		return NULL;
	if (st == TORRENT_ERROR)
		json_object_set_new(o, "error", json_string(t->error));
	if (st == TORRENT_CHECKING)
		json_object_set_new(o, "check_progress", json_real(t->check_total ?
		    (double)t->check_done / (double)t->check_total : 0.0));
	if (detail)
		add_detail(t, o);
	return o;
}

/* Bytes of file i that lie in verified pieces. */
static uint64_t
file_have_bytes(const struct torrent *t, size_t i)
{
	const struct mi_file *f = &t->mi->files[i];
	uint64_t n = 0, plen = t->mi->piece_length;
	uint32_t first, last;

	if (f->length == 0)
		return 0;
	first = (uint32_t)(f->offset / plen);
	last = (uint32_t)((f->offset + f->length - 1) / plen);
	for (uint32_t p = first; p <= last; p++) {
		uint64_t ps = (uint64_t)p * plen, pe = ps + metainfo_piece_size(t->mi, p);
		uint64_t s = ps > f->offset ? ps : f->offset;
		uint64_t e = pe < f->offset + f->length ? pe : f->offset + f->length;
		if (bitfield_get(&t->have, p))
			n += e - s;
	}
	return n;
}

json_t *
torrent_files_json(const struct torrent *t)
{
	json_t *a = json_array();

	for (size_t i = 0; t->mi && i < t->mi->file_count; i++) {
		const struct mi_file *f = &t->mi->files[i];
		uint64_t hb = file_have_bytes(t, i);
		json_array_append_new(a, json_pack("{s:I, s:s, s:I, s:I, s:f}",
		    "index", (json_int_t)i,
		    "path", t->mi->multi_file ? f->path : t->name,
		    "size", (json_int_t)f->length,
		    "have_bytes", (json_int_t)hb,
		    "progress", f->length ? (double)hb / (double)f->length : 1.0));
	}
	return json_pack("{s:o}", "files", a);
}

char *
torrent_magnet(const struct torrent *t)
{
	return magnet_build(t->ih, t->name, (const char *const *)t->trackers, t->ntrackers);
}

int
torrent_pause(struct torrent *t)
{
	enum torrent_state from = torrent_state(t);

	if (t->paused)
		return 0;
	if (store_torrent_set_paused(session_store(t->s), t->id, 1) == -1)
		return -1;
	t->paused = 1;
	torrent_changed(t, from, "user");
	return 0;
}

int
torrent_resume(struct torrent *t)
{
	enum torrent_state from = torrent_state(t);

	if (!t->paused && !t->error)
		return 0;
	if (store_torrent_set_paused(session_store(t->s), t->id, 0) == -1)
		return -1;
	t->paused = 0;
	/* An error is retried by checking the data again. */
	if (t->error && t->mi) {
		torrent_start_check(t);
		return 0;
	}
	torrent_changed(t, from, "user");
	return 0;
}

static void
answer_waiters(struct torrent *t, const char *err)
{
	struct waiter *w;

	while ((w = t->waiters) != NULL) {
		t->waiters = w->next;
		if (err)
			session_answer_error(t->s, w->client, w->req_id, RPC_ERR_BUSY, err, NULL);
		else
			session_answer(t->s, w->client, w->req_id, torrent_json(t, 0));
		json_decref(w->req_id);
		free(w);
	}
}

static void
check_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct torrent *t = ctx;
	double now = ev_now(session_loop(t->s));

	t->check_done = done;
	t->check_total = total;
	if (now - t->last_progress < PROGRESS_INTERVAL && done < total)
		return;
	t->last_progress = now;
	session_event(t->s, CTL_EV_HASH_PROGRESS, json_pack("{s:I, s:s, s:I, s:I}",
	    "id", (json_int_t)t->id, "info_hash", t->hex,
	    "done", (json_int_t)done, "total", (json_int_t)total));
}

static void
check_done(void *ctx, enum hasher_status status, const char *err)
{
	struct torrent *t = ctx;
	struct store *store;

	t->hasher = NULL;
	if (t->freeing || status == HASHER_CANCELLED) {
		/* The owed check stays recorded; it runs again at the next start. */
		bitfield_free(&t->check_have);
		if (t->freeing)
			torrent_destroy(t);
		return;
	}
	store = session_store(t->s);
	if (status == HASHER_FAILED) {
		free(t->error);
		t->error = strdup(err ? err : "I/O error while checking");
		log_warnx("torrent %lld %s: check failed: %s", (long long)t->id, t->hex, t->error);
		store_torrent_set_error(store, t->id, t->error);
		bitfield_free(&t->check_have);
	} else {
		bitfield_free(&t->have);
		t->have = t->check_have;
		memset(&t->check_have, 0, sizeof(t->check_have));
		/* Read back from disk, so as durable as anything we wrote. */
		bitfield_load(&t->synced, t->have.bits, bitfield_bytes(t->have.nbits));
		if (bitfield_full(&t->have) && t->completed_at == 0)
			t->completed_at = (int64_t)time(NULL);
		if (!bitfield_full(&t->have))
			t->completed_at = 0;
		store_begin(store);
		store_torrent_set_have(store, t->id, t->have.bits,
		    bitfield_bytes(t->have.nbits), 0);
		store_torrent_set_error(store, t->id, NULL);
		store_torrent_set_counters(store, t->id, t->uploaded, t->downloaded,
		    t->completed_at);
		store_commit(store);
		log_info("torrent %lld %s: check done, %u of %u pieces valid",
		    (long long)t->id, t->hex, t->have.count, t->have.nbits);
	}
	torrent_changed(t, TORRENT_CHECKING, status == HASHER_FAILED ? "io-error" : "checked");
	answer_waiters(t, NULL);
}

static void
torrent_start_check(struct torrent *t)
{
	enum torrent_state from = torrent_state(t);
	struct hasher_cb cb = { check_progress, check_done, t };

	if (t->hasher || t->mi == NULL)
		return;
	if (bitfield_init(&t->check_have, t->mi->piece_count) == -1)
		goto fail;
	/* Owed from now until it ends, so a crash mid-check checks again. */
	store_torrent_set_have(session_store(t->s), t->id, t->have.bits,
	    bitfield_bytes(t->have.nbits), 1);
	free(t->error);
	t->error = NULL;
	t->check_done = 0;
	t->check_total = t->mi->total_length;
	t->last_progress = 0;
	if ((t->hasher = hasher_start(session_pool(t->s), t->st, t->mi->pieces,
	    NULL, &t->check_have, &cb)) == NULL) {
		bitfield_free(&t->check_have);
		goto fail;
	}
	torrent_changed(t, from, "check");
	return;
fail:
	t->error = strdup("cannot start checking: out of memory or shutting down");
	torrent_changed(t, from, "check-failed");
}

int
torrent_verify(struct torrent *t, uint64_t client, json_t *req_id, char *err, size_t errlen)
{
	struct waiter *w;

	if (t->mi == NULL) {
		snprintf(err, errlen, "torrent %lld has no metadata yet; nothing to verify",
		    (long long)t->id);
		return -1;
	}
	if (t->hasher)
		return 1;
	torrent_start_check(t);
	if (t->hasher == NULL) {
		snprintf(err, errlen, "%s", t->error ? t->error : "cannot start checking");
		return -1;
	}
	if (req_id) {
		if ((w = calloc(1, sizeof(*w))) == NULL)
			return 0;
		w->client = client;
		w->req_id = json_incref(req_id);
		w->next = t->waiters;
		t->waiters = w;
	}
	return 0;
}

int
torrent_check_existing(struct torrent *t)
{
	/* Peeking with stat costs one syscall; it spares hashing nothing at all. */
	if (t->mi == NULL || access(t->data_path, F_OK) != 0)
		return 0;
	torrent_start_check(t);
	return 1;
}

char **
torrent_data_files(const struct torrent *t, size_t *n)
{
	char **v;
	size_t k = 0;

	*n = 0;
	if (t->st == NULL)
		return NULL;
	if ((v = calloc(storage_file_count(t->st) + 1, sizeof(*v))) == NULL)
		return NULL;
	for (size_t i = 0; i < storage_file_count(t->st); i++)
		if ((v[k] = strdup(storage_file_path(t->st, i))) != NULL)
			k++;
	*n = k;
	return v;
}

int
torrent_save(struct torrent *t)
{
	t->counters_dirty = 0;
	/* completed_at is recorded only once the data it vouches for is synced. */
	return store_torrent_set_counters(session_store(t->s), t->id, t->uploaded,
	    t->downloaded, t->mi && bitfield_full(&t->synced) ? t->completed_at : 0);
}

const struct bitfield *
torrent_have(const struct torrent *t)
{
	return &t->have;
}

struct transfer *
torrent_transfer(const struct torrent *t)
{
	return t->tr;
}

void
torrent_add_counters(struct torrent *t, uint64_t uploaded, uint64_t downloaded)
{
	if (t == NULL)
		return;
	t->uploaded += uploaded;
	t->downloaded += downloaded;
	t->counters_dirty = 1;
}

void
torrent_piece_done(struct torrent *t, uint32_t piece)
{
	enum torrent_state from = torrent_state(t);

	bitfield_set(&t->have, piece);
	if (!bitfield_full(&t->have))
		return;
	t->completed_at = (int64_t)time(NULL);
	log_notice("torrent %lld %s: download complete (%s)", (long long)t->id, t->hex, t->name);
	session_event(t->s, CTL_EV_TORRENT_COMPLETED, json_pack("{s:I, s:s, s:s}", "id",
	    (json_int_t)t->id, "info_hash", t->hex, "name", t->name));
	torrent_changed(t, from, "complete");
}

void
torrent_pieces_synced(struct torrent *t, const uint32_t *pieces, size_t n)
{
	struct store *store = session_store(t->s);

	for (size_t i = 0; i < n; i++)
		bitfield_set(&t->synced, pieces[i]);
	store_begin(store);
	store_torrent_set_have(store, t->id, t->synced.bits, bitfield_bytes(t->synced.nbits), 0);
	store_torrent_set_counters(store, t->id, t->uploaded, t->downloaded,
	    bitfield_full(&t->synced) ? t->completed_at : 0);
	if (store_commit(store) == -1)
		log_warnx("torrent %lld: cannot record progress: %s", (long long)t->id,
		    store_errmsg(store));
}

void
torrent_io_error(struct torrent *t, const char *msg)
{
	enum torrent_state from;

	if (t == NULL || t->error)
		return;
	from = torrent_state(t);
	t->error = strdup(msg);
	log_warnx("torrent %lld %s: %s", (long long)t->id, t->hex, msg);
	store_torrent_set_error(session_store(t->s), t->id, msg);
	torrent_changed(t, from, "io-error");
}

void
torrent_tick(struct torrent *t, double now)
{
	if (t->tr)
		transfer_tick(t->tr, now);
	/* Counters are cheap to lose but nice to keep: every minute, if they moved. */
	if (t->counters_dirty && now - t->last_save >= 60.0) {
		t->last_save = now;
		torrent_save(t);
	}
}

void
torrent_shutdown(struct torrent *t)
{
	if (t->tr)
		transfer_flush(t->tr);
	torrent_save(t);
}

json_t *
torrent_peers_json(const struct torrent *t)
{
	return json_pack("{s:o}", "peers", t->tr ? transfer_peers_json(t->tr) : json_array());
}

int
torrent_peer_add(struct torrent *t, const struct netaddr *a, char *err, size_t errlen)
{
	char as[NETADDR_STRLEN];
	int rc;

	if (t->tr == NULL) {
		snprintf(err, errlen, "torrent %lld is %s; it connects to peers only while "
		    "downloading or seeding", (long long)t->id, state_names[torrent_state(t)]);
		return RPC_ERR_BUSY;
	}
	rc = transfer_connect(t->tr, a, err, errlen);
	/* Kept so the transfer dials it again after a drop or a restart. */
	if (rc == 0 || rc == RPC_ERR_BUSY)
		store_peer_add(session_store(t->s), t->id, netaddr_format(a, as, sizeof(as)),
		    (int64_t)time(NULL));
	return rc;
}

/* Peers a magnet's metadata transfer met, handed to the download that follows it. */
#define KEEP_PEERS 64

int
torrent_set_metadata(struct torrent *t, const uint8_t *info, size_t len)
{
	struct metainfo *mi = NULL;
	struct store_file *files = NULL;
	struct transfer *old;
	struct torrent *other;
	struct netaddr keep[KEEP_PEERS];
	size_t nkeep;
	char err[256], *path = NULL;
	/* max_metadata_size and max_files_per_torrent hold for dicts from peers too. */
	const struct conf *c = session_conf(t->s);
	struct mi_limits lim = { (size_t)c->max_files_per_torrent,
	    (size_t)c->max_metadata_size };

	if (t->mi != NULL)
		return 0;
	if (metainfo_parse_info(info, len, &lim, &mi, err, sizeof(err)) == -1 ||
	    memcmp(mi->info_hash, t->ih, 20) != 0) {
		log_warnx("torrent %lld %s: unusable info dict from peers: %s", (long long)t->id,
		    t->hex, mi ? "info-hash differs" : err);
		goto fail;
	}
	if (asprintf(&path, "%s/%s", t->save_dir, mi->name) == -1) {
		path = NULL;
		goto fail;
	}
	if ((other = torrent_path_user(t->s, path, t)) != NULL) {
		/* Its verified data would be overwritten by this download. */
		snprintf(err, sizeof(err), "torrent %lld already uses %s; remove one of them "
		    "or add this magnet with another dir", (long long)other->id, path);
		metainfo_free(mi);
		free(path);
		torrent_io_error(t, err);
		return -1;
	}
	if ((files = calloc(mi->file_count, sizeof(*files))) == NULL)
		goto fail;
	for (size_t i = 0; i < mi->file_count; i++) {
		files[i].path = mi->multi_file ? mi->files[i].path : mi->name;
		files[i].length = mi->files[i].length;
	}
	if (store_torrent_set_info(session_store(t->s), t->id, mi->name, mi->info,
	    mi->info_len, path, files, mi->file_count) == -1)
		goto fail;
	bitfield_free(&t->have);
	bitfield_free(&t->synced);
	if (bitfield_init(&t->have, mi->piece_count) == -1 ||
	    bitfield_init(&t->synced, mi->piece_count) == -1 ||
	    (t->st = storage_from_metainfo(mi, path)) == NULL)
		goto fail;
	free(t->name);
	t->name = strdup(mi->name);
	free(t->data_path);
	t->data_path = path;
	path = NULL;
	t->mi = mi;
	mi = NULL;
	log_notice("torrent %lld %s: metadata received: %s, %llu bytes in %u pieces",
	    (long long)t->id, t->hex, t->name, (unsigned long long)t->mi->total_length,
	    t->mi->piece_count);
	/* The metadata transfer goes; its peers (from the DHT, trackers, PEX) are dialled again. */
	nkeep = transfer_known(t->tr, keep, KEEP_PEERS);
	old = t->tr;
	t->tr = NULL;
	transfer_free(old);
	if (!torrent_check_existing(t))
		torrent_update_transfer(t);
	for (size_t i = 0; t->tr != NULL && i < nkeep; i++)
		transfer_add_peer(t->tr, &keep[i]);
	free(files);
	return 0;
fail:
	metainfo_free(mi);
	free(files);
	free(path);
	/* Peers can't give us better than what matched the info-hash. */
	torrent_io_error(t, "the info dict received for this magnet is unusable (see log)");
	return -1;
}

size_t
torrent_trackers(const struct torrent *t, const char *const **urls, const uint32_t **tiers)
{
	*urls = (const char *const *)t->trackers;
	*tiers = t->tiers;
	return t->ntrackers;
}

void
torrent_counters(const struct torrent *t, uint64_t *up, uint64_t *down, uint64_t *left)
{
	*up = t->uploaded;
	*down = t->downloaded;
	/* A magnet doesn't know its size yet; any non-zero value says "leecher". */
	*left = t->mi ? t->mi->total_length - have_bytes(t) : 1;
}

json_t *
torrent_trackers_json(const struct torrent *t)
{
	json_t *a = t->tr ? transfer_trackers_json(t->tr) : NULL;

	if (a == NULL) {
		a = json_array();
		for (size_t i = 0; i < t->ntrackers; i++)
			json_array_append_new(a, json_pack("{s:s, s:I, s:s}", "url", t->trackers[i],
			    "tier", (json_int_t)t->tiers[i], "status", "stopped"));
	}
	return json_pack("{s:o}", "trackers", a);
}
