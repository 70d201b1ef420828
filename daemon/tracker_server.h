/* tracker_server.h: the built-in BitTorrent tracker (HTTP and UDP announce and scrape). */
#ifndef P2P_TRACKER_SERVER_H
#define P2P_TRACKER_SERVER_H

#include <jansson.h>
#include <stddef.h>

struct tracker_server;
struct session;

/*
 * Serves HTTP (BEP 3, 23, 48) on TCP and BEP 15 on UDP, both on addr
 * ("127.0.0.1:6969"; port 0 picks one, the same for both). Swarms and peers
 * are bounded, peers expire when they stop announcing. NULL with err set
 * if the sockets can't be had.
 */
struct tracker_server *tracker_server_new(struct session *s, const char *addr,
    char *err, size_t errlen);
void tracker_server_free(struct tracker_server *ts);
/* {"listen": "...", "swarms": N, "peers": N, "announces": N}. */
json_t *tracker_server_json(const struct tracker_server *ts);

#endif
