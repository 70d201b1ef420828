/* tracker_server.c: a small bounded tracker: swarms in a hash table, HTTP with keep-alive, UDP with signed connection ids. */
#include "tracker_server.h"

#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "netaddr.h"
#include "session.h"
#include "sha.h"
#include "tracker_msg.h"

#define TS_BUCKETS 4096
#define TS_MAX_SWARMS 100000
#define TS_MAX_PEERS 2000		/* per swarm; the oldest goes first */
#define TS_INTERVAL 120			/* seconds we ask clients to wait */
#define TS_EXPIRE (3 * TS_INTERVAL)
#define TS_DEFAULT_NUMWANT 50
#define TS_MAX_HTTP 512
#define TS_HTTP_MAX_REQ 8192
#define TS_HTTP_IDLE 15.0
#define TS_UDP_BURST 64			/* datagrams read per wake-up */
#define TS_CID_PERIOD 60		/* BEP 15: a connection id lives about 2 minutes */

struct tpeer_e {
	struct netaddr addr;
	double seen;
	int seed;
};

struct swarm {
	struct swarm *next;
	uint8_t ih[20];
	struct tpeer_e *peers;
	size_t n, cap;
	uint32_t downloaded;
};

struct http_conn {
	struct http_conn *next;
	struct tracker_server *ts;
	int fd;
	struct netaddr addr;
	ev_io io;
	ev_timer idle;
	struct buf in;
	struct buf out;
	int close_after;
	int dead;
};

struct tracker_server {
	struct session *s;
	struct netaddr addr;
	int tcp_fd, udp_fd;
	ev_io tcp_io, udp_io;
	ev_timer sweep;
	struct swarm *buckets[TS_BUCKETS];
	size_t nswarms;
	size_t npeers;
	uint64_t announces;
	struct http_conn *conns;
	int nconns;
	uint8_t secret[16];
};

static double
ts_now(struct tracker_server *ts)
{
	return ev_now(session_loop(ts->s));
}

/* --- swarms --- */

static struct swarm **
swarm_slot(struct tracker_server *ts, const uint8_t ih[20])
{
	uint32_t h = ((uint32_t)ih[0] << 24 | (uint32_t)ih[1] << 16 | (uint32_t)ih[2] << 8 |
	    ih[3]) % TS_BUCKETS;
	struct swarm **pp = &ts->buckets[h];

	while (*pp && memcmp((*pp)->ih, ih, 20) != 0)
		pp = &(*pp)->next;
	return pp;
}

static struct swarm *
swarm_get(struct tracker_server *ts, const uint8_t ih[20], int create)
{
	struct swarm **pp = swarm_slot(ts, ih), *sw;

	if (*pp || !create)
		return *pp;
	if (ts->nswarms >= TS_MAX_SWARMS || (sw = calloc(1, sizeof(*sw))) == NULL)
		return NULL;
	memcpy(sw->ih, ih, 20);
	*pp = sw;
	ts->nswarms++;
	return sw;
}

static void
swarm_drop_peer(struct tracker_server *ts, struct swarm *sw, size_t i)
{
	sw->peers[i] = sw->peers[--sw->n];
	ts->npeers--;
}

/* Updates the announcing peer; returns 0, or -1 if the swarm is full of fresher peers. */
static int
swarm_announce(struct tracker_server *ts, struct swarm *sw, const struct netaddr *a,
    const struct tracker_msg_announce *an, double now)
{
	size_t i, oldest = 0;

	for (i = 0; i < sw->n; i++)
		if (netaddr_equal(&sw->peers[i].addr, a))
			break;
	if (an->event == TRACKER_MSG_EVENT_STOPPED) {
		if (i < sw->n)
			swarm_drop_peer(ts, sw, i);
		return 0;
	}
	if (an->event == TRACKER_MSG_EVENT_COMPLETED)
		sw->downloaded++;
	if (i == sw->n) {
		if (sw->n == TS_MAX_PEERS) {
			for (size_t k = 1; k < sw->n; k++)
				if (sw->peers[k].seen < sw->peers[oldest].seen)
					oldest = k;
			i = oldest;
		} else {
			if (sw->n == sw->cap) {
				size_t ncap = sw->cap ? sw->cap * 2 : 8;
				struct tpeer_e *v = realloc(sw->peers, ncap * sizeof(*v));
				if (v == NULL)
					return -1;
				sw->peers = v;
				sw->cap = ncap;
			}
			sw->n++;
			ts->npeers++;
		}
	}
	sw->peers[i].addr = *a;
	sw->peers[i].seen = now;
	sw->peers[i].seed = an->left == 0;
	return 0;
}

