/* main.c: p2pd's entry point: arguments, config, signals, systemd notification, the loop. */
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "ctl.h"
#include "log.h"
#include "netaddr.h"
#include "sdnotify.h"
#include "session.h"

/* Settings given on the command line; they win over the file, also after SIGHUP. */
struct override {
	const char *key;
	const char *value;
};

struct opts {
	const char *config;		/* -c, or the default path */
	int config_explicit;
	int config_loaded;		/* the file existed and was read */
	int check_only;			/* -n */
	int verbose;			/* -v */
	struct override ov[64];
	size_t nov;
	const char *listen[CONF_MAX_LIST];
	size_t nlisten;
	const char *bootstrap[CONF_MAX_LIST];
	size_t nbootstrap;
};

struct daemon {
	struct opts *o;
	struct session *s;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: p2pd [-nv] [-c FILE] [--state-dir DIR] [--download-dir DIR]\n"
	    "            [--socket PATH] [--listen ADDR:PORT]... [--log-level LEVEL]\n"
	    "            [--no-dht] [--no-lsd] [--no-pex] [--dht-bootstrap ADDR:PORT]...\n"
	    "            [--tracker-listen ADDR:PORT] [--workers N] [--version] [--help]\n"
	    "\n"
	    "Peer-to-peer file-sharing daemon (BitTorrent). Runs in the foreground;\n"
	    "control it with p2pctl(1). Options override p2pd.conf(5):\n"
	    "  -c FILE                  config file (default: %s)\n"
	    "  -n                       check the configuration and exit\n"
	    "  -v                       with -n: print the effective configuration\n"
	    "  --state-dir DIR          database and state (state_dir)\n"
	    "  --download-dir DIR       where downloads go (download_dir)\n"
	    "  --socket PATH            control socket (socket)\n"
	    "  --listen ADDR:PORT       peer address, repeatable; port 0 picks one (listen)\n"
	    "  --log-level LEVEL        err, warning, notice, info or debug (log_level)\n"
	    "  --no-dht, --no-lsd       turn off the DHT / local peer discovery\n"
	    "  --no-pex                 turn off peer exchange (BEP 11)\n"
	    "  --dht-bootstrap ADDR:PORT  DHT bootstrap node, repeatable (dht_bootstrap)\n"
	    "  --tracker-listen ADDR:PORT serve a built-in tracker (tracker_listen)\n"
	    "  --workers N              worker threads, 0 = one per core (workers)\n"
	    "  --version                print the version and exit\n"
	    "See p2pd(8).\n", "$XDG_CONFIG_HOME/p2pd/p2pd.conf or /etc/p2pd/p2pd.conf");
}

enum {
	OPT_STATE = 256, OPT_DOWNLOAD, OPT_SOCKET, OPT_LISTEN, OPT_LOGLEVEL, OPT_NODHT,
	OPT_NOLSD, OPT_NOPEX, OPT_BOOTSTRAP, OPT_TRACKER, OPT_WORKERS, OPT_VERSION, OPT_HELP,
};

static const struct option longopts[] = {
	{ "state-dir", required_argument, NULL, OPT_STATE },
	{ "download-dir", required_argument, NULL, OPT_DOWNLOAD },
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "log-level", required_argument, NULL, OPT_LOGLEVEL },
	{ "no-dht", no_argument, NULL, OPT_NODHT },
	{ "no-lsd", no_argument, NULL, OPT_NOLSD },
	{ "no-pex", no_argument, NULL, OPT_NOPEX },
	{ "dht-bootstrap", required_argument, NULL, OPT_BOOTSTRAP },
	{ "tracker-listen", required_argument, NULL, OPT_TRACKER },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static void
add_override(struct opts *o, const char *key, const char *value)
{
	if (o->nov == sizeof(o->ov) / sizeof(o->ov[0])) {
		fprintf(stderr, "p2pd: too many options\n");
		exit(2);
	}
	o->ov[o->nov].key = key;
	o->ov[o->nov++].value = value;
}

