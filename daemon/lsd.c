/* lsd.c: the BEP 14 node: multicast sockets per address family, announce timing, rate limits on what we hear. */
#include "lsd.h"

#include <errno.h>
#include <ev.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "listener.h"
#include "log.h"
#include "lsd_msg.h"
#include "netaddr.h"
#include "session.h"
#include "sha.h"
#include "torrent.h"
#include "transfer.h"

#define LSD_TICK 1.0		/* how soon a started torrent is announced */
#define LSD_INTERVAL 300.0	/* BEP 14: "every 5 minutes" while in the swarm */
#define LSD_MIN_GAP 60.0	/* BEP 14: "no more than 1 announce per minute", per torrent */
#define LSD_RESCAN 0.25		/* torrent table looked at again on an unknown info-hash */
#define LSD_SENDS_PER_TICK 1	/* datagrams per family per tick: 25 torrents a second */
#define LSD_READS_PER_WAKE 32	/* datagrams read before the loop gets a turn */
/* Each source address may send LSD_SOURCE_BURST datagrams, then one every 2 s. */
#define LSD_SOURCES 256
#define LSD_SOURCE_BURST 30.0
#define LSD_SOURCE_RATE 0.5
/* All sources together: a spoofed flood costs at most this much parsing. */
#define LSD_GLOBAL_BURST 200.0
#define LSD_GLOBAL_RATE 50.0
/* Torrents remembered per source, to tell a newcomer from a regular. */
#define LSD_HEARD 16

/* One torrent we announce: BEP 14's timing is kept per info-hash. */
struct entry {
	uint8_t ih[20];
	double last_sent;	/* < 0: never */
	double next_due;
	unsigned seen;		/* scan generation that last found it running */
	int running;
};

/* A neighbour, by IP: its token bucket and the torrents it announced lately. */
struct source {
	struct netaddr ip;
	double tokens;
	double last;
	uint32_t heard[LSD_HEARD];	/* first 4 bytes of info-hashes, a ring */
	unsigned nheard;
	int used;
};

/* One address family: a socket that receives the group, one that sends to it. */
struct lsock {
	struct lsd *d;
	int family;
	int rfd, sfd;
	uint16_t port;		/* our TCP listen port, the Port header */
	const char *host;	/* the Host header: the group */
	struct netaddr group;
	char via[NETADDR_STRLEN + IF_NAMESIZE + 8];	/* for logs: "127.0.0.2 (lo)" */
	ev_io io;
};

struct lsd {
	struct session *s;
	struct lsock socks[2];
	size_t nsocks;
	char cookie[17];	/* 16 hex digits: our own announces come back by loopback */
	ev_timer tick;
	struct entry *e;	/* sorted by info-hash */
	size_t ne, cape;
	unsigned gen;
	double scanned_at;
	struct source src[LSD_SOURCES];
	double gtokens, glast;
	uint64_t sent, hashes_sent, received, refused, dropped, peers;
	char last_error[256];
};

static void
set_error(struct lsd *d, const char *msg)
{
	/* A failure that repeats every tick is logged when it starts, not every time. */
	if (strcmp(d->last_error, msg) != 0)
		log_warnx("lsd: %s", msg);
	else
		log_debug("lsd: %s", msg);
	snprintf(d->last_error, sizeof(d->last_error), "%s", msg);
}

/* --- the torrents we announce --- */

