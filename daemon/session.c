/* session.c: owns the store, worker pool, control server and the torrent table. */
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "listener.h"
#include "dht_service.h"
#include "search.h"
#include "log.h"
#include "lsd.h"
#include "metainfo.h"
#include "methods.h"
#include "netaddr.h"
#include "peer.h"
#include "ratelimit.h"
#include "rpc.h"
#include "sha.h"
#include "share.h"
#include "store.h"
#include "torrent.h"
#include "tracker_server.h"
#include "transfer.h"
#include "wire.h"
#include "worker.h"

struct session {
	struct ev_loop *loop;
	struct conf conf;
	char *config_path;
	struct store *store;
	struct worker_pool *pool;
	struct ctl *ctl;
	struct shares *shares;
	struct torrent **torrents;	/* sorted by id */
	size_t ntorrents;
	size_t cap;
	int64_t started;
	int stopping;
	int lock_fd;		/* flock on state_dir/p2pd.lock: one daemon per state */
	int own_socket;		/* unlink it at exit (not when systemd made it) */
	ev_timer stop_timer;
	ev_timer tick;
	uint8_t peer_id[20];
	struct listener *listener;
	struct tracker_server *tracker;	/* --tracker-listen: NULL if none */
	struct lsd *lsd;		/* local service discovery: NULL when off */
	struct dht_service *dht;	/* NULL when off or when no UDP socket opened */
	struct search *search;
	char dht_error[256];		/* why the DHT is not running, for session.status */
	struct netaddr bind4, bind6;
	int have_bind4, have_bind6;
	struct ratelimit rate_down, rate_up;
	int settings[SETTING_COUNT];
	struct peer **peers;	/* every connection, attached or not */
	size_t npeers, cappeers;
	struct ban *bans;
	size_t nbans;
};

struct ban {
	struct netaddr addr;
	double until;
};

#define BAN_SECONDS 3600.0

/* The run-time settings: name, where the config keeps its start value, bounds. */
static const struct setting_def {
	const char *name;
	size_t conf_off;
	int min, max;
	int is_rate;
} setting_defs[SETTING_COUNT] = {
	[SETTING_UPLOAD_RATE] = { "upload_rate_limit",
	    offsetof(struct conf, upload_rate_limit), 0, INT32_MAX, 1 },
	[SETTING_DOWNLOAD_RATE] = { "download_rate_limit",
	    offsetof(struct conf, download_rate_limit), 0, INT32_MAX, 1 },
	[SETTING_UPLOAD_SLOTS] = { "upload_slots",
	    offsetof(struct conf, upload_slots), 1, 1000, 0 },
	[SETTING_MAX_CONN] = { "max_connections",
	    offsetof(struct conf, max_connections), 1, 100000, 0 },
	[SETTING_MAX_CONN_TORRENT] = { "max_connections_per_torrent",
	    offsetof(struct conf, max_connections_per_torrent), 1, 100000, 0 },
	[SETTING_MAX_CONN_IP] = { "max_connections_per_ip",
	    offsetof(struct conf, max_connections_per_ip), 1, 1000, 0 },
};

/* mkdir -p with the given mode for the directories it creates. */
static int
mkdirs(const char *path, mode_t mode, char *err, size_t errlen)
{
	char tmp[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp)) {
		snprintf(err, errlen, "bad directory path '%s'", path);
		return -1;
	}
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(tmp, mode) == -1 && errno != EEXIST) {
				snprintf(err, errlen, "cannot create directory %s: %s", tmp,
				    strerror(errno));
				return -1;
			}
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

/*
 * SQLite's own locks only catch a writer mid-transaction; two daemons on one
 * state directory would each think the torrents are theirs. The lock dies
 * with the process, so a crash leaves nothing stale behind.
 */
static int
lock_state_dir(struct session *s, const char *dir, char *err, size_t errlen)
{
	char path[4096], pid[32];
	int fd;

	snprintf(path, sizeof(path), "%s/p2pd.lock", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) == -1) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		snprintf(err, errlen, "another p2pd%s%s is using the state directory %s; "
		    "give each daemon its own --state-dir", pid[0] ? " (pid " : "", pid[0] ?
		    strcat(pid, ")") : "", dir);
		close(fd);
		return -1;
	}
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) == 0)
		(void)!pwrite(fd, pid, strlen(pid), 0);
	s->lock_fd = fd;
	return 0;
}

