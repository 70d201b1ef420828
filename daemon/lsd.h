/* lsd.h: Local Service Discovery (BEP 14): multicast announces of our torrents, peers from the neighbours'. */
#ifndef P2P_LSD_H
#define P2P_LSD_H

#include <jansson.h>

struct lsd;
struct session;
struct listener;

/*
 * Starts LSD for each address family the listeners use: IPv4 on
 * 239.192.152.143:6771, IPv6 on [ff15::efc0:988f]:6771, through the
 * interface of the listen address (session_bind_addr), or the system's
 * choice for a wildcard. Running, non-private torrents are announced when
 * they start and every 5 minutes; peers heard of are handed to their
 * transfers. A family whose multicast set-up fails is logged once and left
 * out; the node then reports itself off. NULL only when out of memory.
 */
struct lsd *lsd_new(struct session *s, const struct listener *l);
void lsd_free(struct lsd *d);
/*
 * session.status's "lsd" object: enabled, groups, announces sent and
 * received, announces refused, peers found, last error. d may be NULL (LSD
 * turned off in the config).
 */
json_t *lsd_json(const struct lsd *d);

#endif
