/* search_conn.h: a search-only peer connection: BT handshake on a word key, BEP 10, p2p_search. */
#ifndef P2P_SEARCH_CONN_H
#define P2P_SEARCH_CONN_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

struct search_conn;
struct search_msg;
struct netaddr;
struct buf;

/* Our BEP 10 id for p2p_search, on search connections and torrent connections alike. */
#define SEARCH_EXT_ID 3

struct search_conn_cb {
	/* Dialled connections: the peer's answer (already parsed and bounded). */
	void (*results)(void *ctx, struct search_conn *c, const struct netaddr *from,
	    const struct search_msg *m);
	/*
	 * Accepted connections: a query. Append the answer's payload to reply and
	 * return 0, or return -1 to drop the peer (it asks too often).
	 */
	int (*query)(void *ctx, const struct netaddr *from, const struct search_msg *m,
	    struct buf *reply);
	/* The connection is over (answered, refused, timed out); c is freed after this. */
	void (*closed)(void *ctx, struct search_conn *c, const char *why);
	void *ctx;
};

/*
 * Dials to and asks query (already normalised) under id qid. The handshake
 * names key, the DHT word key under which the peer announced itself, so a
 * peer accepts only searches for words it shares. NULL if the socket fails.
 */
struct search_conn *search_conn_dial(struct ev_loop *loop, const struct netaddr *to,
    const struct netaddr *bind_addr, const uint8_t key[20], const uint8_t peer_id[20],
    uint32_t qid, const char *query, const struct search_conn_cb *cb);
/*
 * Takes over an incoming connection whose handshake named key (one of our
 * word keys); in holds what was read so far, starting with the handshake.
 */
struct search_conn *search_conn_accept(struct ev_loop *loop, int fd, const struct netaddr *from,
    const uint8_t *in, size_t inlen, const uint8_t key[20], const uint8_t peer_id[20],
    const struct search_conn_cb *cb);
/* Closes at once without calling closed. */
void search_conn_free(struct search_conn *c);

#endif
