/* methods.c: one handler per control method, with declared and checked parameters. */
#include "methods.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "buf.h"
#include "conf.h"
#include "ctl.h"
#include "log.h"
#include "magnet.h"
#include "metainfo.h"
#include "netaddr.h"
#include "rpc.h"
#include "session.h"
#include "search.h"
#include "sha.h"
#include "share.h"
#include "storage.h"
#include "store.h"
#include "torrent.h"
#include "transfer.h"
#include "worker.h"

/* A .torrent read from disk or sent base64 may not be larger than this. */
/* The configured limits for .torrent data (max_metadata_size, max_files_per_torrent). */
static struct mi_limits
conf_limits(const struct session *s)
{
	const struct conf *c = session_conf(s);
	struct mi_limits lim = { (size_t)c->max_files_per_torrent,
	    (size_t)c->max_metadata_size };

	return lim;
}

struct call {
	struct session *s;
	struct ctl_client *c;
	json_t *id;
	json_t *params;
};

typedef void (*method_fn)(struct call *k);

/*
 * params: "name:type" pairs, comma-separated; a trailing '?' marks optional.
 * Types: s string, i integer, b bool, a array of strings, t torrent id
 * (integer or string). The same text feeds validation and system.methods.
 */
struct method {
	const char *name;
	method_fn fn;
	const char *params;
	const char *doc;
};

static const struct method *method_find(const char *name);
static json_t *methods_list(void);

static void
reply(struct call *k, json_t *result)
{
	ctl_reply_result(k->c, k->id, result);
}

/* --- parameter checking --- */

static int
type_ok(char t, json_t *v)
{
	size_t i;
	json_t *e;

	switch (t) {
	case 's': return json_is_string(v);
	case 'i': return json_is_integer(v);
	case 'b': return json_is_boolean(v);
	case 't': return json_is_integer(v) || json_is_string(v);
	case 'v': return json_is_integer(v) || json_is_string(v);
	case 'n': return json_is_number(v);
	case 'a':
		if (!json_is_array(v))
			return 0;
		json_array_foreach(v, i, e)
			if (!json_is_string(e))
				return 0;
		return 1;
	}
	return 0;
}

static const char *
type_word(char t)
{
	switch (t) {
	case 's': return "a string";
	case 'i': return "an integer";
	case 'b': return "true or false";
	case 't': return "a torrent id or info-hash";
	case 'v': return "an integer or a string";
	case 'n': return "a number";
	case 'a': return "an array of strings";
	}
	return "?";
}

/* Walks the spec; returns 0 or fills err. */
static int
params_check(const char *spec, json_t *params, char *err, size_t errlen)
{
	const char *p = spec;
	const char *key;
	json_t *v;

	while (*p) {
		char name[64];
		size_t n = strcspn(p, ":");
		char t = p[n + 1];
		int optional = p[n + 2] == '?';

		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		v = params ? json_object_get(params, name) : NULL;
		if (v == NULL && !optional) {
			snprintf(err, errlen, "missing parameter \"%s\" (%s)", name, type_word(t));
			return -1;
		}
		if (v != NULL && !type_ok(t, v)) {
			snprintf(err, errlen, "parameter \"%s\" must be %s", name, type_word(t));
			return -1;
		}
		p += n + 2 + optional;
		if (*p == ',')
			p++;
	}
	if (params == NULL)
		return 0;
	json_object_foreach(params, key, v) {
		char pat[80];
		size_t kl = strlen(key);
		const char *q = spec;
		int known = 0;

		snprintf(pat, sizeof(pat), "%s:", key);
		while ((q = strstr(q, pat)) != NULL) {
			if (q == spec || q[-1] == ',') {
				known = 1;
				break;
			}
			q += kl;
		}
		if (!known) {
			snprintf(err, errlen, "unknown parameter \"%s\"", key);
			return -1;
		}
	}
	return 0;
}

static const char *
pstr(struct call *k, const char *name)
{
	return json_string_value(json_object_get(k->params, name));
}

static int
pbool(struct call *k, const char *name, int dflt)
{
	json_t *v = json_object_get(k->params, name);

	return v ? json_is_true(v) : dflt;
}

static struct torrent *
ptorrent(struct call *k)
{
	char err[256];
	int code;
	struct torrent *t = session_torrent_lookup(k->s, json_object_get(k->params, "id"),
	    &code, err, sizeof(err));

	if (t == NULL)
		ctl_reply_error(k->c, k->id, code, "%s", err);
	return t;
}

static int
check_dir_param(struct call *k, const char *name)
{
	const char *d = pstr(k, name);

	if (d && d[0] != '/') {
		ctl_reply_error(k->c, k->id, RPC_ERR_PARAMS, "\"%s\" must be an absolute path: %s",
		    name, d);
		return -1;
	}
	return 0;
}

/* --- system, session --- */

static void
m_system_methods(struct call *k)
{
	reply(k, json_pack("{s:o}", "methods", methods_list()));
}

