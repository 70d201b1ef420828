/* peer.c: a peer connection's state machine: connecting, handshake, active, closed. */
#include "peer.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bitfield.h"
#include "buf.h"
#include "extmsg.h"
#include "log.h"
#include "metainfo.h"
#include "netaddr.h"
#include "ratelimit.h"
#include "session.h"
#include "sha.h"
#include "torrent.h"
#include "search.h"
#include "search_conn.h"
#include "transfer.h"
#include "wire.h"

#define CONNECT_TIMEOUT 10.0
#define HANDSHAKE_TIMEOUT 10.0	/* libtorrent's default */
#define IDLE_TIMEOUT 120.0	/* nothing at all received: the peer is gone */
#define KEEPALIVE_EVERY 90.0
#define READ_CHUNK (256u * 1024)
/* Queued output past this means the peer doesn't read: close rather than grow. */
#define MAX_OUT (8u << 20)
#define DEFAULT_REQQ 250u
/* Our BEP 10 message id for ut_metadata (BEP 9): peers send it to us with this id. */
#define OUR_UT_METADATA 2
#define OUR_UT_PEX 1		/* BEP 11 */
#define PEX_MIN_GAP 30.0	/* BEP 11 asks for one a minute; more often is ignored */

enum peer_state { PEER_CONNECTING, PEER_HANDSHAKE, PEER_ACTIVE, PEER_CLOSED };

static const char *const state_names[] = { "connecting", "handshake", "active", "closed" };

struct peer {
	struct session *s;
	struct transfer *tr;
	uint32_t num;
	int fd;
	int outgoing;
	struct netaddr addr;
	char addrstr[NETADDR_STRLEN];
	enum peer_state state;
	int sent_handshake;
	int got_head;			/* first 48 bytes of its handshake seen */
	ev_io io;
	ev_timer tick;
	ev_timer throttle;
	int throttled;
	struct buf in;
	struct buf out;
	size_t out_off;			/* bytes of out already sent */
	uint8_t reserved[8];
	uint8_t peer_id[20];
	char client[64];
	int fast;
	int ext;
	struct bitfield has;
	struct bitfield allowed;	/* allowed-fast pieces it gave us */
	int msgs;			/* messages after the handshake */
	int seen_pieces;		/* a have, bitfield, have_all or have_none came */
	int choking_us;
	int interested_in_us;
	int am_choking;
	int am_interested;
	int snubbed;
	uint32_t reqq;
	uint8_t their_ut_metadata;	/* the id the peer wants ut_metadata sent with */
	uint8_t their_ut_pex;
	uint8_t their_p2p_search;	/* BEP 10 id of p2p_search; 0: not spoken */
	uint16_t listen_port;		/* BEP 10 "p": where it accepts connections */
	double last_pex_in;
	struct rate_meter down;
	struct rate_meter up;
	uint64_t downloaded;
	uint64_t uploaded;
	double started;
	double last_recv;
	double last_send;
	int in_cb;
	int dead;
	void *data;
};

static uint32_t next_num;

static double
now_of(struct peer *p)
{
	return ev_now(session_loop(p->s));
}

static void
peer_set_state(struct peer *p, enum peer_state st, const char *reason)
{
	log_debug("peer %s #%u: %s -> %s reason=%s", p->addrstr, p->num,
	    state_names[p->state], state_names[st], reason);
	p->state = st;
}

static void peer_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void peer_tick_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void peer_throttle_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void peer_update_io(struct peer *p);

static struct peer *
peer_alloc(struct session *s, int fd, const struct netaddr *a, int outgoing)
{
	struct peer *p = calloc(1, sizeof(*p));
	struct ev_loop *loop = session_loop(s);

	if (p == NULL)
		return NULL;
	p->s = s;
	p->fd = fd;
	p->num = ++next_num;
	p->addr = *a;
	netaddr_format(a, p->addrstr, sizeof(p->addrstr));
	p->outgoing = outgoing;
	p->choking_us = p->am_choking = 1;
	p->reqq = DEFAULT_REQQ;
	p->started = p->last_recv = p->last_send = ev_now(loop);
	/* Room for one largest message plus the read that completes it. */
	buf_init(&p->in, WIRE_MAX_MSG + 2 * READ_CHUNK);
	buf_init(&p->out, MAX_OUT);
	ev_io_init(&p->io, peer_io_cb, fd, EV_READ);
	p->io.data = p;
	ev_timer_init(&p->tick, peer_tick_cb, 1.0, 1.0);
	p->tick.data = p;
	ev_timer_start(loop, &p->tick);
	ev_timer_init(&p->throttle, peer_throttle_cb, 0., 0.);
	p->throttle.data = p;
	session_peer_added(s, p);
	return p;
}