static int
torrent_insert_sorted(struct session *s, struct torrent *t)
{
	size_t i;

	if (s->ntorrents == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		struct torrent **v = realloc(s->torrents, ncap * sizeof(*v));
		if (v == NULL)
			return -1;
		s->torrents = v;
		s->cap = ncap;
	}
	i = s->ntorrents;
	while (i > 0 && torrent_id(s->torrents[i - 1]) > torrent_id(t)) {
		s->torrents[i] = s->torrents[i - 1];
		i--;
	}
	s->torrents[i] = t;
	s->ntorrents++;
	return 0;
}

static int
load_one(void *ctx, const struct store_torrent *row)
{
	struct session *s = ctx;
	struct metainfo *mi = NULL;
	struct torrent *t;
	char err[256];

	if (row->info && metainfo_parse_info(row->info, row->info_len,
	    &mi_default_limits, &mi, err, sizeof(err)) == -1) {
		log_warnx("torrent %lld: stored metadata is invalid (%s); skipped",
		    (long long)row->id, err);
		return 0;
	}
	if ((t = torrent_new(s, row, mi)) == NULL)
		return 0;
	if (torrent_insert_sorted(s, t) == -1) {
		torrent_free(t);
		return -1;
	}
	return 0;
}

static int all_digits_str(const char *p);

static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct session *s = w->data;
	double now = ev_now(loop);

	(void)revents;
	for (size_t i = 0; i < s->ntorrents; i++)
		torrent_tick(s->torrents[i], now);
}

static int
setting_parse(const struct setting_def *d, json_t *v, int *out, char *err, size_t errlen)
{
	uint64_t n;

	if (json_is_integer(v) && json_integer_value(v) >= 0)
		n = (uint64_t)json_integer_value(v);
	else if (!json_is_string(v) || conf_parse_size(json_string_value(v), &n) == -1 ||
	    (!d->is_rate && !all_digits_str(json_string_value(v)))) {
		snprintf(err, errlen, "%s: value must be %s", d->name, d->is_rate ?
		    "bytes per second (a number, or a string like \"500K\" or \"10M\")" :
		    "a whole number");
		return -1;
	}
	if (n < (uint64_t)d->min || n > (uint64_t)d->max) {
		snprintf(err, errlen, "%s: %llu is out of range %d..%d", d->name,
		    (unsigned long long)n, d->min, d->max);
		return -1;
	}
	*out = (int)n;
	return 0;
}

/* Peer connections that fit in the open-file limit main() set (max_open_files). */
static int
conn_cap(const struct session *s)
{
	struct rlimit rl;
	long cap;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY)
		return INT_MAX;
	cap = (long)rl.rlim_cur - CONF_FD_RESERVE - s->conf.control_max_clients;
	return cap < 8 ? 8 : cap > INT_MAX ? INT_MAX : (int)cap;
}

/* Config values first; values set at run time (kept in the database) win. */
static void
settings_load(struct session *s)
{
	for (int i = 0; i < SETTING_COUNT; i++) {
		const struct setting_def *d = &setting_defs[i];
		char *v = NULL, err[160];
		json_t *j;

		s->settings[i] = *(const int *)(const void *)((const char *)&s->conf + d->conf_off);
		if (store_setting_get(s->store, d->name, &v) != 1)
			continue;
		j = json_string(v);
		if (setting_parse(d, j, &s->settings[i], err, sizeof(err)) == -1)
			log_warnx("session: ignoring stored setting: %s", err);
		json_decref(j);
		free(v);
	}
	if (s->settings[SETTING_MAX_CONN] > conn_cap(s)) {
		log_notice("session: max_connections lowered from %d to %d to fit the open-file "
		    "limit (max_open_files)", s->settings[SETTING_MAX_CONN], conn_cap(s));
		s->settings[SETTING_MAX_CONN] = conn_cap(s);
	}
}

