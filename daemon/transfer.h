/* transfer.h: a torrent's swarm: peers, requests, piece assembly, verification, uploads. */
#ifndef P2P_TRANSFER_H
#define P2P_TRANSFER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct transfer;
struct torrent;
struct peer;
struct session;
struct netaddr;
struct bitfield;
struct storage;
struct metainfo;

/*
 * Exists while its torrent is downloading or seeding. have is the torrent's
 * verified set (read and updated through torrent callbacks); storage and mi
 * belong to the torrent and outlive the transfer.
 */
struct transfer *transfer_new(struct session *s, struct torrent *t);
/* Closes every peer and drops unfinished pieces; waits for nothing. */
void transfer_free(struct transfer *tr);
/* Writes out what is verified and syncs it, then calls torrent_synced. */
void transfer_flush(struct transfer *tr);

/* Dials a peer (peer.add, and later trackers/DHT). 0, or an RPC error code with err. */
int transfer_connect(struct transfer *tr, const struct netaddr *a, char *err, size_t errlen);
/* An address found by the DHT, local discovery or a magnet's metadata transfer: dialled now if needed. */
void transfer_add_peer(struct transfer *tr, const struct netaddr *a);
/* Addresses worth dialling again: connected peers' listen addresses, then known ones. */
size_t transfer_known(const struct transfer *tr, struct netaddr *out, size_t max);
size_t transfer_peer_count(const struct transfer *tr);
/* When it was created (loop time): discovery is keener on a young transfer. */
double transfer_started(const struct transfer *tr);
json_t *transfer_peers_json(struct transfer *tr);
/* Status of each tracker it announces to (torrent.trackers). */
json_t *transfer_trackers_json(struct transfer *tr);
double transfer_down_rate(struct transfer *tr);
double transfer_up_rate(struct transfer *tr);

/* Called by peer.c. */
int transfer_attach(struct transfer *tr, struct peer *p);	/* 0, or -1 to refuse */
void transfer_peer_ready(struct transfer *tr, struct peer *p);
void transfer_peer_gone(struct transfer *tr, struct peer *p);
void transfer_peer_have(struct transfer *tr, struct peer *p, uint32_t piece);
void transfer_peer_bitfield(struct transfer *tr, struct peer *p);
/* The peer's piece set is about to be replaced: drop it from availability. */
void transfer_peer_forget_pieces(struct transfer *tr, struct peer *p);
void transfer_peer_choke(struct transfer *tr, struct peer *p, int choked);
void transfer_peer_interest(struct transfer *tr, struct peer *p, int interested);
void transfer_peer_request(struct transfer *tr, struct peer *p, uint32_t piece,
    uint32_t begin, uint32_t len);
void transfer_peer_cancel(struct transfer *tr, struct peer *p, uint32_t piece,
    uint32_t begin, uint32_t len);
void transfer_peer_reject(struct transfer *tr, struct peer *p, uint32_t piece,
    uint32_t begin, uint32_t len);
void transfer_peer_block(struct transfer *tr, struct peer *p, uint32_t piece,
    uint32_t begin, const uint8_t *data, uint32_t len);
void transfer_peer_allowed_fast(struct transfer *tr, struct peer *p, uint32_t piece);
/* The peer's send queue fell below PEER_SEND_LOW: serve more of its requests. */
void transfer_peer_writable(struct transfer *tr, struct peer *p);
/* BEP 10 handshake seen: a magnet asks it for the info dict if it has one. */
void transfer_peer_ext(struct transfer *tr, struct peer *p, int has_ut_metadata,
    int64_t metadata_size);
/* A ut_metadata data piece arrived (already checked against the size we expect). */
void transfer_peer_metadata(struct transfer *tr, struct peer *p, uint32_t piece,
    const uint8_t *data, size_t len);
/* The info dict size a magnet transfer is fetching; -1 if none (or not a magnet). */
int64_t transfer_metadata_size(const struct transfer *tr);
/* A peer told us (BEP 11) of another peer. */
void transfer_peer_pex(struct transfer *tr, struct peer *p, const struct netaddr *a);
/* Periodic work (requests timing out, choking rounds); called every second. */
void transfer_tick(struct transfer *tr, double now);

struct torrent *transfer_torrent(const struct transfer *tr);
const struct bitfield *transfer_have(const struct transfer *tr);
uint32_t transfer_piece_count(const struct transfer *tr);
const uint8_t *transfer_info_hash(const struct transfer *tr);

#endif
