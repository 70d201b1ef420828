/* tracker_client.c: HTTP (BEP 3) and UDP (BEP 15) announces, one small state machine per tracker. */
#include "tracker_client.h"

#include <errno.h>
#include <ev.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "netaddr.h"
#include "session.h"
#include "sha.h"
#include "tracker_msg.h"
#include "worker.h"

#define TC_TIMEOUT 15.0		/* HTTP, whole request */
#define TC_UDP_WAIT 5.0		/* first UDP retry; doubles (BEP 15 uses 15 s steps) */
#define TC_UDP_TRIES 3
#define TC_CID_LIFE 60.0	/* BEP 15: a connection id may be used for a minute */
#define TC_MIN_INTERVAL 30.0
#define TC_MAX_BACKOFF 1800.0
#define TC_NUMWANT 50

enum tstate { T_IDLE, T_RESOLVING, T_BUSY };

struct tracker {
	struct tracker_client *tc;
	char *url;
	uint32_t tier;
	int udp;
	char host[256];
	char port[8];
	enum tstate state;
	struct netaddr addr;
	int resolved;
	int fd;
	ev_io io;
	ev_timer timer;
	struct buf in;
	struct buf out;
	enum tracker_client_event event;	/* of the announce in flight or due */
	double next;
	double interval;
	int fails;
	char error[256];
	int64_t seeders, leechers;
	int answered;
	/* UDP */
	uint64_t cid;
	double cid_at;
	uint32_t tid;
	int tries;
};

struct tracker_client {
	struct session *s;
	uint8_t ih[20];
	uint8_t key[4];
	struct tracker_client_cb cb;
	struct tracker *t;
	size_t n;
	int started;		/* "started" went through at least once */
	unsigned jobs;		/* resolver jobs holding a pointer to us */
	int freeing;
};

static void tracker_go(struct tracker *tr);

static double
tc_now(const struct tracker_client *tc)
{
	return ev_now(session_loop(tc->s));
}

/* "http://host[:port]/..." or "udp://host:port..." into host, port. */
static int
parse_url(struct tracker *tr)
{
	const char *p = tr->url, *h, *e;
	size_t n;

	if (strncmp(p, "http://", 7) == 0) {
		p += 7;
		snprintf(tr->port, sizeof(tr->port), "80");
	} else if (strncmp(p, "udp://", 6) == 0) {
		p += 6;
		tr->udp = 1;
		tr->port[0] = '\0';
	} else {
		return -1;	/* https needs TLS: not spoken here yet */
	}
	if (*p == '[') {
		h = p + 1;
		if ((e = strchr(h, ']')) == NULL)
			return -1;
		n = (size_t)(e - h);
		p = e + 1;
	} else {
		h = p;
		n = strcspn(p, ":/?");
		p += n;
	}
	if (n == 0 || n >= sizeof(tr->host))
		return -1;
	memcpy(tr->host, h, n);
	tr->host[n] = '\0';
	if (*p == ':') {
		n = strspn(p + 1, "0123456789");
		if (n == 0 || n >= sizeof(tr->port))
			return -1;
		memcpy(tr->port, p + 1, n);
		tr->port[n] = '\0';
	}
	return tr->port[0] ? 0 : -1;
}

static void
tracker_done(struct tracker *tr, const char *err)
{
	struct ev_loop *loop = session_loop(tr->tc->s);
	double now = tc_now(tr->tc);

	ev_io_stop(loop, &tr->io);
	ev_timer_stop(loop, &tr->timer);
	if (tr->fd != -1)
		close(tr->fd);
	tr->fd = -1;
	buf_reset(&tr->in);
	buf_reset(&tr->out);
	tr->state = T_IDLE;
	if (err) {
		double back = 60.0 * (1 << (tr->fails < 5 ? tr->fails : 5));
		snprintf(tr->error, sizeof(tr->error), "%s", err);
		tr->fails++;
		tr->next = now + (back < TC_MAX_BACKOFF ? back : TC_MAX_BACKOFF);
		log_info("tracker %s: %s (next try in %.0f s)", tr->url, err, tr->next - now);
		return;
	}
	tr->error[0] = '\0';
	tr->fails = 0;
	tr->answered = 1;
	if (tr->event == TRACKER_CLIENT_STARTED)
		tr->tc->started = 1;
	tr->event = TRACKER_CLIENT_NONE;
	tr->next = now + tr->interval;
}

