/* search_conn.c: a search-only peer connection: BT handshake on a word key, BEP 10, p2p_search. */
#include "search_conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "netaddr.h"
#include "search_msg.h"
#include "wire.h"

#define CONN_TIMEOUT 10.0	/* the whole exchange; a search waits for nobody longer */
#define IN_MAX (SEARCH_MSG_MAX + 4096)	/* one answer plus the handshakes */
#define OUT_MAX (2 * SEARCH_MSG_MAX)
#define QUERIES_PER_CONN 4	/* an honest searcher asks once per connection */
#define SKIP_MSGS 16		/* bitfields, haves... from a client that sends them anyway */

struct search_conn {
	struct ev_loop *loop;
	int fd;
	ev_io io;
	ev_timer timer;
	struct netaddr addr;
	char addrstr[NETADDR_STRLEN];
	int outgoing;
	int connected;
	int got_handshake;
	uint8_t key[20];
	uint8_t their_id;	/* their BEP 10 id for p2p_search; 0 until their handshake */
	uint32_t qid;
	char query[SEARCH_MAX_QUERY + 1];
	int asked;
	int queries;
	int skipped;
	int pending_in;		/* accepted with bytes already read: process them first */
	struct buf in, out;
	size_t out_off;
	struct search_conn_cb cb;
	struct search_msg msg;	/* 14 KiB: here rather than on the stack */
};

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents);

static void
conn_finish(struct search_conn *c, const char *why)
{
	log_debug("search %s: closed: %s", c->addrstr, why);
	if (c->cb.closed)
		c->cb.closed(c->cb.ctx, c, why);
	search_conn_free(c);
}

