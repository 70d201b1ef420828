/* p2pctl.c: p2pd's control tool: parses a command line, sends JSON-RPC requests over the control socket, prints the answers. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "output.h"
#include "rpc.h"
#include "sha.h"

/* Exit statuses: the contract scripts rely on (ARCHITECTURE.md section 5). */
#define ST_OK		0
#define ST_ERROR	1	/* p2pd answered with an error, or a local file failed */
#define ST_USAGE	2
#define ST_UNREACHABLE	3

/*
 * Requests are capped at RPC_MAX_LINE by the daemon. Responses get more room:
 * torrent.export carries a whole .torrent in base64, and one with many
 * pieces passes 1 MiB. Still capped, so a broken daemon cannot eat memory.
 */
#define CTL_MAX_LINE	(64 * RPC_MAX_LINE)
#define SHUTDOWN_WAIT_MS 10000
/* The system daemon's socket, in p2pd.service's RuntimeDirectory. */
#define SYSTEM_SOCKET	"/run/p2pd/p2pd.sock"
#define CMD_WIDTH	20	/* column of the help text in `p2pctl --help` */
#define OPT_WIDTH	20
#define HELP_COLS	79
#define ARGS_MANY	INT_MAX	/* max_args of a command taking a list */

/* One option of a command. */
struct opt {
	const char *name;	/* "--name" */
	const char *alt;	/* short form ("-o") or NULL */
	const char *arg;	/* value placeholder; NULL for a flag */
	int repeat;		/* may be given more than once */
	const char *complete;	/* bash completes the value as "file", "dir", NULL */
	const char *help;
};

struct ctl;

/* One command: the grammar, help and completion are all read from this. */
struct cmd {
	const char *name;
	const char *alias;
	const char *args;	/* positionals as shown in usage lines */
	int min_args;
	int max_args;
	/*
	 * How bash completes each positional, one word per position, the
	 * last for all that follow: "file", "dir", "torrent", "id",
	 * "setting", "none", or "=a|b" for one of the words a and b.
	 */
	const char *complete;
	const struct opt *opts;	/* ends with a NULL name */
	const char *method;	/* the main JSON-RPC method, for the help text */
	const char *help;	/* one line for `p2pctl --help` */
	const char *desc;	/* more for `p2pctl COMMAND --help`, or NULL */
	void (*run)(struct ctl *);
};

/* An option as given on the command line, in order. */
struct optval {
	const struct opt *opt;
	const char *val;
};

struct ctl {
	const char *sock;
	char *sock_alloc;
	int json;
	int fd;			/* -1 until connected */
	struct buf in;		/* bytes read but not yet split into lines */
	json_int_t next_id;
	const struct cmd *cmd;
	const char **pos;
	int npos;
	struct optval *ov;
	int nov;
};

static void cmd_status(struct ctl *);
static void cmd_share(struct ctl *);
static void cmd_add(struct ctl *);
static void cmd_list(struct ctl *);
static void cmd_info(struct ctl *);
static void cmd_files(struct ctl *);
static void cmd_peers(struct ctl *);
static void cmd_trackers(struct ctl *);
static void cmd_dht(struct ctl *);
static void cmd_search(struct ctl *);
static void cmd_get(struct ctl *);
static void cmd_peer(struct ctl *);
static void cmd_wait(struct ctl *);
static void cmd_config(struct ctl *);
static void cmd_pause(struct ctl *);
static void cmd_verify(struct ctl *);
static void cmd_remove(struct ctl *);
static void cmd_export(struct ctl *);
static void cmd_magnet(struct ctl *);
static void cmd_watch(struct ctl *);
static void cmd_raw(struct ctl *);
static void cmd_shutdown(struct ctl *);

static const struct opt no_opts[] = { { NULL, NULL, NULL, 0, NULL, NULL } };

