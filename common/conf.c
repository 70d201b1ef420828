/* conf.c: the settings table and everything driven by it: defaults, parser, set, print. */
#include "conf.h"
#include "buf.h"
#include "log.h"
#include "netaddr.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Every refusal names its reason; log_seterr formats it. */
#define fail(err, errlen, ...) log_seterr(err, errlen, NULL, __VA_ARGS__)

enum ktype { K_PATH, K_ADDR, K_HOSTPORT, K_URL, K_BOOL, K_INT, K_LEVEL, K_RATE, K_SIZE };

static const char *const type_names[] = {
	[K_PATH] = "path", [K_ADDR] = "addr", [K_HOSTPORT] = "hostport",
	[K_URL] = "url", [K_BOOL] = "bool", [K_INT] = "int", [K_LEVEL] = "level",
	[K_RATE] = "rate", [K_SIZE] = "size",
};

struct key {
	const char *name;
	enum ktype type;
	int repeatable;
	size_t off;			/* the field in struct conf */
	size_t count_off;		/* repeatable keys: their entry count */
	const char *const *def;		/* default values as text, NULL-terminated */
	char *(*def_fn)(void);		/* or a default computed at run time */
	long min, max;			/* int: range; strings: max length */
	const char *doc;
};

static char *default_state_dir(void);
static char *default_download_dir(void);

#define F(field)	offsetof(struct conf, field)
#define DEFS(...)	((const char *const []){ __VA_ARGS__, NULL })
/* sun_path holds the socket path and its NUL. */
#define SOCKET_MAX	((long)sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
#define URL_MAX		2048
#define HOSTPORT_MAX	(253 + 8)	/* a DNS name, or [v6], plus ":65535" */