/* BEP 27: a private torrent's peers come from its tracker only, so no DHT or PEX with them. */
static int
is_private(const struct peer *p)
{
	return torrent_is_private(transfer_torrent(p->tr));
}

static int
uses_dht(const struct peer *p)
{
	return session_dht_enabled(p->s) && !is_private(p);
}

static void
send_handshake(struct peer *p)
{
	uint8_t hs[WIRE_HANDSHAKE_LEN];

	wire_handshake_build(hs, transfer_info_hash(p->tr), session_peer_id(p->s), 1, 1,
	    uses_dht(p));
	buf_append(&p->out, hs, sizeof(hs));
	p->sent_handshake = 1;
}

struct peer *
peer_connect(struct session *s, struct transfer *tr, const struct netaddr *a)
{
	const struct netaddr *bind_to = session_bind_addr(s, netaddr_family(a));
	struct peer *p;
	int fd, one = 1;

	fd = socket(netaddr_family(a), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("peer: socket");
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Dial from the address we listen on, so peers see the one we announce. */
	if (bind_to && bind(fd, (const struct sockaddr *)&bind_to->ss, bind_to->len) == -1)
		log_debug("peer: cannot bind outgoing socket: %s", strerror(errno));
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == -1 &&
	    errno != EINPROGRESS) {
		char as[NETADDR_STRLEN];
		log_info("peer %s: connect: %s", netaddr_format(a, as, sizeof(as)),
		    strerror(errno));
		close(fd);
		return NULL;
	}
	if ((p = peer_alloc(s, fd, a, 1)) == NULL) {
		close(fd);
		return NULL;
	}
	p->tr = tr;
	if (transfer_attach(tr, p) == -1) {
		p->tr = NULL;
		peer_free(p);
		return NULL;
	}
	p->state = PEER_CONNECTING;
	ev_io_set(&p->io, fd, EV_WRITE);
	ev_io_start(session_loop(s), &p->io);
	log_debug("peer %s #%u: connecting", p->addrstr, p->num);
	return p;
}

struct peer *
peer_accept(struct session *s, int fd, const struct netaddr *a)
{
	struct peer *p;
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((p = peer_alloc(s, fd, a, 0)) == NULL) {
		close(fd);
		return NULL;
	}
	p->state = PEER_HANDSHAKE;
	ev_io_start(session_loop(s), &p->io);
	return p;
}

void
peer_free(struct peer *p)
{
	struct ev_loop *loop = session_loop(p->s);

	if (p->tr)
		transfer_peer_gone(p->tr, p);
	session_peer_removed(p->s, p);
	ev_io_stop(loop, &p->io);
	ev_timer_stop(loop, &p->tick);
	ev_timer_stop(loop, &p->throttle);
	if (p->fd != -1)
		close(p->fd);
	buf_free(&p->in);
	buf_free(&p->out);
	bitfield_free(&p->has);
	bitfield_free(&p->allowed);
	free(p);
}

void
peer_close(struct peer *p, const char *reason)
{
	if (p->dead)
		return;
	log_info("peer %s #%u closed reason=%s", p->addrstr, p->num, reason);
	peer_set_state(p, PEER_CLOSED, reason);
	p->dead = 1;
	if (p->in_cb)
		return;
	/* Outside our callback: let the loop call us back to free in it. */
	ev_io_stop(session_loop(p->s), &p->io);
	ev_io_set(&p->io, p->fd, EV_READ | EV_WRITE);
	ev_io_start(session_loop(p->s), &p->io);
	ev_feed_event(session_loop(p->s), &p->io, EV_CUSTOM);
}

/* --- sending --- */

static int
peer_sent(struct peer *p, int rc)
{
	if (rc == -1) {
		peer_close(p, "output-overflow");
		return -1;
	}
	if (!p->in_cb)
		peer_update_io(p);
	return 0;
}

int
peer_send_choke(struct peer *p, int choke)
{
	if (p->dead || p->am_choking == choke)
		return p->dead ? -1 : 0;
	p->am_choking = choke;
	return peer_sent(p, wire_put_simple(&p->out, choke ? WIRE_CHOKE : WIRE_UNCHOKE));
}

int
peer_send_interested(struct peer *p, int interested)
{
	if (p->dead || p->am_interested == interested)
		return p->dead ? -1 : 0;
	p->am_interested = interested;
	return peer_sent(p, wire_put_simple(&p->out, interested ? WIRE_INTERESTED :
	    WIRE_NOT_INTERESTED));
}