static int
is_wildcard(const struct netaddr *a)
{
	static const uint8_t zero[16];

	if (a->ss.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr == 0;
	return memcmp(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr, zero, 16) == 0;
}

static void
set_bind_addrs(struct session *s)
{
	for (size_t i = 0; i < listener_count(s->listener); i++) {
		const struct netaddr *a = listener_addr(s->listener, i);
		if (is_wildcard(a))
			continue;
		if (netaddr_family(a) == AF_INET && !s->have_bind4) {
			s->bind4 = *a;
			netaddr_set_port(&s->bind4, 0);
			s->have_bind4 = 1;
		} else if (netaddr_family(a) == AF_INET6 && !s->have_bind6) {
			s->bind6 = *a;
			netaddr_set_port(&s->bind6, 0);
			s->have_bind6 = 1;
		}
	}
}

static void
stop_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

struct session *
session_new(struct ev_loop *loop, const struct conf *conf, const char *config_path,
    int ctl_fd, int own_socket, char *err, size_t errlen)
{
	struct session *s = calloc(1, sizeof(*s));
	char *dbpath = NULL;

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->loop = loop;
	s->started = (int64_t)time(NULL);
	s->own_socket = own_socket;
	s->lock_fd = -1;
	ev_timer_init(&s->stop_timer, stop_timer_cb, 0., 0.);
	if (conf_copy(&s->conf, conf) == -1) {
		snprintf(err, errlen, "out of memory");
		free(s);
		return NULL;
	}
	if (config_path && (s->config_path = strdup(config_path)) == NULL)
		goto oom;
	if (mkdirs(conf->state_dir, 0700, err, errlen) == -1 ||
	    mkdirs(conf->download_dir, 0750, err, errlen) == -1 ||
	    lock_state_dir(s, conf->state_dir, err, errlen) == -1)
		goto fail;
	if (asprintf(&dbpath, "%s/p2pd.db", conf->state_dir) == -1)
		goto oom;
	if ((s->store = store_open(dbpath, err, errlen)) == NULL)
		goto fail;
	if ((s->pool = worker_pool_new(loop, conf->workers)) == NULL) {
		snprintf(err, errlen, "cannot start worker threads");
		goto fail;
	}
	if ((s->shares = shares_new(s)) == NULL)
		goto oom;
	settings_load(s);
	ratelimit_init(&s->rate_down, (uint64_t)s->settings[SETTING_DOWNLOAD_RATE], ev_now(loop));
	ratelimit_init(&s->rate_up, (uint64_t)s->settings[SETTING_UPLOAD_RATE], ev_now(loop));
	{
		uint8_t rnd[12];
		sha_random(rnd, sizeof(rnd));
		wire_make_peer_id(s->peer_id, rnd);
	}
	if ((s->listener = listener_new(s, s->conf.listen, s->conf.listen_count, err,
	    errlen)) == NULL)
		goto fail;
	set_bind_addrs(s);
	/* LSD needs the listen addresses; a multicast failure only turns it off. */
	if (s->conf.lsd && (s->lsd = lsd_new(s, s->listener)) == NULL)
		goto oom;
	/* Like LSD, a DHT that cannot open its sockets leaves the rest working. */
	if (s->conf.dht && (s->dht = dht_service_new(s, s->listener, s->dht_error,
	    sizeof(s->dht_error))) == NULL)
		log_warnx("%s; running without the DHT", s->dht_error);
	if ((s->search = search_new(s, s->conf.search_answer)) == NULL)
		goto oom;
	if (s->conf.tracker_listen && (s->tracker = tracker_server_new(s,
	    s->conf.tracker_listen, err, errlen)) == NULL)
		goto fail;
	ev_timer_init(&s->tick, tick_cb, 1.0, 1.0);
	s->tick.data = s;
	ev_timer_start(loop, &s->tick);
	if (store_torrent_foreach(s->store, load_one, s) == -1) {
		snprintf(err, errlen, "cannot load torrents from %s: %s", dbpath,
		    store_errmsg(s->store));
		goto fail;
	}
	if ((s->ctl = ctl_new(loop, ctl_fd, conf->control_max_clients,
	    methods_handle, s)) == NULL)
		goto oom;
	log_info("session: %zu torrents loaded from %s, %d worker threads",
	    s->ntorrents, dbpath, worker_pool_threads(s->pool));
	free(dbpath);
	return s;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	free(dbpath);
	session_free(s);
	return NULL;
}

void
session_free(struct session *s)
{
	if (s == NULL)
		return;
	if (s->ctl)
		ctl_free(s->ctl, s->own_socket ? s->conf.socket_path : NULL);
	s->ctl = NULL;
	shares_free(s->shares);
	s->shares = NULL;
	ev_timer_stop(s->loop, &s->tick);
	listener_free(s->listener);
	s->listener = NULL;
	tracker_server_free(s->tracker);
	lsd_free(s->lsd);
	search_free(s->search);
	s->search = NULL;
	s->lsd = NULL;
	s->tracker = NULL;
	/*
	 * Let running jobs end and collect their results (verified pieces,
	 * cancelled checks) while the torrents still exist; nothing new starts.
	 */
	if (s->pool)
		worker_pool_stop(s->pool);
	/* After the pool: no resolver job holds it; before the store closes: it saves its table. */
	dht_service_free(s->dht);
	s->dht = NULL;
	for (size_t i = 0; i < s->ntorrents; i++) {
		torrent_shutdown(s->torrents[i]);
		torrent_free(s->torrents[i]);
	}
	s->ntorrents = 0;
	while (s->npeers > 0)
		peer_free(s->peers[s->npeers - 1]);
	worker_pool_free(s->pool);
	store_close(s->store);
	free(s->peers);
	free(s->bans);
	if (s->lock_fd != -1)
		close(s->lock_fd);
	ev_timer_stop(s->loop, &s->stop_timer);
	free(s->torrents);
	free(s->config_path);
	conf_free(&s->conf);
	free(s);
}

void
session_shutdown(struct session *s, const char *why)
{
	if (s->stopping)
		return;
	s->stopping = 1;
	log_notice("session: shutting down (%s)", why);
	ctl_stop_accepting(s->ctl);
	/* Leave the loop on its next turn, after answers already queued are written. */
	ev_timer_start(s->loop, &s->stop_timer);
}

int
session_stopping(const struct session *s)
{
	return s->stopping;
}

void
session_reload(struct session *s, const struct conf *conf)
{
	if (strcmp(conf->state_dir, s->conf.state_dir) != 0 ||
	    strcmp(conf->socket_path, s->conf.socket_path) != 0)
		log_warnx("session: state_dir and socket changes take effect after a restart");
	if (conf->workers != s->conf.workers)
		log_warnx("session: workers changes take effect after a restart");
	log_set_level(conf->log_level);
	free(s->conf.download_dir);
	s->conf.download_dir = strdup(conf->download_dir);
	s->conf.max_torrents = conf->max_torrents;
	log_notice("session: configuration reloaded (log_level=%s)",
	    log_level_name(conf->log_level));
}

struct ev_loop *session_loop(struct session *s) { return s->loop; }
struct store *session_store(struct session *s) { return s->store; }
struct worker_pool *session_pool(struct session *s) { return s->pool; }
struct ctl *session_ctl(struct session *s) { return s->ctl; }
const struct conf *session_conf(const struct session *s) { return &s->conf; }
const char *session_config_path(const struct session *s) { return s->config_path; }
int64_t session_started(const struct session *s) { return s->started; }

void
session_event(struct session *s, enum ctl_event ev, json_t *params)
{
	/* What we share changed: the search's word keys follow at its next tick. */
	if (s->search != NULL && (ev == CTL_EV_TORRENT_ADDED || ev == CTL_EV_TORRENT_REMOVED ||
	    ev == CTL_EV_TORRENT_STATE))
		search_torrents_changed(s->search);
	if (s->dht != NULL && (ev == CTL_EV_TORRENT_ADDED || ev == CTL_EV_TORRENT_STATE))
		dht_service_kick(s->dht);
	if (s->ctl == NULL) {
		json_decref(params);
		return;
	}
	ctl_event(s->ctl, ev, params);
}

void
session_answer(struct session *s, uint64_t client, json_t *req_id, json_t *result)
{
	if (s->ctl == NULL || req_id == NULL) {
		json_decref(result);
		return;
	}
	ctl_reply_deferred(s->ctl, client, rpc_result(req_id, result));
	json_decref(result);
}

void
session_answer_error(struct session *s, uint64_t client, json_t *req_id, int code,
    const char *msg, json_t *data)
{
	json_t *e;

	if (s->ctl == NULL || req_id == NULL) {
		json_decref(data);
		return;
	}
	e = rpc_error(req_id, code, msg);
	if (e && data)
		json_object_set_new(json_object_get(e, "error"), "data", data);
	else
		json_decref(data);
	ctl_reply_deferred(s->ctl, client, e);
}

struct torrent *
session_torrent_first(struct session *s)
{
	return s->ntorrents ? s->torrents[0] : NULL;
}

static int
all_digits_str(const char *p)
{
	if (*p == '\0')
		return 0;
	for (; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return 1;
}

static ssize_t
torrent_index(const struct session *s, const struct torrent *t)
{
	size_t lo = 0, hi = s->ntorrents;
	int64_t id = torrent_id(t);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (torrent_id(s->torrents[mid]) < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->ntorrents && s->torrents[lo] == t ? (ssize_t)lo : -1;
}

struct torrent *
session_torrent_next(struct session *s, struct torrent *t)
{
	ssize_t i = torrent_index(s, t);

	return i >= 0 && (size_t)i + 1 < s->ntorrents ? s->torrents[i + 1] : NULL;
}

size_t
session_torrent_count(const struct session *s)
{
	return s->ntorrents;
}

struct torrent *
session_torrent_by_hash(struct session *s, const uint8_t ih[20])
{
	for (size_t i = 0; i < s->ntorrents; i++)
		if (memcmp(torrent_info_hash(s->torrents[i]), ih, 20) == 0)
			return s->torrents[i];
	return NULL;
}

static struct torrent *
lookup_number(struct session *s, int64_t id)
{
	for (size_t i = 0; i < s->ntorrents; i++)
		if (torrent_id(s->torrents[i]) == id)
			return s->torrents[i];
	return NULL;
}

static int
all_digits(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return n > 0;
}

static int
all_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f') ||
		    (p[i] >= 'A' && p[i] <= 'F')))
			return 0;
	return 1;
}

