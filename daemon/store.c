/* store.c: the SQLite state database: schema, torrents, search, peers, settings. */
#include "store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

#define nitems(a)		(sizeof(a) / sizeof((a)[0]))

/* Long enough to wait out a checkpoint, short enough to tell a person soon. */
#define STORE_BUSY_MS		1000
#define STORE_PEERS_MAX		200	/* known peers kept per torrent */
#define STORE_SEARCH_MAX	1000	/* matches returned by one search */
#define STORE_WORDS_MAX		1024	/* search input bytes; past it nothing matches */
#define STORE_TERMS_MAX		16	/* words and phrases used of one query */
/*
 * Index rows one search ranks at most. Scoring reads each row's size
 * (a b-tree lookup, ~3-7 us here), so a word in 40% of a million names
 * ("mp3") would cost a second; past this many matches only the first
 * rows in index order are ranked. 500 keeps p99 near 10 ms (bench/).
 */
#define STORE_RANK_ROWS		500

/*
 * Entry i takes the schema from user_version i to i + 1, inside one
 * transaction. Never edit an entry that has shipped: append one.
 *
 * names is the FTS5 index of torrent names and file paths. Its rowid packs
 * (torrent id << 32) + file index + 1, with + 0 for the torrent's name, so a
 * torrent's rows are one rowid range that FTS5 can delete without a scan;
 * triggers keep it in step with torrents and files whatever the writer.
 */
static const char *const migrations[] = {
	/* 1: first schema */
	"CREATE TABLE torrents ("
	" id INTEGER PRIMARY KEY CHECK (id > 0 AND id < 2147483647),"
	" info_hash BLOB NOT NULL UNIQUE CHECK (length(info_hash) = 20),"
	" name TEXT,"
	" info BLOB,"
	" data_path TEXT,"
	" save_dir TEXT,"
	" origin INTEGER NOT NULL DEFAULT 0,"
	" paused INTEGER NOT NULL DEFAULT 0,"
	" needs_check INTEGER NOT NULL DEFAULT 0,"
	" have BLOB,"
	" added_at INTEGER NOT NULL DEFAULT 0,"
	" completed_at INTEGER NOT NULL DEFAULT 0,"
	" uploaded INTEGER NOT NULL DEFAULT 0,"
	" downloaded INTEGER NOT NULL DEFAULT 0,"
	" error TEXT);"
	"CREATE TABLE files ("
	" torrent_id INTEGER NOT NULL REFERENCES torrents(id) ON DELETE CASCADE,"
	" idx INTEGER NOT NULL CHECK (idx >= 0 AND idx < 4294967295),"
	" path TEXT NOT NULL,"
	" length INTEGER NOT NULL,"
	" PRIMARY KEY (torrent_id, idx)) WITHOUT ROWID;"
	"CREATE TABLE trackers ("
	" torrent_id INTEGER NOT NULL REFERENCES torrents(id) ON DELETE CASCADE,"
	" tier INTEGER NOT NULL,"
	" url TEXT NOT NULL);"
	"CREATE INDEX trackers_torrent ON trackers(torrent_id);"
	"CREATE TABLE peers ("
	" torrent_id INTEGER NOT NULL REFERENCES torrents(id) ON DELETE CASCADE,"
	" addr TEXT NOT NULL,"
	" seen_at INTEGER NOT NULL,"
	" UNIQUE (torrent_id, addr));"
	"CREATE INDEX peers_seen ON peers(torrent_id, seen_at);"
	"CREATE TABLE settings ("
	" key TEXT PRIMARY KEY,"
	" value TEXT NOT NULL) WITHOUT ROWID;"
	"CREATE VIRTUAL TABLE names USING fts5(label,"
	" tokenize = 'unicode61 remove_diacritics 2');"
	"CREATE TRIGGER torrents_ai AFTER INSERT ON torrents BEGIN"
	" INSERT INTO names(rowid, label) VALUES (new.id * 4294967296, new.name);"
	" END;"
	"CREATE TRIGGER torrents_au AFTER UPDATE OF name ON torrents BEGIN"
	" UPDATE names SET label = new.name WHERE rowid = new.id * 4294967296;"
	" END;"
	"CREATE TRIGGER torrents_ad AFTER DELETE ON torrents BEGIN"
	" DELETE FROM names WHERE rowid >= old.id * 4294967296"
	"  AND rowid < (old.id + 1) * 4294967296;"
	" END;"
	"CREATE TRIGGER files_ai AFTER INSERT ON files BEGIN"
	" INSERT INTO names(rowid, label)"
	"  VALUES (new.torrent_id * 4294967296 + new.idx + 1, new.path);"
	" END;"
	"CREATE TRIGGER files_ad AFTER DELETE ON files BEGIN"
	" DELETE FROM names WHERE rowid = old.torrent_id * 4294967296 + old.idx + 1;"
	" END;",
	/* 2: the DHT node id and routing table, so a restart rejoins without bootstrap */
	"CREATE TABLE dht_self ("
	" k INTEGER PRIMARY KEY CHECK (k = 0),"
	" id BLOB NOT NULL CHECK (length(id) = 20));"
	"CREATE TABLE dht_nodes ("
	" addr TEXT PRIMARY KEY,"
	" id BLOB NOT NULL CHECK (length(id) = 20),"
	" seen_at INTEGER NOT NULL) WITHOUT ROWID;",
	/*
	 * 3: search. A torrent can be kept out of others' searches; results
	 * seen in network searches are kept (bounded by store_seen_put) and
	 * indexed in names under negative rowids, seen.id - 2^62, so that one
	 * MATCH ranks ours and theirs against the same statistics (bm25-like
	 * scores from two FTS5 tables would not be comparable) and one LIMIT
	 * applies to both. names is rebuilt with prefix indexes for 2 and 3
	 * characters: without them "ab*" merges the posting lists of every
	 * term starting with ab, tens of milliseconds on a large index.
	 */
	"ALTER TABLE torrents ADD COLUMN searchable INTEGER NOT NULL DEFAULT 1;"
	"CREATE TABLE seen ("
	" id INTEGER PRIMARY KEY CHECK (id > 0 AND id < 4611686018427387904),"
	" info_hash BLOB NOT NULL UNIQUE CHECK (length(info_hash) = 20),"
	" name TEXT NOT NULL,"
	" size INTEGER NOT NULL DEFAULT 0,"
	" files INTEGER NOT NULL DEFAULT 0,"
	" sources INTEGER NOT NULL DEFAULT 0,"
	" seen_at INTEGER NOT NULL);"
	"CREATE INDEX seen_age ON seen(seen_at);"
	"DROP TABLE names;"
	"CREATE VIRTUAL TABLE names USING fts5(label,"
	" tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3');"
	"INSERT INTO names(rowid, label) SELECT id * 4294967296, name FROM torrents;"
	"INSERT INTO names(rowid, label)"
	" SELECT torrent_id * 4294967296 + idx + 1, path FROM files;"
	"CREATE TRIGGER seen_ai AFTER INSERT ON seen BEGIN"
	" INSERT INTO names(rowid, label)"
	"  VALUES (new.id - 4611686018427387904, new.name);"
	" END;"
	"CREATE TRIGGER seen_au AFTER UPDATE OF name ON seen BEGIN"
	" UPDATE names SET label = new.name"
	"  WHERE rowid = new.id - 4611686018427387904;"
	" END;"
	"CREATE TRIGGER seen_ad AFTER DELETE ON seen BEGIN"
	" DELETE FROM names WHERE rowid = old.id - 4611686018427387904;"
	" END;",
};

