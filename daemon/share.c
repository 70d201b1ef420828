/* share.c: walks a path, hashes its pieces on all workers, and adds the result as seeding. */
#include "share.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "conf.h"
#include "hasher.h"
#include "log.h"
#include "metainfo.h"
#include "rpc.h"
#include "session.h"
#include "storage.h"
#include "store.h"
#include "torrent.h"
#include "worker.h"

#define SHARE_MAX_DEPTH 64
#define PROGRESS_INTERVAL 0.25

struct sfile {
	char *rel;		/* relative to the shared directory; NULL for a single file */
	char *abs;
	uint64_t length;
};

struct share {
	struct share *next;
	struct shares *sh;
	uint64_t job;
	char *path;		/* as requested */
	char *root;		/* resolved */
	char *name;
	uint32_t piece_length;
	int private_flag;
	int no_search;
	char **trackers;
	size_t ntrackers;
	uint64_t client;
	json_t *req_id;
	struct access_cred cred;	/* checked by the scan (no confused deputy) */
	int check_access;
	int denied;
	size_t max_files;	/* max_files_per_torrent, copied: the scan runs in a worker */		/* the scan failed because the client may not read it */
	/* filled by the scan */
	int multi;
	struct sfile *files;
	size_t nfiles, cap;
	uint64_t total;
	int scan_failed;
	char err[512];
	/* hashing */
	struct storage *st;
	uint8_t *pieces;
	struct hasher *hasher;
	double last_progress;
	int cancelled;
};

struct shares {
	struct session *s;
	struct share *list;
	uint64_t next_job;
	int freeing;
};

struct shares *
shares_new(struct session *s)
{
	struct shares *sh = calloc(1, sizeof(*sh));

	if (sh)
		sh->s = s;
	return sh;
}

size_t
shares_running(const struct shares *sh)
{
	size_t n = 0;

	for (struct share *j = sh->list; j; j = j->next)
		n++;
	return n;
}

static void
share_unlink(struct share *j)
{
	struct share **pp;

	for (pp = &j->sh->list; *pp; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			return;
		}
	}
}

static void
share_destroy(struct share *j)
{
	struct shares *sh = j->sh;

	share_unlink(j);
	for (size_t i = 0; i < j->nfiles; i++) {
		free(j->files[i].rel);
		free(j->files[i].abs);
	}
	for (size_t i = 0; i < j->ntrackers; i++)
		free(j->trackers[i]);
	free(j->trackers);
	free(j->files);
	storage_free(j->st);
	free(j->pieces);
	json_decref(j->req_id);
	free(j->path);
	free(j->root);
	free(j->name);
	free(j);
	if (sh->freeing && sh->list == NULL)
		free(sh);
}

void
shares_free(struct shares *sh)
{
	if (sh == NULL)
		return;
	sh->freeing = 1;
	for (struct share *j = sh->list; j; j = j->next) {
		j->cancelled = 1;
		if (j->hasher)
			hasher_cancel(j->hasher);
	}
	/* Jobs still out free themselves, and the last one frees sh. */
	if (sh->list == NULL)
		free(sh);
}

static void
share_fail_data(struct share *j, int code, const char *msg, json_t *data)
{
	struct session *s = j->sh->s;

	if (!j->sh->freeing) {
		log_warnx("share %llu %s: %s", (unsigned long long)j->job, j->path, msg);
		session_event(s, CTL_EV_SHARE_FAILED, json_pack("{s:I, s:s, s:s}",
		    "job", (json_int_t)j->job, "path", j->path, "error", msg));
		session_answer_error(s, j->client, j->req_id, code, msg, data);
	} else {
		json_decref(data);
	}
	share_destroy(j);
}

static void
share_fail(struct share *j, int code, const char *msg)
{
	share_fail_data(j, code, msg, NULL);
}

/* --- scan, on a worker thread --- */

