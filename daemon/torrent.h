/* torrent.h: one torrent's state machine: checking, downloading, seeding, paused, error. */
#ifndef P2P_TORRENT_H
#define P2P_TORRENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct session;
struct torrent;
struct metainfo;
struct store_torrent;

enum torrent_state {
	TORRENT_CHECKING,
	TORRENT_DOWNLOADING,
	TORRENT_SEEDING,
	TORRENT_PAUSED,
	TORRENT_ERROR,
};

/* The words of the control API and of p2pctl's tables. */
const char *torrent_state_name(enum torrent_state s);

/*
 * Builds a torrent from its database row. mi (may be NULL for a magnet
 * without metadata) passes to the torrent. Starts the owed check if the row
 * says one is owed. NULL if out of memory or the row is inconsistent (logged).
 */
struct torrent *torrent_new(struct session *s, const struct store_torrent *row,
    struct metainfo *mi);
/* Stops its work; frees it now, or when its running disk job ends. */
void torrent_free(struct torrent *t);

int64_t torrent_id(const struct torrent *t);
const uint8_t *torrent_info_hash(const struct torrent *t);
const char *torrent_hex(const struct torrent *t);
const char *torrent_name(const struct torrent *t);
const char *torrent_path(const struct torrent *t);
/*
 * A torrent other than except whose data lies at path, inside it, or around
 * it (compared as strings: both are built as folder + "/" + name), or NULL.
 * Two torrents on one path would overwrite each other's verified data.
 */
struct torrent *torrent_path_user(struct session *s, const char *path,
    const struct torrent *except);
int torrent_origin(const struct torrent *t);
const struct metainfo *torrent_metainfo(const struct torrent *t);
enum torrent_state torrent_state(const struct torrent *t);
/* BEP 27: a private torrent finds peers through its trackers only (no DHT, LSD or PEX). */
int torrent_is_private(const struct torrent *t);
/* Whether other peers' searches may find it (share --no-search clears it). */
int torrent_searchable(const struct torrent *t);

/* The torrent object of docs/control-api.md; detail adds get's extra fields. */
json_t *torrent_json(const struct torrent *t, int detail);
json_t *torrent_files_json(const struct torrent *t);
char *torrent_magnet(const struct torrent *t);

/* Each persists the change before returning; 0, or -1 if the store failed. */
int torrent_pause(struct torrent *t);
int torrent_resume(struct torrent *t);

/*
 * Re-hashes the data on disk. 0 started, -1 could not start (err says why),
 * 1 already checking. When it ends, the waiter (client id, request id; id may
 * be NULL) gets the torrent object as its answer.
 */
int torrent_verify(struct torrent *t, uint64_t client, json_t *req_id, char *err, size_t errlen);
/* Checks data already at its path, if any (a new .torrent over existing files). */
int torrent_check_existing(struct torrent *t);

/* Lists the files this torrent owns on disk (for delete_data); malloc'd array of malloc'd paths. */
char **torrent_data_files(const struct torrent *t, size_t *n);

/* Persists counters and progress; called at shutdown and periodically. */
int torrent_save(struct torrent *t);
/* At daemon stop: syncs verified pieces, records them, saves counters. */
void torrent_shutdown(struct torrent *t);

/* --- for the transfer --- */
struct bitfield;
struct transfer;
struct netaddr;

/* Verified pieces (announced and served; the database may lag behind). */
const struct bitfield *torrent_have(const struct torrent *t);
struct transfer *torrent_transfer(const struct torrent *t);
void torrent_add_counters(struct torrent *t, uint64_t uploaded, uint64_t downloaded);
/* A piece passed its check and is written (not yet synced). */
void torrent_piece_done(struct torrent *t, uint32_t piece);
/* These pieces' bytes are durable: now the database may say we have them. */
void torrent_pieces_synced(struct torrent *t, const uint32_t *pieces, size_t n);
/*
 * A magnet's info dict arrived and matched the info-hash: record it, then
 * replace the metadata transfer with a real one (or a check, if data is
 * already there). 0, or -1 (logged) if the dict is unusable.
 */
int torrent_set_metadata(struct torrent *t, const uint8_t *info, size_t len);
/* Disk trouble: the torrent goes to error with msg; its transfer stops. */
void torrent_io_error(struct torrent *t, const char *msg);
void torrent_tick(struct torrent *t, double now);
json_t *torrent_peers_json(const struct torrent *t);
/* Its announce URLs and their tiers (borrowed); returns the count. */
size_t torrent_trackers(const struct torrent *t, const char *const **urls,
    const uint32_t **tiers);
/* For announces: bytes sent, received, and still missing. */
void torrent_counters(const struct torrent *t, uint64_t *up, uint64_t *down, uint64_t *left);
json_t *torrent_trackers_json(const struct torrent *t);
/* peer.add: 0, or an RPC error code with err. */
int torrent_peer_add(struct torrent *t, const struct netaddr *a, char *err, size_t errlen);

#endif