_Static_assert(nitems(migrations) == STORE_SCHEMA_VERSION,
    "one migration per schema version");

enum stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_USER_VERSION,
	ST_TORRENT_INSERT,
	ST_TORRENT_DELETE,
	ST_SET_PAUSED,
	ST_SET_HAVE,
	ST_SET_ERROR,
	ST_SET_COUNTERS,
	ST_SET_INFO,
	ST_FILE_INSERT,
	ST_FILES_DELETE,
	ST_TRACKER_INSERT,
	ST_TORRENTS_ALL,
	ST_FILES_OF,
	ST_TRACKERS_OF,
	ST_SEARCH,
	ST_SETTING_GET,
	ST_SETTING_SET,
	ST_SETTING_DELETE,
	ST_PEER_ADD,
	ST_PEER_TRIM,
	ST_PEERS_GET,
	ST_DHT_ID_GET,
	ST_DHT_ID_SET,
	ST_DHT_CLEAR,
	ST_DHT_ADD,
	ST_DHT_GET,
	ST_SET_SEARCHABLE,
	ST_HITS,
	ST_SEEN_UPDATE,
	ST_SEEN_INSERT,
	ST_SEEN_COUNT,
	ST_SEEN_TRIM,
	ST_COUNT
};

#define TORRENT_COLUMNS	"id, info_hash, name, info, data_path, save_dir," \
	" origin, paused, needs_check, have, added_at, completed_at, uploaded," \
	" downloaded, error, searchable"

static const char *const stmt_sql[ST_COUNT] = {
	/* IMMEDIATE: take the write lock now rather than fail half way through. */
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	/* A savepoint nests inside a caller's transaction or starts its own. */
	[ST_SAVEPOINT] = "SAVEPOINT store_op",
	[ST_RELEASE] = "RELEASE store_op",
	[ST_ROLLBACK_TO] = "ROLLBACK TO store_op",
	[ST_USER_VERSION] = "PRAGMA user_version",
	[ST_TORRENT_INSERT] = "INSERT INTO torrents (" TORRENT_COLUMNS ")"
	    " VALUES (NULL, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
	    " ?13, ?14, ?15)"
	    " ON CONFLICT (info_hash) DO NOTHING",
	[ST_TORRENT_DELETE] = "DELETE FROM torrents WHERE id = ?1",
	[ST_SET_PAUSED] = "UPDATE torrents SET paused = ?2 WHERE id = ?1",
	[ST_SET_HAVE] = "UPDATE torrents SET have = ?2, needs_check = ?3"
	    " WHERE id = ?1",
	[ST_SET_ERROR] = "UPDATE torrents SET error = ?2 WHERE id = ?1",
	[ST_SET_COUNTERS] = "UPDATE torrents SET uploaded = ?2, downloaded = ?3,"
	    " completed_at = ?4 WHERE id = ?1",
	[ST_SET_INFO] = "UPDATE torrents SET name = ?2, info = ?3, data_path = ?4"
	    " WHERE id = ?1",
	[ST_FILE_INSERT] = "INSERT INTO files (torrent_id, idx, path, length)"
	    " VALUES (?1, ?2, ?3, ?4)",
	[ST_FILES_DELETE] = "DELETE FROM files WHERE torrent_id = ?1",
	[ST_TRACKER_INSERT] = "INSERT INTO trackers (torrent_id, tier, url)"
	    " VALUES (?1, ?2, ?3)",
	[ST_TORRENTS_ALL] = "SELECT " TORRENT_COLUMNS " FROM torrents ORDER BY id",
	[ST_FILES_OF] = "SELECT path, length FROM files WHERE torrent_id = ?1"
	    " ORDER BY idx",
	[ST_TRACKERS_OF] = "SELECT url, tier FROM trackers WHERE torrent_id = ?1"
	    " ORDER BY tier, rowid",
	[ST_SEARCH] = "SELECT rowid, label, rank FROM names WHERE names MATCH ?1"
	    " ORDER BY rank LIMIT ?2",
	[ST_SETTING_GET] = "SELECT value FROM settings WHERE key = ?1",
	[ST_SETTING_SET] = "INSERT INTO settings (key, value) VALUES (?1, ?2)"
	    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	[ST_SETTING_DELETE] = "DELETE FROM settings WHERE key = ?1",
	[ST_PEER_ADD] = "INSERT INTO peers (torrent_id, addr, seen_at)"
	    " VALUES (?1, ?2, ?3)"
	    " ON CONFLICT (torrent_id, addr)"
	    " DO UPDATE SET seen_at = max(seen_at, excluded.seen_at)",
	[ST_PEER_TRIM] = "DELETE FROM peers WHERE rowid IN"
	    " (SELECT rowid FROM peers WHERE torrent_id = ?1"
	    " ORDER BY seen_at DESC, rowid DESC LIMIT -1 OFFSET ?2)",
	[ST_PEERS_GET] = "SELECT addr, seen_at FROM peers WHERE torrent_id = ?1"
	    " ORDER BY seen_at DESC, rowid DESC LIMIT ?2",
	[ST_DHT_ID_GET] = "SELECT id FROM dht_self WHERE k = 0",
	[ST_DHT_ID_SET] = "INSERT OR REPLACE INTO dht_self (k, id) VALUES (0, ?1)",
	[ST_DHT_CLEAR] = "DELETE FROM dht_nodes",
	[ST_DHT_ADD] = "INSERT OR REPLACE INTO dht_nodes (addr, id, seen_at) VALUES (?1, ?2, ?3)",
	[ST_DHT_GET] = "SELECT addr, id FROM dht_nodes ORDER BY seen_at DESC LIMIT ?1",
	[ST_SET_SEARCHABLE] = "UPDATE torrents SET searchable = ?2 WHERE id = ?1",
	/*
	 * ?1 query, ?2 hits wanted, ?3 index rows ranked at most. m: the
	 * matching rows in rowid order, scored by p2p_rank (ascending: FTS5
	 * intersects the words of a query about twice as fast forwards as
	 * backwards, and a rare word with "mp3" is the slowest kind);
	 * g: the best row of each torrent (SQLite takes the bare columns from
	 * the min() row); top: boosted by sources and cut to ?2 before the
	 * per-torrent details (sums over files) are read for those few. The
	 * matched path comes from files, not from names: reading the label
	 * of every ranked row would cost one more lookup each.
	 */
	[ST_HITS] = "WITH m AS ("
	    " SELECT rowid AS r, p2p_rank(names) AS sc FROM names"
	    " WHERE names MATCH ?1 ORDER BY rowid LIMIT ?3),"
	    " g AS ("
	    " SELECT CASE WHEN r < 0 THEN r ELSE r >> 32 END AS k, r,"
	    " min(sc) AS sc FROM m GROUP BY 1),"
	    " top AS ("
	    " SELECT g.k, g.r, coalesce(s.sources, 0) AS src,"
	    " g.sc * (1.0 + 0.5 * coalesce(s.sources, 0) /"
	    " (coalesce(s.sources, 0) + 10.0)) AS rank"
	    " FROM g LEFT JOIN seen s"
	    " ON g.k < 0 AND s.id = g.k + 4611686018427387904"
	    " ORDER BY rank, g.k DESC LIMIT ?2)"
	    " SELECT top.k, top.r,"
	    " CASE WHEN top.k > 0 AND top.r & 4294967295 THEN (SELECT path FROM files"
	    "  WHERE torrent_id = top.k AND idx = (top.r & 4294967295) - 1) END,"
	    " top.rank, top.src,"
	    " coalesce(t.info_hash, s.info_hash), coalesce(t.name, s.name),"
	    " CASE WHEN top.k > 0 THEN (SELECT coalesce(sum(length), 0) FROM files"
	    "  WHERE torrent_id = top.k) ELSE s.size END,"
	    " CASE WHEN top.k > 0 THEN (SELECT count(*) FROM files"
	    "  WHERE torrent_id = top.k) ELSE s.files END,"
	    " coalesce(t.searchable, 0)"
	    " FROM top LEFT JOIN torrents t ON top.k > 0 AND t.id = top.k"
	    " LEFT JOIN seen s ON top.k < 0 AND s.id = top.k + 4611686018427387904"
	    " ORDER BY top.rank, top.k DESC",
	/* Update first: its change count tells a new row from a known one. */
	[ST_SEEN_UPDATE] = "UPDATE seen SET name = ?2, size = ?3, files = ?4,"
	    " sources = max(sources, ?5), seen_at = max(seen_at, ?6)"
	    " WHERE info_hash = ?1",
	[ST_SEEN_INSERT] = "INSERT INTO seen (info_hash, name, size, files,"
	    " sources, seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_SEEN_COUNT] = "SELECT count(*) FROM seen",
	[ST_SEEN_TRIM] = "DELETE FROM seen WHERE id IN"
	    " (SELECT id FROM seen ORDER BY seen_at, id LIMIT ?1)",
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	char errmsg[256];
	/*
	 * Rows in seen, or -1 when unknown (after a rollback): counting is a
	 * scan, so store_seen_put keeps the number rather than ask each time.
	 */
	int64_t seen_rows;
	int seen_max;
};