struct torrent *
session_torrent_lookup(struct session *s, json_t *id, int *code, char *err, size_t errlen)
{
	struct torrent *found = NULL;
	const char *str;
	size_t n, matches = 0;

	*code = RPC_ERR_NOT_FOUND;
	if (json_is_integer(id)) {
		if ((found = lookup_number(s, json_integer_value(id))) == NULL)
			snprintf(err, errlen, "no torrent with id %lld",
			    (long long)json_integer_value(id));
		return found;
	}
	if (!json_is_string(id)) {
		*code = RPC_ERR_PARAMS;
		snprintf(err, errlen, "\"id\" must be a number or an info-hash (prefix) string");
		return NULL;
	}
	str = json_string_value(id);
	n = strlen(str);
	if (all_digits(str, n) && n < 6) {
		if ((found = lookup_number(s, strtoll(str, NULL, 10))) == NULL)
			snprintf(err, errlen, "no torrent with id %s", str);
		return found;
	}
	if (n < 6 || n > 40 || !all_hex(str, n)) {
		*code = RPC_ERR_PARAMS;
		snprintf(err, errlen, "'%s' is neither a torrent id nor an info-hash prefix "
		    "of 6 to 40 hex digits", str);
		return NULL;
	}
	for (size_t i = 0; i < s->ntorrents; i++) {
		if (strncasecmp(torrent_hex(s->torrents[i]), str, n) == 0) {
			found = s->torrents[i];
			matches++;
		}
	}
	/* A short all-digit string may also be a plain id. */
	if (matches == 0 && all_digits(str, n))
		found = lookup_number(s, strtoll(str, NULL, 10)), matches = found != NULL;
	if (matches == 1)
		return found;
	if (matches > 1) {
		*code = RPC_ERR_AMBIGUOUS;
		snprintf(err, errlen, "info-hash prefix %s matches %zu torrents; give more digits",
		    str, matches);
	} else {
		snprintf(err, errlen, "no torrent matches %s", str);
	}
	return NULL;
}

