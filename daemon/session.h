/* session.h: the root object: config, store, worker pool, control server and torrents. */
#ifndef P2P_SESSION_H
#define P2P_SESSION_H

#include <ev.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl.h"

struct session;
struct conf;
struct store;
struct worker_pool;
struct torrent;
struct metainfo;
struct shares;

/*
 * Opens the database under conf's state_dir (created 0700 if missing), loads
 * every torrent, and serves the control socket on ctl_fd. NULL with a
 * message in err if anything a user must fix is wrong.
 */
struct session *session_new(struct ev_loop *loop, const struct conf *conf,
    const char *config_path, int ctl_fd, int own_socket, char *err, size_t errlen);
/* Commits state and frees everything; the socket path is unlinked. */
void session_free(struct session *s);
/* Starts an orderly stop: no new work, pending answers sent, then the loop ends. */
void session_shutdown(struct session *s, const char *why);
int session_stopping(const struct session *s);
/* Applies a re-read config; settings that need a restart are logged. */
void session_reload(struct session *s, const struct conf *conf);

struct ev_loop *session_loop(struct session *s);
struct store *session_store(struct session *s);
struct worker_pool *session_pool(struct session *s);
struct ctl *session_ctl(struct session *s);
struct shares *session_shares(struct session *s);
const struct conf *session_conf(const struct session *s);
const char *session_config_path(const struct session *s);
int64_t session_started(const struct session *s);

/* Sends an event to subscribers (steals params). */
void session_event(struct session *s, enum ctl_event ev, json_t *params);
/* Answers a request whose client may have gone meanwhile (steals result). */
void session_answer(struct session *s, uint64_t client, json_t *req_id, json_t *result);
/* data (may be NULL, stolen) goes into the error object, as for exists. */
void session_answer_error(struct session *s, uint64_t client, json_t *req_id,
    int code, const char *msg, json_t *data);

/* Torrents in id order. */
struct torrent *session_torrent_first(struct session *s);
struct torrent *session_torrent_next(struct session *s, struct torrent *t);
size_t session_torrent_count(const struct session *s);
/*
 * Resolves a control API id: a number, a decimal string, a full info-hash or
 * a unique prefix of at least 6 hex digits. NULL with an RPC error code and
 * message set when none or several match.
 */
struct torrent *session_torrent_lookup(struct session *s, json_t *id, int *code,
    char *err, size_t errlen);
struct torrent *session_torrent_by_hash(struct session *s, const uint8_t ih[20]);

/*
 * Adds a torrent: stores it durably, then creates it. mi (may be NULL with a
 * magnet's info_hash/name) passes to the session in all cases. Returns the
 * torrent, or NULL with an RPC error code and message.
 */
struct session_add {
	struct metainfo *mi;
	const uint8_t *info_hash;	/* when mi is NULL */
	const char *name;		/* when mi is NULL */
	const char *const *trackers;	/* when mi is NULL, or extra */
	size_t tracker_count;
	const char *save_dir;		/* NULL: download_dir */
	const char *data_path;		/* NULL: save_dir/name */
	int origin;
	int paused;
	int have_all;			/* data verified by the caller (share) */
	int no_search;			/* keep it out of other peers' searches */
};
struct torrent *session_add_torrent(struct session *s, struct session_add *a,
    int *code, char *err, size_t errlen);
/* Removes it from the database (durably) and from memory. */
int session_remove_torrent(struct session *s, struct torrent *t);

/* --- the peer side --- */

struct peer;
struct transfer;
struct ratelimit;
struct netaddr;

/* Run-time settings (session.get/set), from the config, then the database. */
enum session_setting {
	SETTING_UPLOAD_RATE,
	SETTING_DOWNLOAD_RATE,
	SETTING_UPLOAD_SLOTS,
	SETTING_MAX_CONN,
	SETTING_MAX_CONN_TORRENT,
	SETTING_MAX_CONN_IP,
	SETTING_COUNT
};
int session_setting(const struct session *s, enum session_setting which);
json_t *session_settings_json(const struct session *s);
/* Parses, checks, applies and stores one setting; 0 or -1 with err. */
int session_setting_set(struct session *s, const char *key, json_t *value,
    char *err, size_t errlen);

const uint8_t *session_peer_id(const struct session *s);
/* Our listening port (the first listener's), for BEP 10's "p". */
uint16_t session_listen_port(const struct session *s);
/* Address to dial from for that family (the listen IP), or NULL for any. */
const struct netaddr *session_bind_addr(const struct session *s, int family);
struct ratelimit *session_rate_down(struct session *s);
struct ratelimit *session_rate_up(struct session *s);
/* The running transfer of the torrent with that info-hash, or NULL. */
struct transfer *session_transfer_by_hash(struct session *s, const uint8_t ih[20]);
/* 0 if a connection to or from a may open, else an RPC error code with err. */
int session_peer_allowed(struct session *s, const struct netaddr *a, char *err,
    size_t errlen);
void session_peer_added(struct session *s, struct peer *p);
void session_peer_removed(struct session *s, struct peer *p);
/* Refuses the IP for an hour. 1 if newly banned, 0 if it already was. */
int session_ban(struct session *s, const struct netaddr *a, const char *reason);
size_t session_peer_count(const struct session *s);
size_t session_ban_count(struct session *s);
/* Peer exchange (BEP 11) is on unless the config says pex = no. */
int session_pex_enabled(const struct session *s);
/* The built-in tracker's status, or JSON null when it is off. */
json_t *session_tracker_json(const struct session *s);
/* Local service discovery's status (lsd_json): enabled false when it is off. */
json_t *session_lsd_json(const struct session *s);
/* dht.status: the node, or {"enabled": false, "error": why} when it is not running. */
json_t *session_dht_json(const struct session *s);
/* 1 if the DHT runs: peers are told so in the handshake (BEP 5 reserved bit) and by PORT. */
int session_dht_enabled(const struct session *s);
/* A peer's PORT message: its DHT node is at its IP and that UDP port. */
void session_dht_port(struct session *s, const struct netaddr *peer, uint16_t port);
/* Search word keys on the DHT: look one up now; announce us under one (at most every 15 min). */
void session_dht_lookup(struct session *s, const uint8_t key[20]);
void session_dht_announce(struct session *s, const uint8_t key[20]);

struct search;
struct search *session_search(struct session *s);
/* Every connection, attached or not (the search asks those that speak p2p_search). */
struct peer *const *session_peers(const struct session *s, size_t *n);
/* 1 if a is one of our listen addresses (a search must not dial itself). */
int session_is_own_addr(const struct session *s, const struct netaddr *a);
/* Bound listen addresses, for status. */
json_t *session_listen_json(const struct session *s);

#endif