/* Growable arrays behind the borrowed trackers/files of a foreach row. */
struct rows {
	struct store_file *files;
	size_t nfiles, capfiles;
	struct store_tracker *trackers;
	size_t ntrackers, captrackers;
};

/* SQLite's own message when it is about rc, else the generic text for rc. */
static const char *
errtext(sqlite3 *db, int rc)
{
	if (db != NULL && sqlite3_extended_errcode(db) == rc)
		return sqlite3_errmsg(db);
	return sqlite3_errstr(rc);
}

/* Logs once, keeps the text for store_errmsg, and gives the caller its -1. */
static int
fail(struct store *s, const char *op, int rc)
{
	snprintf(s->errmsg, sizeof(s->errmsg), "%s", errtext(s->db, rc));
	log_warnx("store: %s: %s", op, s->errmsg);
	return -1;
}

static sqlite3_stmt *
stmt(struct store *s, enum stmt id)
{
	return s->st[id];
}

/*
 * The return codes of reset and clear_bindings repeat the error of the last
 * step, which the caller has already handled; dropping bindings keeps no
 * pointer to caller memory past the call.
 */
static void
done(sqlite3_stmt *st)
{
	(void)sqlite3_reset(st);
	(void)sqlite3_clear_bindings(st);
}

/* Runs a statement that returns no rows, then readies it for next time. */
static int
run(struct store *s, sqlite3_stmt *st, const char *op)
{
	int rc;

	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		fail(s, op, rc);
	done(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Binds text or NULL; both ends of a NULL pointer read back as NULL. */
static int
bind_text(sqlite3_stmt *st, int col, const char *v)
{
	if (v == NULL)
		return sqlite3_bind_null(st, col);
	return sqlite3_bind_text(st, col, v, -1, SQLITE_STATIC);
}

static int
bind_blob(sqlite3_stmt *st, int col, const void *p, size_t len)
{
	if (p == NULL)
		return sqlite3_bind_null(st, col);
	return sqlite3_bind_blob64(st, col, p, len, SQLITE_STATIC);
}

static const char *
col_text(sqlite3_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st, col);
}

/* --- opening --- */

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Turns an SQLite failure at open into a message a person can act on. */
static void
open_refuse(char *err, size_t errlen, const char *path, sqlite3 *db, int rc,
    const char *op)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		seterr(err, errlen, "%s: database is locked; another p2pd may be"
		    " using it", path);
		break;
	case SQLITE_NOTADB:
		seterr(err, errlen, "%s: file is not a database; move it away or"
		    " use another state directory", path);
		break;
	case SQLITE_CORRUPT:
		seterr(err, errlen, "%s: database is corrupt (%s); restore it from"
		    " a backup or move it away", path, errtext(db, rc));
		break;
	default:
		seterr(err, errlen, "%s: %s: %s", path, op, errtext(db, rc));
		break;
	}
}

/* Reads one integer-valued pragma such as user_version. */
static int
pragma_int(sqlite3 *db, const char *sql, int *v)
{
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int(st, 0);
		rc = SQLITE_OK;
	}
	(void)sqlite3_finalize(st);	/* repeats the step's error */
	return rc;
}

/* SQLite's check reports span lines; a log line must not. */
static void
one_line(char *p)
{
	for (; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
}

/*
 * Runs quick_check; on damage SQLite either fails the statement or returns
 * rows describing it, the first of which goes into detail.
 */
static int
quick_check(sqlite3 *db, char *detail, size_t len)
{
	sqlite3_stmt *st;
	const char *row;
	int rc;

	rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		row = (const char *)sqlite3_column_text(st, 0);
		if (row != NULL && strcmp(row, "ok") == 0)
			rc = SQLITE_OK;
		else {
			snprintf(detail, len, "%s", row ? row : "no result");
			one_line(detail);
			rc = SQLITE_CORRUPT;
		}
	} else if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	(void)sqlite3_finalize(st);
	return rc;
}