static int
add_file(struct share *j, const char *rel, const char *abs, uint64_t len)
{
	struct sfile *f;

	if (j->nfiles >= j->max_files) {
		snprintf(j->err, sizeof(j->err), "more than %zu files (max_files_per_torrent); "
		    "share a smaller directory", j->max_files);
		return -1;
	}
	if (j->nfiles == j->cap) {
		size_t ncap = j->cap ? j->cap * 2 : 64;
		struct sfile *v = realloc(j->files, ncap * sizeof(*v));
		if (v == NULL)
			goto oom;
		j->files = v;
		j->cap = ncap;
	}
	f = &j->files[j->nfiles];
	f->rel = rel ? strdup(rel) : NULL;
	f->abs = strdup(abs);
	f->length = len;
	if ((rel && f->rel == NULL) || f->abs == NULL) {
		free(f->rel);
		free(f->abs);
		goto oom;
	}
	j->nfiles++;
	if (len > UINT64_MAX / 2 - j->total) {
		snprintf(j->err, sizeof(j->err), "total size too large");
		return -1;
	}
	j->total += len;
	return 0;
oom:
	snprintf(j->err, sizeof(j->err), "out of memory while listing files");
	return -1;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of a directory, without . and .. */
static char **
list_dir(const char *abs, size_t *n, char *err, size_t errlen)
{
	DIR *d = opendir(abs);
	struct dirent *e;
	char **v = NULL;
	size_t cap = 0;

	*n = 0;
	if (d == NULL) {
		snprintf(err, errlen, "cannot read directory %s: %s", abs, strerror(errno));
		return NULL;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (*n == cap) {
			char **nv = realloc(v, (cap = cap ? cap * 2 : 32) * sizeof(*v));
			if (nv == NULL)
				break;
			v = nv;
		}
		if ((v[*n] = strdup(e->d_name)) == NULL)
			break;
		(*n)++;
	}
	closedir(d);
	if (v == NULL) {
		v = calloc(1, sizeof(*v));
		if (v == NULL)
			snprintf(err, errlen, "out of memory");
	}
	if (v && *n)
		qsort(v, *n, sizeof(*v), cmp_names);
	return v;
}

static int
walk(struct share *j, const char *abs, const char *rel, int depth)
{
	char **names;
	size_t n;
	int rc = 0;

	if (depth > SHARE_MAX_DEPTH) {
		snprintf(j->err, sizeof(j->err), "directories nested deeper than %d at %s",
		    SHARE_MAX_DEPTH, abs);
		return -1;
	}
	if ((names = list_dir(abs, &n, j->err, sizeof(j->err))) == NULL)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char cabs[PATH_MAX], crel[MI_MAX_PATH + 1];
		struct stat st;

		if (!metainfo_component_ok(names[i], strlen(names[i]))) {
			log_warnx("share: skipping %s/%s: name not allowed in a torrent", abs, names[i]);
			continue;
		}
		if ((size_t)snprintf(cabs, sizeof(cabs), "%s/%s", abs, names[i]) >= sizeof(cabs) ||
		    (size_t)snprintf(crel, sizeof(crel), "%s%s%s", rel, *rel ? "/" : "",
		    names[i]) >= sizeof(crel)) {
			log_warnx("share: skipping %s/%s: path too long", abs, names[i]);
			continue;
		}
		if (lstat(cabs, &st) == -1) {
			snprintf(j->err, sizeof(j->err), "cannot stat %s: %s", cabs, strerror(errno));
			rc = -1;
		} else if (j->check_access && (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) &&
		    !access_mode_ok(&j->cred, &st, S_ISDIR(st.st_mode))) {
			/* Group membership must not turn into reading the daemon's files. */
			snprintf(j->err, sizeof(j->err), "permission denied: uid %u cannot read "
			    "%s itself, so p2pd will not share it", (unsigned)j->cred.uid, cabs);
			j->denied = 1;
			rc = -1;
		} else if (S_ISDIR(st.st_mode)) {
			rc = walk(j, cabs, crel, depth + 1);
		} else if (S_ISREG(st.st_mode)) {
			rc = add_file(j, crel, cabs, (uint64_t)st.st_size);
		} else {
			/* Links could point anywhere; devices and sockets have no fixed bytes. */
			log_notice("share: skipping %s: not a regular file", cabs);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

static void
scan_run(void *arg)
{
	struct share *j = arg;
	char resolved[PATH_MAX];
	struct stat st;

	if (j->check_access && access_check_path(&j->cred, j->path, j->err,
	    sizeof(j->err)) == -1) {
		j->denied = 1;
		goto fail;
	}
	if (realpath(j->path, resolved) == NULL || stat(resolved, &st) == -1) {
		snprintf(j->err, sizeof(j->err), "cannot share %s: %s", j->path, strerror(errno));
		goto fail;
	}
	if ((j->root = strdup(resolved)) == NULL)
		goto fail;
	if (S_ISREG(st.st_mode)) {
		/* Open it now so an unreadable file fails before any hashing. */
		int fd = open(resolved, O_RDONLY | O_CLOEXEC);
		if (fd == -1) {
			snprintf(j->err, sizeof(j->err), "cannot share %s: %s", j->path,
			    strerror(errno));
			goto fail;
		}
		close(fd);
		if (add_file(j, NULL, resolved, (uint64_t)st.st_size) == -1)
			goto fail;
	} else if (S_ISDIR(st.st_mode)) {
		j->multi = 1;
		if (walk(j, resolved, "", 0) == -1)
			goto fail;
		if (j->nfiles == 0) {
			snprintf(j->err, sizeof(j->err), "cannot share %s: the directory holds no "
			    "regular files", j->path);
			goto fail;
		}
	} else {
		snprintf(j->err, sizeof(j->err), "cannot share %s: not a regular file or "
		    "directory", j->path);
		goto fail;
	}
	if (j->total == 0) {
		snprintf(j->err, sizeof(j->err), "cannot share %s: it holds no data (all files "
		    "are empty)", j->path);
		goto fail;
	}
	return;
fail:
	if (j->err[0] == '\0')
		snprintf(j->err, sizeof(j->err), "out of memory");
	j->scan_failed = 1;
}

/* --- hashing and completion, on the loop --- */

static void
hash_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct share *j = ctx;
	double now = ev_now(session_loop(j->sh->s));

	if (now - j->last_progress < PROGRESS_INTERVAL && done < total)
		return;
	j->last_progress = now;
	session_event(j->sh->s, CTL_EV_HASH_PROGRESS, json_pack("{s:I, s:s, s:I, s:I}",
	    "job", (json_int_t)j->job, "path", j->path, "done", (json_int_t)done,
	    "total", (json_int_t)total));
}

static struct metainfo *
share_build(struct share *j, char *err, size_t errlen)
{
	struct mi_build_file *bf = calloc(j->nfiles, sizeof(*bf));
	struct mi_build b;
	struct metainfo *mi = NULL;

	if (bf == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < j->nfiles; i++) {
		bf[i].path = j->files[i].rel ? j->files[i].rel : j->name;
		bf[i].length = j->files[i].length;
	}
	memset(&b, 0, sizeof(b));
	b.name = j->name;
	b.multi_file = j->multi;
	b.files = bf;
	b.file_count = j->nfiles;
	b.piece_length = j->piece_length;
	b.pieces = j->pieces;
	b.piece_count = storage_piece_count(j->st);
	b.private_flag = j->private_flag;
	b.trackers = (const char *const *)j->trackers;
	b.tracker_count = j->ntrackers;
	b.created_by = "p2pd/" P2PD_VERSION;
	b.creation_date = (int64_t)time(NULL);
	if (metainfo_build(&b, &mi, err, errlen) == -1)
		mi = NULL;
	free(bf);
	return mi;
}

static void
hash_done(void *ctx, enum hasher_status status, const char *herr)
{
	struct share *j = ctx;
	struct session *s = j->sh->s;
	struct session_add a;
	struct metainfo *mi;
	struct torrent *t;
	char err[512];
	char *magnet;
	uint8_t ih[20];
	int code;

	j->hasher = NULL;
	if (status == HASHER_CANCELLED || j->cancelled) {
		share_fail(j, RPC_ERR_SHUTDOWN, "share cancelled: p2pd is shutting down");
		return;
	}
	if (status == HASHER_FAILED) {
		share_fail(j, RPC_ERR_IO, herr ? herr : "I/O error while hashing");
		return;
	}
	if ((mi = share_build(j, err, sizeof(err))) == NULL) {
		share_fail(j, RPC_ERR_INVALID_TORRENT, err);
		return;
	}
	memset(&a, 0, sizeof(a));
	a.mi = mi;
	a.data_path = j->root;
	a.origin = STORE_ORIGIN_SHARED;
	a.have_all = 1;
	a.no_search = j->no_search;
	memcpy(ih, mi->info_hash, 20);
	if ((t = session_add_torrent(s, &a, &code, err, sizeof(err))) == NULL) {
		struct torrent *dup = code == RPC_ERR_EXISTS ?
		    session_torrent_by_hash(s, ih) : NULL;
		share_fail_data(j, code, err, dup ? json_pack("{s:I, s:s}", "id",
		    (json_int_t)torrent_id(dup), "info_hash", torrent_hex(dup)) : NULL);
		return;
	}
	magnet = torrent_magnet(t);
	log_info("share %llu %s: done, torrent %lld %s", (unsigned long long)j->job,
	    j->path, (long long)torrent_id(t), torrent_hex(t));
	session_event(s, CTL_EV_SHARE_DONE, json_pack("{s:I, s:o, s:s}", "job",
	    (json_int_t)j->job, "torrent", torrent_json(t, 0), "magnet", magnet ? magnet : ""));
	if (j->req_id) {
		json_t *r = torrent_json(t, 0);
		json_object_set_new(r, "magnet", json_string(magnet ? magnet : ""));
		json_object_set_new(r, "job", json_integer((json_int_t)j->job));
		session_answer(s, j->client, j->req_id, r);
	}
	free(magnet);
	share_destroy(j);
}

static void
scan_done(void *arg, int ran)
{
	struct share *j = arg;
	struct storage_file *sf;
	struct hasher_cb cb = { hash_progress, hash_done, j };
	const char *top;
	char *base;

	if (!ran || j->cancelled) {
		share_fail(j, RPC_ERR_SHUTDOWN, "share cancelled: p2pd is shutting down");
		return;
	}
	if (j->scan_failed) {
		share_fail(j, j->denied ? RPC_ERR_DENIED : RPC_ERR_IO, j->err);
		return;
	}
	if (j->piece_length == 0)
		j->piece_length = metainfo_auto_piece_length(j->total);
	if ((sf = calloc(j->nfiles, sizeof(*sf))) == NULL)
		goto oom;
	/* Paths below the root's parent: the same shape a download gets. */
	top = strrchr(j->root, '/');
	for (size_t i = 0; i < j->nfiles; i++) {
		sf[i].path = j->files[i].abs + (top - j->root) + 1;
		sf[i].length = j->files[i].length;
	}
	base = strndup(j->root, top == j->root ? 1 : (size_t)(top - j->root));
	j->st = base ? storage_new(base, sf, j->nfiles, j->piece_length, j->total) : NULL;
	free(base);
	free(sf);
	if (j->st == NULL)
		goto oom;
	if ((j->pieces = malloc(20 * (size_t)storage_piece_count(j->st))) == NULL)
		goto oom;
	log_info("share %llu %s: hashing %zu files, %llu bytes, %u pieces of %u bytes",
	    (unsigned long long)j->job, j->path, j->nfiles, (unsigned long long)j->total,
	    storage_piece_count(j->st), j->piece_length);
	if ((j->hasher = hasher_start(session_pool(j->sh->s), j->st, NULL, j->pieces,
	    NULL, &cb)) == NULL)
		goto oom;
	return;
oom:
	share_fail(j, RPC_ERR_INTERNAL, "out of memory or shutting down");
}

static char *
default_name(const char *path)
{
	size_t n = strlen(path);
	const char *p;

	while (n > 1 && path[n - 1] == '/')
		n--;
	p = path + n;
	while (p > path && p[-1] != '/')
		p--;
	return strndup(p, (size_t)(path + n - p));
}

int
share_start(struct shares *sh, const struct share_params *p, uint64_t *job,
    char *err, size_t errlen)
{
	struct share *j;
	const struct conf *c = session_conf(sh->s);
	const char *const *trk = p->trackers;
	size_t ntrk = p->tracker_count;

	if (p->path[0] != '/') {
		snprintf(err, errlen, "path must be absolute: %s", p->path);
		return RPC_ERR_PARAMS;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		goto oom;
	j->sh = sh;
	j->path = strdup(p->path);
	j->name = p->name ? strdup(p->name) : default_name(p->path);
	if (j->path == NULL || j->name == NULL)
		goto oom_free;
	if (!metainfo_component_ok(j->name, strlen(j->name))) {
		snprintf(err, errlen, "'%s' cannot be a torrent name: it must be one non-empty "
		    "path component without control characters, '/', '.' or '..'", j->name);
		share_destroy(j);
		return RPC_ERR_PARAMS;
	}
	if (trk == NULL) {
		trk = (const char *const *)c->default_trackers;
		ntrk = c->default_tracker_count;
	}
	if (ntrk && (j->trackers = calloc(ntrk, sizeof(char *))) == NULL)
		goto oom_free;
	for (size_t i = 0; i < ntrk; i++) {
		if ((j->trackers[i] = strdup(trk[i])) == NULL)
			goto oom_free;
		j->ntrackers++;
	}
	j->piece_length = p->piece_length;
	j->private_flag = p->private_flag;
	j->no_search = p->no_search;
	j->max_files = (size_t)session_conf(sh->s)->max_files_per_torrent;
	if (p->cred != NULL) {
		j->cred = *p->cred;
		j->check_access = !p->cred->unrestricted;
	}
	j->client = p->client;
	j->req_id = p->req_id ? json_incref(p->req_id) : NULL;
	j->job = ++sh->next_job;
	j->next = sh->list;
	sh->list = j;
	if (worker_submit(session_pool(sh->s), scan_run, scan_done, j) == -1) {
		share_destroy(j);
		goto oom;
	}
	*job = j->job;
	log_info("share %llu %s: started", (unsigned long long)j->job, j->path);
	return 0;
oom_free:
	share_destroy(j);
oom:
	snprintf(err, errlen, "out of memory");
	return RPC_ERR_INTERNAL;
}