/* Every setting, once: conf.h's struct, p2pd.conf(5) and `config get` follow this. */
static const struct key keys[] = {
	{ "state_dir", K_PATH, 0, F(state_dir), 0, NULL, default_state_dir,
	    0, PATH_MAX - 1, "directory for the database p2pd.db" },
	{ "download_dir", K_PATH, 0, F(download_dir), 0, NULL,
	    default_download_dir, 0, PATH_MAX - 1,
	    "directory where downloads are saved unless told otherwise" },
	{ "socket", K_PATH, 0, F(socket_path), 0, NULL, conf_default_socket,
	    0, SOCKET_MAX, "path of the control socket" },
	{ "listen", K_ADDR, 1, F(listen), F(listen_count),
	    DEFS("0.0.0.0:6881", "[::]:6881"), NULL, 0, NETADDR_STRLEN - 1,
	    "address and port for peer connections (TCP) and the DHT (UDP)" },
	{ "log_level", K_LEVEL, 0, F(log_level), 0, DEFS("info"), NULL, 0, 0,
	    "log messages of this level and more severe ones: err, warning, "
	    "notice, info, debug" },
	{ "dht", K_BOOL, 0, F(dht), 0, DEFS("yes"), NULL, 0, 1,
	    "take part in the DHT (BEP 5)" },
	{ "lsd", K_BOOL, 0, F(lsd), 0, DEFS("yes"), NULL, 0, 1,
	    "local service discovery by multicast (BEP 14)" },
	{ "pex", K_BOOL, 0, F(pex), 0, DEFS("yes"), NULL, 0, 1,
	    "exchange peer addresses with connected peers (BEP 11)" },
	{ "search_answer", K_BOOL, 0, F(search_answer), 0, DEFS("yes"), NULL, 0, 1,
	    "answer other peers' searches for what we share" },
	{ "dht_bootstrap", K_HOSTPORT, 1, F(dht_bootstrap),
	    F(dht_bootstrap_count), NULL, NULL, 0, HOSTPORT_MAX,
	    "DHT node to join through; none: the well-known public routers" },
	{ "tracker_listen", K_ADDR, 0, F(tracker_listen), 0, NULL, NULL,
	    0, NETADDR_STRLEN - 1,
	    "address and port of the built-in tracker; none: no tracker" },
	{ "default_tracker", K_URL, 1, F(default_trackers),
	    F(default_tracker_count), NULL, NULL, 0, URL_MAX,
	    "announce URL added to newly shared torrents" },
	{ "tracker_ca_file", K_PATH, 0, F(tracker_ca_file), 0, NULL, NULL,
	    0, PATH_MAX - 1, "PEM file of CA certificates trusted for https:// "
	    "trackers besides the system's; none: the system's only" },
	{ "tracker_timeout", K_INT, 0, F(tracker_timeout), 0, DEFS("15"), NULL,
	    1, 300, "seconds a tracker has to answer (UDP: over all three tries)" },
	{ "workers", K_INT, 0, F(workers), 0, DEFS("0"), NULL, 0, 256,
	    "hashing and disk threads; 0: one per CPU core" },
	{ "max_torrents", K_INT, 0, F(max_torrents), 0, DEFS("10000"), NULL,
	    1, 1000000, "most torrents the daemon holds" },
	{ "control_max_clients", K_INT, 0, F(control_max_clients), 0,
	    DEFS("256"), NULL, 1, 100000,
	    "most control socket clients at once" },
	{ "upload_rate_limit", K_RATE, 0, F(upload_rate_limit), 0, DEFS("0"), NULL,
	    0, INT_MAX, "bytes per second for all uploads (K, M, G suffixes); 0: no limit" },
	{ "download_rate_limit", K_RATE, 0, F(download_rate_limit), 0, DEFS("0"), NULL,
	    0, INT_MAX, "bytes per second for all downloads (K, M, G suffixes); 0: no limit" },
	{ "upload_slots", K_INT, 0, F(upload_slots), 0, DEFS("4"), NULL, 1, 1000,
	    "peers unchoked at once per torrent" },
	{ "max_connections", K_INT, 0, F(max_connections), 0, DEFS("500"), NULL,
	    1, 100000, "peer connections in total" },
	{ "max_connections_per_torrent", K_INT, 0, F(max_connections_per_torrent), 0,
	    DEFS("100"), NULL, 1, 100000, "peer connections per torrent" },
	{ "max_connections_per_ip", K_INT, 0, F(max_connections_per_ip), 0,
	    DEFS("4"), NULL, 1, 1000, "peer connections from one IP address" },
	/* Resource limits (issue 6): each refusal names the key that caused it. */
	{ "max_metadata_size", K_SIZE, 0, F(max_metadata_size), 0, DEFS("32M"), NULL,
	    1024, 1 << 30, "largest .torrent file or info dict accepted, from a file, "
	    "a control request or peers (BEP 9) (K, M, G suffixes)" },
	{ "max_files_per_torrent", K_INT, 0, F(max_files_per_torrent), 0, DEFS("100000"),
	    NULL, 1, 10000000, "most files one torrent may list, added or shared" },
	{ "max_open_files", K_INT, 0, F(max_open_files), 0, DEFS("0"), NULL, 0, 1048576,
	    "file descriptors p2pd may use (its soft RLIMIT_NOFILE); max_connections is "
	    "lowered to fit; 0: the hard limit" },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static int
is_string(const struct key *k)
{
	return k->type == K_PATH || k->type == K_ADDR ||
	    k->type == K_HOSTPORT || k->type == K_URL;
}

static char **
str_slot(struct conf *c, const struct key *k)
{
	return (char **)(void *)((char *)c + k->off);
}

static char *const *
str_slot_const(const struct conf *c, const struct key *k)
{
	return (char *const *)(const void *)((const char *)c + k->off);
}

static size_t *
count_slot(struct conf *c, const struct key *k)
{
	return (size_t *)(void *)((char *)c + k->count_off);
}

static size_t
count_of(const struct conf *c, const struct key *k)
{
	if (!k->repeatable)
		return *str_slot_const(c, k) != NULL;
	return *(const size_t *)(const void *)((const char *)c + k->count_off);
}

static int *
int_slot(struct conf *c, const struct key *k)
{
	return (int *)(void *)((char *)c + k->off);
}

static const struct key *
find_key(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* A value as shown in a message: bounded, and without control bytes. */
static const char *
shown(const char *s, char *out, size_t n)
{
	size_t i, lim = n > 4 ? n - 4 : 0;

	for (i = 0; s[i] != '\0' && i < lim; i++)
		out[i] = ((unsigned char)s[i] >= 0x20 && s[i] != 0x7f) ?
		    s[i] : '?';
	if (s[i] != '\0' && i + 4 <= n) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

/* --- value checks: each leaves a message without the "line N: " prefix --- */

static int
check_port(const char *p, int zero_ok)
{
	long v = 0;
	size_t n;

	for (n = 0; p[n] != '\0'; n++) {
		if (p[n] < '0' || p[n] > '9' || n >= 5)
			return -1;
		v = v * 10 + (p[n] - '0');
	}
	if (n == 0 || v > 65535 || (v == 0 && !zero_ok))
		return -1;
	return 0;
}

static int
check_path(const struct key *k, const char *v, char *err, size_t errlen)
{
	char s[80];

	/* The daemon's working directory is /, so a relative path is a trap. */
	if (v[0] != '/')
		return fail(err, errlen, "%s: path must be absolute: '%s'",
		    k->name, shown(v, s, sizeof(s)));
	return 0;
}

static int
check_addr(const struct key *k, const char *v, char *err, size_t errlen)
{
	struct netaddr a;
	char e[128];

	if (netaddr_parse(v, &a, e, sizeof(e)) == -1)
		return fail(err, errlen, "%s: %s", k->name, e);
	return 0;
}

/* "router.example.org:6881", "1.2.3.4:6881" or "[2001:db8::1]:6881". */
static int
check_hostport(const struct key *k, const char *v, char *err, size_t errlen)
{
	const char *colon = strrchr(v, ':');
	char s[80];
	size_t hlen;

	if (v[0] == '[') {
		struct netaddr a;
		char e[128];

		if (netaddr_parse(v, &a, e, sizeof(e)) == -1)
			return fail(err, errlen, "%s: %s", k->name, e);
		if (netaddr_port(&a) == 0)
			return fail(err, errlen, "%s: '%s': port 0 cannot be "
			    "contacted", k->name, shown(v, s, sizeof(s)));
		return 0;
	}
	if (colon == NULL || check_port(colon + 1, 0) == -1)
		return fail(err, errlen, "%s: '%s': expected HOST:PORT with "
		    "a port from 1 to 65535", k->name, shown(v, s, sizeof(s)));
	hlen = (size_t)(colon - v);
	if (hlen == 0 || hlen > 253)
		return fail(err, errlen, "%s: '%s': bad host name", k->name,
		    shown(v, s, sizeof(s)));
	for (size_t i = 0; i < hlen; i++) {
		unsigned char ch = (unsigned char)v[i];

		if (ch == ':')
			return fail(err, errlen, "%s: '%s': an IPv6 address "
			    "needs brackets, as in [::1]:6881", k->name,
			    shown(v, s, sizeof(s)));
		if (!(ch == '.' || ch == '-' || ch == '_' ||
		    (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= 'A' && ch <= 'Z')))
			return fail(err, errlen, "%s: '%s': bad host name",
			    k->name, shown(v, s, sizeof(s)));
	}
	return 0;
}

/* The port of a URL's authority ("host:port", "[v6]:port"), or NULL. */
static const char *
url_port(const char *auth, size_t alen)
{
	const char *p;

	if (auth[0] == '[') {
		if ((p = memchr(auth, ']', alen)) == NULL)
			return NULL;
		p++;
		return (p < auth + alen && *p == ':') ? p + 1 : NULL;
	}
	p = memchr(auth, ':', alen);
	return p ? p + 1 : NULL;
}

static int
check_url(const struct key *k, const char *v, char *err, size_t errlen)
{
	static const char *const schemes[] = { "http://", "https://", "udp://" };
	const char *auth = NULL, *port;
	char s[80];
	size_t alen;

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strncasecmp(v, schemes[i], strlen(schemes[i])) == 0)
			auth = v + strlen(schemes[i]);
	if (auth == NULL)
		return fail(err, errlen, "%s: '%s': a tracker URL starts with "
		    "http://, https:// or udp://", k->name,
		    shown(v, s, sizeof(s)));
	if (strpbrk(v, " ") != NULL)
		return fail(err, errlen, "%s: '%s': a URL has no spaces "
		    "(write them as %%20)", k->name, shown(v, s, sizeof(s)));
	alen = strcspn(auth, "/?#");
	if (alen == 0 || auth[0] == ':')
		return fail(err, errlen, "%s: '%s': no host in URL", k->name,
		    shown(v, s, sizeof(s)));
	/* BEP 15 has no default port: a UDP tracker URL must carry one. */
	if (strncasecmp(v, "udp://", 6) == 0) {
		port = url_port(auth, alen);
		if (port == NULL || port == auth + alen ||
		    strspn(port, "0123456789") != (size_t)(auth + alen - port))
			return fail(err, errlen, "%s: '%s': a udp:// tracker "
			    "URL needs a port", k->name,
			    shown(v, s, sizeof(s)));
	}
	return 0;
}

static int
check_int(const struct key *k, const char *v, int *out, char *err,
    size_t errlen)
{
	char *end;
	char s[80];
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	/* strtol alone would also take " 1", "+1" and "1 ". */
	if (!(v[0] == '-' || (v[0] >= '0' && v[0] <= '9')) || *end != '\0' ||
	    errno == ERANGE)
		return fail(err, errlen, "%s: '%s' is not a number", k->name,
		    shown(v, s, sizeof(s)));
	if (n < k->min || n > k->max)
		return fail(err, errlen, "%s: %ld is out of range %ld..%ld",
		    k->name, n, k->min, k->max);
	*out = (int)n;
	return 0;
}

int
conf_parse_size(const char *v, uint64_t *out)
{
	uint64_t n = 0, mul = 1;
	size_t i = 0;

	if (v[0] < '0' || v[0] > '9')
		return -1;
	for (; v[i] >= '0' && v[i] <= '9'; i++) {
		if (n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	switch (v[i]) {
	case 'k': case 'K': mul = 1024; i++; break;
	case 'm': case 'M': mul = 1024 * 1024; i++; break;
	case 'g': case 'G': mul = 1024 * 1024 * 1024; i++; break;
	}
	if (mul > 1 && strcmp(v + i, "iB") == 0)
		i += 2;
	else if (strcmp(v + i, "B") == 0)
		i += 1;
	if (v[i] != '\0' || (n && mul > UINT64_MAX / n))
		return -1;
	*out = n * mul;
	return 0;
}

static int
check_rate(const struct key *k, const char *v, int *out, char *err, size_t errlen)
{
	uint64_t n;
	char s[80];

	if (conf_parse_size(v, &n) == -1)
		return fail(err, errlen, "%s: '%s' is not a rate (bytes per second, "
		    "e.g. 500K or 10M)", k->name, shown(v, s, sizeof(s)));
	if (n > (uint64_t)k->max)
		return fail(err, errlen, "%s: %s is over the largest rate %ld", k->name,
		    shown(v, s, sizeof(s)), k->max);
	*out = (int)n;
	return 0;
}

static int
check_size(const struct key *k, const char *v, int *out, char *err, size_t errlen)
{
	uint64_t n;
	char s[80];

	if (conf_parse_size(v, &n) == -1)
		return fail(err, errlen, "%s: '%s' is not a size (bytes, e.g. 512K or 32M)",
		    k->name, shown(v, s, sizeof(s)));
	if (n < (uint64_t)k->min || n > (uint64_t)k->max)
		return fail(err, errlen, "%s: %s is out of range %ld..%ld bytes", k->name,
		    shown(v, s, sizeof(s)), k->min, k->max);
	*out = (int)n;
	return 0;
}

static int
check_bool(const struct key *k, const char *v, int *out, char *err,
    size_t errlen)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	char s[80];

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return fail(err, errlen, "%s: expected yes or no, not '%s'", k->name,
	    shown(v, s, sizeof(s)));
}

/*
 * Validates v for k. String values: *ival is untouched. Integer-like
 * values: *ival gets the number.
 */
static int
check_value(const struct key *k, const char *v, int *ival, char *err,
    size_t errlen)
{
	char s[80];
	int lvl;

	if (v[0] == '\0')
		return fail(err, errlen, "%s: empty value", k->name);
	if (is_string(k)) {
		for (const char *p = v; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return fail(err, errlen, "%s: control "
				    "character in value", k->name);
		if (strlen(v) > (size_t)k->max)
			return fail(err, errlen, "%s: value longer than %ld "
			    "bytes", k->name, k->max);
	}
	switch (k->type) {
	case K_PATH:
		return check_path(k, v, err, errlen);
	case K_ADDR:
		return check_addr(k, v, err, errlen);
	case K_HOSTPORT:
		return check_hostport(k, v, err, errlen);
	case K_URL:
		return check_url(k, v, err, errlen);
	case K_BOOL:
		return check_bool(k, v, ival, err, errlen);
	case K_INT:
		return check_int(k, v, ival, err, errlen);
	case K_RATE:
		return check_rate(k, v, ival, err, errlen);
	case K_SIZE:
		return check_size(k, v, ival, err, errlen);
	case K_LEVEL:
		if ((lvl = log_level_parse(v)) == -1)
			return fail(err, errlen, "%s: '%s' is not one of err, "
			    "warning, notice, info, debug", k->name,
			    shown(v, s, sizeof(s)));
		*ival = lvl;
		return 0;
	}
	return fail(err, errlen, "%s: unknown type", k->name);
}

/* Checks first, so a refused value leaves c as it was. */
static int
apply(struct conf *c, const struct key *k, const char *v, char *err,
    size_t errlen)
{
	char s[80];
	char *dup;
	int ival = 0;

	if (check_value(k, v, &ival, err, errlen) == -1)
		return -1;
	if (!is_string(k)) {
		*int_slot(c, k) = ival;
		return 0;
	}
	if (k->repeatable) {
		char **list = str_slot(c, k);
		size_t *n = count_slot(c, k);

		for (size_t i = 0; i < *n; i++)
			if (strcmp(list[i], v) == 0)
				return fail(err, errlen, "%s: '%s' given twice",
				    k->name, shown(v, s, sizeof(s)));
		if (*n >= CONF_MAX_LIST)
			return fail(err, errlen, "%s: more than %d values",
			    k->name, CONF_MAX_LIST);
		if ((dup = strdup(v)) == NULL)
			return fail(err, errlen, "out of memory");
		list[(*n)++] = dup;
		return 0;
	}
	if ((dup = strdup(v)) == NULL)
		return fail(err, errlen, "out of memory");
	free(*str_slot(c, k));
	*str_slot(c, k) = dup;
	return 0;
}

static void
clear_key(struct conf *c, const struct key *k)
{
	char **p = str_slot(c, k);

	if (!is_string(k))
		return;
	if (!k->repeatable) {
		free(*p);
		*p = NULL;
		return;
	}
	for (size_t i = 0; i < *count_slot(c, k); i++) {
		free(p[i]);
		p[i] = NULL;
	}
	*count_slot(c, k) = 0;
}

/* --- built-in defaults from the environment --- */

/* XDG base directory spec: a relative path in these variables is invalid. */
static const char *
env_abs(const char *name)
{
	const char *v = getenv(name);

	return (v != NULL && v[0] == '/') ? v : NULL;
}

/* systemd lists several directories colon-separated; ours is the first. */
static char *
env_first_dir(const char *name)
{
	const char *v = env_abs(name);

	return v ? strndup(v, strcspn(v, ":")) : NULL;
}

/*
 * The home directory, or NULL for root without HOME: a system service gets
 * system paths, not /root's dot-directories.
 */
static const char *
home_dir(void)
{
	const char *h = env_abs("HOME");
	struct passwd *pw;

	if (h != NULL || geteuid() == 0)
		return h;
	if ((pw = getpwuid(geteuid())) != NULL && pw->pw_dir != NULL &&
	    pw->pw_dir[0] == '/')
		return pw->pw_dir;
	return NULL;
}

static char *
join(const char *a, const char *b)
{
	char *s;

	if (asprintf(&s, "%s%s", a, b) == -1)
		return NULL;
	return s;
}

static char *
from_env_dir(const char *name, const char *suffix)
{
	char *d = env_first_dir(name), *s;

	if (d == NULL)
		return NULL;
	s = join(d, suffix);
	free(d);
	return s;
}

static char *
default_state_dir(void)
{
	const char *v;

	if (env_abs("STATE_DIRECTORY") != NULL)
		return env_first_dir("STATE_DIRECTORY");
	if ((v = env_abs("XDG_STATE_HOME")) != NULL)
		return join(v, "/p2pd");
	if ((v = home_dir()) != NULL)
		return join(v, "/.local/state/p2pd");
	return strdup("/var/lib/p2pd");
}

static char *
default_download_dir(void)
{
	const char *v;

	if (env_abs("STATE_DIRECTORY") != NULL)
		return from_env_dir("STATE_DIRECTORY", "/downloads");
	if ((v = env_abs("XDG_DATA_HOME")) != NULL)
		return join(v, "/p2pd/downloads");
	if ((v = home_dir()) != NULL)
		return join(v, "/.local/share/p2pd/downloads");
	return strdup("/var/lib/p2pd/downloads");
}

char *
conf_default_socket(void)
{
	const char *v;
	char *s;

	if (env_abs("RUNTIME_DIRECTORY") != NULL)
		return from_env_dir("RUNTIME_DIRECTORY", "/p2pd.sock");
	if ((v = env_abs("XDG_RUNTIME_DIR")) != NULL)
		return join(v, "/p2pd/p2pd.sock");
	if (geteuid() == 0)
		return strdup("/run/p2pd/p2pd.sock");
	if (asprintf(&s, "/tmp/p2pd-%u/p2pd.sock", (unsigned)geteuid()) == -1)
		return NULL;
	return s;
}

char *
conf_default_path(void)
{
	const char *v;

	if (env_abs("CONFIGURATION_DIRECTORY") != NULL)
		return from_env_dir("CONFIGURATION_DIRECTORY", "/p2pd.conf");
	if (geteuid() == 0)
		return strdup("/etc/p2pd/p2pd.conf");
	if ((v = env_abs("XDG_CONFIG_HOME")) != NULL)
		return join(v, "/p2pd/p2pd.conf");
	if ((v = home_dir()) != NULL)
		return join(v, "/.config/p2pd/p2pd.conf");
	return strdup("/etc/p2pd/p2pd.conf");
}

void
conf_defaults(struct conf *c)
{
	char err[256];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];

		if (k->def_fn != NULL) {
			if ((*str_slot(c, k) = k->def_fn()) == NULL)
				fatalx("conf: out of memory");
			continue;
		}
		for (size_t j = 0; k->def != NULL && k->def[j] != NULL; j++)
			if (apply(c, k, k->def[j], err, sizeof(err)) == -1)
				fatalx("conf: built-in default refused: %s",
				    err);
	}
}

void
conf_free(struct conf *c)
{
	for (size_t i = 0; i < NKEYS; i++)
		clear_key(c, &keys[i]);
	memset(c, 0, sizeof(*c));
}

int
conf_copy(struct conf *dst, const struct conf *src)
{
	*dst = *src;
	/* First forget src's pointers, so a failure frees only our copies. */
	for (size_t i = 0; i < NKEYS; i++)
		if (is_string(&keys[i]))
			for (size_t j = 0; j < count_of(src, &keys[i]); j++)
				str_slot(dst, &keys[i])[j] = NULL;
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];

		if (!is_string(k))
			continue;
		for (size_t j = 0; j < count_of(src, k); j++) {
			if ((str_slot(dst, k)[j] =
			    strdup(str_slot_const(src, k)[j])) == NULL) {
				conf_free(dst);
				return -1;
			}
		}
	}
	return 0;
}