/* session.status carries the DHT's headline figures; dht.status has the rest. */
static json_t *
dht_summary(json_t *full)
{
	json_t *nodes = json_object_get(full, "nodes"), *good = json_object_get(full, "good");
	json_t *r;

	if (!json_is_true(json_object_get(full, "enabled")) || nodes == NULL || good == NULL)
		return full;
	r = json_pack("{s:b, s:O, s:I, s:I}", "enabled", 1,
	    "node_id", json_object_get(full, "node_id"),
	    "nodes", json_integer_value(json_object_get(nodes, "ipv4")) +
	    json_integer_value(json_object_get(nodes, "ipv6")),
	    "good", json_integer_value(json_object_get(good, "ipv4")) +
	    json_integer_value(json_object_get(good, "ipv6")));
	json_decref(full);
	return r;
}

static void
m_session_status(struct call *k)
{
	const struct conf *c = session_conf(k->s);
	int counts[5] = { 0 };
	const char *cp = session_config_path(k->s);
	double down = 0, up = 0;
	json_t *r;

	for (struct torrent *t = session_torrent_first(k->s); t;
	    t = session_torrent_next(k->s, t)) {
		counts[torrent_state(t)]++;
		if (torrent_transfer(t)) {
			down += transfer_down_rate(torrent_transfer(t));
			up += transfer_up_rate(torrent_transfer(t));
		}
	}
	r = json_pack("{s:s, s:i, s:i, s:I, s:s, s:s, s:s, s:o, s:o, s:i, s:i, s:I,"
	    " s:{s:I, s:i, s:i, s:i, s:i, s:i}}",
	    "version", P2PD_VERSION,
	    "api_version", RPC_API_VERSION,
	    "pid", (int)getpid(),
	    "uptime", (json_int_t)(time(NULL) - session_started(k->s)),
	    "state_dir", c->state_dir,
	    "download_dir", c->download_dir,
	    "socket", c->socket_path,
	    "config_file", cp ? json_string(cp) : json_null(),
	    "listen", session_listen_json(k->s),
	    "workers", worker_pool_threads(session_pool(k->s)),
	    "clients", ctl_client_count(session_ctl(k->s)),
	    "shares_running", (json_int_t)shares_running(session_shares(k->s)),
	    "torrents",
	    "total", (json_int_t)session_torrent_count(k->s),
	    "checking", counts[TORRENT_CHECKING],
	    "downloading", counts[TORRENT_DOWNLOADING],
	    "seeding", counts[TORRENT_SEEDING],
	    "paused", counts[TORRENT_PAUSED],
	    "error", counts[TORRENT_ERROR]);
	if (r == NULL) {
		ctl_reply_error(k->c, k->id, RPC_ERR_INTERNAL, "out of memory");
		return;
	}
	json_object_set_new(r, "peers", json_integer((json_int_t)session_peer_count(k->s)));
	json_object_set_new(r, "banned", json_integer((json_int_t)session_ban_count(k->s)));
	json_object_set_new(r, "down_rate", json_integer((json_int_t)down));
	json_object_set_new(r, "up_rate", json_integer((json_int_t)up));
	json_object_set_new(r, "tracker", session_tracker_json(k->s));
	json_object_set_new(r, "lsd", session_lsd_json(k->s));
	json_object_set_new(r, "dht", dht_summary(session_dht_json(k->s)));
	reply(k, r);
}

/* --- search --- */

static void
m_search_start(struct call *k)
{
	const char *q = pstr(k, "query");
	json_t *local = json_object_get(k->params, "local");
	json_t *timeout = json_object_get(k->params, "timeout");
	char err[256];
	int code = 0;
	json_t *r = search_start(session_search(k->s), q, json_is_true(local),
	    timeout ? json_number_value(timeout) : 0, &code, err, sizeof(err));

	if (r == NULL) {
		ctl_reply_error(k->c, k->id, code, "%s", err);
		return;
	}
	reply(k, r);
}

static void
m_search_results(struct call *k)
{
	json_t *id = json_object_get(k->params, "search");
	char err[256];
	int code = 0;
	json_t *r = search_results(session_search(k->s), id ? json_integer_value(id) : 0, &code,
	    err, sizeof(err));

	if (r == NULL) {
		ctl_reply_error(k->c, k->id, code, "%s", err);
		return;
	}
	reply(k, r);
}

#define GET_SOURCES 16

