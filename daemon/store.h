/* store.h: all SQL: schema, migrations and queries over the SQLite state database. */
#ifndef P2P_STORE_H
#define P2P_STORE_H

#include <stddef.h>
#include <stdint.h>

struct store;

#define STORE_SCHEMA_VERSION 3

enum store_origin {
	STORE_ORIGIN_ADDED = 0,		/* from a .torrent */
	STORE_ORIGIN_SHARED = 1,	/* hashed here by torrent.share */
	STORE_ORIGIN_MAGNET = 2,	/* from a magnet link */
};

struct store_file {
	const char *path;	/* relative path inside the torrent */
	uint64_t length;
};

struct store_tracker {
	const char *url;
	uint32_t tier;
};

/* A torrent row. Pointers are borrowed: valid during the call or callback only. */
struct store_torrent {
	int64_t id;			/* set by insert; stable for the torrent's life */
	uint8_t info_hash[20];
	const char *name;
	const uint8_t *info;		/* raw info dict; NULL while a magnet has none */
	size_t info_len;
	const char *data_path;		/* the file or top directory of the data */
	const char *save_dir;
	int origin;			/* enum store_origin */
	int paused;
	int needs_check;		/* a check is owed (e.g. it was interrupted) */
	const uint8_t *have;		/* verified pieces, wire order; may be NULL */
	size_t have_len;
	int64_t added_at;		/* unix seconds */
	int64_t completed_at;		/* 0 if never */
	uint64_t uploaded;
	uint64_t downloaded;
	const char *error;		/* NULL unless the torrent is in error */
	int searchable;			/* 1: others' searches may find it; set it on insert */
	const struct store_tracker *trackers;	/* read: filled by foreach */
	size_t tracker_count;
	const struct store_file *files;		/* read: filled by foreach */
	size_t file_count;
};

/*
 * Opens or creates the database at path (parent directory must exist), sets
 * WAL and synchronous=FULL, and runs migrations up to STORE_SCHEMA_VERSION.
 * Refuses a database from a newer p2pd, one that is locked by another
 * process, or one that is corrupt, with a message in err: never resets it.
 */
struct store *store_open(const char *path, char *err, size_t errlen);
void store_close(struct store *s);
int store_schema_version(struct store *s);
/* The last error as SQLite phrased it. */
const char *store_errmsg(struct store *s);

/* Groups several writes into one transaction. */
int store_begin(struct store *s);
int store_commit(struct store *s);
int store_rollback(struct store *s);

/*
 * Inserts the torrent with its files (and their FTS5 index entries) and
 * trackers in one transaction; t->id is ignored and *id gets the new id.
 * Returns 0, -1 on error, or 1 if the info-hash is already present.
 */
int store_torrent_insert(struct store *s, const struct store_torrent *t,
    const struct store_file *files, size_t nfiles,
    const struct store_tracker *trackers, size_t ntrackers, int64_t *id);
/* Removes the torrent and everything that refers to it. */
int store_torrent_delete(struct store *s, int64_t id);
int store_torrent_set_paused(struct store *s, int64_t id, int paused);
int store_torrent_set_have(struct store *s, int64_t id, const uint8_t *have,
    size_t len, int needs_check);
int store_torrent_set_error(struct store *s, int64_t id, const char *error);
int store_torrent_set_counters(struct store *s, int64_t id, uint64_t uploaded,
    uint64_t downloaded, int64_t completed_at);
/* Sets the info dict and name once a magnet's metadata has arrived. */
int store_torrent_set_info(struct store *s, int64_t id, const char *name,
    const uint8_t *info, size_t len, const char *data_path,
    const struct store_file *files, size_t nfiles);

/* Calls cb for each torrent in id order; a non-zero return stops the walk. */
typedef int (*store_torrent_cb)(void *ctx, const struct store_torrent *t);
int store_torrent_foreach(struct store *s, store_torrent_cb cb, void *ctx);