static void
add_list(const char **v, size_t *n, const char *value, const char *flag)
{
	if (*n == CONF_MAX_LIST) {
		fprintf(stderr, "p2pd: at most %d %s options\n", CONF_MAX_LIST, flag);
		exit(2);
	}
	v[(*n)++] = value;
}

static void
parse_args(int argc, char **argv, struct opts *o)
{
	int ch;

	while ((ch = getopt_long(argc, argv, "c:nvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': o->config = optarg; o->config_explicit = 1; break;
		case 'n': o->check_only = 1; break;
		case 'v': o->verbose = 1; break;
		case OPT_STATE: add_override(o, "state_dir", optarg); break;
		case OPT_DOWNLOAD: add_override(o, "download_dir", optarg); break;
		case OPT_SOCKET: add_override(o, "socket", optarg); break;
		case OPT_LOGLEVEL: add_override(o, "log_level", optarg); break;
		case OPT_NODHT: add_override(o, "dht", "no"); break;
		case OPT_NOLSD: add_override(o, "lsd", "no"); break;
		case OPT_NOPEX: add_override(o, "pex", "no"); break;
		case OPT_TRACKER: add_override(o, "tracker_listen", optarg); break;
		case OPT_WORKERS: add_override(o, "workers", optarg); break;
		case OPT_LISTEN: add_list(o->listen, &o->nlisten, optarg, "--listen"); break;
		case OPT_BOOTSTRAP:
			add_list(o->bootstrap, &o->nbootstrap, optarg, "--dht-bootstrap");
			break;
		case OPT_VERSION: printf("p2pd %s\n", P2PD_VERSION); exit(0);
		case 'h': case OPT_HELP: usage(stdout); exit(0);
		default:
			fprintf(stderr, "Try 'p2pd --help' for more information.\n");
			exit(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "p2pd: unexpected argument '%s'\n"
		    "Try 'p2pd --help' for more information.\n", argv[optind]);
		exit(2);
	}
}

/* The command line's list replaces the file's for a repeatable key. */
static int
set_list(struct conf *c, const char *key, const char **v, size_t n, char *err, size_t errlen)
{
	if (n == 0)
		return 0;
	if (conf_clear(c, key, err, errlen) == -1)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (conf_set(c, key, v[i], err, errlen) == -1)
			return -1;
	return 0;
}

/* Defaults, then the file, then the command line. */
static int
build_conf(struct opts *o, struct conf *c, char *err, size_t errlen)
{
	char e[512];
	struct stat st;

	conf_defaults(c);
	o->config_loaded = 0;
	/* The default file is optional; one named with -c is not. */
	if (o->config && (o->config_explicit || stat(o->config, &st) == 0)) {
		if (conf_load_file(c, o->config, e, sizeof(e)) == -1) {
			snprintf(err, errlen, "%s", e);
			goto fail;
		}
		o->config_loaded = 1;
	}
	for (size_t i = 0; i < o->nov; i++) {
		if (conf_set(c, o->ov[i].key, o->ov[i].value, e, sizeof(e)) == -1) {
			snprintf(err, errlen, "command line: %s", e);
			goto fail;
		}
	}
	if (set_list(c, "listen", (const char **)o->listen, o->nlisten, e, sizeof(e)) == -1 ||
	    set_list(c, "dht_bootstrap", (const char **)o->bootstrap, o->nbootstrap, e,
	    sizeof(e)) == -1) {
		snprintf(err, errlen, "command line: %s", e);
		goto fail;
	}
	return 0;
fail:
	conf_free(c);
	return -1;
}

static void
sig_stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;

	(void)loop;
	(void)revents;
	session_shutdown(d->s, w->signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/*
 * File descriptors kept back from peer connections: torrent files opened by
 * workers, the database, listeners, DHT and tracker sockets. Without the
 * reserve a flood of peers would make every disk read fail with EMFILE and
 * put healthy torrents into the error state.
 */
#define FD_CEILING 1048576	/* Linux's default nr_open: a soft limit can't pass it */

/*
 * Sets the soft RLIMIT_NOFILE to max_open_files (0: the hard limit) and lowers
 * max_connections so that peers, control clients and the reserve fit in it.
 * -1 if not even a few peers would fit (a clear message in err).
 */
static int
fd_budget(struct conf *c, char *err, size_t errlen)
{
	struct rlimit rl;
	rlim_t want;
	long avail;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("limits: getrlimit(RLIMIT_NOFILE)");
		return 0;
	}
	want = c->max_open_files > 0 ? (rlim_t)c->max_open_files : rl.rlim_max;
	if (want > FD_CEILING)
		want = FD_CEILING;
	if (want > rl.rlim_max) {
		log_warnx("limits: max_open_files %d is over the hard limit %llu; using that",
		    c->max_open_files, (unsigned long long)rl.rlim_max);
		want = rl.rlim_max;
	}
	if (want != rl.rlim_cur) {
		struct rlimit nl = { want, rl.rlim_max };
		if (setrlimit(RLIMIT_NOFILE, &nl) == -1)
			log_warn("limits: cannot set RLIMIT_NOFILE to %llu", (unsigned long long)want);
		else
			rl.rlim_cur = want;
	}
	avail = (long)rl.rlim_cur - CONF_FD_RESERVE - c->control_max_clients;
	if (avail < 8) {
		snprintf(err, errlen, "max_open_files: %llu file descriptors leave no room for "
		    "peers; p2pd needs control_max_clients (%d) + %d + at least 8",
		    (unsigned long long)rl.rlim_cur, c->control_max_clients, CONF_FD_RESERVE);
		return -1;
	}
	if (c->max_connections > avail) {
		log_notice("limits: max_connections lowered from %d to %ld to fit %llu open "
		    "files (max_open_files, control_max_clients)", c->max_connections, avail,
		    (unsigned long long)rl.rlim_cur);
		c->max_connections = (int)avail;
	}
	return 0;
}

/*
 * p2pd creates its state directory 0700, but one that already exists keeps
 * its mode: say so once if others can enter it, since the database names
 * every torrent and file.
 */
static void
warn_open_state_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) == 0 && (st.st_mode & 077) != 0)
		log_warnx("state directory %s is open to other users (mode %03o); "
		    "chmod 700 it", dir, (unsigned)(st.st_mode & 0777));
}