/* Brings the schema from version from to the current one, under the write lock. */
static int
migrate(sqlite3 *db, int from)
{
	char sql[64];
	int rc;

	for (int v = from; v < STORE_SCHEMA_VERSION; v++) {
		rc = sqlite3_exec(db, migrations[v], NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			return rc;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

/*
 * Settings that belong to the connection: WAL so readers never block the
 * writer, FULL so a command's effect is on disk before we answer it, and
 * foreign keys so deleting a torrent takes its rows with it. Outside any
 * transaction, where foreign_keys and journal_mode take effect.
 */
static int
configure(sqlite3 *db)
{
	sqlite3_stmt *st;
	const char *mode;
	int rc;

	rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		mode = (const char *)sqlite3_column_text(st, 0);
		/* An in-memory database has no WAL and needs none. */
		if (mode != NULL && strcmp(mode, "wal") != 0 &&
		    strcmp(mode, "memory") != 0)
			log_warnx("store: journal mode is %s, not wal", mode);
		rc = SQLITE_OK;
	}
	(void)sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_exec(db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
	return rc;
}

/* --- ranking --- */

#define RANK_K1		1.2	/* bm25's usual term-frequency saturation */
#define RANK_B		0.75	/* and length normalisation */
#define RANK_EXACT	1000.0	/* more than any score of STORE_TERMS_MAX terms */

/*
 * p2p_rank(names): the score of one matching row, lower is better:
 *
 *   -sum over query terms of tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl))
 *   - 1000 if the query's terms cover every token of the label
 *
 * That is bm25 with every term's IDF at 1. FTS5's own bm25() computes IDF
 * by walking each term's whole posting list on every query (O(matches) of
 * the commonest word, ~12 ms for a word in 4% of a million names); since
 * every hit contains every term (AND), IDF would only reweight tf between
 * terms, which matters little for names of a few words. The exact bonus
 * puts "Big Buck Bunny" before "Big Buck Bunny 4K" whatever the lengths
 * and sources. Each term adds at most k1 + 1 = 2.2, so the bonus dominates.
 */
static void
rank_fn(const Fts5ExtensionApi *api, Fts5Context *fc, sqlite3_context *ctx,
    int nval, sqlite3_value **val)
{
	int tf[STORE_TERMS_MAX] = { 0 };
	sqlite3_int64 nrow = 0, total = 0;
	uint64_t covered = 0;
	int nphrase, ninst = 0, dl = 0, rc;
	double avgdl, norm, score = 0;

	nphrase = api->xPhraseCount(fc);
	rc = api->xRowCount(fc, &nrow);
	if (rc == SQLITE_OK)
		rc = api->xColumnTotalSize(fc, 0, &total);
	if (rc == SQLITE_OK)
		rc = api->xColumnSize(fc, 0, &dl);
	if (rc == SQLITE_OK)
		rc = api->xInstCount(fc, &ninst);
	for (int i = 0; rc == SQLITE_OK && i < ninst; i++) {
		int ph, col, off, n;

		if ((rc = api->xInst(fc, i, &ph, &col, &off)) != SQLITE_OK)
			break;
		if (ph >= 0 && ph < STORE_TERMS_MAX)
			tf[ph]++;
		/* Which token positions some query term covers, for "exact". */
		n = api->xPhraseSize(fc, ph);
		for (int j = 0; j < n; j++)
			if (off + j >= 0 && off + j < 64)
				covered |= (uint64_t)1 << (off + j);
	}
	if (rc != SQLITE_OK) {
		sqlite3_result_error_code(ctx, rc);
		return;
	}
	avgdl = nrow > 0 && total > 0 ? (double)total / (double)nrow : 1.0;
	norm = RANK_K1 * (1.0 - RANK_B + RANK_B * dl / avgdl);
	for (int p = 0; p < nphrase && p < STORE_TERMS_MAX; p++)
		if (tf[p] > 0)
			score -= tf[p] * (RANK_K1 + 1.0) / (tf[p] + norm);
	if (dl > 0 && dl <= 64 &&
	    covered == (dl == 64 ? UINT64_MAX : ((uint64_t)1 << dl) - 1))
		score -= RANK_EXACT;
	sqlite3_result_double(ctx, score);
}

/* Gives this connection p2p_rank; FTS5 finds it when a statement is prepared. */
static int
register_rank(sqlite3 *db)
{
	fts5_api *api = NULL;
	sqlite3_stmt *st;
	int rc;

	rc = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_bind_pointer(st, 1, &api, "fts5_api_ptr", NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		rc = SQLITE_OK;
	(void)sqlite3_finalize(st);	/* repeats the step's error */
	if (rc != SQLITE_OK)
		return rc;
	if (api == NULL || api->iVersion < 2)
		return SQLITE_ERROR;
	return api->xCreateFunction(api, "p2p_rank", NULL, rank_fn, NULL);
}

static int
prepare_all(struct store *s)
{
	int rc;

	for (size_t i = 0; i < ST_COUNT; i++) {
		rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

static void
store_free(struct store *s)
{
	int rc;

	for (size_t i = 0; i < ST_COUNT; i++)
		(void)sqlite3_finalize(s->st[i]);	/* repeats old step errors */
	rc = sqlite3_close(s->db);
	if (rc != SQLITE_OK)
		log_warnx("store: close: %s", sqlite3_errstr(rc));
	free(s);
}

static void
refuse_newer(char *err, size_t errlen, const char *path, int version)
{
	seterr(err, errlen, "%s: database schema version %d is newer than this"
	    " p2pd supports (%d); upgrade p2pd", path, version,
	    STORE_SCHEMA_VERSION);
}

/*
 * Everything before the first write is a read: a file that is not a
 * database, is from a newer p2pd, or is damaged is refused before anything
 * (the switch to WAL included) changes a byte of it.
 */
static int
open_check(struct store *s, const char *path, char *err, size_t errlen)
{
	char detail[160] = "";
	int rc, version = 0;

	rc = pragma_int(s->db, "PRAGMA user_version", &version);
	if (rc != SQLITE_OK) {
		open_refuse(err, errlen, path, s->db, rc, "read schema version");
		return -1;
	}
	if (version > STORE_SCHEMA_VERSION) {
		refuse_newer(err, errlen, path, version);
		return -1;
	}
	rc = quick_check(s->db, detail, sizeof(detail));
	if (rc == SQLITE_CORRUPT && detail[0] != '\0') {
		seterr(err, errlen, "%s: database is corrupt (%s); restore it"
		    " from a backup or move it away", path, detail);
		return -1;
	}
	if (rc != SQLITE_OK) {
		open_refuse(err, errlen, path, s->db, rc, "check");
		return -1;
	}
	return 0;
}

/*
 * BEGIN IMMEDIATE fails if another process is writing (most likely another
 * p2pd on the same state); the schema is then read again and migrated
 * under that lock so nobody sees half of it.
 */
static int
open_migrate(struct store *s, const char *path, char *err, size_t errlen)
{
	int rc, version = 0;

	rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		open_refuse(err, errlen, path, s->db, rc, "begin");
		return -1;
	}
	rc = pragma_int(s->db, "PRAGMA user_version", &version);
	if (rc != SQLITE_OK) {
		open_refuse(err, errlen, path, s->db, rc, "read schema version");
		goto rollback;
	}
	if (version > STORE_SCHEMA_VERSION) {
		refuse_newer(err, errlen, path, version);
		goto rollback;
	}
	rc = migrate(s->db, version);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		open_refuse(err, errlen, path, s->db, rc, "migrate");
		goto rollback;
	}
	return 0;
rollback:
	(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL); /* leaving anyway */
	return -1;
}

struct store *
store_open(const char *path, char *err, size_t errlen)
{
	struct store *s;
	int rc;

	seterr(err, errlen, "%s", "");
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		seterr(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	/*
	 * A new database is created 0600 whatever the umask (SQLite would use
	 * 0644 & ~umask); its -wal and -shm files copy the mode. An existing one
	 * is left as it is (O_EXCL).
	 */
	{
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd != -1)
			close(fd);
	}
	rc = sqlite3_open_v2(path, &s->db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		open_refuse(err, errlen, path, s->db, rc, "open");
		goto fail;
	}
	if ((rc = sqlite3_extended_result_codes(s->db, 1)) != SQLITE_OK ||
	    (rc = sqlite3_busy_timeout(s->db, STORE_BUSY_MS)) != SQLITE_OK) {
		open_refuse(err, errlen, path, s->db, rc, "open");
		goto fail;
	}
	if (open_check(s, path, err, errlen) == -1)
		goto fail;
	if ((rc = configure(s->db)) != SQLITE_OK) {
		open_refuse(err, errlen, path, s->db, rc, "configure");
		goto fail;
	}
	if (open_migrate(s, path, err, errlen) == -1)
		goto fail;
	if ((rc = register_rank(s->db)) != SQLITE_OK) {
		open_refuse(err, errlen, path, s->db, rc, "register rank");
		goto fail;
	}
	s->seen_rows = -1;
	s->seen_max = STORE_SEEN_MAX;
	if ((rc = prepare_all(s)) != SQLITE_OK) {
		open_refuse(err, errlen, path, s->db, rc, "prepare");
		goto fail;
	}
	return s;
fail:
	store_free(s);
	return NULL;
}

void
store_close(struct store *s)
{
	if (s != NULL)
		store_free(s);
}

int
store_schema_version(struct store *s)
{
	sqlite3_stmt *st = stmt(s, ST_USER_VERSION);
	int rc, v = -1;

	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	else
		fail(s, "read schema version", rc);
	done(st);
	return v;
}

const char *
store_errmsg(struct store *s)
{
	return s->errmsg;
}

/* --- transactions --- */

int
store_begin(struct store *s)
{
	return run(s, stmt(s, ST_BEGIN), "begin");
}

int
store_commit(struct store *s)
{
	if (run(s, stmt(s, ST_COMMIT), "commit") == -1) {
		s->seen_rows = -1;	/* the caller may roll back what we counted */
		return -1;
	}
	return 0;
}

int
store_rollback(struct store *s)
{
	s->seen_rows = -1;	/* inserts may have been undone */
	return run(s, stmt(s, ST_ROLLBACK), "rollback");
}

static int
op_begin(struct store *s, const char *op)
{
	return run(s, stmt(s, ST_SAVEPOINT), op);
}

/*
 * Ends a multi-statement operation: keeps its writes if rc is not -1, else
 * undoes them, so a failed call never leaves half a torrent in a caller's
 * transaction. Returns rc, or -1 if keeping failed.
 */
static int
op_end(struct store *s, int rc, const char *op)
{
	if (rc != -1 && run(s, stmt(s, ST_RELEASE), op) == 0)
		return rc;
	if (!sqlite3_get_autocommit(s->db)) {
		(void)run(s, stmt(s, ST_ROLLBACK_TO), op);
		(void)run(s, stmt(s, ST_RELEASE), op);
	}
	return -1;
}

/* --- torrents --- */

static int
bind_torrent(sqlite3_stmt *st, const struct store_torrent *t)
{
	int rc;

	rc = sqlite3_bind_blob(st, 1, t->info_hash, sizeof(t->info_hash),
	    SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = bind_text(st, 2, t->name);
	if (rc == SQLITE_OK)
		rc = bind_blob(st, 3, t->info, t->info_len);
	if (rc == SQLITE_OK)
		rc = bind_text(st, 4, t->data_path);
	if (rc == SQLITE_OK)
		rc = bind_text(st, 5, t->save_dir);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 6, t->origin);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 7, t->paused != 0);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 8, t->needs_check != 0);
	if (rc == SQLITE_OK)
		rc = bind_blob(st, 9, t->have, t->have_len);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 10, t->added_at);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 11, t->completed_at);
	/* Counters round-trip through int64 bit for bit. */
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 12, (int64_t)t->uploaded);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 13, (int64_t)t->downloaded);
	if (rc == SQLITE_OK)
		rc = bind_text(st, 14, t->error);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 15, t->searchable != 0);
	return rc;
}