static void
got_reply(struct tracker *tr, const struct tracker_msg_reply *r)
{
	tr->interval = r->interval > TC_MIN_INTERVAL ? (double)r->interval : TC_MIN_INTERVAL;
	tr->seeders = r->complete;
	tr->leechers = r->incomplete;
	log_debug("tracker %s: %zu peers, %lld seeders, %lld leechers", tr->url, r->npeers,
	    (long long)r->complete, (long long)r->incomplete);
	for (size_t i = 0; i < r->npeers; i++)
		tr->tc->cb.peer(tr->tc->cb.ctx, &r->peers[i]);
}

static void
fill_announce(struct tracker *tr, struct tracker_msg_announce *a)
{
	struct tracker_client *tc = tr->tc;

	memset(a, 0, sizeof(*a));
	memcpy(a->info_hash, tc->ih, 20);
	memcpy(a->peer_id, session_peer_id(tc->s), 20);
	a->port = session_listen_port(tc->s);
	tc->cb.stats(tc->cb.ctx, &a->uploaded, &a->downloaded, &a->left);
	a->event = (enum tracker_msg_event)tr->event;
	a->numwant = TC_NUMWANT;
	memcpy(&a->key, tc->key, 4);
	a->has_key = 1;
	a->compact = 1;
}

/* --- HTTP --- */

static void
http_finish(struct tracker *tr)
{
	struct tracker_msg_reply *r = calloc(1, sizeof(*r));
	char *body, err[300], ebuf[200];
	int status = 0;

	if (r == NULL) {
		tracker_done(tr, "out of memory");
		return;
	}
	if (buf_putc(&tr->in, 0) == -1 || sscanf((char *)tr->in.data, "HTTP/%*d.%*d %d", &status) != 1) {
		tracker_done(tr, "not an HTTP answer");
	} else if ((body = strstr((char *)tr->in.data, "\r\n\r\n")) == NULL) {
		tracker_done(tr, "HTTP answer without a body");
	} else if (status != 200) {
		snprintf(err, sizeof(err), "HTTP status %d", status);
		tracker_done(tr, err);
	} else if (tracker_msg_http_reply_parse((uint8_t *)body + 4,
	    tr->in.len - 1 - (size_t)(body + 4 - (char *)tr->in.data), r, ebuf,
	    sizeof(ebuf)) == -1) {
		snprintf(err, sizeof(err), "%s%s", r->failed ? "tracker says: " : "bad answer: ",
		    r->failed ? r->failure : ebuf);
		tracker_done(tr, err);
	} else {
		got_reply(tr, r);
		tracker_done(tr, NULL);
	}
	free(r);
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents);

static void
http_start(struct tracker *tr)
{
	struct tracker_msg_announce a;
	struct buf url;
	char err[200];
	const char *path;

	fill_announce(tr, &a);
	buf_init(&url, TRACKER_MSG_MAX_URL + 1024);
	if (tracker_msg_http_announce_url(&url, tr->url, &a, err, sizeof(err)) == -1 ||
	    buf_putc(&url, 0) == -1) {
		buf_free(&url);
		tracker_done(tr, "cannot build the announce URL");
		return;
	}
	/* The request line wants the path: what follows the authority. */
	path = strchr((char *)url.data + 7, '/');
	buf_printf(&tr->out, "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: p2pd/%s\r\n"
	    "Connection: close\r\n\r\n", path ? path : "/", tr->host, P2PD_VERSION);
	buf_free(&url);
}

/* --- UDP (BEP 15) --- */