int
peer_send_have(struct peer *p, uint32_t piece)
{
	if (p->dead || p->state != PEER_ACTIVE)
		return -1;
	return peer_sent(p, wire_put_index(&p->out, WIRE_HAVE, piece));
}

int
peer_send_request(struct peer *p, uint32_t piece, uint32_t begin, uint32_t len)
{
	if (p->dead)
		return -1;
	return peer_sent(p, wire_put_block(&p->out, WIRE_REQUEST, piece, begin, len));
}

int
peer_send_cancel(struct peer *p, uint32_t piece, uint32_t begin, uint32_t len)
{
	if (p->dead)
		return -1;
	return peer_sent(p, wire_put_block(&p->out, WIRE_CANCEL, piece, begin, len));
}

int
peer_send_reject(struct peer *p, uint32_t piece, uint32_t begin, uint32_t len)
{
	/* BEP 6: only a Fast peer understands reject; others just never get data. */
	if (p->dead || !p->fast)
		return p->dead ? -1 : 0;
	return peer_sent(p, wire_put_block(&p->out, WIRE_REJECT, piece, begin, len));
}

int
peer_send_block(struct peer *p, uint32_t piece, uint32_t begin, const void *data,
    uint32_t len)
{
	if (p->dead)
		return -1;
	if (wire_put_piece_header(&p->out, piece, begin, len) == -1 ||
	    buf_append(&p->out, data, len) == -1)
		return peer_sent(p, -1);
	p->uploaded += len;
	rate_meter_add(&p->up, len, now_of(p));
	return peer_sent(p, 0);
}

static const struct metainfo *
info_of(const struct peer *p)
{
	struct torrent *t = p->tr ? transfer_torrent(p->tr) : NULL;

	return t ? torrent_metainfo(t) : NULL;
}

/* BEP 9: answer a metadata request with the piece; pass data on when we fetch. */
static void
serve_metadata(struct peer *p, const struct wire_msg *m)
{
	const struct metainfo *mi = info_of(p);
	struct extmsg_metadata md;
	struct buf b;
	char err[128];
	size_t off, n;

	int64_t size = mi ? (int64_t)mi->info_len : transfer_metadata_size(p->tr);

	if (size <= 0 || p->their_ut_metadata == 0)
		return;
	if (extmsg_metadata_parse(m->data, m->data_len, size, &md, err, sizeof(err)) == -1) {
		log_info("peer %s #%u: bad ut_metadata message: %s", p->addrstr, p->num, err);
		peer_close(p, "bad-ut-metadata");
		return;
	}
	if (mi == NULL) {
		/* We are the one fetching: data goes to the transfer, the rest is noise. */
		if (md.msg_type == EXTMSG_MD_DATA)
			transfer_peer_metadata(p->tr, p, md.piece, md.data, md.data_len);
		return;
	}
	if (md.msg_type != EXTMSG_MD_REQUEST)
		return;
	buf_init(&b, 2 * EXTMSG_METADATA_PIECE);
	off = (size_t)md.piece * EXTMSG_METADATA_PIECE;
	n = extmsg_metadata_piece_len((int64_t)mi->info_len, md.piece);
	if (extmsg_metadata_put_data(&b, md.piece, (int64_t)mi->info_len, mi->info + off,
	    n) == -1)
		extmsg_metadata_put_reject(&b, md.piece);
	if (wire_put_extended(&p->out, p->their_ut_metadata, b.data, b.len) == -1)
		peer_close(p, "output-overflow");
	buf_free(&b);
}

int
peer_send_metadata_request(struct peer *p, uint32_t piece)
{
	struct buf b;
	int rc;

	if (p->dead || p->their_ut_metadata == 0)
		return -1;
	buf_init(&b, 64);
	rc = extmsg_metadata_put_request(&b, piece) == 0 ?
	    wire_put_extended(&p->out, p->their_ut_metadata, b.data, b.len) : -1;
	buf_free(&b);
	return peer_sent(p, rc);
}