/* Inserts the torrent row: 0 with *id set, 1 if the info-hash is known, -1. */
static int
insert_row(struct store *s, const struct store_torrent *t, int64_t *id)
{
	sqlite3_stmt *st = stmt(s, ST_TORRENT_INSERT);
	int rc;

	if ((rc = bind_torrent(st, t)) != SQLITE_OK) {
		done(st);
		return fail(s, "insert torrent", rc);
	}
	if (run(s, st, "insert torrent") == -1)
		return -1;
	/* ON CONFLICT DO NOTHING: no change means the info-hash was there. */
	if (sqlite3_changes(s->db) == 0)
		return 1;
	*id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

static int
insert_files(struct store *s, int64_t id, const struct store_file *files,
    size_t nfiles)
{
	sqlite3_stmt *st = stmt(s, ST_FILE_INSERT);
	int rc;

	for (size_t i = 0; i < nfiles; i++) {
		rc = sqlite3_bind_int64(st, 1, id);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, 2, (int64_t)i);
		if (rc == SQLITE_OK)
			rc = bind_text(st, 3, files[i].path);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, 4, (int64_t)files[i].length);
		if (rc != SQLITE_OK) {
			done(st);
			return fail(s, "insert file", rc);
		}
		if (run(s, st, "insert file") == -1)
			return -1;
	}
	return 0;
}

static int
insert_trackers(struct store *s, int64_t id, const struct store_tracker *tr,
    size_t ntr)
{
	sqlite3_stmt *st = stmt(s, ST_TRACKER_INSERT);
	int rc;

	for (size_t i = 0; i < ntr; i++) {
		rc = sqlite3_bind_int64(st, 1, id);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(st, 2, tr[i].tier);
		if (rc == SQLITE_OK)
			rc = bind_text(st, 3, tr[i].url);
		if (rc != SQLITE_OK) {
			done(st);
			return fail(s, "insert tracker", rc);
		}
		if (run(s, st, "insert tracker") == -1)
			return -1;
	}
	return 0;
}

int
store_torrent_insert(struct store *s, const struct store_torrent *t,
    const struct store_file *files, size_t nfiles,
    const struct store_tracker *trackers, size_t ntrackers, int64_t *id)
{
	int64_t newid = 0;
	int rc;

	if (op_begin(s, "insert torrent") == -1)
		return -1;
	rc = insert_row(s, t, &newid);
	if (rc == 0)
		rc = insert_files(s, newid, files, nfiles);
	if (rc == 0)
		rc = insert_trackers(s, newid, trackers, ntrackers);
	rc = op_end(s, rc, "insert torrent");
	if (rc == 0 && id != NULL)
		*id = newid;
	return rc;
}

/* Runs an UPDATE or DELETE whose first parameter is the torrent id. */
static int
run_id(struct store *s, sqlite3_stmt *st, int rc, int64_t id, const char *op)
{
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 1, id);
	if (rc != SQLITE_OK) {
		done(st);
		return fail(s, op, rc);
	}
	return run(s, st, op);
}

int
store_torrent_delete(struct store *s, int64_t id)
{
	/* Foreign keys cascade to files, trackers and peers; a trigger to names. */
	return run_id(s, stmt(s, ST_TORRENT_DELETE), SQLITE_OK, id, "delete torrent");
}

int
store_torrent_set_paused(struct store *s, int64_t id, int paused)
{
	sqlite3_stmt *st = stmt(s, ST_SET_PAUSED);

	return run_id(s, st, sqlite3_bind_int(st, 2, paused != 0), id,
	    "set paused");
}

int
store_torrent_set_have(struct store *s, int64_t id, const uint8_t *have,
    size_t len, int needs_check)
{
	sqlite3_stmt *st = stmt(s, ST_SET_HAVE);
	int rc;

	rc = bind_blob(st, 2, have, len);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 3, needs_check != 0);
	return run_id(s, st, rc, id, "set have");
}

int
store_torrent_set_searchable(struct store *s, int64_t id, int searchable)
{
	sqlite3_stmt *st = stmt(s, ST_SET_SEARCHABLE);

	return run_id(s, st, sqlite3_bind_int(st, 2, searchable != 0), id,
	    "set searchable");
}

int
store_torrent_set_error(struct store *s, int64_t id, const char *error)
{
	sqlite3_stmt *st = stmt(s, ST_SET_ERROR);

	return run_id(s, st, bind_text(st, 2, error), id, "set error");
}

int
store_torrent_set_counters(struct store *s, int64_t id, uint64_t uploaded,
    uint64_t downloaded, int64_t completed_at)
{
	sqlite3_stmt *st = stmt(s, ST_SET_COUNTERS);
	int rc;

	rc = sqlite3_bind_int64(st, 2, (int64_t)uploaded);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, (int64_t)downloaded);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, completed_at);
	return run_id(s, st, rc, id, "set counters");
}