/* Fills r with up to numwant other peers of a's family, starting at a random spot. */
static void
swarm_reply(struct swarm *sw, const struct netaddr *a, int32_t numwant,
    struct tracker_msg_reply *r)
{
	size_t want = numwant < 0 ? TS_DEFAULT_NUMWANT : (size_t)numwant, start = 0;

	memset(r, 0, sizeof(*r));
	r->interval = TS_INTERVAL;
	if (want > TRACKER_MSG_MAX_PEERS)
		want = TRACKER_MSG_MAX_PEERS;
	if (sw->n > 0) {
		uint32_t rnd;
		sha_random(&rnd, sizeof(rnd));
		start = rnd % sw->n;
	}
	for (size_t k = 0; k < sw->n; k++) {
		const struct tpeer_e *e = &sw->peers[(start + k) % sw->n];
		if (e->seed)
			r->complete++;
		else
			r->incomplete++;
		if (r->npeers < want && !netaddr_equal(&e->addr, a) &&
		    netaddr_family(&e->addr) == netaddr_family(a))
			r->peers[r->npeers++] = e->addr;
	}
}

static void
sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tracker_server *ts = w->data;
	double now = ev_now(loop);

	(void)revents;
	for (size_t b = 0; b < TS_BUCKETS; b++) {
		struct swarm **pp = &ts->buckets[b];
		while (*pp) {
			struct swarm *sw = *pp;
			for (size_t i = 0; i < sw->n; i++)
				if (now - sw->peers[i].seen > TS_EXPIRE)
					swarm_drop_peer(ts, sw, i--);
			if (sw->n == 0) {
				*pp = sw->next;
				free(sw->peers);
				free(sw);
				ts->nswarms--;
			} else {
				pp = &sw->next;
			}
		}
	}
}

/* The whole of an announce, for either transport: 0, or -1 with a reason. */
static int
do_announce(struct tracker_server *ts, const struct netaddr *from,
    const struct tracker_msg_announce *an, struct tracker_msg_reply *r,
    const char **why)
{
	struct netaddr a = *from;
	struct swarm *sw;

	ts->announces++;
	/* The address is the one the packet came from; only the port is theirs to say. */
	netaddr_set_port(&a, an->port);
	if (an->port == 0) {
		*why = "port 0 is not a listening port";
		return -1;
	}
	if ((sw = swarm_get(ts, an->info_hash, an->event != TRACKER_MSG_EVENT_STOPPED)) == NULL) {
		if (an->event == TRACKER_MSG_EVENT_STOPPED) {
			memset(r, 0, sizeof(*r));
			r->interval = TS_INTERVAL;
			return 0;
		}
		*why = "tracker is full";
		return -1;
	}
	if (swarm_announce(ts, sw, &a, an, ts_now(ts)) == -1) {
		*why = "out of memory";
		return -1;
	}
	swarm_reply(sw, &a, an->numwant, r);
	return 0;
}

static void
do_scrape(struct tracker_server *ts, const uint8_t (*hashes)[20], size_t n,
    struct tracker_msg_scrape *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n && i < TRACKER_MSG_MAX_SCRAPE; i++) {
		struct swarm *sw = swarm_get(ts, hashes[i], 0);
		struct tracker_msg_scrape_entry *e = &out->files[out->n++];
		memcpy(e->info_hash, hashes[i], 20);
		for (size_t k = 0; sw && k < sw->n; k++) {
			if (sw->peers[k].seed)
				e->complete++;
			else
				e->incomplete++;
		}
		e->downloaded = sw ? sw->downloaded : 0;
	}
}

/* --- UDP (BEP 15) --- */

/* A connection id the client can't forge: a keyed hash of its address and the period. */
static uint64_t
make_cid(const struct tracker_server *ts, const struct netaddr *a, int64_t period)
{
	uint8_t in[16 + 16 + 8], md[20];
	uint8_t ip[18];
	uint64_t cid;
	int n = netaddr_to_compact(a, ip, sizeof(ip));

	memset(in, 0, sizeof(in));
	memcpy(in, ts->secret, 16);
	if (n > 2)
		memcpy(in + 16, ip, (size_t)n - 2);	/* the IP, not the port */
	memcpy(in + 32, &period, 8);
	sha1(in, sizeof(in), md);
	memcpy(&cid, md, 8);
	return cid;
}