static struct entry *
entry_find(struct lsd *d, const uint8_t ih[20], size_t *at)
{
	size_t lo = 0, hi = d->ne;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(d->e[mid].ih, ih, 20);
		if (c == 0)
			return &d->e[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (at)
		*at = lo;
	return NULL;
}

static struct entry *
entry_get(struct lsd *d, const uint8_t ih[20], double now)
{
	struct entry *e;
	size_t at = 0;

	if ((e = entry_find(d, ih, &at)) != NULL)
		return e;
	if (d->ne == d->cape) {
		size_t ncap = d->cape ? d->cape * 2 : 64;
		struct entry *v = realloc(d->e, ncap * sizeof(*v));
		if (v == NULL)
			return NULL;
		d->e = v;
		d->cape = ncap;
	}
	memmove(&d->e[at + 1], &d->e[at], (d->ne - at) * sizeof(*d->e));
	d->ne++;
	e = &d->e[at];
	memset(e, 0, sizeof(*e));
	memcpy(e->ih, ih, 20);
	e->last_sent = -1;
	e->next_due = now;
	return e;
}

/*
 * Finds the running, non-private torrents (BEP 27: a private torrent gets
 * its peers from its trackers only). One that just started is due now, or a
 * minute after its last announce if it ran shortly before.
 */
static void
scan(struct lsd *d, double now)
{
	size_t j = 0;

	d->gen++;
	d->scanned_at = now;
	for (struct torrent *t = session_torrent_first(d->s); t;
	    t = session_torrent_next(d->s, t)) {
		struct entry *e;

		if (torrent_transfer(t) == NULL || torrent_is_private(t))
			continue;
		if ((e = entry_get(d, torrent_info_hash(t), now)) == NULL)
			continue;	/* out of memory: not announced this time */
		if (!e->running) {
			e->running = 1;
			if (e->last_sent >= 0 && e->last_sent + LSD_MIN_GAP > now)
				e->next_due = e->last_sent + LSD_MIN_GAP;
			else
				e->next_due = now;
		}
		e->seen = d->gen;
	}
	/* Stopped ones are kept until their last announce is a minute old. */
	for (size_t i = 0; i < d->ne; i++) {
		struct entry *e = &d->e[i];
		if (e->seen != d->gen) {
			e->running = 0;
			if (e->last_sent < 0 || now - e->last_sent >= LSD_MIN_GAP)
				continue;
		}
		d->e[j++] = *e;
	}
	d->ne = j;
}

/* --- sending --- */

static int
send_one(struct lsd *d, struct lsock *ls, const uint8_t (*hashes)[20], size_t n)
{
	char msg[200];
	struct buf b;
	int ok;

	buf_init(&b, LSD_MSG_MAX_LEN);
	if (lsd_msg_build(&b, ls->host, ls->port, hashes, n, d->cookie) == -1) {
		buf_free(&b);
		set_error(d, "cannot build an announce");
		return -1;
	}
	ok = send(ls->sfd, b.data, b.len, MSG_NOSIGNAL) == (ssize_t)b.len;
	if (!ok) {
		snprintf(msg, sizeof(msg), "send to %s via %s: %s", ls->host, ls->via,
		    errno ? strerror(errno) : "short write");
		set_error(d, msg);
	} else {
		d->sent++;
		d->hashes_sent += n;
		log_debug("lsd: announced %zu torrents to %s via %s", n, ls->host, ls->via);
	}
	buf_free(&b);
	return ok ? 0 : -1;
}

/* Due torrents go out batched, a few datagrams a tick, on every family. */
static void
send_due(struct lsd *d, double now)
{
	uint8_t hashes[LSD_MSG_MAX_HASHES][20];
	size_t idx[LSD_MSG_MAX_HASHES];
	size_t cap = LSD_MSG_MAX_HASHES, next = 0;

	for (size_t k = 0; k < d->nsocks; k++) {
		size_t m = lsd_msg_max_hashes(d->socks[k].host, d->cookie);
		if (m < cap)
			cap = m;
	}
	for (int round = 0; round < LSD_SENDS_PER_TICK && cap > 0; round++) {
		size_t n = 0;
		int ok = 0;

		for (; next < d->ne && n < cap; next++) {
			if (d->e[next].running && d->e[next].next_due <= now) {
				memcpy(hashes[n], d->e[next].ih, 20);
				idx[n++] = next;
			}
		}
		if (n == 0)
			return;
		for (size_t k = 0; k < d->nsocks; k++)
			if (send_one(d, &d->socks[k], (const uint8_t (*)[20])hashes, n) == 0)
				ok = 1;
		/* A failed send is tried again in a minute, not every tick. */
		for (size_t i = 0; i < n; i++) {
			d->e[idx[i]].last_sent = now;
			d->e[idx[i]].next_due = now + (ok ? LSD_INTERVAL : LSD_MIN_GAP);
		}
	}
}

static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lsd *d = w->data;
	double now = ev_now(loop);

	(void)revents;
	if (session_stopping(d->s))
		return;
	scan(d, now);
	send_due(d, now);
}

/* --- receiving --- */

static int
bucket_take(double *tokens, double *last, double burst, double rate, double now)
{
	*tokens += (now - *last) * rate;
	if (*tokens > burst)
		*tokens = burst;
	*last = now;
	if (*tokens < 1.0)
		return 0;
	*tokens -= 1.0;
	return 1;
}