int
store_torrent_set_info(struct store *s, int64_t id, const char *name,
    const uint8_t *info, size_t len, const char *data_path,
    const struct store_file *files, size_t nfiles)
{
	sqlite3_stmt *st = stmt(s, ST_SET_INFO);
	int rc;

	if (op_begin(s, "set info") == -1)
		return -1;
	rc = bind_text(st, 2, name);
	if (rc == SQLITE_OK)
		rc = bind_blob(st, 3, info, len);
	if (rc == SQLITE_OK)
		rc = bind_text(st, 4, data_path);
	rc = run_id(s, st, rc, id, "set info");
	/* The files of the metadata replace any that were there. */
	if (rc == 0)
		rc = run_id(s, stmt(s, ST_FILES_DELETE), SQLITE_OK, id, "set info");
	if (rc == 0)
		rc = insert_files(s, id, files, nfiles);
	return op_end(s, rc, "set info");
}

/* --- reading torrents --- */

static void
rows_clear(struct rows *r)
{
	/* The strings were strdup'd for this row only. */
	for (size_t i = 0; i < r->nfiles; i++)
		free((char *)r->files[i].path);
	for (size_t i = 0; i < r->ntrackers; i++)
		free((char *)r->trackers[i].url);
	r->nfiles = r->ntrackers = 0;
}

static void
rows_free(struct rows *r)
{
	rows_clear(r);
	free(r->files);
	free(r->trackers);
}

/*
 * Room for element n of an array of *cap: the array, moved if it had to
 * grow, or NULL (the old one still valid) when out of memory.
 */
static void *
grow(void *p, size_t *cap, size_t n, size_t size)
{
	size_t ncap = *cap ? *cap : 8;
	void *np;

	if (n < *cap)
		return p;
	while (ncap <= n)
		ncap *= 2;
	if ((np = reallocarray(p, ncap, size)) == NULL)
		return NULL;
	*cap = ncap;
	return np;
}

/* A nested statement's strings must outlive its next step: copy them. */
static char *
dup_col(sqlite3_stmt *st, int col)
{
	const char *v = col_text(st, col);

	return strdup(v != NULL ? v : "");
}

