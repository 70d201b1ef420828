/* dht_service.c: runs the session's DHT node: UDP sockets, clock, bootstrap, saved table, torrent lookups. */
#include "dht_service.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "conf.h"
#include "dht.h"
#include "listener.h"
#include "log.h"
#include "netaddr.h"
#include "session.h"
#include "sha.h"
#include "store.h"
#include "torrent.h"
#include "transfer.h"
#include "worker.h"
#include "search.h"

#define SOCKS_MAX 16		/* one per listen address */
#define READS_PER_WAKEUP 64	/* datagrams read per event, so the loop stays fair */
#define SAVED_NODES 200		/* routing table entries kept across restarts */
#define SAVE_EVERY 900.0
#define REBOOTSTRAP 60.0	/* an empty table asks the bootstrap nodes again this often */
#define LOOKUPS_PER_TICK 4
#define LOOKUP_SEEDING 900.0	/* re-announce a complete torrent every 15 minutes */
#define LOOKUP_FRESH 5.0	/* a download with no peer, started under a minute ago */
#define FRESH_FOR 60.0
#define LOOKUP_STARVED 30.0	/* a download with no peer at all */
#define LOOKUP_HUNGRY 60.0	/* a download short of peers looks again each minute */
#define LOOKUP_FED 300.0
#define FED_PEERS 20
#define RESOLVE_MAX 8		/* addresses kept per bootstrap name */

/* BEP 5 leaves joining to the client; these routers are what other clients use. */
static const char *const public_routers[] = {
	"router.bittorrent.com:6881",
	"router.utorrent.com:6881",
	"dht.transmissionbt.com:6881",
	"dht.libtorrent.org:25401",
};

struct dht_sock {
	int fd;
	ev_io io;
	struct netaddr addr;
	struct dht_service *ds;
};

struct dht_service {
	struct session *s;
	struct dht *d;
	struct dht_sock socks[SOCKS_MAX];
	size_t nsocks;
	ev_timer tick;
	ev_timer kick;		/* lookups for a torrent that just started */
	double last_save;
	double last_bootstrap;
	int loopback_only;	/* no public routers: they cannot be reached from 127/8 */
	unsigned resolving;
	uint64_t send_errors;
	uint64_t oversize;
};

static double
now_of(const struct dht_service *ds)
{
	return ev_now(session_loop(ds->s));
}

static void
send_cb(void *ctx, const struct netaddr *to, const uint8_t *p, size_t len)
{
	struct dht_service *ds = ctx;

	for (size_t i = 0; i < ds->nsocks; i++) {
		if (netaddr_family(&ds->socks[i].addr) != netaddr_family(to))
			continue;
		if (sendto(ds->socks[i].fd, p, len, 0, (const struct sockaddr *)&to->ss,
		    to->len) == -1) {
			/* UDP is lossy anyway: a full buffer or an unreachable node is a lost packet. */
			ds->send_errors++;
			log_debug("dht: sendto: %s", strerror(errno));
		}
		return;
	}
}

static void
peer_cb(void *ctx, const uint8_t ih[KRPC_ID_LEN], const struct netaddr *a)
{
	struct dht_service *ds = ctx;
	struct transfer *tr = session_transfer_by_hash(ds->s, ih);

	if (tr != NULL)
		transfer_add_peer(tr, a);
	else
		search_dht_peer(session_search(ds->s), ih, a);
}

static void
read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dht_sock *sk = w->data;
	uint8_t pkt[KRPC_MAX_MSG + 1];

	(void)loop;
	(void)revents;
	for (int i = 0; i < READS_PER_WAKEUP; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct netaddr from;
		ssize_t n = recvfrom(sk->fd, pkt, sizeof(pkt), MSG_TRUNC,
		    (struct sockaddr *)&ss, &sl);

		if (n == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_debug("dht: recvfrom: %s", strerror(errno));
			return;
		}
		if ((size_t)n > KRPC_MAX_MSG) {
			sk->ds->oversize++;
			continue;
		}
		if (netaddr_from_sockaddr(&from, (struct sockaddr *)&ss, sl) == -1)
			continue;
		dht_input(sk->ds->d, &from, pkt, (size_t)n, now_of(sk->ds));
	}
}

