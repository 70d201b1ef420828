/* netaddr.c: numeric socket addresses: parse, print, compare, compact peer forms. */
#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* Longest host part we look at: an IPv6 address plus a numeric scope. */
#define HOST_MAX 64

static void
seterr(char *err, size_t errlen, const char *msg, const char *s)
{
	char shown[HOST_MAX + 8];
	size_t i;

	if (err == NULL || errlen == 0)
		return;
	/* Echo the input, but keep control bytes out of logs. */
	for (i = 0; s[i] != '\0' && i < HOST_MAX; i++)
		shown[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	shown[i] = '\0';
	if (s[i] != '\0')
		snprintf(shown + i, sizeof(shown) - i, "...");
	snprintf(err, errlen, "'%s': %s", shown, msg);
}

/* Decimal port 0..65535, digits only: strtoul would take "+1", " 1" and "0x1". */
static int
parse_port(const char *p, uint16_t *port)
{
	unsigned long v = 0;
	size_t n;

	for (n = 0; p[n] != '\0'; n++) {
		if (p[n] < '0' || p[n] > '9' || n >= 5)
			return -1;
		v = v * 10 + (unsigned long)(p[n] - '0');
	}
	if (n == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* "fe80::1%2": only a numeric scope, since a name would need the kernel. */
static int
parse_v6(const char *host, struct sockaddr_in6 *sin6)
{
	char addr[HOST_MAX];
	const char *pct = strchr(host, '%');
	size_t alen = pct ? (size_t)(pct - host) : strlen(host);
	unsigned long scope = 0;

	if (alen >= sizeof(addr))
		return -1;
	memcpy(addr, host, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1)
		return -1;
	if (pct != NULL) {
		const char *d = pct + 1;

		if (*d == '\0' || strlen(d) > 9)
			return -1;
		for (; *d != '\0'; d++) {
			if (*d < '0' || *d > '9')
				return -1;
			scope = scope * 10 + (unsigned long)(*d - '0');
		}
	}
	sin6->sin6_scope_id = (uint32_t)scope;
	return 0;
}

static void
set_v4(struct netaddr *out, const struct in_addr *ia, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;

	memset(out, 0, sizeof(*out));
	sin->sin_family = AF_INET;
	sin->sin_addr = *ia;
	sin->sin_port = htons(port);
	out->len = sizeof(*sin);
}

int
netaddr_parse(const char *s, struct netaddr *out, char *err, size_t errlen)
{
	char host[HOST_MAX];
	const char *colon, *portstr;
	size_t hlen;
	uint16_t port;

	if (s == NULL || *s == '\0') {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "empty address (expected HOST:PORT)");
		return -1;
	}
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL) {
			seterr(err, errlen, "missing ']' after IPv6 address", s);
			return -1;
		}
		if (close[1] != ':') {
			seterr(err, errlen, "missing port after ']' "
			    "(expected [IPV6]:PORT)", s);
			return -1;
		}
		hlen = (size_t)(close - (s + 1));
		if (hlen == 0 || hlen >= sizeof(host)) {
			seterr(err, errlen, "not a numeric IPv6 address", s);
			return -1;
		}
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		portstr = close + 2;
	} else {
		if ((colon = strrchr(s, ':')) == NULL) {
			seterr(err, errlen, "missing port (expected HOST:PORT)",
			    s);
			return -1;
		}
		hlen = (size_t)(colon - s);
		if (memchr(s, ':', hlen) != NULL) {
			seterr(err, errlen, "an IPv6 address needs brackets, "
			    "as in [::1]:6881", s);
			return -1;
		}
		if (hlen == 0 || hlen >= sizeof(host)) {
			seterr(err, errlen, "not a numeric IPv4 address", s);
			return -1;
		}
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		portstr = colon + 1;
	}
	if (parse_port(portstr, &port) == -1) {
		seterr(err, errlen, "port must be a number from 0 to 65535", s);
		return -1;
	}

	if (s[0] == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
		struct sockaddr_in6 tmp;

		memset(&tmp, 0, sizeof(tmp));
		if (parse_v6(host, &tmp) == -1) {
			seterr(err, errlen, "not a numeric IPv6 address "
			    "(names are not looked up)", s);
			return -1;
		}
		memset(out, 0, sizeof(*out));
		*sin6 = tmp;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		out->len = sizeof(*sin6);
	} else {
		struct in_addr ia;

		if (strcmp(host, "*") == 0)
			ia.s_addr = htonl(INADDR_ANY);
		else if (inet_pton(AF_INET, host, &ia) != 1) {
			seterr(err, errlen, "not a numeric IPv4 address "
			    "(names are not looked up)", s);
			return -1;
		}
		set_v4(out, &ia, port);
	}
	return 0;
}