void
search_conn_free(struct search_conn *c)
{
	if (c == NULL)
		return;
	ev_io_stop(c->loop, &c->io);
	ev_timer_stop(c->loop, &c->timer);
	if (c->fd != -1)
		close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

static struct search_conn *
conn_new(struct ev_loop *loop, int fd, const struct netaddr *a, const uint8_t key[20],
    const struct search_conn_cb *cb)
{
	struct search_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->loop = loop;
	c->fd = fd;
	c->addr = *a;
	netaddr_format(a, c->addrstr, sizeof(c->addrstr));
	memcpy(c->key, key, 20);
	c->cb = *cb;
	buf_init(&c->in, IN_MAX);
	buf_init(&c->out, OUT_MAX);
	ev_io_init(&c->io, conn_io_cb, fd, EV_READ | EV_WRITE);
	c->io.data = c;
	ev_io_start(loop, &c->io);
	ev_timer_init(&c->timer, conn_timeout_cb, CONN_TIMEOUT, 0.);
	c->timer.data = c;
	ev_timer_start(loop, &c->timer);
	return c;
}

/* Our handshake: no DHT or Fast bit (nothing but search is spoken here), BEP 10 on. */
static int
put_handshakes(struct search_conn *c, const uint8_t peer_id[20])
{
	uint8_t hs[WIRE_HANDSHAKE_LEN];
	struct wire_ext_handshake eh;
	struct buf b;
	int rc;

	wire_handshake_build(hs, c->key, peer_id, 0, 1, 0);
	memset(&eh, 0, sizeof(eh));
	eh.p2p_search = SEARCH_EXT_ID;
	eh.metadata_size = -1;
	snprintf(eh.client, sizeof(eh.client), "p2pd %s", P2PD_VERSION);
	buf_init(&b, 1024);
	rc = buf_append(&c->out, hs, sizeof(hs));
	if (rc == 0)
		rc = wire_ext_handshake_build(&b, &eh);
	if (rc == 0)
		rc = wire_put_extended(&c->out, 0, b.data, b.len);
	buf_free(&b);
	return rc;
}

struct search_conn *
search_conn_dial(struct ev_loop *loop, const struct netaddr *to, const struct netaddr *bind_addr,
    const uint8_t key[20], const uint8_t peer_id[20], uint32_t qid, const char *query,
    const struct search_conn_cb *cb)
{
	int fd = socket(netaddr_family(to), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct search_conn *c;

	if (fd == -1)
		return NULL;
	/* From the listen address, so the peer sees the address it knows us by. */
	if (bind_addr != NULL && bind(fd, (const struct sockaddr *)&bind_addr->ss,
	    bind_addr->len) == -1) {
		close(fd);
		return NULL;
	}
	if (connect(fd, (const struct sockaddr *)&to->ss, to->len) == -1 && errno != EINPROGRESS) {
		close(fd);
		return NULL;
	}
	if ((c = conn_new(loop, fd, to, key, cb)) == NULL) {
		close(fd);
		return NULL;
	}
	c->outgoing = 1;
	c->qid = qid;
	snprintf(c->query, sizeof(c->query), "%s", query);
	if (put_handshakes(c, peer_id) == -1) {
		search_conn_free(c);
		return NULL;
	}
	return c;
}

struct search_conn *
search_conn_accept(struct ev_loop *loop, int fd, const struct netaddr *from, const uint8_t *in,
    size_t inlen, const uint8_t key[20], const uint8_t peer_id[20],
    const struct search_conn_cb *cb)
{
	struct search_conn *c = conn_new(loop, fd, from, key, cb);

	if (c == NULL)
		return NULL;
	c->connected = 1;
	c->pending_in = inlen > 0;
	if (buf_append(&c->in, in, inlen) == -1 || put_handshakes(c, peer_id) == -1) {
		search_conn_free(c);
		return NULL;
	}
	return c;
}

static void
ask(struct search_conn *c)
{
	struct buf b;

	buf_init(&b, SEARCH_MSG_MAX);
	if (search_msg_build_query(&b, c->qid, c->query) == 0 &&
	    wire_put_extended(&c->out, c->their_id, b.data, b.len) == 0)
		c->asked = 1;
	buf_free(&b);
}

/* One p2p_search payload. Returns -1 when the connection must end (why set). */
static int
on_search(struct search_conn *c, const uint8_t *p, size_t len, const char **why)
{
	struct search_msg *m = &c->msg;
	char err[160];
	struct buf reply;
	int rc;

	if (search_msg_parse(p, len, m, err, sizeof(err)) == -1) {
		log_info("search %s: refused a p2p_search message: %s", c->addrstr, err);
		*why = "malformed";
		return -1;
	}
	if (c->outgoing) {
		if (m->type != SEARCH_MSG_RESULTS || m->id != c->qid) {
			*why = "not our answer";
			return -1;
		}
		c->cb.results(c->cb.ctx, c, &c->addr, m);
		*why = "answered";
		return -1;
	}
	if (m->type != SEARCH_MSG_QUERY || c->their_id == 0 || ++c->queries > QUERIES_PER_CONN) {
		*why = "unexpected message";
		return -1;
	}
	buf_init(&reply, SEARCH_MSG_MAX);
	rc = c->cb.query(c->cb.ctx, &c->addr, m, &reply);
	if (rc == 0)
		rc = wire_put_extended(&c->out, c->their_id, reply.data, reply.len);
	buf_free(&reply);
	if (rc == -1) {
		*why = "refused (rate limit)";
		return -1;
	}
	return 0;
}

static int
on_message(struct search_conn *c, const struct wire_msg *m, const char **why)
{
	struct wire_ext_handshake eh;
	char err[128];

	if (m->id != WIRE_EXTENDED) {
		/* Keep-alives, bitfields: tolerated a few times, never acted on. */
		if (++c->skipped > SKIP_MSGS) {
			*why = "not speaking p2p_search";
			return -1;
		}
		return 0;
	}
	if (m->ext_id == SEARCH_EXT_ID)
		return on_search(c, m->data, m->data_len, why);
	if (m->ext_id != 0)
		return 0;
	if (wire_ext_handshake_parse(m->data, m->data_len, &eh, err, sizeof(err)) == -1 ||
	    eh.p2p_search == 0) {
		*why = "no p2p_search in its extension handshake";
		return -1;
	}
	c->their_id = eh.p2p_search;
	if (c->outgoing && !c->asked)
		ask(c);
	return 0;
}

static int
process(struct search_conn *c, const char **why)
{
	size_t off = 0;
	int rc = 0;

	if (!c->got_handshake) {
		struct wire_handshake hs;
		int r = wire_handshake_parse(c->in.data, c->in.len, &hs);

		if (r == 0)
			return 0;
		if (r < 0 || memcmp(hs.info_hash, c->key, 20) != 0 ||
		    !WIRE_RESERVED_EXT(hs.reserved)) {
			*why = "bad handshake";
			return -1;
		}
		c->got_handshake = 1;
		off = WIRE_HANDSHAKE_LEN;
	}
	for (int i = 0; i < 64 && rc == 0; i++) {
		struct wire_msg m;
		size_t need;
		char err[128];
		ssize_t n = wire_msg_parse(c->in.data + off, c->in.len - off, IN_MAX - 64, &m,
		    &need, err, sizeof(err));

		if (n == 0)
			break;
		if (n < 0) {
			log_info("search %s: protocol error: %s", c->addrstr, err);
			*why = "protocol error";
			rc = -1;
			break;
		}
		off += (size_t)n;
		rc = on_message(c, &m, why);
	}
	buf_consume(&c->in, off);
	return rc;
}

static int
do_read(struct search_conn *c, const char **why)
{
	for (int i = 0; i < 16; i++) {
		ssize_t n;

		if (buf_reserve(&c->in, 4096) == -1) {
			*why = "message too large";
			return -1;
		}
		n = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len, 0);
		if (n == 0) {
			*why = "closed by peer";
			return -1;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			*why = "read error";
			return -1;
		}
		c->in.len += (size_t)n;
		if (process(c, why) == -1)
			return -1;
	}
	return 0;
}

static int
do_write(struct search_conn *c, const char **why)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
		    MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return 0;
			*why = "write error";
			return -1;
		}
		c->out_off += (size_t)n;
	}
	buf_reset(&c->out);
	c->out_off = 0;
	return 0;
}

static void
conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct search_conn *c = w->data;
	const char *why = NULL;
	int events;

	(void)loop;
	if (!c->connected && (revents & EV_WRITE)) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err != 0) {
			conn_finish(c, "connect failed");
			return;
		}
		c->connected = 1;
	}
	if (c->pending_in) {
		c->pending_in = 0;
		if (process(c, &why) == -1) {
			(void)do_write(c, &why);
			conn_finish(c, why);
			return;
		}
	}
	if ((revents & EV_READ) && do_read(c, &why) == -1) {
		/* An answer may have been queued (the reply to a last query): try once. */
		if (!c->outgoing)
			(void)do_write(c, &why);
		conn_finish(c, why);
		return;
	}
	if (do_write(c, &why) == -1) {
		conn_finish(c, why);
		return;
	}
	events = EV_READ | (c->out.len > c->out_off ? EV_WRITE : 0);
	if (!c->connected)
		events |= EV_WRITE;
	ev_io_stop(c->loop, &c->io);
	ev_io_set(&c->io, c->fd, events);
	ev_io_start(c->loop, &c->io);
}

static void
conn_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	conn_finish(w->data, "timed out");
}