static int
sock_open(struct dht_service *ds, const struct netaddr *a, char *err, size_t errlen)
{
	struct dht_sock *sk = &ds->socks[ds->nsocks];
	char txt[NETADDR_STRLEN];
	int one = 1;
	int fd = socket(netaddr_family(a), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd == -1 || (netaddr_family(a) == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1) {
		snprintf(err, errlen, "DHT: cannot use UDP %s: %s",
		    netaddr_format(a, txt, sizeof(txt)), strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	sk->fd = fd;
	sk->addr = *a;
	sk->ds = ds;
	ev_io_init(&sk->io, read_cb, fd, EV_READ);
	sk->io.data = sk;
	ev_io_start(session_loop(ds->s), &sk->io);
	ds->nsocks++;
	return 0;
}

/* --- bootstrap --- */

/* getaddrinfo blocks, so names are resolved in the worker pool. */
struct resolve_job {
	struct dht_service *ds;
	char host[256];
	char port[8];
	struct netaddr out[RESOLVE_MAX];
	size_t n;
	char err[200];
};

static void
resolve_run(void *arg)
{
	struct resolve_job *j = arg;
	struct addrinfo hints, *res, *ai;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_ADDRCONFIG;
	if ((rc = getaddrinfo(j->host, j->port, &hints, &res)) != 0) {
		snprintf(j->err, sizeof(j->err), "%s", gai_strerror(rc));
		return;
	}
	for (ai = res; ai != NULL && j->n < RESOLVE_MAX; ai = ai->ai_next)
		if (netaddr_from_sockaddr(&j->out[j->n], ai->ai_addr, ai->ai_addrlen) == 0)
			j->n++;
	freeaddrinfo(res);
}

static void
resolve_done(void *arg, int ran)
{
	struct resolve_job *j = arg;
	struct dht_service *ds = j->ds;

	ds->resolving--;
	if (ran && j->err[0] != '\0')
		log_notice("dht: cannot resolve bootstrap node %s: %s", j->host, j->err);
	for (size_t i = 0; ran && ds->d != NULL && i < j->n; i++)
		dht_ping(ds->d, &j->out[i], now_of(ds));
	free(j);
}

static void
bootstrap_one(struct dht_service *ds, const char *hostport)
{
	struct netaddr a;
	struct resolve_job *j;
	const char *colon = strrchr(hostport, ':');
	char err[128];
	size_t hlen;

	if (netaddr_parse(hostport, &a, err, sizeof(err)) == 0) {
		dht_ping(ds->d, &a, now_of(ds));
		return;
	}
	/* The config checked HOST:PORT; a name goes to the resolver. */
	if (colon == NULL || (hlen = (size_t)(colon - hostport)) == 0 || hlen > 255 ||
	    strlen(colon + 1) > 5 || (j = calloc(1, sizeof(*j))) == NULL)
		return;
	j->ds = ds;
	memcpy(j->host, hostport, hlen);
	snprintf(j->port, sizeof(j->port), "%s", colon + 1);
	if (worker_submit(session_pool(ds->s), resolve_run, resolve_done, j) == -1) {
		free(j);
		return;
	}
	ds->resolving++;
}

static void
bootstrap(struct dht_service *ds)
{
	const struct conf *c = session_conf(ds->s);

	ds->last_bootstrap = now_of(ds);
	for (size_t i = 0; i < c->dht_bootstrap_count; i++)
		bootstrap_one(ds, c->dht_bootstrap[i]);
	if (c->dht_bootstrap_count > 0 || ds->loopback_only)
		return;
	for (size_t i = 0; i < sizeof(public_routers) / sizeof(public_routers[0]); i++)
		bootstrap_one(ds, public_routers[i]);
}

/* --- the saved table --- */

static int
load_node(void *ctx, const char *addr, const uint8_t id[20])
{
	struct dht_service *ds = ctx;
	struct netaddr a;
	char err[64];

	(void)id;
	/* Pinged, not trusted: the node may have gone or changed its id meanwhile. */
	if (netaddr_parse(addr, &a, err, sizeof(err)) == 0)
		dht_ping(ds->d, &a, now_of(ds));
	return 0;
}

static void
save_table(struct dht_service *ds)
{
	static struct krpc_node nodes[SAVED_NODES];
	struct store_dht_node rows[SAVED_NODES];
	char addrs[SAVED_NODES][NETADDR_STRLEN];
	size_t n = dht_good_nodes(ds->d, nodes, SAVED_NODES);

	for (size_t i = 0; i < n; i++) {
		netaddr_format(&nodes[i].addr, addrs[i], sizeof(addrs[i]));
		rows[i].addr = addrs[i];
		rows[i].id = nodes[i].id;
	}
	/* An empty table (we are offline) would wipe the good one from the last run. */
	if (n > 0 && store_dht_nodes_save(session_store(ds->s), rows, n, (int64_t)time(NULL)) == 0)
		log_debug("dht: saved %zu nodes", n);
	ds->last_save = now_of(ds);
}

/* --- lookups for our torrents --- */

static void
torrent_lookups(struct dht_service *ds, double now)
{
	int started = 0;
	uint16_t port = session_listen_port(ds->s);

	for (struct torrent *t = session_torrent_first(ds->s); t != NULL && started <
	    LOOKUPS_PER_TICK; t = session_torrent_next(ds->s, t)) {
		struct transfer *tr = torrent_transfer(t);
		double every;

		/* BEP 27: a private torrent's peers come from its tracker alone. */
		if (tr == NULL || torrent_is_private(t))
			continue;
		if (torrent_state(t) == TORRENT_SEEDING)
			every = LOOKUP_SEEDING;
		else if (transfer_peer_count(tr) == 0)
			/* A seeder that started with us may announce just after our first look. */
			every = now - transfer_started(tr) < FRESH_FOR ? LOOKUP_FRESH : LOOKUP_STARVED;
		else
			every = transfer_peer_count(tr) < FED_PEERS ? LOOKUP_HUNGRY : LOOKUP_FED;
		if (dht_search(ds->d, torrent_info_hash(t), port, every, now) == 1)
			started++;
	}
}

static void
kick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)revents;
	torrent_lookups(w->data, ev_now(loop));
}

void
dht_service_kick(struct dht_service *ds)
{
	/* Soon rather than now: the event comes before the torrent's transfer exists. */
	if (!ev_is_active(&ds->kick)) {
		ev_timer_set(&ds->kick, 0.01, 0.);
		ev_timer_start(session_loop(ds->s), &ds->kick);
	}
}

static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dht_service *ds = w->data;
	double now = ev_now(loop);

	(void)revents;
	dht_tick(ds->d, now);
	if (dht_node_count(ds->d, NULL) == 0 && now - ds->last_bootstrap >= REBOOTSTRAP)
		bootstrap(ds);
	torrent_lookups(ds, now);
	if (now - ds->last_save >= SAVE_EVERY)
		save_table(ds);
}

