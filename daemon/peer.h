/* peer.h: one peer connection: connect, handshake, message framing, timeouts, send queue. */
#ifndef P2P_PEER_H
#define P2P_PEER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct peer;
struct session;
struct transfer;
struct netaddr;
struct bitfield;

/*
 * A peer belongs to one transfer once its handshake names the torrent. The
 * peer parses and frames; the transfer decides (what to request, whom to
 * serve). Either side may close it; it is freed at the end of its own
 * callback, never under a caller's feet.
 */

/* Dials addr for the transfer. NULL (logged) if the socket can't be made. */
struct peer *peer_connect(struct session *s, struct transfer *tr, const struct netaddr *addr);
/* Takes an accepted socket; the handshake will say which torrent it wants. */
struct peer *peer_accept(struct session *s, int fd, const struct netaddr *addr);
/* Closes it soon (at the end of the current callback); reason goes to the log. */
void peer_close(struct peer *p, const char *reason);
/* Frees at once: only for teardown paths where no callback of p is running. */
void peer_free(struct peer *p);

uint32_t peer_num(const struct peer *p);
const struct netaddr *peer_addr(const struct peer *p);
const char *peer_addr_str(const struct peer *p);
const struct bitfield *peer_has(const struct peer *p);
int peer_is_seed(const struct peer *p);
int peer_is_active(const struct peer *p);	/* handshake done, not closing */
int peer_fast(const struct peer *p);
int peer_choking_us(const struct peer *p);
int peer_interested_in_us(const struct peer *p);
int peer_am_choking(const struct peer *p);
int peer_am_interested(const struct peer *p);
int peer_snubbed(const struct peer *p);
void peer_set_snubbed(struct peer *p, int snubbed);
/* Max outstanding requests the peer accepts (its BEP 10 reqq, or a default). */
uint32_t peer_reqq(const struct peer *p);
double peer_down_rate(struct peer *p, double now);
double peer_up_rate(struct peer *p, double now);
/* Bytes queued for sending: the transfer tops it up below the low mark. */
size_t peer_send_queued(const struct peer *p);
#define PEER_SEND_LOW (1024u * 1024)
/* The allowed-fast set the peer gave us (BEP 6), as a bitfield; may be NULL. */
const struct bitfield *peer_allowed_fast(const struct peer *p);
/* The transfer's opaque per-peer data. */
void *peer_data(const struct peer *p);
void peer_set_data(struct peer *p, void *data);

/* Sending. Each returns 0, or -1 if the peer is closing (output over its bound). */
int peer_send_choke(struct peer *p, int choke);
int peer_send_interested(struct peer *p, int interested);
int peer_send_have(struct peer *p, uint32_t piece);
int peer_send_request(struct peer *p, uint32_t piece, uint32_t begin, uint32_t len);
int peer_send_cancel(struct peer *p, uint32_t piece, uint32_t begin, uint32_t len);
int peer_send_reject(struct peer *p, uint32_t piece, uint32_t begin, uint32_t len);
int peer_send_block(struct peer *p, uint32_t piece, uint32_t begin, const void *data,
    uint32_t len);
struct extmsg_pex_peer;
/* BEP 11: the address it accepts connections on; -1 if it never said. */
int peer_listen_addr(const struct peer *p, struct netaddr *out);
/* A ut_pex message with these peers added, if the peer speaks ut_pex. */
int peer_send_pex(struct peer *p, const struct extmsg_pex_peer *added, size_t n);
/* The peer speaks p2p_search (issue 5), and a query or answer payload to send it. */
int peer_searchable(const struct peer *p);
int peer_send_search(struct peer *p, const uint8_t *payload, size_t len);
/* BEP 9 request for one piece of the info dict, if the peer speaks ut_metadata. */
int peer_send_metadata_request(struct peer *p, uint32_t piece);

/* Payload counters of the connection; the transfer adds them to the torrent's. */
uint64_t peer_downloaded(const struct peer *p);
uint64_t peer_uploaded(const struct peer *p);

/* One entry of torrent.peers. */
json_t *peer_json(struct peer *p, double now, uint32_t npieces);

#endif
