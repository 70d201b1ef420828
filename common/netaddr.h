/* netaddr.h: socket address parsing and printing, compact peer formats (BEP 23, BEP 7). */
#ifndef P2P_NETADDR_H
#define P2P_NETADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct netaddr {
	struct sockaddr_storage ss;
	socklen_t len;
};

#define NETADDR_STRLEN 64	/* enough for "[v6%scope]:65535" */

/*
 * Parses a numeric "1.2.3.4:6881", "[::1]:6881", "*:6881" (any IPv4) or
 * "[::]:6881". No DNS. The port is required (0 allowed: pick a free port).
 * Returns 0, or -1 with a message in err.
 */
int netaddr_parse(const char *s, struct netaddr *out, char *err, size_t errlen);
/* "1.2.3.4:6881" or "[::1]:6881" into out; returns out. */
const char *netaddr_format(const struct netaddr *a, char *out, size_t n);
int netaddr_family(const struct netaddr *a);
uint16_t netaddr_port(const struct netaddr *a);
void netaddr_set_port(struct netaddr *a, uint16_t port);
int netaddr_equal(const struct netaddr *a, const struct netaddr *b);
/* Same host, ignoring the port. */
int netaddr_same_ip(const struct netaddr *a, const struct netaddr *b);
int netaddr_is_loopback(const struct netaddr *a);
/* From a kernel sockaddr (e.g. accept or getsockname); -1 if not INET/INET6. */
int netaddr_from_sockaddr(struct netaddr *a, const struct sockaddr *sa, socklen_t len);

/* Compact forms: 6 bytes (IPv4 + port) and 18 bytes (IPv6 + port), network order. */
int netaddr_from_compact(struct netaddr *a, const uint8_t *p, size_t len);
/* Writes 6 or 18 bytes into out (size n); returns bytes written or -1. */
int netaddr_to_compact(const struct netaddr *a, uint8_t *out, size_t n);

#endif