static void
fill_row_files(const struct metainfo *mi, struct store_file *files)
{
	for (size_t i = 0; i < mi->file_count; i++) {
		files[i].path = mi->multi_file ? mi->files[i].path : mi->name;
		files[i].length = mi->files[i].length;
	}
}

struct torrent *
session_add_torrent(struct session *s, struct session_add *a, int *code, char *err,
    size_t errlen)
{
	struct metainfo *mi = a->mi;
	struct store_torrent row;
	struct store_file *files = NULL;
	struct store_tracker *trk = NULL;
	uint8_t *have = NULL;
	char *path = NULL;
	struct torrent *t = NULL, *dup;
	size_t ntrk;
	int rc;

	a->mi = NULL;
	memset(&row, 0, sizeof(row));
	memcpy(row.info_hash, mi ? mi->info_hash : a->info_hash, 20);
	if ((dup = session_torrent_by_hash(s, row.info_hash)) != NULL) {
		*code = RPC_ERR_EXISTS;
		snprintf(err, errlen, "torrent %s is already present as id %lld",
		    torrent_hex(dup), (long long)torrent_id(dup));
		goto out;
	}
	if (s->ntorrents >= (size_t)s->conf.max_torrents) {
		*code = RPC_ERR_LIMIT;
		snprintf(err, errlen, "max_torrents (%d) reached; remove a torrent or raise "
		    "the limit in p2pd.conf", s->conf.max_torrents);
		goto out;
	}
	row.name = mi ? mi->name : a->name;
	row.save_dir = a->save_dir ? a->save_dir : s->conf.download_dir;
	if (a->data_path == NULL) {
		if (asprintf(&path, "%s/%s", row.save_dir, row.name) == -1)
			goto oom;
		row.data_path = path;
	} else {
		row.data_path = a->data_path;
	}
	row.origin = a->origin;
	row.paused = a->paused;
	/* Private torrents are also never answered: that rule is the search's. */
	row.searchable = !a->no_search;
	row.added_at = (int64_t)time(NULL);
	if (mi) {
		row.info = mi->info;
		row.info_len = mi->info_len;
		if (a->have_all) {
			size_t n = (mi->piece_count + 7) / 8;
			if ((have = malloc(n)) == NULL)
				goto oom;
			memset(have, 0xff, n);
			if (mi->piece_count & 7)
				have[n - 1] = (uint8_t)(0xff << (8 - (mi->piece_count & 7)));
			row.have = have;
			row.have_len = n;
			row.completed_at = row.added_at;
		}
		if ((files = calloc(mi->file_count, sizeof(*files))) == NULL)
			goto oom;
		fill_row_files(mi, files);
	}
	ntrk = mi ? mi->tracker_count : 0;
	ntrk += a->tracker_count;
	if (ntrk && (trk = calloc(ntrk, sizeof(*trk))) == NULL)
		goto oom;
	ntrk = 0;
	for (size_t i = 0; mi && i < mi->tracker_count; i++) {
		trk[ntrk].url = mi->trackers[i];
		trk[ntrk++].tier = mi->tiers[i];
	}
	for (size_t i = 0; i < a->tracker_count; i++) {
		trk[ntrk].url = a->trackers[i];
		trk[ntrk].tier = (uint32_t)ntrk;
		ntrk++;
	}
	rc = store_torrent_insert(s->store, &row, files, mi ? mi->file_count : 0,
	    trk, ntrk, &row.id);
	if (rc != 0) {
		*code = rc == 1 ? RPC_ERR_EXISTS : RPC_ERR_IO;
		snprintf(err, errlen, rc == 1 ? "torrent already present" :
		    "cannot record the torrent in the database: %s", store_errmsg(s->store));
		goto out;
	}
	row.trackers = trk;
	row.tracker_count = ntrk;
	t = torrent_new(s, &row, mi);
	mi = NULL;
	if (t == NULL || torrent_insert_sorted(s, t) == -1) {
		torrent_free(t);
		t = NULL;
		store_torrent_delete(s->store, row.id);
		goto oom;
	}
	log_info("torrent %lld %s added: %s", (long long)row.id, torrent_hex(t), row.name);
	session_event(s, CTL_EV_TORRENT_ADDED, json_pack("{s:o}", "torrent", torrent_json(t, 0)));
	if (!a->have_all)
		torrent_check_existing(t);
	goto out;
oom:
	*code = RPC_ERR_INTERNAL;
	snprintf(err, errlen, "out of memory");
out:
	metainfo_free(mi);
	free(files);
	free(trk);
	free(have);
	free(path);
	return t;
}

