/* search.h: finding files by name: the local index, connected peers, and peers found by DHT word keys. */
#ifndef P2P_SEARCH_H
#define P2P_SEARCH_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct search;
struct session;
struct netaddr;
struct buf;
struct peer;

/* answer: whether we answer other peers' searches (config search_answer). */
struct search *search_new(struct session *s, int answer);
void search_free(struct search *se);
/* Keeps the word keys we announce up to date and announces them, a few a tick. */
void search_tick(struct search *se, double now);

/* A torrent was added, removed or changed state: the word keys are rebuilt soon. */
void search_torrents_changed(struct search *se);
/* 1 if key is a word key we announce: an incoming handshake naming it is a search (se may be NULL). */
int search_key_known(const struct search *se, const uint8_t key[20]);
/* Takes over such a connection (fd and the bytes already read); 0, or -1 to refuse it. */
int search_accept(struct search *se, int fd, const struct netaddr *from, const uint8_t *in,
    size_t inlen, const uint8_t key[20]);
/* A DHT lookup for one of our search keys found a peer. */
void search_dht_peer(struct search *se, const uint8_t key[20], const struct netaddr *a);
/* Whether torrent peers are offered p2p_search in the BEP 10 handshake. */
int search_answering(const struct search *se);
/*
 * A p2p_search message from a peer of a torrent connection. A query is
 * answered into reply (returns 1: send it); an answer to one of our searches
 * is merged (returns 0); -1 means the peer floods or lies: drop it.
 */
int search_peer_message(struct search *se, const struct netaddr *from, const uint8_t *p,
    size_t len, struct buf *reply);

/*
 * search.start: local results now (returned), network ones as search.result
 * events until timeout seconds, then search.done. local: no network.
 * NULL with an RPC error code and message.
 */
json_t *search_start(struct search *se, const char *query, int local, double timeout,
    int *code, char *err, size_t errlen);
/* search.results: the results of search id (0: the latest), ranked. */
json_t *search_results(struct search *se, int64_t id, int *code, char *err, size_t errlen);
/*
 * For search.get: the result numbered n of search id (0: latest), or the
 * result with that info-hash in any kept search. Fills info_hash, name and
 * up to max source addresses; returns the source count, or -1 with an error.
 */
int search_pick(struct search *se, int64_t id, int64_t n, const uint8_t *info_hash,
    uint8_t ih_out[20], char *name, size_t namelen, struct netaddr *sources, size_t max,
    int *code, char *err, size_t errlen);

#endif