/* BEP 11: the peers it knows become peers we may dial. */
static void
handle_pex(struct peer *p, const struct wire_msg *m)
{
	struct extmsg_pex x;
	struct netaddr a;
	char err[128];
	double now = now_of(p);

	if (!session_pex_enabled(p->s) || is_private(p))
		return;
	if (now - p->last_pex_in < PEX_MIN_GAP && p->last_pex_in > 0)
		return;
	p->last_pex_in = now;
	if (extmsg_pex_parse(m->data, m->data_len, &x, err, sizeof(err)) == -1) {
		log_info("peer %s #%u: bad ut_pex message: %s", p->addrstr, p->num, err);
		return;
	}
	for (size_t i = 0; i < x.list[EXTMSG_PEX_ADDED].count; i++)
		if (extmsg_pex_get(&x, EXTMSG_PEX_ADDED, i, &a, NULL) == 0)
			transfer_peer_pex(p->tr, p, &a);
	for (size_t i = 0; i < x.list[EXTMSG_PEX_ADDED6].count; i++)
		if (extmsg_pex_get(&x, EXTMSG_PEX_ADDED6, i, &a, NULL) == 0)
			transfer_peer_pex(p->tr, p, &a);
}

int
peer_listen_addr(const struct peer *p, struct netaddr *out)
{
	/* Where we dialled it, or the port it told us: never its ephemeral port. */
	*out = p->addr;
	if (p->outgoing)
		return 0;
	if (p->listen_port == 0)
		return -1;
	netaddr_set_port(out, p->listen_port);
	return 0;
}

int
peer_send_pex(struct peer *p, const struct extmsg_pex_peer *added, size_t n)
{
	struct buf b;
	int rc;

	if (p->dead || p->their_ut_pex == 0 || p->state != PEER_ACTIVE)
		return -1;
	buf_init(&b, 8192);
	rc = extmsg_pex_build(&b, added, n, NULL, 0) == 0 ?
	    wire_put_extended(&p->out, p->their_ut_pex, b.data, b.len) : -1;
	buf_free(&b);
	return peer_sent(p, rc);
}

/* Our half after the handshake: what we have, and our extensions. */
static void
send_intro(struct peer *p)
{
	const struct bitfield *have = transfer_have(p->tr);
	struct wire_ext_handshake eh;
	struct buf b;

	if (p->fast && have->count == 0)
		wire_put_simple(&p->out, WIRE_HAVE_NONE);
	else if (p->fast && bitfield_full(have))
		wire_put_simple(&p->out, WIRE_HAVE_ALL);
	else if (have->count > 0)
		wire_put_bitfield(&p->out, have->bits, bitfield_bytes(have->nbits));
	/* BEP 5: a peer that runs a DHT node learns where ours is. */
	if (uses_dht(p) && WIRE_RESERVED_DHT(p->reserved))
		wire_put_port(&p->out, session_listen_port(p->s));
	if (!p->ext)
		return;
	memset(&eh, 0, sizeof(eh));
	snprintf(eh.client, sizeof(eh.client), "p2pd %s", P2PD_VERSION);
	eh.reqq = 2000;
	eh.port = session_listen_port(p->s);
	eh.metadata_size = -1;
	/*
	 * BEP 9: with the info dict we hand it out, so magnet users can start
	 * from us; without it (a magnet of ours) we ask for it.
	 */
	eh.ut_metadata = OUR_UT_METADATA;
	if (session_pex_enabled(p->s) && !is_private(p))
		eh.ut_pex = OUR_UT_PEX;
	/*
	 * Searches ride on any public torrent's connection: answers to ours, and
	 * others' queries if we answer. A private swarm's peers learn nothing else.
	 */
	if (!is_private(p))
		eh.p2p_search = SEARCH_EXT_ID;
	if (info_of(p) != NULL)
		eh.metadata_size = (int64_t)info_of(p)->info_len;
	buf_init(&b, 4096);
	if (wire_ext_handshake_build(&b, &eh) == 0)
		wire_put_extended(&p->out, 0, b.data, b.len);
	buf_free(&b);
}

/* --- receiving --- */

static int
check_index(struct peer *p, uint32_t index, const char *what)
{
	if (index < transfer_piece_count(p->tr))
		return 0;
	log_info("peer %s #%u: %s for piece %u of %u", p->addrstr, p->num, what, index,
	    transfer_piece_count(p->tr));
	peer_close(p, "piece-index-out-of-range");
	return -1;
}