/* search.get: a result as a magnet link, its sources dialled at once. */
static void
m_search_get(struct call *k)
{
	json_t *sid = json_object_get(k->params, "search");
	json_t *num = json_object_get(k->params, "result");
	const char *hex = pstr(k, "info_hash");
	struct netaddr src[GET_SOURCES];
	uint8_t ih[20], want[20];
	char name[256], err[256], hexbuf[41];
	struct session_add a;
	struct torrent *t;
	int n, code = 0;

	if ((num == NULL) == (hex == NULL)) {
		ctl_reply_error(k->c, k->id, RPC_ERR_PARAMS,
		    "give exactly one of \"result\" (a number) or \"info_hash\"");
		return;
	}
	if (hex != NULL && (strlen(hex) != 40 || sha_unhex(hex, 40, want, 20) == -1)) {
		ctl_reply_error(k->c, k->id, RPC_ERR_PARAMS, "info_hash must be 40 hex digits");
		return;
	}
	n = search_pick(session_search(k->s), sid ? json_integer_value(sid) : 0,
	    num ? json_integer_value(num) : 0, hex ? want : NULL, ih, name, sizeof(name), src,
	    GET_SOURCES, &code, err, sizeof(err));
	if (n < 0) {
		ctl_reply_error(k->c, k->id, code, "%s", err);
		return;
	}
	memset(&a, 0, sizeof(a));
	a.info_hash = ih;
	sha_hex(ih, 20, hexbuf);
	a.name = name[0] && metainfo_component_ok(name, strlen(name)) ? name : hexbuf;
	a.origin = STORE_ORIGIN_MAGNET;
	if ((t = session_add_torrent(k->s, &a, &code, err, sizeof(err))) == NULL) {
		ctl_reply_error(k->c, k->id, code, "%s", err);
		return;
	}
	for (int i = 0; i < n; i++)
		(void)torrent_peer_add(t, &src[i], err, sizeof(err));
	reply(k, torrent_json(t, 0));
}

static void
m_dht_status(struct call *k)
{
	reply(k, session_dht_json(k->s));
}

static void
m_session_shutdown(struct call *k)
{
	reply(k, json_object());
	session_shutdown(k->s, "requested over the control socket");
}

static void
m_events_subscribe(struct call *k)
{
	json_t *types = json_object_get(k->params, "types");
	json_t *out = json_array(), *e;
	uint32_t mask = 0;
	size_t i;

	if (types == NULL) {
		mask = (1u << CTL_EV_COUNT) - 1;
	} else {
		json_array_foreach(types, i, e) {
			int ev = ctl_event_parse(json_string_value(e));
			if (ev < 0) {
				json_decref(out);
				ctl_reply_error(k->c, k->id, RPC_ERR_PARAMS,
				    "unknown event type \"%s\"", json_string_value(e));
				return;
			}
			mask |= 1u << ev;
		}
	}
	for (int ev = 0; ev < CTL_EV_COUNT; ev++)
		if (mask & (1u << ev))
			json_array_append_new(out, json_string(ctl_event_name(ev)));
	ctl_client_subscribe(k->c, mask);
	reply(k, json_pack("{s:o}", "subscribed", out));
}

/* --- torrents --- */

static void
m_torrent_list(struct call *k)
{
	json_t *a = json_array();

	for (struct torrent *t = session_torrent_first(k->s); t;
	    t = session_torrent_next(k->s, t))
		json_array_append_new(a, torrent_json(t, 0));
	reply(k, json_pack("{s:o}", "torrents", a));
}

static void
m_torrent_get(struct call *k)
{
	struct torrent *t = ptorrent(k);

	if (t)
		reply(k, torrent_json(t, 1));
}

static void
m_torrent_files(struct call *k)
{
	struct torrent *t = ptorrent(k);

	if (t)
		reply(k, torrent_files_json(t));
}

static void
m_torrent_pause(struct call *k)
{
	struct torrent *t = ptorrent(k);

	if (t == NULL)
		return;
	if (torrent_pause(t) == -1) {
		ctl_reply_error(k->c, k->id, RPC_ERR_IO, "cannot record the pause: %s",
		    store_errmsg(session_store(k->s)));
		return;
	}
	reply(k, torrent_json(t, 0));
}

static void
m_torrent_resume(struct call *k)
{
	struct torrent *t = ptorrent(k);

	if (t == NULL)
		return;
	if (torrent_resume(t) == -1) {
		ctl_reply_error(k->c, k->id, RPC_ERR_IO, "cannot record the resume: %s",
		    store_errmsg(session_store(k->s)));
		return;
	}
	reply(k, torrent_json(t, 0));
}

static void
m_torrent_verify(struct call *k)
{
	struct torrent *t = ptorrent(k);
	int wait = pbool(k, "wait", 1);
	char err[512];
	int rc;

	if (t == NULL)
		return;
	rc = torrent_verify(t, ctl_client_id(k->c), wait ? k->id : NULL, err, sizeof(err));
	if (rc == 1) {
		ctl_reply_error(k->c, k->id, RPC_ERR_BUSY,
		    "torrent %lld is already being checked", (long long)torrent_id(t));
		return;
	}
	if (rc == -1) {
		ctl_reply_error(k->c, k->id, RPC_ERR_BUSY, "%s", err);
		return;
	}
	if (wait && k->id)
		ctl_client_defer(k->c);
	else
		reply(k, torrent_json(t, 0));
}