const char *
netaddr_format(const struct netaddr *a, char *out, size_t n)
{
	char host[INET6_ADDRSTRLEN];

	if (n == 0)
		return out;
	switch (netaddr_family(a)) {
	case AF_INET: {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(out, n, "%s:%u", host, ntohs(sin->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *sin6 =
		    (const struct sockaddr_in6 *)&a->ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		if (sin6->sin6_scope_id != 0)
			snprintf(out, n, "[%s%%%u]:%u", host,
			    (unsigned)sin6->sin6_scope_id,
			    ntohs(sin6->sin6_port));
		else
			snprintf(out, n, "[%s]:%u", host,
			    ntohs(sin6->sin6_port));
		break;
	}
	default:
		snprintf(out, n, "(no address)");
		break;
	}
	return out;
}

int
netaddr_family(const struct netaddr *a)
{
	return a->ss.ss_family;
}

uint16_t
netaddr_port(const struct netaddr *a)
{
	switch (netaddr_family(a)) {
	case AF_INET:
		return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	case AF_INET6:
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	default:
		return 0;
	}
}

void
netaddr_set_port(struct netaddr *a, uint16_t port)
{
	switch (netaddr_family(a)) {
	case AF_INET:
		((struct sockaddr_in *)&a->ss)->sin_port = htons(port);
		break;
	case AF_INET6:
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons(port);
		break;
	}
}

/*
 * The IPv4 address behind a, also when a is an IPv4-mapped IPv6 address
 * (::ffff:1.2.3.4), which is how a dual-stack [::] listener sees IPv4 peers:
 * the same peer must compare equal whichever socket it came in on.
 */
static int
v4_of(const struct netaddr *a, struct in_addr *ia)
{
	const struct sockaddr_in6 *sin6;

	if (netaddr_family(a) == AF_INET) {
		*ia = ((const struct sockaddr_in *)&a->ss)->sin_addr;
		return 1;
	}
	if (netaddr_family(a) != AF_INET6)
		return 0;
	sin6 = (const struct sockaddr_in6 *)&a->ss;
	if (!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
		return 0;
	memcpy(&ia->s_addr, &sin6->sin6_addr.s6_addr[12], 4);
	return 1;
}

int
netaddr_same_ip(const struct netaddr *a, const struct netaddr *b)
{
	const struct sockaddr_in6 *x, *y;
	struct in_addr ia, ib;
	int va = v4_of(a, &ia), vb = v4_of(b, &ib);

	if (va || vb)
		return va && vb && ia.s_addr == ib.s_addr;
	if (netaddr_family(a) != AF_INET6 || netaddr_family(b) != AF_INET6)
		return 0;
	x = (const struct sockaddr_in6 *)&a->ss;
	y = (const struct sockaddr_in6 *)&b->ss;
	return memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0 &&
	    x->sin6_scope_id == y->sin6_scope_id;
}

int
netaddr_equal(const struct netaddr *a, const struct netaddr *b)
{
	return netaddr_same_ip(a, b) && netaddr_port(a) == netaddr_port(b);
}

int
netaddr_is_loopback(const struct netaddr *a)
{
	struct in_addr ia;

	if (v4_of(a, &ia))
		return (ntohl(ia.s_addr) >> 24) == 127;	/* 127.0.0.0/8 */
	if (netaddr_family(a) == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(
		    &((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
	return 0;
}

int
netaddr_from_sockaddr(struct netaddr *a, const struct sockaddr *sa, socklen_t len)
{
	size_t need;

	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET)
		need = sizeof(struct sockaddr_in);
	else if (sa->sa_family == AF_INET6)
		need = sizeof(struct sockaddr_in6);
	else
		return -1;
	if ((size_t)len < need)
		return -1;
	memset(a, 0, sizeof(*a));
	memcpy(&a->ss, sa, need);
	a->len = (socklen_t)need;
	return 0;
}

int
netaddr_from_compact(struct netaddr *a, const uint8_t *p, size_t len)
{
	uint16_t port;

	if (len == 6) {
		struct in_addr ia;

		memcpy(&ia.s_addr, p, 4);
		port = (uint16_t)((p[4] << 8) | p[5]);
		set_v4(a, &ia, port);
		return 0;
	}
	if (len == 18) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;

		memset(a, 0, sizeof(*a));
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, p, 16);
		sin6->sin6_port = htons((uint16_t)((p[16] << 8) | p[17]));
		a->len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

int
netaddr_to_compact(const struct netaddr *a, uint8_t *out, size_t n)
{
	uint16_t port = netaddr_port(a);

	switch (netaddr_family(a)) {
	case AF_INET:
		if (n < 6)
			return -1;
		memcpy(out, &((const struct sockaddr_in *)&a->ss)->sin_addr, 4);
		out[4] = (uint8_t)(port >> 8);
		out[5] = (uint8_t)port;
		return 6;
	case AF_INET6:
		if (n < 18)
			return -1;
		memcpy(out, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr,
		    16);
		out[16] = (uint8_t)(port >> 8);
		out[17] = (uint8_t)port;
		return 18;
	default:
		return -1;
	}
}