/* Full-text search over torrent and file names (FTS5 query syntax, escaped). */
typedef int (*store_match_cb)(void *ctx, int64_t torrent_id, const char *path, double rank);
int store_search(struct store *s, const char *words, int limit, store_match_cb cb, void *ctx);

/* --- the search index: our torrents and results seen in network searches --- */

#define STORE_SEEN_MAX		100000	/* seen results kept, newest first */

enum store_origin_kind {
	STORE_HIT_LOCAL = 1,	/* ours: shared or downloaded */
	STORE_HIT_SEEN = 2,	/* seen in an earlier network search */
};

/* One search result. Pointers are borrowed: valid during the callback only. */
struct store_hit {
	uint8_t info_hash[20];
	const char *name;	/* torrent name */
	const char *matched;	/* the file path that matched, or NULL if the name did */
	uint64_t size;		/* bytes; 0 for a magnet without metadata */
	uint32_t files;
	uint32_t sources;	/* seen results: peers that offered it; ours: 0 */
	int kind;		/* STORE_HIT_* */
	int64_t torrent_id;	/* ours: the id; seen: 0 */
	int searchable;		/* ours: the flag; seen: 0 */
	double rank;		/* lower is better */
};
typedef int (*store_hit_cb)(void *ctx, const struct store_hit *h);

/*
 * Searches names and file paths of our torrents and of seen results.
 * Query: words (all must match), "quoted phrases", and word* or "phr ase"*
 * prefixes (at least 2 characters before the *); case and accents fold.
 * One hit per torrent, best first, at most limit (1..1000); the ranking is
 * described in store.c. Operators in the input are plain text, and a query
 * with no word left after cleaning matches nothing. Returns 0, -1 on error,
 * or the callback's non-zero value that stopped the walk.
 */
int store_search_hits(struct store *s, const char *query, int limit, store_hit_cb cb,
    void *ctx);
/*
 * Records a network result: inserts it, or updates name, size and files,
 * keeps the larger sources and the later seen_at. Then forgets the oldest
 * rows beyond the limit (STORE_SEEN_MAX).
 */
int store_seen_put(struct store *s, const uint8_t ih[20], const char *name, uint64_t size,
    uint32_t files, uint32_t sources, int64_t seen_at);
/* Sets how many seen results are kept (tests use a small one); returns the old limit. */
int store_seen_limit(struct store *s, int max);
int store_torrent_set_searchable(struct store *s, int64_t id, int searchable);

/* Settings: text values by key. get returns 1 found (*value malloc'd), 0 absent, -1 error. */
int store_setting_get(struct store *s, const char *key, char **value);
int store_setting_set(struct store *s, const char *key, const char *value);

/* Known peers of a torrent ("addr:port"), newest first, at most limit. */
int store_peer_add(struct store *s, int64_t torrent_id, const char *addr, int64_t seen_at);
typedef int (*store_peer_cb)(void *ctx, const char *addr, int64_t seen_at);
int store_peers_get(struct store *s, int64_t torrent_id, int limit, store_peer_cb cb, void *ctx);

/* The DHT node id: 1 and id filled, 0 if none saved yet, -1 on error. */
int store_dht_id_get(struct store *s, uint8_t id[20]);
int store_dht_id_set(struct store *s, const uint8_t id[20]);
/* Replaces the saved routing table with these n nodes ("addr:port" and id). */
struct store_dht_node {
	const char *addr;
	const uint8_t *id;	/* 20 bytes */
};
int store_dht_nodes_save(struct store *s, const struct store_dht_node *nodes, size_t n,
    int64_t seen_at);
/* Saved nodes, newest first, at most limit. */
typedef int (*store_dht_cb)(void *ctx, const char *addr, const uint8_t id[20]);
int store_dht_nodes_get(struct store *s, int limit, store_dht_cb cb, void *ctx);

#endif