static int
handle_bitfield(struct peer *p, const struct wire_msg *m)
{
	/*
	 * BEP 3 wants it first, but clients put their BEP 10 handshake either
	 * side of it, and aria2 follows its have_none with a bitfield. A late
	 * one replaces what we knew, which keeps availability counts exact.
	 */
	if (p->seen_pieces) {
		transfer_peer_forget_pieces(p->tr, p);
		bitfield_clear_all(&p->has);
	}
	p->seen_pieces = 1;
	if (m->id == WIRE_HAVE_ALL || m->id == WIRE_HAVE_NONE) {
		if (!p->fast) {
			peer_close(p, "fast-message-without-fast-extension");
			return -1;
		}
		if (m->id == WIRE_HAVE_ALL)
			bitfield_set_all(&p->has);
	} else if (bitfield_load(&p->has, m->data, m->data_len) == -1) {
		/* BEP 3: a wrong length or spare bits set drops the connection. */
		peer_close(p, "bad-bitfield");
		return -1;
	}
	transfer_peer_bitfield(p->tr, p);
	return 0;
}

static int handle_search(struct peer *p, const struct wire_msg *m);

static int
handle_ext(struct peer *p, const struct wire_msg *m)
{
	struct wire_ext_handshake eh;
	char err[128];

	if (m->ext_id == OUR_UT_METADATA) {
		serve_metadata(p, m);
		return p->dead ? -1 : 0;
	}
	if (m->ext_id == OUR_UT_PEX) {
		handle_pex(p, m);
		return p->dead ? -1 : 0;
	}
	if (m->ext_id == SEARCH_EXT_ID && !is_private(p))
		return handle_search(p, m);
	if (m->ext_id != 0)
		return 0;	/* not one we registered: ignored, per BEP 10 */
	/* Extensions are optional: a handshake we can't read just means none. */
	if (wire_ext_handshake_parse(m->data, m->data_len, &eh, err, sizeof(err)) == -1) {
		log_debug("peer %s #%u: ignoring extension handshake: %s", p->addrstr, p->num,
		    err);
		return 0;
	}
	if (eh.reqq > 0)
		p->reqq = eh.reqq < 2000 ? eh.reqq : 2000;
	p->their_ut_metadata = eh.ut_metadata;
	p->their_p2p_search = is_private(p) ? 0 : eh.p2p_search;
	p->their_ut_pex = session_pex_enabled(p->s) && !is_private(p) ? eh.ut_pex : 0;
	p->listen_port = eh.port;
	if (eh.client[0])
		snprintf(p->client, sizeof(p->client), "%s", eh.client);
	transfer_peer_ext(p->tr, p, eh.ut_metadata != 0, eh.metadata_size);
	return p->dead ? -1 : 0;
}

/* p2p_search on a torrent connection: answer a query, merge an answer; a flood drops the peer. */
static int
handle_search(struct peer *p, const struct wire_msg *m)
{
	struct buf reply;
	int rc;

	buf_init(&reply, 0);
	rc = search_peer_message(session_search(p->s), &p->addr, m->data, m->data_len, &reply);
	if (rc == 1 && p->their_p2p_search != 0 &&
	    wire_put_extended(&p->out, p->their_p2p_search, reply.data, reply.len) == -1)
		rc = -1;
	buf_free(&reply);
	if (rc == -1) {
		peer_close(p, "search-abuse");
		return -1;
	}
	return 0;
}

int
peer_searchable(const struct peer *p)
{
	return p->state == PEER_ACTIVE && !p->dead && p->their_p2p_search != 0;
}

int
peer_send_search(struct peer *p, const uint8_t *payload, size_t len)
{
	if (!peer_searchable(p))
		return -1;
	return peer_sent(p, wire_put_extended(&p->out, p->their_p2p_search, payload, len));
}

static int
handle_fast_only(struct peer *p, const struct wire_msg *m)
{
	if (!p->fast) {
		peer_close(p, "fast-message-without-fast-extension");
		return -1;
	}
	if (check_index(p, m->index, "fast message") == -1)
		return -1;
	if (m->id == WIRE_REJECT)
		transfer_peer_reject(p->tr, p, m->index, m->begin, m->length);
	else if (m->id == WIRE_ALLOWED_FAST) {
		bitfield_set(&p->allowed, m->index);
		transfer_peer_allowed_fast(p->tr, p, m->index);
	}
	/* Suggest is only a hint; ignoring it is always safe (BEP 6). */
	return 0;
}