static void
m_torrent_export(struct call *k)
{
	struct torrent *t = ptorrent(k);
	const struct metainfo *mi;
	char *magnet, *b64 = NULL;
	struct buf b, e;
	json_t *r;

	if (t == NULL)
		return;
	mi = torrent_metainfo(t);
	buf_init(&b, 0);
	if (mi && metainfo_encode(mi, &b) == -1) {
		buf_free(&b);
		ctl_reply_error(k->c, k->id, RPC_ERR_INTERNAL, "cannot encode the torrent");
		return;
	}
	buf_init(&e, 0);
	if (mi && buf_put_base64(&e, b.data, b.len) == 0)
		b64 = buf_steal(&e, NULL);
	buf_free(&e);
	buf_free(&b);
	magnet = torrent_magnet(t);
	r = json_pack("{s:o, s:s}", "metainfo", b64 ? json_string(b64) : json_null(),
	    "magnet", magnet ? magnet : "");
	free(b64);
	free(magnet);
	reply(k, r);
}

/*
 * The requesting client's identity for access checks (access.c). -1 after
 * replying with an error: without its groups nothing is guessed.
 */
static int
client_cred(struct call *k, struct access_cred *cred)
{
	uid_t uid;
	gid_t gid;

	if (ctl_client_cred(k->c, &uid, &gid) == -1) {
		ctl_reply_error(k->c, k->id, RPC_ERR_DENIED, "cannot tell who is asking "
		    "(no SO_PEERCRED); refusing to read paths for this client");
		return -1;
	}
	if (access_cred_load(cred, uid, gid) == -1) {
		ctl_reply_error(k->c, k->id, RPC_ERR_DENIED, "cannot look up the groups of "
		    "uid %u; refusing to read paths for it", (unsigned)uid);
		return -1;
	}
	return 0;
}

/*
 * torrent.add's "dir": below the daemon's own download folder anyone who may
 * use the socket may download; elsewhere only where the client could create
 * files itself, or a member of the socket's group could make the daemon write
 * into the daemon's own state (or anywhere the daemon may write).
 */
static int
check_save_dir(struct call *k, const char *dir)
{
	char real[PATH_MAX], base[PATH_MAX], err[512];
	struct access_cred cred;

	if (client_cred(k, &cred) == -1)
		return -1;
	if (cred.unrestricted)
		return 0;
	if (realpath(dir, real) != NULL &&
	    realpath(session_conf(k->s)->download_dir, base) != NULL) {
		size_t n = strlen(base);
		if (strncmp(real, base, n) == 0 && (real[n] == '\0' || real[n] == '/'))
			return 0;
	}
	if (access_check_dir_writable(&cred, dir, err, sizeof(err)) == -1) {
		log_notice("ctl: refusing download into %s for uid %u: %s", dir,
		    (unsigned)cred.uid, err);
		ctl_reply_error(k->c, k->id, RPC_ERR_DENIED, "%s", err);
		return -1;
	}
	return 0;
}

static void
m_torrent_share(struct call *k)
{
	struct share_params p;
	struct access_cred cred;
	json_t *trk = json_object_get(k->params, "trackers");
	const char **tv = NULL;
	json_t *pl = json_object_get(k->params, "piece_length");
	int wait = pbool(k, "wait", 1);
	char err[512];
	uint64_t job;
	int code;
	size_t i;

	if (session_stopping(k->s)) {
		ctl_reply_error(k->c, k->id, RPC_ERR_SHUTDOWN, "p2pd is shutting down");
		return;
	}
	memset(&p, 0, sizeof(p));
	p.path = pstr(k, "path");
	p.name = pstr(k, "name");
	p.private_flag = pbool(k, "private", 0);
	p.no_search = !pbool(k, "searchable", 1);
	if (pl) {
		json_int_t v = json_integer_value(pl);
		if (v < MI_MIN_PIECE_LENGTH || v > MI_MAX_PIECE_LENGTH || (v & (v - 1)) != 0) {
			ctl_reply_error(k->c, k->id, RPC_ERR_PARAMS, "piece_length must be a power "
			    "of two from 16 KiB to 64 MiB, not %lld", (long long)v);
			return;
		}
		p.piece_length = (uint32_t)v;
	}
	if (trk) {
		if (json_array_size(trk) > CONF_MAX_LIST) {
			ctl_reply_error(k->c, k->id, RPC_ERR_PARAMS, "at most %d trackers",
			    CONF_MAX_LIST);
			return;
		}
		tv = calloc(json_array_size(trk) + 1, sizeof(*tv));
		for (i = 0; tv && i < json_array_size(trk); i++) {
			const char *u = json_string_value(json_array_get(trk, i));
			if (strncmp(u, "http://", 7) && strncmp(u, "https://", 8) &&
			    strncmp(u, "udp://", 6)) {
				ctl_reply_error(k->c, k->id, RPC_ERR_PARAMS, "tracker URL must start "
				    "with http://, https:// or udp://: %s", u);
				free(tv);
				return;
			}
			tv[i] = u;
		}
		p.trackers = tv;
		p.tracker_count = json_array_size(trk);
	}
	/* The share's scan checks the path and everything under it (a worker). */
	if (client_cred(k, &cred) == -1) {
		free(tv);
		return;
	}
	p.cred = &cred;
	p.client = ctl_client_id(k->c);
	p.req_id = wait ? k->id : NULL;
	code = share_start(session_shares(k->s), &p, &job, err, sizeof(err));
	free(tv);
	if (code != 0) {
		ctl_reply_error(k->c, k->id, code, "%s", err);
		return;
	}
	if (wait && k->id)
		ctl_client_defer(k->c);
	else
		reply(k, json_pack("{s:I, s:s}", "job", (json_int_t)job, "path", p.path));
}