/* --- life cycle --- */

static int
load_id(struct dht_service *ds, uint8_t id[KRPC_ID_LEN])
{
	struct store *st = session_store(ds->s);
	int rc = store_dht_id_get(st, id);

	if (rc == 1)
		return 0;
	if (rc == -1 || sha_random(id, KRPC_ID_LEN) == -1)
		return -1;
	/* Kept, so that the nodes that know us find us again after a restart. */
	return store_dht_id_set(st, id);
}

struct dht_service *
dht_service_new(struct session *s, const struct listener *l, char *err, size_t errlen)
{
	struct dht_service *ds = calloc(1, sizeof(*ds));
	struct dht_cb cb = { send_cb, peer_cb, NULL };
	uint8_t id[KRPC_ID_LEN];
	unsigned families = 0;
	char why[256] = "";

	if (ds == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ds->s = s;
	cb.ctx = ds;
	ds->loopback_only = 1;
	for (size_t i = 0; i < listener_count(l) && ds->nsocks < SOCKS_MAX; i++) {
		const struct netaddr *a = listener_addr(l, i);

		if (sock_open(ds, a, why, sizeof(why)) == -1) {
			log_warnx("%s", why);
			continue;
		}
		families |= netaddr_family(a) == AF_INET6 ? DHT_IPV6 : DHT_IPV4;
		if (!netaddr_is_loopback(a))
			ds->loopback_only = 0;
	}
	if (ds->nsocks == 0) {
		snprintf(err, errlen, "%s", why[0] ? why : "DHT: no address to listen on");
		dht_service_free(ds);
		return NULL;
	}
	if (load_id(ds, id) == -1 || (ds->d = dht_new(id, families, &cb)) == NULL) {
		snprintf(err, errlen, "DHT: cannot set up the node id");
		dht_service_free(ds);
		return NULL;
	}
	store_dht_nodes_get(session_store(s), SAVED_NODES, load_node, ds);
	bootstrap(ds);
	ds->last_save = now_of(ds);
	ev_timer_init(&ds->tick, tick_cb, 1.0, 1.0);
	ds->tick.data = ds;
	ev_timer_start(session_loop(s), &ds->tick);
	ev_timer_init(&ds->kick, kick_cb, 0.01, 0.);
	ds->kick.data = ds;
	{
		char hex[2 * KRPC_ID_LEN + 1];

		sha_hex(id, KRPC_ID_LEN, hex);
		log_info("dht: node %s on %zu socket%s", hex, ds->nsocks, ds->nsocks == 1 ? "" : "s");
	}
	return ds;
}

void
dht_service_free(struct dht_service *ds)
{
	if (ds == NULL)
		return;
	if (ds->d != NULL) {
		save_table(ds);
		ev_timer_stop(session_loop(ds->s), &ds->tick);
		ev_timer_stop(session_loop(ds->s), &ds->kick);
	}
	for (size_t i = 0; i < ds->nsocks; i++) {
		ev_io_stop(session_loop(ds->s), &ds->socks[i].io);
		close(ds->socks[i].fd);
	}
	dht_free(ds->d);
	ds->d = NULL;
	/* A resolver job still out holds ds: the pool is stopped before us, so none is. */
	if (ds->resolving == 0)
		free(ds);
}

void
dht_service_port(struct dht_service *ds, const struct netaddr *peer, uint16_t port)
{
	struct netaddr a = *peer;

	if (port == 0)
		return;
	netaddr_set_port(&a, port);
	dht_ping(ds->d, &a, now_of(ds));
}

void
dht_service_lookup(struct dht_service *ds, const uint8_t key[20])
{
	dht_search(ds->d, key, 0, 0.0, now_of(ds));
}

void
dht_service_announce(struct dht_service *ds, const uint8_t key[20])
{
	dht_search(ds->d, key, session_listen_port(ds->s), LOOKUP_SEEDING, now_of(ds));
}

json_t *
dht_service_json(const struct dht_service *ds)
{
	json_t *j = dht_json(ds->d, now_of(ds)), *socks = json_array();
	json_t *traffic = json_object_get(j, "traffic");

	for (size_t i = 0; i < ds->nsocks; i++) {
		char txt[NETADDR_STRLEN];

		json_array_append_new(socks, json_string(netaddr_format(&ds->socks[i].addr, txt,
		    sizeof(txt))));
	}
	json_object_set_new(j, "listen", socks);
	if (traffic != NULL) {
		json_object_set_new(traffic, "send_errors", json_integer((json_int_t)ds->send_errors));
		json_object_set_new(traffic, "oversize", json_integer((json_int_t)ds->oversize));
	}
	return j;
}