int
conf_set(struct conf *c, const char *key, const char *value, char *err,
    size_t errlen)
{
	const struct key *k = find_key(key);
	char s[80];

	if (k == NULL)
		return fail(err, errlen, "unknown key '%s'",
		    shown(key, s, sizeof(s)));
	return apply(c, k, value, err, errlen);
}

int
conf_clear(struct conf *c, const char *key, char *err, size_t errlen)
{
	const struct key *k = find_key(key);
	char s[80];

	if (k == NULL)
		return fail(err, errlen, "unknown key '%s'",
		    shown(key, s, sizeof(s)));
	if (!k->repeatable && !(is_string(k) && k->def == NULL &&
	    k->def_fn == NULL))
		return fail(err, errlen, "%s: cannot be left empty", k->name);
	clear_key(c, k);
	return 0;
}

/* --- the file parser --- */

struct line {
	char *p;		/* the line, NUL-terminated, may be edited */
	unsigned no;
};

static int
is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* A "quoted value" with \" and \\ escapes, unquoted in place. */
static int
unquote(char *p, char **end, char *err, size_t errlen)
{
	char *w = p;

	for (char *r = p + 1;; r++) {
		if (*r == '\0')
			return fail(err, errlen, "missing closing '\"'");
		if (*r == '"') {
			*w = '\0';
			*end = r + 1;
			return 0;
		}
		if (*r == '\\') {
			if (r[1] != '"' && r[1] != '\\')
				return fail(err, errlen, "unknown escape "
				    "'\\%c' in quoted value (only \\\" and "
				    "\\\\)", r[1] >= 0x20 && r[1] < 0x7f ?
				    r[1] : '?');
			r++;
		}
		*w++ = *r;
	}
}

