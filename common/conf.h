/* conf.h: p2pd's settings: one declarative table, built-in defaults, config file parser. */
#ifndef P2P_CONF_H
#define P2P_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONF_MAX_LIST 16	/* entries of a repeatable key */
#define CONF_MAX_FILE (1u << 20)
#define CONF_MAX_LINE 4096

struct conf {
	char *state_dir;
	char *download_dir;
	char *socket_path;
	char *listen[CONF_MAX_LIST];
	size_t listen_count;
	int log_level;			/* LOG_LVL_* */
	int dht;			/* bool */
	int lsd;			/* bool */
	int pex;			/* bool: BEP 11 peer exchange */
	int search_answer;		/* bool: answer p2p_search queries, announce words */
	char *dht_bootstrap[CONF_MAX_LIST];
	size_t dht_bootstrap_count;
	char *tracker_listen;		/* NULL: no built-in tracker */
	char *default_trackers[CONF_MAX_LIST];
	size_t default_tracker_count;
	char *tracker_ca_file;		/* extra CAs for https:// trackers; NULL: none */
	int tracker_timeout;		/* seconds a tracker has to answer */
	int workers;			/* 0: number of cores */
	int max_torrents;
	int control_max_clients;
	int upload_rate_limit;		/* bytes/s, 0: none */
	int download_rate_limit;
	int upload_slots;
	int max_connections;
	int max_connections_per_torrent;
	int max_connections_per_ip;
	int max_metadata_size;		/* bytes of a .torrent or info dict */
	int max_files_per_torrent;
	int max_open_files;		/* soft RLIMIT_NOFILE; 0: the hard limit */
};

/* File descriptors kept back from peers: database, logs, listeners, disk jobs. */
#define CONF_FD_RESERVE 64

/* "512", "500K", "10M", "1GiB" (binary multiples) into bytes; 0 or -1. */
int conf_parse_size(const char *s, uint64_t *out);

/*
 * Built-in defaults. Paths come from the environment the way systemd and the
 * XDG base directory spec give them: STATE_DIRECTORY, RUNTIME_DIRECTORY,
 * then XDG_STATE_HOME, XDG_DATA_HOME, XDG_RUNTIME_DIR, HOME, and for root
 * without those /var/lib/p2pd and /run/p2pd.
 */
void conf_defaults(struct conf *c);
void conf_free(struct conf *c);

/* Default config file path (may not exist); malloc'd. */
char *conf_default_path(void);
/* Default control socket path, the same for p2pd and p2pctl; malloc'd. */
char *conf_default_socket(void);

/*
 * Applies "key = value" lines (# comments, blank lines) on top of c.
 * Refuses unknown keys, bad values, lines over CONF_MAX_LINE, files over
 * CONF_MAX_FILE, NUL bytes. A repeatable key given in the file replaces the
 * default list rather than adding to it. On error c is unchanged and err says
 * "line N: ...". Returns 0 or -1.
 */
int conf_parse(struct conf *c, const char *text, size_t len, char *err, size_t errlen);
/* Reads and parses a file; a missing file is an error here. */
int conf_load_file(struct conf *c, const char *path, char *err, size_t errlen);
/* One key from the command line or a control request; same checks as the file. */
int conf_set(struct conf *c, const char *key, const char *value, char *err, size_t errlen);
/*
 * conf_set adds to a repeatable key's list; conf_clear empties the list
 * first (so the first --listen replaces the file's), or unsets tracker_listen.
 */
int conf_clear(struct conf *c, const char *key, char *err, size_t errlen);
/* Deep copy; 0 or -1. */
int conf_copy(struct conf *dst, const struct conf *src);
/* Prints the effective settings in config-file syntax (p2pd -nv). */
void conf_print(const struct conf *c, FILE *f);

/* The key table, for docs and for `config get`: name, type, default, doc. */
struct conf_key_info {
	const char *name;
	const char *type;	/* "path", "addr", "bool", "int", "level", "url" */
	int repeatable;
	const char *doc;
};
size_t conf_keys(const struct conf_key_info **out);

#endif