/* The table entry of that IP; a full table gives up its longest-silent one. */
static struct source *
source_get(struct lsd *d, const struct netaddr *ip, double now)
{
	struct source *free_one = NULL, *oldest = NULL;

	for (size_t i = 0; i < LSD_SOURCES; i++) {
		struct source *x = &d->src[i];
		if (!x->used) {
			if (free_one == NULL)
				free_one = x;
			continue;
		}
		if (netaddr_same_ip(&x->ip, ip))
			return x;
		if (oldest == NULL || x->last < oldest->last)
			oldest = x;
	}
	if (free_one == NULL)
		free_one = oldest;
	memset(free_one, 0, sizeof(*free_one));
	free_one->used = 1;
	free_one->ip = *ip;
	netaddr_set_port(&free_one->ip, 0);
	free_one->tokens = LSD_SOURCE_BURST;
	free_one->last = now;
	return free_one;
}

/* 1 the first time this source names that torrent lately (then it is remembered). */
static int
source_new_torrent(struct source *x, const uint8_t ih[20])
{
	uint32_t key;
	unsigned n = x->nheard < LSD_HEARD ? x->nheard : LSD_HEARD;

	memcpy(&key, ih, sizeof(key));
	for (unsigned i = 0; i < n; i++)
		if (x->heard[i] == key)
			return 0;
	x->heard[x->nheard % LSD_HEARD] = key;
	x->nheard++;
	return 1;
}

static void
handle(struct lsd *d, const uint8_t *pkt, size_t len, const struct netaddr *from,
    double now)
{
	struct lsd_msg m;
	struct source *x;
	struct netaddr peer;
	char err[160], as[NETADDR_STRLEN];

	if (!bucket_take(&d->gtokens, &d->glast, LSD_GLOBAL_BURST, LSD_GLOBAL_RATE, now)) {
		d->dropped++;
		return;
	}
	x = source_get(d, from, now);
	if (!bucket_take(&x->tokens, &x->last, LSD_SOURCE_BURST, LSD_SOURCE_RATE, now)) {
		d->dropped++;
		log_debug("lsd: %s sends too often; announce dropped",
		    netaddr_format(from, as, sizeof(as)));
		return;
	}
	if (lsd_msg_parse(pkt, len, &m, err, sizeof(err)) == -1) {
		d->refused++;
		log_debug("lsd: refused %zu bytes from %s: %s", len,
		    netaddr_format(from, as, sizeof(as)), err);
		return;
	}
	if (m.has_cookie && strcmp(m.cookie, d->cookie) == 0)
		return;		/* our own, back through multicast loopback */
	d->received++;
	/* BEP 14: the peer is at the datagram's source address, on its Port. */
	peer = *from;
	netaddr_set_port(&peer, m.port);
	netaddr_format(&peer, as, sizeof(as));
	for (size_t i = 0; i < m.n; i++) {
		struct entry *e = entry_find(d, m.hashes[i], NULL);
		int newcomer = source_new_torrent(x, m.hashes[i]);
		struct torrent *t;
		struct transfer *tr;

		/*
		 * A torrent that started since the last tick is not in the table
		 * yet, and its peer would not announce again for 5 minutes: look
		 * again, but not more often than LSD_RESCAN however many come.
		 */
		if (e == NULL && now - d->scanned_at >= LSD_RESCAN) {
			scan(d, now);
			e = entry_find(d, m.hashes[i], NULL);
		}
		if (e == NULL || !e->running)
			continue;
		t = session_torrent_by_hash(d->s, m.hashes[i]);
		if (t == NULL || torrent_is_private(t) || (tr = torrent_transfer(t)) == NULL)
			continue;
		transfer_add_peer(tr, &peer);
		d->peers++;
		if (!newcomer) {
			log_debug("lsd: %s is in torrent %s", as, torrent_hex(t));
			continue;
		}
		log_info("lsd: found peer %s for torrent %s", as, torrent_hex(t));
		/*
		 * A newcomer would otherwise wait up to 5 minutes to hear of us
		 * (seeds do not dial): answer once, within BEP 14's minute. Only
		 * a newcomer, so two nodes never keep answering each other.
		 */
		if (e->next_due > e->last_sent + LSD_MIN_GAP)
			e->next_due = e->last_sent + LSD_MIN_GAP > now ?
			    e->last_sent + LSD_MIN_GAP : now;
	}
}