static int
cid_ok(const struct tracker_server *ts, const struct netaddr *a, uint64_t cid)
{
	int64_t period = (int64_t)ev_now(session_loop(ts->s)) / TS_CID_PERIOD;

	return cid == make_cid(ts, a, period) || cid == make_cid(ts, a, period - 1);
}

static void
udp_send(struct tracker_server *ts, const struct netaddr *to, struct buf *b)
{
	if (b->len > 0)
		(void)!sendto(ts->udp_fd, b->data, b->len, MSG_DONTWAIT | MSG_NOSIGNAL,
		    (const struct sockaddr *)&to->ss, to->len);
}

static void
udp_packet(struct tracker_server *ts, const uint8_t *p, size_t len, const struct netaddr *from)
{
	struct tracker_msg_udp_hdr h;
	struct tracker_msg_announce an;
	struct tracker_msg_reply r;
	struct tracker_msg_scrape sc;
	uint8_t hashes[TRACKER_MSG_MAX_SCRAPE][20];
	const char *why = NULL;
	struct buf b;
	uint64_t cid;
	uint32_t tid;
	size_t n;
	char err[128];

	/* Malformed datagrams get no answer: answering would let a spoofer aim us. */
	if (tracker_msg_udp_hdr_parse(p, len, &h, err, sizeof(err)) == -1)
		return;
	buf_init(&b, 8192);
	switch (h.action) {
	case TRACKER_MSG_CONNECT:
		if (tracker_msg_udp_connect_parse(p, len, &tid, err, sizeof(err)) == 0)
			tracker_msg_udp_connect_resp_build(&b, tid, make_cid(ts, from,
			    (int64_t)ev_now(session_loop(ts->s)) / TS_CID_PERIOD));
		break;
	case TRACKER_MSG_ANNOUNCE:
		if (tracker_msg_udp_announce_parse(p, len, &cid, &tid, &an, err, sizeof(err)) == -1)
			break;
		if (!cid_ok(ts, from, cid))
			tracker_msg_udp_error_build(&b, tid, "connection id expired or forged");
		else if (do_announce(ts, from, &an, &r, &why) == -1)
			tracker_msg_udp_error_build(&b, tid, why);
		else
			tracker_msg_udp_announce_resp_build(&b, tid, &r,
			    netaddr_family(from) == AF_INET6);
		break;
	case TRACKER_MSG_SCRAPE:
		if (tracker_msg_udp_scrape_parse(p, len, &cid, &tid, hashes, &n, err,
		    sizeof(err)) == -1)
			break;
		if (!cid_ok(ts, from, cid)) {
			tracker_msg_udp_error_build(&b, tid, "connection id expired or forged");
			break;
		}
		do_scrape(ts, (const uint8_t (*)[20])hashes, n, &sc);
		tracker_msg_udp_scrape_resp_build(&b, tid, &sc);
		break;
	}
	udp_send(ts, from, &b);
	buf_free(&b);
}

static void
udp_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tracker_server *ts = w->data;
	uint8_t pkt[2048];

	(void)loop;
	(void)revents;
	for (int i = 0; i < TS_UDP_BURST; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct netaddr from;
		ssize_t n = recvfrom(ts->udp_fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&ss, &sl);

		if (n < 0)
			return;
		if (netaddr_from_sockaddr(&from, (struct sockaddr *)&ss, sl) == 0)
			udp_packet(ts, pkt, (size_t)n, &from);
	}
}

/* --- HTTP --- */