/*
 * Reads a .torrent named by the client; small and bounded, so on the loop.
 * -1: cannot read it; -2: it cannot be a .torrent.
 */
static int
read_torrent_file(const char *path, size_t max, uint8_t **out, size_t *len, char *err,
    size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	uint8_t *p;
	size_t got = 0;

	if (fd == -1) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		close(fd);
		return -1;
	}
	if ((uint64_t)st.st_size > max) {
		snprintf(err, errlen, "%s is larger than %zu bytes (max_metadata_size); not a "
		    ".torrent file p2pd accepts", path, max);
		close(fd);
		return -2;
	}
	if ((p = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, p + got, (size_t)st.st_size - got);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	*out = p;
	*len = got;
	return 0;
}

/*
 * 0 if a torrent with metadata may go where it would go; else replies: a
 * second torrent on the same path would overwrite the first one's verified
 * data (or a shared original). The same info-hash is left to the session,
 * which answers "exists".
 */
static int
check_path_free(struct call *k, const struct session_add *a)
{
	struct torrent *other;
	char *path;

	if (a->mi == NULL || a->data_path != NULL ||
	    session_torrent_by_hash(k->s, a->mi->info_hash) != NULL)
		return 0;
	if (asprintf(&path, "%s/%s", a->save_dir ? a->save_dir :
	    session_conf(k->s)->download_dir, a->mi->name) == -1) {
		ctl_reply_error(k->c, k->id, RPC_ERR_INTERNAL, "out of memory");
		return -1;
	}
	if ((other = torrent_path_user(k->s, path, NULL)) != NULL) {
		log_notice("ctl: refusing torrent %s at %s: torrent %lld uses it",
		    a->mi->name, path, (long long)torrent_id(other));
		ctl_reply_error(k->c, k->id, RPC_ERR_EXISTS, "torrent %lld already uses %s; "
		    "add this one with another \"dir\"", (long long)torrent_id(other), path);
		free(path);
		return -1;
	}
	free(path);
	return 0;
}

static void
add_reply(struct call *k, struct session_add *a)
{
	char err[512];
	int code;
	struct torrent *t;

	if (check_path_free(k, a) == -1) {
		metainfo_free(a->mi);
		return;
	}
	t = session_add_torrent(k->s, a, &code, err, sizeof(err));

	if (t == NULL) {
		struct torrent *dup = NULL;
		json_t *e;
		if (code == RPC_ERR_EXISTS && a->info_hash)
			dup = session_torrent_by_hash(k->s, a->info_hash);
		e = rpc_error(k->id, code, err);
		if (dup)
			json_object_set_new(json_object_get(e, "error"), "data",
			    json_pack("{s:I, s:s}", "id", (json_int_t)torrent_id(dup),
			    "info_hash", torrent_hex(dup)));
		if (k->id)
			ctl_reply(k->c, e);
		else
			json_decref(e);
		return;
	}
	reply(k, torrent_json(t, 0));
}

static void
add_magnet(struct call *k, struct session_add *a, const char *uri)
{
	struct magnet m;
	char err[512], full[128];

	/* A bare info-hash is a magnet with only xt. */
	if (strlen(uri) == 40 && sha_unhex(uri, 40, (uint8_t *)full, 20) == 0) {
		snprintf(full, sizeof(full), "magnet:?xt=urn:btih:%s", uri);
		uri = full;
	}
	if (magnet_parse(uri, strlen(uri), &m, err, sizeof(err)) == -1) {
		ctl_reply_error(k->c, k->id, RPC_ERR_INVALID_TORRENT, "invalid magnet link: %s", err);
		return;
	}
	if (m.name && !metainfo_component_ok(m.name, strlen(m.name))) {
		free(m.name);
		m.name = NULL;
	}
	a->info_hash = m.info_hash;
	a->name = m.name;
	if (a->name == NULL) {
		sha_hex(m.info_hash, 20, full);
		a->name = full;
	}
	a->trackers = (const char *const *)m.trackers;
	a->tracker_count = m.tracker_count;
	a->origin = STORE_ORIGIN_MAGNET;
	add_reply(k, a);
	magnet_free(&m);
}