/*
 * Splits the value after '=' off: quoted, or up to a '#' that starts it or
 * follows a blank (so "a#b" keeps its '#'), with surrounding blanks trimmed.
 * Returns the value or NULL with err set.
 */
static char *
split_value(char *p, char *err, size_t errlen)
{
	char *end = NULL, *v;

	while (is_space(*p))
		p++;
	if (*p == '"') {
		if (unquote(p, &end, err, errlen) == -1)
			return NULL;
		while (is_space(*end))
			end++;
		if (*end != '\0' && *end != '#') {
			fail(err, errlen, "text after the closing '\"'");
			return NULL;
		}
		return p;
	}
	v = p;
	for (end = p; *end != '\0'; end++)
		if (*end == '#' && (end == v || is_space(end[-1])))
			break;
	*end = '\0';
	while (end > v && is_space(end[-1]))
		*--end = '\0';
	if (*v == '\0') {
		fail(err, errlen, "missing value");
		return NULL;
	}
	return v;
}

static int
parse_line(struct conf *c, char *p, unsigned lineno, unsigned *seen,
    char *err, size_t errlen)
{
	const struct key *k;
	char e[CONF_MAX_LINE / 16];
	char s[80];
	char *name, *v;
	size_t n;

	while (is_space(*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	name = p;
	n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_-.");
	p += n;
	while (is_space(*p))
		p++;
	if (n == 0)
		return fail(err, errlen, "line %u: expected 'key = value'",
		    lineno);
	if (*p != '=') {
		name[n] = '\0';
		return fail(err, errlen, "line %u: expected '=' after '%s'",
		    lineno, shown(name, s, sizeof(s)));
	}
	name[n] = '\0';
	p++;
	if ((k = find_key(name)) == NULL)
		return fail(err, errlen, "line %u: unknown key '%s'", lineno,
		    shown(name, s, sizeof(s)));
	if ((v = split_value(p, e, sizeof(e))) == NULL)
		return fail(err, errlen, "line %u: %s: %s", lineno, k->name, e);
	if (!k->repeatable && seen[k - keys] != 0)
		return fail(err, errlen, "line %u: %s: already set on line %u",
		    lineno, k->name, seen[k - keys]);
	/* The file's list replaces the built-in one instead of adding to it. */
	if (k->repeatable && seen[k - keys] == 0)
		clear_key(c, k);
	seen[k - keys] = lineno;
	if (apply(c, k, v, e, sizeof(e)) == -1)
		return fail(err, errlen, "line %u: %s", lineno, e);
	return 0;
}

static int
parse_all(struct conf *c, const char *text, size_t len, char *err,
    size_t errlen)
{
	char line[CONF_MAX_LINE + 1];
	unsigned seen[NKEYS] = { 0 };
	unsigned lineno = 0;
	size_t pos = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;

		lineno++;
		if (n > CONF_MAX_LINE)
			return fail(err, errlen, "line %u: longer than %u "
			    "bytes", lineno, CONF_MAX_LINE);
		if (memchr(text + pos, '\0', n) != NULL)
			return fail(err, errlen, "line %u: NUL byte", lineno);
		memcpy(line, text + pos, n);
		line[n] = '\0';
		if (parse_line(c, line, lineno, seen, err, errlen) == -1)
			return -1;
		pos += n + 1;
	}
	return 0;
}

int
conf_parse(struct conf *c, const char *text, size_t len, char *err,
    size_t errlen)
{
	struct conf tmp;

	if (len > CONF_MAX_FILE)
		return fail(err, errlen, "larger than %u bytes", CONF_MAX_FILE);
	/* Work on a copy: a file that fails half-way changes nothing. */
	if (conf_copy(&tmp, c) == -1)
		return fail(err, errlen, "out of memory");
	if (parse_all(&tmp, text, len, err, errlen) == -1) {
		conf_free(&tmp);
		return -1;
	}
	conf_free(c);
	*c = tmp;
	return 0;
}

static int
read_file(int fd, struct buf *b)
{
	char chunk[16384];
	ssize_t n;

	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			return 0;
		if (buf_append(b, chunk, (size_t)n) == -1) {
			errno = EFBIG;
			return -1;
		}
	}
}