int
session_remove_torrent(struct session *s, struct torrent *t)
{
	ssize_t i = torrent_index(s, t);

	if (i < 0)
		return -1;
	if (store_torrent_delete(s->store, torrent_id(t)) == -1)
		return -1;
	memmove(&s->torrents[i], &s->torrents[i + 1],
	    (s->ntorrents - (size_t)i - 1) * sizeof(*s->torrents));
	s->ntorrents--;
	log_info("torrent %lld %s removed", (long long)torrent_id(t), torrent_hex(t));
	session_event(s, CTL_EV_TORRENT_REMOVED, json_pack("{s:I, s:s}", "id",
	    (json_int_t)torrent_id(t), "info_hash", torrent_hex(t)));
	torrent_free(t);
	return 0;
}

struct shares *
session_shares(struct session *s)
{
	return s->shares;
}

/* --- the peer side --- */

int
session_setting(const struct session *s, enum session_setting which)
{
	return s->settings[which];
}

json_t *
session_settings_json(const struct session *s)
{
	json_t *o = json_object();

	for (int i = 0; i < SETTING_COUNT; i++)
		json_object_set_new(o, setting_defs[i].name, json_integer(s->settings[i]));
	return o;
}

int
session_setting_set(struct session *s, const char *key, json_t *value, char *err,
    size_t errlen)
{
	char text[32];
	int v;

	for (int i = 0; i < SETTING_COUNT; i++) {
		const struct setting_def *d = &setting_defs[i];
		if (strcmp(d->name, key) != 0)
			continue;
		if (setting_parse(d, value, &v, err, errlen) == -1)
			return -1;
		if (i == SETTING_MAX_CONN && v > conn_cap(s)) {
			snprintf(err, errlen, "max_connections: at most %d connections fit in the "
			    "open-file limit; raise max_open_files (p2pd.conf) to allow more",
			    conn_cap(s));
			return -1;
		}
		snprintf(text, sizeof(text), "%d", v);
		if (store_setting_set(s->store, d->name, text) == -1) {
			snprintf(err, errlen, "cannot store the setting: %s", store_errmsg(s->store));
			return -1;
		}
		s->settings[i] = v;
		if (i == SETTING_UPLOAD_RATE)
			ratelimit_set_rate(&s->rate_up, (uint64_t)v, ev_now(s->loop));
		if (i == SETTING_DOWNLOAD_RATE)
			ratelimit_set_rate(&s->rate_down, (uint64_t)v, ev_now(s->loop));
		log_info("session: %s set to %d", d->name, v);
		return 0;
	}
	snprintf(err, errlen, "unknown setting \"%s\"; session.get lists them", key);
	return -1;
}

