/* test-store.c: unit tests for daemon/store.c on real database files in temp folders. */
#include <dirent.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "testmain.h"

static char dir[64];
static char dbpath[128];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/p2pd-store-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(dbpath, sizeof(dbpath), "%s/p2pd.db", dir);
}

/* The folder holds only flat files: the database, its -wal and -shm. */
static void
teardown(void)
{
	char p[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static struct store *
open_ok(void)
{
	char err[256];
	struct store *s;

	s = store_open(dbpath, err, sizeof(err));
	ck_assert_msg(s != NULL, "store_open: %s", err);
	return s;
}

/* Opening must fail with a message containing want. */
static void
open_refused(const char *want)
{
	char err[256] = "";
	struct store *s;

	s = store_open(dbpath, err, sizeof(err));
	if (s != NULL)
		store_close(s);
	ck_assert_msg(s == NULL, "store_open accepted the file");
	ck_assert_msg(strstr(err, want) != NULL, "err \"%s\" lacks \"%s\"", err, want);
	ck_assert_msg(strstr(err, dbpath) != NULL, "err \"%s\" names no file", err);
}

/* One integer from SQL on a connection of the test's own. */
static int64_t
query_int(const char *sql)
{
	sqlite3_stmt *st;
	sqlite3 *db;
	int64_t v;

	ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* Rows of a table that belong to one torrent. */
static int64_t
rows_of(const char *table, int64_t id)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE torrent_id = %lld",
	    table, (long long)id);
	return query_int(sql);
}

static void
exec_raw(const char *sql)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READWRITE, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static uint8_t *
read_file(const char *path, size_t *len)
{
	uint8_t *p;
	FILE *f;
	long n;

	ck_assert_ptr_nonnull(f = fopen(path, "rb"));
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	ck_assert_int_ge(n = ftell(f), 0);
	rewind(f);
	ck_assert_ptr_nonnull(p = malloc((size_t)n + 1));
	ck_assert_uint_eq(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

static void
write_file(const char *path, const void *p, size_t len)
{
	FILE *f;

	ck_assert_ptr_nonnull(f = fopen(path, "wb"));
	ck_assert_uint_eq(fwrite(p, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static int
exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

/* --- a sample torrent --- */

static const struct store_file sample_files[] = {
	{ "Disc 1/Crème Brûlée.flac", 1000 },
	{ "Disc 1/cover.jpg", 20 },
};

static const struct store_tracker sample_trackers[] = {
	{ "udp://tracker.example:6969/announce", 0 },
	{ "http://backup.example/announce", 1 },
	{ "http://other.example/announce", 0 },
};

static const uint8_t sample_info[] = "d4:name12:Café del Mare";
static const uint8_t sample_have[] = { 0xff, 0x0f, 0x80 };

static struct store_torrent
sample(uint8_t hashbyte, const char *name)
{
	struct store_torrent t;

	memset(&t, 0, sizeof(t));
	memset(t.info_hash, hashbyte, sizeof(t.info_hash));
	t.name = name;
	t.info = sample_info;
	t.info_len = sizeof(sample_info) - 1;
	t.data_path = "/srv/dl/Café del Mar";
	t.save_dir = "/srv/dl";
	t.origin = STORE_ORIGIN_ADDED;
	t.have = sample_have;
	t.have_len = sizeof(sample_have);
	t.added_at = 1700000000;
	t.searchable = 1;
	return t;
}

static int64_t
insert_sample(struct store *s, uint8_t hashbyte, const char *name)
{
	struct store_torrent t = sample(hashbyte, name);
	int64_t id = -1;

	ck_assert_int_eq(store_torrent_insert(s, &t, sample_files, 2,
	    sample_trackers, 3, &id), 0);
	ck_assert_int_gt(id, 0);
	return id;
}

/* --- what foreach saw, copied out of the borrowed row --- */

struct seen_torrent {
	int64_t id;
	uint8_t info_hash[20];
	char name[64], data_path[64], save_dir[64], error[64];
	int has_info, has_error;
	uint8_t info[64];
	size_t info_len;
	uint8_t have[16];
	size_t have_len;
	int origin, paused, needs_check;
	int64_t added_at, completed_at;
	uint64_t uploaded, downloaded;
	char files[4][64];
	uint64_t lengths[4];
	size_t nfiles;
	char trackers[4][64];
	uint32_t tiers[4];
	size_t ntrackers;
};

struct seen {
	struct seen_torrent t[8];
	size_t n;
};

static void
copy_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "(null)");
}

static int
collect(void *ctx, const struct store_torrent *t)
{
	struct seen *seen = ctx;
	struct seen_torrent *o;

	ck_assert_uint_lt(seen->n, 8);
	o = &seen->t[seen->n++];
	o->id = t->id;
	memcpy(o->info_hash, t->info_hash, 20);
	copy_str(o->name, sizeof(o->name), t->name);
	copy_str(o->data_path, sizeof(o->data_path), t->data_path);
	copy_str(o->save_dir, sizeof(o->save_dir), t->save_dir);
	o->has_error = t->error != NULL;
	copy_str(o->error, sizeof(o->error), t->error);
	o->has_info = t->info != NULL;
	ck_assert_uint_le(t->info_len, sizeof(o->info));
	if (t->info_len)
		memcpy(o->info, t->info, t->info_len);
	o->info_len = t->info_len;
	ck_assert_uint_le(t->have_len, sizeof(o->have));
	if (t->have_len)
		memcpy(o->have, t->have, t->have_len);
	o->have_len = t->have_len;
	o->origin = t->origin;
	o->paused = t->paused;
	o->needs_check = t->needs_check;
	o->added_at = t->added_at;
	o->completed_at = t->completed_at;
	o->uploaded = t->uploaded;
	o->downloaded = t->downloaded;
	ck_assert_uint_le(t->file_count, 4);
	for (size_t i = 0; i < t->file_count; i++) {
		copy_str(o->files[i], sizeof(o->files[i]), t->files[i].path);
		o->lengths[i] = t->files[i].length;
	}
	o->nfiles = t->file_count;
	ck_assert_uint_le(t->tracker_count, 4);
	for (size_t i = 0; i < t->tracker_count; i++) {
		copy_str(o->trackers[i], sizeof(o->trackers[i]), t->trackers[i].url);
		o->tiers[i] = t->trackers[i].tier;
	}
	o->ntrackers = t->tracker_count;
	return 0;
}

struct flag_of {
	int64_t id;
	int searchable;
};

static int
find_flag(void *ctx, const struct store_torrent *t)
{
	struct flag_of *f = ctx;

	if (t->id == f->id)
		f->searchable = t->searchable;
	return 0;
}

/* The searchable flag of torrent id as store_torrent_foreach reads it. */
static int
seen_searchable(struct store *s, int64_t id)
{
	struct flag_of f = { id, -1 };

	ck_assert_int_eq(store_torrent_foreach(s, find_flag, &f), 0);
	return f.searchable;
}

static void
foreach_ok(struct store *s, struct seen *seen)
{
	memset(seen, 0, sizeof(*seen));
	ck_assert_int_eq(store_torrent_foreach(s, collect, seen), 0);
}

/* The sample as inserted, trackers by tier then in insertion order. */
static void
check_sample(const struct seen_torrent *o, uint8_t hashbyte, const char *name)
{
	uint8_t hash[20];

	memset(hash, hashbyte, sizeof(hash));
	ck_assert_mem_eq(o->info_hash, hash, 20);
	ck_assert_str_eq(o->name, name);
	ck_assert_int_eq(o->has_info, 1);
	ck_assert_uint_eq(o->info_len, sizeof(sample_info) - 1);
	ck_assert_mem_eq(o->info, sample_info, o->info_len);
	ck_assert_str_eq(o->data_path, "/srv/dl/Café del Mar");
	ck_assert_str_eq(o->save_dir, "/srv/dl");
	ck_assert_int_eq(o->origin, STORE_ORIGIN_ADDED);
	ck_assert_uint_eq(o->have_len, sizeof(sample_have));
	ck_assert_mem_eq(o->have, sample_have, sizeof(sample_have));
	ck_assert_int_eq(o->added_at, 1700000000);
	ck_assert_int_eq(o->has_error, 0);
	ck_assert_uint_eq(o->nfiles, 2);
	ck_assert_str_eq(o->files[0], "Disc 1/Crème Brûlée.flac");
	ck_assert_uint_eq(o->lengths[0], 1000);
	ck_assert_str_eq(o->files[1], "Disc 1/cover.jpg");
	ck_assert_uint_eq(o->lengths[1], 20);
	ck_assert_uint_eq(o->ntrackers, 3);
	ck_assert_str_eq(o->trackers[0], "udp://tracker.example:6969/announce");
	ck_assert_uint_eq(o->tiers[0], 0);
	ck_assert_str_eq(o->trackers[1], "http://other.example/announce");
	ck_assert_uint_eq(o->tiers[1], 0);
	ck_assert_str_eq(o->trackers[2], "http://backup.example/announce");
	ck_assert_uint_eq(o->tiers[2], 1);
}

/* --- search results --- */

struct hits {
	int64_t id[16];
	char path[16][64];
	int has_path[16];
	double rank[16];
	size_t n;
};

static int
collect_hit(void *ctx, int64_t torrent_id, const char *path, double rank)
{
	struct hits *h = ctx;

	if (h->n < 16) {
		h->id[h->n] = torrent_id;
		h->has_path[h->n] = path != NULL;
		copy_str(h->path[h->n], sizeof(h->path[h->n]), path);
		h->rank[h->n] = rank;
	}
	h->n++;
	return 0;
}

static size_t
search(struct store *s, const char *words, struct hits *h)
{
	memset(h, 0, sizeof(*h));
	ck_assert_msg(store_search(s, words, 10, collect_hit, h) == 0,
	    "search \"%s\" failed: %s", words, store_errmsg(s));
	return h->n;
}

/* --- tests --- */

START_TEST(test_create)
{
	struct store *s;

	ck_assert_int_eq(exists(dbpath), 0);
	s = open_ok();
	ck_assert(exists(dbpath));
	ck_assert_int_eq(store_schema_version(s), STORE_SCHEMA_VERSION);
	store_close(s);
	ck_assert_int_eq(query_int("PRAGMA user_version"), STORE_SCHEMA_VERSION);
	/* WAL is a property of the file: it outlives the connection. */
	ck_assert_int_eq(query_int("SELECT journal_mode = 'wal'"
	    " FROM pragma_journal_mode"), 1);
}
END_TEST

START_TEST(test_open_missing_dir)
{
	char err[256] = "";

	snprintf(dbpath, sizeof(dbpath), "%s/no/such/dir/p2pd.db", dir);
	ck_assert_ptr_null(store_open(dbpath, err, sizeof(err)));
	ck_assert_msg(strstr(err, dbpath) != NULL, "err: %s", err);
}
END_TEST

START_TEST(test_insert_foreach)
{
	struct store *s = open_ok();
	struct seen seen;
	int64_t id;

	id = insert_sample(s, 0xab, "Café del Mar");
	foreach_ok(s, &seen);
	ck_assert_uint_eq(seen.n, 1);
	ck_assert_int_eq(seen.t[0].id, id);
	check_sample(&seen.t[0], 0xab, "Café del Mar");
	store_close(s);
}
END_TEST

START_TEST(test_magnet_nulls)
{
	struct store *s = open_ok();
	struct store_torrent t;
	struct seen seen;
	int64_t id;

	memset(&t, 0, sizeof(t));
	memset(t.info_hash, 0x11, 20);
	t.name = "from a magnet";
	t.save_dir = "/srv/dl";
	t.origin = STORE_ORIGIN_MAGNET;
	ck_assert_int_eq(store_torrent_insert(s, &t, NULL, 0, NULL, 0, &id), 0);
	foreach_ok(s, &seen);
	ck_assert_uint_eq(seen.n, 1);
	ck_assert_int_eq(seen.t[0].has_info, 0);
	ck_assert_uint_eq(seen.t[0].have_len, 0);
	ck_assert_uint_eq(seen.t[0].nfiles, 0);
	ck_assert_uint_eq(seen.t[0].ntrackers, 0);
	ck_assert_int_eq(seen.t[0].origin, STORE_ORIGIN_MAGNET);
	store_close(s);
}
END_TEST

START_TEST(test_duplicate)
{
	struct store *s = open_ok();
	struct store_torrent t = sample(0xab, "other name");
	struct seen seen;
	int64_t id = 0, id2 = 77;

	id = insert_sample(s, 0xab, "Café del Mar");
	ck_assert_int_eq(store_torrent_insert(s, &t, sample_files, 2,
	    sample_trackers, 3, &id2), 1);
	ck_assert_int_eq(id2, 77);
	foreach_ok(s, &seen);
	ck_assert_uint_eq(seen.n, 1);
	ck_assert_int_eq(seen.t[0].id, id);
	ck_assert_str_eq(seen.t[0].name, "Café del Mar");
	/* The refused copy left no files, trackers or index rows behind. */
	ck_assert_int_eq(query_int("SELECT count(*) FROM files"), 2);
	ck_assert_int_eq(query_int("SELECT count(*) FROM trackers"), 3);
	ck_assert_int_eq(query_int("SELECT count(*) FROM names"), 3);
	store_close(s);
}
END_TEST

START_TEST(test_update)
{
	struct store *s = open_ok();
	const uint8_t have[] = { 0x01, 0x02 };
	struct seen seen;
	int64_t id;

	id = insert_sample(s, 0xab, "Café del Mar");
	ck_assert_int_eq(store_torrent_set_paused(s, id, 1), 0);
	ck_assert_int_eq(store_torrent_set_have(s, id, have, sizeof(have), 1), 0);
	ck_assert_int_eq(store_torrent_set_error(s, id, "disk full"), 0);
	ck_assert_int_eq(store_torrent_set_counters(s, id, UINT64_MAX - 5,
	    123456789012ULL, 1700000500), 0);
	foreach_ok(s, &seen);
	ck_assert_int_eq(seen.t[0].paused, 1);
	ck_assert_int_eq(seen.t[0].needs_check, 1);
	ck_assert_uint_eq(seen.t[0].have_len, 2);
	ck_assert_mem_eq(seen.t[0].have, have, 2);
	ck_assert_int_eq(seen.t[0].has_error, 1);
	ck_assert_str_eq(seen.t[0].error, "disk full");
	ck_assert_uint_eq(seen.t[0].uploaded, UINT64_MAX - 5);
	ck_assert_uint_eq(seen.t[0].downloaded, 123456789012ULL);
	ck_assert_int_eq(seen.t[0].completed_at, 1700000500);

	ck_assert_int_eq(store_torrent_set_paused(s, id, 0), 0);
	ck_assert_int_eq(store_torrent_set_error(s, id, NULL), 0);
	ck_assert_int_eq(store_torrent_set_have(s, id, NULL, 0, 0), 0);
	foreach_ok(s, &seen);
	ck_assert_int_eq(seen.t[0].paused, 0);
	ck_assert_int_eq(seen.t[0].has_error, 0);
	ck_assert_int_eq(seen.t[0].needs_check, 0);
	ck_assert_uint_eq(seen.t[0].have_len, 0);
	store_close(s);
}
END_TEST

static int
count_peer(void *ctx, const char *addr, int64_t seen_at)
{
	(*(int *)ctx)++;
	return 0;
}

START_TEST(test_delete_cascade)
{
	struct store *s = open_ok();
	struct seen seen;
	struct hits h;
	int64_t a, b;
	int n = 0;

	a = insert_sample(s, 0x01, "Café del Mar");
	b = insert_sample(s, 0x02, "Kind of Blue");
	ck_assert_int_eq(store_peer_add(s, a, "10.0.0.1:6881", 10), 0);
	ck_assert_int_eq(store_peer_add(s, b, "10.0.0.2:6881", 10), 0);
	ck_assert_int_eq(query_int("SELECT count(*) FROM names"), 6);

	ck_assert_int_eq(store_torrent_delete(s, a), 0);
	foreach_ok(s, &seen);
	ck_assert_uint_eq(seen.n, 1);
	ck_assert_int_eq(seen.t[0].id, b);
	check_sample(&seen.t[0], 0x02, "Kind of Blue");
	ck_assert_int_eq(rows_of("files", a), 0);
	ck_assert_int_eq(rows_of("trackers", a), 0);
	ck_assert_int_eq(rows_of("peers", a), 0);
	/* Only b's name and two file paths are left in the index. */
	ck_assert_int_eq(query_int("SELECT count(*) FROM names"), 3);
	ck_assert_uint_eq(search(s, "cafe", &h), 0);
	/* b's files have the same names as a's: every hit is b's. */
	ck_assert_uint_eq(search(s, "creme", &h), 1);
	ck_assert_int_eq(h.id[0], b);
	ck_assert_int_eq(store_peers_get(s, b, 0, count_peer, &n), 0);
	ck_assert_int_eq(n, 1);
	store_close(s);
}
END_TEST

START_TEST(test_set_info)
{
	struct store *s = open_ok();
	const struct store_file files[] = {
		{ "Ünïcode Album/01 Opening.ogg", 5 },
		{ "Ünïcode Album/02 Finale.ogg", 6 },
		{ "Ünïcode Album/notes.txt", 7 },
	};
	const uint8_t info[] = "d4:infoe";
	struct store_torrent t;
	struct seen seen;
	struct hits h;
	int64_t id;

	memset(&t, 0, sizeof(t));
	memset(t.info_hash, 0x33, 20);
	t.name = "magnetname";
	t.save_dir = "/srv/dl";
	t.origin = STORE_ORIGIN_MAGNET;
	ck_assert_int_eq(store_torrent_insert(s, &t, NULL, 0, NULL, 0, &id), 0);
	ck_assert_uint_eq(search(s, "magnetname", &h), 1);

	ck_assert_int_eq(store_torrent_set_info(s, id, "Unicode Album", info,
	    sizeof(info) - 1, "/srv/dl/Unicode Album", files, 3), 0);
	foreach_ok(s, &seen);
	ck_assert_str_eq(seen.t[0].name, "Unicode Album");
	ck_assert_int_eq(seen.t[0].has_info, 1);
	ck_assert_mem_eq(seen.t[0].info, info, sizeof(info) - 1);
	ck_assert_str_eq(seen.t[0].data_path, "/srv/dl/Unicode Album");
	ck_assert_uint_eq(seen.t[0].nfiles, 3);
	ck_assert_str_eq(seen.t[0].files[1], "Ünïcode Album/02 Finale.ogg");
	ck_assert_uint_eq(seen.t[0].lengths[2], 7);
	ck_assert_uint_eq(search(s, "magnetname", &h), 0);
	ck_assert_uint_eq(search(s, "finale", &h), 1);
	ck_assert_int_eq(h.has_path[0], 1);
	ck_assert_str_eq(h.path[0], "Ünïcode Album/02 Finale.ogg");
	ck_assert_int_eq(query_int("SELECT count(*) FROM names"), 4);

	/* Again: the new file list replaces the old, in the index too. */
	ck_assert_int_eq(store_torrent_set_info(s, id, "Unicode Album", info,
	    sizeof(info) - 1, "/srv/dl/Unicode Album", files, 1), 0);
	ck_assert_uint_eq(search(s, "finale", &h), 0);
	ck_assert_int_eq(query_int("SELECT count(*) FROM files"), 1);
	ck_assert_int_eq(query_int("SELECT count(*) FROM names"), 2);
	store_close(s);
}
END_TEST

START_TEST(test_reopen)
{
	struct store *s = open_ok();
	struct seen seen;
	char *v = NULL;
	int64_t a, b;
	int n = 0;

	a = insert_sample(s, 0x01, "Café del Mar");
	b = insert_sample(s, 0x02, "Kind of Blue");
	ck_assert_int_eq(store_torrent_set_paused(s, b, 1), 0);
	ck_assert_int_eq(store_torrent_set_counters(s, a, 5, 6, 7), 0);
	ck_assert_int_eq(store_setting_set(s, "peer_port", "51413"), 0);
	ck_assert_int_eq(store_peer_add(s, a, "[::1]:6881", 99), 0);
	store_close(s);

	s = open_ok();
	ck_assert_int_eq(store_schema_version(s), STORE_SCHEMA_VERSION);
	foreach_ok(s, &seen);
	ck_assert_uint_eq(seen.n, 2);
	ck_assert_int_eq(seen.t[0].id, a);
	check_sample(&seen.t[0], 0x01, "Café del Mar");
	ck_assert_uint_eq(seen.t[0].uploaded, 5);
	ck_assert_uint_eq(seen.t[0].downloaded, 6);
	ck_assert_int_eq(seen.t[0].completed_at, 7);
	ck_assert_int_eq(seen.t[1].id, b);
	check_sample(&seen.t[1], 0x02, "Kind of Blue");
	ck_assert_int_eq(seen.t[1].paused, 1);
	ck_assert_int_eq(store_setting_get(s, "peer_port", &v), 1);
	ck_assert_str_eq(v, "51413");
	free(v);
	ck_assert_int_eq(store_peers_get(s, a, 0, count_peer, &n), 0);
	ck_assert_int_eq(n, 1);
	store_close(s);
}
END_TEST

START_TEST(test_newer_version)
{
	char want[160];
	struct store *s = open_ok();

	store_close(s);
	exec_raw("PRAGMA user_version = 99");
	snprintf(want, sizeof(want), "database schema version 99 is newer than"
	    " this p2pd supports (%d); upgrade p2pd", STORE_SCHEMA_VERSION);
	open_refused(want);
	ck_assert_int_eq(query_int("PRAGMA user_version"), 99);
}
END_TEST

START_TEST(test_not_a_database)
{
	char wal[160], text[8192];
	uint8_t *after;
	size_t len;

	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = "precious notes, not a database\n"[i % 31];
	write_file(dbpath, text, sizeof(text));
	open_refused("not a database");
	after = read_file(dbpath, &len);
	ck_assert_uint_eq(len, sizeof(text));
	ck_assert_mem_eq(after, text, sizeof(text));
	free(after);
	snprintf(wal, sizeof(wal), "%s-wal", dbpath);
	ck_assert_int_eq(exists(wal), 0);
}
END_TEST

START_TEST(test_corrupt)
{
	struct store *s = open_ok();
	uint8_t *before, *after;
	char name[32];
	size_t len, len2;

	/* Enough rows for the tables to span pages beyond the schema page. */
	ck_assert_int_eq(store_begin(s), 0);
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "torrent number %d", i);
		insert_sample(s, (uint8_t)i, name);
	}
	ck_assert_int_eq(store_commit(s), 0);
	store_close(s);
	/* Out of WAL, so a switch back to it would change the header. */
	exec_raw("PRAGMA journal_mode = DELETE");

	before = read_file(dbpath, &len);
	ck_assert_uint_gt(len, 4 * 4096);
	/* Scribble over the b-tree headers of pages 2 and 3. */
	memset(before + 4096, 0x5a, 64);
	memset(before + 2 * 4096, 0x5a, 64);
	write_file(dbpath, before, len);
	open_refused("corrupt");
	open_refused("move it away");
	after = read_file(dbpath, &len2);
	ck_assert_uint_eq(len2, len);
	ck_assert_mem_eq(after, before, len);
	free(before);
	free(after);
}
END_TEST

START_TEST(test_locked_by_store)
{
	struct store *s = open_ok(), *s2;

	/* A second p2pd on the same state finds the first mid-write. */
	ck_assert_int_eq(store_begin(s), 0);
	insert_sample(s, 0x01, "Café del Mar");
	open_refused("another p2pd may be using it");
	ck_assert_int_eq(store_commit(s), 0);
	/* Once the writer is done, a reader of the same file may open. */
	s2 = open_ok();
	store_close(s2);
	store_close(s);
}
END_TEST

START_TEST(test_locked_raw)
{
	struct store *s = open_ok();
	sqlite3 *db;

	store_close(s);
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL),
	    SQLITE_OK);
	open_refused("locked; another p2pd may be using it");
	ck_assert_int_eq(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	s = open_ok();
	store_close(s);
}
END_TEST

START_TEST(test_transactions)
{
	struct store *s = open_ok();
	struct store_torrent t = sample(0x01, "again");
	struct seen seen;
	int64_t id;

	ck_assert_int_eq(store_begin(s), 0);
	insert_sample(s, 0x01, "Café del Mar");
	insert_sample(s, 0x02, "Kind of Blue");
	ck_assert_int_eq(store_rollback(s), 0);
	foreach_ok(s, &seen);
	ck_assert_uint_eq(seen.n, 0);
	ck_assert_int_eq(query_int("SELECT count(*) FROM names"), 0);

	ck_assert_int_eq(store_begin(s), 0);
	insert_sample(s, 0x01, "Café del Mar");
	/* A duplicate inside the batch is refused and the batch goes on. */
	ck_assert_int_eq(store_torrent_insert(s, &t, NULL, 0, NULL, 0, &id), 1);
	insert_sample(s, 0x02, "Kind of Blue");
	ck_assert_int_eq(store_commit(s), 0);
	foreach_ok(s, &seen);
	ck_assert_uint_eq(seen.n, 2);

	/* Nested begin is an error, reported and not fatal. */
	ck_assert_int_eq(store_begin(s), 0);
	ck_assert_int_eq(store_begin(s), -1);
	ck_assert_str_ne(store_errmsg(s), "");
	ck_assert_int_eq(store_rollback(s), 0);
	store_close(s);
}
END_TEST

START_TEST(test_errors)
{
	struct store *s = open_ok();
	struct seen seen;

	/* A peer of no torrent breaks the foreign key: -1 and a message. */
	ck_assert_int_eq(store_peer_add(s, 42, "10.0.0.1:1", 1), -1);
	ck_assert_msg(strstr(store_errmsg(s), "FOREIGN KEY") != NULL,
	    "errmsg: %s", store_errmsg(s));
	/* A failed insert leaves nothing, not half a torrent. */
	insert_sample(s, 0x01, "Café del Mar");
	ck_assert_int_eq(store_torrent_set_info(s, 999, "x", NULL, 0, "x",
	    sample_files, 2), -1);
	ck_assert_int_eq(query_int("SELECT count(*) FROM files"), 2);
	foreach_ok(s, &seen);
	ck_assert_uint_eq(seen.n, 1);
	store_close(s);
}
END_TEST

static int
stop_at_first(void *ctx, const struct store_torrent *t)
{
	(*(int *)ctx)++;
	return 7;
}

START_TEST(test_foreach_stop)
{
	struct store *s = open_ok();
	int n = 0;

	insert_sample(s, 0x01, "one");
	insert_sample(s, 0x02, "two");
	ck_assert_int_eq(store_torrent_foreach(s, stop_at_first, &n), 7);
	ck_assert_int_eq(n, 1);
	/* The statement was reset: the next walk starts over. */
	n = 0;
	ck_assert_int_eq(store_torrent_foreach(s, stop_at_first, &n), 7);
	ck_assert_int_eq(n, 1);
	store_close(s);
}
END_TEST

/* Start-up walks the torrents and fixes some up as it goes. */
static int
pause_or_drop(void *ctx, const struct store_torrent *t)
{
	struct store *s = ctx;

	if (t->id % 2 == 0)
		ck_assert_int_eq(store_torrent_delete(s, t->id), 0);
	else
		ck_assert_int_eq(store_torrent_set_paused(s, t->id, 1), 0);
	return 0;
}

START_TEST(test_foreach_writes)
{
	struct store *s = open_ok();
	struct seen seen;

	for (int i = 1; i <= 6; i++)
		insert_sample(s, (uint8_t)i, "t");
	ck_assert_int_eq(store_torrent_foreach(s, pause_or_drop, s), 0);
	foreach_ok(s, &seen);
	ck_assert_uint_eq(seen.n, 3);
	for (size_t i = 0; i < seen.n; i++) {
		ck_assert_int_eq(seen.t[i].id % 2, 1);
		ck_assert_int_eq(seen.t[i].paused, 1);
		ck_assert_uint_eq(seen.t[i].nfiles, 2);
	}
	store_close(s);
}
END_TEST

START_TEST(test_search)
{
	struct store *s = open_ok();
	struct hits h;
	int64_t a, b;

	a = insert_sample(s, 0x01, "Café del Mar");
	b = insert_sample(s, 0x02, "Kind of Blue");
	/* Accents and case fold both ways. */
	ck_assert_uint_eq(search(s, "cafe", &h), 1);
	ck_assert_int_eq(h.id[0], a);
	ck_assert_int_eq(h.has_path[0], 0);
	ck_assert_uint_eq(search(s, "CAFÉ", &h), 1);
	ck_assert_uint_eq(search(s, "Café MAR", &h), 1);
	/* File paths are indexed too, and the last word is a prefix. */
	ck_assert_uint_eq(search(s, "creme bru", &h), 2);
	ck_assert_int_eq(h.has_path[0], 1);
	ck_assert_str_eq(h.path[0], "Disc 1/Crème Brûlée.flac");
	ck_assert_uint_eq(search(s, "caf", &h), 1);
	ck_assert_uint_eq(search(s, "kind of bl", &h), 1);
	ck_assert_int_eq(h.id[0], b);
	/* Only the last word is a prefix; words are ANDed. */
	ck_assert_uint_eq(search(s, "ca del", &h), 0);
	ck_assert_uint_eq(search(s, "cafe blue", &h), 0);
	ck_assert_uint_eq(search(s, "nothing", &h), 0);
	ck_assert_uint_eq(search(s, "", &h), 0);
	/* The best match comes first: bm25, lower is better. */
	ck_assert_uint_eq(search(s, "disc", &h), 4);
	for (size_t i = 1; i < h.n; i++)
		ck_assert(h.rank[i - 1] <= h.rank[i]);
	ck_assert_int_eq(store_search(s, "disc", 3, collect_hit,
	    memset(&h, 0, sizeof(h))), 0);
	ck_assert_uint_eq(h.n, 3);
	store_close(s);
}
END_TEST

START_TEST(test_search_hostile)
{
	static const char *const hostile[] = {
		"\"", "\"\"", "\"cafe", "cafe\"", "ca\"fe", "'", "\\", "AND",
		"OR", "NOT", "NEAR", "cafe AND", "AND cafe", "cafe OR blue",
		"cafe NOT mar", "NEAR(cafe mar)", "NEAR(cafe mar, 2)", "(",
		")", "(cafe", "cafe)", "*", "**", "cafe*", "*cafe", "^cafe",
		"label:cafe", "{label}:cafe", "-cafe", "+", "cafe + mar", ":",
		"{", "}", "[", "]", "\t\n ", "\xff\xfe", "caf\xc3", "\"*\" OR \"\"",
		"a OR b NOT c AND (d NEAR e)*", "rowid:1", "names:x", "%", "_",
		"--", ";", "'; DROP TABLE torrents; --",
	};
	struct store *s = open_ok();
	char big[1024];
	struct hits h;

	insert_sample(s, 0x01, "Café del Mar");
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
		search(s, hostile[i], &h);
	/* Operators in the input are only words; cafe is still found. */
	ck_assert_uint_eq(search(s, "\"cafe", &h), 1);
	ck_assert_uint_eq(search(s, "cafe*", &h), 1);
	ck_assert_uint_eq(search(s, "(cafe)", &h), 1);
	ck_assert_uint_eq(search(s, "cafe OR blue", &h), 0);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	search(s, big, &h);
	for (size_t i = 0; i < sizeof(big) - 1; i += 2)
		big[i] = '"';
	search(s, big, &h);
	ck_assert_int_eq(store_search(s, NULL, 10, collect_hit, &h), 0);
	/* Still a working database afterwards. */
	ck_assert_uint_eq(search(s, "cafe", &h), 1);
	ck_assert_int_eq(query_int("SELECT count(*) FROM torrents"), 1);
	store_close(s);
}
END_TEST

/*
 * Turns the file back into what p2pd with schema 2 left: no search column,
 * no seen table, names as schema 1 made it (no prefix indexes).
 */
static void
to_schema_2(void)
{
	exec_raw("DROP TRIGGER seen_ai; DROP TRIGGER seen_au; DROP TRIGGER seen_ad;"
	    " DROP TABLE seen; ALTER TABLE torrents DROP COLUMN searchable;"
	    " DROP TABLE names;"
	    " CREATE VIRTUAL TABLE names USING fts5(label,"
	    "  tokenize = 'unicode61 remove_diacritics 2');"
	    " INSERT INTO names(rowid, label) SELECT id * 4294967296, name FROM torrents;"
	    " INSERT INTO names(rowid, label)"
	    "  SELECT torrent_id * 4294967296 + idx + 1, path FROM files;"
	    " PRAGMA user_version = 2");
}

/* --- store_search_hits --- */

struct hit_copy {
	uint8_t ih0;		/* first byte of the info-hash */
	char name[64], matched[64];
	int has_matched, kind, searchable;
	uint64_t size;
	uint32_t files, sources;
	int64_t torrent_id;
	double rank;
};

struct hit_list {
	struct hit_copy h[16];
	size_t n;
};

static int
collect_hits(void *ctx, const struct store_hit *h)
{
	struct hit_list *l = ctx;
	struct hit_copy *o;

	if (l->n < 16) {
		o = &l->h[l->n];
		o->ih0 = h->info_hash[0];
		copy_str(o->name, sizeof(o->name), h->name);
		copy_str(o->matched, sizeof(o->matched), h->matched);
		o->has_matched = h->matched != NULL;
		o->kind = h->kind;
		o->searchable = h->searchable;
		o->size = h->size;
		o->files = h->files;
		o->sources = h->sources;
		o->torrent_id = h->torrent_id;
		o->rank = h->rank;
	}
	l->n++;
	return 0;
}

static size_t
hits(struct store *s, const char *q, struct hit_list *l)
{
	memset(l, 0, sizeof(*l));
	ck_assert_msg(store_search_hits(s, q, 10, collect_hits, l) == 0,
	    "search \"%s\" failed: %s", q, store_errmsg(s));
	for (size_t i = 1; i < l->n && i < 16; i++)
		ck_assert_msg(l->h[i - 1].rank <= l->h[i].rank, "\"%s\": not sorted", q);
	return l->n;
}

static void
seen_put(struct store *s, uint8_t hashbyte, const char *name, uint32_t sources,
    int64_t seen_at)
{
	uint8_t ih[20];

	memset(ih, hashbyte, sizeof(ih));
	ck_assert_int_eq(store_seen_put(s, ih, name, 5000, 3, sources, seen_at), 0);
}

START_TEST(test_migrate_3)
{
	struct store *s = open_ok();
	struct hit_list l;
	struct seen seen;
	uint8_t id[20];
	int64_t a, b;

	a = insert_sample(s, 0x01, "Café del Mar");
	b = insert_sample(s, 0x02, "Kind of Blue");
	memset(id, 0x5d, sizeof(id));
	ck_assert_int_eq(store_dht_id_set(s, id), 0);
	store_close(s);
	to_schema_2();
	ck_assert_int_eq(query_int("PRAGMA user_version"), 2);

	s = open_ok();
	ck_assert_int_eq(store_schema_version(s), 3);
	foreach_ok(s, &seen);
	ck_assert_uint_eq(seen.n, 2);
	check_sample(&seen.t[0], 0x01, "Café del Mar");
	check_sample(&seen.t[1], 0x02, "Kind of Blue");
	/* Every torrent of before is searchable. */
	ck_assert_int_eq(query_int("SELECT count(*) FROM torrents WHERE searchable = 1"), 2);
	ck_assert_int_eq(store_dht_id_get(s, id), 1);
	/* The rebuilt index holds every name and path, and search finds them. */
	ck_assert_int_eq(query_int("SELECT count(*) FROM names"), 6);
	ck_assert_uint_eq(hits(s, "cafe", &l), 1);
	ck_assert_int_eq(l.h[0].torrent_id, a);
	ck_assert_uint_eq(hits(s, "brulee", &l), 2);
	ck_assert_uint_eq(hits(s, "blue", &l), 1);
	ck_assert_int_eq(l.h[0].torrent_id, b);
	store_close(s);
}
END_TEST

START_TEST(test_hits_queries)
{
	static const struct store_file files[] = {
		{ "Big Buck Bunny/big_buck_bunny_1080p.mkv", 700000000 },
		{ "Big Buck Bunny/Extras/Making Of.mkv", 300000000 },
		{ "Big Buck Bunny/Sous-titres/Français.srt", 4000 },
	};
	struct store *s = open_ok();
	struct store_torrent t = sample(0x03, "Big Buck Bunny");
	struct hit_list l;
	int64_t a, b;

	a = insert_sample(s, 0x01, "Café del Mar");
	ck_assert_int_eq(store_torrent_insert(s, &t, files, 3, NULL, 0, &b), 0);
	insert_sample(s, 0x02, "Buck Rogers Big Band");

	/* Words: all must match, in any order, case and accents folded. */
	ck_assert_uint_eq(hits(s, "cafe", &l), 1);
	ck_assert_int_eq(l.h[0].kind, STORE_HIT_LOCAL);
	ck_assert_int_eq(l.h[0].torrent_id, a);
	ck_assert_int_eq(l.h[0].has_matched, 0);
	ck_assert_int_eq(l.h[0].searchable, 1);
	ck_assert_uint_eq(l.h[0].size, 1020);
	ck_assert_uint_eq(l.h[0].files, 2);
	ck_assert_uint_eq(l.h[0].sources, 0);
	ck_assert_str_eq(l.h[0].name, "Café del Mar");
	ck_assert_uint_eq(hits(s, "CAFÉ", &l), 1);
	ck_assert_uint_eq(hits(s, "MAR café", &l), 1);
	ck_assert_uint_eq(hits(s, "caf", &l), 0);	/* no prefix unless asked */
	ck_assert_uint_eq(hits(s, "cafe blue", &l), 0);
	/* One hit per torrent, whatever number of its files match. */
	ck_assert_uint_eq(hits(s, "bunny", &l), 1);
	ck_assert_int_eq(l.h[0].torrent_id, b);
	ck_assert_uint_eq(l.h[0].files, 3);
	ck_assert_uint_eq(l.h[0].size, 1000004000);
	ck_assert_uint_eq(hits(s, "big buck", &l), 2);
	/* Prefixes: word* and "phrase"*; one character is too short to be one. */
	ck_assert_uint_eq(hits(s, "caf*", &l), 1);
	ck_assert_uint_eq(hits(s, "bu*", &l), 2);
	ck_assert_uint_eq(hits(s, "rog*", &l), 1);
	ck_assert_uint_eq(hits(s, "\"big buck bun\"*", &l), 1);
	ck_assert_uint_eq(hits(s, "c*", &l), 0);
	/* Phrases: the words next to each other, in order. */
	ck_assert_uint_eq(hits(s, "\"big buck\"", &l), 1);
	ck_assert_int_eq(l.h[0].torrent_id, b);
	ck_assert_uint_eq(hits(s, "\"buck big\"", &l), 0);
	ck_assert_uint_eq(hits(s, "\"buck rogers\" band", &l), 1);
	ck_assert_uint_eq(hits(s, "\"BUCK ROGERS", &l), 1);	/* unterminated */
	/* File paths: matched says which file. */
	ck_assert_uint_eq(hits(s, "francais", &l), 1);
	ck_assert_int_eq(l.h[0].has_matched, 1);
	ck_assert_str_eq(l.h[0].matched, "Big Buck Bunny/Sous-titres/Français.srt");
	ck_assert_uint_eq(hits(s, "making", &l), 1);
	ck_assert_str_eq(l.h[0].matched, "Big Buck Bunny/Extras/Making Of.mkv");
	ck_assert_uint_eq(hits(s, "creme brulee", &l), 2);
	/* A name match beats a file match of the same torrent. */
	ck_assert_uint_eq(hits(s, "bunny", &l), 1);
	ck_assert_int_eq(l.h[0].has_matched, 0);
	/* Empty queries match nothing. */
	ck_assert_uint_eq(hits(s, "", &l), 0);
	ck_assert_uint_eq(hits(s, "   ", &l), 0);
	ck_assert_int_eq(store_search_hits(s, NULL, 10, collect_hits, &l), 0);
	/* limit */
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(store_search_hits(s, "big", 1, collect_hits, &l), 0);
	ck_assert_uint_eq(l.n, 1);
	store_close(s);
}
END_TEST

START_TEST(test_hits_seen)
{
	struct store *s = open_ok();
	struct hit_list l;
	uint8_t ih[20];

	insert_sample(s, 0x01, "Sintel");
	seen_put(s, 0x50, "Sintel (2010) 4K", 7, 100);
	ck_assert_uint_eq(hits(s, "sintel", &l), 2);
	ck_assert_int_eq(l.h[0].kind, STORE_HIT_LOCAL);	/* exact name */
	ck_assert_int_eq(l.h[1].kind, STORE_HIT_SEEN);
	ck_assert_uint_eq(l.h[1].ih0, 0x50);
	ck_assert_str_eq(l.h[1].name, "Sintel (2010) 4K");
	ck_assert_int_eq(l.h[1].has_matched, 0);
	ck_assert_int_eq(l.h[1].torrent_id, 0);
	ck_assert_int_eq(l.h[1].searchable, 0);
	ck_assert_uint_eq(l.h[1].size, 5000);
	ck_assert_uint_eq(l.h[1].files, 3);
	ck_assert_uint_eq(l.h[1].sources, 7);
	/* Seen again: fewer sources keep the larger count, a new name replaces the old. */
	memset(ih, 0x50, sizeof(ih));
	ck_assert_int_eq(store_seen_put(s, ih, "Sintel Director's Cut", 6000, 4, 2, 200), 0);
	ck_assert_int_eq(query_int("SELECT count(*) FROM seen"), 1);
	ck_assert_int_eq(query_int("SELECT seen_at FROM seen"), 200);
	ck_assert_uint_eq(hits(s, "4k", &l), 0);
	ck_assert_uint_eq(hits(s, "director", &l), 1);
	ck_assert_uint_eq(l.h[0].sources, 7);
	ck_assert_uint_eq(l.h[0].size, 6000);
	ck_assert_uint_eq(l.h[0].files, 4);
	ck_assert_int_eq(store_seen_put(s, ih, "Sintel Director's Cut", 6000, 4, 9, 150), 0);
	ck_assert_uint_eq(hits(s, "director", &l), 1);
	ck_assert_uint_eq(l.h[0].sources, 9);
	ck_assert_int_eq(query_int("SELECT seen_at FROM seen"), 200);
	/* A result that is also ours is listed twice, once of each kind. */
	memset(ih, 0x01, sizeof(ih));
	ck_assert_int_eq(store_seen_put(s, ih, "Sintel", 1, 1, 1, 300), 0);
	ck_assert_uint_eq(hits(s, "sintel", &l), 3);
	store_close(s);
}
END_TEST

START_TEST(test_hits_ranking)
{
	struct store *s = open_ok();
	struct hit_list l;

	/* Exact before partial, even when the partial match has many sources. */
	seen_put(s, 0x10, "Big Buck Bunny 4K Remastered", 5000, 100);
	seen_put(s, 0x11, "Big Buck Bunny", 1, 101);
	seen_put(s, 0x12, "big.buck.bunny", 2, 102);
	ck_assert_uint_eq(hits(s, "big buck bunny", &l), 3);
	ck_assert_uint_eq(l.h[0].ih0, 0x12);	/* exact, 2 sources */
	ck_assert_uint_eq(l.h[1].ih0, 0x11);	/* exact, 1 source */
	ck_assert_uint_eq(l.h[2].ih0, 0x10);
	ck_assert_uint_eq(hits(s, "bunny big buck", &l), 3);
	ck_assert_uint_eq(l.h[2].ih0, 0x10);
	/* Among equal names, more sources first. */
	seen_put(s, 0x20, "Elephants Dream", 3, 200);
	seen_put(s, 0x21, "Elephants Dream", 30, 201);
	seen_put(s, 0x22, "Elephants Dream", 0, 202);
	ck_assert_uint_eq(hits(s, "elephants", &l), 3);
	ck_assert_uint_eq(l.h[0].ih0, 0x21);
	ck_assert_uint_eq(l.h[1].ih0, 0x20);
	ck_assert_uint_eq(l.h[2].ih0, 0x22);
	/* A shorter name is the better partial match. */
	seen_put(s, 0x30, "Tears of Steel", 0, 300);
	seen_put(s, 0x31, "Tears of Steel Blender Foundation Open Movie Project", 0, 301);
	ck_assert_uint_eq(hits(s, "steel", &l), 2);
	ck_assert_uint_eq(l.h[0].ih0, 0x30);
	store_close(s);
}
END_TEST

START_TEST(test_hits_hostile)
{
	static const char *const hostile[] = {
		"\"", "\"\"", "\"cafe", "cafe\"", "ca\"fe", "'", "\\", "AND",
		"OR", "NOT", "NEAR", "cafe AND", "AND cafe", "cafe OR blue",
		"cafe NOT mar", "NEAR(cafe mar)", "NEAR(cafe mar, 2)", "(",
		")", "(cafe", "cafe)", "*", "**", "* *", "\"*\"", "\"\"*", "cafe*",
		"*cafe", "^cafe", "name:cafe", "label:cafe", "{label}:cafe",
		"label : cafe", "-cafe", "+", "cafe + mar", ":", "{", "}", "[", "]",
		"\t\n ", "\xff\xfe", "caf\xc3", "\xc3*", "\"\xe2\x86\x92\"*",
		"\"*\" OR \"\"", "a OR b NOT c AND (d NEAR e)*", "rowid:1",
		"names:x", "%", "_", "--", ";", "'; DROP TABLE torrents; --",
		"\"a\" OR \"b", "NEAR/2", "x NEAR/2 y", "\"\"\"\"", "* OR *",
		"a* OR b*", "e*", "9*", "0x*",
	};
	struct store *s = open_ok();
	struct hit_list l;
	char *big;
	uint32_t r = 12345;

	insert_sample(s, 0x01, "Café del Mar");
	insert_sample(s, 0x02, "Kind of Blue");
	insert_sample(s, 0x03, "Sintel");
	seen_put(s, 0x40, "Elephants Dream", 3, 1);
	/* Never an error and never everything: at most the one cafe. */
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
		ck_assert_msg(hits(s, hostile[i], &l) <= 1, "\"%s\" matched %zu",
		    hostile[i], l.n);
	ck_assert_uint_eq(hits(s, "\"cafe", &l), 1);
	ck_assert_uint_eq(hits(s, "(cafe)", &l), 1);
	ck_assert_uint_eq(hits(s, "name:cafe", &l), 0);	/* "name" is a word too */
	ck_assert_uint_eq(hits(s, "cafe OR blue", &l), 0);
	/* 10 KB of words, of quotes, and of binary junk without NULs. */
	ck_assert_ptr_nonnull(big = malloc(10241));
	memset(big, 'a', 10240);
	big[10240] = '\0';
	ck_assert_uint_eq(hits(s, big, &l), 0);
	for (size_t i = 0; i < 10240; i += 2)
		big[i] = '"';
	ck_assert_uint_eq(hits(s, big, &l), 0);
	for (int round = 0; round < 200; round++) {
		size_t n = 1 + (size_t)(round * 37 % 1024);

		for (size_t i = 0; i < n; i++) {
			r = r * 1103515245 + 12345;
			big[i] = (char)(1 + (r >> 16) % 255);
		}
		big[n] = '\0';
		ck_assert_msg(hits(s, big, &l) <= 1, "junk round %d matched %zu", round, l.n);
	}
	free(big);
	/* Still a working database afterwards. */
	ck_assert_uint_eq(hits(s, "cafe", &l), 1);
	ck_assert_int_eq(query_int("SELECT count(*) FROM torrents"), 3);
	store_close(s);
}
END_TEST

START_TEST(test_seen_bounded)
{
	struct store *s = open_ok();
	struct hit_list l;
	char name[32];

	ck_assert_int_eq(store_seen_limit(s, 50), STORE_SEEN_MAX);
	ck_assert_int_eq(store_begin(s), 0);
	for (int i = 0; i < 120; i++) {
		snprintf(name, sizeof(name), "result%d common", i);
		seen_put(s, (uint8_t)i, name, 1, 1000 + i);
	}
	ck_assert_int_eq(store_commit(s), 0);
	ck_assert_int_eq(query_int("SELECT count(*) FROM seen"), 50);
	ck_assert_int_eq(query_int("SELECT count(*) FROM names WHERE rowid < 0"), 50);
	ck_assert_int_eq(query_int("SELECT min(seen_at) FROM seen"), 1070);
	ck_assert_uint_eq(hits(s, "result0", &l), 0);
	ck_assert_uint_eq(hits(s, "result119", &l), 1);
	/* A refreshed result is young again and outlives the others. */
	snprintf(name, sizeof(name), "result%d common", 70);
	seen_put(s, 70, name, 1, 5000);
	/* A rolled-back batch leaves the count right for the next trim. */
	ck_assert_int_eq(store_begin(s), 0);
	for (int i = 120; i < 150; i++)
		seen_put(s, (uint8_t)i, "rolled back", 1, 2000 + i);
	ck_assert_int_eq(store_rollback(s), 0);
	ck_assert_int_eq(query_int("SELECT count(*) FROM seen"), 50);
	for (int i = 150; i < 200; i++) {
		snprintf(name, sizeof(name), "result%d common", i);
		seen_put(s, (uint8_t)i, name, 1, 3000 + i);
	}
	ck_assert_int_eq(query_int("SELECT count(*) FROM seen"), 50);
	ck_assert_uint_eq(hits(s, "result70", &l), 1);
	ck_assert_uint_eq(hits(s, "result150", &l), 0);
	ck_assert_uint_eq(hits(s, "result151", &l), 1);
	store_close(s);
}
END_TEST

START_TEST(test_searchable)
{
	struct store *s = open_ok();
	struct store_torrent t = sample(0x02, "Kind of Blue");
	struct hit_list l;
	struct seen seen;
	int64_t a, b;

	a = insert_sample(s, 0x01, "Café del Mar");
	t.searchable = 0;
	ck_assert_int_eq(store_torrent_insert(s, &t, NULL, 0, NULL, 0, &b), 0);
	foreach_ok(s, &seen);
	ck_assert_int_eq(seen_searchable(s, a), 1);
	ck_assert_int_eq(seen_searchable(s, b), 0);
	/* Our own searches still find it; the flag tells the daemon not to answer. */
	ck_assert_uint_eq(hits(s, "blue", &l), 1);
	ck_assert_int_eq(l.h[0].searchable, 0);
	ck_assert_int_eq(store_torrent_set_searchable(s, b, 1), 0);
	ck_assert_int_eq(store_torrent_set_searchable(s, a, 0), 0);
	ck_assert_int_eq(seen_searchable(s, a), 0);
	ck_assert_int_eq(seen_searchable(s, b), 1);
	ck_assert_uint_eq(hits(s, "blue", &l), 1);
	ck_assert_int_eq(l.h[0].searchable, 1);
	store_close(s);
}
END_TEST

static int
dht_row(void *ctx, const char *addr, const uint8_t id[20])
{
	char (*got)[64] = ctx;
	size_t i = 0;

	while (got[i][0] != '\0')
		i++;
	snprintf(got[i], sizeof(got[i]), "%s/%02x", addr, id[0]);
	return 0;
}

START_TEST(test_dht_state)
{
	struct store *s = open_ok();
	uint8_t id[20] = { 0 }, a[20], b[20];
	struct store_dht_node nodes[2] = { { "127.0.0.2:6881", a }, { "[::1]:7000", b } };
	char got[4][64];

	memset(a, 0xaa, sizeof(a));
	memset(b, 0xbb, sizeof(b));
	ck_assert_int_eq(store_dht_id_get(s, id), 0);
	ck_assert_int_eq(store_dht_id_set(s, a), 0);
	ck_assert_int_eq(store_dht_nodes_save(s, nodes, 2, 1000), 0);
	/* Saving again replaces the table rather than adding to it. */
	ck_assert_int_eq(store_dht_nodes_save(s, nodes, 2, 2000), 0);
	store_close(s);
	/* A database from before the DHT tables is migrated, keeping its torrents' schema. */
	s = open_ok();
	ck_assert_int_eq(store_dht_id_get(s, id), 1);
	ck_assert_mem_eq(id, a, 20);
	memset(got, 0, sizeof(got));
	ck_assert_int_eq(store_dht_nodes_get(s, 10, dht_row, got), 0);
	ck_assert_str_eq(got[0], "127.0.0.2:6881/aa");
	ck_assert_str_eq(got[1], "[::1]:7000/bb");
	ck_assert_str_eq(got[2], "");
	store_close(s);
	to_schema_2();
	exec_raw("DROP TABLE dht_nodes; DROP TABLE dht_self; PRAGMA user_version = 1");
	s = open_ok();
	ck_assert_int_eq(query_int("PRAGMA user_version"), STORE_SCHEMA_VERSION);
	ck_assert_int_eq(store_dht_id_get(s, id), 0);
	store_close(s);
}
END_TEST

START_TEST(test_settings)
{
	struct store *s = open_ok();
	char *v = (char *)"unchanged";

	ck_assert_int_eq(store_setting_get(s, "missing", &v), 0);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(store_setting_set(s, "k", "one"), 0);
	ck_assert_int_eq(store_setting_get(s, "k", &v), 1);
	ck_assert_str_eq(v, "one");
	free(v);
	ck_assert_int_eq(store_setting_set(s, "k", "twö"), 0);
	ck_assert_int_eq(store_setting_set(s, "empty", ""), 0);
	ck_assert_int_eq(store_setting_get(s, "k", &v), 1);
	ck_assert_str_eq(v, "twö");
	free(v);
	ck_assert_int_eq(store_setting_get(s, "empty", &v), 1);
	ck_assert_str_eq(v, "");
	free(v);
	ck_assert_int_eq(store_setting_set(s, "k", NULL), 0);
	ck_assert_int_eq(store_setting_get(s, "k", &v), 0);
	store_close(s);
}
END_TEST

struct peer_list {
	char addr[256][32];
	int64_t seen[256];
	int n;
};

static int
collect_peer(void *ctx, const char *addr, int64_t seen_at)
{
	struct peer_list *p = ctx;

	ck_assert_int_lt(p->n, 256);
	snprintf(p->addr[p->n], sizeof(p->addr[p->n]), "%s", addr);
	p->seen[p->n++] = seen_at;
	return 0;
}

START_TEST(test_peers_bounded)
{
	struct store *s = open_ok();
	struct peer_list *p;
	char addr[32];
	int64_t a, b;

	ck_assert_ptr_nonnull(p = calloc(1, sizeof(*p)));
	a = insert_sample(s, 0x01, "one");
	b = insert_sample(s, 0x02, "two");
	ck_assert_int_eq(store_begin(s), 0);
	for (int i = 0; i < 250; i++) {
		snprintf(addr, sizeof(addr), "10.0.%d.%d:6881", i / 256, i % 256);
		ck_assert_int_eq(store_peer_add(s, a, addr, 1000 + i), 0);
	}
	ck_assert_int_eq(store_peer_add(s, b, "192.0.2.1:1", 1), 0);
	ck_assert_int_eq(store_commit(s), 0);
	ck_assert_int_eq(rows_of("peers", a), 200);

	ck_assert_int_eq(store_peers_get(s, a, 0, collect_peer, p), 0);
	ck_assert_int_eq(p->n, 200);
	/* Newest first; the 50 oldest were forgotten. */
	ck_assert_str_eq(p->addr[0], "10.0.0.249:6881");
	ck_assert_int_eq(p->seen[0], 1249);
	ck_assert_int_eq(p->seen[199], 1050);

	/* Seeing a peer again refreshes it rather than adding a row. */
	ck_assert_int_eq(store_peer_add(s, a, "10.0.0.60:6881", 5000), 0);
	memset(p, 0, sizeof(*p));
	ck_assert_int_eq(store_peers_get(s, a, 5, collect_peer, p), 0);
	ck_assert_int_eq(p->n, 5);
	ck_assert_str_eq(p->addr[0], "10.0.0.60:6881");
	ck_assert_int_eq(p->seen[0], 5000);
	/* An older sighting does not move it back. */
	ck_assert_int_eq(store_peer_add(s, a, "10.0.0.60:6881", 3), 0);
	memset(p, 0, sizeof(*p));
	ck_assert_int_eq(store_peers_get(s, a, 1, collect_peer, p), 0);
	ck_assert_int_eq(p->seen[0], 5000);
	ck_assert_int_eq(rows_of("peers", a), 200);

	/* The other torrent's peers are its own. */
	memset(p, 0, sizeof(*p));
	ck_assert_int_eq(store_peers_get(s, b, 0, collect_peer, p), 0);
	ck_assert_int_eq(p->n, 1);
	free(p);
	store_close(s);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	/* The locked tests wait out the busy timeout. */
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_create);
	tcase_add_test(tc, test_open_missing_dir);
	tcase_add_test(tc, test_insert_foreach);
	tcase_add_test(tc, test_magnet_nulls);
	tcase_add_test(tc, test_duplicate);
	tcase_add_test(tc, test_update);
	tcase_add_test(tc, test_delete_cascade);
	tcase_add_test(tc, test_set_info);
	tcase_add_test(tc, test_reopen);
	tcase_add_test(tc, test_newer_version);
	tcase_add_test(tc, test_dht_state);
	tcase_add_test(tc, test_not_a_database);
	tcase_add_test(tc, test_corrupt);
	tcase_add_test(tc, test_locked_by_store);
	tcase_add_test(tc, test_locked_raw);
	tcase_add_test(tc, test_transactions);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_foreach_stop);
	tcase_add_test(tc, test_foreach_writes);
	tcase_add_test(tc, test_search);
	tcase_add_test(tc, test_search_hostile);
	tcase_add_test(tc, test_migrate_3);
	tcase_add_test(tc, test_hits_queries);
	tcase_add_test(tc, test_hits_seen);
	tcase_add_test(tc, test_hits_ranking);
	tcase_add_test(tc, test_hits_hostile);
	tcase_add_test(tc, test_seen_bounded);
	tcase_add_test(tc, test_searchable);
	tcase_add_test(tc, test_settings);
	tcase_add_test(tc, test_peers_bounded);
	suite_add_tcase(s, tc);
	return s;
}