static void
m_torrent_add(struct call *k)
{
	const char *path = pstr(k, "path"), *b64 = pstr(k, "metainfo");
	const char *mag = pstr(k, "magnet");
	struct mi_limits lim = conf_limits(k->s);
	struct session_add a;
	uint8_t *raw = NULL, ih[20];
	size_t len = 0;
	char err[512];
	int given = (path != NULL) + (b64 != NULL) + (mag != NULL);

	if (given != 1) {
		ctl_reply_error(k->c, k->id, RPC_ERR_PARAMS, "give exactly one of \"path\", "
		    "\"metainfo\" or \"magnet\"");
		return;
	}
	if (check_dir_param(k, "dir") == -1)
		return;
	if (session_stopping(k->s)) {
		ctl_reply_error(k->c, k->id, RPC_ERR_SHUTDOWN, "p2pd is shutting down");
		return;
	}
	if (pstr(k, "dir") != NULL && check_save_dir(k, pstr(k, "dir")) == -1)
		return;
	memset(&a, 0, sizeof(a));
	a.save_dir = pstr(k, "dir");
	a.paused = pbool(k, "paused", 0);
	if (mag) {
		add_magnet(k, &a, mag);
		return;
	}
	if (path) {
		if (path[0] != '/') {
			ctl_reply_error(k->c, k->id, RPC_ERR_PARAMS, "path must be absolute: %s", path);
			return;
		}
		struct access_cred cred;
		int rc;

		if (client_cred(k, &cred) == -1)
			return;
		/* No confused deputy: only a .torrent the client could read itself. */
		if (access_check_path(&cred, path, err, sizeof(err)) == -1) {
			log_notice("ctl: refusing torrent.add of %s for uid %u: %s", path,
			    (unsigned)cred.uid, err);
			ctl_reply_error(k->c, k->id, RPC_ERR_DENIED, "%s", err);
			return;
		}
		rc = read_torrent_file(path, lim.max_size, &raw, &len, err, sizeof(err));
		if (rc != 0) {
			ctl_reply_error(k->c, k->id, rc == -2 ? RPC_ERR_INVALID_TORRENT :
			    RPC_ERR_IO, "%s", err);
			return;
		}
	} else {
		struct buf b;
		buf_init(&b, lim.max_size);
		if (buf_put_unbase64(&b, b64, strlen(b64)) == -1) {
			buf_free(&b);
			ctl_reply_error(k->c, k->id, RPC_ERR_INVALID_TORRENT,
			    "\"metainfo\" is not valid base64 of at most %zu bytes "
			    "(max_metadata_size)", lim.max_size);
			return;
		}
		raw = (uint8_t *)buf_steal(&b, &len);
	}
	if (metainfo_parse(raw, len, &lim, &a.mi, err, sizeof(err)) == -1) {
		free(raw);
		ctl_reply_error(k->c, k->id, RPC_ERR_INVALID_TORRENT, "invalid torrent: %s", err);
		return;
	}
	free(raw);
	/* session_add_torrent takes mi; keep the hash to name a duplicate. */
	memcpy(ih, a.mi->info_hash, 20);
	a.info_hash = ih;
	a.origin = STORE_ORIGIN_ADDED;
	add_reply(k, &a);
}

/* Deleting files blocks, so it runs in the pool; the answer waits for it. */
struct delete_job {
	struct session *s;
	uint64_t client;
	json_t *req_id;
	json_t *result;
	char *root;
	char **files;
	size_t nfiles;
	int multi;
	size_t deleted;
	char err[512];
};

/* The part of path below base, or NULL if path does not lie below it. */
static const char *
below(const char *base, const char *path)
{
	size_t n = strlen(base);

	if (strcmp(base, "/") == 0)
		return path[0] == '/' && path[1] != '\0' ? path + 1 : NULL;
	if (strncmp(path, base, n) != 0 || path[n] != '/' || path[n + 1] == '\0')
		return NULL;
	return path + n + 1;
}

/*
 * Deletes below the torrent's folder (the parent of its root), never through
 * a symbolic link: storage_unlink_beneath walks with O_NOFOLLOW, so a link
 * planted where the torrent's directory would be cannot steer the deletes
 * outside (resolving the root with realpath did exactly that).
 */
static void
delete_run(void *arg)
{
	struct delete_job *d = arg;
	const char *slash = strrchr(d->root, '/');
	char base[PATH_MAX];
	const char *rel;

	if (slash == NULL)
		return;
	snprintf(base, sizeof(base), "%.*s", slash == d->root ? 1 : (int)(slash - d->root),
	    d->root);
	for (size_t i = 0; i < d->nfiles; i++) {
		if ((rel = below(base, d->files[i])) == NULL)
			continue;
		if (storage_unlink_beneath(base, rel, 0) == 0) {
			d->deleted++;
			continue;
		}
		if (errno == ELOOP || errno == ENOTDIR)
			log_warnx("remove: not deleting %s: a symbolic link or a file is in the "
			    "way below %s", d->files[i], base);
		else if (errno != ENOENT && d->err[0] == '\0')
			snprintf(d->err, sizeof(d->err), "cannot delete %s: %s", d->files[i],
			    strerror(errno));
	}
	if (!d->multi)
		return;
	/* Remove the directories the torrent made, deepest first, if empty. */
	for (size_t i = d->nfiles; i-- > 0;) {
		char *p = d->files[i];
		char *cut;
		while ((cut = strrchr(p, '/')) != NULL && (size_t)(cut - p) > strlen(d->root)) {
			*cut = '\0';
			if ((rel = below(base, p)) == NULL || storage_unlink_beneath(base, rel, 1) == -1)
				break;
		}
	}
	if ((rel = below(base, d->root)) != NULL)
		storage_unlink_beneath(base, rel, 1);
}