static void
read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct lsock *ls = w->data;

	(void)revents;
	for (int i = 0; i < LSD_READS_PER_WAKE; i++) {
		/* One byte more than the limit, so an oversized datagram is seen as one. */
		uint8_t pkt[LSD_MSG_MAX_LEN + 1];
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct netaddr from;
		ssize_t n = recvfrom(ls->rfd, pkt, sizeof(pkt), 0, (struct sockaddr *)&ss, &sl);

		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("lsd: receive on %s", ls->host);
			return;
		}
		if (netaddr_from_sockaddr(&from, (struct sockaddr *)&ss, sl) == -1)
			continue;
		handle(ls->d, pkt, (size_t)n, &from, ev_now(loop));
	}
}

/* --- set-up --- */

/*
 * The interface holding a (or the subnet a is in, as 127.0.0.2 is in lo's
 * 127.0.0.1/8): its index, name and whether it has the MULTICAST flag.
 * 0 if found, 1 if no interface matches, -1 if the list cannot be read.
 */
static int
iface_of(const struct netaddr *a, unsigned *ifindex, char *name, int *multicast)
{
	struct ifaddrs *ifs, *best = NULL;
	int fam = netaddr_family(a);

	if (getifaddrs(&ifs) == -1)
		return -1;
	for (struct ifaddrs *i = ifs; i != NULL; i = i->ifa_next) {
		struct netaddr x;
		socklen_t len = fam == AF_INET ? sizeof(struct sockaddr_in) :
		    sizeof(struct sockaddr_in6);

		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != fam ||
		    netaddr_from_sockaddr(&x, i->ifa_addr, len) == -1)
			continue;
		if (netaddr_same_ip(&x, a)) {
			best = i;
			break;
		}
		if (fam == AF_INET && best == NULL && i->ifa_netmask != NULL) {
			uint32_t ip = ((const struct sockaddr_in *)(const void *)i->ifa_addr)->sin_addr.s_addr;
			uint32_t mask = ((const struct sockaddr_in *)(const void *)i->ifa_netmask)->sin_addr.s_addr;
			uint32_t want = ((const struct sockaddr_in *)(const void *)&a->ss)->sin_addr.s_addr;
			if (mask != 0 && (ip & mask) == (want & mask))
				best = i;
		}
	}
	if (best != NULL) {
		*ifindex = if_nametoindex(best->ifa_name);
		snprintf(name, IF_NAMESIZE, "%s", best->ifa_name);
		*multicast = (best->ifa_flags & IFF_MULTICAST) != 0;
	}
	freeifaddrs(ifs);
	return best != NULL ? 0 : 1;
}

static int
sopt(int fd, int level, int opt, const void *v, socklen_t len, const char *what,
    char *err, size_t errlen)
{
	if (setsockopt(fd, level, opt, v, len) == 0)
		return 0;
	snprintf(err, errlen, "%s: %s", what, strerror(errno));
	return -1;
}

/* Joins the group on the interface and points the sending socket out of it. */
static int
sock_options(struct lsock *ls, const struct netaddr *bind_to, unsigned ifindex, char *err,
    size_t errlen)
{
	int one = 1, ttl = 1;

	if (ls->family == AF_INET) {
		struct ip_mreqn mr;

		memset(&mr, 0, sizeof(mr));
		mr.imr_multiaddr = ((const struct sockaddr_in *)(const void *)&ls->group.ss)->sin_addr;
		if (bind_to)
			mr.imr_address = ((const struct sockaddr_in *)(const void *)&bind_to->ss)->sin_addr;
		mr.imr_ifindex = (int)ifindex;
#ifdef IP_MULTICAST_ALL
		{
			/* Linux would also hand us groups other sockets joined on this port. */
			int zero = 0;
			(void)setsockopt(ls->rfd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof(zero));
		}
#endif
		if (sopt(ls->rfd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr),
		    "cannot join the group", err, errlen) == -1)
			return -1;
		if (bind_to && sopt(ls->sfd, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof(mr),
		    "cannot choose the interface", err, errlen) == -1)
			return -1;
		/* BEP 14 allows more; 1 keeps announces on the local link. */
		if (sopt(ls->sfd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl),
		    "IP_MULTICAST_TTL", err, errlen) == -1 ||
		    sopt(ls->sfd, IPPROTO_IP, IP_MULTICAST_LOOP, &one, sizeof(one),
		    "IP_MULTICAST_LOOP", err, errlen) == -1)
			return -1;
		return 0;
	}
	{
		struct ipv6_mreq mr;
		int idx = (int)ifindex;

		memset(&mr, 0, sizeof(mr));
		mr.ipv6mr_multiaddr = ((const struct sockaddr_in6 *)(const void *)&ls->group.ss)->sin6_addr;
		mr.ipv6mr_interface = ifindex;
#ifdef IPV6_MULTICAST_ALL
		{
			int zero = 0;
			(void)setsockopt(ls->rfd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, &zero,
			    sizeof(zero));
		}
#endif
		if (sopt(ls->rfd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mr, sizeof(mr),
		    "cannot join the group", err, errlen) == -1)
			return -1;
		if (ifindex != 0 && sopt(ls->sfd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx,
		    sizeof(idx), "cannot choose the interface", err, errlen) == -1)
			return -1;
		if (sopt(ls->sfd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &ttl, sizeof(ttl),
		    "IPV6_MULTICAST_HOPS", err, errlen) == -1 ||
		    sopt(ls->sfd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &one, sizeof(one),
		    "IPV6_MULTICAST_LOOP", err, errlen) == -1)
			return -1;
	}
	return 0;
}