const uint8_t *session_peer_id(const struct session *s) { return s->peer_id; }
struct ratelimit *session_rate_down(struct session *s) { return &s->rate_down; }
struct ratelimit *session_rate_up(struct session *s) { return &s->rate_up; }
size_t session_peer_count(const struct session *s) { return s->npeers; }

uint16_t
session_listen_port(const struct session *s)
{
	return listener_count(s->listener) ? netaddr_port(listener_addr(s->listener, 0)) : 0;
}

const struct netaddr *
session_bind_addr(const struct session *s, int family)
{
	if (family == AF_INET && s->have_bind4)
		return &s->bind4;
	if (family == AF_INET6 && s->have_bind6)
		return &s->bind6;
	return NULL;
}

int
session_pex_enabled(const struct session *s)
{
	return s->conf.pex;
}

json_t *
session_tracker_json(const struct session *s)
{
	return s->tracker ? tracker_server_json(s->tracker) : json_null();
}

json_t *
session_dht_json(const struct session *s)
{
	if (s->dht != NULL)
		return dht_service_json(s->dht);
	return json_pack("{s:b, s:s?}", "enabled", 0, "error",
	    s->dht_error[0] ? s->dht_error : NULL);
}

int
session_dht_enabled(const struct session *s)
{
	return s->dht != NULL;
}

void
session_dht_lookup(struct session *s, const uint8_t key[20])
{
	if (s->dht != NULL)
		dht_service_lookup(s->dht, key);
}

void
session_dht_announce(struct session *s, const uint8_t key[20])
{
	if (s->dht != NULL)
		dht_service_announce(s->dht, key);
}

struct search *
session_search(struct session *s)
{
	return s->search;
}

struct peer *const *
session_peers(const struct session *s, size_t *n)
{
	*n = s->npeers;
	return s->peers;
}