static int
dispatch(struct peer *p, const struct wire_msg *m)
{
	struct transfer *tr = p->tr;

	if (m->id == WIRE_PORT && uses_dht(p))
		session_dht_port(p->s, &p->addr, m->port);
	if (m->id == WIRE_KEEPALIVE || m->id == WIRE_UNKNOWN || m->id == WIRE_PORT)
		return 0;
	p->msgs++;
	/* A magnet without its info dict can't size or check piece messages yet. */
	if (transfer_piece_count(tr) == 0 && m->id != WIRE_EXTENDED && m->id != WIRE_CHOKE &&
	    m->id != WIRE_UNCHOKE && m->id != WIRE_INTERESTED && m->id != WIRE_NOT_INTERESTED)
		return 0;
	switch (m->id) {
	case WIRE_CHOKE:
		p->choking_us = 1;
		transfer_peer_choke(tr, p, 1);
		break;
	case WIRE_UNCHOKE:
		p->choking_us = 0;
		transfer_peer_choke(tr, p, 0);
		break;
	case WIRE_INTERESTED:
	case WIRE_NOT_INTERESTED:
		p->interested_in_us = m->id == WIRE_INTERESTED;
		transfer_peer_interest(tr, p, p->interested_in_us);
		break;
	case WIRE_HAVE:
		if (check_index(p, m->index, "have") == -1)
			return -1;
		p->seen_pieces = 1;
		if (!bitfield_get(&p->has, m->index)) {
			bitfield_set(&p->has, m->index);
			transfer_peer_have(tr, p, m->index);
		}
		break;
	case WIRE_BITFIELD:
	case WIRE_HAVE_ALL:
	case WIRE_HAVE_NONE:
		return handle_bitfield(p, m);
	case WIRE_REQUEST:
		if (check_index(p, m->index, "request") == -1)
			return -1;
		transfer_peer_request(tr, p, m->index, m->begin, m->length);
		break;
	case WIRE_CANCEL:
		if (check_index(p, m->index, "cancel") == -1)
			return -1;
		transfer_peer_cancel(tr, p, m->index, m->begin, m->length);
		break;
	case WIRE_PIECE:
		if (check_index(p, m->index, "piece") == -1)
			return -1;
		p->downloaded += m->data_len;
		rate_meter_add(&p->down, m->data_len, now_of(p));
		transfer_peer_block(tr, p, m->index, m->begin, m->data, (uint32_t)m->data_len);
		break;
	case WIRE_SUGGEST:
	case WIRE_REJECT:
	case WIRE_ALLOWED_FAST:
		return handle_fast_only(p, m);
	case WIRE_EXTENDED:
		if (!p->ext) {
			peer_close(p, "extended-message-without-extension-bit");
			return -1;
		}
		return handle_ext(p, m);
	}
	return 0;
}

/* Finds the torrent for an incoming handshake and answers it. */
static int
handle_head(struct peer *p)
{
	uint8_t ih[20];
	int r = wire_handshake_parse_head(p->in.data, p->in.len, p->reserved, ih);
	struct transfer *tr;

	if (r <= 0) {
		if (r < 0)
			peer_close(p, "not-bittorrent");
		return r;
	}
	p->got_head = 1;
	if (p->tr == NULL) {
		if ((tr = session_transfer_by_hash(p->s, ih)) == NULL &&
		    search_key_known(session_search(p->s), ih)) {
			/* A search-only connection (docs/protocol-search.md): search.c takes the socket. */
			ev_io_stop(session_loop(p->s), &p->io);
			if (search_accept(session_search(p->s), p->fd, &p->addr, p->in.data, p->in.len,
			    ih) == 0)
				p->fd = -1;
			peer_close(p, p->fd == -1 ? "handed-to-search" : "search-refused");
			return -1;
		}
		if (tr == NULL) {
			char hex[41];
			sha_hex(ih, 20, hex);
			log_debug("peer %s #%u: wants unknown or inactive torrent %s",
			    p->addrstr, p->num, hex);
			peer_close(p, "unknown-info-hash");
			return -1;
		}
		p->tr = tr;
		if (transfer_attach(tr, p) == -1) {
			p->tr = NULL;
			peer_close(p, "refused-by-limits");
			return -1;
		}
		send_handshake(p);
	} else if (memcmp(ih, transfer_info_hash(p->tr), 20) != 0) {
		peer_close(p, "wrong-info-hash");
		return -1;
	}
	return 1;
}