static void
http_free(struct http_conn *c)
{
	struct tracker_server *ts = c->ts;
	struct http_conn **pp;

	for (pp = &ts->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	ts->nconns--;
	ev_io_stop(session_loop(ts->s), &c->io);
	ev_timer_stop(session_loop(ts->s), &c->idle);
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

static void
http_respond(struct http_conn *c, int status, const char *reason, struct buf *body)
{
	buf_printf(&c->out, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %zu\r\n%s\r\n", status, reason, body->len,
	    c->close_after ? "Connection: close\r\n" : "");
	buf_append(&c->out, body->data, body->len);
}

/* Handles one request whose head is p[0..len) (without the blank line). */
static void
http_request(struct http_conn *c, char *p, size_t len)
{
	struct tracker_server *ts = c->ts;
	struct tracker_msg_announce an;
	struct tracker_msg_reply r;
	struct tracker_msg_scrape sc;
	uint8_t hashes[TRACKER_MSG_MAX_SCRAPE][20];
	char *eol, *sp, *q, err[160];
	const char *why = NULL;
	struct buf body;
	size_t n;

	p[len] = '\0';
	eol = strstr(p, "\r\n");
	if (eol)
		*eol = '\0';
	/* HTTP/1.0 closes unless asked not to; 1.1 keeps alive unless asked to close. */
	c->close_after = strstr(p, "HTTP/1.1") == NULL;
	if (eol && strcasestr(eol + 2, "connection: close"))
		c->close_after = 1;
	buf_init(&body, TRACKER_MSG_MAX_BODY);
	if (strncmp(p, "GET /", 5) != 0 || (sp = strchr(p + 4, ' ')) == NULL) {
		c->close_after = 1;
		buf_puts(&body, "bad request\n");
		http_respond(c, 400, "Bad Request", &body);
		goto out;
	}
	*sp = '\0';
	q = strchr(p + 4, '?');
	if (q)
		*q++ = '\0';
	if (strcmp(p + 4, "/announce") == 0) {
		if (tracker_msg_http_announce_parse(q ? q : "", q ? strlen(q) : 0, &an, err,
		    sizeof(err)) == -1)
			tracker_msg_http_failure_build(&body, err);
		else if (do_announce(ts, &c->addr, &an, &r, &why) == -1)
			tracker_msg_http_failure_build(&body, why);
		else
			tracker_msg_http_reply_build(&body, &r);
	} else if (strcmp(p + 4, "/scrape") == 0) {
		if (tracker_msg_http_scrape_query_parse(q ? q : "", q ? strlen(q) : 0, hashes, &n,
		    err, sizeof(err)) == -1) {
			tracker_msg_http_failure_build(&body, err);
		} else {
			do_scrape(ts, (const uint8_t (*)[20])hashes, n, &sc);
			tracker_msg_http_scrape_build(&body, &sc);
		}
	} else {
		buf_puts(&body, "not found: this tracker serves /announce and /scrape\n");
		http_respond(c, 404, "Not Found", &body);
		goto out;
	}
	http_respond(c, 200, "OK", &body);
out:
	buf_free(&body);
}

static void
http_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct http_conn *c = w->data;

	if (revents & EV_READ) {
		char tmp[4096];
		ssize_t n = recv(c->fd, tmp, sizeof(tmp), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			c->dead = 1;
		else if (n > 0 && buf_append(&c->in, tmp, (size_t)n) == -1)
			c->dead = 1;	/* a request head over 8 KiB */
		while (!c->dead && c->out.len == 0) {
			char *end;
			if (buf_reserve(&c->in, 1) == -1) {
				c->dead = 1;
				break;
			}
			c->in.data[c->in.len] = '\0';
			end = strstr((char *)c->in.data, "\r\n\r\n");
			if (end == NULL)
				break;
			http_request(c, (char *)c->in.data, (size_t)(end - (char *)c->in.data));
			buf_consume(&c->in, (size_t)(end - (char *)c->in.data) + 4);
		}
		ev_timer_again(loop, &c->idle);
	}
	/* One write in the common case: the answer was built whole. */
	while (!c->dead && c->out.len > 0) {
		ssize_t n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				c->dead = 1;
			break;
		}
		buf_consume(&c->out, (size_t)n);
		if (c->out.len == 0 && c->close_after)
			c->dead = 1;
	}
	if (c->dead) {
		http_free(c);
		return;
	}
	ev_io_stop(loop, &c->io);
	ev_io_set(&c->io, c->fd, EV_READ | (c->out.len ? EV_WRITE : 0));
	ev_io_start(loop, &c->io);
	/* A pipelined request already buffered won't make the socket readable again. */
	if (c->out.len == 0 && c->in.len > 0 && buf_reserve(&c->in, 1) == 0) {
		c->in.data[c->in.len] = '\0';
		if (strstr((char *)c->in.data, "\r\n\r\n") != NULL)
			ev_feed_event(loop, &c->io, EV_READ);
	}
}

static void
http_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	http_free(w->data);
}