/* Runs on the loop: if the loop stalls, the pings stop and systemd restarts us. */
static void
watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	sdnotify_send("WATCHDOG=1");
}

static void
sig_hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct daemon *d = w->data;
	struct conf c;
	char err[1024];

	(void)loop;
	(void)revents;
	sdnotify_send("RELOADING=1");
	/* Parse the whole new file first; apply it only if it parsed. */
	if (build_conf(d->o, &c, err, sizeof(err)) == -1) {
		log_warnx("reload: keeping the running configuration: %s", err);
	} else if (fd_budget(&c, err, sizeof(err)) == -1) {
		log_warnx("reload: keeping the running configuration: %s", err);
		conf_free(&c);
	} else {
		session_reload(d->s, &c);
		conf_free(&c);
	}
	sdnotify_send("READY=1");
}

/* The socket's directory, created 0750 if missing (not the parents' modes). */
static int
socket_dir(const char *path, char *err, size_t errlen)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');

	if (slash == NULL || slash == path)
		return 0;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) == -1 && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(dir, 0750) == -1 && errno != EEXIST)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "cannot create socket directory %s: %s", dir, strerror(errno));
	return -1;
}

static void
print_ready(const struct conf *c, const char *config)
{
	log_notice("p2pd %s ready: socket=%s state=%s downloads=%s config=%s",
	    P2PD_VERSION, c->socket_path, c->state_dir, c->download_dir,
	    config ? config : "(built-in defaults)");
	if (isatty(STDERR_FILENO))
		fprintf(stderr,
		    "\n  p2pd is running in the foreground (Ctrl-C stops it). In another terminal:\n"
		    "    p2pctl -s %s status\n"
		    "    p2pctl -s %s share FILE\n"
		    "    p2pctl -s %s list\n"
		    "    p2pctl -s %s watch\n\n",
		    c->socket_path, c->socket_path, c->socket_path, c->socket_path);
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct conf conf;
	struct daemon d;
	struct ev_loop *loop;
	ev_signal sig_term, sig_int, sig_hup;
	ev_timer watchdog;
	double wd_every;
	char err[1024], *defpath = NULL;
	int fd, activated;

	memset(&o, 0, sizeof(o));
	parse_args(argc, argv, &o);
	log_init(LOG_LVL_INFO);
	if (o.config == NULL)
		o.config = defpath = conf_default_path();
	if (build_conf(&o, &conf, err, sizeof(err)) == -1) {
		fprintf(stderr, "p2pd: %s\n", err);
		free(defpath);
		return 1;
	}
	if (o.check_only) {
		if (o.verbose)
			conf_print(&conf, stdout);
		else
			fprintf(stderr, "p2pd: configuration OK\n");
		conf_free(&conf);
		free(defpath);
		return 0;
	}
	log_set_level(conf.log_level);
	signal(SIGPIPE, SIG_IGN);
	warn_open_state_dir(conf.state_dir);
	if (fd_budget(&conf, err, sizeof(err)) == -1) {
		log_warnx("cannot start: %s", err);
		fprintf(stderr, "p2pd: %s\n", err);
		conf_free(&conf);
		free(defpath);
		return 1;
	}

	activated = (fd = sdnotify_listen_fd()) != -1;
	if (!activated) {
		if (socket_dir(conf.socket_path, err, sizeof(err)) == -1 ||
		    (fd = ctl_listen_path(conf.socket_path, err, sizeof(err))) == -1) {
			log_warnx("%s", err);
			fprintf(stderr, "p2pd: %s\n", err);
			conf_free(&conf);
			free(defpath);
			return 1;
		}
	}
	loop = ev_default_loop(EVFLAG_AUTO);
	d.o = &o;
	d.s = session_new(loop, &conf, o.config_loaded ? o.config : NULL, fd, !activated,
	    err, sizeof(err));
	if (d.s == NULL) {
		log_warnx("cannot start: %s", err);
		if (!isatty(STDERR_FILENO))
			fprintf(stderr, "p2pd: %s\n", err);
		close(fd);
		if (!activated)
			unlink(conf.socket_path);
		conf_free(&conf);
		free(defpath);
		return 1;
	}
	ev_signal_init(&sig_term, sig_stop_cb, SIGTERM);
	ev_signal_init(&sig_int, sig_stop_cb, SIGINT);
	ev_signal_init(&sig_hup, sig_hup_cb, SIGHUP);
	sig_term.data = sig_int.data = sig_hup.data = &d;
	ev_signal_start(loop, &sig_term);
	ev_signal_start(loop, &sig_int);
	ev_signal_start(loop, &sig_hup);

	print_ready(&conf, o.config_loaded ? o.config : NULL);
	sdnotify_send("READY=1\nSTATUS=serving");
	if ((wd_every = sdnotify_watchdog_interval()) > 0) {
		ev_timer_init(&watchdog, watchdog_cb, 0., wd_every);
		ev_timer_start(loop, &watchdog);
		/* The pings must not keep the loop alive once the session has stopped. */
		ev_unref(loop);
		log_info("sdnotify: watchdog ping every %.1f s", wd_every);
	}
	ev_run(loop, 0);
	if (wd_every > 0) {
		ev_ref(loop);
		ev_timer_stop(loop, &watchdog);
	}

	sdnotify_send("STOPPING=1");
	session_free(d.s);
	ev_signal_stop(loop, &sig_term);
	ev_signal_stop(loop, &sig_int);
	ev_signal_stop(loop, &sig_hup);
	ev_loop_destroy(loop);
	log_notice("p2pd stopped");
	conf_free(&conf);
	free(defpath);
	return 0;
}