static void
sock_close(struct lsock *ls)
{
	if (ls->rfd != -1)
		close(ls->rfd);
	if (ls->sfd != -1)
		close(ls->sfd);
	ls->rfd = ls->sfd = -1;
}

/* 0 with both sockets ready, -1 with err saying why this family is off. */
static int
sock_open(struct lsd *d, struct lsock *ls, int family, uint16_t port, char *err,
    size_t errlen)
{
	const struct netaddr *bind_to = session_bind_addr(d->s, family);
	char ifname[IF_NAMESIZE] = "", as[NETADDR_STRLEN] = "";
	unsigned ifindex = 0;
	int one = 1, multicast = 1, r;

	ls->d = d;
	ls->family = family;
	ls->port = port;
	ls->rfd = ls->sfd = -1;
	ls->host = family == AF_INET ? LSD_MSG_HOST4 : LSD_MSG_HOST6;
	if (netaddr_parse(ls->host, &ls->group, err, errlen) == -1)
		return -1;
	if (bind_to == NULL) {
		snprintf(ls->via, sizeof(ls->via), "the default interface");
	} else {
		netaddr_format(bind_to, as, sizeof(as));
		/* "1.2.3.4:0" -> "1.2.3.4", "[::1]:0" -> "::1": the port means nothing here. */
		as[strlen(as) - 2] = '\0';
		if (as[0] == '[') {
			memmove(as, as + 1, strlen(as));
			as[strlen(as) - 1] = '\0';
		}
		if ((r = iface_of(bind_to, &ifindex, ifname, &multicast)) == -1) {
			snprintf(err, errlen, "cannot list the interfaces: %s", strerror(errno));
			return -1;
		}
		if (r == 1 && family == AF_INET6) {
			snprintf(err, errlen, "no interface has the listen address %s", as);
			return -1;
		}
		snprintf(ls->via, sizeof(ls->via), "%s%s%s%s", as, ifname[0] ? " (" : "",
		    ifname, ifname[0] ? ")" : "");
		if (!multicast) {
			snprintf(err, errlen, "interface %s of listen address %s has no MULTICAST "
			    "flag", ifname, as);
			return -1;
		}
	}
	if ((ls->rfd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1 ||
	    (ls->sfd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		sock_close(ls);
		return -1;
	}
	/* Several daemons (and other clients) on one host all bind 6771. */
	if (sopt(ls->rfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one), "SO_REUSEADDR", err,
	    errlen) == -1 || (family == AF_INET6 && sopt(ls->rfd, IPPROTO_IPV6, IPV6_V6ONLY,
	    &one, sizeof(one), "IPV6_V6ONLY", err, errlen) == -1)) {
		sock_close(ls);
		return -1;
	}
	/* Bound to the group itself, so unicast to port 6771 is not taken for an announce. */
	if (bind(ls->rfd, (const struct sockaddr *)&ls->group.ss, ls->group.len) == -1) {
		snprintf(err, errlen, "cannot bind %s: %s", ls->host, strerror(errno));
		sock_close(ls);
		return -1;
	}
	/* Sent from the listen address, so neighbours dial the address we listen on. */
	if (bind_to && bind(ls->sfd, (const struct sockaddr *)&bind_to->ss, bind_to->len) == -1) {
		snprintf(err, errlen, "cannot bind to %s: %s", as, strerror(errno));
		sock_close(ls);
		return -1;
	}
	if (sock_options(ls, bind_to, ifindex, err, errlen) == -1) {
		sock_close(ls);
		return -1;
	}
	/* Connecting looks up the route now: a host that cannot reach the group says so here. */
	if (connect(ls->sfd, (const struct sockaddr *)&ls->group.ss, ls->group.len) == -1) {
		snprintf(err, errlen, "cannot reach %s: %s", ls->host, strerror(errno));
		sock_close(ls);
		return -1;
	}
	return 0;
}

struct lsd *
lsd_new(struct session *s, const struct listener *l)
{
	static const int families[2] = { AF_INET, AF_INET6 };
	struct lsd *d = calloc(1, sizeof(*d));
	uint8_t rnd[8];

	if (d == NULL)
		return NULL;
	d->s = s;
	d->gtokens = LSD_GLOBAL_BURST;
	d->glast = ev_now(session_loop(s));
	/* The cookie only has to differ from the neighbours': no reason to fail a start. */
	if (sha_random(rnd, sizeof(rnd)) == -1) {
		uint64_t v = ((uint64_t)getpid() << 32) ^ (uint64_t)(ev_time() * 1e6);
		memcpy(rnd, &v, sizeof(rnd));
	}
	sha_hex(rnd, sizeof(rnd), d->cookie);
	ev_timer_init(&d->tick, tick_cb, LSD_TICK, LSD_TICK);
	d->tick.data = d;
	for (size_t f = 0; f < 2; f++) {
		struct lsock *ls = &d->socks[d->nsocks];
		const struct netaddr *la = NULL;
		char err[200], msg[300];

		/* The family's first listener gives the port we announce. */
		for (size_t i = 0; i < listener_count(l) && la == NULL; i++)
			if (netaddr_family(listener_addr(l, i)) == families[f])
				la = listener_addr(l, i);
		if (la == NULL)
			continue;
		if (sock_open(d, ls, families[f], netaddr_port(la), err, sizeof(err)) == -1) {
			snprintf(msg, sizeof(msg), "%s: %s; local service discovery over %s is off",
			    families[f] == AF_INET ? LSD_MSG_HOST4 : LSD_MSG_HOST6, err,
			    families[f] == AF_INET ? "IPv4" : "IPv6");
			set_error(d, msg);
			continue;
		}
		ev_io_init(&ls->io, read_cb, ls->rfd, EV_READ);
		ls->io.data = ls;
		ev_io_start(session_loop(s), &ls->io);
		log_info("lsd: announcing port %u to %s via %s", (unsigned)ls->port, ls->host,
		    ls->via);
		d->nsocks++;
	}
	if (d->nsocks > 0)
		ev_timer_start(session_loop(s), &d->tick);
	else if (listener_count(l) == 0)
		log_info("lsd: no listen address, nothing to announce");
	return d;
}

void
lsd_free(struct lsd *d)
{
	if (d == NULL)
		return;
	ev_timer_stop(session_loop(d->s), &d->tick);
	for (size_t i = 0; i < d->nsocks; i++) {
		ev_io_stop(session_loop(d->s), &d->socks[i].io);
		sock_close(&d->socks[i]);
	}
	free(d->e);
	free(d);
}

json_t *
lsd_json(const struct lsd *d)
{
	json_t *groups = json_array();

	for (size_t i = 0; d && i < d->nsocks; i++)
		json_array_append_new(groups, json_string(d->socks[i].host));
	return json_pack("{s:b, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
	    "enabled", d != NULL && d->nsocks > 0,
	    "groups", groups,
	    "announces_sent", (json_int_t)(d ? d->sent : 0),
	    "infohashes_sent", (json_int_t)(d ? d->hashes_sent : 0),
	    "announces_received", (json_int_t)(d ? d->received : 0),
	    "announces_refused", (json_int_t)(d ? d->refused : 0),
	    "announces_dropped", (json_int_t)(d ? d->dropped : 0),
	    "peers_found", (json_int_t)(d ? d->peers : 0),
	    "last_error", d && d->last_error[0] ? json_string(d->last_error) : json_null());
}