static void
tcp_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tracker_server *ts = w->data;

	(void)revents;
	for (int i = 0; i < 32; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct http_conn *c;
		int one = 1;
		int fd = accept4(ts->tcp_fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1)
			return;
		if (ts->nconns >= TS_MAX_HTTP || (c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		/* Answers go in one segment, without waiting on Nagle and delayed ACK. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->ts = ts;
		c->fd = fd;
		netaddr_from_sockaddr(&c->addr, (struct sockaddr *)&ss, sl);
		buf_init(&c->in, TS_HTTP_MAX_REQ);
		buf_init(&c->out, 0);
		ev_io_init(&c->io, http_cb, fd, EV_READ);
		c->io.data = c;
		ev_io_start(loop, &c->io);
		ev_timer_init(&c->idle, http_idle_cb, TS_HTTP_IDLE, TS_HTTP_IDLE);
		c->idle.data = c;
		ev_timer_again(loop, &c->idle);
		c->next = ts->conns;
		ts->conns = c;
		ts->nconns++;
	}
}

/* --- set-up --- */

static int
bind_socket(const struct netaddr *a, int type, char *err, size_t errlen)
{
	int fd = socket(netaddr_family(a), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	char as[NETADDR_STRLEN];

	if (fd == -1) {
		snprintf(err, errlen, "tracker: socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (netaddr_family(a) == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1 ||
	    (type == SOCK_STREAM && listen(fd, 128) == -1)) {
		snprintf(err, errlen, "cannot serve the tracker on %s (%s): %s",
		    netaddr_format(a, as, sizeof(as)), type == SOCK_STREAM ? "TCP" : "UDP",
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct tracker_server *
tracker_server_new(struct session *s, const char *addr, char *err, size_t errlen)
{
	struct tracker_server *ts = calloc(1, sizeof(*ts));
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct ev_loop *loop = session_loop(s);
	char as[NETADDR_STRLEN];

	if (ts == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ts->s = s;
	ts->tcp_fd = ts->udp_fd = -1;
	if (netaddr_parse(addr, &ts->addr, err, errlen) == -1 ||
	    (ts->tcp_fd = bind_socket(&ts->addr, SOCK_STREAM, err, errlen)) == -1)
		goto fail;
	/* Port 0: UDP takes the port TCP was given, so one address serves both. */
	if (getsockname(ts->tcp_fd, (struct sockaddr *)&ss, &sl) == 0)
		netaddr_from_sockaddr(&ts->addr, (struct sockaddr *)&ss, sl);
	if ((ts->udp_fd = bind_socket(&ts->addr, SOCK_DGRAM, err, errlen)) == -1)
		goto fail;
	sha_random(ts->secret, sizeof(ts->secret));
	ev_io_init(&ts->tcp_io, tcp_accept_cb, ts->tcp_fd, EV_READ);
	ts->tcp_io.data = ts;
	ev_io_start(loop, &ts->tcp_io);
	ev_io_init(&ts->udp_io, udp_cb, ts->udp_fd, EV_READ);
	ts->udp_io.data = ts;
	ev_io_start(loop, &ts->udp_io);
	ev_timer_init(&ts->sweep, sweep_cb, 30., 30.);
	ts->sweep.data = ts;
	ev_timer_start(loop, &ts->sweep);
	log_info("tracker: serving http://%s/announce and udp://%s",
	    netaddr_format(&ts->addr, as, sizeof(as)), as);
	return ts;
fail:
	tracker_server_free(ts);
	return NULL;
}

void
tracker_server_free(struct tracker_server *ts)
{
	struct ev_loop *loop;

	if (ts == NULL)
		return;
	loop = session_loop(ts->s);
	while (ts->conns)
		http_free(ts->conns);
	ev_io_stop(loop, &ts->tcp_io);
	ev_io_stop(loop, &ts->udp_io);
	ev_timer_stop(loop, &ts->sweep);
	if (ts->tcp_fd != -1)
		close(ts->tcp_fd);
	if (ts->udp_fd != -1)
		close(ts->udp_fd);
	for (size_t b = 0; b < TS_BUCKETS; b++) {
		while (ts->buckets[b]) {
			struct swarm *sw = ts->buckets[b];
			ts->buckets[b] = sw->next;
			free(sw->peers);
			free(sw);
		}
	}
	free(ts);
}

json_t *
tracker_server_json(const struct tracker_server *ts)
{
	char as[NETADDR_STRLEN];

	return json_pack("{s:s, s:I, s:I, s:I}", "listen",
	    netaddr_format(&ts->addr, as, sizeof(as)), "swarms", (json_int_t)ts->nswarms,
	    "peers", (json_int_t)ts->npeers, "announces", (json_int_t)ts->announces);
}
