/* listener.h: TCP listening sockets for incoming peer connections (IPv4 and IPv6). */
#ifndef P2P_LISTENER_H
#define P2P_LISTENER_H

#include <stddef.h>

struct listener;
struct session;
struct netaddr;

/*
 * Binds every address ("0.0.0.0:6881", "[::]:6881", "127.0.0.1:0"...). An
 * IPv6 wildcard that the host cannot provide is skipped with a warning; any
 * other failure is an error (err says which address and why).
 */
struct listener *listener_new(struct session *s, char *const *addrs, size_t n,
    char *err, size_t errlen);
void listener_free(struct listener *l);
size_t listener_count(const struct listener *l);
/* The address as bound (port 0 resolved to the port the system chose). */
const struct netaddr *listener_addr(const struct listener *l, size_t i);

#endif
