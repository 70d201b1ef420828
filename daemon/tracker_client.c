/* tracker_client.c: HTTP(S) (BEP 3, 48) and UDP (BEP 15) announces and scrapes, BEP 12 tiers, "stopped" on the way out. */
#include "tracker_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "log.h"
#include "netaddr.h"
#include "session.h"
#include "sha.h"
#include "tracker_msg.h"
#include "worker.h"

#define TC_UDP_TRIES 3		/* waits of T/7, 2T/7, 4T/7: T = tracker_timeout in all */
#define TC_CID_LIFE 60.0	/* BEP 15: a connection id may be used for a minute */
#define TC_MIN_INTERVAL 30.0
#define TC_MAX_BACKOFF 1800.0
#define TC_NUMWANT 50
#define TC_SCRAPE_DELAY 2.0	/* the first scrape follows the first answer by this */
#define TC_BYE_BUDGET 1.0	/* "stopped" may hold up a pause or an exit this long */
#define TC_HDR_MAX 16384	/* HTTP status line and headers */
#define TC_ANSWER_MAX (TRACKER_MSG_MAX_BODY + TC_HDR_MAX)

enum tkind { K_HTTP, K_HTTPS, K_UDP };
enum tstate { T_IDLE, T_RESOLVING, T_BUSY };
enum top { OP_ANNOUNCE, OP_SCRAPE };
enum hstate { H_CONNECTING, H_HANDSHAKE, H_SENDING, H_RECEIVING, H_DONE };

/* One HTTP(S) exchange on a non-blocking socket, driven by libev or by poll(). */
struct hconn {
	int fd;
	SSL *ssl;
	enum hstate st;
	struct buf out;
	struct buf in;
};

struct tracker {
	struct tracker_client *tc;
	char *url;
	uint32_t tier;
	enum tkind kind;
	char host[256];
	char port[8];
	enum tstate state;
	enum top op;
	struct netaddr addr;
	int resolved;
	SSL_CTX *ctx;			/* https: made with the address, in the pool */
	struct hconn h;			/* h.fd is the UDP socket too */
	ev_io io;
	ev_timer timer;
	enum tracker_client_event sent;	/* event of the announce in flight */
	int joined;			/* it has us in its swarm: owed a "stopped" */
	int fails;
	double retry_at;
	char error[256];
	int64_t seeders, leechers, downloaded;	/* -1: unknown */
	double scrape_at;		/* 0: not yet due */
	int no_scrape;
	char scrape_error[256];
	/* UDP */
	uint64_t cid;
	double cid_at;
	uint32_t tid;
	int tries;
	int connecting;
	char ignored[128];		/* what the last stray datagram was, for the error */
};

struct tracker_client {
	struct session *s;
	uint8_t ih[20];
	uint8_t key[4];
	struct tracker_client_cb cb;
	struct tracker *t;
	size_t n;
	uint32_t *tiers;
	uint32_t *order;		/* BEP 12: announce order, tier by tier */
	unsigned char *usable;
	size_t cur;			/* the tracker in use (last answered), n if none */
	size_t walk;			/* the tracker an announce is in flight to, n if none */
	double next;			/* next announce */
	double interval;
	int completed_due;
	uint16_t port;			/* announced; at exit the listener is already gone */
	double timeout;
	unsigned jobs;			/* resolver jobs holding a pointer to us */
	int freeing;
};

static void tracker_go(struct tracker *tr, enum top op);
static void tc_walk(struct tracker_client *tc);

static double
tc_now(const struct tracker_client *tc)
{
	return ev_now(session_loop(tc->s));
}