static int
handle_handshake(struct peer *p)
{
	struct wire_handshake hs;
	int r;

	if (!p->got_head && (r = handle_head(p)) <= 0)
		return r;
	if ((r = wire_handshake_parse(p->in.data, p->in.len, &hs)) <= 0)
		return r;
	buf_consume(&p->in, WIRE_HANDSHAKE_LEN);
	if (memcmp(hs.peer_id, session_peer_id(p->s), 20) == 0) {
		peer_close(p, "connected-to-self");
		return -1;
	}
	memcpy(p->peer_id, hs.peer_id, 20);
	wire_client_name(hs.peer_id, p->client, sizeof(p->client));
	p->fast = WIRE_RESERVED_FAST(p->reserved);
	p->ext = WIRE_RESERVED_EXT(p->reserved);
	if (bitfield_init(&p->has, transfer_piece_count(p->tr)) == -1 ||
	    bitfield_init(&p->allowed, transfer_piece_count(p->tr)) == -1) {
		peer_close(p, "out-of-memory");
		return -1;
	}
	peer_set_state(p, PEER_ACTIVE, "handshake");
	log_info("peer %s #%u: connected (%s, %s)%s%s", p->addrstr, p->num,
	    p->outgoing ? "out" : "in", p->client, p->fast ? " fast" : "",
	    p->ext ? " ext" : "");
	send_intro(p);
	transfer_peer_ready(p->tr, p);
	return 1;
}

static void
process_input(struct peer *p)
{
	size_t off = 0;

	if (p->state == PEER_HANDSHAKE && handle_handshake(p) <= 0)
		return;
	while (!p->dead && p->state == PEER_ACTIVE) {
		struct wire_msg m;
		char err[128];
		size_t need;
		ssize_t n = wire_msg_parse(p->in.data + off, p->in.len - off, WIRE_MAX_MSG,
		    &m, &need, err, sizeof(err));

		if (n == 0)
			break;
		if (n < 0) {
			log_info("peer %s #%u: protocol error: %s", p->addrstr, p->num, err);
			peer_close(p, "protocol-error");
			break;
		}
		off += (size_t)n;
		if (dispatch(p, &m) == -1)
			break;
	}
	buf_consume(&p->in, off);
}

static void
peer_read(struct peer *p)
{
	struct ratelimit *rl = session_rate_down(p->s);
	double now = now_of(p);
	uint64_t allowed = READ_CHUNK;

	if (p->state == PEER_ACTIVE) {
		allowed = ratelimit_take(rl, READ_CHUNK, now);
		if (allowed == 0) {
			/* Over the download limit: stop reading until tokens come back. */
			double wait = ratelimit_wait(rl, WIRE_BLOCK, now);
			p->throttled = 1;
			ev_timer_set(&p->throttle, wait > 0.01 ? wait : 0.01, 0.);
			ev_timer_start(session_loop(p->s), &p->throttle);
			return;
		}
	}
	if (buf_reserve(&p->in, (size_t)allowed) == -1) {
		peer_close(p, "input-overflow");
		return;
	}
	for (;;) {
		ssize_t n = recv(p->fd, p->in.data + p->in.len, (size_t)allowed, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				peer_close(p, strerror(errno));
			break;
		}
		if (n == 0) {
			peer_close(p, "eof");
			break;
		}
		p->in.len += (size_t)n;
		p->last_recv = now;
		break;
	}
	process_input(p);
}

static void
peer_write(struct peer *p)
{
	while (p->out_off < p->out.len) {
		ssize_t n = send(p->fd, p->out.data + p->out_off, p->out.len - p->out_off,
		    MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				peer_close(p, strerror(errno));
			break;
		}
		p->out_off += (size_t)n;
		p->last_send = now_of(p);
	}
	/* Move the unsent tail down only when it is cheap relative to what went. */
	if (p->out_off == p->out.len) {
		p->out.len = p->out_off = 0;
	} else if (p->out_off > p->out.len / 2) {
		buf_consume(&p->out, p->out_off);
		p->out_off = 0;
	}
	if (p->state == PEER_ACTIVE && peer_send_queued(p) < PEER_SEND_LOW && !p->dead)
		transfer_peer_writable(p->tr, p);
}

static void
finish_connect(struct peer *p)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		peer_close(p, strerror(err));
		return;
	}
	peer_set_state(p, PEER_HANDSHAKE, "connected");
	send_handshake(p);
}

static void
peer_update_io(struct peer *p)
{
	int want = 0;

	if (p->dead)
		return;
	if (p->state == PEER_CONNECTING)
		want = EV_WRITE;
	else {
		if (!p->throttled)
			want |= EV_READ;
		if (peer_send_queued(p) > 0)
			want |= EV_WRITE;
	}
	if (want == 0) {
		ev_io_stop(session_loop(p->s), &p->io);
		return;
	}
	if ((p->io.events & (EV_READ | EV_WRITE)) != want || !ev_is_active(&p->io)) {
		ev_io_stop(session_loop(p->s), &p->io);
		ev_io_set(&p->io, p->fd, want);
		ev_io_start(session_loop(p->s), &p->io);
	}
}