int
conf_load_file(struct conf *c, const char *path, char *err, size_t errlen)
{
	struct stat st;
	struct buf b;
	char e[512];
	int fd, r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return fail(err, errlen, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) == -1) {
		r = errno;
		close(fd);
		return fail(err, errlen, "%s: %s", path, strerror(r));
	}
	/* A FIFO or a device could block or never end. */
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return fail(err, errlen, "%s: not a regular file", path);
	}
	/* One byte over the limit is enough to know the file is too big. */
	buf_init(&b, CONF_MAX_FILE + 1);
	if (read_file(fd, &b) == -1) {
		r = errno;
		close(fd);
		buf_free(&b);
		if (r == EFBIG)
			return fail(err, errlen, "%s: larger than %u bytes",
			    path, CONF_MAX_FILE);
		return fail(err, errlen, "%s: %s", path, strerror(r));
	}
	close(fd);
	r = conf_parse(c, (const char *)b.data, b.len, e, sizeof(e));
	buf_free(&b);
	if (r == -1)
		return fail(err, errlen, "%s: %s", path, e);
	return 0;
}

/* --- printing --- */

static void
print_string(FILE *f, const char *name, const char *v)
{
	if (v[0] != '\0' && strpbrk(v, " \t#\"\\") == NULL) {
		fprintf(f, "%s = %s\n", name, v);
		return;
	}
	fprintf(f, "%s = \"", name);
	for (; *v != '\0'; v++) {
		if (*v == '"' || *v == '\\')
			fputc('\\', f);
		fputc(*v, f);
	}
	fputs("\"\n", f);
}