static const struct opt global_opts[] = {
	{ "--socket", "-s", "PATH", 0, "file",
	    "control socket (default: $P2PCTL_SOCKET, else p2pd's default)" },
	{ "--json", NULL, NULL, 0, NULL,
	    "print the daemon's JSON result on one line, for jq" },
	{ "--help", "-h", NULL, 0, NULL, "show this help" },
	{ "--version", NULL, NULL, 0, NULL, "print p2pctl's version" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};

static const struct opt share_opts[] = {
	{ "--name", NULL, "NAME", 0, NULL,
	    "torrent name (default: the file or directory name)" },
	{ "--piece-size", NULL, "SIZE", 0, NULL,
	    "piece size, a power of two from 16K to 64M: 256K, 1M, 4MiB"
	    " (default: chosen from the total size)" },
	{ "--private", NULL, NULL, 0, NULL,
	    "set the BEP 27 private flag: peers come only from trackers" },
	{ "--no-search", NULL, NULL, 0, NULL,
	    "never answer other peers' searches with it" },
	{ "--tracker", NULL, "URL", 1, NULL,
	    "announce URL, one tier each; repeat for more (default: p2pd's"
	    " default_tracker)" },
	{ "--no-wait", NULL, NULL, 0, NULL,
	    "print the job number and return while p2pd hashes" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};

static const struct opt add_opts[] = {
	{ "--dir", NULL, "DIR", 0, "dir",
	    "where the data goes (default: p2pd's download directory)" },
	{ "--paused", NULL, NULL, 0, NULL, "add the torrent paused" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};

static const struct opt verify_opts[] = {
	{ "--no-wait", NULL, NULL, 0, NULL, "return once checking has started" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};

static const struct opt remove_opts[] = {
	{ "--delete-data", NULL, NULL, 0, NULL,
	    "also delete the files the torrent lists, and the directories it"
	    " created if empty" },
	{ "--force", NULL, NULL, 0, NULL,
	    "allow --delete-data on a shared torrent, whose data is the"
	    " original" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};

static const struct opt search_opts[] = {
	{ "--local", NULL, NULL, 0, NULL,
	    "search only this daemon's index (its torrents and earlier results)" },
	{ "--timeout", NULL, "SEC", 0, NULL,
	    "how long to wait for answers from the network (default 5, at most 60)" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};

static const struct opt get_opts[] = {
	{ "--wait", NULL, NULL, 0, NULL,
	    "show progress until the download completes, as `p2pctl wait`" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};

static const struct opt wait_opts[] = {
	{ "--timeout", NULL, "SEC", 0, NULL,
	    "exit 1 if not all complete after SEC seconds (default: no limit)" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};

static const struct opt export_opts[] = {
	{ "--output", "-o", "FILE", 0, "file",
	    "write the .torrent to FILE (default: stdout, unless it is a"
	    " terminal)" },
	{ NULL, NULL, NULL, 0, NULL, NULL }
};

static const struct cmd cmds[] = {
	{ "status", NULL, "", 0, 0, NULL, no_opts, "session.status",
	    "daemon, network and transfer summary",
	    "Shows the daemon's version and paths, the addresses it listens on\n"
	    "for peers (as bound: port 0 shows the port picked), connected\n"
	    "peers, the total download and upload rates, how many addresses\n"
	    "are banned, and how many torrents are in each state.", cmd_status },
	{ "share", NULL, "PATH", 1, 1, "file", share_opts, "torrent.share",
	    "hash a file or directory into a new torrent and seed it",
	    "PATH is made absolute here; p2pd must be able to read it. A\n"
	    "progress bar shows on a terminal; at the end the info-hash and\n"
	    "magnet link print.\n"
	    "Interrupting p2pctl does not stop the hashing.", cmd_share },
	{ "add", NULL, "FILE.torrent|MAGNET|INFOHASH", 1, 1, "torrent", add_opts,
	    "torrent.add", "add a torrent from a .torrent file or a magnet link",
	    "A .torrent is sent as its absolute path; if p2pd cannot read it,\n"
	    "p2pctl sends the file's bytes instead. A bare 40-digit hex\n"
	    "info-hash is taken as a magnet link.", cmd_add },
	{ "list", "ls", "", 0, 0, NULL, no_opts, "torrent.list",
	    "one line per torrent", NULL, cmd_list },
	{ "info", NULL, "ID", 1, 1, "id", no_opts, "torrent.get",
	    "everything about one torrent", NULL, cmd_info },
	{ "files", NULL, "ID", 1, 1, "id", no_opts, "torrent.files",
	    "the files of a torrent and their progress", NULL, cmd_files },
	{ "peers", NULL, "ID", 1, 1, "id", no_opts, "torrent.peers",
	    "the peers of a torrent, their rates and progress",
	    "DIR: out if p2pd connected to the peer, in if the peer did.\n"
	    "FLAGS: I we are interested, i the peer is interested, C we choke\n"
	    "it, c it chokes us, F Fast extension, E extension protocol,\n"
	    "S snubbed. PROGRESS is the share of pieces the peer has.",
	    cmd_peers },
	{ "trackers", NULL, "ID", 1, 1, "id", no_opts, "torrent.trackers",
	    "the trackers of a torrent: status, swarm counts, next announce",
	    "Listed in announce order (BEP 12: tier by tier, shuffled once).\n"
	    "STATUS: working (announced to), announcing, error (LAST ERROR\n"
	    "says why), standby (not used while one before it works), or\n"
	    "stopped while the torrent is paused or checking.\n"
	    "SEEDS, LEECHES, DONE: the swarm as the tracker last told (DONE:\n"
	    "completed downloads, from a scrape); - if it did not say.\n"
	    "NEXT: seconds until the next announce (for an error: the next\n"
	    "retry).", cmd_trackers },
	{ "search", NULL, "WORDS...", 1, ARGS_MANY, "none", search_opts,
	    "search.start and search.result events", "find files by name, here and on the network",
	    "Matches torrent and file names: every word must start a word of\n"
	    "the name (case and accents do not matter). Local results (ours,\n"
	    "and results seen in earlier searches) print first, then results\n"
	    "from peers as they answer, numbered for `p2pctl get N`. SOURCES:\n"
	    "how many peers offered it. Peers are found among connected peers\n"
	    "and through the DHT, under the query's most distinctive words.\n"
	    "With --json the ranked results print once the search ends.",
	    cmd_search },
	{ "get", NULL, "RESULT|INFOHASH", 1, 1, "none", get_opts, "search.get",
	    "download a search result",
	    "RESULT is a number from the latest `p2pctl search`; an info-hash\n"
	    "(40 hex digits) may name a result of any recent search, or any\n"
	    "torrent at all, found through the DHT. The download starts as a\n"
	    "magnet link, dialling the peers that offered the result.",
	    cmd_get },
	{ "dht", NULL, "", 0, 0, NULL, no_opts, "dht.status",
	    "the DHT node: id, routing table, lookups, traffic",
	    "NODES counts the routing table by address family; good nodes\n"
	    "answered a query in the last 15 minutes. STORED: peers other\n"
	    "nodes announced to us. DROPPED: datagrams that were not valid\n"
	    "KRPC, and queries over the per-address limit (5 a second).",
	    cmd_dht },
	{ "pause", NULL, "ID", 1, 1, "id", no_opts, "torrent.pause",
	    "stop transferring a torrent (survives restarts)", NULL, cmd_pause },
	{ "resume", NULL, "ID", 1, 1, "id", no_opts, "torrent.resume",
	    "start a paused torrent again", NULL, cmd_pause },
	{ "verify", NULL, "ID", 1, 1, "id", verify_opts, "torrent.verify",
	    "re-hash a torrent's data and keep the pieces that match",
	    "Waits until checking ends, with a progress bar on a terminal.\n"
	    "Interrupting p2pctl does not stop the check.", cmd_verify },
	{ "remove", NULL, "ID", 1, 1, "id", remove_opts, "torrent.remove",
	    "forget a torrent (its data stays unless --delete-data)", NULL,
	    cmd_remove },
	{ "peer", NULL, "add ID ADDR:PORT", 1, 3, "=add id none", no_opts,
	    "peer.add", "connect a torrent to a peer by hand",
	    "ADDR is numeric: 192.0.2.7:6881 or [2001:db8::7]:6881. How the\n"
	    "connection goes shows in `p2pctl peers ID` and p2pd's log.",
	    cmd_peer },
	{ "wait", NULL, "ID...", 1, ARGS_MANY, "id", wait_opts,
	    "events.subscribe, torrent.get and torrent.peers",
	    "wait until torrents are complete, showing their progress",
	    "Exits 0 once every torrent is seeding or has all its pieces, and 1\n"
	    "as soon as one is in the error state or is removed. On a terminal\n"
	    "a line per torrent (percent, rates, peers, ETA) is redrawn in\n"
	    "place; otherwise a line per torrent prints at most every 5 seconds\n"
	    "and on each state change. With --json only the final torrent\n"
	    "objects print. Interrupting p2pctl does not stop the downloads.",
	    cmd_wait },
	{ "export", NULL, "ID", 1, 1, "id", export_opts, "torrent.export",
	    "write a torrent's .torrent file", NULL, cmd_export },
	{ "magnet", NULL, "ID", 1, 1, "id", no_opts, "torrent.export",
	    "print a torrent's magnet link", NULL, cmd_magnet },
	{ "watch", NULL, "", 0, 0, NULL, no_opts, "events.subscribe",
	    "print events as they happen, until interrupted",
	    "Exits 0 when p2pd shuts down. With --json each event's params\n"
	    "print as one JSON line.", cmd_watch },
	{ "config", NULL, "[get KEY | set KEY VALUE]", 0, 3,
	    "=get|set setting none", no_opts, "session.get or session.set",
	    "show or change session settings (rate limits, slots, ...)",
	    "With no arguments prints every setting as `key = value`; get\n"
	    "prints one value; set changes one at once and prints its new\n"
	    "value. Changes are kept across restarts of p2pd. VALUE goes as a\n"
	    "number if it is all digits, else as text: rates take a K, M or G\n"
	    "suffix (10M = 10 MiB/s); 0 means unlimited.", cmd_config },
	{ "raw", NULL, "METHOD [JSON]", 1, 2, NULL, no_opts, NULL,
	    "send any request, print the whole response line",
	    "JSON is the params object. Exits 1 if the response is an error.",
	    cmd_raw },
	{ "shutdown", NULL, "", 0, 0, NULL, no_opts, "session.shutdown",
	    "stop p2pd after it saves its state", NULL, cmd_shutdown },
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static const char id_help[] =
    "ID is a numeric id, or an info-hash or a unique prefix of one\n"
    "(at least 6 hex digits).";

/* Whether a SIGINT should print a note before p2pctl dies of it. */
static char intr_msg[512];
static size_t intr_len;

/* Static so that the atexit cleanup of the normal path reaches it. */
static struct ctl ctl;

/* ---- errors ---- */

/*
 * Error exits leave memory to the kernel: freeing every caller's JSON on
 * the way out would be code for nothing. _exit also keeps LeakSanitizer to
 * the normal path, where a leak is a real one.
 */
static void quit(int status) __attribute__((noreturn));

static void
quit(int status)
{
	fflush(stdout);
	_exit(status);
}

static void die(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

static void
die(int status, const char *fmt, ...)
{
	va_list ap;

	progress_clear();
	fflush(stdout);
	fputs("p2pctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	quit(status);
}

static void usage_error(struct ctl *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* A usage error names the command and points at its help, in two lines. */
static void
usage_error(struct ctl *c, const char *fmt, ...)
{
	va_list ap;

	fputs("p2pctl: ", stderr);
	if (c->cmd != NULL)
		fprintf(stderr, "%s: ", c->cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (c->cmd != NULL)
		fprintf(stderr, "try `p2pctl %s --help`\n", c->cmd->name);
	else
		fprintf(stderr, "try `p2pctl --help`\n");
	quit(ST_USAGE);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		die(ST_ERROR, "out of memory");
	return p;
}

static void
check_alloc(const void *p)
{
	if (p == NULL)
		die(ST_ERROR, "out of memory");
}

/* ---- JSON: --json output and torrent ids ---- */

static void
print_json(const json_t *v)
{
	if (out_json(v) == -1)
		die(ST_ERROR, "out of memory");
}

/*
 * JSON strings are UTF-8 only: a path in another encoding cannot be sent,
 * and saying so beats failing later as if memory ran out.
 */
static json_t *
arg_string(struct ctl *c, const char *s)
{
	json_t *v = json_string(s);

	if (v == NULL)
		usage_error(c, "'%s' is not valid UTF-8, which JSON cannot carry", s);
	return v;
}

/*
 * Short decimal ids go as numbers; anything else as a string, so that p2pd
 * resolves hex prefixes (which may be all digits) by its own rule.
 */
static json_t *
id_param(struct ctl *c, const char *s)
{
	size_t n = strlen(s);

	if (n > 0 && n < 6 && strspn(s, "0123456789") == n)
		return json_integer(strtoll(s, NULL, 10));
	return arg_string(c, s);
}

/* ---- the connection ---- */

static void
unreachable(struct ctl *c, int err)
{
	fprintf(stderr, "p2pctl: cannot connect to %s: %s\n", c->sock,
	    strerror(err));
	if (err == EACCES)
		fprintf(stderr, "the socket is mode 0660: are you in p2pd's "
		    "group?\n");
	else
		fprintf(stderr, "is p2pd running? start it with `p2pd` or "
		    "`systemctl start p2pd`, or pass -s PATH\n");
	quit(ST_UNREACHABLE);
}

/* Returns a connected socket, or -1 with errno set. */
static int
try_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/*
 * A user's default socket is in their own runtime directory, but the
 * daemon they mean may be the system one (systemctl start p2pd): when the
 * socket was not named and the default does not exist, try that one too.
 */
static void
ctl_connect(struct ctl *c)
{
	int e;

	if (c->fd != -1)
		return;
	if ((c->fd = try_connect(c->sock)) != -1)
		return;
	e = errno;
	if (e == ENOENT && c->sock_alloc != NULL &&
	    strcmp(c->sock, SYSTEM_SOCKET) != 0 &&
	    ((c->fd = try_connect(SYSTEM_SOCKET)) != -1 || errno != ENOENT)) {
		if (c->fd != -1)
			return;
		e = errno;
		c->sock = SYSTEM_SOCKET;
	}
	unreachable(c, e);
}

static void
closed_early(void)
{
	die(ST_UNREACHABLE, "p2pd closed the connection");
}

/* Writes a whole line; MSG_NOSIGNAL: a vanished p2pd is an error, not a signal. */
static void
send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EPIPE || errno == ECONNRESET))
			closed_early();
		if (n == -1)
			die(ST_UNREACHABLE, "write to p2pd: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

/* Sends one request (params is consumed) and returns its id. */
static json_int_t
ctl_send(struct ctl *c, const char *method, json_t *params)
{
	json_t *req;
	char *line;
	size_t len;
	json_int_t id = ++c->next_id;

	ctl_connect(c);
	req = rpc_request(id, method, params);
	json_decref(params);
	check_alloc(req);
	line = rpc_encode(req, &len);
	json_decref(req);
	check_alloc(line);
	if (len - 1 > RPC_MAX_LINE) {
		free(line);
		die(ST_USAGE, "request is %zu bytes, over p2pd's limit of %u",
		    len - 1, RPC_MAX_LINE);
	}
	send_all(c->fd, line, len);
	free(line);
	return id;
}

/*
 * Takes the next whole line out of c->in (malloc'd, NUL-terminated,
 * without the '\n'); NULL if none is buffered yet.
 */
static char *
take_line(struct ctl *c)
{
	size_t n;
	char *line;
	int got = c->in.len == 0 ? 0 :
	    rpc_line_scan(c->in.data, c->in.len, CTL_MAX_LINE, &n);

	if (got == -1)
		die(ST_ERROR, "p2pd sent a line longer than %u bytes",
		    CTL_MAX_LINE);
	if (got == 0)
		return NULL;
	line = xmalloc(n + 1);
	memcpy(line, c->in.data, n);
	line[n] = '\0';
	buf_consume(&c->in, n + 1);
	return line;
}

/* Reads what p2pd sent into c->in; 0 once p2pd closed the connection. */
static int
ctl_fill(struct ctl *c)
{
	uint8_t chunk[65536];
	ssize_t r;

	for (;;) {
		r = read(c->fd, chunk, sizeof(chunk));
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && errno == ECONNRESET)
			return 0;
		if (r == -1)
			die(ST_UNREACHABLE, "read from p2pd: %s", strerror(errno));
		if (r == 0)
			return 0;
		if (buf_append(&c->in, chunk, (size_t)r) == -1)
			die(ST_ERROR, "out of memory");
		return 1;
	}
}

/*
 * Returns the next line from p2pd (malloc'd, NUL-terminated, without the
 * '\n'), or NULL when p2pd closed the connection.
 */
static char *
ctl_read_line(struct ctl *c)
{
	char *line;

	while ((line = take_line(c)) == NULL)
		if (!ctl_fill(c))
			return NULL;
	return line;
}

static json_t *
parse_line(const char *line)
{
	json_error_t e;
	json_t *m = json_loads(line, 0, &e);

	if (m == NULL)
		die(ST_ERROR, "p2pd sent invalid JSON: %s", e.text);
	if (!json_is_object(m)) {
		json_decref(m);
		die(ST_ERROR, "p2pd sent a line that is not a JSON object");
	}
	return m;
}

/* The next message from p2pd, skipping blank lines; NULL at end of stream. */
static json_t *
ctl_read(struct ctl *c)
{
	char *line;
	json_t *m;

	do {
		if ((line = ctl_read_line(c)) == NULL)
			return NULL;
		m = line[0] == '\0' ? NULL : parse_line(line);
		free(line);
	} while (m == NULL);
	return m;
}

static double
now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The next message from p2pd, or NULL if none came by the monotonic time
 * deadline. p2pd closing the connection ends p2pctl.
 */
static json_t *
ctl_read_until(struct ctl *c, double deadline)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	json_t *m;
	char *line;
	double left;

	for (;;) {
		while ((line = take_line(c)) != NULL) {
			m = line[0] == '\0' ? NULL : parse_line(line);
			free(line);
			if (m != NULL)
				return m;
		}
		if ((left = deadline - now_sec()) <= 0)
			return NULL;
		if (left > 60)
			left = 60;
		pfd.revents = 0;
		/* Round up, so that poll does not spin on the last millisecond. */
		if (poll(&pfd, 1, (int)(left * 1000) + 1) == -1 && errno != EINTR)
			die(ST_ERROR, "poll: %s", strerror(errno));
		if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) && !ctl_fill(c))
			closed_early();
	}
}

static int
is_event(const json_t *m)
{
	return json_object_get(m, "id") == NULL &&
	    json_is_string(json_object_get(m, "method"));
}

/*
 * Whether m answers request id. A null id answers a request p2pd could not
 * read at all, and p2pctl has only one request outstanding.
 */
static int
is_response_to(const json_t *m, json_int_t id)
{
	json_t *v = json_object_get(m, "id");

	if (json_is_integer(v))
		return json_integer_value(v) == id;
	return json_is_null(v);
}

/*
 * Sends a request and returns the whole response. Events that arrive in the
 * meantime go to pending (an array) when the caller wants them, else are
 * dropped.
 */
static json_t *
ctl_request(struct ctl *c, const char *method, json_t *params, json_t *pending)
{
	json_int_t id = ctl_send(c, method, params);
	json_t *m;

	for (;;) {
		if ((m = ctl_read(c)) == NULL)
			closed_early();
		if (is_response_to(m, id))
			return m;
		if (pending != NULL && is_event(m))
			json_array_append_new(pending, m);
		else
			json_decref(m);
	}
}

/* An unknown method or bad params may just mean p2pd speaks another API. */
static void
check_api(struct ctl *c)
{
	json_t *r = ctl_request(c, "session.status", NULL, NULL);
	json_t *res = json_object_get(r, "result");
	long long api = out_jint(res, "api_version");

	json_decref(r);
	if (res != NULL && api != RPC_API_VERSION)
		die(ST_ERROR, "incompatible p2pctl (API %d) and p2pd (API %lld)",
		    RPC_API_VERSION, api);
}

/* Prints "p2pctl: <message> (<error name>)" and exits 1. */
static void
fail_with(struct ctl *c, json_t *resp, const char *method)
{
	json_t *err = json_object_get(resp, "error");
	int code = (int)out_jint(err, "code");
	char *msg = strdup(out_jstr(err, "message", "no message"));

	json_decref(resp);
	check_alloc(msg);
	if ((code == RPC_ERR_NO_METHOD || code == RPC_ERR_PARAMS) &&
	    strcmp(method, "session.status") != 0)
		check_api(c);
	progress_clear();
	fflush(stdout);
	fputs("p2pctl: ", stderr);
	out_safe(stderr, msg);
	fprintf(stderr, " (%s)\n", rpc_error_name(code));
	free(msg);
	quit(ST_ERROR);
}

/* Sends a request and returns its result; an error answer ends p2pctl. */
static json_t *
ctl_call(struct ctl *c, const char *method, json_t *params, json_t *pending)
{
	json_t *resp = ctl_request(c, method, params, pending);
	json_t *res;

	if (json_object_get(resp, "error") != NULL)
		fail_with(c, resp, method);
	res = json_object_get(resp, "result");
	if (res == NULL) {
		json_decref(resp);
		die(ST_ERROR, "p2pd sent a response with neither result nor error");
	}
	json_incref(res);
	json_decref(resp);
	return res;
}

/* A call on one torrent: {"id": ID} from the first positional. */
static json_t *
call_id(struct ctl *c, const char *method)
{
	json_t *p = json_pack("{s:o}", "id", id_param(c, c->pos[0]));

	return ctl_call(c, method, p, NULL);
}

/* The next event for the loops of share, verify and watch; NULL at the end. */
static json_t *
next_event(struct ctl *c, json_t *pending)
{
	json_t *m;

	if (json_array_size(pending) > 0) {
		m = json_incref(json_array_get(pending, 0));
		json_array_remove(pending, 0);
		return m;
	}
	while ((m = ctl_read(c)) != NULL) {
		if (is_event(m))
			return m;
		json_decref(m);
	}
	return NULL;
}

static const char *
event_type(const json_t *ev)
{
	return out_jstr(json_object_get(ev, "params"), "type", "");
}

/* ---- command line lookups ---- */

static const char *
opt_value(const struct ctl *c, const char *name)
{
	const char *v = NULL;

	for (int i = 0; i < c->nov; i++)
		if (strcmp(c->ov[i].opt->name, name) == 0)
			v = c->ov[i].val;
	return v;
}

static int
opt_given(const struct ctl *c, const char *name)
{
	for (int i = 0; i < c->nov; i++)
		if (strcmp(c->ov[i].opt->name, name) == 0)
			return 1;
	return 0;
}

/* realpath when the path exists here, else made absolute against the cwd. */
static char *
abspath(const char *p)
{
	char *r, *cwd;

	if ((r = realpath(p, NULL)) != NULL)
		return r;
	if (p[0] == '/')
		r = strdup(p);
	else {
		if ((cwd = getcwd(NULL, 0)) == NULL)
			die(ST_ERROR, "getcwd: %s", strerror(errno));
		if (asprintf(&r, "%s/%s", cwd, p) == -1)
			r = NULL;
		free(cwd);
	}
	check_alloc(r);
	return r;
}

/* "262144", "256K", "1M", "4MiB", "1mb": binary units, as pieces are powers of two. */
static int
parse_size(const char *s, json_int_t *out)
{
	static const struct { const char *suffix; unsigned shift; } units[] = {
		{ "", 0 }, { "b", 0 }, { "k", 10 }, { "kb", 10 }, { "kib", 10 },
		{ "m", 20 }, { "mb", 20 }, { "mib", 20 }, { "g", 30 }, { "gb", 30 },
		{ "gib", 30 },
	};
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(end, units[i].suffix) != 0)
			continue;
		if (v > (unsigned long long)INT64_MAX >> units[i].shift)
			return -1;
		*out = (json_int_t)(v << units[i].shift);
		return 0;
	}
	return -1;
}

/* ---- base64, for .torrent bytes in torrent.add and torrent.export ---- */

static const char b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *
b64_encode(const uint8_t *p, size_t n)
{
	char *out = xmalloc((n + 2) / 3 * 4 + 1), *q = out;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 |
		    p[i + 2];

		*q++ = b64_chars[v >> 18 & 63];
		*q++ = b64_chars[v >> 12 & 63];
		*q++ = b64_chars[v >> 6 & 63];
		*q++ = b64_chars[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 |
		    (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);

		*q++ = b64_chars[v >> 18 & 63];
		*q++ = b64_chars[v >> 12 & 63];
		*q++ = i + 1 < n ? b64_chars[v >> 6 & 63] : '=';
		*q++ = '=';
	}
	*q = '\0';
	return out;
}

/* Returns 0, or -1 if s is not base64. */
static int
b64_decode(const char *s, struct buf *out)
{
	uint32_t acc = 0;
	int bits = 0;

	for (; *s != '\0' && *s != '='; s++) {
		const char *p = strchr(b64_chars, *s);

		if (p == NULL)
			return -1;
		acc = (acc << 6 | (uint32_t)(p - b64_chars)) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (buf_putc(out, (uint8_t)(acc >> bits)) == -1)
				return -1;
		}
	}
	while (*s == '=')
		s++;
	return *s == '\0' ? 0 : -1;
}

/* ---- SIGINT during a wait: say that p2pd goes on, then die of the signal ---- */

static void
on_sigint(int sig)
{
	if (progress_shown() && write(STDERR_FILENO, "\r\033[K", 4) == -1)
		_exit(130);
	if (write(STDERR_FILENO, intr_msg, intr_len) == -1)
		_exit(130);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void intr_note(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
intr_note(const char *fmt, ...)
{
	struct sigaction sa;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(intr_msg, sizeof(intr_msg), fmt, ap);
	va_end(ap);
	intr_len = n < 0 ? 0 : (size_t)n < sizeof(intr_msg) ? (size_t)n :
	    sizeof(intr_msg) - 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
}

/* ---- commands ---- */

/* ---- search ---- */

static json_t *
search_params(struct ctl *c)
{
	char q[1024];
	size_t len = 0;
	const char *v;
	json_t *p;

	for (int i = 0; i < c->npos; i++) {
		int n = snprintf(q + len, sizeof(q) - len, "%s%s", i ? " " : "", c->pos[i]);

		if (n < 0 || (size_t)n >= sizeof(q) - len)
			usage_error(c, "the query is too long");
		len += (size_t)n;
	}
	check_alloc(p = json_pack("{s:o}", "query", arg_string(c, q)));
	if (opt_given(c, "--local"))
		json_object_set_new(p, "local", json_true());
	if ((v = opt_value(c, "--timeout")) != NULL) {
		char *end;
		double secs = strtod(v, &end);

		if (*end != '\0' || !(secs > 0) || secs > 60)
			usage_error(c, "--timeout: '%s' is not a number of seconds from 0 to 60", v);
		json_object_set_new(p, "timeout", json_real(secs));
	}
	return p;
}

static void
cmd_search(struct ctl *c)
{
	json_t *pending = json_array(), *res, *ev, *list, *hit;
	json_int_t id;
	size_t i, shown = 0;
	double deadline;

	check_alloc(pending);
	/* Subscribe first: answers can come before search.start's own answer. */
	json_decref(ctl_call(c, "events.subscribe", json_pack("{s:[ss]}", "types",
	    "search.result", "search.done"), NULL));
	res = ctl_call(c, "search.start", search_params(c), pending);
	id = out_jint(res, "search");
	if (!c->json) {
		out_search_header();
		json_array_foreach(json_object_get(res, "results"), i, hit) {
			out_search_row(hit);
			shown++;
		}
		fflush(stdout);
	}
	deadline = now_sec() + out_jnum(res, "timeout") + 5;
	while (json_is_true(json_object_get(res, "network")) && now_sec() < deadline) {
		json_t *p;

		if (json_array_size(pending) > 0) {
			ev = json_incref(json_array_get(pending, 0));
			json_array_remove(pending, 0);
		} else if ((ev = ctl_read_until(c, deadline)) == NULL)
			break;
		p = json_object_get(ev, "params");
		if (!is_event(ev) || out_jint(p, "search") != id) {
			json_decref(ev);
			continue;
		}
		if (strcmp(out_jstr(p, "type", ""), "search.done") == 0) {
			json_decref(ev);
			break;
		}
		if (!c->json && !json_is_true(json_object_get(p, "update"))) {
			out_search_row(p);
			shown++;
			fflush(stdout);
		}
		json_decref(ev);
	}
	json_decref(res);
	json_decref(pending);
	list = ctl_call(c, "search.results", json_pack("{s:I}", "search", id), NULL);
	if (c->json)
		print_json(list);
	else if (shown == 0)
		fprintf(stderr, "no results\n");
	json_decref(list);
}

static void
cmd_get(struct ctl *c)
{
	const char *arg = c->pos[0];
	static char idbuf[32];
	json_t *p, *t;
	char *end;
	long long n;
	uint8_t ih[20];

	if (strlen(arg) == 40 && sha_unhex(arg, 40, ih, 20) == 0)
		p = json_pack("{s:s}", "info_hash", arg);
	else {
		n = strtoll(arg, &end, 10);
		if (*end != '\0' || n < 1)
			usage_error(c, "'%s' is neither a result number nor an info-hash", arg);
		p = json_pack("{s:I}", "result", (json_int_t)n);
	}
	t = ctl_call(c, "search.get", p, NULL);
	if (!opt_given(c, "--wait")) {
		if (c->json)
			print_json(t);
		else
			out_torrent_added(t);
		json_decref(t);
		return;
	}
	/* The same display as `p2pctl wait ID`, on the torrent just added. */
	snprintf(idbuf, sizeof(idbuf), "%lld", out_jint(t, "id"));
	json_decref(t);
	c->pos[0] = idbuf;	/* get takes one positional: its slot now names the torrent */
	c->npos = 1;
	cmd_wait(c);
}

static void
cmd_dht(struct ctl *c)
{
	json_t *d = ctl_call(c, "dht.status", NULL, NULL);

	if (c->json)
		print_json(d);
	else
		out_dht(d);
	json_decref(d);
}

static void
cmd_status(struct ctl *c)
{
	json_t *st = ctl_call(c, "session.status", NULL, NULL);
	long long api = out_jint(st, "api_version");

	if (api != RPC_API_VERSION) {
		json_decref(st);
		die(ST_ERROR, "incompatible p2pctl (API %d) and p2pd (API %lld)",
		    RPC_API_VERSION, api);
	}
	if (c->json)
		print_json(st);
	else
		out_status(st);
	json_decref(st);
}

static json_t *
share_params(struct ctl *c)
{
	json_t *p, *trackers;
	const char *v;
	char *path = abspath(c->pos[0]);
	json_int_t piece;

	check_alloc(p = json_object());
	json_object_set_new(p, "path", arg_string(c, path));
	json_object_set_new(p, "wait", json_false());
	free(path);
	if ((v = opt_value(c, "--name")) != NULL)
		json_object_set_new(p, "name", arg_string(c, v));
	if ((v = opt_value(c, "--piece-size")) != NULL) {
		if (parse_size(v, &piece) == -1) {
			json_decref(p);
			usage_error(c, "bad piece size '%s': try 256K, 1M, "
			    "4MiB", v);
		}
		json_object_set_new(p, "piece_length", json_integer(piece));
	}
	if (opt_given(c, "--private"))
		json_object_set_new(p, "private", json_true());
	if (opt_given(c, "--no-search"))
		json_object_set_new(p, "searchable", json_false());
	if (opt_given(c, "--tracker")) {
		trackers = json_array();
		for (int i = 0; i < c->nov; i++)
			if (strcmp(c->ov[i].opt->name, "--tracker") == 0)
				json_array_append_new(trackers,
				    arg_string(c, c->ov[i].val));
		json_object_set_new(p, "trackers", trackers);
	}
	return p;
}

/*
 * Follows one share job until it ends: returns its share.done params, or
 * exits with its share.failed message.
 */
static json_t *
share_follow(struct ctl *c, json_t *pending, long long job)
{
	json_t *ev, *p;
	const char *type;

	progress_start("hashing");
	while ((ev = next_event(c, pending)) != NULL) {
		p = json_object_get(ev, "params");
		type = event_type(ev);
		if (json_object_get(p, "job") == NULL ||
		    out_jint(p, "job") != job) {
			json_decref(ev);
			continue;
		}
		if (strcmp(type, "hash.progress") == 0)
			progress_update(out_jsize(p, "done"), out_jsize(p, "total"));
		else if (strcmp(type, "share.done") == 0) {
			json_incref(p);
			json_decref(ev);
			progress_clear();
			return p;
		} else if (strcmp(type, "share.failed") == 0) {
			progress_clear();
			fputs("p2pctl: ", stderr);
			out_safe(stderr, out_jstr(p, "error", "sharing failed"));
			fputc('\n', stderr);
			json_decref(ev);
			json_decref(pending);
			quit(ST_ERROR);
		}
		json_decref(ev);
	}
	json_decref(pending);
	closed_early();
	return NULL;
}

/*
 * --json: what torrent.share answers when it waits, the torrent object plus
 * its magnet, rather than the event p2pctl waited on in its stead.
 */
static void
print_share_result(const json_t *done)
{
	const json_t *src = json_object_get(done, "torrent");
	json_t *t;

	if (!json_is_object(src)) {
		print_json(done);	/* an odd event: show it whole */
		return;
	}
	check_alloc(t = json_deep_copy(src));
	if (json_object_get(done, "magnet") != NULL)
		json_object_set(t, "magnet", json_object_get(done, "magnet"));
	print_json(t);
	json_decref(t);
}

static void
cmd_share(struct ctl *c)
{
	json_t *params = share_params(c), *pending, *res, *done;
	long long job;

	if (opt_given(c, "--no-wait")) {
		res = ctl_call(c, "torrent.share", params, NULL);
		if (c->json)
			print_json(res);
		else
			printf("%lld\n", out_jint(res, "job"));
		json_decref(res);
		return;
	}
	/* Subscribe first, so no event about the job can slip by. */
	json_decref(ctl_call(c, "events.subscribe", json_pack("{s:[sss]}", "types",
	    "hash.progress", "share.done", "share.failed"), NULL));
	pending = json_array();
	res = ctl_call(c, "torrent.share", params, pending);
	job = out_jint(res, "job");
	json_decref(res);
	intr_note("p2pctl: interrupted; p2pd goes on hashing (job %lld), "
	    "`p2pctl watch` shows when it is done\n", job);
	done = share_follow(c, pending, job);
	json_decref(pending);
	signal(SIGINT, SIG_DFL);
	if (c->json)
		print_share_result(done);
	else
		out_share_done(done);
	json_decref(done);
}

static int
is_hex40(const char *s)
{
	return strlen(s) == 40 && strspn(s, "0123456789abcdefABCDEF") == 40;
}

/*
 * p2pd may run as another user that cannot read the user's .torrent: then
 * the bytes go in the request instead, if they fit in one line.
 */
static json_t *
metainfo_params(const char *path, const json_t *base)
{
	struct buf b;
	uint8_t chunk[65536];
	json_t *p;
	char *enc;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	/* base64 grows by 4/3; leave room for the rest of the request. */
	buf_init(&b, RPC_MAX_LINE / 4 * 3 - 4096);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || buf_append(&b, chunk, (size_t)n) == -1) {
			close(fd);
			buf_free(&b);
			return NULL;
		}
	}
	close(fd);
	enc = b64_encode(b.data ? b.data : (const uint8_t *)"", b.len);
	buf_free(&b);
	p = json_deep_copy(base);
	check_alloc(p);
	json_object_del(p, "path");
	json_object_set_new(p, "metainfo", json_string(enc));
	free(enc);
	return p;
}

static json_t *
add_params(struct ctl *c, char **path)
{
	const char *src = c->pos[0], *dir;
	json_t *p = json_object();
	char *d;

	check_alloc(p);
	*path = NULL;
	if (strncasecmp(src, "magnet:", 7) == 0 || is_hex40(src))
		json_object_set_new(p, "magnet", arg_string(c, src));
	else {
		*path = abspath(src);
		json_object_set_new(p, "path", arg_string(c, *path));
	}
	if ((dir = opt_value(c, "--dir")) != NULL) {
		d = abspath(dir);
		json_object_set_new(p, "dir", arg_string(c, d));
		free(d);
	}
	if (opt_given(c, "--paused"))
		json_object_set_new(p, "paused", json_true());
	return p;
}

static void
cmd_add(struct ctl *c)
{
	json_t *p, *resp, *retry, *res;
	long long code;
	char *path;

	p = add_params(c, &path);
	resp = ctl_request(c, "torrent.add", json_incref(p), NULL);
	code = out_jint(json_object_get(resp, "error"), "code");
	/*
	 * The daemon could not read it, or would not for us (its mode-bit check
	 * ignores ACLs): reading it ourselves uses exactly our own rights.
	 */
	if (path != NULL && (code == RPC_ERR_IO || code == RPC_ERR_DENIED) &&
	    (retry = metainfo_params(path, p)) != NULL) {
		json_decref(resp);
		resp = ctl_request(c, "torrent.add", retry, NULL);
	}
	json_decref(p);
	free(path);
	if (json_object_get(resp, "error") != NULL)
		fail_with(c, resp, "torrent.add");
	res = json_incref(json_object_get(resp, "result"));
	json_decref(resp);
	if (c->json)
		print_json(res);
	else
		out_torrent_added(res);
	json_decref(res);
}

static void
cmd_list(struct ctl *c)
{
	json_t *res = ctl_call(c, "torrent.list", NULL, NULL);
	json_t *ts = json_object_get(res, "torrents");

	if (c->json)
		print_json(res);
	else if (json_array_size(ts) == 0)
		fprintf(stderr, "no torrents\n");
	else if (out_torrent_table(ts) == -1)
		die(ST_ERROR, "out of memory");
	json_decref(res);
}

static void
cmd_info(struct ctl *c)
{
	json_t *t = call_id(c, "torrent.get");

	if (c->json)
		print_json(t);
	else
		out_torrent_info(t);
	json_decref(t);
}

static void
cmd_files(struct ctl *c)
{
	json_t *res = call_id(c, "torrent.files");
	json_t *files = json_object_get(res, "files");

	if (c->json)
		print_json(res);
	else if (json_array_size(files) == 0)
		fprintf(stderr, "no files (a magnet link without metadata yet?)\n");
	else if (out_files_table(files) == -1)
		die(ST_ERROR, "out of memory");
	json_decref(res);
}

static void
cmd_peers(struct ctl *c)
{
	json_t *res = call_id(c, "torrent.peers");
	json_t *peers = json_object_get(res, "peers");

	if (c->json)
		print_json(res);
	else if (json_array_size(peers) == 0)
		fprintf(stderr, "no peers\n");
	else if (out_peers_table(peers) == -1)
		die(ST_ERROR, "out of memory");
	json_decref(res);
}

static void
cmd_trackers(struct ctl *c)
{
	json_t *res = call_id(c, "torrent.trackers");
	json_t *trackers = json_object_get(res, "trackers");

	if (c->json)
		print_json(res);
	else if (json_array_size(trackers) == 0)
		fprintf(stderr, "no trackers\n");
	else if (out_trackers_table(trackers) == -1)
		die(ST_ERROR, "out of memory");
	json_decref(res);
}

/* peer add ID ADDR:PORT; p2pd checks the address, so its message is the one. */
static void
cmd_peer(struct ctl *c)
{
	json_t *p, *res;

	if (strcmp(c->pos[0], "add") != 0)
		usage_error(c, "unknown subcommand '%s' (there is only add)",
		    c->pos[0]);
	if (c->npos < 3)
		usage_error(c, "missing %s", c->npos == 1 ? "ID ADDR:PORT" :
		    "ADDR:PORT");
	p = json_pack("{s:o, s:o}", "id", id_param(c, c->pos[1]), "address",
	    arg_string(c, c->pos[2]));
	check_alloc(p);
	res = ctl_call(c, "peer.add", p, NULL);
	if (c->json)
		print_json(res);
	else {
		fputs("connecting to ", stdout);
		out_safe(stdout, out_jstr(res, "address", c->pos[2]));
		putchar('\n');
	}
	json_decref(res);
}

/* pause and resume: same shape, the method comes from the table. */
static void
cmd_pause(struct ctl *c)
{
	json_t *t = call_id(c, c->cmd->method);

	if (c->json)
		print_json(t);
	else
		out_torrent_line(t);
	json_decref(t);
}

/*
 * Follows torrent tid's check: hash.progress feeds the bar, and the
 * torrent.state event that leaves "checking" ends it.
 */
static void
verify_follow(struct ctl *c, json_t *pending, long long tid)
{
	json_t *ev, *p;
	const char *type;

	progress_start("checking");
	while ((ev = next_event(c, pending)) != NULL) {
		p = json_object_get(ev, "params");
		type = event_type(ev);
		if (json_object_get(p, "id") == NULL ||
		    out_jint(p, "id") != tid) {
			json_decref(ev);
			continue;
		}
		if (strcmp(type, "hash.progress") == 0)
			progress_update(out_jsize(p, "done"), out_jsize(p, "total"));
		else if (strcmp(type, "torrent.state") == 0 &&
		    strcmp(out_jstr(p, "from", ""), "checking") == 0) {
			json_decref(ev);
			progress_clear();
			return;
		} else if (strcmp(type, "torrent.removed") == 0) {
			json_decref(ev);
			json_decref(pending);
			die(ST_ERROR, "torrent %lld was removed while checking", tid);
		}
		json_decref(ev);
	}
	json_decref(pending);
	closed_early();
}

static void
verify_report(struct ctl *c, long long tid)
{
	json_t *t = ctl_call(c, "torrent.get", json_pack("{s:I}", "id",
	    (json_int_t)tid), NULL);
	int failed = strcmp(out_jstr(t, "state", ""), "error") == 0;

	if (c->json)
		print_json(t);
	else
		out_verified(t);
	if (failed) {
		fputs("p2pctl: ", stderr);
		out_safe(stderr, out_jstr(t, "error", "checking failed"));
		fputc('\n', stderr);
	}
	json_decref(t);
	if (failed)
		quit(ST_ERROR);
}

static void
cmd_verify(struct ctl *c)
{
	json_t *params, *pending, *t;
	long long tid;

	params = json_pack("{s:o, s:b}", "id", id_param(c, c->pos[0]), "wait", 0);
	if (opt_given(c, "--no-wait")) {
		t = ctl_call(c, "torrent.verify", params, NULL);
		if (c->json)
			print_json(t);
		else
			out_torrent_line(t);
		json_decref(t);
		return;
	}
	json_decref(ctl_call(c, "events.subscribe", json_pack("{s:[sss]}", "types",
	    "hash.progress", "torrent.state", "torrent.removed"), NULL));
	pending = json_array();
	t = ctl_call(c, "torrent.verify", params, pending);
	/* The answer names the torrent by number: events only carry that. */
	tid = out_jint(t, "id");
	if (strcmp(out_jstr(t, "state", ""), "checking") != 0) {
		/* Nothing to wait for: the check ended before the answer. */
		json_decref(t);
		json_decref(pending);
		verify_report(c, tid);
		return;
	}
	json_decref(t);
	intr_note("p2pctl: interrupted; p2pd goes on checking torrent %lld\n", tid);
	verify_follow(c, pending, tid);
	json_decref(pending);
	signal(SIGINT, SIG_DFL);
	verify_report(c, tid);
}

static void
cmd_remove(struct ctl *c)
{
	json_t *p = json_pack("{s:o}", "id", id_param(c, c->pos[0])), *res;

	check_alloc(p);
	if (opt_given(c, "--delete-data"))
		json_object_set_new(p, "delete_data", json_true());
	if (opt_given(c, "--force"))
		json_object_set_new(p, "force", json_true());
	res = ctl_call(c, "torrent.remove", p, NULL);
	if (c->json)
		print_json(res);
	else
		printf("removed %lld %s\n", out_jint(res, "id"),
		    out_jstr(res, "info_hash", "?"));
	json_decref(res);
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void
write_torrent(const char *file, const struct buf *b)
{
	const uint8_t *p = b->data ? b->data : (const uint8_t *)"";
	int fd;

	if (file == NULL || strcmp(file, "-") == 0) {
		if (write_all(STDOUT_FILENO, p, b->len) == -1)
			die(ST_ERROR, "stdout: %s", strerror(errno));
		return;
	}
	if ((fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)) == -1)
		die(ST_ERROR, "%s: %s", file, strerror(errno));
	if (write_all(fd, p, b->len) == -1 || close(fd) == -1)
		die(ST_ERROR, "%s: %s", file, strerror(errno));
}

static void
cmd_export(struct ctl *c)
{
	const char *file = opt_value(c, "--output");
	const char *meta;
	json_t *res;
	struct buf b;

	/* Refuse before asking p2pd: bencode would garble the terminal. */
	if (!c->json && (file == NULL || strcmp(file, "-") == 0) &&
	    isatty(STDOUT_FILENO))
		usage_error(c, "will not write a .torrent to a terminal; "
		    "use -o FILE or redirect stdout");
	res = call_id(c, "torrent.export");
	if (c->json) {
		print_json(res);
		if (file == NULL || strcmp(file, "-") == 0) {
			json_decref(res);
			return;
		}
	}
	if ((meta = out_jstr(res, "metainfo", NULL)) == NULL) {
		json_decref(res);
		die(ST_ERROR, "torrent %s has no metadata yet; `p2pctl magnet %s` "
		    "prints its magnet link", c->pos[0], c->pos[0]);
	}
	buf_init(&b, 0);
	if (b64_decode(meta, &b) == -1) {
		buf_free(&b);
		json_decref(res);
		die(ST_ERROR, "p2pd sent metainfo that is not base64");
	}
	json_decref(res);
	write_torrent(file, &b);
	buf_free(&b);
}

static void
cmd_magnet(struct ctl *c)
{
	json_t *res = call_id(c, "torrent.export");

	if (c->json)
		print_json(res);
	else {
		out_safe(stdout, out_jstr(res, "magnet", "?"));
		putchar('\n');
	}
	json_decref(res);
}

/* ---- wait ---- */

#define WAIT_POLL_TTY	0.5	/* seconds between polls under the live display */
#define WAIT_POLL	2.0	/* between polls otherwise: the lines are sparse */
#define WAIT_LINE_EVERY	5.0	/* plain output: seconds between a torrent's lines */

/* Per torrent, what the plain output has yet to say. */
struct wait_mark {
	int changed;		/* state or completion changed: print a line now */
	double shown;		/* when its last line printed */
};

struct waiter {
	struct ctl *c;
	struct wait_row *rows;	/* one per torrent, for the output layer */
	struct wait_mark *marks;
	size_t n;
	json_t *pending;	/* events read while an answer was awaited */
	int tty;		/* live display on stdout, else plain lines */
	int dirty;		/* the display is out of date */
	int drawn;		/* lines of the display on the screen */
	double deadline;	/* monotonic end of --timeout, 0 for none */
};

static int
wait_complete(const json_t *t)
{
	return strcmp(out_jstr(t, "state", ""), "seeding") == 0 ||
	    (out_jint(t, "pieces") > 0 && out_jnum(t, "progress") >= 1.0);
}

/* The index of torrent id among the rows, or n. */
static size_t
wait_find(const struct waiter *w, long long id)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (out_jint(w->rows[i].t, "id") == id)
			break;
	return i;
}

/* Brings the output up to date: redraws the display or prints lines due. */
static void
wait_show(struct waiter *w)
{
	double now = now_sec();

	if (w->c->json)
		return;
	if (w->tty) {
		if (w->dirty)
			out_wait_draw(w->rows, w->n, w->drawn);
		w->drawn = (int)w->n;
		w->dirty = 0;
		return;
	}
	for (size_t i = 0; i < w->n; i++) {
		struct wait_mark *m = &w->marks[i];

		if (!m->changed && (w->rows[i].complete ||
		    now - m->shown < WAIT_LINE_EVERY))
			continue;
		out_wait_line(&w->rows[i]);
		m->changed = 0;
		m->shown = now;
	}
	/* Flush per round: wait is mostly read through a pipe or a log. */
	if (fflush(stdout) == EOF)
		die(ST_ERROR, "stdout: %s", strerror(errno));
}

/* "p2pctl: torrent 3 name<sep><what>", then exit 1. */
static void
wait_fail(struct waiter *w, size_t i, const char *sep, const char *what)
{
	const json_t *t = w->rows[i].t;

	wait_show(w);
	fflush(stdout);
	fprintf(stderr, "p2pctl: torrent %lld ", out_jint(t, "id"));
	out_safe(stderr, out_jstr(t, "name", "?"));
	fputs(sep, stderr);
	out_safe(stderr, what);
	fputc('\n', stderr);
	quit(ST_ERROR);
}

/*
 * A request about row i's torrent. Not found means it was removed since
 * wait began, which ends the wait as the torrent.removed event does.
 */
static json_t *
wait_call(struct waiter *w, size_t i, const char *method)
{
	json_t *resp, *res, *err;

	resp = ctl_request(w->c, method, json_pack("{s:I}", "id",
	    (json_int_t)out_jint(w->rows[i].t, "id")), w->pending);
	if ((err = json_object_get(resp, "error")) != NULL) {
		if (out_jint(err, "code") == RPC_ERR_NOT_FOUND)
			wait_fail(w, i, " ", "was removed");
		fail_with(w->c, resp, method);
	}
	res = json_incref(json_object_get(resp, "result"));
	json_decref(resp);
	if (res == NULL)
		die(ST_ERROR, "p2pd sent a response with neither result nor error");
	return res;
}

/* The peer count and the rates summed over the peers. */
static void
wait_peers(struct wait_row *r, const json_t *peers)
{
	json_t *p;
	size_t k;

	r->peers = (long long)json_array_size(peers);
	r->down_rate = r->up_rate = 0;
	json_array_foreach(peers, k, p) {
		r->down_rate += out_jsize(p, "down_rate");
		r->up_rate += out_jsize(p, "up_rate");
	}
}

/* Fetches row i afresh; a torrent in the error state ends the wait. */
static void
wait_update(struct waiter *w, size_t i)
{
	struct wait_row *r = &w->rows[i];
	json_t *t = wait_call(w, i, "torrent.get");
	json_t *res = wait_call(w, i, "torrent.peers");
	int complete = wait_complete(t);

	if (strcmp(out_jstr(r->t, "state", ""), out_jstr(t, "state", "")) != 0 ||
	    complete != r->complete)
		w->marks[i].changed = 1;
	json_decref(r->t);
	r->t = t;
	r->complete = complete;
	wait_peers(r, json_object_get(res, "peers"));
	json_decref(res);
	w->dirty = 1;
	if (strcmp(out_jstr(t, "state", ""), "error") == 0)
		wait_fail(w, i, ": ", out_jstr(t, "error", "error"));
}

/*
 * Events say at once what polls would say late: a state change, the last
 * piece, a removal. Each makes the torrent be fetched again rather than
 * trusted, so that a missed event costs only a poll's delay.
 */
static void
wait_event(struct waiter *w, const json_t *ev)
{
	const json_t *p = json_object_get(ev, "params");
	const char *type = event_type(ev);
	json_t *t;
	size_t i;

	if (json_object_get(p, "id") == NULL ||
	    (i = wait_find(w, out_jint(p, "id"))) == w->n)
		return;
	if (strcmp(type, "torrent.removed") == 0)
		wait_fail(w, i, " ", "was removed");
	if (strcmp(type, "piece.verified") == 0) {
		t = w->rows[i].t;
		json_object_set_new(t, "pieces_have",
		    json_integer(out_jint(t, "pieces_have") + 1));
		if (out_jint(t, "pieces_have") < out_jint(t, "pieces"))
			return;
	}
	wait_update(w, i);
}

static int
wait_all_complete(const struct waiter *w)
{
	for (size_t i = 0; i < w->n; i++)
		if (!w->rows[i].complete)
			return 0;
	return 1;
}

static void
wait_timed_out(struct waiter *w)
{
	char pct[FMT_LEN];
	const char *sep = "";

	wait_show(w);
	fflush(stdout);
	fprintf(stderr, "p2pctl: timed out after %s s; not complete:",
	    opt_value(w->c, "--timeout"));
	for (size_t i = 0; i < w->n; i++) {
		if (w->rows[i].complete)
			continue;
		fprintf(stderr, "%s torrent %lld (%s)", sep,
		    out_jint(w->rows[i].t, "id"), fmt_percent(out_jnum(
		    w->rows[i].t, "progress"), pct, sizeof(pct)));
		sep = ",";
	}
	fputc('\n', stderr);
	quit(ST_ERROR);
}

/* Events and polls until every torrent is complete. */
static void
wait_loop(struct waiter *w)
{
	double period = w->tty ? WAIT_POLL_TTY : WAIT_POLL;
	double next = now_sec() + period, until;
	json_t *m;

	for (;;) {
		wait_show(w);
		if (wait_all_complete(w))
			return;
		if (w->deadline > 0 && now_sec() >= w->deadline)
			wait_timed_out(w);
		until = w->deadline > 0 && w->deadline < next ? w->deadline : next;
		if (json_array_size(w->pending) > 0) {
			m = json_incref(json_array_get(w->pending, 0));
			json_array_remove(w->pending, 0);
		} else if ((m = ctl_read_until(w->c, until)) == NULL) {
			for (size_t i = 0; i < w->n; i++)
				if (!w->rows[i].complete)
					wait_update(w, i);
			next = now_sec() + period;
			continue;
		}
		if (is_event(m))
			wait_event(w, m);
		json_decref(m);
	}
}

/* Names the torrents by number: events carry only that. */
static void
wait_open(struct waiter *w)
{
	struct ctl *c = w->c;
	json_t *t;

	w->rows = xmalloc(sizeof(*w->rows) * (size_t)c->npos);
	w->marks = xmalloc(sizeof(*w->marks) * (size_t)c->npos);
	for (int k = 0; k < c->npos; k++) {
		t = ctl_call(c, "torrent.get", json_pack("{s:o}", "id",
		    id_param(c, c->pos[k])), w->pending);
		if (wait_find(w, out_jint(t, "id")) < w->n) {
			json_decref(t);	/* named twice */
			continue;
		}
		memset(&w->rows[w->n], 0, sizeof(w->rows[w->n]));
		w->rows[w->n].t = t;
		w->marks[w->n].changed = 1;
		w->marks[w->n].shown = 0;
		wait_update(w, w->n++);
	}
}

static double
wait_timeout_arg(struct ctl *c)
{
	const char *v = opt_value(c, "--timeout");
	double secs;
	char *end;

	if (v == NULL)
		return 0;
	errno = 0;
	secs = strtod(v, &end);
	/* Also refuses NaN and "inf": a week is patience enough to ask for. */
	if (end == v || *end != '\0' || errno != 0 || !(secs >= 0) ||
	    secs > 7 * 86400.0)
		usage_error(c, "bad --timeout '%s': seconds, such as 600", v);
	return secs;
}

static void
cmd_wait(struct ctl *c)
{
	struct waiter w;
	double timeout = wait_timeout_arg(c);
	json_t *out;

	memset(&w, 0, sizeof(w));
	w.c = c;
	w.tty = !c->json && isatty(STDOUT_FILENO);
	check_alloc(w.pending = json_array());
	/* Subscribe first, so that no change can slip between get and events. */
	json_decref(ctl_call(c, "events.subscribe", json_pack("{s:[ssss]}",
	    "types", "torrent.state", "torrent.completed", "torrent.removed",
	    "piece.verified"), NULL));
	if (opt_given(c, "--timeout"))
		w.deadline = now_sec() + timeout;
	wait_open(&w);
	intr_note("p2pctl: interrupted; p2pd goes on downloading\n");
	wait_loop(&w);
	signal(SIGINT, SIG_DFL);
	if (c->json) {
		check_alloc(out = json_array());
		for (size_t i = 0; i < w.n; i++)
			json_array_append(out, w.rows[i].t);
		out = json_pack("{s:o}", "torrents", out);
		print_json(out);
		json_decref(out);
	}
	for (size_t i = 0; i < w.n; i++)
		json_decref(w.rows[i].t);
	free(w.rows);
	free(w.marks);
	json_decref(w.pending);
}

/* ---- config ---- */

/* VALUE: all digits go as a number, anything else ("10M") as text for p2pd. */
static json_t *
setting_value(struct ctl *c, const char *s)
{
	size_t n = strlen(s);
	long long v;

	if (n > 0 && strspn(s, "0123456789") == n) {
		errno = 0;
		v = strtoll(s, NULL, 10);
		if (errno == 0)
			return json_integer(v);
	}
	return arg_string(c, s);
}

/* The request for config's arguments; *method gets its method. */
static json_t *
config_params(struct ctl *c, const char **method)
{
	const char *sub = c->npos > 0 ? c->pos[0] : NULL;
	int want = sub == NULL ? 0 : strcmp(sub, "get") == 0 ? 2 :
	    strcmp(sub, "set") == 0 ? 3 : -1;

	*method = "session.get";
	if (want == -1)
		usage_error(c, "unknown subcommand '%s' (use get or set)", sub);
	if (c->npos > want)
		usage_error(c, "unexpected argument '%s'", c->pos[want]);
	if (c->npos < want)
		usage_error(c, "missing %s", c->npos == 1 ? "KEY" : "VALUE");
	if (want == 0)
		return NULL;
	if (want == 2)
		return json_pack("{s:o}", "key", arg_string(c, c->pos[1]));
	*method = "session.set";
	return json_pack("{s:o, s:o}", "key", arg_string(c, c->pos[1]),
	    "value", setting_value(c, c->pos[2]));
}

static void
cmd_config(struct ctl *c)
{
	const char *method;
	json_t *p = config_params(c, &method), *res, *settings, *v;

	res = ctl_call(c, method, p, NULL);
	settings = json_object_get(res, "settings");
	if (c->json)
		print_json(res);
	else if (c->npos == 0)
		out_settings(settings);
	else if ((v = json_object_get(settings, c->pos[1])) != NULL)
		out_setting_value(v);
	else {
		json_decref(res);
		die(ST_ERROR, "p2pd did not report setting %s", c->pos[1]);
	}
	json_decref(res);
}

static void
watch_names(struct ctl *c, json_t *names, json_t *pending)
{
	json_t *res = ctl_call(c, "torrent.list", NULL, pending), *t;
	size_t i;

	json_array_foreach(json_object_get(res, "torrents"), i, t)
		out_names_add(names, t);
	json_decref(res);
}

static void
cmd_watch(struct ctl *c)
{
	json_t *names = json_object(), *pending = json_array(), *ev, *p;

	json_decref(ctl_call(c, "events.subscribe", NULL, NULL));
	if (!c->json)
		watch_names(c, names, pending);
	while ((ev = next_event(c, pending)) != NULL) {
		p = json_object_get(ev, "params");
		if (json_is_object(p)) {
			if (c->json)
				print_json(p);
			else
				out_event(names, p);
		}
		json_decref(ev);
		/* Flush per event: watch is mostly read through a pipe. */
		if (fflush(stdout) == EOF)
			die(ST_ERROR, "stdout: %s", strerror(errno));
	}
	json_decref(names);
	json_decref(pending);
	fprintf(stderr, "p2pctl: p2pd closed the connection\n");
}

static void
cmd_raw(struct ctl *c)
{
	json_t *params = NULL, *m;
	json_error_t e;
	json_int_t id;
	char *line;
	int failed;

	if (c->npos > 1) {
		params = json_loads(c->pos[1], JSON_DECODE_ANY, &e);
		if (params == NULL)
			usage_error(c, "JSON params: %s", e.text);
		if (!json_is_object(params)) {
			json_decref(params);
			usage_error(c, "params must be a JSON object");
		}
	}
	json_decref(arg_string(c, c->pos[0]));
	id = ctl_send(c, c->pos[0], params);
	for (;;) {
		if ((line = ctl_read_line(c)) == NULL)
			closed_early();
		if (line[0] == '\0') {
			free(line);
			continue;
		}
		m = parse_line(line);
		if (is_response_to(m, id))
			break;
		json_decref(m);
		free(line);
	}
	failed = json_object_get(m, "error") != NULL;
	json_decref(m);
	puts(line);
	free(line);
	if (failed)
		quit(ST_ERROR);
}

/* Waits for p2pd to close the connection; 1 if it did within ms. */
static int
wait_closed(struct ctl *c, int ms)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	struct timespec t0, now;
	char chunk[4096];
	ssize_t n;
	int left = ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (left > 0) {
		if (poll(&pfd, 1, left) > 0) {
			n = read(c->fd, chunk, sizeof(chunk));
			if (n == 0 ||
			    (n == -1 && errno != EINTR && errno != EAGAIN))
				return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = ms - (int)((now.tv_sec - t0.tv_sec) * 1000 +
		    (now.tv_nsec - t0.tv_nsec) / 1000000);
	}
	return 0;
}

static void
cmd_shutdown(struct ctl *c)
{
	json_t *res = ctl_call(c, "session.shutdown", NULL, NULL);
	int closed;

	/* p2pd answers once its state is saved; wait so it can start again. */
	closed = wait_closed(c, SHUTDOWN_WAIT_MS);
	if (c->json)
		print_json(res);
	else
		printf(closed ? "p2pd stopped\n" : "p2pd is shutting down\n");
	json_decref(res);
}

/* ---- help, generated from the tables ---- */

static void
opt_usage(struct buf *b, const struct opt *o)
{
	buf_printf(b, " [%s%s%s]%s", o->alt ? o->alt : o->name, o->arg ? " " : "",
	    o->arg ? o->arg : "", o->repeat ? "..." : "");
}

/* "share PATH [--name NAME] ..." */
static char *
cmd_usage(const struct cmd *cmd, int with_opts)
{
	struct buf b;

	buf_init(&b, 0);
	buf_puts(&b, cmd->name);
	if (cmd->args[0] != '\0')
		buf_printf(&b, " %s", cmd->args);
	for (const struct opt *o = cmd->opts; with_opts && o->name; o++)
		opt_usage(&b, o);
	check_alloc(b.data);
	return buf_steal(&b, NULL);
}

/* "  left      text", the text wrapped at HELP_COLS under its own column. */
static void
print_item(FILE *f, const char *left, int w, const char *text)
{
	const char *p = text;
	int col = w + 2;

	if ((int)strlen(left) >= w - 1)
		fprintf(f, "  %s\n%*s", left, col, "");
	else
		fprintf(f, "  %-*s", w, left);
	while (*p != '\0') {
		size_t n = strcspn(p, " ");

		if (col > w + 2 && col + 1 + (int)n > HELP_COLS) {
			fprintf(f, "\n%*s", w + 2, "");
			col = w + 2;
		} else if (col > w + 2) {
			fputc(' ', f);
			col++;
		}
		fwrite(p, 1, n, f);
		col += (int)n;
		p += n;
		while (*p == ' ')
			p++;
	}
	fputc('\n', f);
}

static void
print_opt_help(const struct opt *o, FILE *f)
{
	char left[64];

	if (o->alt != NULL)
		snprintf(left, sizeof(left), "%s, %s%s%s", o->alt, o->name,
		    o->arg ? " " : "", o->arg ? o->arg : "");
	else
		snprintf(left, sizeof(left), "%s%s%s", o->name, o->arg ? " " : "",
		    o->arg ? o->arg : "");
	print_item(f, left, OPT_WIDTH, o->help);
}

static void
main_help(FILE *f)
{
	char *u;

	fprintf(f, "usage: p2pctl [-s PATH | --socket PATH] [--json] COMMAND "
	    "[ARGS]\n       p2pctl --version | --help\n\n"
	    "Controls p2pd, the BitTorrent daemon, through its control "
	    "socket.\n\ncommands:\n");
	for (size_t i = 0; i < NCMDS; i++) {
		u = cmd_usage(&cmds[i], 0);
		if (cmds[i].alias != NULL) {
			char *v;

			if (asprintf(&v, "%s | %s", u, cmds[i].alias) == -1)
				v = NULL;
			check_alloc(v);
			free(u);
			u = v;
		}
		print_item(f, u, CMD_WIDTH, cmds[i].help);
		free(u);
	}
	fprintf(f, "\noptions:\n");
	for (const struct opt *o = global_opts; o->name; o++)
		print_opt_help(o, f);
	fprintf(f, "\n%s\n`p2pctl COMMAND --help` shows a command's options.\n",
	    id_help);
}

/*
 * Steps through the words of a command's complete string: returns the
 * next one's length, 0 at the end.
 */
static size_t
next_kind(const char **p)
{
	size_t n;

	while (**p == ' ')
		(*p)++;
	n = strcspn(*p, " ");
	return n;
}

/* Whether one of cmd's positionals is a torrent ID. */
static int
takes_id(const struct cmd *cmd)
{
	const char *p = cmd->complete ? cmd->complete : "";
	size_t n;

	for (; (n = next_kind(&p)) > 0; p += n)
		if (n == 2 && strncmp(p, "id", 2) == 0)
			return 1;
	return 0;
}

static void
cmd_help(const struct cmd *cmd)
{
	char *u = cmd_usage(cmd, 1);

	printf("usage: p2pctl %s\n\n", u);
	free(u);
	printf("%c%s.\n", toupper((unsigned char)cmd->help[0]), cmd->help + 1);
	if (cmd->desc != NULL)
		printf("%s\n", cmd->desc);
	if (cmd->method != NULL)
		printf("Sends %s.\n", cmd->method);
	if (takes_id(cmd))
		printf("%s\n", id_help);
	if (cmd->opts[0].name != NULL) {
		printf("\noptions:\n");
		for (const struct opt *o = cmd->opts; o->name; o++)
			print_opt_help(o, stdout);
	}
	if (cmd->alias != NULL)
		printf("\nalias: %s\n", cmd->alias);
}

/*
 * For the bash completion, so that it needs no list of its own:
 * "command NAME", "option NAME KIND" and "args KIND" lines, where KIND says
 * how to complete a value ("-" for a flag, "none" for free text). There is
 * an "args" line per positional; the last one holds for the rest.
 */
static void
print_complete_opts(const struct opt *o)
{
	for (; o->name; o++) {
		const char *kind = o->arg == NULL ? "-" :
		    o->complete ? o->complete : "none";

		printf("option %s %s\n", o->name, kind);
		if (o->alt != NULL)
			printf("option %s %s\n", o->alt, kind);
	}
}

static const struct cmd *find_cmd(const char *name);

static void
complete(const char *name)
{
	const struct cmd *cmd;
	const char *p;
	size_t n;

	if (name == NULL) {
		for (size_t i = 0; i < NCMDS; i++) {
			printf("command %s\n", cmds[i].name);
			if (cmds[i].alias != NULL)
				printf("command %s\n", cmds[i].alias);
		}
		print_complete_opts(global_opts);
		return;
	}
	if ((cmd = find_cmd(name)) == NULL)
		return;
	print_complete_opts(cmd->opts);
	print_complete_opts(global_opts);
	p = cmd->complete ? cmd->complete : "none";
	for (; (n = next_kind(&p)) > 0; p += n)
		printf("args %.*s\n", (int)n, p);
}

/* ---- argument parsing, driven by the tables ---- */

static const struct cmd *
find_cmd(const char *name)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (strcmp(cmds[i].name, name) == 0 ||
		    (cmds[i].alias != NULL && strcmp(cmds[i].alias, name) == 0))
			return &cmds[i];
	return NULL;
}

/* Finds "--name", "--name=VALUE" or "-o" in opts; *inl gets an inline value. */
static const struct opt *
find_opt(const struct opt *opts, const char *arg, const char **inl)
{
	const char *eq = strchr(arg, '=');
	size_t n = eq && arg[1] == '-' ? (size_t)(eq - arg) : strlen(arg);

	for (const struct opt *o = opts; o->name; o++) {
		if (strlen(o->name) == n && strncmp(o->name, arg, n) == 0) {
			*inl = n < strlen(arg) ? arg + n + 1 : NULL;
			return o;
		}
		/* "-s PATH" or "-sPATH" */
		if (o->alt != NULL && strncmp(o->alt, arg, 2) == 0) {
			*inl = arg[2] != '\0' ? arg + 2 : NULL;
			if (*inl == NULL || o->arg != NULL)
				return o;
		}
	}
	return NULL;
}

/* The options p2pctl takes anywhere; returns 0 if o is not one of them. */
static int
global_opt(struct ctl *c, const struct opt *o, const char *val)
{
	if (strcmp(o->name, "--socket") == 0)
		c->sock = val;
	else if (strcmp(o->name, "--json") == 0)
		c->json = 1;
	else if (strcmp(o->name, "--version") == 0) {
		printf("p2pctl %s\n", P2PD_VERSION);
		exit(ST_OK);
	} else if (strcmp(o->name, "--help") == 0) {
		if (c->cmd != NULL)
			cmd_help(c->cmd);
		else
			main_help(stdout);
		exit(ST_OK);
	} else
		return 0;
	return 1;
}

/* Takes one option at argv[*i]; returns the option and sets *val. */
static const struct opt *
take_opt(struct ctl *c, int argc, char **argv, int *i, const char **val)
{
	const char *arg = argv[*i], *inl;
	const struct opt *o = NULL;

	if (c->cmd != NULL)
		o = find_opt(c->cmd->opts, arg, &inl);
	if (o == NULL)
		o = find_opt(global_opts, arg, &inl);
	if (o == NULL)
		usage_error(c, "unknown option %s", arg);
	*val = NULL;
	if (o->arg != NULL) {
		if (inl != NULL)
			*val = inl;
		else if (*i + 1 < argc)
			*val = argv[++*i];
		else
			usage_error(c, "%s needs a value (%s)", o->name, o->arg);
	} else if (inl != NULL)
		usage_error(c, "%s takes no value", o->name);
	return o;
}

static void
parse_cmd_args(struct ctl *c, int argc, char **argv)
{
	const struct opt *o;
	const char *val;
	int dashdash = 0;

	c->pos = xmalloc(sizeof(*c->pos) * (size_t)argc);
	c->ov = xmalloc(sizeof(*c->ov) * (size_t)argc);
	for (int i = 0; i < argc; i++) {
		if (!dashdash && strcmp(argv[i], "--") == 0)
			dashdash = 1;
		else if (!dashdash && argv[i][0] == '-' && argv[i][1] != '\0') {
			o = take_opt(c, argc, argv, &i, &val);
			if (!global_opt(c, o, val)) {
				if (!o->repeat && opt_given(c, o->name))
					usage_error(c, "%s given twice", o->name);
				c->ov[c->nov].opt = o;
				c->ov[c->nov++].val = val;
			}
		} else if (c->npos == c->cmd->max_args)
			usage_error(c, "unexpected argument '%s'", argv[i]);
		else
			c->pos[c->npos++] = argv[i];
	}
	if (c->npos < c->cmd->min_args)
		usage_error(c, "missing %s", c->cmd->args);
}

/* Global options up to the command; returns the command's index in argv. */
static int
parse_global(struct ctl *c, int argc, char **argv)
{
	const struct opt *o;
	const char *val;
	int i;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		if (strcmp(argv[i], "--complete") == 0) {
			complete(i + 1 < argc ? argv[i + 1] : NULL);
			exit(ST_OK);
		}
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		o = take_opt(c, argc, argv, &i, &val);
		global_opt(c, o, val);
	}
	if (i == argc) {
		main_help(stderr);
		quit(ST_USAGE);
	}
	if ((c->cmd = find_cmd(argv[i])) == NULL)
		usage_error(c, "unknown command '%s'", argv[i]);
	return i;
}

/*
 * With stdout closed the socket would become fd 1 and the output would go
 * to p2pd as requests: keep 0, 1 and 2 taken, as ssh does.
 */
static void
std_fds(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) != -1 && fd <= 2)
		fcntl(fd, F_SETFD, 0);
	if (fd > 2)
		close(fd);
}

static void
ctl_free(void)
{
	if (ctl.fd != -1)
		close(ctl.fd);
	buf_free(&ctl.in);
	free(ctl.pos);
	free(ctl.ov);
	free(ctl.sock_alloc);
}

int
main(int argc, char **argv)
{
	struct ctl *c = &ctl;
	const char *env;
	int i;

	std_fds();
	c->fd = -1;
	buf_init(&c->in, 0);
	atexit(ctl_free);
	i = parse_global(c, argc, argv);
	parse_cmd_args(c, argc - i - 1, argv + i + 1);
	if (c->sock == NULL) {
		if ((env = getenv("P2PCTL_SOCKET")) != NULL && env[0] != '\0')
			c->sock = env;
		else {
			check_alloc(c->sock_alloc = conf_default_socket());
			c->sock = c->sock_alloc;
		}
	}
	c->cmd->run(c);
	if (fflush(stdout) == EOF)
		die(ST_ERROR, "stdout: %s", strerror(errno));
	return ST_OK;
}