/* Every callback of a peer ends here: only here may it be freed. */
static void
peer_cb_end(struct peer *p)
{
	p->in_cb = 0;
	if (p->dead)
		peer_free(p);
	else
		peer_update_io(p);
}

static void
peer_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct peer *p = w->data;

	(void)loop;
	p->in_cb = 1;
	if (!p->dead && p->state == PEER_CONNECTING && (revents & EV_WRITE))
		finish_connect(p);
	else if (!p->dead && (revents & EV_READ))
		peer_read(p);
	if (!p->dead && p->state != PEER_CONNECTING && peer_send_queued(p) > 0)
		peer_write(p);
	peer_cb_end(p);
}

static void
peer_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct peer *p = w->data;
	double now = ev_now(loop);

	(void)revents;
	p->in_cb = 1;
	if (p->state == PEER_CONNECTING && now - p->started > CONNECT_TIMEOUT)
		peer_close(p, "connect-timeout");
	else if (p->state == PEER_HANDSHAKE && now - p->started > HANDSHAKE_TIMEOUT)
		peer_close(p, "handshake-timeout");
	else if (p->state == PEER_ACTIVE && now - p->last_recv > IDLE_TIMEOUT)
		peer_close(p, "idle-timeout");
	else if (p->state == PEER_ACTIVE && now - p->last_send > KEEPALIVE_EVERY &&
	    peer_send_queued(p) == 0)
		wire_put_keepalive(&p->out);
	peer_cb_end(p);
}

static void
peer_throttle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct peer *p = w->data;

	(void)loop;
	(void)revents;
	p->throttled = 0;
	peer_update_io(p);
}

uint32_t peer_num(const struct peer *p) { return p->num; }
const struct netaddr *peer_addr(const struct peer *p) { return &p->addr; }
const char *peer_addr_str(const struct peer *p) { return p->addrstr; }
const struct bitfield *peer_has(const struct peer *p) { return &p->has; }
int peer_fast(const struct peer *p) { return p->fast; }
int peer_choking_us(const struct peer *p) { return p->choking_us; }
int peer_interested_in_us(const struct peer *p) { return p->interested_in_us; }
int peer_am_choking(const struct peer *p) { return p->am_choking; }
int peer_am_interested(const struct peer *p) { return p->am_interested; }
int peer_snubbed(const struct peer *p) { return p->snubbed; }
void peer_set_snubbed(struct peer *p, int snubbed) { p->snubbed = snubbed; }
uint32_t peer_reqq(const struct peer *p) { return p->reqq; }
size_t peer_send_queued(const struct peer *p) { return p->out.len - p->out_off; }
void *peer_data(const struct peer *p) { return p->data; }
void peer_set_data(struct peer *p, void *data) { p->data = data; }
uint64_t peer_downloaded(const struct peer *p) { return p->downloaded; }
uint64_t peer_uploaded(const struct peer *p) { return p->uploaded; }

int
peer_is_seed(const struct peer *p)
{
	return p->has.nbits > 0 && bitfield_full(&p->has);
}

int
peer_is_active(const struct peer *p)
{
	return p->state == PEER_ACTIVE && !p->dead;
}

const struct bitfield *
peer_allowed_fast(const struct peer *p)
{
	return p->allowed.count ? &p->allowed : NULL;
}

double
peer_down_rate(struct peer *p, double now)
{
	return rate_meter_rate(&p->down, now);
}

double
peer_up_rate(struct peer *p, double now)
{
	return rate_meter_rate(&p->up, now);
}

json_t *
peer_json(struct peer *p, double now, uint32_t npieces)
{
	char flags[16];
	size_t n = 0;

	if (p->am_interested)
		flags[n++] = 'I';
	if (p->interested_in_us)
		flags[n++] = 'i';
	if (p->am_choking)
		flags[n++] = 'C';
	if (p->choking_us)
		flags[n++] = 'c';
	if (p->fast)
		flags[n++] = 'F';
	if (p->ext)
		flags[n++] = 'E';
	if (p->snubbed)
		flags[n++] = 'S';
	flags[n] = '\0';
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:f}",
	    "address", p->addrstr,
	    "client", p->client[0] ? p->client : "unknown",
	    "direction", p->outgoing ? "out" : "in",
	    "flags", flags,
	    "down_rate", (json_int_t)rate_meter_rate(&p->down, now),
	    "up_rate", (json_int_t)rate_meter_rate(&p->up, now),
	    "downloaded", (json_int_t)p->downloaded,
	    "uploaded", (json_int_t)p->uploaded,
	    "progress", npieces ? (double)p->has.count / (double)npieces : 0.0);
}