static double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "http[s]://host[:port]/..." or "udp://host:port..." into host, port. */
static int
parse_url(struct tracker *tr)
{
	const char *p = tr->url, *h, *e;
	size_t n;

	if (strncasecmp(p, "http://", 7) == 0) {
		p += 7;
		snprintf(tr->port, sizeof(tr->port), "80");
	} else if (strncasecmp(p, "https://", 8) == 0) {
		p += 8;
		tr->kind = K_HTTPS;
		snprintf(tr->port, sizeof(tr->port), "443");
	} else if (strncasecmp(p, "udp://", 6) == 0) {
		p += 6;
		tr->kind = K_UDP;
		tr->port[0] = '\0';
	} else {
		return -1;
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

static const char *
op_name(enum top op)
{
	return op == OP_SCRAPE ? "scrape" : "announce";
}

/* --- TLS and HTTP, shared by announces on the loop and "stopped" in the pool --- */

/* Made in the pool: loading the CA store reads files. */
static SSL_CTX *
tls_ctx_new(const char *ca_file, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char e[160];

	if (ctx == NULL) {
		snprintf(err, errlen, "TLS: cannot set up (out of memory)");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
	/* HTTP/1.0 ends at the close; many servers skip close_notify. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
	if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		ERR_clear_error();	/* no system store: only tracker_ca_file can vouch */
	if (ca_file && SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
		ERR_error_string_n(ERR_get_error(), e, sizeof(e));
		snprintf(err, errlen, "cannot load tracker_ca_file %s: %s", ca_file, e);
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static void
hconn_init(struct hconn *c)
{
	c->fd = -1;
	c->ssl = NULL;
	c->st = H_CONNECTING;
	buf_init(&c->out, 0);
	buf_init(&c->in, TC_ANSWER_MAX);
}

static void
hconn_close(struct hconn *c)
{
	SSL_free(c->ssl);
	c->ssl = NULL;
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	buf_reset(&c->out);
	buf_reset(&c->in);
	c->st = H_CONNECTING;
}

static void
hconn_free(struct hconn *c)
{
	hconn_close(c);
	buf_free(&c->out);
	buf_free(&c->in);
}

/* A non-blocking socket from the listen address: trackers record the source. */
static int
open_socket(const struct netaddr *to, const struct netaddr *bind_to, int udp, char *err,
    size_t errlen)
{
	int fd = socket(netaddr_family(to), (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);

	if (fd == -1) {
		snprintf(err, errlen, "cannot open a socket: %s", strerror(errno));
		return -1;
	}
	if (bind_to)
		(void)!bind(fd, (const struct sockaddr *)&bind_to->ss, bind_to->len);
	if (connect(fd, (const struct sockaddr *)&to->ss, to->len) == -1 &&
	    errno != EINPROGRESS) {
		snprintf(err, errlen, "cannot connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
tls_fail(struct hconn *c, int e, char *err, size_t errlen)
{
	long v = SSL_get_verify_result(c->ssl);
	unsigned long ec = ERR_peek_last_error();
	char b[160];

	if (v != X509_V_OK) {
		snprintf(err, errlen, "TLS: certificate verify failed: %s",
		    X509_verify_cert_error_string(v));
	} else if (ec != 0) {
		ERR_error_string_n(ec, b, sizeof(b));
		snprintf(err, errlen, "TLS: %s", b);
	} else if (e == SSL_ERROR_SYSCALL && errno != 0) {
		snprintf(err, errlen, "TLS: %s", strerror(errno));
	} else {
		snprintf(err, errlen, "TLS: the tracker closed the connection%s",
		    c->st == H_HANDSHAKE ? " during the handshake" : "");
	}
	ERR_clear_error();
	return -1;
}

static int
hconn_tls_start(struct hconn *c, SSL_CTX *ctx, char *host, char *err, size_t errlen)
{
	struct in6_addr a6;

	if (ctx == NULL || (c->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
		snprintf(err, errlen, "TLS: cannot set up a connection");
		return -1;
	}
	/* The certificate must name what the URL names: an IP address or a host. */
	if (inet_pton(AF_INET, host, &a6) == 1 || inet_pton(AF_INET6, host, &a6) == 1) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host) != 1)
			return tls_fail(c, 0, err, errlen);
	} else if (SSL_set_tlsext_host_name(c->ssl, host) != 1 || SSL_set1_host(c->ssl, host) != 1) {
		return tls_fail(c, 0, err, errlen);
	}
	SSL_set_connect_state(c->ssl);
	return 0;
}

/* SSL_ERROR_WANT_*: the events to wait for; else a failure. */
static int
tls_want(struct hconn *c, int rc, char *err, size_t errlen)
{
	int e = SSL_get_error(c->ssl, rc);

	if (e == SSL_ERROR_WANT_READ)
		return POLLIN;
	if (e == SSL_ERROR_WANT_WRITE)
		return POLLOUT;
	return tls_fail(c, e, err, errlen);
}

/*
 * One step of the exchange after the socket became ready. Returns the poll
 * events to wait for, 0 when the whole answer is in c->in (the server closed),
 * or -1 with err.
 */
static int
hconn_step(struct hconn *c, SSL_CTX *ctx, char *host, char *err, size_t errlen)
{
	uint8_t tmp[16384];
	ssize_t n;
	int rc, e;
	socklen_t len;

	for (;;) {
		switch (c->st) {
		case H_CONNECTING:
			e = 0;
			len = sizeof(e);
			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
				e = errno;
			if (e != 0) {
				snprintf(err, errlen, "cannot connect: %s", strerror(e));
				return -1;
			}
			c->st = ctx ? H_HANDSHAKE : H_SENDING;
			if (ctx && hconn_tls_start(c, ctx, host, err, errlen) == -1)
				return -1;
			break;
		case H_HANDSHAKE:
			ERR_clear_error();
			if ((rc = SSL_connect(c->ssl)) != 1)
				return tls_want(c, rc, err, errlen);
			c->st = H_SENDING;
			break;
		case H_SENDING:
			while (c->out.len > 0) {
				if (c->ssl) {
					ERR_clear_error();
					if ((rc = SSL_write(c->ssl, c->out.data, (int)c->out.len)) <= 0)
						return tls_want(c, rc, err, errlen);
					n = rc;
				} else if ((n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL)) < 0) {
					if (errno == EAGAIN || errno == EINTR)
						return POLLOUT;
					snprintf(err, errlen, "cannot send: %s", strerror(errno));
					return -1;
				}
				buf_consume(&c->out, (size_t)n);
			}
			c->st = H_RECEIVING;
			break;
		case H_RECEIVING:
			if (c->ssl) {
				ERR_clear_error();
				if ((rc = SSL_read(c->ssl, tmp, sizeof(tmp))) <= 0) {
					e = SSL_get_error(c->ssl, rc);
					if (e == SSL_ERROR_ZERO_RETURN) {
						c->st = H_DONE;
						break;
					}
					return tls_want(c, rc, err, errlen);
				}
				n = rc;
			} else if ((n = recv(c->fd, tmp, sizeof(tmp), 0)) < 0) {
				if (errno == EAGAIN || errno == EINTR)
					return POLLIN;
				snprintf(err, errlen, "cannot receive: %s", strerror(errno));
				return -1;
			} else if (n == 0) {
				c->st = H_DONE;
				break;
			}
			if (buf_append(&c->in, tmp, (size_t)n) == -1) {
				snprintf(err, errlen, "answer larger than %u bytes: refused",
				    (unsigned)TC_ANSWER_MAX);
				return -1;
			}
			break;
		case H_DONE:
			return 0;
		}
	}
}

/*
 * The body of a complete HTTP answer, checked: status 200, headers within
 * TC_HDR_MAX, as long as Content-Length says if it says. Redirects are not
 * followed: a tracker has one URL.
 */
static int
http_body(const struct buf *in, const uint8_t **body, size_t *blen, char *err, size_t errlen)
{
	const char *d = (const char *)in->data, *end, *cl;
	char head[TC_HDR_MAX + 1];
	size_t hlen;
	int status = 0;

	char line[16];

	end = in->len ? memmem(d, in->len, "\r\n\r\n", 4) : NULL;
	/* A NUL-terminated copy of the status line's start: the answer has none. */
	snprintf(line, sizeof(line), "%.*s", (int)(in->len < 15 ? in->len : 15), d);
	if (in->len < 12 || memcmp(line, "HTTP/1.", 7) != 0 ||
	    (line[7] != '0' && line[7] != '1') || sscanf(line + 8, " %3d", &status) != 1 ||
	    status < 100) {
		snprintf(err, errlen, "not an HTTP answer (%zu bytes)", in->len);
		return -1;
	}
	if (end == NULL || (hlen = (size_t)(end - d)) > TC_HDR_MAX) {
		snprintf(err, errlen, "HTTP answer without the end of its headers");
		return -1;
	}
	if (status != 200) {
		snprintf(err, errlen, "HTTP status %d%s", status, status / 100 == 3 ?
		    " (redirects are not followed)" : "");
		return -1;
	}
	memcpy(head, d, hlen);
	head[hlen] = '\0';
	*body = (const uint8_t *)end + 4;
	*blen = in->len - hlen - 4;
	for (cl = head; (cl = strchr(cl, '\n')) != NULL; cl++) {
		unsigned long long want;

		if (strncasecmp(cl + 1, "content-length:", 15) != 0)
			continue;
		if (sscanf(cl + 16, " %llu", &want) != 1) {
			snprintf(err, errlen, "HTTP answer with a bad Content-Length");
			return -1;
		}
		if (want > *blen) {
			snprintf(err, errlen, "HTTP answer cut short: %zu of %llu bytes", *blen, want);
			return -1;
		}
		*blen = (size_t)want;
		break;
	}
	return 0;
}

/* "GET path" for an announce or a scrape of that URL. */
static int
http_request(struct buf *out, const char *base, enum top op, const uint8_t ih[20],
    const struct tracker_msg_announce *a, char *err, size_t errlen)
{
	const char *auth, *path;
	size_t alen;
	struct buf url;
	int rc;

	buf_init(&url, TRACKER_MSG_MAX_URL + 4096);
	if (op == OP_SCRAPE)
		rc = tracker_msg_http_scrape_url(&url, base, (const uint8_t (*)[20])ih, 1, err,
		    errlen);
	else
		rc = tracker_msg_http_announce_url(&url, base, a, err, errlen);
	if (rc == -1 || buf_putc(&url, 0) == -1) {
		if (rc != -1)
			snprintf(err, errlen, "URL too long");
		buf_free(&url);
		return -1;
	}
	auth = strstr((char *)url.data, "://") + 3;
	alen = strcspn(auth, "/?");
	path = auth + alen;
	rc = buf_printf(out, "GET %s%s HTTP/1.0\r\nHost: %.*s\r\nUser-Agent: p2pd/%s\r\n"
	    "Accept-Encoding: identity\r\nConnection: close\r\n\r\n", *path == '/' ? "" : "/",
	    path, (int)alen, auth, P2PD_VERSION);
	buf_free(&url);
	if (rc == -1)
		snprintf(err, errlen, "request too long");
	return rc;
}

/* --- one tracker's state machine on the loop --- */

static void
fill_announce(struct tracker *tr, enum tracker_client_event ev,
    struct tracker_msg_announce *a)
{
	struct tracker_client *tc = tr->tc;

	memset(a, 0, sizeof(*a));
	memcpy(a->info_hash, tc->ih, 20);
	memcpy(a->peer_id, session_peer_id(tc->s), 20);
	if (session_listen_port(tc->s) != 0)
		tc->port = session_listen_port(tc->s);
	/* The tracker knows us by address and port: "stopped" must name the same. */
	a->port = tc->port;
	tc->cb.stats(tc->cb.ctx, &a->uploaded, &a->downloaded, &a->left);
	a->event = (enum tracker_msg_event)ev;
	a->numwant = ev == TRACKER_CLIENT_STOPPED ? 0 : TC_NUMWANT;
	memcpy(&a->key, tc->key, 4);
	a->has_key = 1;
	a->compact = 1;
}

/* The event the next announce to tr carries. */
static enum tracker_client_event
next_event(const struct tracker *tr)
{
	if (!tr->joined)
		return TRACKER_CLIENT_STARTED;
	return tr->tc->completed_due ? TRACKER_CLIENT_COMPLETED : TRACKER_CLIENT_NONE;
}

static void
set_events(struct tracker *tr, int events)
{
	struct ev_loop *loop = session_loop(tr->tc->s);
	int ev = (events & POLLIN ? EV_READ : 0) | (events & POLLOUT ? EV_WRITE : 0);

	if (ev_is_active(&tr->io) && (tr->io.events & (EV_READ | EV_WRITE)) == ev)
		return;
	ev_io_stop(loop, &tr->io);
	ev_io_set(&tr->io, tr->h.fd, ev);
	ev_io_start(loop, &tr->io);
}

static void
announce_ok(struct tracker *tr)
{
	struct tracker_client *tc = tr->tc;
	size_t i = (size_t)(tr - tc->t);
	double now = tc_now(tc);

	tr->error[0] = '\0';
	tr->fails = 0;
	tr->retry_at = 0;
	tr->joined = 1;
	if (tr->sent != TRACKER_CLIENT_NONE)
		tc->completed_due = 0;	/* it heard "completed", or "started" with left 0 */
	if (tc->cur != i)
		log_info("tracker %s: in use (tier %u)", tr->url, (unsigned)tr->tier);
	/* BEP 12: the tracker that answers goes to the front of its tier. */
	tracker_msg_tiers_promote(tc->order, tc->tiers, tc->n, (uint32_t)i);
	tc->cur = i;
	tc->walk = tc->n;
	tc->next = tc->completed_due ? now : now + tc->interval;
	if (tr->scrape_at == 0)
		tr->scrape_at = now + TC_SCRAPE_DELAY;
}

/* Ends the exchange in flight; err NULL for success (the reply was used). */
static void
tracker_done(struct tracker *tr, const char *err)
{
	struct tracker_client *tc = tr->tc;
	struct ev_loop *loop = session_loop(tc->s);
	double now = tc_now(tc), back;

	ev_io_stop(loop, &tr->io);
	ev_timer_stop(loop, &tr->timer);
	hconn_close(&tr->h);
	tr->state = T_IDLE;
	tr->ignored[0] = '\0';
	if (tr->op == OP_SCRAPE) {
		tr->scrape_at = now + tc->interval;
		if (err == NULL) {
			tr->scrape_error[0] = '\0';
			return;
		}
		snprintf(tr->scrape_error, sizeof(tr->scrape_error), "%s", err);
		log_info("tracker %s: scrape failed: %s (next in %.0f s)", tr->url, err,
		    tc->interval);
		return;
	}
	if (err == NULL) {
		announce_ok(tr);
		return;
	}
	back = 60.0 * (1 << (tr->fails < 5 ? tr->fails : 5));
	snprintf(tr->error, sizeof(tr->error), "%s", err);
	tr->fails++;
	tr->retry_at = now + (back < TC_MAX_BACKOFF ? back : TC_MAX_BACKOFF);
	log_info("tracker %s: announce failed: %s (this tracker again in %.0f s)", tr->url,
	    err, tr->retry_at - now);
	if (tc->cur == (size_t)(tr - tc->t))
		tc->cur = tc->n;
	/* BEP 12: on to the next tracker of the tier, then the next tier. */
	if (tc->walk == (size_t)(tr - tc->t)) {
		tc->walk = tc->n;
		tc_walk(tc);
	}
}

static void
got_reply(struct tracker *tr, const struct tracker_msg_reply *r)
{
	tr->tc->interval = r->interval > TC_MIN_INTERVAL ? (double)r->interval : TC_MIN_INTERVAL;
	if (r->complete >= 0)
		tr->seeders = r->complete;
	if (r->incomplete >= 0)
		tr->leechers = r->incomplete;
	log_debug("tracker %s: %zu peers, %lld seeders, %lld leechers, interval %lld", tr->url,
	    r->npeers, (long long)r->complete, (long long)r->incomplete,
	    (long long)r->interval);
	for (size_t i = 0; i < r->npeers; i++)
		tr->tc->cb.peer(tr->tc->cb.ctx, &r->peers[i]);
}

static void
got_scrape(struct tracker *tr, const struct tracker_msg_scrape *sc, int by_hash)
{
	for (size_t i = 0; i < sc->n; i++) {
		const struct tracker_msg_scrape_entry *e = &sc->files[i];

		if (by_hash && memcmp(e->info_hash, tr->tc->ih, 20) != 0)
			continue;
		tr->seeders = e->complete;
		tr->leechers = e->incomplete;
		tr->downloaded = e->downloaded;
		log_debug("tracker %s: scrape: %u seeders, %u leechers, %u downloaded", tr->url,
		    e->complete, e->incomplete, e->downloaded);
		tracker_done(tr, NULL);
		return;
	}
	tracker_done(tr, "scrape answer does not list this torrent");
}

/* --- HTTP(S) --- */

static void
http_finish(struct tracker *tr)
{
	char err[300], ebuf[200];
	const uint8_t *body;
	size_t blen;

	if (http_body(&tr->h.in, &body, &blen, err, sizeof(err)) == -1) {
		tracker_done(tr, err);
	} else if (tr->op == OP_SCRAPE) {
		struct tracker_msg_scrape *sc = calloc(1, sizeof(*sc));

		if (sc == NULL) {
			tracker_done(tr, "out of memory");
		} else if (tracker_msg_http_scrape_parse(body, blen, sc, ebuf, sizeof(ebuf)) == -1) {
			snprintf(err, sizeof(err), "%s%s", sc->failed ? "tracker says: " :
			    "bad answer: ", sc->failed ? sc->failure : ebuf);
			tracker_done(tr, err);
		} else {
			got_scrape(tr, sc, 1);
		}
		free(sc);
	} else {
		struct tracker_msg_reply *r = calloc(1, sizeof(*r));

		if (r == NULL) {
			tracker_done(tr, "out of memory");
		} else if (tracker_msg_http_reply_parse(body, blen, r, ebuf, sizeof(ebuf)) == -1) {
			snprintf(err, sizeof(err), "%s%s", r->failed ? "tracker says: " :
			    "bad answer: ", r->failed ? r->failure : ebuf);
			tracker_done(tr, err);
		} else {
			got_reply(tr, r);
			tracker_done(tr, NULL);
		}
		free(r);
	}
}

static int
http_start(struct tracker *tr)
{
	struct tracker_msg_announce a;
	char err[200], full[256];

	fill_announce(tr, tr->sent, &a);
	if (http_request(&tr->h.out, tr->url, tr->op, tr->tc->ih, &a, err, sizeof(err)) == -1) {
		if (tr->op == OP_SCRAPE)
			tr->no_scrape = 1;	/* BEP 48: without "announce" in the path it can't */
		snprintf(full, sizeof(full), "cannot build the %s request: %s", op_name(tr->op),
		    err);
		tracker_done(tr, full);
		return -1;
	}
	return 0;
}

/* --- UDP (BEP 15) --- */

static void
udp_send(struct tracker *tr)
{
	struct tracker_client *tc = tr->tc;
	struct tracker_msg_announce a;
	double wait = tc->timeout / 7.0 * (1 << tr->tries);

	buf_reset(&tr->h.out);
	sha_random(&tr->tid, sizeof(tr->tid));
	tr->connecting = !(tr->cid_at > 0 && tc_now(tc) - tr->cid_at < TC_CID_LIFE);
	if (tr->connecting) {
		tracker_msg_udp_connect_build(&tr->h.out, tr->tid);
	} else if (tr->op == OP_SCRAPE) {
		tracker_msg_udp_scrape_build(&tr->h.out, tr->cid, tr->tid,
		    (const uint8_t (*)[20])tc->ih, 1);
	} else {
		fill_announce(tr, tr->sent, &a);
		tracker_msg_udp_announce_build(&tr->h.out, tr->cid, tr->tid, &a);
	}
	(void)!send(tr->h.fd, tr->h.out.data, tr->h.out.len, MSG_NOSIGNAL);
	ev_timer_stop(session_loop(tc->s), &tr->timer);
	ev_timer_set(&tr->timer, wait, 0.);
	ev_timer_start(session_loop(tc->s), &tr->timer);
}

/* Stray or forged datagrams are ignored (anyone can send them), but remembered. */
static void
udp_ignore(struct tracker *tr, const char *why)
{
	snprintf(tr->ignored, sizeof(tr->ignored), "%s", why);
	log_debug("tracker %s: datagram ignored: %s", tr->url, why);
}

static void
udp_read(struct tracker *tr)
{
	uint8_t pkt[4096];
	uint32_t action, tid, want;
	char err[200], msg[TRACKER_MSG_MAX_REASON], full[300];
	ssize_t n = recv(tr->h.fd, pkt, sizeof(pkt), 0);

	if (n < 0) {
		if (errno == ECONNREFUSED)
			tracker_done(tr, "connection refused (nothing answers on that UDP port)");
		return;
	}
	if (tracker_msg_udp_resp_hdr_parse(pkt, (size_t)n, &action, &tid, err,
	    sizeof(err)) == -1) {
		snprintf(full, sizeof(full), "a %zd-byte datagram (too short)", n);
		udp_ignore(tr, full);
		return;
	}
	if (tid != tr->tid) {
		snprintf(full, sizeof(full), "a datagram with transaction id %08x (not ours)", tid);
		udp_ignore(tr, full);
		return;
	}
	want = tr->connecting ? TRACKER_MSG_CONNECT : tr->op == OP_SCRAPE ? TRACKER_MSG_SCRAPE :
	    TRACKER_MSG_ANNOUNCE;
	if (action == TRACKER_MSG_ERROR) {
		tracker_msg_udp_error_parse(pkt, (size_t)n, tid, msg, sizeof(msg), err, sizeof(err));
		snprintf(full, sizeof(full), "tracker says: %s", msg);
		tr->cid_at = 0;
		tracker_done(tr, full);
	} else if (action != want) {
		snprintf(full, sizeof(full), "bad answer: action %u to a request with action %u",
		    action, want);
		tracker_done(tr, full);
	} else if (action == TRACKER_MSG_CONNECT) {
		if (tracker_msg_udp_connect_resp_parse(pkt, (size_t)n, tid, &tr->cid, err,
		    sizeof(err)) == -1) {
			snprintf(full, sizeof(full), "bad connect answer: %s", err);
			tracker_done(tr, full);
			return;
		}
		tr->cid_at = tc_now(tr->tc);
		tr->tries = 0;
		udp_send(tr);
	} else if (action == TRACKER_MSG_SCRAPE) {
		struct tracker_msg_scrape *sc = calloc(1, sizeof(*sc));

		if (sc == NULL) {
			tracker_done(tr, "out of memory");
		} else if (tracker_msg_udp_scrape_resp_parse(pkt, (size_t)n, tid, sc, err,
		    sizeof(err)) == -1) {
			snprintf(full, sizeof(full), "bad answer: %s", err);
			tracker_done(tr, full);
		} else {
			got_scrape(tr, sc, 0);
		}
		free(sc);
	} else {
		struct tracker_msg_reply *r = calloc(1, sizeof(*r));

		if (r == NULL) {
			tracker_done(tr, "out of memory");
		} else if (tracker_msg_udp_announce_resp_parse(pkt, (size_t)n, tid,
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
	char err[300];
	int want;

	(void)loop;
	(void)revents;
	if (tr->kind == K_UDP) {
		udp_read(tr);
		return;
	}
	want = hconn_step(&tr->h, tr->ctx, tr->host, err, sizeof(err));
	if (want < 0)
		tracker_done(tr, err);
	else if (want == 0)
		http_finish(tr);
	else
		set_events(tr, want);
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tracker *tr = w->data;
	char err[300];

	(void)loop;
	(void)revents;
	if (tr->kind == K_UDP && ++tr->tries < TC_UDP_TRIES) {
		udp_send(tr);
		return;
	}
	if (tr->kind == K_UDP)
		snprintf(err, sizeof(err), "no answer to the %s after %d tries (%.0f s)%s%s",
		    tr->connecting ? "connect" : op_name(tr->op), TC_UDP_TRIES,
		    tr->tc->timeout, tr->ignored[0] ? "; ignored: " : "", tr->ignored);
	else
		snprintf(err, sizeof(err), "no answer within %.0f s (timed out %s)",
		    tr->tc->timeout, tr->h.st == H_CONNECTING ? "connecting" :
		    tr->h.st == H_HANDSHAKE ? "in the TLS handshake" : tr->h.st == H_SENDING ?
		    "sending" : "waiting for the whole answer");
	tracker_done(tr, err);
}

static void
tracker_connect(struct tracker *tr)
{
	struct tracker_client *tc = tr->tc;
	struct ev_loop *loop = session_loop(tc->s);
	char err[200];

	tr->state = T_BUSY;
	tr->h.fd = open_socket(&tr->addr, session_bind_addr(tc->s, netaddr_family(&tr->addr)),
	    tr->kind == K_UDP, err, sizeof(err));
	if (tr->h.fd == -1) {
		tracker_done(tr, err);
		return;
	}
	tr->h.st = H_CONNECTING;
	if (tr->kind == K_UDP) {
		set_events(tr, POLLIN);
		tr->tries = 0;
		udp_send(tr);
		return;
	}
	if (http_start(tr) == -1)
		return;
	set_events(tr, POLLOUT);
	ev_timer_set(&tr->timer, tc->timeout, 0.);
	ev_timer_start(loop, &tr->timer);
}

/* Names are resolved, and TLS set up, in the pool: getaddrinfo and CA loading block. */
struct resolve_job {
	struct tracker_client *tc;
	size_t i;
	char host[256], port[8];
	int udp;
	int resolve;
	int tls;
	char *ca_file;
	SSL_CTX *ctx;
	struct netaddr addr;
	int ok;
	char err[300];
};

static void
resolve_run(void *arg)
{
	struct resolve_job *j = arg;
	struct addrinfo hints, *res = NULL;
	int rc;

	if (j->resolve) {
		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = j->udp ? SOCK_DGRAM : SOCK_STREAM;
		if ((rc = getaddrinfo(j->host, j->port, &hints, &res)) != 0) {
			snprintf(j->err, sizeof(j->err), "cannot resolve %s: %s", j->host,
			    gai_strerror(rc));
			return;
		}
		rc = netaddr_from_sockaddr(&j->addr, res->ai_addr, res->ai_addrlen);
		freeaddrinfo(res);
		if (rc != 0) {
			snprintf(j->err, sizeof(j->err), "%s has no IPv4 or IPv6 address", j->host);
			return;
		}
	}
	if (j->tls && (j->ctx = tls_ctx_new(j->ca_file, j->err, sizeof(j->err))) == NULL)
		return;
	j->ok = 1;
}

static void
resolve_done(void *arg, int ran)
{
	struct resolve_job *j = arg;
	struct tracker_client *tc = j->tc;

	tc->jobs--;
	if (tc->freeing) {
		SSL_CTX_free(j->ctx);
		if (tc->jobs == 0)
			free(tc);
	} else {
		struct tracker *tr = &tc->t[j->i];
		tr->state = T_IDLE;
		if (!ran || !j->ok) {
			SSL_CTX_free(j->ctx);
			tracker_done(tr, ran ? j->err : "shutting down");
		} else {
			if (j->resolve) {
				tr->addr = j->addr;
				tr->resolved = 1;
			}
			if (j->ctx)
				tr->ctx = j->ctx;
			tracker_connect(tr);
		}
	}
	free(j->ca_file);
	free(j);
}

static void
tracker_go(struct tracker *tr, enum top op)
{
	struct tracker_client *tc = tr->tc;
	const char *ca = session_conf(tc->s)->tracker_ca_file;
	char as[NETADDR_STRLEN + 16], err[64];
	struct resolve_job *j;
	int resolve, tls;

	if (tr->state != T_IDLE)
		return;
	tr->op = op;
	tr->sent = op == OP_ANNOUNCE ? next_event(tr) : TRACKER_CLIENT_NONE;
	if (!tr->resolved) {
		/* A numeric address needs no resolver. */
		snprintf(as, sizeof(as), strchr(tr->host, ':') ? "[%s]:%s" : "%s:%s", tr->host,
		    tr->port);
		if (netaddr_parse(as, &tr->addr, err, sizeof(err)) == 0)
			tr->resolved = 1;
	}
	resolve = !tr->resolved;
	tls = tr->kind == K_HTTPS && tr->ctx == NULL;
	if (!resolve && !tls) {
		tracker_connect(tr);
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (tls && ca != NULL && (j->ca_file = strdup(ca)) == NULL)) {
		free(j);
		tracker_done(tr, "out of memory");
		return;
	}
	j->tc = tc;
	j->i = (size_t)(tr - tc->t);
	snprintf(j->host, sizeof(j->host), "%s", tr->host);
	snprintf(j->port, sizeof(j->port), "%s", tr->port);
	j->udp = tr->kind == K_UDP;
	j->resolve = resolve;
	j->tls = tls;
	if (worker_submit(session_pool(tc->s), resolve_run, resolve_done, j) == -1) {
		free(j->ca_file);
		free(j);
		tracker_done(tr, "cannot queue the name lookup (shutting down?)");
		return;
	}
	tc->jobs++;
	tr->state = T_RESOLVING;
}

/* BEP 12: the first tracker, tier by tier, that is not resting after a failure. */
static void
tc_walk(struct tracker_client *tc)
{
	double now = tc_now(tc), soonest = 0;
	size_t pos;

	if (tc->walk < tc->n || tc->freeing || session_stopping(tc->s))
		return;
	for (size_t i = 0; i < tc->n; i++) {
		tc->usable[i] = tc->t[i].retry_at <= now;
		if (soonest == 0 || tc->t[i].retry_at < soonest)
			soonest = tc->t[i].retry_at;
	}
	if ((pos = tracker_msg_tiers_pick(tc->order, tc->usable, tc->n)) == tc->n) {
		if (tc->n > 0)
			log_info("tracker: every tracker of this torrent failed; next try in %.0f s",
			    soonest - now);
		tc->next = soonest;
		return;
	}
	/* Busy with a scrape: the next tick tries again. */
	if (tc->t[tc->order[pos]].state != T_IDLE)
		return;
	tc->walk = tc->order[pos];
	tracker_go(&tc->t[tc->walk], OP_ANNOUNCE);
}

static uint32_t
tc_rand(void *ctx, uint32_t bound)
{
	uint32_t r = 0;

	(void)ctx;
	sha_random(&r, sizeof(r));
	return bound ? r % bound : 0;
}

struct tracker_client *
tracker_client_new(struct session *s, const uint8_t info_hash[20],
    const char *const *urls, const uint32_t *tiers, size_t n,
    const struct tracker_client_cb *cb)
{
	struct tracker_client *tc = calloc(1, sizeof(*tc));

	if (tc == NULL || (n && ((tc->t = calloc(n, sizeof(*tc->t))) == NULL ||
	    (tc->tiers = calloc(n, sizeof(*tc->tiers))) == NULL ||
	    (tc->order = calloc(n, sizeof(*tc->order))) == NULL ||
	    (tc->usable = calloc(n, 1)) == NULL))) {
		if (tc) {
			free(tc->t);
			free(tc->tiers);
			free(tc->order);
		}
		free(tc);
		return NULL;
	}
	tc->s = s;
	memcpy(tc->ih, info_hash, 20);
	sha_random(tc->key, sizeof(tc->key));
	tc->cb = *cb;
	tc->interval = TC_MIN_INTERVAL;
	tc->timeout = session_conf(s)->tracker_timeout > 0 ?
	    (double)session_conf(s)->tracker_timeout : 15.0;
	for (size_t i = 0; i < n; i++) {
		struct tracker *tr = &tc->t[tc->n];
		tr->tc = tc;
		tr->tier = tiers ? tiers[i] : (uint32_t)i;
		if ((tr->url = strdup(urls[i])) == NULL)
			continue;
		if (parse_url(tr) == -1) {
			log_info("tracker %s: not an http://, https:// or udp:// URL we can use; "
			    "skipped", tr->url);
			free(tr->url);
			memset(tr, 0, sizeof(*tr));
			continue;
		}
		hconn_init(&tr->h);
		ev_init(&tr->io, io_cb);
		tr->io.data = tr;
		ev_init(&tr->timer, timer_cb);
		tr->timer.data = tr;
		tr->seeders = tr->leechers = tr->downloaded = -1;
		tc->tiers[tc->n] = tr->tier;
		tc->n++;
	}
	tracker_msg_tiers_order(tc->tiers, tc->n, tc->order, tc_rand, NULL);
	tc->cur = tc->walk = tc->n;
	tc_walk(tc);
	return tc;
}

/* --- "stopped": best effort, a second at most, never on the loop while it runs --- */

struct bye {
	char *url;
	enum tkind kind;
	char host[256];
	struct netaddr addr;
	struct netaddr bind_to;
	int has_bind;
	SSL_CTX *ctx;
	struct hconn h;			/* HTTP: the request; UDP: the announce */
	struct tracker_msg_announce a;
	uint64_t cid;
	int have_cid;
	uint32_t tid;
	int events;			/* poll events awaited, 0 when done */
	char result[300];
};

struct bye_job {
	size_t n;
	double budget;			/* seconds from the start of the run */
	struct bye b[];
};

static void
bye_end(struct bye *b, const char *result)
{
	snprintf(b->result, sizeof(b->result), "%s", result);
	b->events = 0;
	hconn_close(&b->h);
}

static void
bye_udp_announce(struct bye *b)
{
	struct buf out;

	buf_init(&out, 0);
	sha_random(&b->tid, sizeof(b->tid));
	if (tracker_msg_udp_announce_build(&out, b->cid, b->tid, &b->a) == 0 &&
	    send(b->h.fd, out.data, out.len, MSG_NOSIGNAL) == (ssize_t)out.len)
		bye_end(b, "sent");
	else
		bye_end(b, "could not send");
	buf_free(&out);
}

static void
bye_start(struct bye *b)
{
	char err[200];

	b->h.fd = open_socket(&b->addr, b->has_bind ? &b->bind_to : NULL, b->kind == K_UDP,
	    err, sizeof(err));
	if (b->h.fd == -1) {
		bye_end(b, err);
		return;
	}
	b->h.st = H_CONNECTING;
	if (b->kind != K_UDP) {
		b->events = POLLOUT;
		return;
	}
	if (b->have_cid) {
		bye_udp_announce(b);
		return;
	}
	sha_random(&b->tid, sizeof(b->tid));
	buf_reset(&b->h.out);
	tracker_msg_udp_connect_build(&b->h.out, b->tid);
	(void)!send(b->h.fd, b->h.out.data, b->h.out.len, MSG_NOSIGNAL);
	b->events = POLLIN;
}

static void
bye_ready(struct bye *b)
{
	char err[300];
	uint8_t pkt[64];
	ssize_t n;
	int want;

	if (b->kind == K_UDP) {
		if ((n = recv(b->h.fd, pkt, sizeof(pkt), 0)) < 0) {
			if (errno != EAGAIN && errno != EINTR)
				bye_end(b, strerror(errno));
		} else if (tracker_msg_udp_connect_resp_parse(pkt, (size_t)n, b->tid, &b->cid,
		    err, sizeof(err)) == 0) {
			bye_udp_announce(b);
		}
		return;
	}
	want = hconn_step(&b->h, b->ctx, b->host, err, sizeof(err));
	if (want < 0)
		bye_end(b, err);
	else if (want == 0)
		bye_end(b, "sent");
	else
		b->events = want;
}

/* Drives every farewell at once with poll() until all are done or the deadline. */
static void
bye_run(void *arg)
{
	struct bye_job *j = arg;
	struct pollfd pf[64];
	double deadline = mono_now() + j->budget;

	for (size_t i = 0; i < j->n; i++)
		bye_start(&j->b[i]);
	for (int round = 0; round < 10000; round++) {
		size_t np = 0;
		double left = deadline - mono_now();

		for (size_t i = 0; i < j->n && np < sizeof(pf) / sizeof(pf[0]); i++)
			if (j->b[i].events) {
				pf[np].fd = j->b[i].h.fd;
				pf[np].events = (short)j->b[i].events;
				pf[np].revents = 0;
				np++;
			}
		if (np == 0 || left <= 0)
			break;
		if (poll(pf, np, (int)(left * 1000) + 1) <= 0)
			continue;
		for (size_t i = 0, k = 0; i < j->n && k < np; i++) {
			if (!j->b[i].events)
				continue;
			if (pf[k++].revents)
				bye_ready(&j->b[i]);
		}
	}
	for (size_t i = 0; i < j->n; i++)
		if (j->b[i].events)
			bye_end(&j->b[i], "no time left (sent at most in part)");
}

static void
bye_free(struct bye_job *j)
{
	for (size_t i = 0; i < j->n; i++) {
		log_info("tracker %s: \"stopped\": %s", j->b[i].url, j->b[i].result);
		hconn_free(&j->b[i].h);
		SSL_CTX_free(j->b[i].ctx);
		free(j->b[i].url);
	}
	free(j);
}

static void
bye_done(void *arg, int ran)
{
	struct bye_job *j = arg;

	/* The pool went away first (daemon exit): what is left of the second now. */
	if (!ran)
		bye_run(j);
	bye_free(j);
}

static void
say_stopped(struct tracker_client *tc)
{
	struct ev_loop *loop = session_loop(tc->s);
	size_t n = 0, k = 0;
	struct bye_job *j;
	double late;

	for (size_t i = 0; i < tc->n; i++)
		n += tc->t[i].joined || (tc->t[i].state == T_BUSY && tc->t[i].op == OP_ANNOUNCE);
	if (n == 0 || (j = calloc(1, sizeof(*j) + n * sizeof(j->b[0]))) == NULL)
		return;
	for (size_t i = 0; i < tc->n; i++) {
		struct tracker *tr = &tc->t[i];
		const struct netaddr *bind_to;
		struct bye *b = &j->b[k];
		char err[200];

		if (!(tr->joined || (tr->state == T_BUSY && tr->op == OP_ANNOUNCE)))
			continue;
		hconn_init(&b->h);
		b->kind = tr->kind;
		b->addr = tr->addr;
		snprintf(b->host, sizeof(b->host), "%s", tr->host);
		if ((bind_to = session_bind_addr(tc->s, netaddr_family(&tr->addr))) != NULL) {
			b->bind_to = *bind_to;
			b->has_bind = 1;
		}
		fill_announce(tr, TRACKER_CLIENT_STOPPED, &b->a);
		b->have_cid = tr->cid_at > 0 && tc_now(tc) - tr->cid_at < TC_CID_LIFE - 5;
		b->cid = tr->cid;
		if ((b->url = strdup(tr->url)) == NULL || (tr->kind == K_HTTPS &&
		    tr->ctx == NULL) || (tr->kind != K_UDP && http_request(&b->h.out, tr->url,
		    OP_ANNOUNCE, tc->ih, &b->a, err, sizeof(err)) == -1)) {
			hconn_free(&b->h);
			free(b->url);
			continue;
		}
		if (tr->ctx && SSL_CTX_up_ref(tr->ctx) != 1) {
			hconn_free(&b->h);
			free(b->url);
			continue;
		}
		b->ctx = tr->ctx;
		k++;
	}
	j->n = k;
	/*
	 * After the loop ended ev_now stands still at the exit, so every client
	 * freed then shares one second; while it runs each job has its own.
	 */
	late = ev_time() - ev_now(loop);
	j->budget = TC_BYE_BUDGET - (late > 0 ? late : 0);
	if (j->budget < 0.05)
		j->budget = 0.05;
	if (!worker_pool_stopping(session_pool(tc->s)) &&
	    worker_submit(session_pool(tc->s), bye_run, bye_done, j) == 0)
		return;
	bye_run(j);
	bye_free(j);
}

void
tracker_client_free(struct tracker_client *tc, int stopped)
{
	if (tc == NULL)
		return;
	if (stopped)
		say_stopped(tc);
	for (size_t i = 0; i < tc->n; i++) {
		struct tracker *tr = &tc->t[i];
		ev_io_stop(session_loop(tc->s), &tr->io);
		ev_timer_stop(session_loop(tc->s), &tr->timer);
		hconn_free(&tr->h);
		SSL_CTX_free(tr->ctx);
		free(tr->url);
	}
	free(tc->t);
	free(tc->tiers);
	free(tc->order);
	free(tc->usable);
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
	if (ev == TRACKER_CLIENT_COMPLETED)
		tc->completed_due = 1;
	tc->next = 0;
	tc_walk(tc);
}

void
tracker_client_tick(struct tracker_client *tc, double now)
{
	struct tracker *tr;

	if (tc->walk == tc->n && now >= tc->next)
		tc_walk(tc);
	if (tc->cur < tc->n) {
		tr = &tc->t[tc->cur];
		/* BEP 48 / BEP 15 scrape, at most once per announce interval. */
		if (tr->state == T_IDLE && !tr->no_scrape && tr->scrape_at > 0 &&
		    now >= tr->scrape_at && tc->walk == tc->n)
			tracker_go(tr, OP_SCRAPE);
	}
}

json_t *
tracker_client_json(const struct tracker_client *tc, double now)
{
	json_t *a = json_array();

	for (size_t k = 0; tc && k < tc->n; k++) {
		size_t i = tc->order[k];
		const struct tracker *tr = &tc->t[i];
		double next = tc->next > tr->retry_at ? tc->next : tr->retry_at;
		const char *st = tr->state != T_IDLE && tr->op == OP_ANNOUNCE ? "announcing" :
		    i == tc->cur ? "working" : tr->error[0] ? "error" : "standby";
		json_t *o = json_pack("{s:s, s:I, s:s, s:b, s:I}", "url", tr->url,
		    "tier", (json_int_t)tr->tier, "status", st, "active",
		    i == tc->cur || i == tc->walk,
		    "next_announce", (json_int_t)(next > now ? next - now : 0));

		if (o == NULL)
			continue;
		if (tr->error[0])
			json_object_set_new(o, "last_error", json_string(tr->error));
		if (tr->seeders >= 0)
			json_object_set_new(o, "seeders", json_integer(tr->seeders));
		if (tr->leechers >= 0)
			json_object_set_new(o, "leechers", json_integer(tr->leechers));
		if (tr->downloaded >= 0)
			json_object_set_new(o, "downloaded", json_integer(tr->downloaded));
		if (tr->scrape_error[0])
			json_object_set_new(o, "scrape_error", json_string(tr->scrape_error));
		json_array_append_new(a, o);
	}
	return a;
}