static void
delete_done(void *arg, int ran)
{
	struct delete_job *d = arg;

	(void)ran;
	if (d->err[0])
		log_warnx("remove: %s", d->err);
	if (d->result) {
		json_object_set_new(d->result, "deleted_files",
		    json_integer((json_int_t)d->deleted));
		if (d->err[0])
			json_object_set_new(d->result, "warning", json_string(d->err));
		session_answer(d->s, d->client, d->req_id, d->result);
	}
	json_decref(d->req_id);
	for (size_t i = 0; i < d->nfiles; i++)
		free(d->files[i]);
	free(d->files);
	free(d->root);
	free(d);
}

static void
m_torrent_remove(struct call *k)
{
	struct torrent *t = ptorrent(k);
	int del = pbool(k, "delete_data", 0);
	struct delete_job *d;
	json_t *result;

	if (t == NULL)
		return;
	if (del && torrent_origin(t) == STORE_ORIGIN_SHARED && !pbool(k, "force", 0)) {
		ctl_reply_error(k->c, k->id, RPC_ERR_PARAMS, "torrent %lld was shared from %s: "
		    "delete_data would delete your original files; add \"force\": true to do so",
		    (long long)torrent_id(t), torrent_path(t));
		return;
	}
	result = json_pack("{s:I, s:s}", "id", (json_int_t)torrent_id(t),
	    "info_hash", torrent_hex(t));
	d = del ? calloc(1, sizeof(*d)) : NULL;
	if (d) {
		const struct metainfo *mi = torrent_metainfo(t);
		d->s = k->s;
		d->client = ctl_client_id(k->c);
		d->req_id = k->id ? json_incref(k->id) : NULL;
		d->root = strdup(torrent_path(t));
		d->multi = mi ? mi->multi_file : 0;
		d->files = torrent_data_files(t, &d->nfiles);
		d->result = result;
	}
	if (session_remove_torrent(k->s, t) == -1) {
		ctl_reply_error(k->c, k->id, RPC_ERR_IO, "cannot remove the torrent from the "
		    "database: %s", store_errmsg(session_store(k->s)));
		if (d) {
			d->result = NULL;
			json_decref(d->req_id);
			d->req_id = NULL;
			delete_done(d, 0);
		}
		json_decref(result);
		return;
	}
	if (del && d && d->root &&
	    worker_submit(session_pool(k->s), delete_run, delete_done, d) == 0) {
		if (d->req_id)
			ctl_client_defer(k->c);
		return;
	}
	if (d) {
		/* Answer directly: nothing was deferred. */
		json_object_set_new(result, "warning",
		    json_string("data not deleted: cannot queue the work"));
		d->result = NULL;
		json_decref(d->req_id);
		d->req_id = NULL;
		delete_done(d, 0);
	}
	reply(k, result);
}

static void
m_torrent_peers(struct call *k)
{
	struct torrent *t = ptorrent(k);

	if (t)
		reply(k, torrent_peers_json(t));
}

static void
m_torrent_trackers(struct call *k)
{
	struct torrent *t = ptorrent(k);

	if (t)
		reply(k, torrent_trackers_json(t));
}

static void
m_peer_add(struct call *k)
{
	struct torrent *t = ptorrent(k);
	const char *addr = pstr(k, "address");
	struct netaddr a;
	char err[256];
	int code;

	if (t == NULL)
		return;
	if (netaddr_parse(addr, &a, err, sizeof(err)) == -1) {
		ctl_reply_error(k->c, k->id, RPC_ERR_PARAMS, "bad peer address: %s", err);
		return;
	}
	if (netaddr_port(&a) == 0) {
		ctl_reply_error(k->c, k->id, RPC_ERR_PARAMS, "peer address needs a port: %s", addr);
		return;
	}
	if ((code = torrent_peer_add(t, &a, err, sizeof(err))) != 0) {
		ctl_reply_error(k->c, k->id, code, "%s", err);
		return;
	}
	reply(k, json_pack("{s:s, s:b}", "address", addr, "queued", 1));
}

static void
m_session_get(struct call *k)
{
	json_t *all = session_settings_json(k->s);
	const char *key = pstr(k, "key");

	if (key && json_object_get(all, key) == NULL) {
		json_decref(all);
		ctl_reply_error(k->c, k->id, RPC_ERR_PARAMS, "unknown setting \"%s\"", key);
		return;
	}
	if (key) {
		json_t *one = json_object();
		json_object_set(one, key, json_object_get(all, key));
		json_decref(all);
		all = one;
	}
	reply(k, json_pack("{s:o}", "settings", all));
}

static void
m_session_set(struct call *k)
{
	json_t *v = json_object_get(k->params, "value");
	char err[256];

	if (!json_is_integer(v) && !json_is_string(v)) {
		ctl_reply_error(k->c, k->id, RPC_ERR_PARAMS, "\"value\" must be an integer or "
		    "a string such as \"10M\"");
		return;
	}
	if (session_setting_set(k->s, pstr(k, "key"), v, err, sizeof(err)) == -1) {
		ctl_reply_error(k->c, k->id, RPC_ERR_PARAMS, "%s", err);
		return;
	}
	reply(k, json_pack("{s:o}", "settings", session_settings_json(k->s)));
}