void
conf_print(const struct conf *c, FILE *f)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		int v;

		if (is_string(k)) {
			/* An empty setting prints as a comment: it re-reads the same. */
			if (count_of(c, k) == 0)
				fprintf(f, "# %s (not set)\n", k->name);
			for (size_t j = 0; j < count_of(c, k); j++)
				print_string(f, k->name, str_slot_const(c, k)[j]);
			continue;
		}
		v = *(const int *)(const void *)((const char *)c + k->off);
		if (k->type == K_BOOL)
			fprintf(f, "%s = %s\n", k->name, v ? "yes" : "no");
		else if (k->type == K_LEVEL)
			fprintf(f, "%s = %s\n", k->name, log_level_name(v));
		else
			fprintf(f, "%s = %d\n", k->name, v);
	}
}

/* --- the table, for documentation and `config get` --- */

static struct conf_key_info key_info[NKEYS];
static pthread_once_t key_info_once = PTHREAD_ONCE_INIT;

static void
key_info_fill(void)
{
	for (size_t i = 0; i < NKEYS; i++) {
		key_info[i].name = keys[i].name;
		key_info[i].type = type_names[keys[i].type];
		key_info[i].repeatable = keys[i].repeatable;
		key_info[i].doc = keys[i].doc;
	}
}

size_t
conf_keys(const struct conf_key_info **out)
{
	pthread_once(&key_info_once, key_info_fill);
	*out = key_info;
	return NKEYS;
}