static void
udp_send(struct tracker *tr)
{
	struct tracker_msg_announce a;

	buf_reset(&tr->out);
	sha_random(&tr->tid, sizeof(tr->tid));
	if (tr->cid_at > 0 && tc_now(tr->tc) - tr->cid_at < TC_CID_LIFE) {
		fill_announce(tr, &a);
		tracker_msg_udp_announce_build(&tr->out, tr->cid, tr->tid, &a);
	} else {
		tracker_msg_udp_connect_build(&tr->out, tr->tid);
	}
	(void)!send(tr->fd, tr->out.data, tr->out.len, MSG_NOSIGNAL);
	ev_timer_stop(session_loop(tr->tc->s), &tr->timer);
	ev_timer_set(&tr->timer, TC_UDP_WAIT * (1 << tr->tries), 0.);
	ev_timer_start(session_loop(tr->tc->s), &tr->timer);
}

static void
udp_read(struct tracker *tr)
{
	struct tracker_msg_reply *r;
	uint8_t pkt[4096];
	uint32_t action, tid;
	char err[200], msg[TRACKER_MSG_MAX_REASON], full[300];
	ssize_t n = recv(tr->fd, pkt, sizeof(pkt), 0);

	if (n < 0 || tracker_msg_udp_resp_hdr_parse(pkt, (size_t)n, &action, &tid, err,
	    sizeof(err)) == -1 || tid != tr->tid)
		return;	/* stray or forged: wait for the real answer or the timeout */
	if (action == TRACKER_MSG_ERROR) {
		tracker_msg_udp_error_parse(pkt, (size_t)n, tid, msg, sizeof(msg), err, sizeof(err));
		snprintf(full, sizeof(full), "tracker says: %s", msg);
		tr->cid_at = 0;
		tracker_done(tr, full);
	} else if (action == TRACKER_MSG_CONNECT) {
		if (tracker_msg_udp_connect_resp_parse(pkt, (size_t)n, tid, &tr->cid, err,
		    sizeof(err)) == -1)
			return;
		tr->cid_at = tc_now(tr->tc);
		tr->tries = 0;
		udp_send(tr);
	} else if (action == TRACKER_MSG_ANNOUNCE) {
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return;
		if (tracker_msg_udp_announce_resp_parse(pkt, (size_t)n, tid,
		    netaddr_family(&tr->addr) == AF_INET6, r, err, sizeof(err)) == 0) {
			got_reply(tr, r);
			tracker_done(tr, NULL);
		} else {
			snprintf(full, sizeof(full), "bad answer: %s", err);
			tracker_done(tr, full);
		}
		free(r);
	}
}

/* --- the connection --- */

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tracker *tr = w->data;
	char tmp[8192];

	if (tr->udp) {
		udp_read(tr);
		return;
	}
	if (revents & EV_WRITE) {
		int e = 0;
		socklen_t len = sizeof(e);
		ssize_t n;
		getsockopt(tr->fd, SOL_SOCKET, SO_ERROR, &e, &len);
		if (e != 0) {
			tracker_done(tr, strerror(e));
			return;
		}
		n = send(tr->fd, tr->out.data, tr->out.len, MSG_NOSIGNAL);
		if (n > 0)
			buf_consume(&tr->out, (size_t)n);
		if (tr->out.len == 0) {
			ev_io_stop(loop, &tr->io);
			ev_io_set(&tr->io, tr->fd, EV_READ);
			ev_io_start(loop, &tr->io);
		}
		return;
	}
	for (;;) {
		ssize_t n = recv(tr->fd, tmp, sizeof(tmp), 0);
		if (n == 0) {
			http_finish(tr);
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				tracker_done(tr, strerror(errno));
			return;
		}
		if (buf_append(&tr->in, tmp, (size_t)n) == -1) {
			tracker_done(tr, "answer larger than 1 MiB");
			return;
		}
	}
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tracker *tr = w->data;

	(void)loop;
	(void)revents;
	if (tr->udp && ++tr->tries < TC_UDP_TRIES) {
		udp_send(tr);
		return;
	}
	tracker_done(tr, "no answer (timed out)");
}