int
session_is_own_addr(const struct session *s, const struct netaddr *a)
{
	for (size_t i = 0; i < listener_count(s->listener); i++)
		if (netaddr_equal(listener_addr(s->listener, i), a))
			return 1;
	return 0;
}

void
session_dht_port(struct session *s, const struct netaddr *peer, uint16_t port)
{
	if (s->dht != NULL)
		dht_service_port(s->dht, peer, port);
}

json_t *
session_lsd_json(const struct session *s)
{
	return lsd_json(s->lsd);
}

json_t *
session_listen_json(const struct session *s)
{
	json_t *a = json_array();
	char buf[NETADDR_STRLEN];

	for (size_t i = 0; i < listener_count(s->listener); i++)
		json_array_append_new(a, json_string(netaddr_format(listener_addr(s->listener,
		    i), buf, sizeof(buf))));
	return a;
}

struct transfer *
session_transfer_by_hash(struct session *s, const uint8_t ih[20])
{
	struct torrent *t = session_torrent_by_hash(s, ih);

	return t ? torrent_transfer(t) : NULL;
}

static int
banned(struct session *s, const struct netaddr *a)
{
	double now = ev_now(s->loop);

	for (size_t i = 0; i < s->nbans; i++) {
		if (s->bans[i].until <= now) {
			s->bans[i--] = s->bans[--s->nbans];
			continue;
		}
		if (netaddr_same_ip(&s->bans[i].addr, a))
			return 1;
	}
	return 0;
}

int
session_peer_allowed(struct session *s, const struct netaddr *a, char *err, size_t errlen)
{
	size_t same = 0;

	if (s->stopping) {
		snprintf(err, errlen, "p2pd is shutting down");
		return RPC_ERR_SHUTDOWN;
	}
	if (banned(s, a)) {
		snprintf(err, errlen, "that address is banned (it sent corrupt data)");
		return RPC_ERR_LIMIT;
	}
	if (s->npeers >= (size_t)s->settings[SETTING_MAX_CONN]) {
		snprintf(err, errlen, "max_connections (%d) reached", s->settings[SETTING_MAX_CONN]);
		return RPC_ERR_LIMIT;
	}
	for (size_t i = 0; i < s->npeers; i++)
		same += netaddr_same_ip(peer_addr(s->peers[i]), a);
	if (same >= (size_t)s->settings[SETTING_MAX_CONN_IP]) {
		snprintf(err, errlen, "max_connections_per_ip (%d) reached for that address",
		    s->settings[SETTING_MAX_CONN_IP]);
		return RPC_ERR_LIMIT;
	}
	return 0;
}

void
session_peer_added(struct session *s, struct peer *p)
{
	if (s->npeers == s->cappeers) {
		size_t ncap = s->cappeers ? s->cappeers * 2 : 64;
		struct peer **v = realloc(s->peers, ncap * sizeof(*v));
		if (v == NULL)
			return;	/* uncounted: limits are soft under memory pressure */
		s->peers = v;
		s->cappeers = ncap;
	}
	s->peers[s->npeers++] = p;
}

void
session_peer_removed(struct session *s, struct peer *p)
{
	for (size_t i = 0; i < s->npeers; i++) {
		if (s->peers[i] == p) {
			s->peers[i] = s->peers[--s->npeers];
			return;
		}
	}
}

int
session_ban(struct session *s, const struct netaddr *a, const char *reason)
{
	char as[NETADDR_STRLEN];
	struct ban *v;

	if (banned(s, a))
		return 0;
	if ((v = realloc(s->bans, (s->nbans + 1) * sizeof(*v))) == NULL)
		return 0;
	s->bans = v;
	s->bans[s->nbans].addr = *a;
	s->bans[s->nbans].until = ev_now(s->loop) + BAN_SECONDS;
	s->nbans++;
	log_notice("session: banned %s for an hour reason=%s",
	    netaddr_format(a, as, sizeof(as)), reason);
	/* Its other connections go too. */
	for (size_t i = 0; i < s->npeers; i++)
		if (netaddr_same_ip(peer_addr(s->peers[i]), a))
			peer_close(s->peers[i], "banned");
	return 1;
}

size_t
session_ban_count(struct session *s)
{
	(void)banned(s, &s->bind4);	/* expires old entries */
	return s->nbans;
}