static const struct method method_table[] = {
	{ "system.methods", m_system_methods, "",
	  "List the methods with their parameters." },
	{ "session.status", m_session_status, "",
	  "Daemon version, API version, paths, listeners and torrent counts." },
	{ "session.shutdown", m_session_shutdown, "",
	  "Commit state and exit." },
	{ "events.subscribe", m_events_subscribe, "types:a?",
	  "Receive event notifications on this connection." },
	{ "torrent.share", m_torrent_share,
	  "path:s,name:s?,piece_length:i?,private:b?,searchable:b?,trackers:a?,wait:b?",
	  "Hash a file or directory into a new torrent and seed it." },
	{ "torrent.add", m_torrent_add, "path:s?,metainfo:s?,magnet:s?,dir:s?,paused:b?",
	  "Add a torrent from a .torrent path, base64 metainfo or a magnet link." },
	{ "torrent.list", m_torrent_list, "", "All torrents." },
	{ "torrent.get", m_torrent_get, "id:t", "One torrent in detail." },
	{ "torrent.files", m_torrent_files, "id:t", "A torrent's files and their progress." },
	{ "torrent.remove", m_torrent_remove, "id:t,delete_data:b?,force:b?",
	  "Remove a torrent, optionally deleting its data." },
	{ "torrent.pause", m_torrent_pause, "id:t", "Pause a torrent." },
	{ "torrent.resume", m_torrent_resume, "id:t", "Resume a torrent." },
	{ "torrent.verify", m_torrent_verify, "id:t,wait:b?",
	  "Re-hash the data on disk and keep only the pieces that match." },
	{ "torrent.export", m_torrent_export, "id:t",
	  "The .torrent file (base64) and the magnet link." },
	{ "torrent.peers", m_torrent_peers, "id:t", "The torrent's connected peers." },
	{ "torrent.trackers", m_torrent_trackers, "id:t",
	  "Each tracker: status, last error, seeders, leechers, next announce." },
	{ "peer.add", m_peer_add, "id:t,address:s", "Connect to a peer for a torrent." },
	{ "search.start", m_search_start, "query:s,local:b?,timeout:n?",
	  "Search the local index, then peers (search.result events until search.done)." },
	{ "search.results", m_search_results, "search:i?",
	  "The results of a search (default: the latest), ranked." },
	{ "search.get", m_search_get, "result:i?,search:i?,info_hash:s?",
	  "Download a search result as a magnet link, dialling the peers that offered it." },
	{ "dht.status", m_dht_status, "",
	  "The DHT node: id, routing table, lookups, stored peers, traffic." },
	{ "session.get", m_session_get, "key:s?", "Run-time settings." },
	{ "session.set", m_session_set, "key:s,value:v",
	  "Change a run-time setting; it is kept across restarts." },
};

static const struct method *
method_find(const char *name)
{
	for (size_t i = 0; i < sizeof(method_table) / sizeof(method_table[0]); i++)
		if (strcmp(method_table[i].name, name) == 0)
			return &method_table[i];
	return NULL;
}

static json_t *
spec_json(const char *spec)
{
	json_t *o = json_object();
	const char *p = spec;

	while (*p) {
		char name[64];
		size_t n = strcspn(p, ":");
		char t = p[n + 1];
		int optional = p[n + 2] == '?';
		const char *tn = t == 's' ? "string" : t == 'i' ? "integer" : t == 'b' ?
		    "boolean" : t == 'a' ? "array of strings" : t == 'v' ?
		    "integer or string" : t == 'n' ? "number" : "torrent id";
		char desc[64];

		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		snprintf(desc, sizeof(desc), "%s%s", tn, optional ? " (optional)" : "");
		json_object_set_new(o, name, json_string(desc));
		p += n + 2 + optional;
		if (*p == ',')
			p++;
	}
	return o;
}

static json_t *
methods_list(void)
{
	json_t *a = json_array();

	for (size_t i = 0; i < sizeof(method_table) / sizeof(method_table[0]); i++)
		json_array_append_new(a, json_pack("{s:s, s:o, s:s}", "name",
		    method_table[i].name, "params", spec_json(method_table[i].params),
		    "description", method_table[i].doc));
	return a;
}

void
methods_handle(void *ctx, struct ctl_client *c, json_t *id, const char *method,
    json_t *params)
{
	struct call k = { ctx, c, id, params };
	const struct method *m = method_find(method);
	char err[256];

	if (m == NULL) {
		ctl_reply_error(c, id, RPC_ERR_NO_METHOD, "no method \"%.100s\"; "
		    "system.methods lists them", method);
		return;
	}
	if (params_check(m->params, params, err, sizeof(err)) == -1) {
		ctl_reply_error(c, id, RPC_ERR_PARAMS, "%s: %s", m->name, err);
		return;
	}
	log_debug("ctl: client %llu %s", (unsigned long long)ctl_client_id(c), m->name);
	m->fn(&k);
}