static void
tracker_connect(struct tracker *tr)
{
	const struct netaddr *bind_to = session_bind_addr(tr->tc->s, netaddr_family(&tr->addr));
	struct ev_loop *loop = session_loop(tr->tc->s);

	tr->fd = socket(netaddr_family(&tr->addr), (tr->udp ? SOCK_DGRAM : SOCK_STREAM) |
	    SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (tr->fd == -1) {
		tracker_done(tr, strerror(errno));
		return;
	}
	/* From the address we listen on: the tracker records the source address. */
	if (bind_to)
		(void)!bind(tr->fd, (const struct sockaddr *)&bind_to->ss, bind_to->len);
	if (connect(tr->fd, (const struct sockaddr *)&tr->addr.ss, tr->addr.len) == -1 &&
	    errno != EINPROGRESS) {
		tracker_done(tr, strerror(errno));
		return;
	}
	tr->state = T_BUSY;
	ev_io_set(&tr->io, tr->fd, tr->udp ? EV_READ : EV_WRITE);
	ev_io_start(loop, &tr->io);
	if (tr->udp) {
		tr->tries = 0;
		udp_send(tr);
		return;
	}
	http_start(tr);
	ev_timer_set(&tr->timer, TC_TIMEOUT, 0.);
	ev_timer_start(loop, &tr->timer);
}

/* Names are resolved in the pool: getaddrinfo blocks. */
struct resolve_job {
	struct tracker_client *tc;
	size_t i;
	char host[256], port[8];
	int udp;
	struct netaddr addr;
	int ok;
	char err[128];
};

static void
resolve_run(void *arg)
{
	struct resolve_job *j = arg;
	struct addrinfo hints, *res = NULL;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = j->udp ? SOCK_DGRAM : SOCK_STREAM;
	if ((rc = getaddrinfo(j->host, j->port, &hints, &res)) != 0) {
		snprintf(j->err, sizeof(j->err), "cannot resolve %s: %s", j->host, gai_strerror(rc));
		return;
	}
	j->ok = netaddr_from_sockaddr(&j->addr, res->ai_addr, res->ai_addrlen) == 0;
	if (!j->ok)
		snprintf(j->err, sizeof(j->err), "%s has no IPv4 or IPv6 address", j->host);
	freeaddrinfo(res);
}

static void
resolve_done(void *arg, int ran)
{
	struct resolve_job *j = arg;
	struct tracker_client *tc = j->tc;

	tc->jobs--;
	if (tc->freeing) {
		if (tc->jobs == 0)
			free(tc);
	} else {
		struct tracker *tr = &tc->t[j->i];
		tr->state = T_IDLE;
		if (!ran || !j->ok) {
			tracker_done(tr, ran ? j->err : "shutting down");
		} else {
			tr->addr = j->addr;
			tr->resolved = 1;
			tracker_connect(tr);
		}
	}
	free(j);
}

static void
tracker_go(struct tracker *tr)
{
	struct tracker_client *tc = tr->tc;
	char as[NETADDR_STRLEN + 16], err[64];
	struct resolve_job *j;

	if (tr->state != T_IDLE)
		return;
	if (!tr->resolved) {
		/* A numeric address needs no resolver. */
		snprintf(as, sizeof(as), strchr(tr->host, ':') ? "[%s]:%s" : "%s:%s", tr->host,
		    tr->port);
		if (netaddr_parse(as, &tr->addr, err, sizeof(err)) == 0) {
			tr->resolved = 1;
		} else {
			if ((j = calloc(1, sizeof(*j))) == NULL)
				return;
			j->tc = tc;
			j->i = (size_t)(tr - tc->t);
			snprintf(j->host, sizeof(j->host), "%s", tr->host);
			snprintf(j->port, sizeof(j->port), "%s", tr->port);
			j->udp = tr->udp;
			if (worker_submit(session_pool(tc->s), resolve_run, resolve_done, j) == -1) {
				free(j);
				return;
			}
			tc->jobs++;
			tr->state = T_RESOLVING;
			return;
		}
	}
	tracker_connect(tr);
}

struct tracker_client *
tracker_client_new(struct session *s, const uint8_t info_hash[20],
    const char *const *urls, const uint32_t *tiers, size_t n,
    const struct tracker_client_cb *cb)
{
	struct tracker_client *tc = calloc(1, sizeof(*tc));

	if (tc == NULL || (n && (tc->t = calloc(n, sizeof(*tc->t))) == NULL)) {
		free(tc);
		return NULL;
	}
	tc->s = s;
	memcpy(tc->ih, info_hash, 20);
	sha_random(tc->key, sizeof(tc->key));
	tc->cb = *cb;
	for (size_t i = 0; i < n; i++) {
		struct tracker *tr = &tc->t[tc->n];
		tr->tc = tc;
		tr->fd = -1;
		tr->tier = tiers ? tiers[i] : (uint32_t)i;
		if ((tr->url = strdup(urls[i])) == NULL)
			continue;
		if (parse_url(tr) == -1) {
			log_info("tracker %s: not an http:// or udp:// URL we can use; skipped", tr->url);
			free(tr->url);
			continue;
		}
		buf_init(&tr->in, TRACKER_MSG_MAX_BODY + 65536);
		buf_init(&tr->out, 0);
		ev_init(&tr->io, io_cb);
		tr->io.data = tr;
		ev_init(&tr->timer, timer_cb);
		tr->timer.data = tr;
		tr->interval = TC_MIN_INTERVAL;
		tr->event = TRACKER_CLIENT_STARTED;
		tc->n++;
	}
	for (size_t i = 0; i < tc->n; i++)
		tracker_go(&tc->t[i]);
	return tc;
}

void
tracker_client_free(struct tracker_client *tc)
{
	if (tc == NULL)
		return;
	for (size_t i = 0; i < tc->n; i++) {
		struct tracker *tr = &tc->t[i];
		ev_io_stop(session_loop(tc->s), &tr->io);
		ev_timer_stop(session_loop(tc->s), &tr->timer);
		if (tr->fd != -1)
			close(tr->fd);
		buf_free(&tr->in);
		buf_free(&tr->out);
		free(tr->url);
	}
	free(tc->t);
	tc->t = NULL;
	tc->n = 0;
	tc->freeing = 1;
	/* A resolver job still holds us: it frees us when it comes back. */
	if (tc->jobs == 0)
		free(tc);
}

void
tracker_client_announce(struct tracker_client *tc, enum tracker_client_event ev)
{
	for (size_t i = 0; i < tc->n; i++) {
		struct tracker *tr = &tc->t[i];
		/* Completed matters only to trackers that heard we started. */
		if (ev == TRACKER_CLIENT_COMPLETED && !tr->answered)
			continue;
		tr->event = ev;
		tr->next = 0;
		tracker_go(tr);
	}
}

void
tracker_client_tick(struct tracker_client *tc, double now)
{
	for (size_t i = 0; i < tc->n; i++)
		if (tc->t[i].state == T_IDLE && tc->t[i].next <= now)
			tracker_go(&tc->t[i]);
}

json_t *
tracker_client_json(const struct tracker_client *tc, double now)
{
	json_t *a = json_array();

	for (size_t i = 0; tc && i < tc->n; i++) {
		const struct tracker *tr = &tc->t[i];
		const char *st = tr->state != T_IDLE ? "announcing" : tr->error[0] ? "error" :
		    tr->answered ? "working" : "not contacted";
		json_t *o = json_pack("{s:s, s:I, s:s, s:I}", "url", tr->url,
		    "tier", (json_int_t)tr->tier, "status", st,
		    "next_announce", (json_int_t)(tr->next > now ? tr->next - now : 0));
		if (tr->error[0])
			json_object_set_new(o, "last_error", json_string(tr->error));
		if (tr->answered) {
			json_object_set_new(o, "seeders", json_integer(tr->seeders));
			json_object_set_new(o, "leechers", json_integer(tr->leechers));
		}
		json_array_append_new(a, o);
	}
	return a;
}