static int
load_files(struct store *s, int64_t id, struct rows *r)
{
	sqlite3_stmt *st = stmt(s, ST_FILES_OF);
	int rc;

	if ((rc = sqlite3_bind_int64(st, 1, id)) != SQLITE_OK) {
		done(st);
		return fail(s, "read files", rc);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_file *f;

		f = grow(r->files, &r->capfiles, r->nfiles, sizeof(*f));
		if (f == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		r->files = f;
		f = &r->files[r->nfiles];
		if ((f->path = dup_col(st, 0)) == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		f->length = (uint64_t)sqlite3_column_int64(st, 1);
		r->nfiles++;
	}
	done(st);
	return rc == SQLITE_DONE ? 0 : fail(s, "read files", rc);
}

static int
load_trackers(struct store *s, int64_t id, struct rows *r)
{
	sqlite3_stmt *st = stmt(s, ST_TRACKERS_OF);
	int rc;

	if ((rc = sqlite3_bind_int64(st, 1, id)) != SQLITE_OK) {
		done(st);
		return fail(s, "read trackers", rc);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_tracker *tr;

		tr = grow(r->trackers, &r->captrackers, r->ntrackers, sizeof(*tr));
		if (tr == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		r->trackers = tr;
		tr = &r->trackers[r->ntrackers];
		if ((tr->url = dup_col(st, 0)) == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		tr->tier = (uint32_t)sqlite3_column_int64(st, 1);
		r->ntrackers++;
	}
	done(st);
	return rc == SQLITE_DONE ? 0 : fail(s, "read trackers", rc);
}

static void
torrent_from_row(sqlite3_stmt *st, struct store_torrent *t)
{
	const void *hash;
	size_t n;

	memset(t, 0, sizeof(*t));
	t->id = sqlite3_column_int64(st, 0);
	hash = sqlite3_column_blob(st, 1);
	n = (size_t)sqlite3_column_bytes(st, 1);
	/* The schema's CHECK makes n 20; min() in case the file says otherwise. */
	if (hash != NULL)
		memcpy(t->info_hash, hash, n < sizeof(t->info_hash) ? n :
		    sizeof(t->info_hash));
	t->name = col_text(st, 2);
	t->info = sqlite3_column_blob(st, 3);
	t->info_len = (size_t)sqlite3_column_bytes(st, 3);
	t->data_path = col_text(st, 4);
	t->save_dir = col_text(st, 5);
	t->origin = sqlite3_column_int(st, 6);
	t->paused = sqlite3_column_int(st, 7);
	t->needs_check = sqlite3_column_int(st, 8);
	t->have = sqlite3_column_blob(st, 9);
	t->have_len = (size_t)sqlite3_column_bytes(st, 9);
	t->added_at = sqlite3_column_int64(st, 10);
	t->completed_at = sqlite3_column_int64(st, 11);
	t->uploaded = (uint64_t)sqlite3_column_int64(st, 12);
	t->downloaded = (uint64_t)sqlite3_column_int64(st, 13);
	t->error = col_text(st, 14);
	t->searchable = sqlite3_column_int(st, 15);
}

/*
 * The callback may write (set_paused, delete, ...) but must not start
 * another foreach: the statement is shared. Returns 0, -1 on error, or
 * the callback's non-zero value that stopped the walk.
 */
int
store_torrent_foreach(struct store *s, store_torrent_cb cb, void *ctx)
{
	sqlite3_stmt *st = stmt(s, ST_TORRENTS_ALL);
	struct store_torrent t;
	struct rows r = { 0 };
	int rc, ret = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		torrent_from_row(st, &t);
		rows_clear(&r);
		if (load_files(s, t.id, &r) == -1 ||
		    load_trackers(s, t.id, &r) == -1) {
			ret = -1;
			break;
		}
		t.files = r.files;
		t.file_count = r.nfiles;
		t.trackers = r.trackers;
		t.tracker_count = r.ntrackers;
		if ((ret = cb(ctx, &t)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = fail(s, "read torrents", rc);
	done(st);
	rows_free(&r);
	return ret;
}

/* --- search --- */

/* A word made only of ASCII punctuation has no token for FTS5 to match. */
static int
has_token(const char *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)w[i];

		if (c >= 0x80 || (c >= '0' && c <= '9') ||
		    ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
			return 1;
	}
	return 0;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	    c == '\v';
}

/* Appends w as one FTS5 string: inside "...", a " is written twice. */
static int
put_word(struct buf *b, const char *w, size_t len)
{
	if (b->len > 0 && buf_putc(b, ' ') == -1)
		return -1;
	if (buf_putc(b, '"') == -1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (w[i] == '"' && buf_putc(b, '"') == -1)
			return -1;
		if (buf_putc(b, (uint8_t)w[i]) == -1)
			return -1;
	}
	return buf_putc(b, '"');
}

/*
 * Builds an FTS5 query from user words: each word becomes a string token,
 * so AND, OR, NEAR, parentheses, * and column filters in the input are only
 * text; words are ANDed and the last one matches as a prefix because people
 * search as they type. *q is NULL when there is no word to search for.
 * Returns 0, or SQLITE_NOMEM.
 */
static int
search_query(const char *words, char **q)
{
	struct buf b;
	const char *w, *end;
	size_t len;

	*q = NULL;
	buf_init(&b, 0);
	for (w = words; *w != '\0'; w = end) {
		while (is_space(*w))
			w++;
		for (end = w; *end != '\0' && !is_space(*end); end++)
			;
		len = (size_t)(end - w);
		if (len == 0 || !has_token(w, len))
			continue;
		if (put_word(&b, w, len) == -1)
			goto nomem;
	}
	if (b.len == 0) {
		buf_free(&b);
		return SQLITE_OK;
	}
	if (buf_putc(&b, '*') == -1 || (*q = buf_steal(&b, NULL)) == NULL)
		goto nomem;
	return SQLITE_OK;
nomem:
	buf_free(&b);
	return SQLITE_NOMEM;
}

/*
 * rank is FTS5's bm25: lower is a better match, and matches come best
 * first. path is NULL when the torrent's own name matched.
 */
int
store_search(struct store *s, const char *words, int limit, store_match_cb cb,
    void *ctx)
{
	sqlite3_stmt *st = stmt(s, ST_SEARCH);
	char *q;
	int rc, ret = 0;

	if (limit <= 0 || limit > STORE_SEARCH_MAX)
		limit = STORE_SEARCH_MAX;
	/* No name is that long: a pasted blob matches nothing, not an error. */
	if (words == NULL || strlen(words) > STORE_WORDS_MAX)
		return 0;
	if ((rc = search_query(words, &q)) != SQLITE_OK)
		return fail(s, "search", rc);
	if (q == NULL)
		return 0;	/* nothing to look for matches nothing */
	rc = sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 2, limit);
	if (rc != SQLITE_OK) {
		done(st);
		free(q);
		return fail(s, "search", rc);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t rowid = sqlite3_column_int64(st, 0);
		const char *path = (rowid & 0xffffffff) ? col_text(st, 1) : NULL;

		if ((ret = cb(ctx, rowid >> 32, path,
		    sqlite3_column_double(st, 2))) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = fail(s, "search", rc);
	done(st);
	free(q);
	return ret;
}

/* --- search hits --- */

/* Token characters (UTF-8 sequences count once) at the end of w[0..len). */
static size_t
last_token_chars(const char *w, size_t len)
{
	size_t n = 0;

	while (len > 0) {
		unsigned char c = (unsigned char)w[len - 1];

		if (c < 0x80 && !has_token(w + len - 1, 1))
			break;
		if (c < 0x80 || c >= 0xc0)
			n++;
		len--;
	}
	return n;
}

/*
 * Builds the FTS5 query of store_search_hits: every word and phrase goes
 * in as an FTS5 string ("...", a " doubled), so no operator, column filter
 * or bracket of the input means anything to FTS5; strings side by side are
 * ANDed. A trailing * makes the last token a prefix, but only from 2
 * characters on: "a*" would merge every term's posting list (the prefix
 * indexes hold 2 and 3). *q is NULL when nothing is left to look for.
 */
static int
hits_query(const char *query, char **q)
{
	struct buf b;
	const char *p = query, *w, *end;
	size_t len;
	int nterms = 0, prefix;

	*q = NULL;
	buf_init(&b, 0);
	while (*p != '\0' && nterms < STORE_TERMS_MAX) {
		while (is_space(*p))
			p++;
		if (*p == '\0')
			break;
		if (*p == '"') {
			/* A phrase runs to the next quote, or to the end. */
			w = p + 1;
			for (end = w; *end != '\0' && *end != '"'; end++)
				;
			len = (size_t)(end - w);
			p = *end == '"' ? end + 1 : end;
			prefix = *p == '*';
			while (*p == '*')
				p++;
		} else {
			w = p;
			for (end = w; *end != '\0' && !is_space(*end); end++)
				;
			p = end;
			len = (size_t)(end - w);
			for (prefix = 0; len > 0 && w[len - 1] == '*'; len--)
				prefix = 1;
		}
		if (len == 0 || !has_token(w, len))
			continue;
		if (prefix && last_token_chars(w, len) < 2)
			prefix = 0;
		if (put_word(&b, w, len) == -1 || (prefix && buf_putc(&b, '*') == -1))
			goto nomem;
		nterms++;
	}
	if (b.len == 0) {
		buf_free(&b);
		return SQLITE_OK;
	}
	if ((*q = buf_steal(&b, NULL)) == NULL)
		goto nomem;
	return SQLITE_OK;
nomem:
	buf_free(&b);
	return SQLITE_NOMEM;
}

/*
 * Ranking (ST_HITS): the best p2p_rank of the torrent's name and files
 * (see rank_fn), times a boost for sources that saturates at 1.5:
 *
 *   rank = best_p2p_rank * (1 + 0.5 sources / (sources + 10))
 *
 * Scores are negative, so the boost makes a hit better: 10 sources give
 * x1.25, 100 x1.45. Among equal names more sources come first; a partial
 * match gains at most half its score, never the exact bonus. Ties go to
 * the newest. When more than STORE_RANK_ROWS index rows match, only the
 * first that many in rowid order are ranked: seen results oldest first,
 * then ours oldest first. Such a query (one very common word) has no
 * meaningful best 50 anyway; the cap keeps its cost that of a rare word.
 */
int
store_search_hits(struct store *s, const char *query, int limit, store_hit_cb cb,
    void *ctx)
{
	sqlite3_stmt *st = stmt(s, ST_HITS);
	struct store_hit h;
	char *q;
	int rc, ret = 0;

	if (limit <= 0 || limit > STORE_SEARCH_MAX)
		limit = STORE_SEARCH_MAX;
	/* No name is that long: a pasted blob matches nothing, not an error. */
	if (query == NULL || strlen(query) > STORE_WORDS_MAX)
		return 0;
	if ((rc = hits_query(query, &q)) != SQLITE_OK)
		return fail(s, "search", rc);
	if (q == NULL)
		return 0;	/* nothing to look for matches nothing */
	rc = sqlite3_bind_text(st, 1, q, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 2, limit);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 3, STORE_RANK_ROWS);
	if (rc != SQLITE_OK) {
		done(st);
		free(q);
		return fail(s, "search", rc);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t k = sqlite3_column_int64(st, 0);
		int64_t r = sqlite3_column_int64(st, 1);

		/* A torrent row gone between the match and the join: skip it. */
		if (sqlite3_column_bytes(st, 5) != 20)
			continue;
		memset(&h, 0, sizeof(h));
		memcpy(h.info_hash, sqlite3_column_blob(st, 5), 20);
		h.kind = k > 0 ? STORE_HIT_LOCAL : STORE_HIT_SEEN;
		h.torrent_id = k > 0 ? k : 0;
		h.matched = k > 0 && (r & 0xffffffff) ? col_text(st, 2) : NULL;
		h.rank = sqlite3_column_double(st, 3);
		h.sources = (uint32_t)sqlite3_column_int64(st, 4);
		h.name = col_text(st, 6);
		h.size = (uint64_t)sqlite3_column_int64(st, 7);
		h.files = (uint32_t)sqlite3_column_int64(st, 8);
		h.searchable = sqlite3_column_int(st, 9);
		if ((ret = cb(ctx, &h)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = fail(s, "search", rc);
	done(st);
	free(q);
	return ret;
}

static int
bind_seen(sqlite3_stmt *st, const uint8_t ih[20], const char *name, uint64_t size,
    uint32_t files, uint32_t sources, int64_t seen_at)
{
	int rc;

	rc = bind_blob(st, 1, ih, 20);
	if (rc == SQLITE_OK)
		rc = bind_text(st, 2, name != NULL ? name : "");
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, (int64_t)size);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 4, files);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 5, sources);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 6, seen_at);
	if (rc != SQLITE_OK)
		done(st);
	return rc;
}

/* Forgets the oldest seen results beyond s->seen_max. */
static int
seen_trim(struct store *s)
{
	sqlite3_stmt *st;
	int rc;

	if (s->seen_rows < 0) {
		st = stmt(s, ST_SEEN_COUNT);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			s->seen_rows = sqlite3_column_int64(st, 0);
		done(st);
		if (rc != SQLITE_ROW)
			return fail(s, "count seen", rc);
	}
	if (s->seen_rows <= s->seen_max)
		return 0;
	st = stmt(s, ST_SEEN_TRIM);
	if ((rc = sqlite3_bind_int64(st, 1, s->seen_rows - s->seen_max)) != SQLITE_OK) {
		done(st);
		return fail(s, "trim seen", rc);
	}
	if (run(s, st, "trim seen") == -1)
		return -1;
	s->seen_rows -= sqlite3_changes(s->db);
	return 0;
}

int
store_seen_put(struct store *s, const uint8_t ih[20], const char *name, uint64_t size,
    uint32_t files, uint32_t sources, int64_t seen_at)
{
	sqlite3_stmt *st = stmt(s, ST_SEEN_UPDATE);
	int rc;

	if (op_begin(s, "put seen") == -1)
		return -1;
	if ((rc = bind_seen(st, ih, name, size, files, sources, seen_at)) != SQLITE_OK)
		rc = fail(s, "put seen", rc);
	else
		rc = run(s, st, "put seen");
	if (rc == 0 && sqlite3_changes(s->db) == 0) {
		st = stmt(s, ST_SEEN_INSERT);
		if ((rc = bind_seen(st, ih, name, size, files, sources,
		    seen_at)) != SQLITE_OK)
			rc = fail(s, "put seen", rc);
		else
			rc = run(s, st, "put seen");
		if (rc == 0 && s->seen_rows >= 0)
			s->seen_rows++;
	}
	if (rc == 0)
		rc = seen_trim(s);
	if ((rc = op_end(s, rc, "put seen")) == -1)
		s->seen_rows = -1;	/* the savepoint undid what we counted */
	return rc;
}

int
store_seen_limit(struct store *s, int max)
{
	int old = s->seen_max;

	if (max > 0)
		s->seen_max = max;
	return old;
}

/* --- settings --- */

int
store_setting_get(struct store *s, const char *key, char **value)
{
	sqlite3_stmt *st = stmt(s, ST_SETTING_GET);
	int rc, ret;

	*value = NULL;
	if ((rc = bind_text(st, 1, key)) != SQLITE_OK) {
		done(st);
		return fail(s, "get setting", rc);
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if ((*value = dup_col(st, 0)) == NULL)
			ret = fail(s, "get setting", SQLITE_NOMEM);
		else
			ret = 1;
	} else if (rc == SQLITE_DONE)
		ret = 0;
	else
		ret = fail(s, "get setting", rc);
	done(st);
	return ret;
}

/* A NULL value removes the key, so get reports it absent again. */
int
store_setting_set(struct store *s, const char *key, const char *value)
{
	sqlite3_stmt *st;
	int rc;

	st = stmt(s, value != NULL ? ST_SETTING_SET : ST_SETTING_DELETE);
	rc = bind_text(st, 1, key);
	if (rc == SQLITE_OK && value != NULL)
		rc = bind_text(st, 2, value);
	if (rc != SQLITE_OK) {
		done(st);
		return fail(s, "set setting", rc);
	}
	return run(s, st, "set setting");
}

/* --- peers --- */

/*
 * Records or refreshes a peer, then forgets the oldest beyond
 * STORE_PEERS_MAX so a busy swarm cannot grow the file without bound.
 * Each call is a commit of its own: batch with store_begin/commit.
 */
int
store_peer_add(struct store *s, int64_t torrent_id, const char *addr,
    int64_t seen_at)
{
	sqlite3_stmt *st = stmt(s, ST_PEER_ADD);
	int rc;

	if (op_begin(s, "add peer") == -1)
		return -1;
	rc = bind_text(st, 2, addr);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, 3, seen_at);
	rc = run_id(s, st, rc, torrent_id, "add peer");
	if (rc == 0) {
		st = stmt(s, ST_PEER_TRIM);
		rc = run_id(s, st, sqlite3_bind_int(st, 2, STORE_PEERS_MAX),
		    torrent_id, "trim peers");
	}
	return op_end(s, rc, "add peer");
}

int
store_peers_get(struct store *s, int64_t torrent_id, int limit,
    store_peer_cb cb, void *ctx)
{
	sqlite3_stmt *st = stmt(s, ST_PEERS_GET);
	int rc, ret = 0;

	if (limit <= 0 || limit > STORE_PEERS_MAX)
		limit = STORE_PEERS_MAX;
	rc = sqlite3_bind_int64(st, 1, torrent_id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(st, 2, limit);
	if (rc != SQLITE_OK) {
		done(st);
		return fail(s, "get peers", rc);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((ret = cb(ctx, col_text(st, 0), sqlite3_column_int64(st, 1))) != 0)
			break;
	if (ret == 0 && rc != SQLITE_DONE)
		ret = fail(s, "get peers", rc);
	done(st);
	return ret;
}

/* --- the DHT --- */

int
store_dht_id_get(struct store *s, uint8_t id[20])
{
	sqlite3_stmt *st = stmt(s, ST_DHT_ID_GET);
	int rc = sqlite3_step(st), found = 0;

	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 20) {
		memcpy(id, sqlite3_column_blob(st, 0), 20);
		found = 1;
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		done(st);
		return fail(s, "get dht id", rc);
	}
	done(st);
	return found;
}

int
store_dht_id_set(struct store *s, const uint8_t id[20])
{
	sqlite3_stmt *st = stmt(s, ST_DHT_ID_SET);
	int rc = bind_blob(st, 1, id, 20);

	if (rc != SQLITE_OK) {
		done(st);
		return fail(s, "set dht id", rc);
	}
	return run(s, st, "set dht id");
}

int
store_dht_nodes_save(struct store *s, const struct store_dht_node *nodes, size_t n,
    int64_t seen_at)
{
	int rc;

	if (op_begin(s, "save dht nodes") == -1)
		return -1;
	rc = run(s, stmt(s, ST_DHT_CLEAR), "save dht nodes");
	for (size_t i = 0; i < n && rc == 0; i++) {
		sqlite3_stmt *st = stmt(s, ST_DHT_ADD);
		int b = bind_text(st, 1, nodes[i].addr);

		if (b == SQLITE_OK)
			b = bind_blob(st, 2, nodes[i].id, 20);
		if (b == SQLITE_OK)
			b = sqlite3_bind_int64(st, 3, seen_at - (int64_t)i);
		if (b != SQLITE_OK) {
			done(st);
			rc = fail(s, "save dht nodes", b);
		} else
			rc = run(s, st, "save dht nodes");
	}
	return op_end(s, rc, "save dht nodes");
}

int
store_dht_nodes_get(struct store *s, int limit, store_dht_cb cb, void *ctx)
{
	sqlite3_stmt *st = stmt(s, ST_DHT_GET);
	int rc = sqlite3_bind_int(st, 1, limit), ret = 0;

	if (rc != SQLITE_OK) {
		done(st);
		return fail(s, "get dht nodes", rc);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_bytes(st, 1) != 20 || col_text(st, 0) == NULL)
			continue;
		if ((ret = cb(ctx, col_text(st, 0), sqlite3_column_blob(st, 1))) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = fail(s, "get dht nodes", rc);
	done(st);
	return ret;
}
